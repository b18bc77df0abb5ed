"""The gallery's sentences (scpo/readings.py): exact words for numbers where SCPO wins, loses or ties."""

import math

import pandas as pd

from scpo import readings


def test_cross_country_says_where_the_model_gains_and_whether_it_costs_the_majority():
    text = readings.cross_country("scpo", 0.05, 0.01, ["United States"], -0.02)
    assert text == ("On average over countries and seeds, each country's scpo model changes accuracy by +0.050 on its "
                    "own country's held-out pairs, by +0.010 on the other countries' and by -0.020 on the majority "
                    "countries' (United States) relative to the global RM: it gains more at home than elsewhere; it "
                    "loses accuracy on the majority countries, a cost of specialising.")


def test_cross_country_says_no_home_gain_when_home_is_not_ahead():
    text = readings.cross_country("scpo", 0.01, 0.01, [], math.nan)
    assert "it gains no more at home than elsewhere" in text
    assert "majority countries'" not in text and text.endswith("it does not lose accuracy on the majority countries.")


def test_cross_country_does_not_claim_a_majority_cost_on_a_gain():
    assert "does not lose accuracy" in readings.cross_country("scpo", 0.02, 0.03, ["United Kingdom"], 0.001)


def test_data_efficiency_names_the_range_and_the_highest_country():
    size = pd.Series({"Chile": 2.0, "Mexico": 4.0})  # SCPO trains on 1/2 and 1/4 of full's pairs
    pairs = pd.Series({"Chile": 1.25, "Mexico": 2.0})  # it needs 80 % and 50 % of full's pairs to reach full
    text = readings.data_efficiency(size, pairs, 0.5)
    assert text == ("SCPO trains on 25%–50% of a country's pairs, a size ratio of 2.00–4.00× (Mexico highest: 300% "
                    "'more data-efficient' in that reading); to reach full fine-tuning's own accuracy it needed "
                    "50%–80% of full's pairs where it got there (it reached that accuracy in 50% of country × seed "
                    "curves).")


def test_data_efficiency_says_when_scpo_never_reached_full():
    text = readings.data_efficiency(pd.Series({"Chile": 2.0}), pd.Series({"Chile": math.nan}), 0.0)
    assert "it needed more pairs than it had (it reached that accuracy in 0% of" in text


def test_tradeoff_reports_best_configured_and_the_unweighted_filter_effect():
    best = {"tau": 0.5, "beta": 1.1, "x_mean": 0.41, "y_mean": 0.72}
    text = readings.tradeoff(best, {"x_mean": 0.3, "y_mean": 0.7}, 0.7, 1.1,
                             {"x_mean": 0.2, "y_mean": 0.73}, {"x_mean": 0.4, "y_mean": 0.71}, 0.5)
    assert text.startswith("Best by the stated rule: tau 0.5, beta 1.1 (true-country 0.410, all-country 0.720); "
                           "params' tau 0.7, beta 1.1: 0.300, 0.700. Without weights, filtering at tau 0.5")
    assert "true-country accuracy 0.200 → 0.400 and all-country 0.730 → 0.710" in text and text.endswith(").")


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
                    "best arm scpo (-0.050 over the global RM).")


def test_planted_truth_breaks_ties_alphabetically():
    assert "best arm filter (+0.100" in readings.planted_truth({"global": 0.6, "scpo": 0.7, "filter": 0.7},
                                                                ["global", "scpo", "filter"])


def test_main_results_when_full_beats_scpo():
    text = readings.main_results({"global": 0.6, "full": 0.726, "scpo": 0.719})
    assert text == ("Macro accuracy on all held-out pairs: global 0.600, full 0.726, scpo 0.719; the best arm, full, "
                    "is +0.126 over the global RM (the study: up to +0.07).")


def test_weight_bands_needs_both_arms_and_marks_a_missing_band():
    assert readings.weight_bands({}, {"global", "full"}) == "Needs the filter and scpo arms."
    text = readings.weight_bands({("divergent", "filter"): [0.3, 0.5], ("divergent", "scpo"): [0.2]},
                                 {"global", "filter", "scpo"})
    assert text == ("Divergent pairs (w < 1): filter-only 0.400 ± 0.141, SCPO 0.200; benign pairs (w = 1): filter-only "
                    "n/a, SCPO n/a (global RM: 1 and 0 by construction).")


def test_gallery_intro_and_examples_carry_their_settings():
    assert "(7 countries, arms full, scpo, 3 run seed(s))" in readings.gallery_intro(7, ["full", "scpo"], 3)
    assert "tau = 0.7 and beta = 1.1;" in readings.examples(0.7, 1.1)
