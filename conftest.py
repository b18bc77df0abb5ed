"""Run the notebooks under nbval in a scratch run root on the tiny profile, never in the repo's artifacts."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from scpo.paths import ROOT, RUN_ROOT_ENV
from scpo.profile import write_profile


def pytest_configure(config) -> None:
    if not (getattr(config.option, "nbval", False) or getattr(config.option, "nbval_lax", False)):
        return
    run_root = Path(tempfile.mkdtemp(prefix="scpo-nbval-"))
    write_profile(ROOT / "params.yaml", ROOT / "tests" / "tiny_profile.yaml", run_root / "params.yaml")
    os.environ[RUN_ROOT_ENV] = str(run_root)  # kernels started by nbval inherit it


# The longest work units, longest first (docs/testing.md): started first, so that the test command's two workers
# (`-n 2`) run them side by side while the short units fill in after.
LONGEST_FIRST = ("tests/test_pipeline_e2e.py", "tests/test_model_families.py", "tests/test_pipeline_fixtures.py",
                 "notebooks", "tests/test_gpu_check.py", "tests/test_bench.py")


def work_unit(nodeid: str) -> str:
    """What one pytest-xdist worker runs whole: every notebook's cells together (nbval runs notebooks 01-08 in
    order on one run root), else a test's module (its module-scoped fixtures, e.g. a pipeline run, made once)."""
    return "notebooks" if nodeid.startswith("notebooks/") else nodeid.split("::", 1)[0]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items) -> None:
    """Every pipeline test is slow too, so `pytest -m "not slow"` is the fast tier (unit and contract tests).
    The longest work units go first (a stable sort: the order within a unit is kept)."""
    for item in items:
        if item.get_closest_marker("pipeline"):
            item.add_marker(pytest.mark.slow)
    rank = {unit: i for i, unit in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(work_unit(item.nodeid), len(rank)))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Under pytest-xdist (`-n 2`): one work unit per test module and one for all notebooks (`work_unit`), handed
    out in collection order. (xdist's own `--dist loadgroup` does not group under pytest 9: it renames node ids
    through an attribute pytest 9 no longer reads, so a module's fixture would be made on both workers.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ModulesAndNotebooks(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    config.option.loadscopereorder = False  # keep the collection's order: the longest units first
    return ModulesAndNotebooks(config, log)


_GRID_RUN: set[str] = set()


def pytest_runtest_setup(item) -> None:
    """Before notebook 08's first cell: run the tau x beta grid and the regime map, as `dvc repro` runs the
    `tradeoff@<tau>` and `regimes@<extreme>-<share>` stages before the figures stage (module stages, not notebooks)."""
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
    regime_map = config.load_section(config.read_params(run_root / "params.yaml"), "regimes")
    for extreme in regime_map.extreme_shares:
        for share in regime_map.country_shares:
            subprocess.run([sys.executable, "-m", "scpo.regimes", "--params", "params.yaml", "--extreme-share",
                            str(extreme), "--country-share", str(share), "--out-dir", "artifacts/regimes"],
                           check=True, cwd=ROOT)
