"""Reading and writing stage outputs: parquet tables, JSON metrics; every write is atomic."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary sibling path that replaces `path` only if the block succeeds (no half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """Write a parquet table atomically."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)
    return path


def read_table(path: Path) -> pd.DataFrame:
    """Read a parquet table written by `write_table`."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run the stage that writes it (dvc repro)")
    return pd.read_parquet(path)


def rounded(value: Any, digits: int = 6) -> Any:
    """Floats rounded (NaN/inf to None) recursively, so JSON outputs are stable and valid."""
    if isinstance(value, dict):
        return {str(k): rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v, digits) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float):
        return round(value, digits) if math.isfinite(value) else None
    return value


def write_json(payload: Any, path: Path) -> Path:
    """Write JSON with sorted keys and rounded floats, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(rounded(payload), indent=2, sort_keys=True) + "\n")
    return path


def read_json(path: Path) -> Any:
    """Read a JSON file written by `write_json`."""
    return json.loads(path.read_text())


def as_tensor(values: Any) -> "torch.Tensor":
    """A float64 tensor from a pandas column or array (float64 keeps exp/log comparisons exact)."""
    import torch  # here, so that light commands (scpo.notebooks) do not load torch

    return torch.tensor(pd.Series(values).to_numpy(dtype="float64"))


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub-flavoured Markdown table of `frame` (index not included), floats rounded."""
    cells = frame.map(lambda v: f"{v:.{digits}f}" if isinstance(v, float) else str(v))
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in cells.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def write_text(text: str, path: Path) -> Path:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path
