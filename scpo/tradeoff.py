"""The points of the tau x beta grid (the study's Figure 3): SCPO retrained with each tau and beta.

`python -m scpo.tradeoff --tau T --out-dir DIR` is the `tradeoff@<tau>` stage: for every beta of `tradeoff.betas`,
every country of `tradeoff.countries` and every run seed it recomputes the filter and the weights from the global
RM's rewards (stage 02's scores of stage 01's pairs: not stage 03's filter, so changing filtering.tau or
weighting.beta does not re-run the grid) with T and the beta, trains through `train.configured_arm` with the
training settings of every other arm, and writes one file per point, `DIR/tau<T>-beta<B>.json`: the country's
accuracy on its disagreement pairs ("true-country", the x axis) and on all its pairs ("all-country", the y axis).
One process runs a tau's betas, so the interpreter's start and imports (about 4.5 s here, as long as two runs)
are paid once per tau, not once per point, and hands all of its runs to `train.run_calls` (at most
`launch.max_concurrent` at once); DVC caches each tau's points together.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from scpo import artifacts, config, io, paths, selection

if TYPE_CHECKING:  # the stage imports what trains (transformers, TRL) in `main`; the gallery reads the points without
    from scpo import train


def beta_label(beta: float) -> str | float:
    """beta as JSON holds it: a number, or "inf" (JSON has no infinity)."""
    return beta if math.isfinite(beta) else "inf"


def point_inputs(seeds: Sequence[int]) -> dict[int, tuple[pd.DataFrame, pd.DataFrame]]:
    """Per run seed, what every point reads: stage 01's pairs with stage 02's global rewards, and the held-out texts."""
    from scpo import train

    inputs = {}
    for seed in seeds:
        scores = artifacts.read("utterance_scores", seed=seed).set_index("utterance_id").global_score
        inputs[seed] = (selection.with_global_rewards(artifacts.read("pairs", seed=seed), scores),
                        train.held_out_texts(seed))
    return inputs


def point_calls(cfg: dict[str, Any], tau: float, beta: float,
                inputs: dict[int, tuple[pd.DataFrame, pd.DataFrame]]) -> list[tuple[dict[str, Any], Callable[[], train.RunResult]]]:
    """Per (run seed, country) of the point (tau, beta): the row's key (country, seed) and the run, a call
    for `train.run_calls`; an error where the filter keeps none of a country's training pairs."""
    from scpo import train

    calls = []
    for seed in cfg["seeds"]:
        pairs, test_texts = inputs[seed]
        pairs = selection.filter_and_weight(pairs, tau, beta)
        for slug in cfg["tradeoff"].countries:
            name = cfg["countries"][slug]
            if not pairs[(pairs.country == name) & (pairs.split == "train")].keep.any():
                raise config.ConfigError(f"params: tradeoff point tau = {tau}, beta = {beta} keeps none of "
                                         f"{name}'s training pairs; drop this tau from tradeoff.taus")
            calls.append(({"country": name, "seed": seed},
                          partial(train.configured_arm, cfg, slug, seed, "scpo", pairs,
                                  train.country_test_texts(pairs, test_texts, name), None,
                                  paths.artifact_dir("checkpoints", "tradeoff", slug) / f"tau{tau}-beta{beta}")))
    return calls


def point_row(key: dict[str, Any], run: train.RunResult) -> dict[str, Any]:
    """A grid point's row of one (country, seed): the training pairs kept and the test accuracies."""
    return key | {"train_pairs": run.train_pairs, "country_train_pairs": run.country_train_pairs,
                  "mean_train_weight": run.mean_train_weight} | run.test


def run_point(cfg: dict[str, Any], tau: float, beta: float, inputs: dict[int, tuple[pd.DataFrame, pd.DataFrame]],
              seconds: list[dict[str, float]] | None = None) -> list[dict[str, Any]]:
    """One row per (country, run seed) of SCPO at (tau, beta), from `point_inputs`, its runs one after another in
    this process. Each run's wall time per phase is appended to `seconds` if given (`scpo.run_profile`)."""
    rows = []
    for key, run_call in point_calls(cfg, tau, beta, inputs):
        run = run_call()
        if seconds is not None:
            seconds.append(run.seconds)
        rows.append(point_row(key, run))
    return rows


def grid_runs(folder: Path, grid: Any, names: set[str], seeds: Sequence[int]) -> pd.DataFrame:
    """Every run of the grid's points written under `folder` (`tradeoff@*` stages), restricted to `grid`'s taus and
    betas (the folder may hold old points), the countries `names` and `seeds`; an error names missing points."""
    rows = []
    for path in sorted(folder.rglob("*.json")):
        point = io.read_json(path)
        if float(point["tau"]) in grid.taus and float(point["beta"]) in grid.betas:
            rows += [{"tau": float(point["tau"]), "beta": float(point["beta"])} | run for run in point["runs"]]
    runs = pd.DataFrame(rows)
    missing = set(itertools.product(grid.taus, grid.betas)) - set(zip(runs.tau, runs.beta)) if len(runs) else {"all"}
    if missing:
        raise FileNotFoundError(f"trade-off points without results (run dvc repro): {sorted(missing, key=str)}")
    runs = runs[runs.country.isin(names) & runs.seed.isin(seeds)]
    if len(runs) != len(grid.taus) * len(grid.betas) * len(names) * len(seeds):
        raise ValueError(f"trade-off runs: {len(runs)} rows, expected one per point x country x seed")
    return runs


def grid_points(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (tau, beta): the mean and sd over seeds of the country-mean true-country accuracy (x: on the
    pairs the global RM gets wrong) and all-country accuracy (y), and the mean training pairs."""
    macro = runs.groupby(["tau", "beta", "seed"], as_index=False)[["accuracy_disagreement", "accuracy_all",
                                                                     "train_pairs"]].mean()
    return macro.groupby(["tau", "beta"], as_index=False).agg(
        x_mean=("accuracy_disagreement", "mean"), x_sd=("accuracy_disagreement", "std"),
        y_mean=("accuracy_all", "mean"), y_sd=("accuracy_all", "std"), train_pairs=("train_pairs", "mean"))


def point_path(folder: Path, tau: float, beta: float) -> Path:
    """The file of point (tau, beta) in a tau's folder."""
    return folder / f"tau{tau}-beta{beta}.json"


def main(argv: list[str] | None = None) -> int:
    """`python -m scpo.tradeoff`: every point of one tau of the trade-off (a `tradeoff@<tau>` stage)."""
    parser = argparse.ArgumentParser(prog="python -m scpo.tradeoff", description=main.__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--tau", type=float, required=True)
    parser.add_argument("--out-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    from scpo import train  # first: it freezes its imports out of the collector's sight (scpo/train.py)

    cfg = config.load_stage("tradeoff", paths.run_root() / args.params)
    if not 0.0 < args.tau <= 1.0:
        raise config.ConfigError(f"--tau {args.tau}: need 0 < tau <= 1")
    inputs = point_inputs(cfg["seeds"])
    calls = [(beta, key, run) for beta in cfg["tradeoff"].betas for key, run in point_calls(cfg, args.tau, beta, inputs)]
    results = train.run_calls([run for _, _, run in calls], cfg["launch"])  # every point's runs, then write
    for beta in cfg["tradeoff"].betas:
        rows = [point_row(key, result) for (b, key, _), result in zip(calls, results) if b == beta]
        io.write_json({"tau": args.tau, "beta": beta_label(beta), "runs": rows},
                      point_path(paths.run_root() / args.out_dir, args.tau, beta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
