"""The Markdown tables of reports/tables (scpo/tables.py): exact cells for hand-made numbers."""

import math

import pandas as pd
import pytest

from scpo import results, tables


def test_efficiency_table_marks_every_censored_ratio_and_leads_with_the_annotation_budget():
    mean_curves = pd.DataFrame({
        "country": ["Chile", "Mexico"], "seeds": [3, 3], "full_accuracy": [0.7, 0.8], "scpo_accuracy": [0.6, 0.81],
        "size_ratio": [2.0, 4.0], "offered_ratio": [1.234, 0.5], "offered_ratio_bound": ["=", ">="],
        "pairs_ratio": [2.5, math.nan], "pairs_ratio_bound": ["<=", "not reached"],
        "full_gain_per_1000_pairs": [0.0, 0.2], "scpo_gain_per_1000_pairs": [1.0, 0.5], "gain_per_pair_ratio": [math.nan, 2.5]})
    table = tables.efficiency(mean_curves)
    assert list(table.columns[:2]) == ["offered_ratio", "pairs_ratio"]
    assert table.loc["Chile", "offered_ratio"] == "1.23" and table.loc["Mexico", "offered_ratio"] == "≥ 0.50"
    assert table.loc["Chile", "pairs_ratio"] == "≤ 2.50" and table.loc["Mexico", "pairs_ratio"] == "not reached"
    assert table.loc["Chile", "gain_per_pair_ratio"] == "n/a (full gains nothing)"
    assert "'≤' (full's crossing is the bound)" in tables.efficiency_page(table)


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


def test_results_page_shows_answer_similarity_over_seeds_only_where_there_is_any():
    summary = pd.DataFrame({"country": ["Chile", "Chile", "macro average"], "model": ["global", "scpo", "scpo"],
                            "test_set": ["all"] * 3, "mean": [0.6, 0.7, 0.7], "sd": [0.1] * 3, "ci_low": [0.5] * 3,
                            "ci_high": [0.8] * 3, "ties": [1, 2, 2]})
    edited = pd.DataFrame({"kept": [0.5]}, index=["Chile"])
    similarity = pd.DataFrame({"seed": [0, 1, 0, 1], "country": ["Chile"] * 4, "model": ["global", "global", "scpo", "scpo"],
                               "questions": [3] * 4, "similarity": [0.5, 0.7, 0.8, 0.8]})
    over_seeds = results.similarity_over_seeds(similarity)
    assert over_seeds[["country", "model"]].to_dict("list") == {"country": ["Chile", "Chile"], "model": ["global", "scpo"]}
    assert over_seeds["mean"].tolist() == pytest.approx([0.6, 0.8]) and over_seeds["std"].tolist() == pytest.approx(
        [math.sqrt(0.02), 0.0])
    page = tables.results_page(summary, over_seeds, edited, ["global", "scpo"], 2, 0.95)
    assert "| Chile | 0.600 ± 0.141 | 0.800 ± 0.000 |" in page and "summed over countries and seeds: global 1, scpo 2." in page
    assert "Jensen–Shannon" in page and "Jensen–Shannon" not in tables.results_page(summary, over_seeds.iloc[:0], edited, ["global", "scpo"], 2, 0.95)
