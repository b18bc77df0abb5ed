"""The analyses' pure functions (scpo/analysis.py, scpo/tradeoff.py, scpo/gallery.py)."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from scpo import analysis, gallery, selection, tradeoff

# ------------------------------------------------------------------------------------------- data efficiency


@given(st.integers(0, 300), st.lists(st.floats(0.01, 1.0), min_size=2, max_size=5), st.integers(0, 2**31))
def test_subsets_of_one_seed_are_nested_and_sized(n, fractions, seed):
    masks = [analysis.nested_subset_mask(n, f, seed) for f in sorted(fractions)]
    for fraction, mask in zip(sorted(fractions), masks):
        assert mask.sum() == (max(1, math.ceil(fraction * n)) if n else 0)
    for smaller, larger in zip(masks, masks[1:]):
        assert not (smaller & ~larger).any()


def test_subsets_depend_on_the_seed_and_refuse_bad_fractions():
    assert not np.array_equal(analysis.nested_subset_mask(100, 0.5, 0), analysis.nested_subset_mask(100, 0.5, 1))
    assert analysis.nested_subset_mask(100, 1.0, 3).all()
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="fraction must be in"):
            analysis.nested_subset_mask(10, bad, 0)


def test_pairs_to_reach_interpolates_in_log_pairs():
    sizes, accuracy = [100, 400, 1600], [0.50, 0.60, 0.70]
    assert analysis.pairs_to_reach(sizes, accuracy, 0.55) == pytest.approx(200.0)  # halfway in log: sqrt(100*400)
    assert analysis.pairs_to_reach(sizes, accuracy, 0.70) == pytest.approx(1600.0)
    assert analysis.pairs_to_reach(sizes, accuracy, 0.40) == 100.0  # reached at the first size already
    assert math.isnan(analysis.pairs_to_reach(sizes, accuracy, 0.71))


def test_pairs_to_reach_takes_the_first_crossing_of_a_bumpy_curve():
    assert analysis.pairs_to_reach([10, 100, 1000], [0.5, 0.7, 0.6], 0.65) == pytest.approx(10 ** 1.75)


def test_pairs_to_reach_refuses_unsorted_or_ragged_input():
    with pytest.raises(ValueError, match="ascending"):
        analysis.pairs_to_reach([10, 5], [0.1, 0.2], 0.1)
    with pytest.raises(ValueError, match="equal"):
        analysis.pairs_to_reach([10, 20], [0.1], 0.1)


def curve(rows):
    return pd.DataFrame(rows, columns=["arm", "fraction", "offered", "trained", "accuracy"])


def test_efficiency_summary_gives_every_reading():
    curves = curve([("full", 0.25, 100, 100, 0.55), ("full", 1.0, 400, 400, 0.65),
                    ("scpo", 0.25, 100, 50, 0.60), ("scpo", 1.0, 400, 200, 0.70)])
    summary = analysis.efficiency_summary(curves, global_accuracy=0.5)
    assert summary["size_ratio"] == 2.0  # full trains on 400, SCPO on 200 pairs
    assert summary["full_pairs_to_target"] == pytest.approx(400.0)
    assert summary["scpo_pairs_to_target"] == pytest.approx(50 * 4 ** 0.5)  # 0.65: halfway from 50 to 200, in log
    assert summary["pairs_ratio"] == pytest.approx(4.0)
    assert summary["offered_ratio"] == pytest.approx(2.0)  # the same crossing, counted in pairs offered
    assert summary["gain_per_pair_ratio"] == pytest.approx((0.2 / 200) / (0.15 / 400))
    assert set(analysis.EFFICIENCY_DEFINITIONS) <= set(summary)


def test_a_crossing_at_the_smallest_subset_is_a_bound_and_the_ratio_says_which_way():
    curves = curve([("full", 0.25, 100, 100, 0.66), ("full", 1.0, 400, 400, 0.65),
                    ("scpo", 0.25, 100, 50, 0.60), ("scpo", 1.0, 400, 200, 0.70)])
    summary = analysis.efficiency_summary(curves, global_accuracy=0.5)
    assert summary["full_pairs_status"] == "at most" and summary["scpo_pairs_status"] == "exact"
    assert summary["pairs_ratio_bound"] == "<=" and summary["offered_ratio_bound"] == "<="
    assert analysis.ratio_bound("exact", "at most") == ">=" and analysis.ratio_bound("at most", "at most") == "undetermined"
    assert analysis.ratio_bound("exact", "not reached") == "not reached"
    assert analysis.crossing_status([1, 2], [0.1, 0.2], 0.3) == "not reached"


def test_efficiency_on_mean_curves_averages_the_seeds_before_the_crossing():
    """Seed 0 crosses at 0.25, seed 1 never before 1.0: the mean curve crosses once, between the two sizes."""
    rows = []
    for seed, low in ((0, 0.66), (1, 0.50)):
        rows += [("Chile", seed, "full", 0.25, 100, 100, 0.60), ("Chile", seed, "full", 1.0, 400, 400, 0.64),
                 ("Chile", seed, "scpo", 0.25, 100, 50, low), ("Chile", seed, "scpo", 1.0, 400, 200, 0.70)]
    curves = pd.DataFrame(rows, columns=["country", "seed", "arm", "fraction", "offered", "trained", "accuracy_all"])
    table = analysis.efficiency_on_mean_curves(curves, pd.DataFrame({"country": ["Chile"] * 2, "seed": [0, 1],
                                                                    "accuracy_all": [0.5, 0.5]}))
    row = table.iloc[0]
    assert row.seeds == 2 and row.scpo_pairs_status == "exact" and row.pairs_ratio_bound == "="
    assert row.scpo_pairs_to_target == pytest.approx(50 * 4 ** ((0.64 - 0.58) / (0.70 - 0.58)))


def test_efficiency_summary_says_nan_when_scpo_never_reaches_full_and_needs_the_whole_set():
    curves = curve([("full", 0.5, 200, 200, 0.6), ("full", 1.0, 400, 400, 0.7),
                    ("scpo", 0.5, 200, 100, 0.6), ("scpo", 1.0, 400, 200, 0.65)])
    assert math.isnan(analysis.efficiency_summary(curves, 0.5)["pairs_ratio"])
    with pytest.raises(ValueError, match="no learning-curve point at fraction 1.0"):
        analysis.efficiency_summary(curves[curves.fraction < 1], 0.5)

# --------------------------------------------------------------------------------------------- the trade-off


def test_best_point_maximises_the_geometric_mean_and_skips_zeros():
    points = pd.DataFrame({"tau": [0.5, 0.7, 1.0, 0.6], "beta": [1.1, 1.1, math.inf, 2.0],
                           "true_country": [0.9, 0.6, 0.2, 0.0], "all_country": [0.5, 0.7, 0.8, 1.0]})
    assert analysis.best_tradeoff_point(points) == 0  # .9 x .5 = .45 beats .6 x .7 = .42; a zero ranks last
    points.loc[1, "true_country"] = 0.7  # .49
    assert analysis.best_tradeoff_point(points) == 1
    with pytest.raises(ValueError):
        analysis.best_tradeoff_point(points.iloc[:0])


def test_best_point_ties_go_to_the_larger_tau():
    points = pd.DataFrame({"tau": [0.6, 0.8], "beta": [1.1, 1.1], "true_country": [0.5, 0.5], "all_country": [0.5, 0.5]})
    assert analysis.best_tradeoff_point(points) == 1


def test_grid_point_pairs_recompute_filter_and_weights():
    pairs = pd.DataFrame({"global_chosen": [0.0, 2.0, -3.0], "global_rejected": [1.0, 0.0, 0.0]})
    off = selection.filter_and_weight(pairs, 1.0, math.inf)
    assert off.keep.all() and (off.weight == 1.0).all()  # (1, inf): full fine-tuning
    point = selection.filter_and_weight(pairs, 0.7, 1.1)
    chosen, rejected = torch.tensor(pairs.global_chosen), torch.tensor(pairs.global_rejected)
    assert point.keep.tolist() == selection.disagreement_mask(chosen, rejected, 0.7).tolist() == [True, False, True]
    assert point.weight.to_numpy() == pytest.approx(selection.pair_weights(chosen, rejected, 1.1).numpy())
    assert tradeoff.beta_label(math.inf) == "inf" and tradeoff.beta_label(1.1) == 1.1

# --------------------------------------------------------------------------------------------------- bias


def test_weight_band_splits_at_one():
    bands = analysis.weight_band(pd.Series([1.0, 0.999, 0.01, 1.0]))
    assert bands.tolist() == ["benign", "divergent", "divergent", "benign"]


def test_home_and_away_gains_read_the_matrix():
    matrix = pd.DataFrame({"Chile": [0.5, 0.8, 0.6], "Mexico": [0.6, 0.65, 0.7], "United States": [0.7, 0.1, 0.1]},
                          index=["global", "chile", "mexico"])
    gains = analysis.home_and_away_gains(matrix, {"chile": "Chile", "mexico": "Mexico"}).set_index("country")
    assert gains.loc["Chile"].tolist() == pytest.approx([0.3, 0.05, 0.25])
    assert gains.loc["Mexico"].tolist() == pytest.approx([0.1, 0.1, 0.0])  # the majority column is ignored

# ------------------------------------------------------------------------------------------ shuffled labels


def labelled_pairs():
    users = {f"u{i}": c for i, c in enumerate(["Chile"] * 4 + ["Mexico"] * 3 + ["Israel"] * 5 + ["United States"] * 3)}
    rows = [{"pair_id": f"{u}-{k}", "user_id": u, "country": c, "split": "test" if int(u[1:]) % 4 == 0 else "train"}
            for u, c in users.items() for k in range(int(u[1:]) % 3 + 1)]
    return pd.DataFrame(rows)


@given(st.integers(0, 2**31))
def test_shuffling_keeps_users_pairs_splits_and_country_sizes(seed):
    pairs = labelled_pairs()
    study = ["Chile", "Mexico", "Israel"]
    shuffled = analysis.shuffle_country_labels(pairs, study, seed)
    assert (shuffled.drop(columns="country") == pairs.drop(columns="country")).all().all()
    per_user = lambda p: p.drop_duplicates("user_id").country  # noqa: E731
    assert per_user(shuffled).value_counts().equals(per_user(pairs).value_counts())
    assert (shuffled.groupby("user_id").country.nunique() == 1).all()  # a user's pairs move together
    majority = pairs.country == "United States"
    assert (shuffled.country[majority] == "United States").all()


def test_shuffling_moves_labels_and_is_seeded():
    pairs, study = labelled_pairs(), ["Chile", "Mexico", "Israel"]
    runs = [analysis.shuffle_country_labels(pairs, study, seed).country for seed in range(5)]
    assert any((run != pairs.country).any() for run in runs)
    assert analysis.shuffle_country_labels(pairs, study, 3).country.equals(runs[3])
    with pytest.raises(ValueError, match="no users"):
        analysis.shuffle_country_labels(pairs, ["Peru"], 0)

# --------------------------------------------------------------------------------------------- examples


def test_examples_are_the_nearest_distinct_pairs_per_country():
    pairs = pd.DataFrame({"pair_id": list("abcde"), "country": ["Chile"] * 4 + ["Mexico"],
                          "agreement": [0.1, 0.3, 0.72, 0.95, 0.5]})
    examples = analysis.examples_near(pairs, "agreement", [0.0, 0.25, 0.3, 1.0])
    chile = examples[examples.country == "Chile"]
    assert chile.pair_id.tolist() == ["a", "b", "c", "d"]  # 0.3's nearest (b) is taken: next nearest is c
    assert examples[examples.country == "Mexico"].pair_id.tolist() == ["e"]  # one pair: used once
    assert analysis.shorten("a  b\nc", 10) == "a b c" and analysis.shorten("x" * 20, 5) == "xxxx…"

# ---------------------------------------------------------------------------------------------- gallery


def test_mean_sd_and_the_gallery_page():
    assert gallery.mean_sd([0.5, 0.7]) == "0.600 ± 0.141"
    assert gallery.mean_sd([0.25], signed=True) == "+0.250"
    assert gallery.mean_sd([float("nan"), None]) == "n/a"
    page = gallery.markdown("Figures", "intro", [gallery.Entry("A", "figures/a.png", "reads 0.5", ("tables/a.md",))])
    assert "## A" in page and "![A](figures/a.png)" in page and "[tables/a.md](tables/a.md)" in page


def test_ratio_of_means_is_undefined_without_a_positive_denominator():
    assert analysis.ratio_of_means([2.0, 4.0], [1.0, 2.0]) == 2.0
    assert math.isnan(analysis.ratio_of_means([1.0, 2.0], [0.001, -0.001]))  # not a ratio in the thousands


def grid_rows(scores_by_point):
    """tradeoff.grid_runs-shaped rows, one country, x = y = the given per-seed accuracies."""
    return pd.DataFrame([{"tau": tau, "beta": beta, "country": "Chile", "seed": seed, "accuracy_disagreement": acc,
                          "accuracy_all": acc} for (tau, beta), accs in scores_by_point.items()
                         for seed, acc in enumerate(accs)])


def test_the_best_grid_point_is_told_apart_only_from_points_below_it_in_every_seed():
    runs = grid_rows({(0.7, 1.1): [0.60, 0.62, 0.61], (1.0, math.inf): [0.40, 0.41, 0.42],  # below in every seed
                      (0.5, 1.1): [0.61, 0.58, 0.62], (0.9, 2.0): [0.0, 0.7, 0.7]})  # crosses it; a log 0
    rng = np.random.default_rng(0)
    assert analysis.points_like_the_best(runs, (0.7, 1.1), 0.95, 2000, rng) == (2, 3)
    assert analysis.points_like_the_best(runs[runs.seed == 0], (0.7, 1.1), 0.95, 100, rng) is None  # one seed


def test_the_best_grid_point_count_reads_points_with_an_empty_test_set():
    # A point whose seed had no disagreement pairs holds None there (read from JSON): an object column, a NaN score
    runs = grid_rows({(0.7, 1.1): [0.60, 0.62], (1.0, math.inf): [0.40, 0.41]}).astype({"accuracy_disagreement": object})
    runs.loc[(runs.tau == 1.0) & (runs.seed == 0), "accuracy_disagreement"] = None
    assert analysis.points_like_the_best(runs, (0.7, 1.1), 0.95, 200, np.random.default_rng(0)) == (1, 1)
