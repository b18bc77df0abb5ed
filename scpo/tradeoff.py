"""One point of the tau x beta grid (the study's Figure 3): SCPO retrained with that tau and beta.

`python -m scpo.tradeoff --tau T --beta B --out FILE` is the `tradeoff@<tau>-<beta>` stage: for every
country of `tradeoff.countries` and every run seed it recomputes the filter and the weights from the
global RM's rewards (stage 02's scores of stage 01's pairs: not stage 03's filter, so changing
filtering.tau or weighting.beta does not re-run the grid) with T and B, trains through `train.configured_arm` with the
training settings of every other arm, and writes the country's accuracy on its disagreement pairs
("true-country", the x axis) and on all its pairs ("all-country", the y axis). DVC caches each point.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from scpo import artifacts, config, io, paths, selection, train


def beta_label(beta: float) -> str | float:
    """beta as JSON holds it: a number, or "inf" (JSON has no infinity)."""
    return beta if math.isfinite(beta) else "inf"


def run_point(cfg: dict[str, Any], tau: float, beta: float) -> list[dict[str, Any]]:
    """One row per (country, run seed): the training pairs kept and the test accuracies of SCPO at (tau, beta)."""
    rows = []
    for seed in cfg["seeds"]:
        pairs = artifacts.read("pairs", seed=seed)
        scores = artifacts.read("utterance_scores", seed=seed)
        pairs = selection.filter_and_weight(
            selection.with_global_rewards(pairs, scores.set_index("utterance_id").global_score), tau, beta)
        test_texts = train.held_out_texts(seed)
        for slug in cfg["tradeoff"].countries:
            name = cfg["countries"][slug]
            kept = int(pairs[(pairs.country == name) & (pairs.split == "train")].keep.sum())
            if kept == 0:
                raise config.ConfigError(f"params: tradeoff point tau = {tau}, beta = {beta} keeps none of "
                                         f"{name}'s training pairs; drop this tau from tradeoff.taus")
            run = train.configured_arm(cfg, slug, seed, "scpo", pairs, train.country_test_texts(pairs, test_texts, name),
                                       None, paths.artifact_dir("checkpoints", "tradeoff", slug))
            rows.append({"country": name, "seed": seed, "train_pairs": run.train_pairs,
                         "country_train_pairs": run.country_train_pairs,
                         "mean_train_weight": run.mean_train_weight} | run.test)
    return rows


def grid_runs(folder: Path, grid: Any, names: set[str], seeds: Sequence[int]) -> pd.DataFrame:
    """Every run of the grid's points written in `folder` (`tradeoff@*` stages), restricted to `grid`'s taus and
    betas (the folder may hold old points), the countries `names` and `seeds`; an error names missing points."""
    rows = []
    for path in sorted(folder.glob("*.json")):
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


def main(argv: list[str] | None = None) -> int:
    """`python -m scpo.tradeoff`: one grid point of the trade-off (a `tradeoff@<tau>-<beta>` stage)."""
    parser = argparse.ArgumentParser(prog="python -m scpo.tradeoff", description=main.__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--tau", type=float, required=True)
    parser.add_argument("--beta", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    cfg = config.load_stage("tradeoff", paths.run_root() / args.params)
    if not 0.0 < args.tau <= 1.0 or not args.beta > 0.0:
        raise config.ConfigError(f"--tau {args.tau} --beta {args.beta}: need 0 < tau <= 1 and beta > 0")
    rows = run_point(cfg, args.tau, args.beta)
    io.write_json({"tau": args.tau, "beta": beta_label(args.beta), "runs": rows}, paths.run_root() / args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
