"""The gallery's sentences (`reports/README.md`, `05_bias_analysis.json`): each a function of the numbers it
reads, so its words are unit-tested on numbers where SCPO wins, loses or ties (`tests/test_readings.py`).

Values are plain floats or lists of per-seed values; `gallery.mean_sd` writes "mean ± sd over seeds".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from scpo.gallery import mean_sd


def cross_country(arm: str, own: float, others: float, majority: Sequence[str], on_majority: float) -> str:
    """The bias matrix in a sentence: mean gain over the global RM at home, on the other study countries and
    on the majority countries, and whether the model gains more at home and loses on the majority."""
    text = (f"On average over countries and seeds, each country's {arm} model changes accuracy by {own:+.3f} "
            f"on its own country's held-out pairs, by {others:+.3f} on the other countries' "
            + (f"and by {on_majority:+.3f} on the majority countries' ({', '.join(majority)}) " if majority else "")
            + "relative to the global RM: ")
    text += "it gains more at home than elsewhere" if own > others else "it gains no more at home than elsewhere"
    text += ("; it loses accuracy on the majority countries, a cost of specialising" if majority and on_majority < 0
             else "; it does not lose accuracy on the majority countries")
    return text + "."


def data_efficiency(size_ratio: pd.Series, pairs_ratio: pd.Series, reached: float) -> str:
    """Data efficiency in a sentence, from the per-country seed means of the size ratio and the pairs ratio
    (NaN where SCPO never reached full's accuracy) and the share of curves that reached it."""
    top = size_ratio.idxmax()
    text = (f"SCPO trains on {1 / size_ratio.max():.0%}–{1 / size_ratio.min():.0%} of a country's pairs, a size ratio of "
            f"{size_ratio.min():.2f}–{size_ratio.max():.2f}× ({top} highest: {(size_ratio.max() - 1):.0%} 'more "
            f"data-efficient' in that reading); to reach full fine-tuning's own accuracy it needed ")
    reached_share = (1 / pairs_ratio).dropna()
    text += (f"{reached_share.min():.0%}–{reached_share.max():.0%} of full's pairs where it got there "
             if pairs_ratio.notna().any() else "more pairs than it had ")
    return text + f"(it reached that accuracy in {reached:.0%} of country × seed curves)."


def tradeoff(best: Mapping, configured: Mapping | None, tau: float, beta: float,
             no_filter: Mapping | None, hardest: Mapping | None, lowest_tau: float) -> str:
    """The tau x beta grid in a sentence: the best point (x_mean: true-country, y_mean: all-country), the
    params' point, and what filtering hardest without weights does against no filter."""
    text = f"Best by the stated rule: tau {best['tau']:g}, beta {best['beta']:g} (true-country {best['x_mean']:.3f}, " \
           f"all-country {best['y_mean']:.3f})"
    if configured is not None:
        text += f"; params' tau {tau:g}, beta {beta:g}: {configured['x_mean']:.3f}, {configured['y_mean']:.3f}"
    if no_filter is not None and hardest is not None:
        text += (f". Without weights, filtering at tau {lowest_tau:g} instead of not filtering moves true-country "
                 f"accuracy {no_filter['x_mean']:.3f} → {hardest['x_mean']:.3f} and all-country "
                 f"{no_filter['y_mean']:.3f} → {hardest['y_mean']:.3f} (the study: filtering trades all-country for "
                 "true-country accuracy)")
    return text + "."


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
    """Accuracy against the planted preferences by model ("global" first), and the best arm's gain (a tie
    goes to the arm first in alphabetical order)."""
    arms = {m: accuracy[m] for m in models if m != "global"}
    best = max(sorted(arms), key=arms.get)
    return ("Against the planted preferences (macro, mean over seeds): " + ", ".join(f"{m} {accuracy[m]:.3f}" for m in models)
            + f"; best arm {best} ({arms[best] - accuracy['global']:+.3f} over the global RM).")


NO_PLANTED_TRUTH = "Real data: there is no planted ground truth, so this control applies to the simulated default only."


def main_results(macro_all: Mapping[str, float]) -> str:
    """Macro accuracy on all held-out pairs by model, and the best arm's gain over the global RM."""
    best = max((m for m in macro_all if m != "global"), key=macro_all.get)
    return ("Macro accuracy on all held-out pairs: " + ", ".join(f"{m} {v:.3f}" for m, v in macro_all.items())
            + f"; the best arm, {best}, is {macro_all[best] - macro_all['global']:+.3f} over the global RM "
            "(the study: up to +0.07).")


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
