"""The canonical form of a notebook: code, markdown and tags only.

DVC stages depend on canonical copies (`python -m scpo.notebooks SRC_DIR DST_DIR`), so running a
notebook in JupyterLab and saving it with outputs does not by itself re-run its stage. Committed
sources are kept canonical too (tests/test_notebooks_clean.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from scpo.io import write_text


def canonical(notebook: dict[str, Any]) -> dict[str, Any]:
    """Only what changes what a notebook computes: cell types, ids, sources, tags, and the kernel."""
    cells = []
    for cell in notebook["cells"]:
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        kept: dict[str, Any] = {"cell_type": cell["cell_type"], "id": cell.get("id"), "metadata": {},
                                "source": source.splitlines(keepends=True)}
        tags = cell.get("metadata", {}).get("tags")
        if tags:
            kept["metadata"]["tags"] = list(tags)
        if cell["cell_type"] == "code":
            kept.update(execution_count=None, outputs=[])
        cells.append(kept)
    kernelspec = notebook.get("metadata", {}).get("kernelspec")
    return {"cells": cells, "metadata": {"kernelspec": kernelspec} if kernelspec else {},
            "nbformat": notebook.get("nbformat", 4), "nbformat_minor": notebook.get("nbformat_minor", 5)}


def dumps(notebook: dict[str, Any]) -> str:
    """The on-disk text of a notebook (stable key order and indentation)."""
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def write_canonical(source: Path, target: Path) -> Path:
    """Write the canonical form of `source` to `target`."""
    return write_text(dumps(canonical(json.loads(source.read_text()))), target)


def main(argv: list[str]) -> None:
    """`python -m scpo.notebooks SRC_DIR DST_DIR`: canonical copies of SRC_DIR/NN_*.ipynb."""
    source_dir, target_dir = map(Path, argv)
    for source in sorted(source_dir.glob("[0-9][0-9]_*.ipynb")):
        write_canonical(source, target_dir / source.name)


if __name__ == "__main__":
    main(sys.argv[1:])
