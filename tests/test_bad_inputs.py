"""The bad-input corpus (tests/bad_inputs, made by make_corpus.py): each malformed input, through the
entry points the data stage uses, gives a named error (file, row, field, or params key) or a counted drop."""

import copy

import pandas as pd
import pytest
import torch
import yaml

from scpo import config, data, goqa, selection
from scpo.config import ConfigError
from scpo.data import DataValidationError
from scpo.paths import ROOT

CORPUS = ROOT / "tests" / "bad_inputs"
CASES = yaml.safe_load((CORPUS / "cases.yaml").read_text())["cases"]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def prepare(case):
    countries = case.get("params", {}).get("countries", {"chile": "Chile"})
    keep = set(countries.values()) | {"United States"}
    prepare = data.prepare_prism if case["format"] == "prism" else goqa.prepare_goqa
    return prepare("local", CORPUS / case["name"], "x", "y", 0.5, 0, countries, keep)


def test_the_corpus_is_large_and_covers_every_format():
    formats = [case["format"] for case in CASES]
    assert len(CASES) >= 20 and {"prism", "goqa", "params"} <= set(formats)
    assert any(case["name"].startswith("simulated_") for case in CASES)
    assert len({case["name"] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", [c for c in CASES if c["format"] in ("prism", "goqa") and "error" in c],
                         ids=lambda c: c["name"])
def test_malformed_data_stops_with_a_named_error(case):
    with pytest.raises((DataValidationError, ConfigError)) as info:
        prepare(case)
    message = str(info.value)
    for fragment in case["error"]:
        assert fragment in message, f"{case['name']}: {fragment!r} not in {message!r}"
    if info.type is DataValidationError:  # data errors name the file they come from
        assert str(CORPUS / case["name"]) in message


@pytest.mark.parametrize("case", [c for c in CASES if "counted" in c], ids=lambda c: c["name"])
def test_dropped_rows_are_counted_in_the_stage_metrics(case):
    prepared = prepare(case)
    for dotted, expected in case["counted"].items():
        value = prepared.facts
        for part in dotted.split("."):
            value = value[part]
        assert value == expected, f"{case['name']}: {dotted} = {value}, expected {expected}"
    if "same_pairs_as" in case:  # a normalised label or a merged repeat changes nothing downstream
        base = prepare({"name": case["same_pairs_as"], "format": case["format"]})
        pd.testing.assert_frame_equal(prepared.pairs, base.pairs)
        pd.testing.assert_frame_equal(prepared.utterances, base.utterances)


@pytest.mark.parametrize("case", [c for c in CASES if c["format"] == "params"], ids=lambda c: c["name"])
def test_bad_params_stop_the_first_stage_naming_the_key(case, tmp_path):
    raw = copy.deepcopy(PARAMS)
    for dotted, value in yaml.safe_load((CORPUS / case["name"] / "overrides.yaml").read_text())["set"].items():
        *parents, key = dotted.split(".")
        node = raw
        for part in parents:
            node = node[part]
        node[key] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as info:
        config.load_stage("data", path)
    for fragment in case["error"]:
        assert fragment in str(info.value), f"{case['name']}: {fragment!r} not in {str(info.value)!r}"


@pytest.mark.parametrize("case", [c for c in CASES if c["format"] == "params_text"], ids=lambda c: c["name"])
def test_params_files_yaml_cannot_read_stop_the_first_stage_naming_the_file_and_line(case, tmp_path):
    edit = yaml.safe_load((CORPUS / case["name"] / "edit.yaml").read_text())
    text = (ROOT / "params.yaml").read_text()
    if "append" in edit:
        text += edit["append"]
    else:
        assert text.count(edit["find"]) == 1, f"{case['name']}: the edit must find one place in params.yaml"
        text = text.replace(edit["find"], edit["replace"])
    path = tmp_path / "params.yaml"
    path.write_bytes(text.encode(edit.get("encoding", "utf-8")))
    with pytest.raises(ConfigError) as info:
        config.load_stage("data", path)
    assert str(path) in str(info.value)
    for fragment in case["error"]:
        assert fragment in str(info.value), f"{case['name']}: {fragment!r} not in {str(info.value)!r}"


def test_a_country_left_with_no_training_pairs_after_filtering_is_named():
    pairs = prepare({"name": "prism_interaction_all_ties", "format": "prism"}).pairs
    train = pairs[pairs.split == "train"]
    confident = torch.full((len(train),), 5.0)  # the global RM agrees strongly with every pair
    keep = selection.disagreement_mask(confident, torch.zeros(len(train)), 0.7).numpy()
    kept = train.assign(keep=keep).groupby("country").keep.sum()
    with pytest.raises(ConfigError, match="filtering.tau = 0.7 keeps none of the training pairs of Chile"):
        selection.check_kept(kept, 0.7)
