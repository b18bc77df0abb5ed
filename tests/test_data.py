"""PRISM loading, validation, pairs and the user split (scpo/data.py), on tiny files in PRISM's exact schema."""

import json
import math
import re
from math import comb

import numpy as np
import pandas as pd
import pytest

from scpo import data
from scpo.config import ConfigError
from scpo.data import DataValidationError, SURVEY_FIELDS, UTTERANCE_FIELDS

ISO = {"Chile": ("CHL", "Americas", "Latin America and the Caribbean"),
       "Mexico": ("MEX", "Americas", "Latin America and the Caribbean"),
       "United Kingdom": ("GBR", "Europe", "Northern Europe")}


def survey_row(user_id: str, country: str, conversations: int = 1) -> dict:
    iso, region, subregion = ISO[country]
    return {
        "user_id": user_id, "survey_only": conversations == 0, "num_completed_conversations": conversations,
        "consent": "Yes", "age": "25-34 years old", "gender": "Female",
        "location": {
            "birth_country": country, "birth_countryISO": iso, "birth_region": region,
            "birth_subregion": subregion, "reside_country": country, "reside_countryISO": iso,
            "reside_region": region, "reside_subregion": subregion, "same_birth_reside_country": "Yes",
            "special_region": "UK" if country == "United Kingdom" else "Rest of World",
        },
    }


def utterance_row(n: int, interaction: str, user: str, turn: int, within: int, score: int,
                  response: str | None = None, prompt: str = "what about food") -> dict:
    return {
        "utterance_id": f"ut{n}", "interaction_id": interaction, "conversation_id": f"c-{user}",
        "user_id": user, "turn": turn, "within_turn_id": within, "conversation_type": "unguided",
        "user_prompt": prompt, "model_response": response if response is not None else f"response {n}",
        "model_name": "gpt-4-turbo", "model_provider": "openai", "score": score, "if_chosen": False,
        "included_in_balanced_subset": within % 2 == 0,
    }


def survey_rows() -> list[dict]:
    return [survey_row("u1", "Chile"), survey_row("u2", "Mexico"), survey_row("u3", "Chile", conversations=0)]


def utterance_rows() -> list[dict]:
    """int0 (turn 0, 4 responses): scores 70, 30, 70, 50 -> 6 pairs, one tie.
    int1 (turn 1, 2 responses): 40, 90 -> 1 pair. int2 (u2, turn 0 with 2 shown): 60, 60 -> one tie."""
    rows = [utterance_row(0, "int0", "u1", 0, 0, 70), utterance_row(1, "int0", "u1", 0, 1, 30),
            utterance_row(2, "int0", "u1", 0, 2, 70, response="EMPTY STRING"),
            utterance_row(3, "int0", "u1", 0, 3, 50),
            utterance_row(4, "int1", "u1", 1, 0, 40, prompt="tell me more"),
            utterance_row(5, "int1", "u1", 1, 1, 90, prompt="tell me more"),
            utterance_row(6, "int2", "u2", 0, 0, 60), utterance_row(7, "int2", "u2", 0, 1, 60)]
    for chosen in (0, 5, 6):
        rows[chosen]["if_chosen"] = True
    return rows


def write_jsonl(rows, path):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture
def prism(tmp_path):
    write_jsonl(survey_rows(), tmp_path / "survey.jsonl")
    write_jsonl(utterance_rows(), tmp_path / "utterances.jsonl")
    return tmp_path


def load(name, folder):
    return data.load_prism_config(name, source="local", folder=folder, hub_id="x", revision="y")


def load_utterances(tmp_path, rows):
    write_jsonl(rows, tmp_path / "utterances.jsonl")
    return load("utterances", tmp_path)


# ------------------------------------------------------------------------------------------ loading

def test_local_snapshot_loads_as_frames(prism):
    survey, label = load("survey", prism)
    assert isinstance(survey, pd.DataFrame) and label == str(prism / "survey.jsonl")
    assert survey.user_id.tolist() == ["u1", "u2", "u3"]
    assert survey.location.iloc[1]["reside_country"] == "Mexico"
    assert survey.location.iloc[1]["reside_countryISO"] == "MEX"
    utterances, label = load("utterances", prism)
    assert label.endswith("utterances.jsonl") and len(utterances) == 8
    assert set(utterance_rows()[0]) <= set(utterances.columns)
    assert utterances.model_response.iloc[2] == "EMPTY STRING"
    assert utterances.score.tolist() == [r["score"] for r in utterance_rows()]
    data.validate_rows(survey, SURVEY_FIELDS, "survey")
    data.validate_rows(utterances, UTTERANCE_FIELDS, "utterances")


def test_trailing_blank_lines_lose_no_row(prism):
    path = prism / "utterances.jsonl"
    before = load("utterances", prism)[0]
    path.write_text(path.read_text() + "\n  \n")
    after = load("utterances", prism)[0]
    assert len(after) == len(before) == 8
    pd.testing.assert_frame_equal(after, before)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load("survey", tmp_path)
    assert str(tmp_path / "survey.jsonl") in str(info.value)


def test_unreadable_file_is_a_validation_error(tmp_path):
    (tmp_path / "survey.jsonl").write_text('{"user_id": "u1"}\n{not json at all\n')
    with pytest.raises(DataValidationError, match="not readable as JSON lines"):
        load("survey", tmp_path)


def test_hub_offline_says_how_to_go_local(monkeypatch, tmp_path):
    import datasets
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    # datasets and huggingface_hub read the flags at import time (already imported here)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    with pytest.raises(ConnectionError) as info:
        data.load_prism_config("survey", source="hub", folder=tmp_path,
                               hub_id="scpo-tests/no-such-dataset", revision="abc123")
    message = str(info.value)
    assert "scpo-tests/no-such-dataset@abc123:survey" in message
    assert "data.source: local" in message and "data/prism" in message


def test_hub_errors_are_wrapped_with_the_cause(monkeypatch, tmp_path):
    calls = []

    def refuse(*args, **kwargs):
        calls.append((args, kwargs))
        raise OSError("network is unreachable")

    monkeypatch.setattr(data.datasets, "load_dataset", refuse)
    with pytest.raises(ConnectionError, match="data.source: local") as info:
        data.load_prism_config("utterances", source="hub", folder=tmp_path, hub_id="x", revision="y")
    assert "OSError: network is unreachable" in str(info.value)
    assert isinstance(info.value.__cause__, OSError)
    assert calls == [(("x", "utterances"), {"revision": "y", "split": "train"})]


# ------------------------------------------------------------------------------------------ validate_rows

def test_missing_score_in_row_3_is_named(tmp_path):
    rows = utterance_rows()
    del rows[2]["score"]
    frame, label = load_utterances(tmp_path, rows)
    with pytest.raises(DataValidationError) as info:
        data.validate_rows(frame, UTTERANCE_FIELDS, label)
    message = str(info.value)
    assert message.startswith(f"{label}: row 3: field 'score'")
    assert "1 bad row(s)" in message


@pytest.mark.parametrize("bad", [101, 0, -5, "abc", 50.5])
def test_bad_score_is_named(tmp_path, bad):
    rows = utterance_rows()
    rows[1]["score"] = bad
    frame, label = load_utterances(tmp_path, rows)
    with pytest.raises(DataValidationError, match=rf"^{label}: row 2: field 'score' = .* is not a valid int 1\.\.100"):
        data.validate_rows(frame, UTTERANCE_FIELDS, label)


def test_score_bounds_1_and_100_are_valid(tmp_path):
    rows = utterance_rows()
    rows[0]["score"], rows[1]["score"] = 1, 100
    frame, label = load_utterances(tmp_path, rows)
    data.validate_rows(frame, UTTERANCE_FIELDS, label)


def test_first_bad_row_is_reported_and_all_are_counted():
    frame = pd.DataFrame(utterance_rows())
    frame.loc[4, "score"] = 500
    frame.loc[6, "score"] = 0
    with pytest.raises(DataValidationError, match=r"row 5: field 'score' = .*500.*\(2 bad row\(s\) in all\)"):
        data.validate_rows(frame, UTTERANCE_FIELDS, "utterances")


@pytest.mark.parametrize("field,value", [("turn", -1), ("within_turn_id", 1.5), ("if_chosen", "yes"),
                                         ("user_prompt", None), ("utterance_id", 7)])
def test_other_bad_fields_are_named(field, value):
    frame = pd.DataFrame(utterance_rows())
    frame[field] = frame[field].astype(object)
    frame.at[3, field] = value
    with pytest.raises(DataValidationError, match=rf"^utterances: row 4: field '{field}'"):
        data.validate_rows(frame, UTTERANCE_FIELDS, "utterances")


def test_location_without_reside_country_is_named(tmp_path):
    rows = survey_rows()
    del rows[1]["location"]["reside_country"]
    write_jsonl(rows, tmp_path / "survey.jsonl")
    frame, label = load("survey", tmp_path)
    with pytest.raises(DataValidationError, match=rf"^{label}: row 2: field 'location' .* mapping with reside_country"):
        data.validate_rows(frame, SURVEY_FIELDS, label)


def test_field_missing_from_every_row_is_named(tmp_path):
    rows = utterance_rows()
    for row in rows:
        del row["model_name"]
    frame, label = load_utterances(tmp_path, rows)
    with pytest.raises(DataValidationError, match=rf"^{label}: field 'model_name' is missing from every row"):
        data.validate_rows(frame, UTTERANCE_FIELDS, label)


def test_extra_fields_are_carried_untouched(tmp_path):
    rows = utterance_rows()
    for row in rows:
        row["extra_annotation"] = {"anything": [1, 2]}
    frame, label = load_utterances(tmp_path, rows)
    data.validate_rows(frame, UTTERANCE_FIELDS, label)
    assert "extra_annotation" in frame.columns


@pytest.mark.parametrize("value", ["50", True])
def test_non_integer_score_types_are_rejected(value):
    frame = pd.DataFrame(utterance_rows())
    frame["score"] = frame["score"].astype(object)
    frame.at[0, "score"] = value
    with pytest.raises(DataValidationError, match="field 'score'"):
        data.validate_rows(frame, UTTERANCE_FIELDS, "utterances")


# ------------------------------------------------------------------------------------------ build_pairs

def test_build_pairs_all_within_interaction_pairs_minus_ties():
    pairs, n_ties = data.build_pairs(pd.DataFrame(utterance_rows()))
    # int0: C(4,2) = 6 minus the 70/70 tie; int1: 1; int2: its only pair is a tie
    assert comb(4, 2) == 6
    assert n_ties == 2 and len(pairs) == 6 - 1 + 1
    assert set(zip(pairs.chosen_id, pairs.rejected_id)) == {
        ("ut0", "ut1"), ("ut0", "ut3"), ("ut2", "ut1"), ("ut3", "ut1"), ("ut2", "ut3"), ("ut5", "ut4")}
    assert (pairs.chosen_score > pairs.rejected_score).all()
    assert pairs.pair_id.is_unique and pairs.pair_id.tolist() == sorted(pairs.pair_id)
    assert list(pairs.index) == list(range(len(pairs)))


def test_build_pairs_columns_follow_the_chosen_side():
    rows = utterance_rows()
    pairs, _ = data.build_pairs(pd.DataFrame(rows))
    by_id = {r["utterance_id"]: r for r in rows}
    for pair in pairs.itertuples():
        chosen, rejected = by_id[pair.chosen_id], by_id[pair.rejected_id]
        assert chosen["interaction_id"] == rejected["interaction_id"] == pair.interaction_id
        assert (pair.chosen, pair.rejected) == (chosen["model_response"], rejected["model_response"])
        assert (pair.chosen_score, pair.rejected_score) == (chosen["score"], rejected["score"])
        assert pair.prompt == chosen["user_prompt"] and pair.user_id == chosen["user_id"]
        assert pair.turn == chosen["turn"]
        first, second = sorted([chosen, rejected], key=lambda r: r["within_turn_id"])
        assert pair.pair_id == f"{first['utterance_id']}|{second['utterance_id']}"
    assert pairs.set_index("pair_id").loc["ut2|ut3", "chosen"] == "EMPTY STRING"  # empty responses are responses


def test_build_pairs_from_loaded_files(prism):
    utterances, _ = load("utterances", prism)
    pairs, n_ties = data.build_pairs(utterances)
    assert (len(pairs), n_ties) == (6, 2)
    assert pairs.turn.dtype.kind == "i" and pairs.chosen_score.dtype.kind == "i"
    assert pairs.rejected_score.dtype.kind == "i"


def test_build_pairs_only_ties_gives_no_pairs():
    pairs, n_ties = data.build_pairs(pd.DataFrame(utterance_rows()[6:]))
    assert len(pairs) == 0 and n_ties == 1
    assert {"pair_id", "chosen_id", "rejected_id", "chosen_score"} <= set(pairs.columns)


# ------------------------------------------------------------------------------------------ users and countries

def test_split_units_disjoint_sized_and_seeded():
    users = [f"user{i}" for i in range(100)]
    split = data.split_units(users, 0.15, seed=0)
    assert split.name == "split" and split.index.is_unique and sorted(split.index) == sorted(users)
    assert set(split) == {"train", "test"}
    assert (split == "test").sum() == 15 and (split == "train").sum() == 85
    again = data.split_units(users, 0.15, seed=0)
    assert again.sort_index().equals(split.sort_index())
    other = data.split_units(users, 0.15, seed=1)
    assert set(other[other == "test"].index) != set(split[split == "test"].index)


def test_split_units_small_share():
    split = data.split_units([f"u{i}" for i in range(20)], 0.5, seed=3)
    assert (split == "test").sum() == 10 and (split == "train").sum() == 10


def test_user_countries(prism):
    survey, _ = load("survey", prism)
    countries, _ = data.user_countries(survey)
    assert countries.name == "country"
    assert countries.to_dict() == {"u1": "Chile", "u2": "Mexico", "u3": "Chile"}


def test_duplicate_user_names_both_rows():
    survey = pd.DataFrame(survey_rows() + [survey_row("u2", "Chile")])
    with pytest.raises(DataValidationError, match=re.escape("survey.jsonl: row 4: field(s) user_id = 'u2' repeat row 2")):
        data.check_unique(survey, ["user_id"], "survey.jsonl")


def test_check_countries():
    present = pd.Series(["Chile", "Mexico", "Chile"])
    data.check_countries({"chile": "Chile", "mexico": "Mexico"}, present)
    with pytest.raises(ConfigError) as info:
        data.check_countries({"chile": "Chile", "atlantis": "Atlantis"}, present)
    message = str(info.value)
    assert "countries.atlantis = 'Atlantis'" in message and "present: Chile, Mexico" in message
    with pytest.raises(ConfigError, match="countries.chile"):
        data.check_countries({"chile": "chile"}, present)  # exact names: case matters


# ------------------------------------------------------------------------------------------ truth and utterances

def test_attach_truth_margins_by_hand():
    pairs, _ = data.build_pairs(pd.DataFrame(utterance_rows()))
    utility = {f"ut{i}": u for i, u in enumerate([1.0, -2.0, 0.5, 0.25, 3.0, -1.0, 0.0, 0.0])}
    truth = pd.DataFrame({"utterance_id": list(utility), "country_utility": list(utility.values()),
                          "country": "Chile"}).iloc[::-1]  # order of the truth file does not matter
    with_truth = data.attach_truth(pairs, truth)
    margins = dict(zip(with_truth.pair_id, with_truth.truth_margin))
    assert margins["ut0|ut1"] == pytest.approx(3.0)  # chosen ut0 (1.0) - rejected ut1 (-2.0)
    assert margins["ut1|ut2"] == pytest.approx(2.5)  # chosen ut2 (0.5) - ut1
    assert margins["ut4|ut5"] == pytest.approx(-4.0)  # chosen ut5 (-1.0) - ut4 (3.0): noise beat the truth
    assert "truth_margin" not in pairs  # returns a copy
    assert with_truth.extreme_annotator.isna().all()  # a truth file without the extreme field


def test_attach_truth_carries_the_annotators_extreme_flag():
    pairs, _ = data.build_pairs(pd.DataFrame(utterance_rows()))
    ids = [f"ut{i}" for i in range(8)]
    truth = pd.DataFrame({"utterance_id": ids, "country_utility": 0.0, "country": "Chile",
                          "extreme": [i >= 4 for i in range(8)]})  # ut4.. belong to an extreme annotator
    flags = dict(zip(*data.attach_truth(pairs, truth)[["pair_id", "extreme_annotator"]].to_numpy().T))
    assert flags["ut0|ut1"] == 0.0 and flags["ut4|ut5"] == 1.0


def test_attach_truth_none_gives_nan():
    pairs, _ = data.build_pairs(pd.DataFrame(utterance_rows()))
    with_truth = data.attach_truth(pairs, None)
    assert with_truth.truth_margin.isna().all() and with_truth.extreme_annotator.isna().all()


def test_pair_utterances_lists_each_response_once():
    pairs, _ = data.build_pairs(pd.DataFrame(utterance_rows()))
    table = data.pair_utterances(pairs)
    assert table.index.name == "utterance_id" and list(table.columns) == ["prompt", "response"]
    assert list(table.index) == ["ut0", "ut1", "ut2", "ut3", "ut4", "ut5"]  # the tied int2 is in no pair
    assert table.loc["ut2", "response"] == "EMPTY STRING"
    assert table.loc["ut4", "prompt"] == "tell me more" and table.loc["ut1", "response"] == "response 1"


def test_country_counts_by_hand():
    user_country = pd.Series({"u1": "Chile", "u2": "Chile", "u3": "Chile", "u4": "Mexico"}, name="country")
    split = pd.Series({"u4": "train", "u3": "train", "u2": "test", "u1": "train"})
    utterances = pd.DataFrame({"user_id": ["u1", "u1", "u2", "u4"]})
    pairs = pd.DataFrame({"user_id": ["u1"] * 3 + ["u2"] + ["u4"] * 2,
                          "country": ["Chile"] * 4 + ["Mexico"] * 2,
                          "split": ["train"] * 3 + ["test"] + ["train"] * 2})
    table = data.country_counts(user_country, split, utterances, pairs)
    assert list(table.index) == ["Chile", "Mexico"]  # most users first
    assert table.loc["Chile"].to_dict() == {"users": 3, "conversing_users": 2, "train_users": 2, "test_users": 1,
                                            "train_pairs": 3, "test_pairs": 1}
    assert table.loc["Mexico"].to_dict() == {"users": 1, "conversing_users": 1, "train_users": 1, "test_users": 0,
                                             "train_pairs": 2, "test_pairs": 0}
    assert all(dtype.kind == "i" for dtype in table.dtypes)


def test_pipeline_on_the_fixture(prism):
    survey, _ = load("survey", prism)
    utterances, _ = load("utterances", prism)
    countries, _ = data.user_countries(survey)
    split = pd.Series({"u1": "train", "u2": "test", "u3": "train"})
    pairs, _ = data.build_pairs(utterances)
    pairs = pairs.assign(country=countries.loc[pairs.user_id].to_numpy(), split=split.loc[pairs.user_id].to_numpy())
    table = data.country_counts(countries, split, utterances, pairs)
    assert table.loc["Chile", "train_pairs"] == 6 and table.loc["Mexico", "test_pairs"] == 0
    assert np.array_equal(table.users.to_numpy(), [2, 1])


# ------------------------------------------------------------------------------------------ the real-schema fixture

FIXTURE = __import__("scpo.paths", fromlist=["ROOT"]).ROOT / "tests" / "fixtures" / "prism"


def test_prism_fixture_prepares_with_every_count():
    prepared = data.prepare_prism("local", FIXTURE, "x", "y", 0.15, 0, {"chile": "Chile"},
                                  {"Chile", "United States", "United Kingdom"})
    facts = prepared.facts
    assert facts["survey_users"] == 34 and facts["survey_only_users"] == 1 and facts["empty_responses"] == 1
    assert facts["ties_dropped"] > 0 and facts["orphan_pairs_dropped"] == 0
    assert facts["pairs_of_other_countries_dropped"] > 0  # South Africa and Mexico: counted, not kept
    pairs = prepared.pairs
    assert set(pairs.country) == {"Chile", "United States", "United Kingdom"} and len(pairs) == facts["pairs"]
    train, test = (set(pairs.user_id[pairs.split == s]) for s in ("train", "test"))
    assert train and test and not train & test
    texts = prepared.utterances.set_index("utterance_id")
    assert set(pairs.chosen_id) | set(pairs.rejected_id) == set(texts.index)
    by_user = pairs.set_index("chosen_id").split
    assert (texts.split.loc[by_user.index] == by_user).all()  # a response's split is its user's
    assert prepared.counts.loc["Mexico", "users"] == 3 and prepared.answer_shares is None


def test_orphan_utterances_are_dropped_and_counted(tmp_path):
    survey = [r for r in survey_rows() if r["user_id"] != "u2"]  # u2 (Mexico) answered no survey
    rows = utterance_rows()
    rows[7]["score"] = 10  # u2's interaction now gives one pair instead of a tie
    write_jsonl(survey, tmp_path / "survey.jsonl")
    write_jsonl(rows, tmp_path / "utterances.jsonl")
    # no study country: Chile is left with one conversing user, too few to split (check_split's error)
    prepared = data.prepare_prism("local", tmp_path, "x", "y", 0.5, 0, {}, {"Chile"})
    assert prepared.facts["orphan_pairs_dropped"] == 1 and prepared.facts["ties_dropped"] == 1
    assert set(prepared.pairs.user_id) == {"u1"}


# ------------------------------------------------------------------------------------------ robustness

def test_canonical_labels_prefer_the_configured_spelling_then_the_most_frequent():
    mapping, changed = data.canonical_labels(["Chile", "chile", " Chile ", "CHILE", "Peru", "peru", "peru"])
    assert {mapping[k] for k in ("Chile", "chile", " Chile ", "CHILE")} == {"Chile"} and changed == 4
    mapping, changed = data.canonical_labels(["chile", "CHILE"], preferred={"Chile"})
    assert mapping == {"chile": "Chile", "CHILE": "Chile"} and changed == 2


def test_read_jsonl_tells_null_absent_and_nan_apart(tmp_path):
    path = tmp_path / "utterances.jsonl"
    path.write_text('{"a": null}\n{"a": NaN}\n{}\n')
    rows = data.read_jsonl(path, "a test file")
    assert rows[0]["a"] is None and math.isnan(rows[1]["a"]) and "a" not in rows[2]
    frame = pd.DataFrame({"a": [None, float("nan"), data.ABSENT]}, dtype=object)
    messages = []
    for i in range(3):
        with pytest.raises(DataValidationError) as info:
            data.validate_rows(frame.iloc[[i]].reset_index(drop=True), {"a": "int 1..100"}, "f")
        messages.append(str(info.value))
    assert "is missing (null)" in messages[0] and "= NaN is not a valid" in messages[1]
    assert "missing from every row" in messages[2]


def test_integers_are_checked_exactly_whatever_their_size():
    column = pd.Series([0, 2**31 - 1, 2**31, 2**64, -1, 3.0, 3.5, True, "3"], dtype=object)
    assert data._bad_rows(column, f"int 0..{2**31 - 1}").tolist() == [False, False, True, True, True, False, True,
                                                                      True, True]
