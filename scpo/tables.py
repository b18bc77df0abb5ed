"""The Markdown tables of `reports/tables/` (stages 05 and 08), from the numbers `scpo.results` computes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from scpo import analysis, evaluation, io
from scpo.gallery import mean_sd


def results_page(summary: pd.DataFrame, similarity: pd.DataFrame, edited_ratio: pd.DataFrame, models: Sequence[str],
                 n_seeds: int, confidence: float) -> str:
    """`05_results.md`: accuracy per test set (mean ± sd over seeds with the bootstrap CI), ties per model,
    GlobalOpinionQA's answer similarity (`results.similarity_over_seeds`; empty on PRISM) and the edited ratios."""
    test_sets = [t for t in evaluation.TEST_SETS if t in set(summary.test_set)]
    sections = [f"## Test set: {t}\n\n" + evaluation.summary_markdown(summary, t, models) for t in test_sets]
    if len(similarity):
        cells = similarity.assign(cell=similarity["mean"].map("{:.3f}".format) + " ± " + similarity["std"].map("{:.3f}".format))
        sections.append("## GlobalOpinionQA: 1 − Jensen–Shannon distance to the country's answer shares\n\n" + io.markdown_table(
            cells.pivot(index="country", columns="model", values="cell").reindex(columns=models).reset_index()))
    ties = summary.query("test_set == 'all' and country != 'macro average'").groupby("model").ties.sum().reindex(models)
    return (f"# Results\n\nPairwise accuracy on held-out pairs (of test users on PRISM, test questions on GlobalOpinionQA), "
            f"mean ± sd over {n_seeds} run seed(s) [{confidence:.0%} bootstrap CI over those users or questions]. "
            "Ties count as wrong. On `disagreement` the global RM scores 0 by construction. Tied scores, summed over "
            "countries and seeds: " + ", ".join(f"{m} {t}" for m, t in ties.items()) + ".\n\n" + "\n".join(sections)
            + "\n## Edited ratio (share of pairs kept or where the global RM is wrong; pooled over seeds)\n\n"
            + io.markdown_table(edited_ratio.rename_axis("country").reset_index()))


BOUND_MARKS = {"=": "", "<=": "≤ ", ">=": "≥ "}


def bounded_ratio(value: float, bound: str) -> str:
    """A censored ratio as a reader must see it (`analysis.ratio_bound`): '1.52', '≤ 1.52', '≥ 1.52',
    'undetermined' or 'not reached' — never a bound passed off as a measurement."""
    if bound in BOUND_MARKS:
        return f"{BOUND_MARKS[bound]}{value:.2f}"
    return bound


def efficiency(mean_curves: pd.DataFrame) -> pd.DataFrame:
    """The data-efficiency table (`analysis.efficiency_on_mean_curves`, one row per country): the ratio in
    annotated (offered) pairs first, then in trained pairs, each marked where censored; the size ratio; each
    arm's all-pairs accuracy and gain per 1000 pairs; the gain-per-pair ratio."""
    rows = mean_curves.set_index("country")
    return pd.DataFrame({
        "offered_ratio": [bounded_ratio(r.offered_ratio, r.offered_ratio_bound) for r in rows.itertuples()],
        "pairs_ratio": [bounded_ratio(r.pairs_ratio, r.pairs_ratio_bound) for r in rows.itertuples()],
        "size_ratio": rows.size_ratio.map("{:.2f}".format),
        "full acc.": rows.full_accuracy.map("{:.3f}".format), "scpo acc.": rows.scpo_accuracy.map("{:.3f}".format),
        "full gain / 1000 pairs": rows.full_gain_per_1000_pairs.map("{:+.2f}".format),
        "scpo gain / 1000 pairs": rows.scpo_gain_per_1000_pairs.map("{:+.2f}".format),
        "gain_per_pair_ratio": [f"{v:.2f}" if np.isfinite(v) else "n/a (full gains nothing)"
                                for v in rows.gain_per_pair_ratio],
        "seeds": rows.seeds}, index=rows.index)


def efficiency_page(table: pd.DataFrame) -> str:
    """`08_data_efficiency.md`: the definitions and how censored values are marked, then the table."""
    return ("# Data efficiency\n\nOn each country's seed-mean learning curves; a ratio r reads as (r − 1) × 100 % "
            "more data-efficient. " + analysis.CENSORING + "\n\n"
            + "\n".join(f"- `{k}`: {v}" for k, v in analysis.EFFICIENCY_DEFINITIONS.items()) + "\n\n"
            + io.markdown_table(table.reset_index()))


def tradeoff_page(points: pd.DataFrame, countries: Sequence[str]) -> str:
    """`08_tradeoff.md`: every grid point's training pairs and accuracies (mean ± sd over seeds)."""
    def cells(means: pd.Series, sds: pd.Series) -> list[str]:
        return [mean_sd([m]) + f" ± {s:.3f}" if np.isfinite(s) else f"{m:.3f}" for m, s in zip(means, sds)]

    table = points.assign(**{"true-country (x)": cells(points.x_mean, points.x_sd),
                             "all-country (y)": cells(points.y_mean, points.y_sd)})
    return (f"# The tau × beta trade-off ({', '.join(countries)})\n\nBest point: {analysis.BEST_POINT_RULE}.\n\n"
            + io.markdown_table(table[["tau", "beta", "train_pairs", "true-country (x)", "all-country (y)"]]))


def controls_page(control_macro: pd.DataFrame, arms: Sequence[str], weighting_effect: Mapping[str, Sequence[float]]) -> str:
    """`08_controls.md`: own gain and home advantage per arm with real and shuffled labels (macro over
    countries, mean ± sd over seeds), and the weighting effect on divergent pairs."""
    def cell(condition: str, arm: str, column: str) -> str:
        rows = control_macro[(control_macro.condition == condition) & (control_macro.arm == arm)]
        return mean_sd(rows[column], signed=True)

    lines = [f"| {arm} | {cell('real labels', arm, 'own_gain')} | {cell('shuffled labels', arm, 'own_gain')} | "
             f"{cell('real labels', arm, 'home_advantage')} | {cell('shuffled labels', arm, 'home_advantage')} |"
             for arm in arms]
    return ("# Controls\n\n## Shuffled country labels\n\nMacro over countries, mean ± sd over seeds; gains are accuracy "
            "minus the global RM's on the same pairs.\n\n| arm | own gain, real | own gain, shuffled | home advantage, real | "
            "home advantage, shuffled |\n|---|---|---|---|---|\n" + "\n".join(lines) + "\n\n"
            + "".join(f"SCPO minus filter-only on divergent pairs, {c}: {mean_sd(v, signed=True)}.\n"
                      for c, v in weighting_effect.items()))


EXAMPLE_VALUES = {"F": "agreement", "w": "weight"}  # the value a Table 13 / 14 row is chosen by: its column


def examples(rows: pd.DataFrame, value: str, width: int = 70) -> str:
    """Table 13 (`value` "F") or 14 ("w") of the study: each example pair with its texts cut to `width`
    characters, the global RM's rewards, the annotator's scores and whether the filter retains it."""
    short = rows.assign(**{column: rows[column].map(lambda t: analysis.shorten(t, width))
                           for column in ("prompt", "chosen", "rejected")})
    columns = {"country": "country", "target": f"target {value}", "prompt": "user prompt", "chosen": "y+",
               "rejected": "y-", "global_chosen": "r+", "global_rejected": "r-", "chosen_score": "s+",
               "rejected_score": "s-", EXAMPLE_VALUES[value]: value}
    return io.markdown_table(short.assign(block=short.keep.map({True: "retained", False: "filtered"}))
                             [["block", *columns]].rename(columns=columns))


def planted_page(facts: pd.DataFrame, world: Mapping[str, Sequence[float]]) -> str:
    """The planted facts: one row per study country (`planted.facts_table`, means over worlds), then each world
    fact as mean ± sd over worlds."""
    names = {"global_wrong_share": "global RM wrong (train pairs)", "wrong_from_extreme_annotators":
             "of those: extreme annotators", "wrong_agreeing_with_country_truth": "of those: agree with country truth",
             "global_accuracy_labels": "global RM held-out acc. (labels)",
             "global_accuracy_truth": "global RM held-out acc. (truth)"}
    lines = ["# Planted facts of the simulated worlds\n", "Per study country, mean over worlds (run seeds):\n",
             io.markdown_table(facts.rename(columns=names).rename_axis("country").reset_index()),
             "\nPer world (mean ± sd over worlds):\n"]
    lines += [f"- {fact}: {mean_sd(values, 4)}" for fact, values in world.items()]
    return "\n".join(lines) + "\n"


def regimes_page(table: pd.DataFrame, n_seeds: int, confidence: float) -> str:
    """The regime map's paired differences, one row per (point, comparison) on all held-out pairs."""
    shown = table[["extreme_share", "country_share", "comparison", "mean", "ci_low", "ci_high", "excludes_zero",
                   "global_wrong_share", "wrong_from_extreme_annotators", "country_variance_share"]]
    return (f"# Regime map: paired differences on the map country's held-out pairs\n\nMean over {n_seeds} worlds "
            f"(run seeds), {confidence:.0%} two-level paired interval (worlds, then users); planted facts as means "
            "over worlds.\n\n" + io.markdown_table(shown))
