"""The whole DVC pipeline on the tiny profile, in a scratch copy of the repo (never the repo's artifacts)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scpo.paths import ROOT, RUN_ROOT_ENV
from scpo.profile import write_profile


def run(args, cwd, env):
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def ran(output):
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("scpo-e2e")
    for item in ("notebooks", "scpo", "dvc.yaml"):
        source = ROOT / item
        (shutil.copytree if source.is_dir() else shutil.copy)(source, root / item,
                                                            **({"ignore": shutil.ignore_patterns("__pycache__")} if source.is_dir() else {}))
    write_profile(ROOT / "params.yaml", ROOT / "tests" / "tiny_profile.yaml", root / "params.yaml")
    env = {**os.environ, RUN_ROOT_ENV: str(root), "DVC_NO_ANALYTICS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    run(["dvc", "init", "--no-scm", "-q"], root, env)
    first = run(["dvc", "repro"], root, env)
    return root, env, first


def test_every_stage_runs_and_writes_its_outputs(project):
    root, _, first = project
    assert ran(first) == {"notebook_sources", "data", "global_scoring", "filter_weight", "training@chile",
                          "bias_analysis"}
    assert (root / "artifacts/04_training/chile/model/config.json").is_file()
    report = json.loads((root / "reports/metrics/05_bias_analysis.json").read_text())
    assert {"global:accuracy_all", "scpo:accuracy_all", "scpo:accuracy_truth"} <= set(report["macro"])
    assert (root / "reports/tables/05_accuracy.md").read_text().count("Chile") == 1
    assert (root / "reports/notebooks/04_training-chile.ipynb").is_file()


def test_trained_checkpoint_loads_with_auto_classes(project):
    from scpo.scoring import load_reward_model

    model, tokenizer = load_reward_model(project[0] / "artifacts/04_training/chile/model")
    assert model.config.num_labels == 1 and tokenizer.pad_token is not None


def test_second_repro_runs_nothing(project):
    root, env, _ = project
    assert ran(run(["dvc", "repro"], root, env)) == set()


def test_saving_a_notebook_with_outputs_reruns_no_stage(project):
    root, env, _ = project
    executed = json.loads((root / "reports/notebooks/03_filter_weight.ipynb").read_text())
    executed["cells"] = [c for c in executed["cells"] if "injected-parameters" not in c["metadata"].get("tags", [])]
    (root / "notebooks/03_filter_weight.ipynb").write_text(json.dumps(executed))
    assert ran(run(["dvc", "repro"], root, env)) <= {"notebook_sources"}


def test_changing_beta_reruns_weighting_and_after_but_not_data_or_scoring(project):
    root, env, _ = project
    params = root / "params.yaml"
    params.write_text(params.read_text().replace("beta: 1.1", "beta: 0.5"))
    assert ran(run(["dvc", "repro"], root, env)) == {"filter_weight", "training@chile", "bias_analysis"}


def test_out_of_range_param_stops_the_first_stage_naming_the_key(project):
    root, env, _ = project
    params = root / "params.yaml"
    original = params.read_text()
    params.write_text(original.replace("tau: 0.7", "tau: 1.5").replace("seed: 0\n  user_scale", "seed: 1\n  user_scale"))
    try:
        done = subprocess.run(["dvc", "repro"], cwd=root, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode != 0
        assert "filtering.tau = 1.5 is out of range; allowed: 0 < tau <= 1" in done.stdout + done.stderr
        assert "failed to reproduce 'data'" in done.stdout + done.stderr
    finally:
        params.write_text(original)
