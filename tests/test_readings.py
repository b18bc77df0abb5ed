"""The gallery's sentences (scpo/readings.py): exact words for numbers where SCPO wins, loses or ties."""

import math

import pandas as pd

import pytest

from scpo import readings


def test_cross_country_claims_a_home_advantage_and_a_majority_cost_only_where_their_intervals_exclude_zero():
    text = readings.cross_country("scpo", 0.05, 0.01, ["United States"], -0.02,
                                  {"home_advantage": (0.04, 0.01, 0.07), "majority": (-0.02, -0.03, -0.01)})
    assert text == ("On average over countries and seeds, each country's scpo model changes accuracy by +0.050 on its "
                    "own country's held-out pairs, by +0.010 on the other countries' and by -0.020 on the majority "
                    "countries' (United States) relative to the global RM. Home minus elsewhere +0.040 [+0.010, "
                    "+0.070]: it gains more at home than elsewhere; on the majority countries -0.020 [-0.030, -0.010]: "
                    "it loses accuracy on the majority countries, a cost of specialising (bootstrap over run seeds).")


def test_cross_country_says_no_effect_found_where_the_intervals_include_zero():
    text = readings.cross_country("scpo", 0.05, 0.01, ["United Kingdom"], -0.02,
                                  {"home_advantage": (0.04, -0.01, 0.07), "majority": (-0.02, -0.05, 0.01)})
    assert "no home advantage found (the interval includes 0)" in text
    assert "no change found on the majority countries (the interval includes 0)" in text
    assert "gains more at home" not in text and "cost of specialising" not in text
    below = readings.cross_country("scpo", 0.0, 0.02, [], math.nan, {"home_advantage": (-0.02, -0.03, -0.01)})
    assert "it gains less at home than elsewhere" in below and "majority" not in below
    assert readings.cross_country("scpo", 0.02, 0.03, ["United Kingdom"], 0.001, {"majority": (0.01, 0.005, 0.02)}
                                  ).endswith("it gains on the majority countries (bootstrap over run seeds).")


def test_cross_country_claims_nothing_without_intervals():
    text = readings.cross_country("scpo", 0.05, 0.01, ["United States"], -0.02)
    assert text.endswith("No interval (fewer than two run seeds): no home advantage or majority cost is claimed.")


def efficiency_rows(**columns):
    return pd.DataFrame({"country": ["Chile", "Israel", "Mexico"], **columns})


def test_data_efficiency_puts_the_annotation_budget_first_and_marks_every_censored_ratio():
    rows = efficiency_rows(offered_ratio=[1.5, 2.0, math.nan], offered_ratio_bound=["=", ">=", "not reached"],
                           pairs_ratio=[3.0, 4.0, math.nan], pairs_ratio_bound=["=", "undetermined", "not reached"],
                           size_ratio=[2.0, 4.0, 1.25])
    text = readings.data_efficiency(rows)
    assert text == ("Annotated pairs needed to reach full fine-tuning's all-pairs accuracy, full's ÷ SCPO's (seed-mean "
                    "curves; '≥'/'≤': a bound, as one curve got there at its smallest subset): 1.50 (Chile); ≥ 2.00 "
                    "(Israel); not reached in Mexico — a measured ratio in 1 of 3 countries. Counting the pairs SCPO "
                    "trains on instead: 3.00 (Chile); undetermined in Israel; not reached in Mexico. SCPO trains on "
                    "25%–80% of a country's pairs (size ratio 1.25–4.00×): that is the filter's share kept, not a "
                    "measure of how fast it learns.")


def test_data_efficiency_never_reports_a_bound_as_a_measurement():
    rows = efficiency_rows(offered_ratio=[1.2, 1.1, 0.9], offered_ratio_bound=["<=", "<=", "<="],
                           pairs_ratio=[2.0, 2.0, 2.0], pairs_ratio_bound=["<=", "<=", "<="], size_ratio=[2.0, 2.0, 2.0])
    text = readings.data_efficiency(rows)
    assert "≤ 1.20 (Chile), ≤ 1.10 (Israel), ≤ 0.90 (Mexico) — a measured ratio in 0 of 3 countries" in text


def test_tradeoff_reports_best_configured_and_the_unweighted_filter_effect():
    best = {"tau": 0.5, "beta": 1.1, "x_mean": 0.41, "y_mean": 0.72}
    text = readings.tradeoff(best, {"x_mean": 0.3, "y_mean": 0.7}, 0.7, 1.1,
                             {"x_mean": 0.2, "y_mean": 0.73}, {"x_mean": 0.4, "y_mean": 0.71}, 0.5)
    assert text.startswith("Best by the stated rule: tau 0.5, beta 1.1 (true-country 0.410, all-country 0.720); "
                           "params' tau 0.7, beta 1.1: 0.300, 0.700. Without weights, filtering at tau 0.5")
    assert "true-country accuracy 0.200 → 0.400 and all-country 0.730 → 0.710: the trade-off the study reports" in text


def test_tradeoff_never_quotes_the_study_beside_numbers_that_contradict_it():
    best = {"tau": 0.5, "beta": math.inf, "x_mean": 0.468, "y_mean": 0.64}
    text = readings.tradeoff(best, None, 0.7, 1.1, {"x_mean": 0.224, "y_mean": 0.627},
                             {"x_mean": 0.468, "y_mean": 0.64}, 0.5)
    assert text.endswith("all-country 0.627 → 0.640: both rise, which is not the trade-off the study reports "
                         "(true-country up, all-country down).")
    assert readings.filter_direction(-0.1, -0.1).startswith("both fall")
    assert readings.filter_direction(-0.1, 0.1).startswith("true-country falls and all-country rises")


def test_tradeoff_without_the_configured_or_unweighted_points_says_only_the_best():
    best = {"tau": 1.0, "beta": math.inf, "x_mean": 0.2, "y_mean": 0.7}
    assert readings.tradeoff(best, None, 0.7, 1.1, None, None, 1.0) == (
        "Best by the stated rule: tau 1, beta inf (true-country 0.200, all-country 0.700).")


def test_label_control_sets_real_beside_shuffled_with_seed_sd():
    text = readings.label_control("scpo", {"real labels": [0.02, 0.04], "shuffled labels": [0.0]},
                                  {"real labels": [0.1], "shuffled labels": [0.05, 0.07]},
                                  {"real labels": [0.01, 0.03]})
    # mean ± sd (ddof 1) over seeds: [0.02, 0.04] -> 0.030 ± 0.014; one value has no sd
    assert text == ("scpo: home advantage +0.030 ± 0.014 with real labels, +0.000 with shuffled ones; own-country gain "
                    "over the global RM +0.100 vs +0.060 ± 0.014; weighting effect on divergent pairs (SCPO − "
                    "filter-only) +0.020 ± 0.014 (real labels).")


def test_planted_truth_names_the_best_arm_even_when_it_loses_to_the_global_rm():
    text = readings.planted_truth({"global": 0.8, "full": 0.7, "scpo": 0.75}, ["global", "full", "scpo"])
    assert text == ("Against the planted preferences (macro, mean over seeds): global 0.800, full 0.700, scpo 0.750; "
                    "highest mean: scpo (-0.050 over the global RM), a mean without an interval: which arms differ is "
                    "in the paired table's 'truth' test set.")


def test_planted_truth_breaks_ties_alphabetically():
    assert "highest mean: filter (+0.100" in readings.planted_truth({"global": 0.6, "scpo": 0.7, "filter": 0.7},
                                                                ["global", "scpo", "filter"])


def test_main_results_say_plainly_when_scpo_loses_to_full_fine_tuning():
    differences = [{"comparison": "scpo - global", "mean": 0.041, "ci_low": 0.02, "ci_high": 0.06},
                   {"comparison": "scpo - full", "mean": -0.007, "ci_low": -0.012, "ci_high": -0.002}]
    best = {"best": "full", "other": "full", "reference": "scpo", "mean": 0.007, "ci_low": 0.002, "ci_high": 0.012}
    top = {"country": "Mexico", "mean": 0.05, "ci_low": 0.03, "ci_high": 0.065}
    text = readings.main_results({"global": 0.6, "full": 0.726, "scpo": 0.719}, differences, best, top, 3, 0.95)
    assert text == (
        "Macro accuracy on all held-out pairs (mean over 3 run seed(s)): global 0.600, full 0.726, scpo 0.719. "
        "Paired differences, macro average [95% two-level bootstrap over seeds and users]: scpo − global +0.041 "
        "[+0.020, +0.060]: scpo scores above global; scpo − full -0.007 [-0.012, -0.002]: scpo scores below full. "
        "The best arm is full (full − scpo +0.007 [+0.002, +0.012]: full scores above scpo). SCPO's largest "
        "per-country gain over the global RM is +0.050 [+0.030, +0.065] (Mexico), smaller than the study's "
        "per-country maximum of +0.07 over its baseline.")


def test_main_results_claim_no_effect_whose_interval_includes_zero():
    differences = [{"comparison": "scpo - full", "mean": 0.004, "ci_low": -0.003, "ci_high": 0.011}]
    best = {"best": "scpo", "other": "filter", "reference": "scpo", "mean": -0.001, "ci_low": -0.01, "ci_high": 0.008}
    top = {"country": "Chile", "mean": 0.08, "ci_low": 0.02, "ci_high": 0.12}
    text = readings.main_results({"global": 0.6, "filter": 0.70, "scpo": 0.701}, differences, best, top, 5, 0.9)
    assert "scpo − full +0.004 [-0.003, +0.011]: no difference found (the interval includes 0)" in text
    assert "The best arm is scpo; the next, filter: filter − scpo -0.001 [-0.010, +0.008]: no difference found" in text
    assert "(Chile), not distinguishable from the study's per-country maximum of +0.07" in text
    assert "[90% two-level bootstrap" in text and "above" not in text and "below" not in text


def test_paired_countries_counts_only_intervals_that_exclude_zero():
    rows = [{"comparison": "scpo - full", "country": "Chile", "ci_low": 0.01, "ci_high": 0.05},
            {"comparison": "scpo - full", "country": "Mexico", "ci_low": -0.04, "ci_high": -0.01},
            {"comparison": "scpo - full", "country": "Israel", "ci_low": -0.02, "ci_high": 0.03},
            {"comparison": "scpo - full", "country": "macro average", "ci_low": 0.01, "ci_high": 0.02},
            {"comparison": "filter - full", "country": "Chile", "ci_low": -0.02, "ci_high": 0.03}]
    assert readings.paired_countries(rows, ["scpo - full", "filter - full"]) == (
        "Per country (interval of the paired difference on all held-out pairs): scpo - full: above 0 in Chile; "
        "below 0 in Mexico; no difference found in 1 of 3 countries. filter - full: no difference found in 1 of 1 "
        "countries.")


def test_a_difference_without_an_interval_is_not_computable():
    assert readings.difference("scpo", "full", float("nan"), 0.0, 0.1) == "scpo − full: not computable"
    assert readings.difference("a", "b", 0.2, 0.1, 0.3).endswith("a scores above b")


def test_weight_bands_needs_both_arms_and_marks_a_missing_band():
    assert readings.weight_bands({}, {"global", "full"}) == "Needs the filter and scpo arms."
    text = readings.weight_bands({("divergent", "filter"): [0.3, 0.5], ("divergent", "scpo"): [0.2]},
                                 {"global", "filter", "scpo"})
    assert text == ("Divergent pairs (w < 1): filter-only 0.400 ± 0.141, SCPO 0.200; benign pairs (w = 1): filter-only "
                    "n/a, SCPO n/a (global RM: 1 and 0 by construction).")


def test_gallery_intro_and_examples_carry_their_settings():
    assert "(7 countries, arms full, scpo, 3 run seed(s))" in readings.gallery_intro(7, ["full", "scpo"], 3)
    assert "tau = 0.7 and beta = 1.1;" in readings.examples(0.7, 1.1)


def test_tradeoff_says_how_many_points_the_best_cannot_be_told_apart_from():
    best = {"tau": 0.7, "beta": 1.1, "x_mean": 0.3, "y_mean": 0.7}
    assert readings.tradeoff(best, None, 0.7, 1.1, None, None, 1.0, (4, 35)) == (
        "Best by the stated rule: tau 0.7, beta 1.1 (true-country 0.300, all-country 0.700), not distinguishable "
        "from 4 of the 35 other points (paired over run seeds).")
    assert readings.tradeoff(best, None, 0.7, 1.1, None, None, 1.0, (0, 35)).endswith(
        "distinguishable from each of the 35 other points (paired over run seeds).")


@pytest.mark.parametrize("low,high,at,expected", [(0.01, 0.2, 0.0, "up"), (-0.2, -0.01, 0.0, "down"),
                                                  (0.0, 0.2, 0.0, "neither"), (-0.2, 0.0, 0.0, "neither"),
                                                  (0.05, 0.2, 0.10, "neither"), (0.11, 0.2, 0.10, "up")])
def test_a_direction_is_claimed_only_where_the_whole_interval_lies_on_one_side(low, high, at, expected):
    assert readings.by_interval(low, high, "up", "down", "neither", at) == expected


def test_the_planted_world_reading_says_which_variation_is_larger_and_the_structure_recovered():
    world = {"country_variance_share": [0.05, 0.07], "country_variance_share_typical": [0.12, 0.14],
             "extreme_annotator_share": [0.1, 0.12], "score_mean": [64.0, 65.0], "score_sd": [31.0, 30.0]}
    facts = pd.DataFrame({"global_wrong_share": [0.3, 0.35], "wrong_from_extreme_annotators": [0.1, 0.2],
                          "wrong_agreeing_with_country_truth": [0.2, 0.5], "global_accuracy_labels": [0.7, 0.6],
                          "global_accuracy_truth": [0.9, 0.8]}, index=["Chile", "Canada"])
    text = readings.planted_world(world, facts, [0.4, 0.5])
    assert "country explains 0.060 ± 0.014 of the annotators' preference variance" in text
    assert "so personal variation exceeds country variation" in text
    assert "0.30-0.35 of each study country's training pairs wrong; of those, 0.15" in text
    assert "agree with the country's planted preference" in text and "rank correlation 0.45 ± 0.07" in text
    flipped = readings.planted_world(world | {"country_variance_share": [0.6, 0.7]}, facts)
    assert "country variation exceeds personal variation" in flipped and "rank correlation" not in flipped
