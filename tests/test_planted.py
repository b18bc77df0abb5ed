"""What a simulated world planted (scpo/planted.py): the facts per country, by hand, and the structure measure."""

import math

import numpy as np
import pandas as pd
import pytest

from scpo import planted


def pairs_and_scores():
    """Chile: 4 training pairs (the global RM wrong on 2: one extreme annotator's, one agreeing with the truth)
    and 2 held-out pairs; the global RM's scores by utterance id."""
    pairs = pd.DataFrame({
        "pair_id": [f"p{i}" for i in range(6)], "user_id": ["u1", "u1", "u2", "u3", "u4", "u4"],
        "country": "Chile", "split": ["train"] * 4 + ["test"] * 2,
        "chosen_id": ["a", "b", "c", "d", "e", "f"], "rejected_id": ["A", "B", "C", "D", "E", "F"],
        "truth_margin": [1.0, -1.0, 2.0, 0.5, 1.0, -1.0],
        "extreme_annotator": [1.0, 1.0, 0.0, 0.0, 0.0, 0.0]})
    # wrong (r+ < r-) on b (extreme, truth disagrees) and c (typical, truth agrees); right on a, d; test: e right, f wrong
    scores = pd.Series({"a": 1.0, "A": 0.0, "b": 0.0, "B": 1.0, "c": 0.0, "C": 2.0, "d": 3.0, "D": 1.0,
                        "e": 1.0, "E": 0.0, "f": 0.0, "F": 1.0})
    return pairs, scores


def test_country_facts_by_hand():
    pairs, scores = pairs_and_scores()
    facts = planted.country_facts(pairs, scores)["Chile"]
    assert facts["train_pairs"] == 4 and facts["global_wrong_share"] == 0.5
    assert facts["wrong_from_extreme_annotators"] == 0.5  # b of {b, c}
    assert facts["wrong_agreeing_with_country_truth"] == 0.5  # c of {b, c}
    assert facts["global_accuracy_labels"] == 0.5  # e right, f wrong
    assert facts["global_accuracy_truth"] == 1.0  # f's truth says rejected is better: the RM agrees with it


def test_real_data_has_no_planted_facts():
    pairs, scores = pairs_and_scores()
    real = pairs.assign(truth_margin=np.nan, extreme_annotator=np.nan)
    facts = planted.country_facts(real, scores)["Chile"]
    assert facts["global_wrong_share"] == 0.5 and facts["global_accuracy_labels"] == 0.5  # the RM's side is known
    assert all(math.isnan(facts[k]) for k in ("wrong_from_extreme_annotators", "wrong_agreeing_with_country_truth",
                                               "global_accuracy_truth"))


def test_facts_table_means_over_worlds_in_the_given_order():
    per_seed = {0: {"A": {f: 0.2 for f in planted.COUNTRY_FACTS}, "B": {f: 0.4 for f in planted.COUNTRY_FACTS}},
                1: {"A": {f: 0.4 for f in planted.COUNTRY_FACTS}, "B": {f: 0.6 for f in planted.COUNTRY_FACTS}}}
    table = planted.facts_table(per_seed, ["B", "A"])
    assert list(table.index) == ["B", "A"] and list(table.columns) == list(planted.COUNTRY_FACTS)
    assert table.loc["B"].tolist() == pytest.approx([0.5] * 5) and table.loc["A"].tolist() == pytest.approx([0.3] * 5)


def test_structure_recovery_is_one_when_gains_follow_the_planted_similarity_and_minus_one_when_reversed():
    countries = {"a": "A", "b": "B", "c": "C"}
    deviation = {"A": [1.0, 0.0], "B": [0.9, 0.1], "C": [-1.0, 0.2]}
    similarity = pd.DataFrame({c: {s: float(np.dot(deviation[m], deviation[c])) for s, m in countries.items()}
                               for c in countries.values()})
    assert planted.structure_recovery([similarity], [deviation], countries) == pytest.approx([1.0])
    assert planted.structure_recovery([-similarity], [deviation], countries) == pytest.approx([-1.0])
    flat = {name: [0.0, 0.0] for name in deviation}  # nothing planted: no order to recover
    assert math.isnan(planted.structure_recovery([similarity], [flat], countries)[0])
