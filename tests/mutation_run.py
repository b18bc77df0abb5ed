"""`mutmut run`, with its copy of tests/ keeping symbolic links as links (docs/testing.md).

mutmut 3 copies tests/ into mutants/ with `shutil.copytree`, which follows links, so the bad-input corpus's
committed symlink loop (tests/bad_inputs/prism_symlink_loop) and dangling link (goqa_dangling_symlink) stop it
before any mutant runs (boxed/mutmut#582, open for 3.8). This wrapper replaces that one copy step by the same
copy with `symlinks=True` (into a fresh folder: copytree cannot overwrite a link); everything else, arguments included, is `mutmut run`'s:

    python tests/mutation_run.py --max-children 1
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import sys
import time
from pathlib import Path

# One thread per process: mutmut forks each mutant's worker from a process that has already run torch, and an
# OpenMP thread pool does not survive a fork (the worker would hang). Set before torch is imported.
os.environ["OMP_NUM_THREADS"] = "1"

import mutmut.__main__ as mutmut_main  # noqa: E402
from mutmut.configuration import config  # noqa: E402

from mutation_report import SCOPE  # noqa: E402  # tests/ is this script's folder, so first on sys.path


def copy_also_copy_files() -> None:
    """mutmut's `copy_also_copy_files`, links copied as links."""
    for path in map(Path, config().also_copy):
        destination = Path("mutants") / path
        if path.is_file():
            shutil.copy2(path, destination)
        elif path.is_dir():  # never scpo/ (source_paths), so mutmut's mutants and caches are untouched
            shutil.rmtree(destination, ignore_errors=True)
            shutil.copytree(path, destination, symlinks=True)


def arguments(argv: list[str]) -> list[str]:
    """`run` and the options given; without mutant names, the names of the method's core (mutation_report.SCOPE)."""
    names = [a for a in argv if not a.startswith("-") and not a.isdigit()]
    return ["run", *argv, *([] if names else [p for patterns in SCOPE.values() for p in patterns])]


def run(argv: list[str]) -> int:
    """mutmut's exit status; the wall time of the run goes to mutants/mutation-run-time.json for the report."""
    mutmut_main.copy_also_copy_files = copy_also_copy_files  # _run looks the name up in its module
    start = time.monotonic()
    try:
        mutmut_main.cli(arguments(argv), standalone_mode=False)
        status = 0
    except SystemExit as stop:  # mutmut exits 1 when the clean tests fail
        status = int(stop.code or 0)
    finished = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    Path("mutants/mutation-run-time.json").write_text(
        json.dumps({"seconds": round(time.monotonic() - start), "finished": finished}) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
