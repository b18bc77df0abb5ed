"""Helpers of the pipeline tests: a scratch copy of the project on a merged profile, `dvc repro` in it, and
which stages a repro ran."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from scpo.paths import ROOT, RUN_ROOT_ENV
from scpo.profile import merged

# The tiny profile's stages (one seed, one country, its 2 x 2 grid), model_source and timings included.
TINY_STAGES = {"notebook_sources", "model_source", "data@0", "global_scoring@0", "filter_weight@0", "training@chile",
               "bias_analysis", "data_efficiency@chile", "shuffled_labels@chile", "figures",
               "tradeoff@0.7", "tradeoff@1.0", "regimes@0.1-0.15", "timings"}

# Runs one after another in the stage's own process: for the projects that test a model family or a data route, not
# the pool (the end-to-end project keeps params' pool). The test command's two workers keep both cores busy, and a
# pool's fork server would import torch and transformers once more in every training stage (about 3 s of CPU each).
ONE_AT_A_TIME = {"launch": {"max_concurrent": 1}}

# The stages `dvc.yaml` marks `always_changed` (a model folder outside DVC; the wall times they rewrite):
# every repro runs them, whatever else it finds up to date.
ALWAYS_RUN = {"model_source", "timings"}


def environment(root: Path, **extra: str) -> dict[str, str]:
    """The environment a stage of the scratch project at `root` runs in (this interpreter's tools first)."""
    return {**os.environ, RUN_ROOT_ENV: str(root), "DVC_NO_ANALYTICS": "1", **extra,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def scratch_project(root: Path, *overrides: str | dict, **extra_env: str) -> dict[str, str]:
    """A copy of the notebooks, package and dvc.yaml in `root`, with params.yaml made of the repo's params
    merged with each override in turn (a profile path relative to the repo, or a mapping), and `dvc init`.
    Returns the environment to run `dvc repro` in."""
    for item in ("notebooks", "scpo"):
        shutil.copytree(ROOT / item, root / item, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "dvc.yaml", root / "dvc.yaml")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for override in overrides:
        params = merged(params, override if isinstance(override, dict) else yaml.safe_load((ROOT / override).read_text()))
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = environment(root, **extra_env)
    subprocess.run(["dvc", "init", "--no-scm", "-q"], cwd=root, check=True, env=env)
    return env


def repro(root: Path, env: dict[str, str], *args: str, timeout: int = 900) -> tuple[int, str]:
    """`dvc repro [args]` in `root`: its exit code and output."""
    done = subprocess.run(["dvc", "repro", *args], cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    return done.returncode, done.stdout + done.stderr


def stages_run(output: str) -> set[str]:
    """The stages a `dvc repro` output says it ran."""
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}
