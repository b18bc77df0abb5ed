"""Pairwise accuracy from saved scores (scpo/evaluation.py), checked on small hand-made pairs."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from scpo import evaluation


def hand_pairs() -> pd.DataFrame:
    """Five pairs; the comments give what a model with SCORES gets right.

    p1: global agrees,       not kept,  truth +1.0, model right
    p2: global disagrees,    kept,      truth -0.5, model wrong (but right about the truth)
    p3: global disagrees,    kept,      truth  0.0, model right (truth unknown)
    p4: global tie (1 = 1),  kept,      truth +2.0, model tie -> wrong, wrong about truth
    p5: global disagrees,    kept,      truth +0.7, model right
    """
    return pd.DataFrame({
        "pair_id": ["p1", "p2", "p3", "p4", "p5"],
        "user_id": ["u1", "u1", "u2", "u3", "u3"],
        "chosen_id": ["a", "c", "e", "g", "i"],
        "rejected_id": ["b", "d", "f", "h", "j"],
        "global_chosen": [2.0, -1.0, 0.0, 1.0, -3.0],
        "global_rejected": [0.0, 1.0, 3.0, 1.0, -1.0],
        "keep": [False, True, True, True, True],
        "truth_margin": [1.0, -0.5, 0.0, 2.0, 0.7],
    })


SCORES = pd.Series({"a": 1.0, "b": 0.0, "c": 0.0, "d": 2.0, "e": 5.0, "f": 1.0, "g": 1.0, "h": 1.0,
                    "i": 4.0, "j": -2.0, "unused": 9.0})


# ------------------------------------------------------------------------------------------ pairwise_accuracy

def test_pairwise_accuracy_counts_ties_as_wrong():
    chosen = torch.tensor([3.0, 2.0, 1.0, -1.0])
    rejected = torch.tensor([1.0, 2.0, 0.0, 0.0])
    assert evaluation.pairwise_accuracy(chosen, rejected) == pytest.approx(0.5)
    assert evaluation.pairwise_accuracy(rejected, chosen) == pytest.approx(0.25)  # the tie is wrong both ways


def test_pairwise_accuracy_nan_scores_are_wrong():
    assert evaluation.pairwise_accuracy(torch.tensor([float("nan"), 1.0]), torch.tensor([0.0, 0.0])) == 0.5


def test_pairwise_accuracy_of_no_pairs_is_nan():
    assert math.isnan(evaluation.pairwise_accuracy(torch.zeros(0), torch.zeros(0)))


@pytest.mark.parametrize("shapes", [((3,), (2,)), ((2,), (2, 1)), ((0,), (1,))])
def test_pairwise_accuracy_shape_mismatch_raises(shapes):
    with pytest.raises(ValueError, match="shape mismatch"):
        evaluation.pairwise_accuracy(torch.zeros(shapes[0]), torch.zeros(shapes[1]))


# ------------------------------------------------------------------------------------------ pair_scores

def test_pair_scores_look_up_each_side_in_pair_order():
    chosen, rejected = evaluation.pair_scores(hand_pairs(), SCORES)
    assert chosen.dtype == torch.float64 and rejected.dtype == torch.float64
    assert chosen.tolist() == [1.0, 0.0, 5.0, 1.0, 4.0]
    assert rejected.tolist() == [0.0, 2.0, 1.0, 1.0, -2.0]


def test_pair_scores_work_on_a_filtered_frame_with_a_gapped_index():
    pairs = hand_pairs().iloc[[4, 1]]
    chosen, rejected = evaluation.pair_scores(pairs, SCORES)
    assert chosen.tolist() == [4.0, 0.0] and rejected.tolist() == [-2.0, 2.0]


def test_pair_scores_name_an_unscored_pair():
    scores = SCORES.drop("f")
    with pytest.raises(KeyError, match="1 pairs have unscored utterances, e.g. pair p3"):
        evaluation.pair_scores(hand_pairs(), scores)
    with pytest.raises(KeyError, match="e.g. pair p1"):
        evaluation.pair_scores(hand_pairs(), SCORES.drop("a"))


def test_pair_scores_refuse_an_utterance_scored_twice():
    doubled = pd.concat([SCORES, SCORES.iloc[[0]] + 1])
    with pytest.raises(ValueError, match=f"1 utterance ids appear more than once, e.g. '{SCORES.index[0]}'"):
        evaluation.pair_scores(hand_pairs(), doubled)


def test_pair_scores_read_arrow_string_ids_as_the_pipeline_stores_them():
    pairs = hand_pairs().astype({"chosen_id": "string[pyarrow]", "rejected_id": "string[pyarrow]"})
    scores = SCORES.set_axis(SCORES.index.astype("string[pyarrow]"))
    assert [t.tolist() for t in evaluation.pair_scores(pairs, scores)] == \
        [t.tolist() for t in evaluation.pair_scores(hand_pairs(), SCORES)]


# ------------------------------------------------------------------------------------------ accuracy_report

def test_accuracy_report_by_hand():
    report = evaluation.accuracy_report(hand_pairs(), SCORES)
    assert set(report) == {"n_pairs", "ties", "accuracy_all", "n_disagreement", "accuracy_disagreement",
                           "n_kept", "accuracy_kept", "n_truth", "accuracy_truth"}
    assert report["n_pairs"] == 5 and report["ties"] == 1
    assert report["accuracy_all"] == pytest.approx(3 / 5)  # p1, p3, p5
    assert report["n_disagreement"] == 3  # p2, p3, p5 (p4's global tie is not a disagreement)
    assert report["accuracy_disagreement"] == pytest.approx(2 / 3)  # p3, p5
    assert report["n_kept"] == 4 and report["accuracy_kept"] == pytest.approx(2 / 4)  # p3, p5 of p2..p5
    assert report["n_truth"] == 4  # p3's truth margin 0 is unknown
    assert report["accuracy_truth"] == pytest.approx(3 / 4)  # p1, p2 (rejected truly better), p5


def test_global_rm_report_gets_no_disagreement_right():
    pairs = hand_pairs()
    report = evaluation.accuracy_report(pairs, evaluation.global_scores(pairs))
    assert report["accuracy_disagreement"] == 0.0
    assert report["accuracy_all"] == pytest.approx(1 / 5)  # only p1: global r+ > r-
    assert report["ties"] == 1  # p4


def test_accuracy_report_omits_test_sets_without_their_columns():
    pairs = hand_pairs().drop(columns=["keep"]).assign(truth_margin=np.nan)  # real data: no truth
    report = evaluation.accuracy_report(pairs, SCORES)
    assert "n_kept" not in report and "accuracy_truth" not in report
    assert report["n_disagreement"] == 3


def test_accuracy_report_empty_test_set_is_nan():
    pairs = hand_pairs().assign(keep=False)
    report = evaluation.accuracy_report(pairs, SCORES)
    assert report["n_kept"] == 0 and math.isnan(report["accuracy_kept"])


# ------------------------------------------------------------------------------------------ test_set_outcomes

def test_test_set_outcomes_keep_users_aligned_with_pairs():
    outcomes = evaluation.test_set_outcomes(hand_pairs(), SCORES)
    assert list(outcomes) == ["all", "disagreement", "kept", "truth"]
    correct, users = outcomes["all"]
    assert correct.tolist() == [True, False, True, False, True]
    assert users.tolist() == ["u1", "u1", "u2", "u3", "u3"]
    assert outcomes["disagreement"][1].tolist() == ["u1", "u2", "u3"]
    truth_correct, truth_users = outcomes["truth"]
    assert truth_correct.tolist() == [True, True, False, True] and truth_users.tolist() == ["u1", "u1", "u3", "u3"]


# ------------------------------------------------------------------------------------------ global_scores

def test_global_scores_one_value_per_utterance():
    pairs = pd.DataFrame({"chosen_id": ["a", "c", "a"], "rejected_id": ["b", "a", "d"],
                          "global_chosen": [0.5, 2.0, 0.5], "global_rejected": [-1.0, 0.5, 0.25]})
    scores = evaluation.global_scores(pairs)
    assert scores.name == "global_score"
    assert scores.to_dict() == {"a": 0.5, "b": -1.0, "c": 2.0, "d": 0.25}
    assert list(scores.index) == ["a", "b", "c", "d"]


def test_global_scores_reproduce_the_global_columns():
    pairs = hand_pairs()
    chosen, rejected = evaluation.pair_scores(pairs, evaluation.global_scores(pairs))
    assert chosen.tolist() == pairs.global_chosen.tolist() and rejected.tolist() == pairs.global_rejected.tolist()


# ------------------------------------------------------------------------------------------ cross_country_matrix

def test_cross_country_matrix_by_hand():
    pairs = hand_pairs().assign(country=["Mexico", "Mexico", "Chile", "Chile", "Chile"])
    flipped = -SCORES
    matrix = evaluation.cross_country_matrix(pairs, {"zeta": SCORES, "alpha": flipped})
    assert list(matrix.index) == ["zeta", "alpha"]  # models in the order given
    assert list(matrix.columns) == ["Chile", "Mexico"]  # countries sorted
    assert matrix.loc["zeta", "Mexico"] == pytest.approx(1 / 2)  # p1 right, p2 wrong
    assert matrix.loc["zeta", "Chile"] == pytest.approx(2 / 3)  # p3, p5 right, p4 tie
    assert matrix.loc["alpha", "Mexico"] == pytest.approx(1 / 2)  # p2 right
    assert matrix.loc["alpha", "Chile"] == pytest.approx(0.0)  # p3, p5 wrong, p4 still a tie


# ------------------------------------------------------------------------------------------ bootstrap / evaluate

def test_bootstrap_of_equal_users_is_constant_and_reproducible():
    correct = np.array([True, False, True, False])
    users = np.array(["a", "a", "b", "b"])
    first = evaluation.bootstrap_accuracy(correct, users, 50, np.random.default_rng(3))
    assert first.shape == (50,) and np.allclose(first, 0.5)
    correct = np.array([True, True, False, False, True])
    users = np.array(["a", "a", "b", "b", "c"])
    again = [evaluation.bootstrap_accuracy(correct, users, 30, np.random.default_rng(7)) for _ in range(2)]
    assert np.array_equal(*again)
    assert np.isnan(evaluation.bootstrap_accuracy(correct[:0], users[:0], 4, np.random.default_rng(0))).all()


def test_evaluate_rows_match_accuracy_report():
    pairs = hand_pairs()
    out = evaluation.evaluate(pairs, {"m": SCORES}, 20, np.random.default_rng(0)).set_index("test_set")
    report = evaluation.accuracy_report(pairs, SCORES)
    for test_set in evaluation.TEST_SETS:
        assert out.loc[test_set, "accuracy"] == pytest.approx(report[f"accuracy_{test_set}"])
    assert out.loc["all", "n_users"] == 3 and out.loc["truth", "n_users"] == 2
    assert out.loc["all", "ties"] == 1 and pd.isna(out.loc["kept", "ties"])
    assert all(len(r) == 20 for r in out.replicates)


# ------------------------------------------------------------------------------------------ macro average / table

def results_frame() -> pd.DataFrame:
    rows = []
    for seed, (chile, mexico) in enumerate([(0.5, 1.0), (0.7, 0.9)]):
        for country, acc, n in (("Chile", chile, 10), ("Mexico", mexico, 2)):
            rows.append({"seed": seed, "country": country, "model": "scpo", "test_set": "all", "n_pairs": n,
                         "n_users": 3, "ties": 0, "accuracy": acc, "replicates": np.full(11, acc)})
    return pd.DataFrame(rows)


def test_macro_rows_are_unweighted_means_over_countries():
    macro = evaluation.macro_rows(results_frame()).set_index("seed")
    assert set(macro.country) == {"macro average"}
    assert macro.loc[0, "accuracy"] == pytest.approx(0.75)  # not the pair-weighted 0.583
    assert macro.loc[1, "accuracy"] == pytest.approx(0.8)
    assert macro.loc[0, "n_pairs"] == 12 and macro.loc[0, "n_users"] == 6
    assert np.allclose(macro.loc[0, "replicates"], 0.75)


def test_summarise_and_markdown_table():
    results = results_frame()
    summary = evaluation.summarise(pd.concat([results, evaluation.macro_rows(results)]), 0.95)
    macro = summary[summary.country == "macro average"].iloc[0]
    assert macro["seeds"] == 2 and macro["mean"] == pytest.approx(0.775)
    assert macro["sd"] == pytest.approx(np.std([0.75, 0.8], ddof=1))
    assert macro["ci_low"] == pytest.approx(0.775) and macro["ci_high"] == pytest.approx(0.775)
    table = evaluation.summary_markdown(summary, "all", ["global", "scpo"])
    lines = table.strip().splitlines()
    assert lines[0] == "| country | global | scpo |"
    assert lines[2].startswith("| Chile | n/a | 0.600 ± 0.141")
    assert lines[-1].startswith("| macro average | n/a | 0.775 ± 0.035")


def test_summarise_single_seed_has_no_sd():
    summary = evaluation.summarise(results_frame()[lambda f: f.seed == 0], 0.9)
    assert summary.seeds.tolist() == [1, 1] and summary.sd.isna().all()


# ------------------------------------------------------------------------------------------ exact values and edges

def test_pairwise_accuracy_of_a_single_pair_is_zero_or_one():
    assert evaluation.pairwise_accuracy(torch.tensor([2.0]), torch.tensor([1.0])) == 1.0
    assert evaluation.pairwise_accuracy(torch.tensor([0.0]), torch.tensor([1.0])) == 0.0


def test_evaluate_rows_have_the_documented_columns_and_model_names():
    out = evaluation.evaluate(hand_pairs(), {"zeta": SCORES, "alpha": -SCORES}, 3, np.random.default_rng(0))
    assert list(out.columns) == ["model", "test_set", "n_pairs", "n_users", "ties", "accuracy", "replicates"]
    assert out.model.tolist() == ["zeta"] * 4 + ["alpha"] * 4  # models in the order given, then test sets
    assert out.test_set.tolist() == list(evaluation.TEST_SETS) * 2
    # alpha scores -s: right on p2 only (p4 stays a tie); on the truth set p3 (margin 0) is left out:
    # p1 wrong, p2 wrong (rejected truly better, alpha prefers chosen), p4 tie wrong, p5 wrong
    assert out.accuracy.tolist()[4:] == pytest.approx([1 / 5, 1 / 3, 1 / 4, 0.0])


def test_evaluate_an_empty_test_set_is_nan_without_a_numpy_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the mean of an empty slice would warn, and is not taken
        out = evaluation.evaluate(hand_pairs().assign(keep=False), {"m": SCORES}, 4,
                                  np.random.default_rng(0)).set_index("test_set")
    assert out.loc["kept", "n_pairs"] == 0 and math.isnan(out.loc["kept", "accuracy"])


def summary_rows(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["country", "model", "test_set", "mean", "sd", "ci_low", "ci_high"])


def test_summary_markdown_puts_the_macro_average_last_and_writes_n_a_for_missing_cells():
    nan = float("nan")
    summary = summary_rows([
        ("peru", "scpo", "all", 0.5, 0.1, 0.4, 0.6),
        ("chile", "scpo", "all", nan, nan, nan, nan),  # no pairs in this test set: n/a, not "nan ± nan"
        ("macro average", "scpo", "all", 0.5, 0.1, 0.45, 0.55),
        ("chile", "scpo", "kept", 0.9, 0.0, 0.9, 0.9),  # another test set: left out
    ])
    table = evaluation.summary_markdown(summary, "all", ["scpo", "global"])
    # lower-case names sort after "macro average" ('p' > 'm'): the macro row is still last
    assert table == ("| country | scpo | global |\n"
                     "|---|---|---|\n"
                     "| chile | n/a | n/a |\n"
                     "| peru | 0.500 ± 0.100 [0.40, 0.60] | n/a |\n"
                     "| macro average | 0.500 ± 0.100 [0.45, 0.55] | n/a |\n")


def test_accuracy_report_of_an_empty_test_set_is_nan_without_a_numpy_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # np.mean of an empty array would warn: it must not be taken
        report = evaluation.accuracy_report(hand_pairs().assign(keep=False), SCORES)
    assert report["n_kept"] == 0 and math.isnan(report["accuracy_kept"])


def test_pair_scores_are_float64_even_for_integer_scores():
    chosen, rejected = evaluation.pair_scores(hand_pairs(), SCORES.astype(int))
    assert chosen.dtype == torch.float64 and rejected.dtype == torch.float64
    assert chosen.tolist() == [1.0, 0.0, 5.0, 1.0, 4.0]


def test_kept_set_from_a_zero_one_keep_column():
    # keep as 0/1 integers (as a file may hold it) selects p2..p5, not rows 0 and 1 by position
    correct, users = evaluation.test_set_outcomes(hand_pairs().assign(keep=[0, 1, 1, 1, 1]), SCORES)["kept"]
    assert correct.tolist() == [False, True, False, True] and users.tolist() == ["u1", "u2", "u3", "u3"]


def seeds_frame() -> pd.DataFrame:
    """Two seeds given in reverse order (seed 1 first), one country each with varying bootstrap replicates."""
    rows = []
    for seed, chile, mexico in ((1, 0.7, 0.9), (0, 0.5, 1.0)):
        for country, acc, n in (("Mexico", mexico, 2), ("Chile", chile, 10)):
            rows.append({"seed": seed, "country": country, "model": "scpo", "test_set": "all", "n_pairs": n,
                         "n_users": 3, "ties": 1, "accuracy": acc, "replicates": np.array([acc - 0.1, acc, acc + 0.1])})
    return pd.DataFrame(rows)


def test_macro_rows_sorted_by_seed_with_their_columns_and_per_replicate_means():
    macro = evaluation.macro_rows(seeds_frame())
    assert list(macro.columns) == ["seed", "country", "model", "test_set", "n_pairs", "n_users", "ties", "accuracy",
                                   "replicates"]
    assert macro.seed.tolist() == [0, 1] and macro.ties.isna().all()
    # seed 0: (0.5 + 1.0) / 2 = 0.75 per replicate position: (0.4 + 0.9) / 2, (0.5 + 1.0) / 2, (0.6 + 1.1) / 2
    np.testing.assert_allclose(macro.replicates.iloc[0], [0.65, 0.75, 0.85], rtol=1e-12)
    np.testing.assert_allclose(macro.replicates.iloc[1], [0.7, 0.8, 0.9], rtol=1e-12)  # (0.7 + 0.9) / 2 = 0.8


def test_summarise_rows_sorted_with_their_columns_and_ties_summed():
    summary = evaluation.summarise(pd.concat([seeds_frame(), evaluation.macro_rows(seeds_frame())]), 0.5)
    assert list(summary.columns) == ["country", "model", "test_set", "seeds", "n_pairs", "ties", "mean", "sd",
                                     "ci_low", "ci_high"]
    assert summary.country.tolist() == ["Chile", "Mexico", "macro average"]  # sorted, not in input order
    assert summary.ties.tolist() == [2, 2, 0]  # one tie per seed; the macro rows have none (None, not 1)
    assert summary.n_pairs.tolist() == [10.0, 2.0, 12.0]


def test_summarise_a_test_set_without_pairs_is_nan_without_a_numpy_warning():
    import warnings

    rows = seeds_frame().assign(accuracy=np.nan, replicates=[np.full(3, np.nan)] * 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nanmean / nanquantile of all-NaN values would warn: never taken
        summary = evaluation.summarise(rows, 0.9)
    assert summary[["mean", "sd", "ci_low", "ci_high"]].isna().all().all() and summary.seeds.tolist() == [2, 2]
