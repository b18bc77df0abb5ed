"""Where a run reads and writes: everything is relative to one run root.

The run root is the repository, unless `SCPO_RUN_ROOT` points elsewhere: tests run the notebooks
and the DVC pipeline in a scratch copy this way, so they never clobber the artifacts of `dvc repro`.
"""

from __future__ import annotations

import os
from pathlib import Path

from scpo.model_source import resolve_model

ROOT = Path(__file__).resolve().parents[1]
RUN_ROOT_ENV = "SCPO_RUN_ROOT"


def run_root() -> Path:
    """The folder holding `params.yaml`, `artifacts/` and `reports/` for this run."""
    return Path(os.environ.get(RUN_ROOT_ENV, ROOT)).resolve()


def artifact_dir(stage: str, *parts: str) -> Path:
    """`artifacts/<stage>/<parts...>` under the run root (created)."""
    path = run_root().joinpath("artifacts", stage, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def report_path(kind: str, name: str) -> Path:
    """`reports/<kind>/<name>` under the run root; kind is figures, metrics or tables."""
    folder = run_root() / "reports" / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def seed_dir(stage: str, seed: int, *parts: str) -> Path:
    """`artifacts/<stage>/seed<seed>/<parts...>` (created): per-run-seed outputs of a stage."""
    return artifact_dir(stage, f"seed{seed}", *parts)


def global_rm_source(model_setting: str, seed: int) -> str:
    """Where the global RM loads from: the stage-02 folder of this run seed for the embedded RM (trained
    per seed, on that seed's training users), else the hub id, or the local folder as an absolute path
    (a relative one is read from the run root, not from the notebook's folder papermill runs in)."""
    if model_setting == "embedded":
        return str(seed_dir("02_global_scoring", seed, "global_rm"))
    return resolve_model(model_setting, run_root())
