"""dvc.yaml and the notebooks agree: one stage per notebook, declared params, papermill parameters, deps."""

import json
import re

import pytest
import yaml

from scpo.config import STAGE_PARAMS, load_stage
from scpo.paths import ROOT

DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
NOTEBOOK_STAGES = {
    "data": "01_data", "global_scoring": "02_global_scoring", "filter_weight": "03_filter_weight",
    "training": "04_training", "bias_analysis": "05_bias_analysis",
}


def stage_body(name):
    stage = DVC[name]
    return stage["do"] if "foreach" in stage else stage


def notebook_source(notebook):
    return "".join("".join(c["source"]) for c in json.loads((ROOT / "notebooks" / f"{notebook}.ipynb").read_text())["cells"])


def test_every_notebook_has_a_stage_named_after_it():
    notebooks = {p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert notebooks == set(NOTEBOOK_STAGES.values())
    assert set(DVC) == set(NOTEBOOK_STAGES) | {"notebook_sources"}


@pytest.mark.parametrize("stage,notebook", NOTEBOOK_STAGES.items())
def test_stage_params_equal_the_sections_the_notebook_loads(stage, notebook):
    assert tuple(stage_body(stage)["params"]) == STAGE_PARAMS[stage]
    per_seed = DVC[stage].get("foreach") == "${seeds}"
    assert per_seed == ("-p seed ${item}" in stage_body(stage)["cmd"])
    assert f'config.load_stage("{stage}"' in notebook_source(notebook)


@pytest.mark.parametrize("stage,notebook", NOTEBOOK_STAGES.items())
def test_stage_runs_the_canonical_copy_and_passes_only_declared_parameters(stage, notebook):
    body = stage_body(stage)
    assert f"papermill artifacts/00_notebooks/{notebook}.ipynb" in body["cmd"]
    assert f"artifacts/00_notebooks/{notebook}.ipynb" in body["deps"]
    parameters = next(c for c in json.loads((ROOT / "notebooks" / f"{notebook}.ipynb").read_text())["cells"]
                      if "parameters" in c["metadata"].get("tags", []))
    declared = {line.split("=")[0].strip() for line in parameters["source"] if "=" in line}
    assert set(re.findall(r"-p (\w+) ", body["cmd"] + " ")) <= declared


@pytest.mark.parametrize("stage,notebook", NOTEBOOK_STAGES.items())
def test_every_imported_scpo_module_is_a_dependency(stage, notebook):
    source = notebook_source(notebook)
    imported = set()
    for line in re.findall(r"from scpo import ([\w, ]+)", source):
        imported |= {name.strip() for name in line.split(",")}
    deps = set(stage_body(stage)["deps"])
    for module in list(imported):  # the modules these import are dependencies too
        text = (ROOT / "scpo" / f"{module}.py").read_text()
        imported |= set(re.findall(r"^from scpo\.(\w+) import", text, re.M))
        imported |= {n.strip() for line in re.findall(r"^from scpo import ([\w, ]+)", text, re.M)
                     for n in line.split(",")}
    missing = {m for m in imported - {"paths"} if f"scpo/{m}.py" not in deps}
    if stage == "data":  # the embedded generator is the data stage's templated input (${data.input})
        missing -= {"embedded"}
    assert not missing, f"{stage}: add {sorted(missing)} to deps"


def test_canonical_stage_covers_every_notebook():
    outs = DVC["notebook_sources"]["outs"]
    assert sorted(outs) == [f"artifacts/00_notebooks/{n}.ipynb" for n in sorted(NOTEBOOK_STAGES.values())]


def test_repo_params_load_for_every_stage():
    for stage in STAGE_PARAMS:
        assert set(load_stage(stage, ROOT / "params.yaml")) == set(STAGE_PARAMS[stage])


def test_dvc_analytics_disabled():
    assert "analytics = false" in (ROOT / ".dvc" / "config").read_text()
