"""How long each pipeline stage took: every `dvc.yaml` command runs under `python -m scpo.timings run <stage> -- ...`,
which writes the command's wall time (interpreter and kernel start included) to `reports/timings/<stage>.json`
once it succeeds; the `timings` stage gathers them into `reports/timings.json`, where the README's times come from.

- `python -m scpo.timings run NAME -- CMD [ARG ...]`: run CMD (one argument: a shell command line), record it.
- `python -m scpo.timings [--out reports/timings.json]`: print every stage of the pipeline with its last recorded
  time, grouped as the README reports them, and write the summary (with `--out`).

A cached stage keeps the time of the run that computed it (its file is a DVC output, restored with it).
"""

from __future__ import annotations

import argparse
import platform
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from scpo import io
from scpo.paths import run_root

FOLDER = Path("reports/timings")


def record_path(stage: str) -> Path:
    """Where stage `stage` (a DVC name such as `training@chile`) records its wall time."""
    return run_root() / FOLDER / f"{stage}.json"


def run(stage: str, command: list[str]) -> int:
    """Run `command` (one element: a shell command line), and when it succeeds record its wall time for `stage`."""
    start = time.perf_counter()
    done = subprocess.run(command[0] if len(command) == 1 else command, shell=len(command) == 1)
    seconds = time.perf_counter() - start
    if done.returncode == 0:
        io.write_json({"stage": stage, "seconds": round(seconds, 3), "cpus": os.cpu_count(),
                       "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}, record_path(stage))
    return done.returncode


def stage_group(stage: str) -> str:
    """The README's group of a stage: its name before '@' (`training@chile` -> `training`)."""
    return stage.split("@")[0]


def pipeline_stages(root: Path) -> list[str]:
    """The stage names of the project's `dvc.yaml`, expanded (`data@0`, `tradeoff@0.5`, ...), in file order."""
    from dvc.repo import Repo  # only listing the stages needs DVC

    with Repo(str(root)) as repo:
        names = [stage.addressing.split(":")[-1] for stage in repo.index.stages if stage.cmd]
    return [name for name in names if name != "timings"]  # the stage that gathers them


def summary(root: Path, stages: list[str]) -> dict[str, Any]:
    """Seconds per stage (None where none was recorded), per group, and the total over recorded stages."""
    recorded = {}
    for stage in stages:
        path = root / FOLDER / f"{stage}.json"
        recorded[stage] = io.read_json(path) if path.is_file() else None
    seconds = {stage: (entry["seconds"] if entry else None) for stage, entry in recorded.items()}
    groups: dict[str, float] = {}
    for stage, value in seconds.items():
        if value is not None:
            groups[stage_group(stage)] = round(groups.get(stage_group(stage), 0.0) + value, 3)
    finished = [entry["finished"] for entry in recorded.values() if entry]
    return {"machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
            "total_seconds": round(sum(groups.values()), 3), "groups": groups, "stages": seconds,
            "not_recorded": [stage for stage, value in seconds.items() if value is None],
            "first_finished": min(finished, default=None), "last_finished": max(finished, default=None)}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["run"]:
        if len(argv) < 4 or argv[2] != "--":
            print("usage: python -m scpo.timings run STAGE -- CMD [ARG ...]", file=sys.stderr)
            return 2
        return run(argv[1], argv[3:])
    parser = argparse.ArgumentParser(prog="python -m scpo.timings", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the summary here (the timings stage: reports/timings.json)")
    args = parser.parse_args(argv)
    root = run_root()
    result = summary(root, pipeline_stages(root))
    if args.out is not None:
        io.write_json(result, root / args.out)
    for group, value in result["groups"].items():
        print(f"{group:<24} {value:8.1f} s")
    print(f"{'total':<24} {result['total_seconds']:8.1f} s ({len(result['stages']) - len(result['not_recorded'])} "
          f"of {len(result['stages'])} stages recorded)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
