"""Reading inputs and writing stage outputs.

Inputs: `input_file` says what a path is when it is not a readable file (missing, a directory, a dangling
link, a symlink loop), and `decode_text` is the one decoding step of every text file the pipeline reads
(PRISM's jsonl, GlobalOpinionQA's CSV, params.yaml): strict UTF-8, a compressed file named as such, the
first undecodable byte located by line and column. Outputs: parquet tables, JSON metrics; every write is
atomic.
"""

from __future__ import annotations

import errno
import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# Leading bytes of the containers a data file is most often mistaken for (magic numbers).
COMPRESSED_MAGIC = {b"\x1f\x8b": "gzip-compressed", b"BZh": "bzip2-compressed", b"\xfd7zXZ\x00": "xz-compressed",
                    b"PK\x03\x04": "a zip archive", b"(\xb5/\xfd": "zstd-compressed"}
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def input_file(path: Path, error: type[Exception], what: str) -> Path:
    """`path` if it is a readable regular file; otherwise `error` saying what it is instead.

    `what` says what was expected there (e.g. "PRISM's utterances.jsonl"), for the message."""
    path = Path(path)
    try:
        os.stat(path)
    except OSError as problem:
        if problem.errno == errno.ELOOP:
            raise error(f"{path}: a symbolic link loop (the link points, directly or not, at itself); "
                        f"expected {what}") from None
        if path.is_symlink():
            raise error(f"{path}: a symbolic link to {os.readlink(path)!r}, which does not exist; expected {what}") from None
        if problem.errno == errno.ENOENT:
            raise FileNotFoundError(f"{path} not found: expected {what} there") from None
        raise error(f"{path}: cannot be read ({problem.strerror}); expected {what}") from None
    if path.is_dir():
        raise error(f"{path}: a directory, not a file; expected {what}")
    if not path.is_file():
        raise error(f"{path}: not a regular file (a device, socket or pipe); expected {what}")
    if not os.access(path, os.R_OK):
        raise error(f"{path}: not readable (permission denied); expected {what}")
    return path


def decode_text(data: bytes, label: str, error: type[Exception]) -> str:
    """`data` decoded as UTF-8 (a leading byte-order mark dropped), or `error` naming `label`, the line
    and column of the first undecodable byte, what those bytes are, and how to fix the file."""
    for magic, kind in COMPRESSED_MAGIC.items():
        if data.startswith(magic):
            raise error(f"{label}: the file is {kind}, not text: decompress it first "
                        f"(e.g. `gunzip`, `unzip`) and point the pipeline at the plain file")
    if data.startswith(UTF16_BOMS):
        raise error(f"{label}: the file is UTF-16 text, expected UTF-8: re-save it as UTF-8")
    if b"\x00" in data[:4096]:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise error(f"{label}: line {line}: a NUL byte: a binary file, not UTF-8 text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as problem:
        start = problem.start
        line = data.count(b"\n", 0, start) + 1
        column = start - (data.rfind(b"\n", 0, start) + 1) + 1
        shown = data[start:start + 4]
        guess = shown.decode("cp1252", errors="replace")
        raise error(f"{label}: line {line}, column {column}: not UTF-8 (bytes {shown.hex(' ')}; as Windows-1252 "
                    f"they would read {guess!r}): re-save the file as UTF-8") from None


def read_text(path: Path, error: type[Exception], what: str) -> str:
    """The text of the file at `path`: `input_file`'s checks, then `decode_text`."""
    return decode_text(input_file(path, error, what).read_bytes(), str(path), error)


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


def pair_values(pairs: pd.DataFrame, per_utterance: pd.Series, missing: str,
                dtype: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The values of each pair's chosen and rejected utterance (arrays in pair order, in `dtype` or the Series'
    own) from a Series indexed by unique utterance ids; a pair whose utterance has none is a KeyError:
    "<n> pairs have `missing`, e.g. pair <pair_id>". One hash lookup a pair (pandas' `isin` on Arrow strings
    loops in Python)."""
    index = per_utterance.index
    if not index.is_unique:
        raise ValueError(f"{int(index.duplicated().sum())} utterance ids appear more than once, e.g. "
                         f"{index[index.duplicated()][0]!r}: which value a pair gets would be ambiguous")
    chosen_at, rejected_at = index.get_indexer(pairs.chosen_id), index.get_indexer(pairs.rejected_id)
    absent = (chosen_at < 0) | (rejected_at < 0)
    if absent.any():
        raise KeyError(f"{int(absent.sum())} pairs have {missing}, e.g. pair {pairs.pair_id.iloc[absent.argmax()]}")
    values = per_utterance.to_numpy(dtype=dtype)
    return values[chosen_at], values[rejected_at]


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
