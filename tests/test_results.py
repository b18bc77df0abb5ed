"""Stage 05 and 08's numbers (scpo/results.py) on a hand-built world whose every accuracy is worked out here."""

import numpy as np
import pandas as pd
import pytest

from scpo import results

COUNTRIES = {"chile": "Chile", "mexico": "Mexico"}


def pair(pair_id, country, split, user, global_margin, weight, keep=True):
    """A pair whose chosen text is `<id>+` and rejected `<id>-`; the global RM's margin is r+ - r-."""
    return {"pair_id": pair_id, "country": country, "split": split, "user_id": user, "chosen_id": f"{pair_id}+",
            "rejected_id": f"{pair_id}-", "global_chosen": global_margin, "global_rejected": 0.0, "weight": weight,
            "keep": keep}


# Chile's test pairs c1, c2 and Mexico's m1, m2; the global RM agrees with c1 and m1 (margin > 0, w = 1) and
# disagrees with c2 and m2 (w < 1). Training pairs only matter for the edited ratio.
PAIRS = pd.DataFrame([pair("c1", "Chile", "test", "u1", 1.0, 1.0), pair("c2", "Chile", "test", "u2", -1.0, 0.4),
                      pair("m1", "Mexico", "test", "u3", 2.0, 1.0), pair("m2", "Mexico", "test", "u4", -2.0, 0.2),
                      pair("t1", "Chile", "train", "u5", 1.0, 1.0, keep=False),
                      pair("t2", "Chile", "train", "u5", -1.0, 0.4, keep=True),
                      pair("t3", "Mexico", "train", "u6", -1.0, 0.4, keep=True)])


def rewards(correct):
    """Rewards that rank each listed pair right (chosen 1, rejected 0) and every other pair wrong."""
    ids = ["c1", "c2", "m1", "m2", "t1", "t2", "t3"]
    return pd.Series({f"{i}{sign}": (1.0 if (i in correct) == (sign == "+") else 0.0)
                      for i in ids for sign in "+-"}, name="reward")


# Chile's scpo model gets both Chilean pairs right and Mexico's m1 only; Mexico's scpo model gets m2 (the pair
# the global RM gets wrong) and nothing else; full fine-tuning gets every pair right.
SCORES = {(0, "chile"): pd.DataFrame({"scpo": rewards({"c1", "c2", "m1"}), "full": rewards({"c1", "c2", "m1", "m2"})}),
          (0, "mexico"): pd.DataFrame({"scpo": rewards({"m2"}), "full": rewards({"c1", "c2", "m1", "m2"})})}
RUNS = results.Runs(COUNTRIES, (0,), {0: PAIRS}, SCORES)


def test_models_pair_the_global_rm_with_each_arm_of_the_country():
    models = RUNS.models(0, "chile", ["scpo"], RUNS.test(0))
    assert list(models) == ["global", "scpo"]
    assert models["global"]["c2+"] == -1.0 and models["global"]["c2-"] == 0.0  # from the pairs' global columns


def test_accuracy_results_per_country_model_and_test_set():
    table = results.accuracy_results(RUNS, ["scpo", "full"], 10, np.random.default_rng(0))
    cell = table.set_index(["country", "model", "test_set"]).accuracy
    assert cell["Chile", "global", "all"] == 0.5  # right on c1, wrong on c2
    assert cell["Chile", "global", "disagreement"] == 0.0  # c2 only
    assert cell["Chile", "scpo", "all"] == 1.0 and cell["Mexico", "scpo", "all"] == 0.5
    assert cell["Mexico", "scpo", "disagreement"] == 1.0 and cell["Mexico", "global", "all"] == 0.5


def test_cross_country_subtracts_the_global_rm_seed_by_seed():
    bias = results.cross_country(RUNS, "scpo")
    # Chile's model: 1.0 on Chile, 0.5 on Mexico (m1 right, m2 wrong); the global RM 0.5 on each
    assert bias.matrix.loc["chile", "Chile"] == 1.0 and bias.matrix.loc["chile", "Mexico"] == 0.5
    assert bias.delta.loc["chile", "Chile"] == 0.5 and bias.delta.loc["chile", "Mexico"] == 0.0
    # Mexico's model: 0 on Chile (both wrong), 0.5 on Mexico
    assert bias.delta.loc["mexico", "Chile"] == -0.5 and bias.delta.loc["mexico", "Mexico"] == 0.0
    assert list(bias.matrix.columns) == ["Chile", "Mexico"] and "global" in bias.matrix.index


def test_home_and_away_gains_from_the_delta_matrix():
    gains = results.home_and_away(results.cross_country(RUNS, "scpo").delta, COUNTRIES)
    assert gains["own"] == {"Chile": 0.5, "Mexico": 0.0}
    assert gains["others"] == {"Chile": 0.0, "Mexico": -0.5}
    assert gains["majority"] == [] and np.isnan(gains["on_majority"])


def test_band_accuracy_splits_held_out_pairs_by_weight():
    bands = results.band_accuracy(RUNS, ["scpo"]).set_index(["country", "band", "model"])
    assert bands.loc[("Chile", "benign", "global"), "accuracy"] == 1.0  # c1: the global RM agrees
    assert bands.loc[("Chile", "divergent", "global"), "accuracy"] == 0.0
    assert bands.loc[("Mexico", "divergent", "scpo"), "accuracy"] == 1.0  # m2 right
    assert bands.loc[("Mexico", "benign", "scpo"), "accuracy"] == 0.0 and (bands.n_pairs == 1).all()


def test_edited_ratio_counts_training_kept_and_test_disagreement():
    ratio = results.edited_ratio(RUNS)
    assert ratio.loc["Chile"].tolist() == [0.5, 0.5]  # t2 of t1, t2 kept; c2 of c1, c2 wrong
    assert ratio.loc["Mexico"].tolist() == [1.0, 0.5]


def test_label_control_gains_and_divergent_accuracy_per_condition():
    control = results.label_control({"real labels": RUNS}, ["scpo"]).set_index("country")
    # Chile: own gain +0.5, mean gain elsewhere 0 -> home advantage +0.5; divergent c2 right
    assert control.loc["Chile", ["own_gain", "home_advantage", "divergent_accuracy"]].tolist() == [0.5, 0.5, 1.0]
    # Mexico: own gain 0, elsewhere -0.5 -> +0.5; divergent m2 right
    assert control.loc["Mexico", ["own_gain", "home_advantage", "divergent_accuracy"]].tolist() == [0.0, 0.5, 1.0]


def test_accuracy_against_truth_is_nan_without_a_planted_truth():
    truth = results.accuracy_against_truth(RUNS, ["scpo"]).set_index("model")
    assert truth.loc["scpo", "labels"] == pytest.approx(0.75)  # mean of Chile 1.0 and Mexico 0.5
    assert truth["planted truth"].isna().all()


def test_headline_pairs_scpo_with_full_by_seed():
    table = results.accuracy_results(RUNS, ["scpo", "full"], 10, np.random.default_rng(0))
    from scpo import evaluation

    summary = evaluation.summarise(pd.concat([table, evaluation.macro_rows(table)]), 0.95)
    headline = results.headline(summary, table, ["scpo", "full"])
    assert headline["accuracy"]["all"] == {"full": 1.0, "global": 0.5, "scpo": 0.75}
    assert headline["scpo_minus_full"]["all"] == {"mean": -0.25, "per_seed": [-0.25]}  # SCPO loses here


def test_home_advantage_interval_from_the_per_seed_matrices_by_hand():
    # Seed 1: Chile's model gets c1 only (home gain 0, on Mexico -0.5); Mexico's gets m1 and m2 (home +0.5, on
    # Chile -0.5). Home advantage, mean over countries: seed 0 (0.5 + 0.5) / 2 = 0.5, seed 1 (0.5 + 1.0) / 2 = 0.75.
    scores = SCORES | {(1, "chile"): pd.DataFrame({"scpo": rewards({"c1"})}),
                       (1, "mexico"): pd.DataFrame({"scpo": rewards({"m1", "m2"})})}
    bias = results.cross_country(results.Runs(COUNTRIES, (0, 1), {0: PAIRS, 1: PAIRS}, scores), "scpo")
    assert bias.seed_deltas[1].loc["chile", "Mexico"] == -0.5 and bias.seed_deltas[1].loc["mexico", "Mexico"] == 0.5
    intervals = results.home_and_away_intervals(bias, COUNTRIES, 0.95, 400, np.random.default_rng(0))
    assert set(intervals) == {"home_advantage"}  # no majority country among these test pairs
    mean, low, high = intervals["home_advantage"]
    assert mean == pytest.approx(0.625) and 0.5 <= low < high <= 0.75  # a seed bootstrap of {0.5, 0.75}
    one_seed = results.CrossCountry(bias.matrix, bias.matrix_sd, bias.delta, bias.delta_sd, bias.seed_deltas[:1])
    assert results.home_and_away_intervals(one_seed, COUNTRIES, 0.95, 400, np.random.default_rng(0)) == {}
