"""A map of the method's regimes: when does SCPO help? (embedded data only; the figure says so on real data)

`python -m scpo.regimes --extreme-share E --country-share S --out FILE` is the `regimes@<E>-<S>` stage: for every
run seed it simulates `regimes.country` alone in that seed's world (`scpo.embedded`: the same users and texts at
every point, only the ratings move) with `simulation.extreme_share` = E and `simulation.country_share` = S, pairs
and splits its users as stage 01 does, scores its responses with that seed's global RM (stage 02's: trained on the
aggregate population, which no point changes), filters and weights at `filtering.tau` and `weighting.beta`, and
trains each arm of `regimes.arms` with the training settings of every other arm. It writes one JSON file per point:
each (seed, arm)'s held-out accuracy, the world's planted facts, and the paired differences of
`regimes.comparisons` (`scpo.paired`: the same held-out pairs and user resamples, two-level over seeds).
Adding a value to `regimes.extreme_shares` or `regimes.country_shares` runs only the new points.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from scpo import config, data, embedded, evaluation, io, paired, paths, planted, selection

if TYPE_CHECKING:  # the stage imports what trains (transformers, TRL) in `main`; the gallery reads the points without
    from scpo import train


def point_simulation(sim: config.SimulationConfig, extreme_share: float, country_share: float,
                     seed: int) -> config.SimulationConfig:
    """The simulation of a point (its two knobs) in run seed `seed`'s world."""
    return embedded.world(dataclasses.replace(sim, extreme_share=extreme_share, country_share=country_share), seed)


def country_pairs(sim: config.SimulationConfig, country: str, test_size: float, split_seed: int,
                  ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """(pairs, held-out texts, the world's planted facts) of `country` alone: its users split as stage 01 splits
    them (`data.split_units`), its within-interaction pairs with the truth attached, and the texts of its test
    pairs as stage 01 lists them (`data.scored_utterances`)."""
    survey, utterances, truth, meta = embedded.simulate_prism(sim, [country])
    split = data.split_units([row["user_id"] for row in survey], test_size, split_seed, f"simulated {country}", "user")
    pairs, _ = data.build_pairs(pd.DataFrame(utterances))
    pairs = data.attach_truth(pairs.assign(country=country, split=split.loc[pairs.user_id].to_numpy()),
                              pd.DataFrame(truth))
    texts = data.scored_utterances(pairs)
    return pairs, texts[texts.split == "test"], meta["planted"]


def global_rewards(cfg: dict[str, Any], seed: int, pairs: pd.DataFrame) -> pd.Series:
    """The seed's global RM's reward of every response of `pairs`, by utterance id."""
    from scpo.models import load_reward_model
    from scpo.scoring import score_texts

    scoring = cfg["scoring"]
    texts = data.pair_utterances(pairs)
    model, tokenizer = load_reward_model(paths.global_rm_source(scoring.model, seed), scoring.revision, scoring.dtype,
                                         trust_remote_code=scoring.trust_remote_code)
    values = score_texts(model, tokenizer, list(texts.prompt), list(texts.response), scoring.max_length,
                         scoring.batch_size)
    return pd.Series(values, index=texts.index, name="global_score")


def point_calls(cfg: dict[str, Any], extreme_share: float, country_share: float, checkpoints: Path,
                ) -> tuple[list[tuple[dict[str, Any], Callable[[], train.RunResult]]], dict[int, Any]]:
    """Per (run seed, arm) of the point: the row's key and the run (a call for `train.run_calls`); and per seed
    what its evaluation needs: (the country's held-out pairs, the global RM's rewards, the planted facts)."""
    from scpo import train

    regimes, slug = cfg["regimes"], cfg["regimes"].country
    name = cfg["countries"][slug]
    calls, per_seed = [], {}
    for seed in cfg["seeds"]:
        sim = point_simulation(cfg["simulation"], extreme_share, country_share, seed)
        pairs, test_texts, world = country_pairs(sim, name, cfg["data"].test_size, cfg["data"].split_seed + seed)
        rewards = global_rewards(cfg, seed, pairs)
        pairs = selection.filter_and_weight(selection.with_global_rewards(pairs, rewards), cfg["filtering"].tau,
                                            cfg["weighting"].beta)
        facts = planted.country_facts(pairs, rewards)[name] | world
        per_seed[seed] = (pairs[pairs.split == "test"], rewards, facts)
        for arm in regimes.arms:
            calls.append(({"seed": seed, "arm": arm},
                          partial(train.configured_arm, cfg, slug, seed, arm, pairs, test_texts, None,
                                  checkpoints / f"seed{seed}")))
    return calls, per_seed


def evaluate_point(cfg: dict[str, Any], keys: Sequence[dict[str, Any]], runs: Sequence[train.RunResult],
                   per_seed: dict[int, Any]) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """Each (seed, model)'s held-out accuracies (the global RM's included) and the paired differences of
    `regimes.comparisons` over seeds, every model of a seed scored on the same user resamples."""
    ev = cfg["evaluation"]
    rows, results = [], []
    for seed, (test, rewards, _) in per_seed.items():
        scores = {"global": rewards} | {key["arm"]: run.scores for key, run in zip(keys, runs) if key["seed"] == seed}
        table = evaluation.evaluate(test, scores, ev.bootstrap_samples, np.random.default_rng(ev.bootstrap_seed + seed))
        results.append(table.assign(seed=seed, country=cfg["countries"][cfg["regimes"].country]))
        for model, part in table.groupby("model", sort=False):
            rows.append({"seed": seed, "model": model} | {f"accuracy_{r.test_set}": r.accuracy for r in part.itertuples()})
    differences = paired.paired_differences(pd.concat(results, ignore_index=True), cfg["regimes"].comparisons,
                                            ev.confidence, np.random.default_rng(ev.bootstrap_seed))
    return rows, differences


def run_point(cfg: dict[str, Any], extreme_share: float, country_share: float, checkpoints: Path) -> dict[str, Any]:
    """Everything a point's file holds (see the module's docstring)."""
    from scpo import train

    calls, per_seed = point_calls(cfg, extreme_share, country_share, checkpoints)
    runs = train.run_calls([run for _, run in calls], cfg["launch"])
    rows, differences = evaluate_point(cfg, [key for key, _ in calls], runs, per_seed)
    return {"extreme_share": extreme_share, "country_share": country_share, "country": cfg["regimes"].country,
            "planted": {seed: facts for seed, (_, _, facts) in per_seed.items()}, "accuracy": rows,
            "train_pairs": {f"{key['seed']}:{key['arm']}": run.train_pairs for (key, _), run in zip(calls, runs)},
            "paired_differences": differences.to_dict(orient="records")}


def point_path(folder: Path, extreme_share: float, country_share: float) -> Path:
    """The file of point (extreme share, country share) in the map's folder."""
    return folder / f"extreme{extreme_share}-share{country_share}.json"


def map_points(folder: Path, regimes: Any) -> list[dict[str, Any]]:
    """The points of `regimes`' grid written under `folder` (old points beside them are ignored); an error names
    the points without a file."""
    wanted = [(e, s) for e in regimes.extreme_shares for s in regimes.country_shares]
    missing = [point for point in wanted if not point_path(folder, *point).is_file()]
    if missing:
        raise FileNotFoundError(f"regime map points without results (run dvc repro): {missing}")
    return [io.read_json(point_path(folder, *point)) for point in wanted]


def differences_table(points: Sequence[dict[str, Any]], test_set: str = "all") -> pd.DataFrame:
    """One row per (point, comparison) on `test_set`: the paired difference's mean, interval and whether it
    excludes 0, with the point's knobs and its mean planted facts over worlds."""
    rows = []
    for point in points:
        facts = pd.DataFrame(point["planted"].values())
        for row in point["paired_differences"]:
            if row["test_set"] == test_set:
                rows.append({"extreme_share": point["extreme_share"], "country_share": point["country_share"],
                             "global_wrong_share": facts.global_wrong_share.mean(),
                             "wrong_from_extreme_annotators": facts.wrong_from_extreme_annotators.mean(),
                             "country_variance_share": facts.country_variance_share.mean()} | row)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    """`python -m scpo.regimes`: one point of the regime map (a `regimes@<extreme>-<share>` stage)."""
    parser = argparse.ArgumentParser(prog="python -m scpo.regimes", description=main.__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--extreme-share", type=float, required=True)
    parser.add_argument("--country-share", type=float, required=True)
    parser.add_argument("--out-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    from scpo import train  # noqa: F401  first: it freezes its imports out of the collector's sight (scpo/train.py)

    cfg = config.load_stage("regimes", paths.run_root() / args.params)
    folder = paths.run_root() / args.out_dir
    if cfg["data"].source != "embedded":  # nothing is planted in real data: the map says so instead of going missing
        io.write_json({"extreme_share": args.extreme_share, "country_share": args.country_share,
                       "not_applicable": f"data.source is {cfg['data'].source}: the map needs the simulated data"},
                      point_path(folder, args.extreme_share, args.country_share))
        return 0
    point_simulation(cfg["simulation"], args.extreme_share, args.country_share, 0)  # the knobs' own range checks
    result = run_point(cfg, args.extreme_share, args.country_share,
                       paths.artifact_dir("checkpoints", "regimes", f"extreme{args.extreme_share}-share{args.country_share}"))
    io.write_json(result, point_path(folder, args.extreme_share, args.country_share))
    return 0


if __name__ == "__main__":
    sys.exit(main())
