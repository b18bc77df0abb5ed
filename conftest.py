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
