"""The whole DVC pipeline on the tiny profile, in a scratch copy of the repo (never the repo's artifacts)."""

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import pipeline
from scpo.paths import RUN_ROOT_ENV

pytestmark = pytest.mark.pipeline


def run(args, cwd, env):
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def ran(output):
    """The stages a repro ran, but the two that run every time (always_changed): the model-source check, which
    re-runs nothing after it unless a model changed, and the gathering of the stages' wall times."""
    return pipeline.stages_run(output) - pipeline.ALWAYS_RUN


TOKEN = "hf_scpoTestTokenNeverWritten0123456789"  # a fake hub token in the environment of every run
GRID = {"tradeoff@0.7", "tradeoff@1.0"}  # tests/tiny_profile.yaml: taus 0.7 and 1.0, each with betas 1.1 and inf
REGIMES = {"regimes@0.1-0.15"}  # tests/tiny_profile.yaml: one point of the regime map


def scratch_project(root):
    return pipeline.scratch_project(root, "tests/tiny_profile.yaml", {"seeds": [0, 1]}, HF_TOKEN=TOKEN)  # two run seeds


def outputs(root):
    """Every metrics and table file of a run, as bytes (figures are checked by the fresh-clone run)."""
    return {str(p.relative_to(root)): p.read_bytes() for kind in ("metrics", "tables")
            for p in sorted((root / "reports" / kind).glob("*"))}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The tiny pipeline, run once, in a git repository (so `dvc exp` works as a user's clone does)."""
    root = tmp_path_factory.mktemp("scpo-e2e")
    env = scratch_project(root)
    for command in (["git", "init", "-q"], ["git", "config", "user.email", "ci@scpo.invalid"],
                    ["git", "config", "user.name", "scpo tests"], ["dvc", "config", "core.no_scm", "false"],
                    ["git", "add", "-A"], ["git", "commit", "-qm", "the project"]):
        run(command, root, env)
    first = run(["dvc", "repro"], root, env)
    run(["git", "add", "-A"], root, env)
    run(["git", "commit", "-qm", "dvc repro"], root, env)
    return root, env, first, outputs(root)


def test_every_stage_runs_and_writes_its_outputs(project):
    root, _, first, _ = project
    assert "Running stage 'model_source'" in first
    assert ran(first) == {"notebook_sources", "data@0", "data@1", "global_scoring@0", "global_scoring@1",
                          "filter_weight@0", "filter_weight@1", "training@chile", "bias_analysis",
                          "data_efficiency@chile", "shuffled_labels@chile", "figures", *GRID, *REGIMES}
    assert "Running stage 'timings'" in first
    timings = json.loads((root / "reports/timings.json").read_text())  # every stage's wall time, from one file
    assert timings["not_recorded"] == [] and set(timings["stages"]) == ran(first) | {"model_source"}
    assert timings["total_seconds"] == pytest.approx(sum(timings["groups"].values()), abs=0.01)
    assert set(timings["groups"]) == {name.split("@")[0] for name in timings["stages"]}
    for seed in (0, 1):
        for arm in ("full", "filter", "weight", "scpo", "inverse", "random", "scpo_normalized"):
            assert (root / f"artifacts/04_training/chile/seed{seed}/{arm}/model/config.json").is_file()
            assert "## Held-out pairwise accuracy" in (
                root / f"artifacts/04_training/chile/seed{seed}/{arm}/model/README.md").read_text()
    report = json.loads((root / "reports/metrics/05_bias_analysis.json").read_text())
    for model in ("global", "full", "filter", "weight", "scpo", "inverse", "random", "scpo_normalized"):
        for test_set in ("all", "disagreement", "kept", "truth"):
            cell = report["macro"][f"{model}:{test_set}"]
            assert set(cell) == {"mean", "sd", "ci"}  # tiny data: a test set may be empty in a seed
            assert None in cell["ci"] or cell["ci"][0] <= cell["mean"] <= cell["ci"][1] or cell["mean"] is None
    assert report["macro"]["global:disagreement"]["mean"] == 0.0
    results = (root / "reports/tables/05_results.md").read_text()
    assert results.count("| Chile |") == 5 and "Edited ratio" in results  # 4 test sets + edited ratio
    assert not list((root / "artifacts/checkpoints").rglob("checkpoint-*")), "finished runs leave no checkpoints"


def test_the_gallery_shows_every_figure_it_reads_and_every_figure_exists(project):
    root = project[0]
    page = (root / "reports/README.md").read_text()
    linked = re.findall(r"!\[[^]]*\]\(([^)]+)\)", page) + re.findall(r"\]\(((?:tables|metrics|figures)/[^)]+)\)", page)
    assert {"figures/05_accuracy.png", "figures/05_cross_country_delta.png", "figures/05_benign_divergent.png",
            "figures/08_data_efficiency.png", "figures/08_tradeoff.png", "figures/08_shuffled_labels.png",
            "figures/08_planted_truth.png", "figures/08_planted_facts.png", "figures/08_regime_map.png"} <= set(linked)
    for link in linked:
        assert (root / "reports" / link).is_file(), f"reports/README.md links {link}, which is not there"
    numbers = json.loads((root / "reports/metrics/08_figures.json").read_text())
    assert set(numbers) == {"data_efficiency", "tradeoff", "shuffled_labels", "planted_truth", "planted_facts", "regimes"}
    assert len(numbers["regimes"]) == 2  # one point x the profile's two comparisons
    assert numbers["planted_facts"]["world"]["country_variance_share"] == [
        json.loads((root / f"reports/metrics/01_data-seed{seed}.json").read_text())["planted"]["country_variance_share"]
        for seed in (0, 1)]  # each seed its own world
    assert len(numbers["tradeoff"]["points"]) == 4
    curves = json.loads((root / "reports/metrics/06_data_efficiency-chile.json").read_text())["curves"]
    assert {(c["arm"], c["fraction"]) for c in curves} == {(a, f) for a in ("full", "scpo") for f in (0.5, 1.0)}
    for table in ("03_examples_filtering-seed0.md", "03_examples_weighting-seed0.md", "08_controls.md",
                  "08_data_efficiency.md", "08_tradeoff.md", "08_planted_facts.md", "08_regimes.md"):
        assert "| " in (root / "reports/tables" / table).read_text()


def test_adding_a_tau_or_an_extreme_share_runs_only_their_points(project):
    root, env, _, _ = project
    params = root / "params.yaml"
    original = params.read_text()
    raw = yaml.safe_load(original)
    raw["tradeoff"]["taus"] = [0.7, 0.9, 1.0]
    raw["regimes"]["extreme_shares"] = [0.1, 0.3]
    params.write_text(yaml.safe_dump(raw, sort_keys=False))
    try:
        assert ran(run(["dvc", "repro"], root, env)) == {"tradeoff@0.9", "regimes@0.3-0.15", "figures"}
        numbers = json.loads((root / "reports/metrics/08_figures.json").read_text())
        assert len(numbers["tradeoff"]["points"]) == 6 and len(numbers["regimes"]) == 4
    finally:
        params.write_text(original)
        run(["dvc", "repro"], root, env)  # back to the profile's grid: the figures stage re-runs from cache


def test_arms_share_every_training_argument(project):
    runs = json.loads((project[0] / "reports/metrics/04_training-chile.json").read_text())["runs"]
    assert len(runs) == 14  # 7 arms x 2 seeds
    counts = {run: summary["train_pairs"] for run, summary in runs.items()}
    for seed in (0, 1):  # arms differ only in pairs and weights (notebook 04 asserts identical arguments)
        assert counts[f"seed{seed}/full"] == counts[f"seed{seed}/weight"] >= counts[f"seed{seed}/filter"]
        assert counts[f"seed{seed}/filter"] == counts[f"seed{seed}/scpo"] == counts[f"seed{seed}/inverse"]
        assert counts[f"seed{seed}/random"] == counts[f"seed{seed}/filter"] == counts[f"seed{seed}/scpo_normalized"]
    shared = json.loads((project[0] / "reports/metrics/04_training-chile.json").read_text())["shared_arguments"]
    assert shared["learning_rate"] == 0.0002 and shared["max_steps"] == 12


def test_trained_checkpoint_loads_with_auto_classes(project):
    from scpo.models import load_reward_model

    model, tokenizer = load_reward_model(project[0] / "artifacts/04_training/chile/seed1/scpo/model")
    assert model.config.num_labels == 1 and tokenizer.pad_token is not None


def test_second_repro_runs_nothing(project):
    root, env, _, _ = project
    assert ran(run(["dvc", "repro"], root, env)) == set()


def test_saving_a_notebook_with_outputs_reruns_no_stage(project):
    root, env, _, _ = project
    executed = json.loads((root / "reports/notebooks/03_filter_weight-seed0.ipynb").read_text())
    executed["cells"] = [c for c in executed["cells"] if "injected-parameters" not in c["metadata"].get("tags", [])]
    (root / "notebooks/03_filter_weight.ipynb").write_text(json.dumps(executed))
    assert ran(run(["dvc", "repro"], root, env)) <= {"notebook_sources"}


def test_the_study_renders_as_html_and_training_curves_as_dvc_plots(project):
    root, env, _, _ = project
    html = (root / "reports/html/study.html").read_text()
    assert "Data efficiency (full fine-tuning vs SCPO)" in html and html.count("data:image/png;base64") >= 7
    assert "from scpo import" not in html, "--no-input: no code in the rendering"
    plots = json.loads(run(["dvc", "plots", "show", "--json"], root, env))["data"]
    curves = {name: plot for name, plot in plots.items() if "reports/plots/04_training-chile/" in name}
    arms = yaml.safe_load((root / "params.yaml").read_text())["arms"]
    assert len(curves) == 2 * len(arms), f"one loss curve per seed and arm: {sorted(plots)}"
    points = curves["reports/plots/04_training-chile/seed0-scpo.csv"][0]["content"]["data"]["values"]
    assert [p["step"] for p in points] == ["4", "8", "12"] and all(float(p["loss"]) > 0 for p in points)
    card = (root / "artifacts/04_training/chile/seed0/scpo/model/README.md").read_text()
    assert "- **tau (filtering.tau)**: 0.7" in card and "- **beta (weighting.beta)**: 1.1" in card


def would_rerun(root, env, old, new):
    """The stages `dvc repro --dry` finds changed with `old` replaced by `new` in params.yaml (its decision from
    dvc.lock, nothing run): those whose own params or dependencies changed. What reads their outputs re-runs as
    the outputs change, as the real re-runs here show. params.yaml is restored after."""
    params = root / "params.yaml"
    original = params.read_text()
    assert old in original
    params.write_text(original.replace(old, new))
    try:
        return ran(run(["dvc", "repro", "--dry"], root, env))
    finally:
        params.write_text(original)


def test_changing_beta_reruns_weighting_and_after(project):
    root, env, _, _ = project
    # The grid points recompute the filter and weights themselves: beta does not touch them. Stage 04 records beta in
    # its model cards; the regime map trains SCPO at the configured tau and beta; the gallery labels it.
    assert would_rerun(root, env, "beta: 1.1", "beta: 0.5") == {
        "filter_weight@0", "filter_weight@1", "training@chile", "figures", *REGIMES}


def test_an_experiment_reruns_what_its_param_reaches_and_leads_with_the_headline(project):
    """`dvc exp run -S`, as a user runs one: here the shuffled-labels control's seed, which reaches that stage and
    the gallery alone (the cheapest real re-run; beta's and the learning rate's reach is checked with --dry)."""
    root, env, _, _ = project
    assert ran(run(["dvc", "exp", "run", "-S", "controls.shuffle_seed=1"], root, env)) == {
        "shuffled_labels@chile", "figures"}
    table = json.loads(run(["dvc", "exp", "show", "--json"], root, env))
    experiment = next(rev for row in table for group in row["experiments"] or [] for rev in group["revs"])
    assert experiment["data"]["params"]["params.yaml"]["data"]["controls"]["shuffle_seed"] == 1
    metrics = experiment["data"]["metrics"]
    assert list(metrics) == ["reports/metrics/headline.json"], "counts and per-country numbers stay out of view"
    headline = metrics["reports/metrics/headline.json"]["data"]
    assert set(headline["accuracy"]["all"]) == {"global", "full", "filter", "weight", "scpo", "inverse", "random", "scpo_normalized"}
    assert "mean" in headline["scpo_minus_full"]["all"]  # DVC leaves the per-seed list out of its table
    columns = run(["dvc", "exp", "show", "--csv"], root, env).splitlines()[0].split(",")
    assert columns.index("scpo_minus_full.all.mean") < columns.index("controls.shuffle_seed"), "metrics lead the table"


def test_changing_the_learning_rate_reruns_every_trained_arm(project):
    root, env, _, _ = project
    assert would_rerun(root, env, "learning_rate: 0.0002", "learning_rate: 0.0003") == {  # every stage that trains
        "training@chile", "data_efficiency@chile", "shuffled_labels@chile", *GRID, *REGIMES}
    assert ran(run(["dvc", "repro", "--dry"], root, env)) == set()  # restored: nothing to run


def test_out_of_range_param_stops_the_first_stage_naming_the_key(project):
    root, env, _, _ = project
    params = root / "params.yaml"
    original = params.read_text()
    params.write_text(original.replace("tau: 0.7", "tau: 1.5").replace("seed: 0\n  user_scale", "seed: 1\n  user_scale"))
    try:
        done = subprocess.run(["dvc", "repro"], cwd=root, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode != 0
        assert "filtering.tau = 1.5 is out of range; allowed: 0 < tau <= 1" in done.stdout + done.stderr
        assert "failed to reproduce 'model_source'" in done.stdout + done.stderr  # the first stage
    finally:
        params.write_text(original)


def burn_cpu(stop):
    """A competing load: one core kept busy until `stop` is set."""
    while not stop.is_set():
        sum(range(10_000))


def test_same_params_and_seed_give_byte_identical_metrics_and_a_killed_training_stage_resumes(project, tmp_path_factory):
    """A second project, of run seed 0 alone, runs the stages that compute (data, the global RM's training and
    scoring, filter and weights, every fine-tune: `dvc repro training@chile`) beside a busy core and writes the
    first run's bytes for that seed; the analysis stages after them only read these outputs (their seeded
    bootstraps are unit-tested). A run seed's outputs do not depend on the other seeds of its project."""
    import multiprocessing

    _, _, _, first_outputs = project
    root = tmp_path_factory.mktemp("scpo-e2e-again")
    env = pipeline.scratch_project(root, "tests/tiny_profile.yaml", {"seeds": [0]}, HF_TOKEN=TOKEN)
    # A competing load: a thread count that a math library chose at run time from the load would show here as
    # different last digits. One busy process is load enough on any machine and leaves a core to the test beside.
    stop = multiprocessing.Event()
    burner = multiprocessing.Process(target=burn_cpu, args=(stop,), daemon=True)
    burner.start()
    try:
        run(["dvc", "repro", "training@chile"], root, env)
    finally:
        stop.set()
        burner.join(timeout=10)
    second = outputs(root)
    training = "reports/metrics/04_training-chile.json"  # seed 0's runs of the first project's two seeds
    assert {"reports/metrics/01_data-seed0.json", "reports/metrics/02_global_scoring-seed0.json",
            "reports/metrics/03_filter_weight-seed0.json", training} <= second.keys()
    changed = sorted(name for name in second if name != training and second[name] != first_outputs.get(name))
    assert not changed, f"differ under load: {changed}"
    again, first = json.loads(second[training]), json.loads(first_outputs[training])
    assert set(again["runs"]) == {name for name in first["runs"] if name.startswith("seed0/")}
    for name, summary in again["runs"].items():  # as JSON text: NaN where a test set is empty
        assert json.dumps(summary, sort_keys=True) == json.dumps(first["runs"][name], sort_keys=True), name

    # Kill the training stage once a run has written a checkpoint, then re-run it.
    checkpoints = root / "artifacts" / "checkpoints" / "chile"
    stage = subprocess.Popen(["dvc", "repro", "--force", "--single-item", "training@chile"], cwd=root, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 600
    while not any(complete(p) for p in checkpoints.glob("*/*/checkpoint-*/trainer_state.json")) and stage.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    kill_tree(stage)
    left = sorted(p.name for p in checkpoints.glob("*/*/checkpoint-*"))
    assert left, "the kill came after training: no checkpoint to resume from"
    # --no-run-cache: DVC could otherwise restore the complete earlier run's outputs (same deps and params)
    # instead of running the stage; here the point is the stage's own resume.
    rerun = run(["dvc", "repro", "--no-run-cache", "training@chile"], root, env)
    assert "training@chile" in ran(rerun), rerun[-2000:]  # re-executed, not restored
    runs = json.loads((root / "reports/metrics/04_training-chile.json").read_text())["runs"]
    expected = json.loads(first_outputs["reports/metrics/04_training-chile.json"])["runs"]
    resumed = [name for name, summary in runs.items() if summary["resumed_from_step"]]
    assert resumed, f"no run resumed (checkpoints left by the kill: {left}; now: {sorted(checkpoints.rglob('checkpoint-*'))})"
    for name, summary in runs.items():  # resumed or not, every run ends where the uninterrupted one did
        for key, value in summary["test"].items():
            assert value == pytest.approx(expected[name]["test"][key], abs=1e-6), (name, key)
    assert not list(checkpoints.glob("*/*/checkpoint-*")), "finished runs leave no checkpoints"


def kill_tree(stage):
    """SIGKILL the stage and every process under it at once, as a preempted machine would: the kernel (its own
    session) and the pool's workers too, so none finishes the run in hand and removes its checkpoints."""
    import psutil

    processes = [psutil.Process(stage.pid), *psutil.Process(stage.pid).children(recursive=True)]
    for process in processes:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    stage.wait()


def complete(state_file):
    """A checkpoint the Trainer finished writing (its trainer_state.json, written last, parses)."""
    try:
        return bool(json.loads(state_file.read_text()))
    except (OSError, ValueError):
        return False


def test_the_hub_token_is_never_written(project):
    root = project[0]
    for path in [*root.glob("reports/**/*"), *root.glob("artifacts/**/*"), root / "dvc.lock"]:
        if path.is_file() and path.suffix in {".json", ".ipynb", ".md", ".csv", ".txt", ".yaml", ".lock", ""}:
            assert TOKEN not in path.read_text(errors="ignore"), f"the hub token leaked into {path}"


def test_an_arm_launched_in_two_processes_matches_one_process(project, tmp_path, monkeypatch):
    """`launch.command` (here torchrun: 2 CPU processes, gloo) trains an arm as the stage's own process does:
    the two calls notebook 04 makes, `train.stage_arm` and `train.launch_stage_arm`."""
    from scpo import config, train

    root = tmp_path / "copy"
    shutil.copytree(project[0], root)  # a copy: the project's own outputs stay as dvc.lock has them
    env = {**project[1], RUN_ROOT_ENV: str(root)}
    run(["dvc", "repro"], root, env)  # restores what an earlier test's failing run removed (params out of range)
    monkeypatch.setenv(RUN_ROOT_ENV, str(root))
    params = root / "params.yaml"
    params.write_text(params.read_text().replace("disable_dropout: false", "disable_dropout: true"))  # per-process masks
    one = train.stage_arm(config.load_stage("training", params), "chile", 0, "scpo")
    torchrun = f"{Path(sys.executable).parent / 'torchrun'} --standalone --nproc_per_node 2"
    two = train.launch_stage_arm(torchrun, params, "chile", 0, "scpo", root / "launched")
    assert two.scores.index.equals(one.scores.index)
    assert (two.scores - one.scores).abs().max() < 1e-3
    assert two.test == pytest.approx(one.test, abs=1e-6, nan_ok=True)
    assert [e["loss"] for e in two.log if "loss" in e] == pytest.approx([e["loss"] for e in one.log if "loss" in e],
                                                                        abs=1e-5)


def test_runs_two_at_a_time_give_exactly_the_results_of_runs_one_after_another(project, tmp_path, monkeypatch):
    """`launch.max_concurrent: 2` (each run its own process, one thread) against the stage's own process running
    them in turn at the same thread count: every reward, accuracy and logged loss is the same, to the last bit."""
    import dataclasses

    import torch

    from scpo import config, train

    root = tmp_path / "copy"
    shutil.copytree(project[0], root)
    env = {**project[1], RUN_ROOT_ENV: str(root)}
    run(["dvc", "repro"], root, env)  # restores what an earlier test's failing run removed (params out of range)
    monkeypatch.setenv(RUN_ROOT_ENV, str(root))
    params = root / "params.yaml"
    cfg = config.load_stage("training", params)
    cfg = {**cfg, "arms": ("full", "scpo"), "seeds": (0,)}
    threads = torch.get_num_threads()
    try:
        one_by_one = train.stage_runs({**cfg, "launch": dataclasses.replace(cfg["launch"], threads_per_run=1)},
                                      params, "chile")
    finally:
        torch.set_num_threads(threads)  # the rest of the session keeps its own count
    at_once = train.stage_runs({**cfg, "launch": dataclasses.replace(cfg["launch"], max_concurrent=2, threads_per_run=1)},
                               params, "chile")
    assert list(at_once) == list(one_by_one) == ["seed0/full", "seed0/scpo"]
    for key, sequential in one_by_one.items():
        assert at_once[key].scores.equals(sequential.scores), key
        # as JSON text: the summary holds NaN where a test set is empty (no disagreement pairs), and NaN != NaN
        assert json.dumps(at_once[key].summary(), sort_keys=True) == json.dumps(sequential.summary(), sort_keys=True), key
        assert [e["loss"] for e in at_once[key].log if "loss" in e] == [e["loss"] for e in sequential.log if "loss" in e]
        assert set(at_once[key].seconds) == set(sequential.seconds)  # the phases came back from the processes
