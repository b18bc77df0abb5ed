"""A fuzzer of the data stage's inputs: property-based mutations of valid PRISM, GlobalOpinionQA and params
files, each run through the data stage's own functions (`prepare_prism`, `prepare_goqa`, `load_stage`).

Every outcome must be one of:
- the project's own error (DataValidationError for data, ConfigError for params), naming the file (and,
  for a defect in a row, the row or line; for params, the key);
- success with the same pairs as the valid file, or with a drop the metrics count;
- for mutations that change valid data (a row deleted, a file cut at a line end): success with a subset
  of the valid file's pairs, each unchanged.
Never another exception type, never different pairs without a count.

`SCPO_FUZZ_EXAMPLES` sets the examples per test (CI: 40, a few seconds each).
"""

from __future__ import annotations

import copy
import importlib.util
import math
import os
import re
import tempfile
import typing
from pathlib import Path

import pandas as pd
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scpo import config, data, goqa
from scpo.config import ConfigError
from scpo.data import DataValidationError
from scpo.paths import ROOT

_spec = importlib.util.spec_from_file_location("make_corpus", ROOT / "tests" / "bad_inputs" / "make_corpus.py")
corpus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(corpus)

EXAMPLES = int(os.environ.get("SCPO_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
COUNTRIES = {"chile": "Chile"}
KEEP = {"Chile", "United States"}
LOCATED = re.compile(r"\b(row|line) \d+")
NAMED_KEY = re.compile(r"params: [a-z_]+(\.[a-z_]+)*")  # a ConfigError about the data names the params key
FILE_LEVEL = ("missing from every row", "no rows", "compressed", "a zip archive", "UTF-16", "empty", "header",
              "no row has a question", "no question is left", "too few to split")
REQUIRED = set(data.UTTERANCE_FIELDS)
INTERACTION_FIELDS = data.INTERACTION_FIELDS


# ------------------------------------------------------------------------------------------ running a case

def prism_bytes(survey=None, utterances=None) -> tuple[bytes, bytes]:
    return (corpus.jsonl(survey or corpus.BASE_SURVEY).encode(),
            corpus.jsonl(utterances or corpus.BASE_UTTERANCES).encode())


def run_stage(prepare, files: dict[str, bytes]):
    """Write `files` to a scratch folder and run the data stage's `prepare` on it: ('ok', Prepared), or
    ('error', message) for the project's own errors (a data error names one of the files, a params error
    its key); anything else propagates."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for name, content in files.items():
            (folder / name).write_bytes(content)
        try:
            return "ok", prepare("local", folder, "x", "y", 0.5, 0, COUNTRIES, KEEP)
        except DataValidationError as error:
            assert any(str(folder / name) in str(error) for name in files), f"a data error that names no file: {error}"
            return "error", str(error)
        except ConfigError as error:
            assert NAMED_KEY.match(str(error)), f"a params error that names no key: {error}"
            return "error", str(error)


def run_prism(survey: bytes, utterances: bytes):
    return run_stage(data.prepare_prism, {"survey.jsonl": survey, "utterances.jsonl": utterances})


def run_goqa(text: bytes):
    return run_stage(goqa.prepare_goqa, {goqa.FILE_NAME: text})


def located(message: str) -> bool:
    """A data error says where: a row or line, or that the whole file is wrong."""
    return bool(LOCATED.search(message)) or any(phrase in message for phrase in FILE_LEVEL)


def same_pairs(prepared, base) -> None:
    pd.testing.assert_frame_equal(prepared.pairs, base.pairs)
    pd.testing.assert_frame_equal(prepared.utterances, base.utterances)


CONTENT = ["user_id", "prompt", "chosen", "rejected", "chosen_score", "rejected_score", "country"]


def subset_of(prepared, base, content: list[str] = CONTENT) -> None:
    """Each pair is one of the valid file's, unchanged in what it says (who, prompt, chosen, rejected, scores,
    country). Ids may move (GlobalOpinionQA numbers questions by row), and so may the split (drawn over the
    units present)."""
    mine = set(prepared.pairs[content].itertuples(index=False, name=None))
    theirs = set(base.pairs[content].itertuples(index=False, name=None))
    assert mine <= theirs, f"pairs that the valid file does not have: {sorted(mine - theirs)[:3]}"


BASE_PRISM = run_prism(*prism_bytes())[1]
BASE_GOQA = run_goqa(corpus.goqa_text(corpus.GOQA_BASE).encode())[1]


# ------------------------------------------------------------------------------------------ PRISM

JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30), st.floats(allow_nan=False),
                        st.text(max_size=5), st.lists(st.integers(), max_size=2),
                        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@FUZZ
@given(which=st.sampled_from(["survey", "utterances"]), position=st.floats(0, 1), byte=st.integers(0, 255),
       mode=st.sampled_from(["flip", "insert"]))
def test_prism_bytes_changed_anywhere_give_a_located_error_or_valid_data(which, position, byte, mode):
    files = dict(zip(("survey", "utterances"), prism_bytes()))
    content = bytearray(files[which])
    at = min(int(position * len(content)), len(content) - 1)
    if mode == "flip":
        content[at] = byte
    else:
        content.insert(at, byte)
    files[which] = bytes(content)
    kind, result = run_prism(files["survey"], files["utterances"])
    if kind == "error":
        assert located(result) or bool(NAMED_KEY.match(result)), result
    if byte >= 0x80 and mode == "insert":  # never valid UTF-8 next to ASCII: the decoder must say so
        assert kind == "error" and "not UTF-8" in result, result


@FUZZ
@given(which=st.sampled_from(["survey", "utterances"]), position=st.floats(0, 1))
def test_prism_cut_off_gives_a_located_error_or_a_subset_of_the_pairs(which, position):
    files = dict(zip(("survey", "utterances"), prism_bytes()))
    files[which] = files[which][:int(position * len(files[which]))]
    kind, result = run_prism(files["survey"], files["utterances"])
    if kind == "ok":
        subset_of(result, BASE_PRISM)
    else:
        assert located(result) or bool(NAMED_KEY.match(result)), result


@FUZZ
@given(which=st.sampled_from(["survey", "utterances"]), index=st.integers(0, 20),
       action=st.sampled_from(["duplicate", "delete"]))
def test_prism_rows_duplicated_stop_and_rows_deleted_keep_a_subset(which, index, action):
    rows = {"survey": copy.deepcopy(corpus.BASE_SURVEY), "utterances": copy.deepcopy(corpus.BASE_UTTERANCES)}
    table = rows[which]
    index %= len(table)
    if action == "duplicate":
        table.insert(index + 1, copy.deepcopy(table[index]))
    else:
        del table[index]
    kind, result = run_prism(*prism_bytes(rows["survey"], rows["utterances"]))
    if action == "duplicate":
        assert kind == "error" and "repeat row" in result, result
    elif kind == "ok":
        subset_of(result, BASE_PRISM)
    else:
        assert located(result) or bool(NAMED_KEY.match(result)), result


@FUZZ
@given(index=st.integers(0, 9), field=st.sampled_from(sorted(corpus.BASE_UTTERANCES[0])),
       action=st.sampled_from(["delete", "swap"]), value=JSON_VALUES)
def test_prism_fields_deleted_or_retyped_stop_naming_row_and_field_or_change_nothing(index, field, action, value):
    rows = copy.deepcopy(corpus.BASE_UTTERANCES)
    if action == "delete":
        del rows[index][field]
    else:
        if type(value) is type(rows[index][field]) or value == rows[index][field]:
            value = None if rows[index][field] is not None else "x"  # a change of type, always
        rows[index][field] = value
    kind, result = run_prism(*prism_bytes(utterances=rows))
    if kind == "ok":
        same_pairs(result, BASE_PRISM)  # a field outside the schema, or a value of the same meaning (0.0 for 0)
    else:
        assert f"row {index + 1}" in result and field in result, result  # the row, or the row it repeats
        assert field in REQUIRED, f"{field} is not required, yet a change of it stopped the stage: {result}"


EXTREMES = ["1e309", "-1e309", "NaN", "Infinity", "-Infinity", str(2**64), str(2**63), str(2**31), "-1", "101",
            "0", "1e20", "-0.0", "1" * 5000]


@FUZZ
@given(index=st.integers(0, 9), field=st.sampled_from(["score", "turn", "within_turn_id"]),
       raw=st.sampled_from(EXTREMES))
def test_prism_extreme_numbers_stop_naming_the_row_or_mean_the_same(index, field, raw):
    rows = copy.deepcopy(corpus.BASE_UTTERANCES)
    rows[index][field] = "__RAW__"
    text = corpus.jsonl(rows).replace('"__RAW__"', raw).encode()
    kind, result = run_prism(corpus.jsonl(corpus.BASE_SURVEY).encode(), text)
    low, high = map(int, data.UTTERANCE_FIELDS[field].split()[1].split(".."))
    number = float(raw)
    valid = math.isfinite(number) and number.is_integer() and low <= number <= high
    if valid:  # a valid value loads, unless it clashes with its interaction (turn) or a sibling's slot
        if kind == "error":
            assert number != corpus.BASE_UTTERANCES[index][field], result
            assert "disagrees with row" in result or "repeat row" in result, result
        elif number == corpus.BASE_UTTERANCES[index][field]:  # e.g. -0.0 for 0: nothing changes
            same_pairs(result, BASE_PRISM)
    else:
        assert kind == "error" and f"row {index + 1}" in result, (raw, field, result)


@FUZZ
@given(index=st.integers(0, 3), spelling=st.sampled_from(["lower", "upper", "space", "title"]))
def test_prism_country_labels_in_another_case_or_spacing_are_one_country_and_counted(index, spelling):
    survey = copy.deepcopy(corpus.BASE_SURVEY)
    country = survey[index]["location"]["reside_country"]
    survey[index]["location"]["reside_country"] = {"lower": country.lower(), "upper": country.upper(),
                                                  "space": f"  {country} ", "title": country.title()}[spelling]
    kind, result = run_prism(*prism_bytes(survey=survey))
    assert kind == "ok", result
    same_pairs(result, BASE_PRISM)
    changed = survey[index]["location"]["reside_country"] != country
    assert result.facts["country_labels_normalised"] == int(changed)


@FUZZ
@given(index=st.integers(0, 9), field=st.sampled_from(list(INTERACTION_FIELDS)), other=st.integers(0, 9))
def test_prism_rows_of_one_interaction_that_disagree_stop_naming_both_rows(index, field, other):
    rows = copy.deepcopy(corpus.BASE_UTTERANCES)
    siblings = [i for i, row in enumerate(rows) if row["interaction_id"] == rows[index]["interaction_id"]]
    replacement = {"user_id": "u3" if rows[index]["user_id"] != "u3" else "u1", "turn": rows[index]["turn"] + 1 + other,
                   "conversation_id": f"c-other{other}", "user_prompt": f"Another prompt {other}?"}[field]
    rows[index][field] = replacement
    kind, result = run_prism(*prism_bytes(utterances=rows))
    assert kind == "error", f"rows of interaction {rows[index]['interaction_id']} disagree on {field}, yet it loaded"
    assert "disagrees with row" in result and f"'{field}'" in result or "conversation" in result, result
    assert any(f"row {i + 1}" in result for i in siblings) or "conversation" in result, result


# ------------------------------------------------------------------------------------------ GlobalOpinionQA

def goqa_bytes(rows=None) -> bytes:
    return corpus.goqa_text(rows if rows is not None else corpus.GOQA_BASE).encode()


@FUZZ
@given(position=st.floats(0, 1), byte=st.integers(0, 255), mode=st.sampled_from(["flip", "insert", "cut"]))
def test_goqa_bytes_changed_anywhere_give_a_located_error_or_valid_data(position, byte, mode):
    content = bytearray(goqa_bytes())
    at = min(int(position * len(content)), len(content) - 1)
    if mode == "flip":
        content[at] = byte
    elif mode == "insert":
        content.insert(at, byte)
    else:
        del content[at:]
    kind, result = run_goqa(bytes(content))
    if kind == "error":
        assert located(result) or bool(NAMED_KEY.match(result)), result
    elif mode == "cut":
        subset_of(result, BASE_GOQA, CONTENT[1:])  # the question id (user_id) is its row number
    if byte >= 0x80 and mode == "insert":
        assert kind == "error" and "not UTF-8" in result, result


@FUZZ
@given(index=st.integers(0, 2), action=st.sampled_from(["duplicate", "delete", "cell"]), column=st.integers(0, 3))
def test_goqa_rows_repeated_are_merged_and_counted_deleted_keep_a_subset(index, action, column):
    rows = copy.deepcopy(corpus.GOQA_BASE)
    if action == "duplicate":
        rows.append(copy.deepcopy(rows[index]))
    elif action == "delete":
        del rows[index]
    else:
        del rows[index][column]
    kind, result = run_goqa(goqa_bytes(rows))
    if action == "duplicate":
        assert kind == "ok", result
        same_pairs(result, BASE_GOQA)
        assert result.facts["dropped"]["repeated_question_rows"] == 1
    elif action == "delete" and kind == "ok":
        subset_of(result, BASE_GOQA, CONTENT[1:])
    else:
        assert kind == "error" and located(result) or bool(NAMED_KEY.match(result)), result
        if action == "cell":
            assert f"row {index + 1}" in result, result


def selections(row: list[str]) -> dict[str, list[float]]:
    return goqa.parse_selections(row[1], len(goqa.parse_options(row[2], "-", 0)), "-", 0)


def with_selections(row: list[str], shares: dict[str, list]) -> list[str]:
    return [row[0], f"defaultdict(<class 'list'>, {shares!r})", row[2], row[3]]


@FUZZ
@given(index=st.integers(0, 2), country=st.sampled_from(["Chile", "United States"]),
       change=st.sampled_from(["lower", "upper", "space", "zero", "extreme"]),
       extreme=st.sampled_from([1e309, -1e309, -0.5, 1.5, 2.0, 10**400]))
def test_goqa_labels_and_shares_changed_are_counted_or_stop_naming_the_row(index, country, change, extreme):
    rows = copy.deepcopy(corpus.GOQA_BASE)
    shares = selections(rows[index])
    if change in ("lower", "upper", "space"):
        label = {"lower": country.lower(), "upper": country.upper(), "space": f" {country}  "}[change]
        shares = {label if name == country else name: value for name, value in shares.items()}
    elif change == "zero":
        shares[country] = [0.0] * len(shares[country])
    else:
        shares[country] = [extreme] + shares[country][1:]
    rows[index] = with_selections(rows[index], shares)
    text = goqa_bytes(rows).replace(b"inf", b"1e309")  # repr(1e309) is 'inf': write it as the number it was
    kind, result = run_goqa(text)
    if change in ("lower", "upper", "space"):
        assert kind == "ok", result
        same_pairs(result, BASE_GOQA)
        assert result.facts["dropped"]["country_labels_normalised"] == 1
    elif change == "zero":
        if kind == "error":  # Chile left with too few questions in a split: a named error, not a crash
            assert "countries.chile" in result, result
            return
        assert result.facts["dropped"]["all_zero_shares"] == {country: 1}
        lost = BASE_GOQA.pairs[(BASE_GOQA.pairs.user_id == f"goqa{index + 1:05d}") & (BASE_GOQA.pairs.country == country)]
        assert len(result.pairs) == len(BASE_GOQA.pairs) - len(lost)
    else:
        assert kind == "error" and f"row {index + 1}" in result, result


# ------------------------------------------------------------------------------------------ params

PARAMS_TEXT = (ROOT / "params.yaml").read_text()
PARAMS = yaml.safe_load(PARAMS_TEXT)


def leaves(node, prefix=()):
    """Every (key path, value) of the params mapping; list-valued keys are leaves."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, (*prefix, key))
    else:
        yield prefix, node


LEAVES = sorted(path for path, _ in leaves(PARAMS))
PARAM_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2**64, 2**64), st.floats(),
                         st.sampled_from(["x", "", "1e-6", "yes", ".inf"]), st.lists(st.integers(0, 3), max_size=2),
                         st.just({"a": 1}))


def load_data_stage(text: str | bytes, path: Path):
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return config.load_stage("data", path)


def check_types(loaded) -> None:
    """Whatever loads has the declared types: no bool for a number, no float for an integer."""
    for section in loaded.values():
        if not hasattr(section, "__dataclass_fields__"):
            continue
        hints = typing.get_type_hints(type(section))
        for name, hint in hints.items():
            value = getattr(section, name)
            if hasattr(value, "__dataclass_fields__"):
                continue
            allowed = typing.get_args(hint) or (hint,)
            if typing.get_origin(hint) is tuple:
                assert isinstance(value, tuple), (name, value)
                continue
            if value is None:
                assert type(None) in allowed, (name, value)
                continue
            base = next(a for a in allowed if a is not type(None))
            assert type(value) is base, f"{name} = {value!r} loaded as {type(value).__name__}, declared {hint}"
            if base is float:
                assert not math.isnan(value), name


@FUZZ
@given(path=st.sampled_from(LEAVES), value=PARAM_VALUES)
def test_params_values_of_any_type_stop_the_first_stage_naming_the_key_or_load_with_their_declared_types(path, value):
    raw = copy.deepcopy(PARAMS)
    node = raw
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    with tempfile.TemporaryDirectory() as scratch:
        try:
            loaded = load_data_stage(yaml.safe_dump(raw), Path(scratch) / "params.yaml")
        except ConfigError as error:
            key = ".".join(map(str, path))
            named = key in str(error) or f"params: {path[0]}" in str(error) or str(path[0]) in str(error)
            assert named, f"the error does not name {key}: {error}"
            return
    check_types(loaded)


@FUZZ
@given(position=st.floats(0, 1), byte=st.integers(0, 255), mode=st.sampled_from(["flip", "insert", "cut", "repeat"]))
def test_params_files_changed_anywhere_stop_naming_the_file_or_load_with_their_declared_types(position, byte, mode):
    content = bytearray(PARAMS_TEXT.encode())
    at = min(int(position * len(content)), len(content) - 1)
    if mode == "flip":
        content[at] = byte
    elif mode == "insert":
        content.insert(at, byte)
    elif mode == "cut":
        del content[at:]
    else:  # the line at `at` given twice
        start = content.rfind(b"\n", 0, at) + 1
        end = content.find(b"\n", at) + 1 or len(content)
        content[end:end] = content[start:end]
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "params.yaml"
        try:
            loaded = load_data_stage(bytes(content), path)
        except ConfigError as error:
            assert str(path) in str(error) or "params: " in str(error), error
            return
    check_types(loaded)

