"""`python -m scpo.fetch prism|goqa [--revision REV] [--out FOLDER]`: a local snapshot of a real dataset.

Downloads the upstream files byte for byte (huggingface_hub), where the hub is reachable, into
`data/prism` (`survey.jsonl`, `utterances.jsonl`) or `data/goqa` (`global_opinions.csv`), with
`SOURCE.json` naming the dataset and the resolved commit. Then `dvc add data` records the snapshot,
and `data.source: local` runs the pipeline on it offline.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from scpo.goqa import FILE_NAME as GOQA_FILE

DATASETS = {  # name -> (hub id, files the loaders read)
    "prism": ("HannahRoseKirk/prism-alignment", ("survey.jsonl", "utterances.jsonl")),
    "goqa": ("Anthropic/llm_global_opinions", (GOQA_FILE,)),
}


def fetch(dataset: str, revision: str, folder: Path, hub_id: str | None = None) -> Path:
    """Download `dataset` at `revision` into `folder` (replaced whole, only once every file arrived)."""
    import huggingface_hub

    hub_id = hub_id or DATASETS[dataset][0]
    files = DATASETS[dataset][1]
    commit = huggingface_hub.HfApi().dataset_info(hub_id, revision=revision).sha
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{folder.name}-") as scratch:
        download = Path(scratch) / "download"
        huggingface_hub.snapshot_download(hub_id, repo_type="dataset", revision=commit,
                                          allow_patterns=[f"*{name}" for name in files], local_dir=download)
        staged = Path(scratch) / "staged"
        staged.mkdir()
        for name in files:
            found = sorted(p for p in download.rglob(name) if p.is_file())
            if not found:
                raise FileNotFoundError(f"{hub_id}@{commit} has no file named {name}")
            shutil.copyfile(found[0], staged / name)
        (staged / "SOURCE.json").write_text(json.dumps(
            {"dataset": dataset, "hub_id": hub_id, "requested_revision": revision, "commit": commit,
             "files": list(files)}, indent=2) + "\n")
        if folder.exists():
            shutil.rmtree(folder)
        staged.rename(folder)  # same file system: the snapshot appears whole or not at all
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scpo.fetch", description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=sorted(DATASETS))
    parser.add_argument("--revision", default="main", help="a commit hash to pin (default: main, resolved)")
    parser.add_argument("--out", type=Path, help="default: data/<dataset>")
    args = parser.parse_args(argv)
    folder = fetch(args.dataset, args.revision, args.out or Path("data") / args.dataset)
    print(f"wrote {folder}: {json.loads((folder / 'SOURCE.json').read_text())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
