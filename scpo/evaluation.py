"""Pairwise accuracy of reward models on held-out preference pairs, from saved per-pair scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import Tensor


def pairwise_accuracy(chosen_scores: Tensor, rejected_scores: Tensor) -> float:
    """Share of pairs with s(chosen) > s(rejected); ties count as wrong. NaN for no pairs."""
    if chosen_scores.shape != rejected_scores.shape:
        raise ValueError(f"shape mismatch: {tuple(chosen_scores.shape)} vs {tuple(rejected_scores.shape)}")
    if chosen_scores.numel() == 0:
        return float("nan")
    return (chosen_scores > rejected_scores).double().mean().item()


def pair_scores(pairs: pd.DataFrame, utterance_scores: pd.Series) -> tuple[Tensor, Tensor]:
    """(s+, s-) for each pair, looked up by utterance id in a Series indexed by `utterance_id`."""
    missing = ~pairs.chosen_id.isin(utterance_scores.index) | ~pairs.rejected_id.isin(utterance_scores.index)
    if missing.any():
        raise KeyError(f"{int(missing.sum())} pairs have unscored utterances, e.g. pair {pairs.pair_id[missing].iloc[0]}")
    chosen = torch.tensor(utterance_scores.loc[pairs.chosen_id].to_numpy(dtype="float64"))
    rejected = torch.tensor(utterance_scores.loc[pairs.rejected_id].to_numpy(dtype="float64"))
    return chosen, rejected


def truth_oriented(chosen: Tensor, rejected: Tensor, truth_margin: Tensor) -> tuple[Tensor, Tensor]:
    """Scores re-ordered so the first is the response the country truly prefers (noise-free utility).

    Pairs whose true utilities tie carry no ground truth and are removed.
    """
    known = truth_margin != 0
    flip = truth_margin[known] < 0
    c, r = chosen[known], rejected[known]
    return torch.where(flip, r, c), torch.where(flip, c, r)


def accuracy_report(pairs: pd.DataFrame, utterance_scores: pd.Series) -> dict[str, float | int]:
    """Accuracy on all pairs; where the columns exist, also on the pairs the global RM ranks wrongly
    (r+ < r-, from `global_chosen`/`global_rejected`), on those the training filter keeps (`keep`), and
    against the planted ground truth (`truth_margin`, simulated data only)."""
    chosen, rejected = pair_scores(pairs, utterance_scores)
    report: dict[str, float | int] = {
        "n_pairs": len(pairs),
        "accuracy_all": pairwise_accuracy(chosen, rejected),
        "ties": int((chosen == rejected).sum()),
    }
    subsets = {}
    if {"global_chosen", "global_rejected"} <= set(pairs.columns):
        subsets["disagreement"] = (pairs.global_chosen < pairs.global_rejected).to_numpy()
    if "keep" in pairs:
        subsets["kept"] = pairs.keep.to_numpy(dtype=bool)
    for name, mask in subsets.items():
        mask = torch.as_tensor(mask)
        report[f"n_{name}"] = int(mask.sum())
        report[f"accuracy_{name}"] = pairwise_accuracy(chosen[mask], rejected[mask])
    if "truth_margin" in pairs and len(pairs) and pairs.truth_margin.notna().all():
        truth = torch.tensor(pairs.truth_margin.to_numpy(dtype="float64"))
        report["n_truth"] = int((truth != 0).sum())
        report["accuracy_truth"] = pairwise_accuracy(*truth_oriented(chosen, rejected, truth))
    return report


def accuracy_table(reports: dict[tuple[str, str], dict[str, float | int]]) -> pd.DataFrame:
    """Long table (country, model, metric, value) from {(country, model): report}."""
    rows = [
        {"country": country, "model": model, "metric": metric, "value": value}
        for (country, model), report in reports.items()
        for metric, value in report.items()
    ]
    return pd.DataFrame(rows).sort_values(["country", "model", "metric"], ignore_index=True)


def macro_average(table: pd.DataFrame) -> pd.DataFrame:
    """Unweighted mean over countries of each (model, accuracy metric)."""
    acc = table[table.metric.str.startswith("accuracy")]
    return acc.groupby(["model", "metric"], as_index=False)["value"].agg(lambda v: float(np.nanmean(v)))


def cross_country_matrix(test_pairs: pd.DataFrame, model_scores: dict[str, pd.Series]) -> pd.DataFrame:
    """Accuracy of each model (rows, keyed by name) on each country's held-out pairs (columns)."""
    countries = sorted(test_pairs.country.unique())
    return pd.DataFrame(
        {country: {name: pairwise_accuracy(*pair_scores(test_pairs[test_pairs.country == country], scores))
                   for name, scores in model_scores.items()} for country in countries}
    ).loc[list(model_scores)]


def global_scores(pairs: pd.DataFrame) -> pd.Series:
    """The global RM's score per utterance id, from the `global_chosen`/`global_rejected` pair columns."""
    ids = np.concatenate([pairs.chosen_id.to_numpy(), pairs.rejected_id.to_numpy()])
    values = np.concatenate([pairs.global_chosen.to_numpy(), pairs.global_rejected.to_numpy()])
    return pd.Series(values, index=ids, name="global_score").groupby(level=0).first()
