"""dvc.yaml and the notebooks agree: one stage per notebook, declared params, papermill parameters, deps."""

import json
import re

import pytest
import yaml

from scpo.config import STAGE_PARAMS, load_stage, stage_sections
from scpo.paths import ROOT

DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
NOTEBOOK_STAGES = {
    "data": "01_data", "global_scoring": "02_global_scoring", "filter_weight": "03_filter_weight",
    "training": "04_training", "bias_analysis": "05_bias_analysis", "data_efficiency": "06_data_efficiency",
    "shuffled_labels": "07_shuffled_labels", "figures": "08_figures",
}
MODULE_STAGES = {"tradeoff": "tradeoff", "model_source": "model_source", "regimes": "regimes"}  # stage -> the scpo module its command runs (python -m scpo.<module>)


def stage_body(name):
    stage = DVC[name]
    return stage["do"] if "foreach" in stage else stage  # a matrix stage holds its body beside the matrix


def notebook_source(notebook):
    cells = json.loads((ROOT / "notebooks" / f"{notebook}.ipynb").read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells)  # a cell's last line has no newline of its own


def test_every_notebook_has_a_stage_named_after_it():
    notebooks = {p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert notebooks == set(NOTEBOOK_STAGES.values())
    assert set(DVC) == set(NOTEBOOK_STAGES) | set(MODULE_STAGES) | {"notebook_sources", "timings"}


def test_the_pipeline_tests_know_which_stages_run_on_every_repro():
    from pipeline import ALWAYS_RUN

    assert {name for name in DVC if stage_body(name).get("always_changed")} == ALWAYS_RUN


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


def direct_imports(source):
    """The scpo modules a source imports, at the top or lazily inside a function."""
    imported = set(re.findall(r"^\s*from scpo\.(\w+) import", source, re.M))
    names = re.findall(r"^\s*from scpo import \(([\w,\s]+)\)", source, re.M)
    for line in names + re.findall(r"^\s*from scpo import ([\w, ]+?)\s*(?:#.*)?$", source, re.M):  # a comment may follow
        imported |= {name.strip() for name in line.split(",") if name.strip()}
    return imported


def module_imports(module):
    """What a scpo module imports; the dataset registry imports each registered dataset's module by name."""
    imported = direct_imports((ROOT / "scpo" / f"{module}.py").read_text())
    if module == "dataset":
        from scpo.dataset import REGISTRY

        imported |= {entry.module.removeprefix("scpo.") for entry in REGISTRY.values()}
    return imported


def imported_modules(source):
    """Every scpo module a source depends on: what it imports, what those import, and so on."""
    imported, frontier = set(), direct_imports(source)
    while frontier:
        imported |= frontier
        frontier = set().union(*(module_imports(m) for m in frontier)) - imported
    return imported


@pytest.mark.parametrize("stage,notebook", NOTEBOOK_STAGES.items())
def test_every_imported_scpo_module_is_a_dependency(stage, notebook):
    imported = imported_modules(notebook_source(notebook))
    deps = set(stage_body(stage)["deps"])
    missing = {m for m in imported - {"paths"} if f"scpo/{m}.py" not in deps}
    if stage == "data":  # the embedded generator is the data stage's templated input (${data.input})
        missing -= {"embedded"}
    assert not missing, f"{stage}: add {sorted(missing)} to deps"


@pytest.mark.parametrize("stage,module", MODULE_STAGES.items())
def test_module_stages_declare_their_params_and_every_imported_module(stage, module):
    body = stage_body(stage)
    assert f"python -m scpo.{module} --params params.yaml" in body["cmd"]
    assert tuple(body["params"]) == STAGE_PARAMS[stage]
    assert f'config.load_stage("{stage}"' in (ROOT / "scpo" / f"{module}.py").read_text()
    imported = imported_modules((ROOT / "scpo" / f"{module}.py").read_text()) | {module}
    missing = {m for m in imported - {"paths"} if f"scpo/{m}.py" not in body["deps"]}
    assert not missing, f"{stage}: add {sorted(missing)} to deps"


def test_the_grid_stage_runs_every_tau_of_params_each_with_every_beta():
    assert DVC["tradeoff"]["foreach"] == "${tradeoff.taus}"
    assert "--tau ${item} --out-dir artifacts/tradeoff/tau${item}" in stage_body("tradeoff")["cmd"]
    assert "tradeoff.betas" in stage_body("tradeoff")["params"]


def test_the_regime_map_runs_every_point_of_params():
    assert DVC["regimes"]["matrix"] == {"extreme": "${regimes.extreme_shares}", "share": "${regimes.country_shares}"}
    assert "--extreme-share ${item.extreme} --country-share ${item.share}" in stage_body("regimes")["cmd"]
    assert {"regimes.country", "regimes.arms"} <= set(stage_body("regimes")["params"])
    assert "regimes.extreme_shares" not in stage_body("regimes")["params"]  # a new share runs only its new points


def test_canonical_stage_covers_every_notebook():
    outs = [out for out in DVC["notebook_sources"]["outs"] if isinstance(out, str)]
    assert sorted(outs) == [f"artifacts/00_notebooks/{n}.ipynb" for n in sorted(NOTEBOOK_STAGES.values())]


def test_repo_params_load_for_every_stage():
    for stage in STAGE_PARAMS:
        assert set(load_stage(stage, ROOT / "params.yaml")) == set(stage_sections(stage))


def test_dvc_analytics_disabled():
    assert "analytics = false" in (ROOT / ".dvc" / "config").read_text()


def stage_name(name):
    """The DVC name of one instance of stage `name`, as its command spells it (`data@${item}`, `training@${key}`)."""
    stage = DVC[name]
    if "foreach" in stage and "countries" in stage["foreach"]:
        return f"{name}@${{key}}"
    if "matrix" in stage:
        return f"{name}@" + "-".join(f"${{item.{axis}}}" for axis in stage["matrix"])
    return f"{name}@${{item}}" if "foreach" in stage else name


@pytest.mark.parametrize("name", [n for n in DVC if n != "timings"])
def test_every_stage_records_its_wall_time_under_its_own_name(name):
    body, instance = stage_body(name), stage_name(name)
    assert f"python -m scpo.timings run {instance} -- " in body["cmd"]
    timing_outs = [next(iter(out)) for out in body["outs"] if isinstance(out, dict) and "timings" in next(iter(out))]
    assert timing_outs == [f"reports/timings/{instance}.json"]
    assert next(iter(body["outs"][-1].values())) == {"cache": False}  # git-tracked, beside the metrics


def test_the_timings_stage_gathers_every_record_and_depends_on_what_it_imports():
    body = DVC["timings"]
    assert body["cmd"] == "python -m scpo.timings --out reports/timings.json"
    imported = imported_modules((ROOT / "scpo" / "timings.py").read_text()) | {"timings"}
    assert set(body["deps"]) == {"reports/timings"} | {f"scpo/{m}.py" for m in imported}
