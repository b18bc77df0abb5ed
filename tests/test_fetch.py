"""`python -m scpo.fetch`: a local snapshot, byte for byte, recorded with its commit (the hub is faked)."""

import json
import shutil

import pytest

from scpo import fetch
from scpo.paths import ROOT


class FakeHub:
    def __init__(self, source_folder, nested=""):
        self.source, self.nested, self.calls = source_folder, nested, []

    def dataset_info(self, hub_id, revision):
        return type("Info", (), {"sha": "0123abc" if revision == "main" else revision})()

    def snapshot_download(self, hub_id, repo_type, revision, allow_patterns, local_dir):
        self.calls.append((hub_id, repo_type, revision, tuple(allow_patterns)))
        target = local_dir / self.nested
        target.mkdir(parents=True)
        for path in self.source.iterdir():
            shutil.copyfile(path, target / path.name)


@pytest.fixture
def hub(monkeypatch):
    import huggingface_hub

    def install(source, nested=""):
        fake = FakeHub(source, nested)
        monkeypatch.setattr(huggingface_hub, "HfApi", lambda: fake)
        monkeypatch.setattr(huggingface_hub, "snapshot_download", fake.snapshot_download)
        return fake
    return install


def test_prism_snapshot_is_byte_identical_and_records_the_commit(hub, tmp_path):
    fake = hub(ROOT / "tests/fixtures/prism")
    folder = fetch.fetch("prism", "main", tmp_path / "data/prism")
    for name in ("survey.jsonl", "utterances.jsonl"):
        assert (folder / name).read_bytes() == (ROOT / "tests/fixtures/prism" / name).read_bytes()
    source = json.loads((folder / "SOURCE.json").read_text())
    assert source["commit"] == "0123abc" and source["requested_revision"] == "main"
    assert fake.calls == [("HannahRoseKirk/prism-alignment", "dataset", "0123abc",
                           ("*survey.jsonl", "*utterances.jsonl"))]  # downloads the resolved commit
    assert sorted(p.name for p in folder.parent.iterdir()) == ["prism"]  # no scratch left behind


def test_goqa_file_is_found_under_data(hub, tmp_path):
    hub(ROOT / "tests/fixtures/goqa", nested="data")  # the hub keeps it at data/global_opinions.csv
    folder = fetch.fetch("goqa", "abc", tmp_path / "goqa")
    assert (folder / "global_opinions.csv").read_bytes() == (ROOT / "tests/fixtures/goqa/global_opinions.csv").read_bytes()


def test_missing_upstream_file_leaves_the_old_snapshot(hub, tmp_path):
    hub(ROOT / "tests/fixtures/goqa")  # has no survey.jsonl
    old = tmp_path / "prism"
    old.mkdir()
    (old / "survey.jsonl").write_text("old\n")
    with pytest.raises(FileNotFoundError, match="has no file named survey.jsonl"):
        fetch.fetch("prism", "main", old)
    assert (old / "survey.jsonl").read_text() == "old\n"
