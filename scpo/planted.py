"""What a simulated world planted, as a reader needs it to judge the results (embedded data; NaN for real data).

Per country, on its training pairs: how often the global RM disagrees with the label (r+ < r-: the pairs SCPO's
filter keeps and its weights discount), and among those how many were rated by extreme annotators and how many
labels agree with the country's noise-free preference; on its held-out pairs, the global RM's accuracy against
the labels and against that truth. Per world, `scpo.embedded.planted_facts`: the share of preference variance
between countries, the extreme annotators' share and the slider's mean and sd.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from scpo import evaluation

COUNTRY_FACTS = ("global_wrong_share", "wrong_from_extreme_annotators", "wrong_agreeing_with_country_truth",
                 "global_accuracy_labels", "global_accuracy_truth")
WORLD_FACTS = ("country_variance_share", "country_variance_share_typical", "extreme_annotator_share", "score_mean",
               "score_sd")


def _share(mask: np.ndarray) -> float:
    """The mean of a 0/1 array (NaN when empty or when any entry is unknown, as on real data)."""
    mask = np.asarray(mask, dtype=float)
    return float(mask.mean()) if len(mask) and not np.isnan(mask).any() else float("nan")


def country_facts(pairs: pd.DataFrame, utterance_scores: pd.Series) -> dict[str, dict[str, float]]:
    """Per country of `pairs` (stage 01's, with `truth_margin` and `extreme_annotator`): the facts of
    COUNTRY_FACTS against the global RM's `utterance_scores`."""
    facts = {}
    for country, mine in pairs.groupby("country", sort=True):
        train, test = mine[mine.split == "train"], mine[mine.split == "test"]
        chosen, rejected = (t.numpy() for t in evaluation.pair_scores(train, utterance_scores))
        wrong = train[chosen < rejected]
        truth = wrong.truth_margin.to_numpy(dtype=float)
        report = evaluation.accuracy_report(test, utterance_scores)
        facts[str(country)] = {
            "train_pairs": len(train),
            "global_wrong_share": _share(chosen < rejected),
            "wrong_from_extreme_annotators": _share(wrong.extreme_annotator.to_numpy(dtype=float)),
            "wrong_agreeing_with_country_truth": _share(np.where(np.isnan(truth), np.nan, truth > 0)),
            "global_accuracy_labels": report["accuracy_all"],
            "global_accuracy_truth": report.get("accuracy_truth", float("nan")),
        }
    return facts


def facts_table(per_seed: Mapping[int, Mapping[str, Mapping[str, float]]], countries: Sequence[str]) -> pd.DataFrame:
    """One row per country (in `countries`' order): the mean over worlds (run seeds) of each country fact."""
    rows = [{"seed": seed, "country": country, **facts[country]}
            for seed, facts in per_seed.items() for country in countries]
    return pd.DataFrame(rows).groupby("country", sort=False)[list(COUNTRY_FACTS)].mean().reindex(countries)


def structure_recovery(seed_deltas: Sequence[pd.DataFrame], deviations: Sequence[Mapping[str, Sequence[float]]],
                       countries: Mapping[str, str]) -> list[float]:
    """Per world (run seed): the rank correlation, over ordered pairs of distinct study countries (model m, test
    country c), between the gain of m's model on c's held-out pairs over the global RM (`seed_deltas`, rows: slugs,
    from `results.cross_country`) and the planted similarity of their deviations, d_m . d_c (`deviations`: the
    world's `country_deviations`). 1: the bias matrix orders transfers as the planted structure does; 0: not at
    all. NaN where either side is constant (e.g. no country deviation planted)."""
    values = []
    for delta, deviation in zip(seed_deltas, deviations):
        gains, similarity = [], []
        for slug, model in countries.items():
            for country in countries.values():
                if country != model:
                    gains.append(float(delta.loc[slug, country]))
                    similarity.append(float(np.dot(deviation[model], deviation[country])))
        values.append(float(pd.Series(gains).rank().corr(pd.Series(similarity).rank())))  # Spearman: Pearson of ranks
    return values
