"""Pairwise accuracy of reward models on held-out preference pairs, from saved per-pair scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from scpo.threads import pin_threads
from scpo.io import markdown_table, pair_values

pin_threads()  # one fixed thread count for this process's arithmetic (scpo/threads.py)


def pairwise_accuracy(chosen_scores: Tensor, rejected_scores: Tensor) -> float:
    """Share of pairs with s(chosen) > s(rejected); ties count as wrong. NaN for no pairs."""
    if chosen_scores.shape != rejected_scores.shape:
        raise ValueError(f"shape mismatch: {tuple(chosen_scores.shape)} vs {tuple(rejected_scores.shape)}")
    if chosen_scores.numel() == 0:
        return float("nan")
    return (chosen_scores > rejected_scores).double().mean().item()


def pair_scores(pairs: pd.DataFrame, utterance_scores: pd.Series) -> tuple[Tensor, Tensor]:
    """(s+, s-) for each pair, looked up by utterance id in a Series indexed by `utterance_id` (unique ids)."""
    chosen, rejected = pair_values(pairs, utterance_scores, "unscored utterances", "float64")
    return torch.from_numpy(chosen), torch.from_numpy(rejected)


def accuracy_report(pairs: pd.DataFrame, utterance_scores: pd.Series) -> dict[str, float | int]:
    """Counts and accuracy on each test set of `test_set_outcomes`, plus ties over all pairs."""
    chosen, rejected = pair_scores(pairs, utterance_scores)
    report: dict[str, float | int] = {"n_pairs": len(pairs), "ties": int((chosen == rejected).sum())}
    for name, (correct, _) in test_set_outcomes(pairs, utterance_scores).items():
        if name != "all":
            report[f"n_{name}"] = len(correct)
        report[f"accuracy_{name}"] = float(correct.mean()) if len(correct) else float("nan")
    return report


def cross_country_matrix(test_pairs: pd.DataFrame, model_scores: dict[str, pd.Series]) -> pd.DataFrame:
    """Accuracy of each model (rows, keyed by name) on each country's held-out pairs (columns)."""
    by_country = dict(iter(test_pairs.groupby("country", observed=True)))  # each country's rows selected once
    return pd.DataFrame(
        {country: {name: pairwise_accuracy(*pair_scores(by_country[country], scores))
                   for name, scores in model_scores.items()} for country in sorted(test_pairs.country.unique())}
    ).loc[list(model_scores)]


def global_scores(pairs: pd.DataFrame) -> pd.Series:
    """The global RM's score per utterance id, from the `global_chosen`/`global_rejected` pair columns."""
    ids = np.concatenate([pairs.chosen_id.to_numpy(), pairs.rejected_id.to_numpy()])
    values = np.concatenate([pairs.global_chosen.to_numpy(), pairs.global_rejected.to_numpy()])
    return pd.Series(values, index=ids, name="global_score").groupby(level=0).first()


TEST_SETS = ("all", "disagreement", "kept", "truth")


def test_set_outcomes(pairs: pd.DataFrame, utterance_scores: pd.Series) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per test set, (correct per pair, user per pair): `all`; where the columns exist, `disagreement`
    (global r+ < r-), `kept` (the training filter) and `truth` (the noise-free preference replaces the label)."""
    chosen, rejected = (t.numpy() for t in pair_scores(pairs, utterance_scores))
    correct, users = chosen > rejected, pairs.user_id.to_numpy()
    outcomes = {"all": (correct, users)}
    if {"global_chosen", "global_rejected"} <= set(pairs.columns):
        mask = (pairs.global_chosen < pairs.global_rejected).to_numpy()
        outcomes["disagreement"] = (correct[mask], users[mask])
    if "keep" in pairs:
        mask = pairs.keep.to_numpy(dtype=bool)
        outcomes["kept"] = (correct[mask], users[mask])
    if "truth_margin" in pairs and len(pairs) and pairs.truth_margin.notna().all():
        truth = pairs.truth_margin.to_numpy(dtype="float64")
        known = truth != 0
        outcomes["truth"] = (np.where(truth > 0, chosen > rejected, rejected > chosen)[known], users[known])
    return outcomes


def user_resamples(users: np.ndarray, samples: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`samples` bootstrap resamples of the distinct users in `users` (with replacement): (the sorted user ids,
    how often each resample draws each of them, shape (samples, n_users)).

    Pairs of one annotator are not independent, so users, not pairs, are the resampling unit. Drawn once per
    set of held-out pairs and shared by every model scored on them, the resamples make two models'
    replicates paired: their difference in replicate b is the difference on the same resampled users.
    """
    ids = np.unique(users)
    if not len(ids):
        return ids, np.zeros((samples, 0), dtype=np.int64)
    return ids, rng.multinomial(len(ids), np.full(len(ids), 1.0 / len(ids)), size=samples)


def resampled_accuracy(correct: np.ndarray, users: np.ndarray, resamples: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Pooled accuracy of `correct` (one entry per pair, of user `users`) in each of `user_resamples`'
    resamples, each user with all their pairs; NaN in a resample that drew none of these pairs' users (a
    subset such as `disagreement` can miss every drawn user). Every user must be among the resamples' ids."""
    ids, draws = resamples
    if len(correct) == 0:
        return np.full(len(draws), np.nan)
    user_index = np.searchsorted(ids, users)
    if (user_index >= len(ids)).any() or (ids[np.minimum(user_index, len(ids) - 1)] != users).any():
        raise ValueError("a pair's user is not among the resampled users")
    hits = np.bincount(user_index, weights=correct.astype(float), minlength=len(ids))
    totals = np.bincount(user_index, minlength=len(ids)).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (draws @ hits) / (draws @ totals)


def bootstrap_accuracy(correct: np.ndarray, users: np.ndarray, samples: int, rng: np.random.Generator) -> np.ndarray:
    """Pooled accuracy of `samples` resamples of the users (with replacement), each user with all their pairs:
    `resampled_accuracy` on resamples of these pairs' own users. Shape (samples,)."""
    if len(correct) == 0:
        return np.full(samples, np.nan)
    return resampled_accuracy(correct, users, user_resamples(users, samples, rng))


def evaluate(pairs: pd.DataFrame, model_scores: dict[str, pd.Series], samples: int,
             rng: np.random.Generator) -> pd.DataFrame:
    """One row per (model, test set): n_pairs, n_users, accuracy, ties, and the bootstrap `replicates`.

    One set of user resamples of `pairs` (`user_resamples`) serves every model and test set, so the
    replicates of two models are paired and their difference has an interval of its own (`scpo.paired`)."""
    resamples = user_resamples(pairs.user_id.to_numpy(), samples, rng)
    rows = []
    for model, scores in model_scores.items():
        chosen, rejected = pair_scores(pairs, scores)
        ties = int((chosen == rejected).sum())
        for test_set, (correct, users) in test_set_outcomes(pairs, scores).items():
            rows.append({"model": model, "test_set": test_set, "n_pairs": len(correct),
                         "n_users": len(np.unique(users)), "ties": ties if test_set == "all" else None,
                         "accuracy": float(correct.mean()) if len(correct) else np.nan,
                         "replicates": resampled_accuracy(correct, users, resamples)})
    return pd.DataFrame(rows)


def mean_replicates(replicates: pd.Series) -> np.ndarray:
    """The element-wise mean of equal-length replicate arrays, ignoring NaN (a resample without pairs of one
    of them); NaN where every one is NaN."""
    stacked = np.stack(replicates.to_list())
    counts = np.isfinite(stacked).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, np.nansum(stacked, axis=0) / counts, np.nan)


def summarise(results: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """Across seeds, per (country, model, test set): mean and sd of accuracy and a bootstrap CI.

    The CI resamples test users within each seed and averages the replicates over seeds, so it is the
    interval of the seed-averaged accuracy; the sd shows the spread across seeds (split, init, order).
    """
    tail = (1.0 - confidence) / 2.0
    rows = []
    for (country, model, test_set), group in results.groupby(["country", "model", "test_set"], sort=True):
        replicates = mean_replicates(group.replicates) if group.accuracy.notna().any() \
            else np.full(1, np.nan)
        low, high = (np.nanquantile(replicates, [tail, 1 - tail]) if np.isfinite(replicates).any()
                     else (np.nan, np.nan))
        rows.append({"country": country, "model": model, "test_set": test_set, "seeds": len(group),
                     "n_pairs": float(group.n_pairs.mean()), "ties": int(group.ties.fillna(0).sum()),
                     "mean": float(group.accuracy.mean()),
                     "sd": float(group.accuracy.std(ddof=1)) if len(group) > 1 else np.nan,
                     "ci_low": float(low), "ci_high": float(high)})
    return pd.DataFrame(rows)


def macro_rows(results: pd.DataFrame) -> pd.DataFrame:
    """Per (seed, model, test set), the unweighted mean over countries, as rows of country 'macro average'."""
    rows = []
    for (seed, model, test_set), group in results.groupby(["seed", "model", "test_set"], sort=True):
        rows.append({"seed": seed, "country": "macro average", "model": model, "test_set": test_set,
                     "n_pairs": int(group.n_pairs.sum()), "n_users": int(group.n_users.sum()), "ties": None,
                     "accuracy": float(group.accuracy.mean()),
                     "replicates": mean_replicates(group.replicates)})
    return pd.DataFrame(rows)


def summary_markdown(summary: pd.DataFrame, test_set: str, models: list[str]) -> str:
    """Rows country, columns model: 'mean ± sd [CI]' of one test set (from `summarise`)."""
    part = summary[summary.test_set == test_set]
    cell = lambda r: (f"{r['mean']:.3f} ± {r['sd']:.3f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]"  # noqa: E731
                      if np.isfinite(r["mean"]) else "n/a")
    table = part.assign(cell=part.apply(cell, axis=1)).pivot(index="country", columns="model", values="cell")
    order = sorted(c for c in table.index if c != "macro average") + ["macro average"]
    table = table.reindex(index=[c for c in order if c in table.index], columns=models)
    return markdown_table(table.astype(object).where(table.notna(), "n/a").rename_axis("country").reset_index())
