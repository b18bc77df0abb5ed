"""The comparison: arms differ only in pairs and weights; user-level bootstrap; seeds summarised; profiles."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from scpo import config, evaluation, selection
from scpo.paths import ROOT
from scpo.profile import merged, write_profile

KEEP = torch.tensor([True, False, True, False])
WEIGHT = torch.tensor([0.5, 1.0, 0.2, 1.0], dtype=torch.float64)
INVERSE = torch.tensor([2.0, 1.0, 5.0, 1.0], dtype=torch.float64)


@pytest.mark.parametrize("arm,rows,weights", [
    ("full", [0, 1, 2, 3], [1, 1, 1, 1]),
    ("filter", [0, 2], [1, 1]),
    ("weight", [0, 1, 2, 3], [0.5, 1.0, 0.2, 1.0]),
    ("scpo", [0, 2], [0.5, 0.2]),
    ("inverse", [0, 2], [2.0, 5.0]),
    ("scpo_normalized", [0, 2], [0.5, 0.2]),
])
def test_each_arm_selects_its_pairs_and_weights(arm, rows, weights):
    mask, w = selection.arm_selection(arm, KEEP, WEIGHT, INVERSE)
    assert torch.nonzero(mask).flatten().tolist() == rows
    assert w.tolist() == weights


def test_the_random_arm_trains_on_as_many_pairs_as_the_filter_keeps_with_unit_weights():
    keep = torch.tensor([True, False] * 50)
    masks = [selection.arm_selection("random", keep, torch.full((100,), 0.3), torch.ones(100), seed)[0] for seed in (0, 0, 1)]
    assert all(int(m.sum()) == 50 for m in masks)
    assert torch.equal(masks[0], masks[1]) and not torch.equal(masks[0], masks[2])  # seeded: one subset per run seed
    assert not torch.equal(masks[0], keep)  # not the filter's pairs
    assert selection.arm_selection("random", keep, torch.full((100,), 0.3), torch.ones(100), 0)[1].eq(1.0).all()


def test_only_scpo_normalized_averages_its_loss_over_the_weights():
    assert {name for name, arm in selection.ARMS.items() if arm.normalisation == "weights"} == {"scpo_normalized"}
    assert selection.ARMS["scpo_normalized"].pairs == "kept" and selection.ARMS["scpo_normalized"].weights == "weight"
    with pytest.raises(ValueError, match="normalisation"):
        selection.Arm("kept", None, "sum")


def test_unknown_arm_is_named():
    with pytest.raises(ValueError, match="unknown arm 'dpo'"):
        selection.arm_selection("dpo", KEEP, WEIGHT, INVERSE)


def test_inverse_weights_upweight_pairs_the_global_rm_gets_wrong():
    chosen, rejected = torch.tensor([0.0, 2.0, 0.0]), torch.tensor([1.0, 0.0, 0.0])
    assert torch.allclose(selection.inverse_weights(chosen, rejected), torch.tensor([math.e, 1.0, 1.0]))


def test_bootstrap_resamples_users_not_pairs():
    # one user with 9 correct pairs, one with 1 wrong pair: resampling users gives only 3 outcomes
    correct = np.array([True] * 9 + [False])
    users = np.array(["a"] * 9 + ["b"])
    replicates = evaluation.bootstrap_accuracy(correct, users, 500, np.random.default_rng(0))
    assert set(np.round(replicates, 6)) <= {1.0, 0.9, 0.0}
    assert evaluation.bootstrap_accuracy(correct[:0], users[:0], 5, np.random.default_rng(0)).shape == (5,)


def test_summary_gives_mean_sd_over_seeds_and_an_interval_around_the_mean():
    rows = [{"seed": s, "country": "Chile", "model": "scpo", "test_set": "all", "n_pairs": 10, "n_users": 3,
             "ties": 0, "accuracy": acc, "replicates": np.linspace(acc - 0.1, acc + 0.1, 101)}
            for s, acc in enumerate([0.6, 0.7, 0.8])]
    results = pd.DataFrame(rows)
    summary = evaluation.summarise(pd.concat([results, evaluation.macro_rows(results)]), 0.9)
    chile = summary[summary.country == "Chile"].iloc[0]
    assert chile["mean"] == pytest.approx(0.7) and chile["sd"] == pytest.approx(0.1)
    assert chile["ci_low"] == pytest.approx(0.61) and chile["ci_high"] == pytest.approx(0.79)
    assert summary[summary.country == "macro average"].iloc[0]["mean"] == pytest.approx(0.7)
    assert chile["ties"] == 0
    table = evaluation.summary_markdown(summary, "all", ["global", "scpo"])
    assert "| Chile | n/a | 0.700 ± 0.100 [0.61, 0.79] |" in table


def test_evaluate_reports_every_test_set_and_ties():
    pairs = pd.DataFrame({"pair_id": ["p1", "p2", "p3"], "user_id": ["u1", "u1", "u2"],
                          "chosen_id": ["a", "c", "e"], "rejected_id": ["b", "d", "f"],
                          "global_chosen": [1.0, -1.0, 0.0], "global_rejected": [0.0, 1.0, 2.0],
                          "keep": [False, True, True], "truth_margin": [1.0, -1.0, 0.0]})
    scores = pd.Series({"a": 1.0, "b": 0.0, "c": 0.0, "d": 0.0, "e": 3.0, "f": 1.0})
    out = evaluation.evaluate(pairs, {"m": scores}, 20, np.random.default_rng(0)).set_index("test_set")
    assert out.loc["all", "accuracy"] == pytest.approx(2 / 3) and out.loc["all", "ties"] == 1
    assert out.loc["disagreement", "n_pairs"] == 2 and out.loc["disagreement", "accuracy"] == pytest.approx(0.5)
    assert out.loc["kept", "accuracy"] == pytest.approx(0.5)
    # truth: p1 chosen truly better (right), p2 rejected truly better (tie in scores: wrong), p3 unknown
    assert out.loc["truth", "n_pairs"] == 2 and out.loc["truth", "accuracy"] == pytest.approx(0.5)


def test_arms_and_seeds_are_validated(tmp_path):
    raw = config.read_params(ROOT / "params.yaml")
    with pytest.raises(config.ConfigError, match="unknown arm"):
        config.load_section(raw | {"arms": ["scpo", "ppo"]}, "arms")
    with pytest.raises(config.ConfigError, match="seeds must be"):
        config.load_section(raw | {"seeds": [0, 0]}, "seeds")


def test_profiles_merge_sections_and_replace_countries(tmp_path):
    base = {"training": {"learning_rate": 1.0, "max_steps": 5}, "countries": {"a": "A", "b": "B"}}
    assert merged(base, {"training": {"max_steps": 7}, "countries": {"c": "C"}}) == {
        "training": {"learning_rate": 1.0, "max_steps": 7}, "countries": {"c": "C"}}


@pytest.mark.parametrize("profile", ["profiles/paper.yaml", "profiles/goqa.yaml", "profiles/prism_local.yaml",
                                     "profiles/goqa_local.yaml", "profiles/minilm.yaml", "tests/tiny_profile.yaml"])
def test_shipped_profiles_give_valid_params(profile, tmp_path):
    target = write_profile(ROOT / "params.yaml", ROOT / profile, tmp_path / "params.yaml")
    for stage in config.STAGE_PARAMS:
        config.load_stage(stage, target)


def test_the_gpu_profile_is_valid_and_refused_by_its_first_stage_on_a_machine_without_tf32(tmp_path):
    """profiles/tulu8b.yaml (after paper.yaml) asks for TF32: every section is valid, and on a machine without
    an Ampere-or-newer GPU the first stage refuses it, instead of stage 04 after stages 01-03 ran."""
    import torch

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    for overrides in ("profiles/paper.yaml", "profiles/tulu8b.yaml"):
        raw = merged(raw, yaml.safe_load((ROOT / overrides).read_text()))
    for section in config.SECTIONS:
        config.load_section(raw, section)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    if torch.cuda.is_available() and torch.cuda.get_device_capability()[0] >= 8:
        config.load_stage("model_source", tmp_path / "params.yaml")
    else:
        with pytest.raises(config.ConfigError, match=r"training.tf32 = true needs an NVIDIA GPU of compute "
                                                      r"capability 8.0 or newer \(Ampere\); this machine"):
            config.load_stage("model_source", tmp_path / "params.yaml")


def test_paper_profile_holds_the_study_settings(tmp_path):
    target = write_profile(ROOT / "params.yaml", ROOT / "profiles/paper.yaml", tmp_path / "params.yaml")
    cfg = config.load_stage("training", target)
    training, scoring = cfg["training"], cfg["scoring"]
    assert (training.learning_rate, training.max_steps, training.per_device_train_batch_size) == (1e-6, 1024, 8)
    assert (training.lr_scheduler_type, training.warmup_steps, training.bf16) == ("linear", 0, False)
    assert scoring.model == "OpenAssistant/reward-model-deberta-v3-base"
    assert config.load_stage("filter_weight", target)["filtering"].tau == 0.7
    assert config.load_stage("filter_weight", target)["weighting"].beta == 1.1
    assert set(cfg["countries"].values()) == {"Chile", "South Africa", "New Zealand", "Australia", "Mexico",
                                              "Israel", "Canada"}


def test_profile_command_applies_overrides_in_order(tmp_path, capsys):
    from scpo.profile import main

    assert main([str(ROOT / "profiles/paper.yaml"), str(ROOT / "profiles/goqa.yaml"), "--base", str(ROOT / "params.yaml")]) == 0
    result = yaml.safe_load(capsys.readouterr().out)
    assert result["data"]["dataset"] == "goqa" and result["data"]["input"] == "scpo/goqa.py"
    assert result["scoring"]["model"] == "OpenAssistant/reward-model-deberta-v3-base"  # from paper.yaml


def test_a_new_arm_is_one_line_of_arms_and_one_entry_of_params(monkeypatch, tmp_path):
    """docs/extending.md: an arm that reuses the existing columns touches `selection.ARMS` and `params.yaml` only."""
    monkeypatch.setitem(selection.ARMS, "weight_only_kept_inverse", selection.Arm("all", "inverse_weight"))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["arms"] = [*params["arms"], "weight_only_kept_inverse"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert config.load_stage("training", tmp_path / "params.yaml")["arms"][-1] == "weight_only_kept_inverse"
    mask, w = selection.arm_selection("weight_only_kept_inverse", KEEP, WEIGHT, INVERSE)
    assert mask.all() and w.tolist() == [2.0, 1.0, 5.0, 1.0]
