"""`python -m scpo.timings`: how long each stage's notebook ran, from papermill's record in the executed copies."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from scpo.paths import run_root


def stage_durations(folder: Path) -> dict[str, float]:
    """Seconds per executed notebook in `folder` (papermill's `metadata.papermill.duration`)."""
    durations = {}
    for path in sorted(folder.glob("*.ipynb")):
        duration = json.loads(path.read_text()).get("metadata", {}).get("papermill", {}).get("duration")
        if duration is not None:
            durations[path.stem] = float(duration)
    return durations


def main() -> int:
    durations = stage_durations(run_root() / "reports" / "notebooks")
    if not durations:
        print("no executed notebooks in reports/notebooks: run `dvc repro` first", file=sys.stderr)
        return 1
    for stage, seconds in durations.items():
        print(f"{stage:<32} {seconds:7.1f} s")
    print(f"{'total':<32} {sum(durations.values()):7.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
