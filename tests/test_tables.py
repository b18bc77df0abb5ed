"""The Markdown tables of reports/tables (scpo/tables.py): exact cells for hand-made numbers."""

import math

import pandas as pd

from scpo import tables


def test_efficiency_table_marks_ratios_some_seeds_never_reached():
    per_seed = pd.DataFrame({
        "country": ["Chile", "Chile"], "seed": [0, 1], "full_accuracy": [0.7, 0.8], "scpo_accuracy": [0.6, 0.6],
        "size_ratio": [2.0, 4.0], "pairs_ratio": [1.5, math.nan], "offered_ratio": [0.5, math.nan],
        "full_gain_per_1000_pairs": [0.0, 0.0], "scpo_gain_per_1000_pairs": [1.0, 1.0]})
    row = tables.efficiency(per_seed).loc["Chile"]
    assert row["full acc."] == "0.750 ± 0.071" and row["scpo acc."] == "0.600 ± 0.000"
    assert row["size_ratio"] == "3.00 ± 1.41"  # mean 3, sd (ddof 1) sqrt(2)
    assert row["pairs_ratio"] == "1.50 (reached in 1/2 seeds)"
    assert row["gain_per_pair_ratio"] == "n/a (full gains nothing)"


def test_tradeoff_page_writes_one_row_per_point_with_sd_when_there_is_one():
    points = pd.DataFrame({"tau": [0.7, 1.0], "beta": [1.1, math.inf], "train_pairs": [10.0, 20.0],
                           "x_mean": [0.4, 0.2], "x_sd": [0.01, math.nan], "y_mean": [0.7, 0.72], "y_sd": [0.02, math.nan]})
    page = tables.tradeoff_page(points, ["Chile"])
    assert page.startswith("# The tau × beta trade-off (Chile)")
    assert "| 0.400 ± 0.010 | 0.700 ± 0.020 |" in page and "| 0.200 | 0.720 |" in page


def test_controls_page_sets_real_beside_shuffled_and_the_weighting_effect():
    macro = pd.DataFrame({"condition": ["real labels", "shuffled labels"], "seed": [0, 0], "arm": ["scpo", "scpo"],
                          "own_gain": [0.05, 0.01], "home_advantage": [0.03, -0.01]})
    page = tables.controls_page(macro, ["scpo"], {"real labels": [0.02]})
    assert "| scpo | +0.050 | +0.010 | +0.030 | -0.010 |" in page
    assert page.endswith("SCPO minus filter-only on divergent pairs, real labels: +0.020.\n")


def test_examples_table_cuts_texts_and_names_the_block():
    rows = pd.DataFrame({"country": ["Chile"], "target": [0.5], "prompt": ["p" * 100], "chosen": ["yes"],
                         "rejected": ["no"], "global_chosen": [1.0], "global_rejected": [0.5], "chosen_score": [80],
                         "rejected_score": [20], "agreement": [0.62], "keep": [True]})
    table = tables.examples(rows, "F", width=10)
    assert "retained" in table and "target F" in table and "p" * 11 not in table
