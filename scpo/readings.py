"""The gallery's sentences (`reports/README.md`, `05_bias_analysis.json`): each a function of the numbers it
reads, so its words are unit-tested on numbers where SCPO wins, loses or ties (`tests/test_readings.py`).

Values are plain floats or lists of per-seed values; `gallery.mean_sd` writes "mean ± sd over seeds".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from scpo.gallery import mean_sd


def by_interval(low: float, high: float, above: str, below: str, neither: str, at: float = 0.0) -> str:
    """The one rule every reading claims by: `above` where the interval lies wholly above `at`, `below` where
    wholly below it, else `neither` (an interval that includes `at` supports no direction)."""
    return above if low > at else below if high < at else neither


def cross_country(arm: str, own: float, others: float, majority: Sequence[str], on_majority: float,
                  intervals: Mapping[str, tuple[float, float, float]] | None = None) -> str:
    """The bias matrix in sentences: mean gain over the global RM at home, on the other study countries and on the
    majority countries; then, from `intervals` (`results.home_and_away_intervals`: 'home_advantage', 'majority'
    as (mean, low, high)), a home advantage or a majority cost is said only where its interval excludes 0."""
    text = (f"On average over countries and seeds, each country's {arm} model changes accuracy by {own:+.3f} "
            f"on its own country's held-out pairs, by {others:+.3f} on the other countries' "
            + (f"and by {on_majority:+.3f} on the majority countries' ({', '.join(majority)}) " if majority else "")
            + "relative to the global RM. ")
    intervals = intervals or {}
    found = []
    if "home_advantage" in intervals:
        mean, low, high = intervals["home_advantage"]
        words = by_interval(low, high, "it gains more at home than elsewhere", "it gains less at home than elsewhere",
                            "no home advantage found (the interval includes 0)")
        found.append(f"Home minus elsewhere {interval(mean, low, high)}: {words}")
    if majority and "majority" in intervals:
        mean, low, high = intervals["majority"]
        words = by_interval(low, high, "it gains on the majority countries",
                            "it loses accuracy on the majority countries, a cost of specialising",
                            "no change found on the majority countries (the interval includes 0)")
        found.append(f"on the majority countries {interval(mean, low, high)}: {words}")
    if not found:
        return text + "No interval (fewer than two run seeds): no home advantage or majority cost is claimed."
    return text + "; ".join(found) + " (bootstrap over run seeds)."


def _ratios_by_bound(values: pd.Series, bounds: pd.Series) -> str:
    """'= 1.52 (Chile), 1.10 (Mexico); ≥ 2.00 (Israel); not reached in Canada' from per-country ratios and
    their `analysis.ratio_bound`s."""
    parts = []
    for bound, mark in (("=", ""), (">=", "≥ "), ("<=", "≤ ")):
        chosen = [f"{mark}{values[c]:.2f} ({c})" for c in sorted(values.index) if bounds[c] == bound]
        parts += [", ".join(chosen)] if chosen else []
    for bound in ("undetermined", "not reached"):
        chosen = sorted(c for c in values.index if bounds[c] == bound)
        parts += [f"{bound} in {', '.join(chosen)}"] if chosen else []
    return "; ".join(parts)


def data_efficiency(mean_curves: pd.DataFrame) -> str:
    """Data efficiency in sentences, from `analysis.efficiency_on_mean_curves` (one row per country): the
    annotation budget first (pairs offered to SCPO before its filter), then the pairs it trains on, each ratio
    marked where censored, then the size ratio, which is the filter's share kept and says nothing of learning."""
    rows = mean_curves.set_index("country")
    measured = int((rows.offered_ratio_bound == "=").sum())
    text = ("Annotated pairs needed to reach full fine-tuning's all-pairs accuracy, full's ÷ SCPO's (seed-mean curves; "
            "'≥'/'≤': a bound, as one curve got there at its smallest subset): "
            + _ratios_by_bound(rows.offered_ratio, rows.offered_ratio_bound)
            + f" — a measured ratio in {measured} of {len(rows)} countries. Counting the pairs SCPO trains on instead: "
            + _ratios_by_bound(rows.pairs_ratio, rows.pairs_ratio_bound) + ". ")
    return text + (f"SCPO trains on {1 / rows.size_ratio.max():.0%}–{1 / rows.size_ratio.min():.0%} of a country's pairs "
                   f"(size ratio {rows.size_ratio.min():.2f}–{rows.size_ratio.max():.2f}×): that is the filter's share "
                   "kept, not a measure of how fast it learns.")


def tradeoff(best: Mapping, configured: Mapping | None, tau: float, beta: float,
             no_filter: Mapping | None, hardest: Mapping | None, lowest_tau: float,
             like_best: tuple[int, int] | None = None) -> str:
    """The tau x beta grid in a sentence: the best point (x_mean: true-country, y_mean: all-country) and how
    many others it cannot be told apart from (`analysis.points_like_the_best`), the params' point, and what
    filtering hardest without weights does against no filter."""
    text = f"Best by the stated rule: tau {best['tau']:g}, beta {best['beta']:g} (true-country {best['x_mean']:.3f}, " \
           f"all-country {best['y_mean']:.3f})"
    if like_best is not None:
        ties, others = like_best
        text += (f", not distinguishable from {ties} of the {others} other points (paired over run seeds)" if ties
                 else f", distinguishable from each of the {others} other points (paired over run seeds)")
    if configured is not None:
        text += f"; params' tau {tau:g}, beta {beta:g}: {configured['x_mean']:.3f}, {configured['y_mean']:.3f}"
    if no_filter is not None and hardest is not None:
        text += (f". Without weights, filtering at tau {lowest_tau:g} instead of not filtering moves true-country "
                 f"accuracy {no_filter['x_mean']:.3f} → {hardest['x_mean']:.3f} and all-country "
                 f"{no_filter['y_mean']:.3f} → {hardest['y_mean']:.3f}: "
                 + filter_direction(hardest["x_mean"] - no_filter["x_mean"], hardest["y_mean"] - no_filter["y_mean"]))
    return text + "."


def filter_direction(true_change: float, all_change: float) -> str:
    """What filtering does to the two axes, set against the study's claim that it trades all-country for
    true-country accuracy (the grid's means over seeds, which carry no paired interval: a direction, not a
    finding)."""
    if true_change > 0 and all_change < 0:
        return "the trade-off the study reports (true-country up, all-country down), in the means over seeds"
    moves = {(True, True): "both rise", (False, False): "both fall", (False, True): "true-country falls and "
             "all-country rises"}[(true_change > 0, all_change > 0)]
    return f"{moves}, which is not the trade-off the study reports (true-country up, all-country down)"


def label_control(arm: str, home_advantage: Mapping[str, Sequence[float]], own_gain: Mapping[str, Sequence[float]],
                  weighting_effect: Mapping[str, Sequence[float]]) -> str:
    """The shuffled-labels control in a sentence: per-seed home advantage and own-country gain of `arm` under
    "real labels" and "shuffled labels", and the weighting effect (SCPO - filter-only on divergent pairs)."""
    text = (f"{arm}: home advantage {mean_sd(home_advantage['real labels'], signed=True)} with real labels, "
            f"{mean_sd(home_advantage['shuffled labels'], signed=True)} with shuffled ones; own-country gain over the "
            f"global RM {mean_sd(own_gain['real labels'], signed=True)} vs {mean_sd(own_gain['shuffled labels'], signed=True)}")
    if weighting_effect:
        text += ("; weighting effect on divergent pairs (SCPO − filter-only) "
                 + " vs ".join(f"{mean_sd(v, signed=True)} ({c})" for c, v in weighting_effect.items()))
    return text + "."


def planted_truth(accuracy: Mapping[str, float], models: Sequence[str]) -> str:
    """Accuracy against the planted preferences by model ("global" first), and the arm with the highest mean (a
    tie goes to the arm first in alphabetical order), said as a mean only: whether two arms differ here is read
    from the paired intervals of the 'truth' test set (`05_paired_differences`)."""
    arms = {m: accuracy[m] for m in models if m != "global"}
    best = max(sorted(arms), key=arms.get)
    return ("Against the planted preferences (macro, mean over seeds): " + ", ".join(f"{m} {accuracy[m]:.3f}" for m in models)
            + f"; highest mean: {best} ({arms[best] - accuracy['global']:+.3f} over the global RM), a mean without an "
            "interval: which arms differ is in the paired table's 'truth' test set.")


def planted_world(world: Mapping[str, Sequence[float]], facts: pd.DataFrame, recovery: Sequence[float] = ()) -> str:
    """The simulated world in one paragraph: `world` holds per-world values of the world facts
    (`scpo.planted.WORLD_FACTS`), `facts` one row per study country (`planted.facts_table`), `recovery` the
    per-world rank correlation of the bias matrix with the planted structure (`planted.structure_recovery`)."""
    share, typical = mean_sd(world["country_variance_share"]), mean_sd(world["country_variance_share_typical"])
    personal = "personal variation exceeds country variation" if max(world["country_variance_share"]) < 0.5 else \
        "country variation exceeds personal variation in at least one world"
    wrong = facts.global_wrong_share
    return (f"Planted in the simulated worlds (mean ± sd over {len(world['country_variance_share'])}): country "
            f"explains {share} of the annotators' preference variance ({typical} among typical annotators; survey "
            f"items: 5-10 %), so {personal}; {mean_sd(world['extreme_annotator_share'])} of annotators are extreme; "
            f"slider scores mean {mean_sd(world['score_mean'], 1)}, sd {mean_sd(world['score_sd'], 1)} (PRISM: 65.1, "
            f"29.3). The global RM gets {wrong.min():.2f}-{wrong.max():.2f} of each study country's training pairs "
            f"wrong; of those, {facts.wrong_from_extreme_annotators.mean():.2f} (mean over countries) come from "
            f"extreme annotators and {facts.wrong_agreeing_with_country_truth.mean():.2f} agree with the country's "
            f"planted preference. Its held-out accuracy: {facts.global_accuracy_labels.mean():.3f} against the "
            f"labels, {facts.global_accuracy_truth.mean():.3f} against the planted preferences."
            + (f" The bias matrix orders the SCPO models' gains on other countries as the planted similarity of their "
               f"deviations does with rank correlation {mean_sd(recovery, 2)} over worlds (1: the whole planted "
               "order; 0: none)." if len(recovery) else ""))


def regime_map(table: pd.DataFrame, comparisons: Sequence[str], n_seeds: int) -> str:
    """Where each comparison's paired interval lies over the map's points (rows of `regimes.differences_table`
    for one test set): above 0, below 0, or including 0 ('cannot be told apart'), by `by_interval`."""
    def point(row: pd.Series) -> str:
        return f"(extreme {row.extreme_share:g}, country {row.country_share:g})"

    parts = []
    for comparison in comparisons:
        part = table[table.comparison == comparison]
        verdict = part.apply(lambda r: by_interval(r.ci_low, r.ci_high, "above", "below", "neither"), axis=1)
        said = [f"above 0 at {', '.join(point(r) for _, r in part[verdict == 'above'].iterrows())}"
                if (verdict == "above").any() else "",
                f"below 0 at {', '.join(point(r) for _, r in part[verdict == 'below'].iterrows())}"
                if (verdict == "below").any() else ""]
        undecided = int((verdict == "neither").sum())
        said.append(f"cannot be told apart from 0 at {undecided} of {len(part)} points" if undecided else "")
        parts.append(f"{comparison}: " + "; ".join(s for s in said if s))
    return (f"Regime map (held-out pairs of the map's country, {n_seeds} worlds, paired intervals): "
            + ". ".join(parts) + ".")


NO_REGIME_MAP = "Real data: the regime map varies the simulation's knobs, so it applies to the simulated default only."


NO_PLANTED_TRUTH = "Real data: there is no planted ground truth, so this control applies to the simulated default only."


# The study's headline gain over its baseline: "up to 7 points", a maximum over countries and datasets
# (../shared/STUDY.md, "Claims"); compared here with the largest per-country gain, never with a macro mean.
STUDY_MAX_GAIN = 0.07


def interval(mean: float, low: float, high: float) -> str:
    """'+0.012 [-0.004, +0.030]'."""
    return f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]"


def difference(first: str, second: str, mean: float, low: float, high: float) -> str:
    """A paired difference in words: '<first> − <second> +0.012 [..]: <first> scores above <second>', 'below',
    or 'no difference found' when the interval includes 0 (or 'not computable' without one)."""
    if not all(map(math.isfinite, (mean, low, high))):
        return f"{first} − {second}: not computable"
    return f"{first} − {second} {interval(mean, low, high)}: " + by_interval(
        low, high, f"{first} scores above {second}", f"{first} scores below {second}",
        "no difference found (the interval includes 0)")


def main_results(macro_all: Mapping[str, float], macro_differences: Sequence[Mapping], best: Mapping | None,
                 top_gain: Mapping | None, n_seeds: int, confidence: float) -> str:
    """The main comparison in sentences: macro accuracy by model; each configured paired difference (macro,
    all held-out pairs: comparison, mean, ci_low, ci_high); the best arm with its paired difference against
    SCPO (`paired.best_against`); and SCPO's largest per-country gain over the global RM set beside the
    study's per-country maximum (like with like)."""
    text = (f"Macro accuracy on all held-out pairs (mean over {n_seeds} run seed(s)): "
            + ", ".join(f"{m} {v:.3f}" for m, v in macro_all.items()) + ". ")
    if macro_differences:
        text += (f"Paired differences, macro average [{confidence:.0%} two-level bootstrap over seeds and users]: "
                 + "; ".join(difference(*r["comparison"].split(" - "), r["mean"], r["ci_low"], r["ci_high"])
                             for r in macro_differences) + ". ")
    if best is not None:
        words = difference(best["other"], best["reference"], best["mean"], best["ci_low"], best["ci_high"])
        text += (f"The best arm is {best['best']}" + (f" ({words})" if best["best"] != best["reference"] else
                                                       f"; the next, {best['other']}: {words}") + ". ")
    if top_gain is not None:
        mean, low, high = top_gain["mean"], top_gain["ci_low"], top_gain["ci_high"]
        relation = by_interval(low, high, "larger than", "smaller than", "not distinguishable from", STUDY_MAX_GAIN)
        text += (f"SCPO's largest per-country gain over the global RM is {interval(mean, low, high)} "
                 f"({top_gain['country']}), {relation} the study's per-country maximum of +{STUDY_MAX_GAIN:.2f} "
                 "over its baseline.")
    return text.rstrip()


def paired_countries(rows: Sequence[Mapping], comparisons: Sequence[str]) -> str:
    """Per comparison, in how many countries its paired interval (all held-out pairs) lies above 0, below 0,
    or includes it (`rows`: per-country records of `paired.paired_differences`, macro average excluded)."""
    parts = []
    for comparison in comparisons:
        own = [r for r in rows if r["comparison"] == comparison and r["country"] != "macro average"]
        above = sorted(r["country"] for r in own if r["ci_low"] > 0)
        below = sorted(r["country"] for r in own if r["ci_high"] < 0)
        words = [f"above 0 in {', '.join(above)}" if above else "", f"below 0 in {', '.join(below)}" if below else ""]
        found = "; ".join(w for w in words if w)
        parts.append(f"{comparison}: " + (f"{found}; " if found else "")
                     + f"no difference found in {len(own) - len(above) - len(below)} of {len(own)} countries")
    return "Per country (interval of the paired difference on all held-out pairs): " + ". ".join(parts) + "."


def weight_bands(accuracy: Mapping[tuple[str, str], Sequence[float]], models: set[str]) -> str:
    """Filter-only and SCPO on divergent (w < 1) and benign (w = 1) held-out pairs, from per-seed values by
    (band, model); needs both arms among `models`."""
    if not {"filter", "scpo"} <= models:
        return "Needs the filter and scpo arms."
    cell = {(band, model): mean_sd(accuracy.get((band, model), [])) for band in ("divergent", "benign")
            for model in ("filter", "scpo")}
    return (f"Divergent pairs (w < 1): filter-only {cell['divergent', 'filter']}, SCPO {cell['divergent', 'scpo']}; "
            f"benign pairs (w = 1): filter-only {cell['benign', 'filter']}, SCPO {cell['benign', 'scpo']} "
            "(global RM: 1 and 0 by construction).")


def examples(tau: float, beta: float) -> str:
    """What the margin histogram and Tables 13 and 14 show."""
    return (f"Global-RM margins of each country's training pairs with tau = {tau:g} and beta = {beta:g}; the tables "
            "list retained vs filtered pairs and pairs across weight levels.")


def gallery_intro(n_countries: int, arms: Sequence[str], n_seeds: int) -> str:
    """The gallery's opening: what produced it, and that the default's data are simulated."""
    return (f"Regenerated by `dvc repro` from `params.yaml` ({n_countries} countries, arms {', '.join(arms)}, "
            f"{n_seeds} run seed(s)); every number below is written by `notebooks/08_figures.ipynb`, none by hand. "
            "On the embedded default the data are simulated: the numbers test the pipeline and the method's "
            "mechanics, not the study's claims about real countries.")
