"""Run the notebooks under nbval in a scratch run root on the tiny profile, never in the repo's artifacts."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from scpo.paths import ROOT, RUN_ROOT_ENV
from scpo.profile import write_profile


def pytest_configure(config) -> None:
    if not (getattr(config.option, "nbval", False) or getattr(config.option, "nbval_lax", False)):
        return
    run_root = Path(tempfile.mkdtemp(prefix="scpo-nbval-"))
    write_profile(ROOT / "params.yaml", ROOT / "tests" / "tiny_profile.yaml", run_root / "params.yaml")
    os.environ[RUN_ROOT_ENV] = str(run_root)  # kernels started by nbval inherit it


# The longest groups of tests, longest first (docs/testing.md): started first, so that the test command's two
# workers (`-n 2 --dist loadgroup`) run them side by side while the short groups fill in after.
LONGEST_FIRST = ("tests/test_pipeline_e2e.py", "tests/test_model_families.py", "tests/test_pipeline_fixtures.py",
                 "notebooks", "tests/test_gpu_check.py", "tests/test_bench.py")


def xdist_group_of(item) -> str:
    """A test's group under pytest-xdist: every notebook's cells in one (nbval runs notebooks 01-08 in order
    on one run root), else the test's module (its module-scoped fixtures, e.g. a pipeline run, made once)."""
    path = Path(str(item.path)).resolve()
    if path.suffix == ".ipynb":
        return "notebooks"
    return path.relative_to(Path(__file__).resolve().parent).as_posix()


def pytest_collection_modifyitems(items) -> None:
    """Every pipeline test is slow too, so `pytest -m "not slow"` is the fast tier (unit and contract tests).
    Each test joins its xdist group, and the longest groups go first (a stable sort: order within a group kept)."""
    import pytest

    for item in items:
        if item.get_closest_marker("pipeline"):
            item.add_marker(pytest.mark.slow)
        item.add_marker(pytest.mark.xdist_group(xdist_group_of(item)))
    rank = {group: i for i, group in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(xdist_group_of(item), len(rank)))


_GRID_RUN: set[str] = set()


def pytest_runtest_setup(item) -> None:
    """Before notebook 08's first cell: run the tau x beta grid, as `dvc repro` runs the `tradeoff@<tau>`
    stages before the figures stage (they are a module stage, `python -m scpo.tradeoff`, not a notebook)."""
    if Path(str(item.path)).name != "08_figures.ipynb" or RUN_ROOT_ENV not in os.environ or _GRID_RUN:
        return
    import subprocess
    import sys

    from scpo import config

    _GRID_RUN.add("done")
    run_root = Path(os.environ[RUN_ROOT_ENV])
    grid = config.load_section(config.read_params(run_root / "params.yaml"), "tradeoff")
    for tau in grid.taus:
        subprocess.run([sys.executable, "-m", "scpo.tradeoff", "--params", "params.yaml", "--tau", str(tau),
                        "--out-dir", f"artifacts/tradeoff/tau{tau}"], check=True, cwd=ROOT)
