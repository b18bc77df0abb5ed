"""GlobalOpinionQA (scpo/goqa.py) on the real-schema fixture (tests/fixtures/goqa) and on malformed copies."""

import csv
import math
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from scpo import goqa
from scpo.config import ConfigError
from scpo.data import DataValidationError
from scpo.paths import ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "goqa"
KEEP = {"Chile", "United States", "United Kingdom"}


def load_fixture():
    return goqa.load_goqa("local", FIXTURE, "x", "y")


def write_csv(folder, rows, header=("question", "selections", "options", "source")):
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / goqa.FILE_NAME).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return folder


def row(question="Is it good?", selections="defaultdict(<class 'list'>, {'Chile': [0.7, 0.3], 'Britain': [0.2, 0.8]})",
        options="['Yes', 'No']", source="GAS"):
    return [question, selections, options, source]


def parse_rows(tmp_path, rows):
    frame, label = goqa.load_goqa("local", write_csv(tmp_path, rows), "x", "y")
    return goqa.parse_goqa(frame, label)


# ------------------------------------------------------------------------------------------ loading

def test_fixture_loads_through_datasets_with_the_hub_columns():
    frame, label = load_fixture()
    assert label == str(FIXTURE / "global_opinions.csv")
    assert list(frame.columns) == ["question", "selections", "options", "source"] and len(frame) == 15


def test_fixture_parses_with_every_drop_counted():
    questions, shares, drops = goqa.parse_goqa(*load_fixture())
    assert drops == {"rows_without_question": 1, "non_national_samples": 8, "duplicate_country_labels": 0,
                     "all_zero_shares": {"Germany": 1}, "repeated_question_rows": 0, "repeated_question_country_entries": 0,
                     "questions_with_repeated_options": 0, "country_labels_normalised": 0,
                     "non_substantive_policy": "keep", "non_substantive_options": 13,
                     "questions_without_two_substantive_options": 0}
    assert len(questions) == 14 and questions.question_id.is_unique
    assert set(shares.country) == {"United States", "United Kingdom", "South Africa", "Chile", "Mexico", "Germany",
                                   "Canada"}  # Britain, Great Britain and S. Africa mapped; no non-national sample
    assert np.allclose(shares.shares.map(sum), 1.0)
    numeric = questions[questions.question.str.startswith("On a scale of 1 to 5")].options.iloc[0]
    assert numeric == ["1", "2", "3", "4", "5"]  # WVS scale points 1.0 ... 5.0 as text


def test_country_names_map_in_one_place():
    assert goqa.prism_country("S. Africa") == "South Africa"
    assert goqa.prism_country("Britain") == goqa.prism_country("Great Britain") == "United Kingdom"
    assert goqa.prism_country("S. Africa (Non-national sample)") is None
    assert goqa.prism_country("Chile") == "Chile"


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "global_opinions.csv"))):
        goqa.load_goqa("local", tmp_path, "x", "y")


def test_hub_failure_says_how_to_go_local(monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(goqa.datasets, "load_dataset", refuse)
    with pytest.raises(ConnectionError) as info:
        goqa.load_goqa("hub", tmp_path, "Anthropic/llm_global_opinions", "abc123")
    message = str(info.value)
    assert "Anthropic/llm_global_opinions@abc123" in message and "OSError: network is unreachable" in message
    assert "data.source: local" in message and "data/goqa" in message and "python -m scpo.fetch goqa" in message


# ------------------------------------------------------------------------------------------ malformed rows

@pytest.mark.parametrize("bad,expected", [
    (row(selections="defaultdict(<class 'list'>, {'Chile': [0.7, 0.3]"), "row 2: field 'selections' is not a defaultdict"),
    (row(selections="defaultdict(<class 'list'>, {'Chile': __import__('os')})"), "row 2: field 'selections' is not a Python literal"),
    (row(selections="defaultdict(<class 'list'>, {'Chile': [0.5, 0.3, 0.2]})"), "row 2: field 'selections', country 'Chile': expected 2 shares"),
    (row(selections="defaultdict(<class 'list'>, {'Chile': [1.5, -0.5]})"), "country 'Chile': shares must be numbers in [0, 1]"),
    (row(selections="defaultdict(<class 'list'>, {'Chile': [nan, 0.5]})"), "row 2: field 'selections' is not a Python literal"),
    (row(selections="defaultdict(<class 'list'>, {})"), "row 2: field 'selections' holds no country shares"),
    (row(selections="defaultdict(<class 'list'>, {'Chile': [0.7, 0.3], 'Chile': [0.1, 0.9]})"),
     "row 2: field 'selections' lists 'Chile' twice"),
    (row(options="['Only one']"), "row 2: field 'options' must list at least 2 options"),
    (row(options="['Yes', None]"), "row 2: field 'options' has an invalid option None"),
    (row(options="Yes, No"), "row 2: field 'options' is not a Python literal"),
    (row(source=""), "row 2: field 'source' is missing"),
])
def test_malformed_row_names_file_row_and_field(tmp_path, bad, expected):
    with pytest.raises(DataValidationError) as info:
        parse_rows(tmp_path, [row(), bad])
    assert str(tmp_path / "global_opinions.csv") in str(info.value)
    assert expected in str(info.value)


def test_selections_are_never_evaluated(tmp_path):
    target = tmp_path / "written-by-eval"
    with pytest.raises(DataValidationError, match="not a Python literal"):
        parse_rows(tmp_path, [row(selections=f"defaultdict(<class 'list'>, {{'Chile': [open({str(target)!r}, 'w'), 1]}})")])
    assert not target.exists()


def test_missing_column_names_it(tmp_path):
    frame, label = goqa.load_goqa("local", write_csv(tmp_path, [row()[:3]], header=("question", "selections", "options")),
                                  "x", "y")
    with pytest.raises(DataValidationError, match="field\\(s\\) source missing from every row"):
        goqa.parse_goqa(frame, label)


def test_empty_and_truncated_files_are_named(tmp_path):
    (tmp_path / goqa.FILE_NAME).write_text("")
    with pytest.raises(DataValidationError, match="not readable as CSV"):
        goqa.load_goqa("local", tmp_path, "x", "y")
    (tmp_path / goqa.FILE_NAME).write_text('question,selections,options,source\n"Is it good?,"defaultdict(')
    with pytest.raises(DataValidationError):
        frame, label = goqa.load_goqa("local", tmp_path, "x", "y")
        goqa.parse_goqa(frame, label)


def test_a_row_without_question_is_dropped_and_counted(tmp_path):
    questions, _, drops = parse_rows(tmp_path, [row(), row(question="")])
    assert len(questions) == 1 and drops["rows_without_question"] == 1


def test_a_second_label_of_one_country_is_dropped_and_counted(tmp_path):
    both = "defaultdict(<class 'list'>, {'Britain': [0.7, 0.3], 'Great Britain': [0.1, 0.9]})"
    _, shares, drops = parse_rows(tmp_path, [row(selections=both)])
    assert shares.shares.iloc[0] == pytest.approx([0.7, 0.3]) and drops["duplicate_country_labels"] == 1


# ------------------------------------------------------------------------------------------ pairs and split

def test_pairs_by_hand():
    questions = pd.DataFrame({"question_id": ["q1"], "question": ["Q?"], "options": [["a", "b", "c"]], "source": ["GAS"]})
    shares = pd.DataFrame({"question_id": ["q1", "q1"], "country": ["Chile", "Mexico"],
                           "shares": [[0.5, 0.3, 0.2], [0.4, 0.4, 0.2]]})
    pairs, ties = goqa.build_pairs(questions, shares)
    assert ties == 1  # Mexico's a and b
    chile = pairs[pairs.country == "Chile"]
    assert sorted(zip(chile.chosen, chile.rejected)) == [("a", "b"), ("a", "c"), ("b", "c")]
    mexico = pairs[pairs.country == "Mexico"]
    assert sorted(zip(mexico.chosen, mexico.rejected)) == [("a", "c"), ("b", "c")]
    assert (pairs.chosen_score > pairs.rejected_score).all() and pairs.pair_id.is_unique
    assert set(pairs.user_id) == {"q1"} and set(pairs.prompt) == {"Q?"}


def test_prepare_splits_questions_and_keeps_only_the_kept_countries():
    prepared = goqa.prepare_goqa("local", FIXTURE, "x", "y", 0.15, 0, {"chile": "Chile"}, KEEP)
    pairs = prepared.pairs
    train, test = (set(pairs.user_id[pairs.split == s]) for s in ("train", "test"))
    assert train and test and not train & test  # questions, not pairs, are split
    assert set(pairs.country) == KEEP
    assert set(pairs.chosen_id) | set(pairs.rejected_id) <= set(prepared.utterances.utterance_id)
    assert set(prepared.answer_shares.country) == KEEP
    assert prepared.facts["dropped"]["non_national_samples"] == 8 and prepared.facts["ties_dropped"] >= 1
    counts = prepared.counts
    assert counts.loc["Chile", "train_pairs"] + counts.loc["Chile", "test_pairs"] == (pairs.country == "Chile").sum()
    assert counts.loc["Germany", "questions"] > 0 and counts.loc["Germany", "train_pairs"] == 0  # counted, not kept
    test_options = prepared.utterances[prepared.utterances.split == "test"]
    for question in test:  # every option of a test question is scored, for the distributional view
        n_options = len(prepared.answer_shares[prepared.answer_shares.question_id == question].shares.iloc[0])
        assert (test_options.utterance_id.str.startswith(question + "/")).sum() == n_options


def test_unknown_country_lists_the_countries_present():
    with pytest.raises(ConfigError, match="countries.japan = 'Japan' has no users in the data.*S|Chile"):
        goqa.prepare_goqa("local", FIXTURE, "x", "y", 0.15, 0, {"japan": "Japan"}, KEEP)
    with pytest.raises(ConfigError, match="data.reference_countries: 'Narnia' not in the data"):
        goqa.prepare_goqa("local", FIXTURE, "x", "y", 0.15, 0, {"chile": "Chile"}, {"Chile", "Narnia"})


# ------------------------------------------------------------------------------------------ similarity

def test_jensen_shannon_similarity_known_values():
    assert goqa.jensen_shannon_similarity([0.5, 0.5], [0.5, 0.5]) == pytest.approx(1.0)
    assert goqa.jensen_shannon_similarity([1.0, 0.0], [0.0, 1.0]) == pytest.approx(0.0)
    # JS divergence of (1, 0) and (0.5, 0.5) in bits: 1 - 0.5 * log2(3) + ... computed by hand below
    p, q = np.array([1.0, 0.0]), np.array([0.5, 0.5])
    m = (p + q) / 2
    div = 0.5 * (1.0 * math.log2(1.0 / 0.75)) + 0.5 * (0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25))
    assert goqa.jensen_shannon_similarity(p, q) == pytest.approx(1 - math.sqrt(div))
    assert m.sum() == 1


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.01, 1.0), min_size=2, max_size=6), st.data())
def test_similarity_is_symmetric_and_bounded(p, data):
    q = data.draw(st.lists(st.floats(0.01, 1.0), min_size=len(p), max_size=len(p)))
    a, b = goqa.jensen_shannon_similarity(p, q), goqa.jensen_shannon_similarity(q, p)
    assert a == pytest.approx(b) and 0.0 <= a <= 1.0 + 1e-12


def test_softmax_is_stable_for_large_rewards():
    assert np.allclose(goqa.softmax([1000.0, 1000.0]), [0.5, 0.5])


def test_distribution_similarity_uses_every_option():
    shares = pd.DataFrame({"question_id": ["q1"], "country": ["Chile"], "shares": [[0.5, 0.5]]})
    equal = pd.Series([3.0, 3.0], index=["q1/o0", "q1/o1"])
    assert goqa.distribution_similarity(shares, equal).iloc[0] == pytest.approx(1.0)
    with pytest.raises(KeyError):
        goqa.distribution_similarity(shares, equal.iloc[:1])


def test_a_number_as_source_is_named_as_such_not_as_missing():
    frame = pd.DataFrame({"question": ["Q?"], "selections": ["defaultdict(<class 'list'>, {'Chile': [0.7, 0.3]})"],
                          "options": ["['Yes', 'No']"], "source": [3.5]})
    with pytest.raises(DataValidationError, match=r"row 1: field 'source' = 3.5 is not a string"):
        goqa.parse_goqa(frame, "label")


# ------------------------------------------------------------------------------------------ real files' quirks

def test_non_substantive_options_are_kept_or_dropped_by_the_policy_and_counted(tmp_path):
    frame, label = goqa.load_goqa("local", write_csv(tmp_path, [row(
        options="['Yes', 'No', \"Don't know\"]",
        selections="defaultdict(<class 'list'>, {'Chile': [0.5, 0.3, 0.2]})")]), "x", "y")
    questions, shares, drops = goqa.parse_goqa(frame, label, "keep")
    assert questions.options.iloc[0] == ["Yes", "No", "Don't know"] and drops["non_substantive_options"] == 1
    questions, shares, drops = goqa.parse_goqa(frame, label, "drop")
    assert questions.options.iloc[0] == ["Yes", "No"] and drops["non_substantive_policy"] == "drop"
    assert shares.shares.iloc[0] == pytest.approx([0.625, 0.375])  # renormalised over what is left


@pytest.mark.parametrize("text", ["DK/Refused", "Don't know", "Don’t know", "No answer", "Missing; Not available",
                                  "Other missing; Multiple answers Mail (EVS)", "dk"])
def test_the_non_substantive_pattern_knows_the_real_files_spellings(text):
    assert goqa.NON_SUBSTANTIVE.match(text)


@pytest.mark.parametrize("text", ["Very important", "Not at all", "Disagree", "Neither agree nor disagree", "1"])
def test_the_non_substantive_pattern_leaves_answers_alone(text):
    assert not goqa.NON_SUBSTANTIVE.match(text)


def test_a_repeated_question_is_one_unit_with_the_later_rows_new_countries(tmp_path):
    first = row(selections="defaultdict(<class 'list'>, {'Chile': [0.7, 0.3]})")
    again = row(selections="defaultdict(<class 'list'>, {'Chile': [0.1, 0.9], 'Mexico': [0.4, 0.6]})")
    questions, shares, drops = parse_rows(tmp_path, [first, again])
    assert len(questions) == 1 and set(shares.question_id) == {questions.question_id.iloc[0]}
    assert shares.set_index("country").shares.to_dict() == {"Chile": pytest.approx([0.7, 0.3]),
                                                             "Mexico": pytest.approx([0.4, 0.6])}
    assert drops["repeated_question_rows"] == 1 and drops["repeated_question_country_entries"] == 1


def test_pairs_by_hand_exact_rows_when_later_options_win():
    # q1's shares rise with the option index, so the later option of every pair is chosen; two ties in Mexico
    questions = pd.DataFrame({"question_id": ["q1"], "question": ["Q?"], "options": [["a", "b", "c"]], "source": ["GAS"]})
    shares = pd.DataFrame({"question_id": ["q1", "q1"], "country": ["Chile", "Mexico"],
                           "shares": [[0.1, 0.3, 0.6], [0.2, 0.2, 0.2]]})
    pairs, ties = goqa.build_pairs(questions, shares)
    assert ties == 3  # Mexico: a = b, a = c, b = c
    assert list(pairs.columns) == ["pair_id", "user_id", "interaction_id", "turn", "prompt", "chosen", "rejected",
                                   "chosen_id", "rejected_id", "chosen_score", "rejected_score", "country"]
    assert pairs.pair_id.tolist() == ["q1/o1>o0|Chile", "q1/o2>o0|Chile", "q1/o2>o1|Chile"]
    assert list(zip(pairs.chosen, pairs.rejected)) == [("b", "a"), ("c", "a"), ("c", "b")]
    assert list(zip(pairs.chosen_id, pairs.rejected_id)) == [("q1/o1", "q1/o0"), ("q1/o2", "q1/o0"), ("q1/o2", "q1/o1")]
    assert list(zip(pairs.chosen_score, pairs.rejected_score)) == [(0.3, 0.1), (0.6, 0.1), (0.6, 0.3)]
    assert pairs.interaction_id.tolist() == ["q1"] * 3 and pairs.turn.tolist() == [0] * 3


def test_pairs_are_sorted_by_pair_id_with_a_fresh_index():
    questions = pd.DataFrame({"question_id": ["q1"], "question": ["Q?"], "options": [["a", "b", "c"]], "source": ["GAS"]})
    shares = pd.DataFrame({"question_id": ["q1", "q1"], "country": ["Chile", "Mexico"],
                           "shares": [[0.5, 0.3, 0.2], [0.6, 0.3, 0.1]]})
    pairs, _ = goqa.build_pairs(questions, shares)
    # made Chile's three, then Mexico's three; sorted, the two countries interleave
    assert pairs.pair_id.tolist() == ["q1/o0>o1|Chile", "q1/o0>o1|Mexico", "q1/o0>o2|Chile", "q1/o0>o2|Mexico",
                                      "q1/o1>o2|Chile", "q1/o1>o2|Mexico"]
    assert list(pairs.index) == [0, 1, 2, 3, 4, 5]


def test_only_ties_give_an_empty_frame_in_the_pair_schema():
    questions = pd.DataFrame({"question_id": ["q1"], "question": ["Q?"], "options": [["a", "b"]], "source": ["GAS"]})
    pairs, ties = goqa.build_pairs(questions, pd.DataFrame({"question_id": ["q1"], "country": ["Chile"],
                                                            "shares": [[0.5, 0.5]]}))
    assert ties == 1 and len(pairs) == 0
    assert list(pairs.columns) == ["pair_id", "user_id", "interaction_id", "turn", "prompt", "chosen", "rejected",
                                   "chosen_id", "rejected_id", "chosen_score", "rejected_score", "country"]
