"""Paired differences between models (scpo/paired.py) and the shared user resamples they rest on."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scpo import evaluation, paired


def held_out_pairs(n_users: int = 12, per_user: int = 4) -> pd.DataFrame:
    users = np.repeat([f"u{i}" for i in range(n_users)], per_user)
    n = len(users)
    return pd.DataFrame({"pair_id": [f"p{i}" for i in range(n)], "user_id": users,
                         "chosen_id": [f"c{i}" for i in range(n)], "rejected_id": [f"r{i}" for i in range(n)],
                         "global_chosen": np.where(np.arange(n) % 3 == 0, -1.0, 1.0), "global_rejected": 0.0})


def scores_right_on(pairs: pd.DataFrame, right: np.ndarray) -> pd.Series:
    """Rewards under which exactly the pairs where `right` is true are ranked correctly."""
    return pd.concat([pd.Series(np.where(right, 1.0, 0.0), index=pairs.chosen_id),
                      pd.Series(np.where(right, 0.0, 1.0), index=pairs.rejected_id)])


def results_for(models: dict[str, list[np.ndarray]], samples: int = 400, seed: int = 0) -> pd.DataFrame:
    """evaluate() rows of each model's per-seed correctness pattern (one list entry per run seed)."""
    pairs, rng, rows = held_out_pairs(), np.random.default_rng(seed), []
    n_seeds = len(next(iter(models.values())))
    for run_seed in range(n_seeds):
        scored = {name: scores_right_on(pairs, pattern[run_seed]) for name, pattern in models.items()}
        rows.append(evaluation.evaluate(pairs, scored, samples, rng).assign(seed=run_seed, country="Chile"))
    return pd.concat(rows, ignore_index=True)


def all_pairs(frame: pd.DataFrame, comparison: str) -> pd.Series:
    return frame.query("test_set == 'all' and comparison == @comparison").iloc[0]


def test_every_model_is_scored_on_the_same_resampled_users():
    pairs = held_out_pairs()
    right = np.arange(len(pairs)) % 2 == 0
    rows = evaluation.evaluate(pairs, {"a": scores_right_on(pairs, right), "b": scores_right_on(pairs, right)},
                               50, np.random.default_rng(1))
    a, b = (rows.query("model == @m and test_set == 'all'").replicates.iloc[0] for m in "ab")
    np.testing.assert_array_equal(a, b)  # independent draws would differ


def test_a_model_against_itself_differs_by_exactly_zero():
    right = np.arange(48) % 2 == 0
    row = all_pairs(paired.paired_differences(results_for({"a": [right] * 3, "b": [right] * 3}), ["a - b"], 0.95,
                                              np.random.default_rng(0)), "a - b")
    assert (row["mean"], row.ci_low, row.ci_high, row.excludes_zero) == (0.0, 0.0, 0.0, False)


def test_a_small_difference_on_the_same_pairs_is_found_where_separate_intervals_overlap():
    """b is right where a is, plus 4 more of 48 pairs: each model's own interval is wide (12 users), their
    difference on the same resampled users is not."""
    base = np.random.default_rng(0).random(48) < 0.5  # users differ: 0-4 of their 4 pairs right
    better = base.copy()
    better[np.flatnonzero(~base)[[0, 8, 16, 24]]] = True
    results = results_for({"a": [base], "b": [better]})
    row = all_pairs(paired.paired_differences(results, ["b - a"], 0.95, np.random.default_rng(0)), "b - a")
    assert row["mean"] == pytest.approx(4 / 48) and row.excludes_zero and row.ci_low > 0
    own = evaluation.summarise(results, 0.95).query("test_set == 'all'").set_index("model")
    assert own.loc["a", "ci_high"] > own.loc["b", "ci_low"]  # unpaired, the intervals overlap


def test_the_seed_level_widens_the_interval_when_runs_disagree():
    """No user-level variation of the difference (b beats a on one pair of every user) but the run seeds
    disagree on its size: the interval spans the seeds' values, not a point."""
    base = np.zeros(48, dtype=bool)
    one_per_user, two_per_user = base.copy(), base.copy()
    one_per_user[::4] = True
    two_per_user[::4] = two_per_user[1::4] = True
    results = results_for({"a": [base] * 3, "b": [one_per_user, two_per_user, one_per_user]})
    row = all_pairs(paired.paired_differences(results, ["b - a"], 0.95, np.random.default_rng(0)), "b - a")
    assert row["mean"] == pytest.approx((0.25 + 0.5 + 0.25) / 3)
    assert row.ci_low == pytest.approx(0.25) and row.ci_high == pytest.approx(0.5)
    assert row.sd_over_seeds > 0 and row.seeds == 3


def test_a_comparison_of_an_untrained_arm_is_an_error_naming_it():
    results = results_for({"a": [np.ones(48, dtype=bool)]})
    with pytest.raises(ValueError, match="comparison 'scpo - a': no results for scpo"):
        paired.paired_differences(results, ["scpo - a"], 0.95, np.random.default_rng(0))


def test_macro_rows_are_compared_like_countries():
    right = np.arange(48) % 2 == 0
    results = results_for({"a": [right] * 2, "b": [~right] * 2})
    both = pd.concat([results, results.assign(country="Mexico")])
    table = paired.paired_differences(pd.concat([both, evaluation.macro_rows(both)]), ["a - b"], 0.95,
                                      np.random.default_rng(0))
    assert set(table.country) == {"Chile", "Mexico", "macro average"}
    assert set(table.test_set) == {"all", "disagreement"}


@settings(max_examples=25, deadline=None)
@given(st.lists(st.booleans(), min_size=48, max_size=48), st.lists(st.booleans(), min_size=48, max_size=48))
def test_swapping_the_models_mirrors_the_difference_and_its_interval(first, second):
    results = results_for({"a": [np.array(first)] * 2, "b": [np.array(second)] * 2}, samples=60)
    ab = all_pairs(paired.paired_differences(results, ["a - b"], 0.9, np.random.default_rng(5)), "a - b")
    ba = all_pairs(paired.paired_differences(results, ["b - a"], 0.9, np.random.default_rng(5)), "b - a")
    assert ab["mean"] == pytest.approx(-ba["mean"])
    assert (ab.ci_low, ab.ci_high) == pytest.approx((-ba.ci_high, -ba.ci_low))


def test_resampled_accuracy_refuses_a_user_it_did_not_resample():
    resamples = evaluation.user_resamples(np.array(["u1", "u2"]), 5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="not among the resampled users"):
        evaluation.resampled_accuracy(np.array([True]), np.array(["u3"]), resamples)


def test_a_resample_without_any_pair_of_a_subset_is_nan_not_an_error():
    ids, draws = np.array(["u1", "u2"]), np.array([[2, 0], [0, 2], [1, 1]])
    values = evaluation.resampled_accuracy(np.array([True]), np.array(["u1"]), (ids, draws))
    assert values[0] == 1.0 and np.isnan(values[1]) and values[2] == 1.0


def test_the_page_marks_intervals_that_exclude_zero():
    right = np.arange(48) % 2 == 0
    results = results_for({"a": [np.ones(48, dtype=bool)], "b": [right]})
    table = paired.paired_differences(results, ["a - b"], 0.95, np.random.default_rng(0))
    page = paired.markdown_page(table, ["a - b"], 1, 0.95, 400)
    assert "| Chile | +0.500 [+0.500, +0.500] * |" in page
    assert page.index("## Test set: all") < page.index("## Test set: disagreement")


def macro_results(models: dict[str, list[np.ndarray]]) -> pd.DataFrame:
    results = results_for(models)
    return pd.concat([results, evaluation.macro_rows(results)], ignore_index=True)


def test_the_best_arm_is_named_with_its_paired_difference_against_scpo():
    base = np.random.default_rng(0).random(48) < 0.5
    better = base | (np.arange(48) % 5 == 0)
    best = paired.best_against(macro_results({"global": [base], "scpo": [base], "full": [better]}), "scpo",
                               ["full", "scpo"], 0.95, np.random.default_rng(0))
    assert (best["best"], best["other"], best["reference"]) == ("full", "full", "scpo")
    assert best["mean"] == pytest.approx(better.mean() - base.mean()) and best["ci_low"] > 0


def test_where_scpo_is_best_the_runner_up_is_compared_and_ties_keep_the_arms_order():
    base = np.random.default_rng(1).random(48) < 0.5
    results = macro_results({"scpo": [base | (np.arange(48) % 7 == 0)], "filter": [base], "weight": [base]})
    best = paired.best_against(results, "scpo", ["weight", "filter", "scpo"], 0.95, np.random.default_rng(0))
    assert (best["best"], best["other"]) == ("scpo", "weight") and best["mean"] < 0
    assert paired.best_against(results, "scpo", ["scpo"], 0.95, np.random.default_rng(0)) is None


def test_the_largest_per_country_gain_is_a_country_not_the_macro_average():
    base = np.zeros(48, dtype=bool)
    results = results_for({"scpo": [np.ones(48, dtype=bool)], "global": [base]})
    both = pd.concat([results, results_for({"scpo": [np.arange(48) % 2 == 0], "global": [base]})
                      .assign(country="Mexico")])
    table = paired.paired_differences(pd.concat([both, evaluation.macro_rows(both)]), ["scpo - global"], 0.95,
                                      np.random.default_rng(0))
    top = paired.largest(table, "scpo - global")
    assert top["country"] == "Chile" and top["mean"] == 1.0
    assert paired.largest(table, "scpo - full") is None
