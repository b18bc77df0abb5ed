"""The model-source stage (`python -m scpo.model_source`): what the configured models are, without loading them.

A local folder's file hashes, or a hub id with its revision: DVC re-runs the stages that read a model when
these change. Apart from `scpo.models` (which loads models) so that `scpo.paths` can resolve a model setting without
importing torch or transformers. The stage itself still imports them (about 4 of its 4.5 s): as the first stage it
validates every params section, TrainingArguments included.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path
from typing import Any

from scpo.errors import ConfigError

HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")  # owner/name (or a legacy bare name such as gpt2)


def resolve_model(setting: str, root: Path, key: str = "scoring.model") -> str:
    """A local folder as an absolute path, else the hub id unchanged.

    Relative paths are read from `root` (the repository, or the run root), not from the notebook's folder
    where papermill runs the kernel; a path that is not there and is no hub id stops here, before the hub's
    retries would.
    """
    path = Path(setting).expanduser()
    candidate = path if path.is_absolute() else root / path
    if candidate.is_dir():
        return str(candidate.resolve())
    if candidate.exists():
        raise ConfigError(f"params: {key} = {setting!r}: {candidate} is a file; give the model's folder")
    if path.is_absolute() or setting.startswith((".", "~")) or not HUB_ID.fullmatch(setting):
        raise ConfigError(f"params: {key} = {setting!r}: no folder {candidate} (relative paths are read from "
                          f"{root}), and not a hub id (owner/name)")
    return setting


def folder_fingerprint(folder: Path) -> dict[str, str]:
    """sha256 of every file of a model folder (hidden files and folders skipped), by relative path."""
    hashes = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        hashes[relative.as_posix()] = digest.hexdigest()
    return hashes


def model_fingerprint(setting: str | None, revision: str | None, root: Path, key: str) -> dict[str, Any] | None:
    """What a model setting stands for: a local folder's file hashes (not its path, so a clone elsewhere
    matches), or a hub id with its revision; None when unset; 'embedded' as itself."""
    if setting is None or setting == "embedded":
        return None if setting is None else {"model": "embedded"}
    resolved = resolve_model(setting, root, key)
    if Path(resolved).is_dir():
        return {"model": setting, "files": folder_fingerprint(Path(resolved))}
    return {"model": setting, "revision": revision}


def main(argv: list[str] | None = None) -> int:
    """`python -m scpo.model_source`: the model-source stage. Writes what the configured models are (file hashes for
    local folders), so DVC re-runs the stages that read a model when the folder's contents change."""
    from scpo import config, io, paths

    parser = argparse.ArgumentParser(prog="python -m scpo.model_source", description=main.__doc__)
    parser.add_argument("--params", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    cfg = config.load_stage("model_source", args.params)
    root = paths.run_root()
    scoring, global_rm = cfg["scoring"], cfg["global_rm"]
    io.write_json({"scoring.model": model_fingerprint(scoring.model, scoring.revision, root, "scoring.model"),
                   "global_rm.encoder": model_fingerprint(global_rm.encoder, None, root, "global_rm.encoder")},
                  args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
