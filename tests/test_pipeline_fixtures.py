"""The whole DVC pipeline, tiny profile, on each real-schema fixture through the documented local-snapshot
route (profiles/prism_local.yaml, profiles/goqa_local.yaml), in a scratch copy of the repo."""

import json
import shutil

import pytest
import yaml

from pipeline import ONE_AT_A_TIME, TINY_STAGES, repro, scratch_project, stages_run
from scpo.paths import ROOT

pytestmark = pytest.mark.pipeline


@pytest.fixture(scope="module", params=["prism", "goqa"])
def project(request, tmp_path_factory):
    dataset = request.param
    root = tmp_path_factory.mktemp(f"scpo-{dataset}")
    shutil.copytree(ROOT / "tests/fixtures" / dataset, root / "data" / dataset)  # the snapshot a user fetched
    env = scratch_project(root, "tests/tiny_profile.yaml", f"profiles/{dataset}_local.yaml", ONE_AT_A_TIME)
    code, output = repro(root, env)
    assert code == 0, output[-4000:]
    return dataset, root, env, output


def trained_arms(root):
    """The arms the scratch project's params train (every arm of `scpo.selection.ARMS` by default)."""
    arms = yaml.safe_load((root / "params.yaml").read_text())["arms"]
    assert {"full", "scpo", "random", "scpo_normalized"} <= set(arms)
    return arms


def test_every_stage_runs_on_the_fixture(project):
    _, root, _, output = project
    assert stages_run(output) == TINY_STAGES
    for arm in trained_arms(root):
        assert (root / f"artifacts/04_training/chile/seed0/{arm}/model/config.json").is_file()
    results = (root / "reports/tables/05_results.md").read_text()
    assert "| Chile |" in results and "Edited ratio" in results
    assert "## The tau × beta trade-off" in (root / "reports/README.md").read_text()


def test_data_metrics_count_what_was_dropped(project):
    dataset, root, _, _ = project
    metrics = json.loads((root / "reports/metrics/01_data-seed0.json").read_text())
    assert metrics["dataset"] == dataset and metrics["source"].endswith(
        "survey.jsonl" if dataset == "prism" else "global_opinions.csv")
    chile = metrics["countries"]["Chile"]
    assert chile["train_pairs"] > 0 and chile["test_pairs"] > 0
    if dataset == "prism":
        assert (metrics["survey_only_users"], metrics["empty_responses"]) == (1, 1) and metrics["ties_dropped"] > 0
    else:
        assert metrics["dropped"] == {"rows_without_question": 1, "non_national_samples": 8,
                                      "duplicate_country_labels": 0, "all_zero_shares": {"Germany": 1},
                                      "repeated_question_rows": 0, "repeated_question_country_entries": 0,
                                      "questions_with_repeated_options": 0, "country_labels_normalised": 0,
                                      "non_substantive_policy": "keep", "non_substantive_options": 13,
                                      "questions_without_two_substantive_options": 0}
        assert metrics["split_units"] == "questions"


def test_goqa_reports_the_distributional_similarity(project):
    dataset, root, _, _ = project
    report = json.loads((root / "reports/metrics/05_bias_analysis.json").read_text())
    if dataset == "prism":
        assert report["goqa_similarity"] is None
        return
    cells = report["goqa_similarity"]
    assert set(cells) == {f"Chile:{m}" for m in ("global", *trained_arms(root))}
    assert all(0.0 <= cell["mean"] <= 1.0 for cell in cells.values())
    assert "Jensen–Shannon" in (root / "reports/tables/05_results.md").read_text()


def test_a_malformed_row_stops_the_data_stage_naming_file_row_and_field(project):
    dataset, root, env, _ = project
    snapshot = root / "data" / dataset
    name = "utterances.jsonl" if dataset == "prism" else "global_opinions.csv"
    original = (snapshot / name).read_text()
    lines = original.splitlines(keepends=True)
    if dataset == "prism":
        row = json.loads(lines[4])
        row["score"] = 250
        lines[4] = json.dumps(row) + "\n"
        expected = f"{snapshot / name}: row 5: field 'score' = 250 is not a valid int 1..100"
    else:
        lines[3] = lines[3].replace("defaultdict(<class 'list'>, {", "defaultdict(<class 'list'>, {'Japan': [0.5], ", 1)
        expected = f"{snapshot / name}: row 3: field 'selections', country 'Japan': expected 5 shares"
    (snapshot / name).write_text("".join(lines))
    try:
        code, output = repro(root, env)
        assert code != 0 and expected in output and "failed to reproduce 'data@0'" in output
    finally:
        (snapshot / name).write_text(original)
