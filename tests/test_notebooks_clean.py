"""Committed notebook sources are canonical: no outputs, no execution counts, one parameters cell."""

import json

import pytest

from scpo.notebooks import canonical, dumps
from scpo.paths import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_the_stage_notebooks_are_numbered_in_order():
    assert [p.stem[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06", "07", "08"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_source_is_canonical(path):
    text = path.read_text()
    assert text == dumps(canonical(json.loads(text))), f"{path.name}: strip it with python -m scpo.notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_one_parameters_cell_holding_no_values_but_paths_and_switches(path):
    cells = json.loads(path.read_text())["cells"]
    tagged = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1
    names = {line.split("=")[0].strip() for line in tagged[0]["source"] if "=" in line}
    assert names <= {"params_file", "country", "seed"}
    assert cells[0]["cell_type"] == "markdown" and cells[0]["source"][0].startswith("# ")


def test_saving_with_outputs_leaves_the_canonical_form_unchanged():
    source = json.loads(NOTEBOOKS[0].read_text())
    executed = json.loads(json.dumps(source))
    executed["metadata"]["language_info"] = {"name": "python", "version": "3.11.7"}
    executed["metadata"]["papermill"] = {"duration": 1.0}
    for cell in executed["cells"]:
        if cell["cell_type"] == "code":
            cell.update(execution_count=3, outputs=[{"output_type": "stream", "name": "stdout", "text": ["x\n"]}])
            cell["metadata"]["execution"] = {"iopub.status.busy": "2026-01-01"}
    assert canonical(executed) == canonical(source)
    edited = json.loads(json.dumps(source))
    edited["cells"][2]["source"].append("\nprint('changed')")
    assert canonical(edited) != canonical(source)
