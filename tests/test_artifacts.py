"""The artifacts stages hand each other (scpo/artifacts.py): each lies where dvc.yaml says its stage writes,
and no notebook or module spells their file names but artifacts.py."""

import json
import re

import pandas as pd
import pytest
import yaml

from scpo import artifacts
from scpo.paths import ROOT, RUN_ROOT_ENV

DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def declared_outputs(stage: str) -> list[str]:
    """The stage's outs, metrics and plots, with its foreach/matrix placeholders as {seed} and {country}."""
    body = DVC[stage].get("do", DVC[stage])
    listed = [next(iter(e)) if isinstance(e, dict) else e for k in ("outs", "metrics", "plots") for e in body.get(k, [])]
    placeholder = "{seed}" if DVC[stage].get("foreach") == "${seeds}" else "{country}"
    return [re.sub(r"\$\{(item|key)\}", placeholder, path) for path in listed]


@pytest.mark.parametrize("name", sorted(artifacts.ARTIFACTS))
def test_each_artifact_lies_inside_an_output_of_the_stage_that_writes_it(name):
    artifact = artifacts.ARTIFACTS[name]
    outputs = declared_outputs(artifact.stage)
    assert any(artifact.template == out or artifact.template.startswith(out.rstrip("/") + "/") for out in outputs), (
        f"{name}: {artifact.template} is not under any output of stage {artifact.stage}: {outputs}")


def test_no_notebook_or_module_spells_an_artifact_file_name():
    names = {artifact.template.rsplit("/", 1)[1] for artifact in artifacts.ARTIFACTS.values()}
    names -= {"05_bias_analysis.json"}  # report names carry their stage number: checked by the test above
    sources = {path: path.read_text() for path in (ROOT / "scpo").glob("*.py") if path.name != "artifacts.py"}
    sources |= {path: "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"])
                for path in (ROOT / "notebooks").glob("*.ipynb")}
    spelled = {(path.name, name) for path, text in sources.items() for name in names
               if re.search(rf"[\"'/]{re.escape(name)}[\"']", text)}
    assert not spelled, f"use scpo.artifacts instead of the file name: {sorted(spelled)}"


def test_path_fills_the_fields_under_the_run_root_and_read_returns_what_was_written(tmp_path, monkeypatch):
    monkeypatch.setenv(RUN_ROOT_ENV, str(tmp_path))
    location = artifacts.path("test_scores", country="chile", seed=2)
    assert location == tmp_path / "artifacts/04_training/chile/seed2/test_scores.parquet"
    assert not (tmp_path / "artifacts").exists()  # asking where an artifact lies creates nothing
    assert not artifacts.exists("answer_shares", seed=2) and not (tmp_path / "artifacts").exists()
    artifacts.write_model_scores({"scpo": pd.Series([0.5, -1.0], index=["u1", "u2"])}, "test_scores", "chile", 2)
    scores = artifacts.model_scores("test_scores", "chile", 2)
    assert scores.scpo.to_dict() == {"u1": 0.5, "u2": -1.0} and scores.index.name == "utterance_id"


def test_a_missing_field_is_named():
    with pytest.raises(KeyError, match="seed"):
        artifacts.path("pairs")


def test_dvc_artifacts_name_each_countrys_scpo_model_where_stage_04_saves_it():
    declared = yaml.safe_load((ROOT / "dvc.yaml").read_text())["artifacts"]
    countries = yaml.safe_load((ROOT / "params.yaml").read_text())["countries"]
    assert set(declared) == {f"scpo-{slug.replace('_', '-')}" for slug in countries}
    training_out = declared_outputs("training")[0]  # artifacts/04_training/{country}
    for slug in countries:
        artifact = declared[f"scpo-{slug.replace('_', '-')}"]
        assert artifact["type"] == "model" and countries[slug] in artifact["desc"]
        assert artifact["path"] == training_out.format(country=slug) + "/seed0/scpo/model"

