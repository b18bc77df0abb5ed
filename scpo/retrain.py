"""The analyses that retrain arms on other pairs: nested subsets (stage 06) and shuffled country labels (stage 07).

How the training modules divide the work: `scpo.trainer` is the Trainer subclass (weighted loss, collator,
checkpoints); `scpo.train` is one run (an arm's pairs -> a saved, scored model: `train.configured_arm`);
this module and `scpo.tradeoff` (one tau x beta grid point, a CLI stage) only choose which pairs each
run sees, so every analysis trains exactly as stage 04 does.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from scpo import analysis, evaluation, paths, train


def efficiency_rows(cfg: dict[str, Any], country: str, stage04_runs: dict[str, dict]) -> tuple[list[dict], list[dict]]:
    """Per run seed, one row per (fraction, arm) of `data_efficiency.fractions` x `data_efficiency.arms`, each arm
    retrained on a nested random subset of `country`'s training pairs (other countries' pairs untouched), plus the
    all-pairs point from stage 04's run of the same arm and seed (`stage04_runs`: its metrics' runs); and per seed
    the global RM's accuracy on the country's held-out pairs. Rows: seed, fraction, arm, offered, trained,
    accuracies. Every seed's runs go to `train.run_calls` together (at most `launch.max_concurrent` at once)."""
    efficiency, name = cfg["data_efficiency"], cfg["countries"][country]
    keys, calls, global_rows = [], [], []
    for seed in cfg["seeds"]:
        pairs, test_texts = train.stage_inputs(seed)
        own_texts = train.country_test_texts(pairs, test_texts, name)
        is_train = ((pairs.country == name) & (pairs.split == "train")).to_numpy()
        train_rows = np.flatnonzero(is_train)
        for fraction in sorted(efficiency.fractions):
            offered = np.zeros(len(pairs), dtype=bool)
            offered[train_rows] = analysis.nested_subset_mask(len(train_rows), fraction, efficiency.subset_seed + seed)
            for arm in efficiency.arms:
                keys.append((seed, fraction, arm))
                calls.append(partial(train.configured_arm, cfg, country, seed, arm, pairs[offered | ~is_train],
                                     own_texts, None,
                                     paths.artifact_dir("checkpoints", "data_efficiency", country) / f"fraction{fraction}"))
        test = pairs[(pairs.split == "test") & (pairs.country == name)]
        global_rows.append({"seed": seed} | evaluation.accuracy_report(test, evaluation.global_scores(test)))
    rows = [{"seed": seed, "fraction": fraction, "arm": arm, "offered": run.country_train_pairs,
             "trained": run.train_pairs} | run.test
            for (seed, fraction, arm), run in zip(keys, train.run_calls(calls, cfg["launch"]))]
    for seed in cfg["seeds"]:
        for arm in efficiency.arms:  # all pairs: stage 04's run of this arm and seed
            run = stage04_runs[f"seed{seed}/{arm}"]
            rows.append({"seed": seed, "fraction": 1.0, "arm": arm, "offered": run["country_train_pairs"],
                         "trained": run["train_pairs"]} | run["test"])
    return rows, global_rows


def shuffled_runs(cfg: dict[str, Any], country: str) -> dict[int, tuple[pd.DataFrame, dict[str, train.RunResult]]]:
    """Per run seed, every `controls.arms` arm of `country` retrained after permuting the study countries' labels
    across their users (`analysis.shuffle_country_labels`, seed `controls.shuffle_seed` + run seed), each scored on
    the held-out pairs of every study country. Every seed's runs go to `train.run_calls` together (no core waits
    for one seed's last run). Returns, per seed, the shuffled pairs and the runs by arm."""
    controls, study = cfg["controls"], list(cfg["countries"].values())
    shuffled, calls = {}, []
    for seed in cfg["seeds"]:
        pairs, test_texts = train.stage_inputs(seed)
        shuffled[seed] = analysis.shuffle_country_labels(pairs, study, controls.shuffle_seed + seed)
        users = shuffled[seed].drop_duplicates("user_id").groupby("country").size()
        assert users.equals(pairs.drop_duplicates("user_id").groupby("country").size()), "every country keeps its users"
        assert shuffled[seed].drop(columns="country").equals(pairs.drop(columns="country")), "only labels move"
        study_test = shuffled[seed][(shuffled[seed].split == "test") & shuffled[seed].country.isin(study)]
        texts = test_texts[test_texts.utterance_id.isin(set(study_test.chosen_id) | set(study_test.rejected_id))]
        calls += [partial(train.configured_arm, cfg, country, seed, arm, shuffled[seed], texts, None,
                          paths.artifact_dir("checkpoints", "shuffled", country)) for arm in controls.arms]
    results = iter(train.run_calls(calls, cfg["launch"]))
    return {seed: (shuffled[seed], {arm: next(results) for arm in controls.arms}) for seed in cfg["seeds"]}
