"""Paired differences between two models on the same held-out pairs, with intervals that carry both sources
of variation: the held-out users and the training runs.

`evaluation.evaluate` draws one set of user resamples per (run seed, country) and scores every model on it,
so replicate b of two models is the same resampled users: their difference in replicate b is a paired
difference. Over run seeds, the interval is a two-level bootstrap: each replicate draws the run seeds with
replacement, then takes each drawn seed's user resample b, and averages the differences. With few seeds the
seed level is coarse (3 seeds: 10 distinct multisets), which the table states by giving the seed count.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from scpo import evaluation, io

COLUMNS = ["country", "test_set", "comparison", "seeds", "mean", "sd_over_seeds", "ci_low", "ci_high",
           "excludes_zero"]


def comparison_models(comparison: str) -> tuple[str, str]:
    """('scpo', 'full') of 'scpo - full'."""
    first, second = comparison.split(" - ")
    return first, second


def two_level_interval(point: np.ndarray, replicates: np.ndarray, confidence: float,
                       rng: np.random.Generator) -> tuple[float, float]:
    """The interval of the mean over seeds of a per-seed quantity: `point` (one value per seed) and its
    user-bootstrap `replicates` (seeds x resamples). Replicate b draws len(point) seeds with replacement and
    averages their replicate b; NaN replicates (a resample without pairs) are left out of the quantiles."""
    seeds, samples = replicates.shape
    if seeds == 0 or not np.isfinite(point).any():
        return float("nan"), float("nan")
    drawn = rng.integers(seeds, size=(samples, seeds))
    picked = replicates[drawn, np.arange(samples)[:, None]]
    finite = np.isfinite(picked)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(finite.any(axis=1), np.where(finite, picked, 0.0).sum(axis=1) / finite.sum(axis=1), np.nan)
    means = means[np.isfinite(means)]
    if not len(means):
        return float("nan"), float("nan")
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def paired_differences(results: pd.DataFrame, comparisons: Sequence[str], confidence: float,
                       rng: np.random.Generator) -> pd.DataFrame:
    """Per (country, test set, comparison 'a - b'): the mean over run seeds of accuracy(a) - accuracy(b) on
    the same held-out pairs, its sd over seeds, the two-level bootstrap interval, and whether it excludes 0.

    `results`: rows of `evaluation.evaluate` with `seed` and `country` (macro rows from
    `evaluation.macro_rows` included, as country 'macro average'). A comparison of a model that is not in
    `results` is an error, not a silent omission."""
    models = set(results.model)
    for comparison in comparisons:
        missing = [m for m in comparison_models(comparison) if m not in models]
        if missing:
            raise ValueError(f"comparison '{comparison}': no results for {', '.join(missing)} "
                             f"(models: {', '.join(sorted(models))})")
    rows = []
    for (country, test_set), group in results.groupby(["country", "test_set"], sort=True):
        by_model = {model: part.set_index("seed").sort_index() for model, part in group.groupby("model")}
        for comparison in comparisons:
            first, second = (by_model[m] for m in comparison_models(comparison))
            seeds = first.index.intersection(second.index)
            point = (first.accuracy.loc[seeds] - second.accuracy.loc[seeds]).to_numpy(dtype=float)
            replicates = (np.stack(first.replicates.loc[seeds].to_list())
                          - np.stack(second.replicates.loc[seeds].to_list())) if len(seeds) else np.zeros((0, 1))
            low, high = two_level_interval(point, replicates, confidence, rng)
            finite = point[np.isfinite(point)]
            rows.append({"country": country, "test_set": test_set, "comparison": comparison, "seeds": len(finite),
                         "mean": float(finite.mean()) if len(finite) else np.nan,
                         "sd_over_seeds": float(finite.std(ddof=1)) if len(finite) > 1 else np.nan,
                         "ci_low": low, "ci_high": high, "excludes_zero": bool(low > 0 or high < 0)})
    return pd.DataFrame(rows, columns=COLUMNS)


def interval_text(mean: float, low: float, high: float) -> str:
    """'+0.012 [-0.004, +0.030]', or 'n/a' without a value."""
    if not np.isfinite(mean):
        return "n/a"
    return f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]"


def markdown_page(differences: pd.DataFrame, comparisons: Sequence[str], n_seeds: int, confidence: float,
                  samples: int) -> str:
    """`05_paired_differences.md`: per test set, rows country (macro average last), columns comparison,
    cells 'mean [interval]' with '*' where the interval excludes 0."""
    sections = []
    for test_set in [t for t in evaluation.TEST_SETS if t in set(differences.test_set)]:
        part = differences[differences.test_set == test_set]
        cell = part.apply(lambda r: interval_text(r["mean"], r.ci_low, r.ci_high) + (" *" if r.excludes_zero else ""),
                          axis=1)
        table = part.assign(cell=cell).pivot(index="country", columns="comparison", values="cell")
        order = sorted(c for c in table.index if c != "macro average") + ["macro average"]
        table = table.reindex(index=[c for c in order if c in table.index], columns=list(comparisons))
        sections.append(f"## Test set: {test_set}\n\n" + io.markdown_table(table.rename_axis("country").reset_index()))
    return ("# Paired differences between arms\n\nAccuracy of the first model minus the second on the same held-out "
            f"pairs, mean over {n_seeds} run seed(s), with a {confidence:.0%} two-level bootstrap interval "
            f"({samples} replicates: run seeds drawn with replacement, then the held-out users, resampled once per "
            "seed and country and shared by every model). `*`: the interval excludes 0. With "
            f"{n_seeds} seeds the seed level of the interval is coarse; the seed sd is in the CSV.\n\n"
            + "\n".join(sections))


def best_against(results: pd.DataFrame, reference: str, arms: Sequence[str], confidence: float,
                 rng: np.random.Generator, test_set: str = "all") -> dict | None:
    """The arm with the highest macro accuracy on `test_set` (mean over seeds; ties: first in `arms`) and
    its paired difference with `reference`: 'best - reference', or, where `reference` is the best, the
    runner-up's 'runner_up - reference'. None without `reference` or another arm. `results` holds the
    'macro average' rows (`evaluation.macro_rows`)."""
    macro = results[(results.country == "macro average") & (results.test_set == test_set)]
    means = macro.groupby("model").accuracy.mean()
    ranked = sorted((arm for arm in arms if arm in means.index), key=lambda arm: -means[arm])  # stable: ties keep order
    if reference not in ranked or len(ranked) < 2:
        return None
    other = ranked[0] if ranked[0] != reference else ranked[1]
    row = paired_differences(macro, [f"{other} - {reference}"], confidence, rng).iloc[0]
    return {"best": ranked[0], "other": other, "reference": reference, "mean": float(row["mean"]),
            "ci_low": float(row.ci_low), "ci_high": float(row.ci_high), "seeds": int(row.seeds)}


def largest(differences: pd.DataFrame, comparison: str, test_set: str = "all") -> dict | None:
    """The country (not the macro average) with the largest mean difference of `comparison` on `test_set`,
    as a record of `paired_differences`; None if there is none."""
    part = differences[(differences.comparison == comparison) & (differences.test_set == test_set)
                       & (differences.country != "macro average")].dropna(subset=["mean"])
    if not len(part):
        return None
    return {key: value.item() if isinstance(value, np.generic) else value  # plain Python values, for JSON
            for key, value in part.loc[part["mean"].idxmax()].items()}
