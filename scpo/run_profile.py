"""`python -m scpo.run_profile`: where the wall time of one default fine-tune and of one grid point goes.

Run in a project whose stages 01-03 have run (`dvc repro filter_weight`, or a whole `dvc repro`). It times, in
this order: a fresh interpreter importing what a stage imports (a grid point is its own process; a stage 04
kernel pays this once per country), one fine-tune exactly as stage 04 runs it (the first country, the first
run seed, arm `scpo`), and one `tradeoff@<tau>` stage exactly as `python -m scpo.tradeoff` runs it (tau = filtering.tau, every beta of
`tradeoff.betas`, every seed of `tradeoff.countries`; reported per grid point: the stage's time divided by its
points), each split into the phases of `scpo.phases`; then the first country's stage 04 runs one at a time and two at a
time (`train.run_calls`), side by side. Writes
`reports/bench/run_profile.json` and prints a table; "overhead" is everything but the training steps.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

from scpo import config, io, paths, train, tradeoff
from scpo.phases import RUN_PHASES

IMPORTS = "import scpo.train, scpo.tradeoff"  # what a grid stage's process (and a stage 04 kernel) imports


def import_seconds() -> float:
    """Wall time of a fresh interpreter that imports the training modules and exits."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", IMPORTS], check=True, env=os.environ.copy())
    return time.perf_counter() - start


def with_overhead(phases: dict[str, float], total: float) -> dict[str, Any]:
    """Phases in `RUN_PHASES` order (the rest last), the total, and the overhead: the total less the training steps."""
    ordered = {name: phases[name] for name in RUN_PHASES if name in phases} | \
        {name: value for name, value in phases.items() if name not in RUN_PHASES}
    return {"phases": ordered, "total": total, "overhead": total - phases.get("training steps", 0.0)}


def profile_fine_tune(params_file: Path) -> dict[str, Any]:
    """One stage 04 run (first country and seed, arm `scpo`), its model saved to a scratch folder."""
    cfg = config.load_stage("training", params_file)
    country, seed = next(iter(cfg["countries"])), cfg["seeds"][0]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        inputs = time.perf_counter()
        pairs, test_texts = train.stage_inputs(seed)
        read = time.perf_counter() - inputs
        run = train.configured_arm(cfg, country, seed, "scpo", pairs, test_texts, Path(scratch) / "model",
                                   paths.artifact_dir("checkpoints", "profile"))
    total = time.perf_counter() - start
    return {"country": country, "seed": seed, "arm": "scpo", "train_pairs": run.train_pairs,
            "steps": cfg["training"].max_steps, "held_out_texts": len(test_texts)} | \
        with_overhead({"read inputs": read} | run.seconds, total)


def profile_grid_point(params_file: Path, imports: float) -> dict[str, Any]:
    """One `tradeoff@<tau>` stage at filtering.tau (every beta of tradeoff.betas), timed as its process spends it,
    and divided by its points: what one grid point costs."""
    start = time.perf_counter()
    cfg = config.load_stage("tradeoff", params_file)
    loaded = time.perf_counter() - start
    tau = config.load_stage("filter_weight", params_file)["filtering"].tau
    reading = time.perf_counter()
    inputs = tradeoff.point_inputs(cfg["seeds"])
    read = time.perf_counter() - reading
    phases: list[dict[str, float]] = []
    runs = [row for beta in cfg["tradeoff"].betas for row in tradeoff.run_point(cfg, tau, beta, inputs, phases)]
    total = time.perf_counter() - start + imports
    points = len(cfg["tradeoff"].betas)
    summed: dict[str, float] = {"process start and imports": imports, "read params": loaded, "read inputs": read}
    for run_seconds in phases:
        for name, value in run_seconds.items():
            summed[name] = summed.get(name, 0.0) + value
    summed["filter and weights, the rest"] = total - sum(summed.values())
    return {"tau": tau, "betas": [tradeoff.beta_label(b) for b in cfg["tradeoff"].betas], "points": points,
            "runs_per_point": len(runs) // points, "countries": list(cfg["tradeoff"].countries),
            "seeds": list(cfg["seeds"]), "stage_seconds": total} | \
        with_overhead({name: value / points for name, value in summed.items()}, total / points)


def profile_concurrency(params_file: Path) -> dict[str, Any]:
    """Stage 04's runs of the first country (every seed x arm, models not saved) one after another in this process
    and in a `train.run_calls` pool of 2 workers, both at one thread a run, side by side; each in its own scratch
    checkpoint folder (no run resumes another's). The held-out accuracies of the two must be identical."""
    cfg = config.load_stage("training", params_file)
    country = next(iter(cfg["countries"]))
    seconds, tests = {}, {}
    with tempfile.TemporaryDirectory() as scratch:
        for concurrent in (1, 2):
            launch = dataclasses.replace(cfg["launch"], command="", max_concurrent=concurrent, threads_per_run=1)
            start = time.perf_counter()
            calls = []
            for seed in cfg["seeds"]:
                pairs, test_texts = train.stage_inputs(seed)
                calls += [partial(train.configured_arm, cfg, country, seed, arm, pairs, test_texts, None,
                                  Path(scratch) / f"concurrent{concurrent}") for arm in cfg["arms"]]
            tests[concurrent] = [run.test for run in train.run_calls(calls, launch)]
            seconds[concurrent] = time.perf_counter() - start
    if tests[1] != tests[2]:
        raise AssertionError("two runs at a time gave other accuracies than one after another")
    return {"country": country, "runs": len(tests[1]), "threads_per_run": 1, "one_at_a_time_seconds": seconds[1],
            "two_at_a_time_seconds": seconds[2], "speed_up": seconds[1] / seconds[2], "identical_accuracies": True}


def table(profile: dict[str, Any]) -> str:
    """The profile as text: seconds and share of the total per phase."""
    lines = []
    for part in ("fine_tune", "grid_point"):
        entry = profile[part]
        lines.append(f"{part.replace('_', ' ')}: {entry['total']:.2f} s, overhead beyond the training steps "
                     f"{entry['overhead']:.2f} s")
        lines += [f"  {name:<38} {value:7.2f} s  {value / entry['total']:6.1%}" for name, value in entry["phases"].items()]
    if "concurrency" in profile:
        entry = profile["concurrency"]
        lines.append(f"stage 04 runs of {entry['country']} ({entry['runs']}, 1 thread each): one at a time "
                     f"{entry['one_at_a_time_seconds']:.1f} s, two at a time {entry['two_at_a_time_seconds']:.1f} s: "
                     f"{entry['speed_up']:.2f}x, identical accuracies")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scpo.run_profile", description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--out", type=Path, default=Path("reports/bench/run_profile.json"))
    args = parser.parse_args(argv)
    params_file = paths.run_root() / args.params
    imports = import_seconds()
    profile = {"date": date.today().isoformat(),
               "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
               "imports": imports, "fine_tune": profile_fine_tune(params_file),
               "grid_point": profile_grid_point(params_file, imports),
               "concurrency": profile_concurrency(params_file)}
    io.write_json(profile, paths.run_root() / args.out)
    print(table(profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
