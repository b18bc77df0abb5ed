"""PRISM preference data: loading (hub or local snapshot), validation, user split and pairs.

One loader serves the real dataset and the embedded simulation: both are PRISM's `survey` and
`utterances` configs, jsonl files read through `datasets`. Its `prepare` is PRISM's entry in
`scpo.dataset.REGISTRY`; the checks and the split here serve GlobalOpinionQA (`scpo/goqa.py`) too.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import datasets
import numpy as np
import pandas as pd

from scpo.dataset import Prepared
from scpo.errors import ConfigError
from scpo.io import read_text

if TYPE_CHECKING:
    from scpo.config import DataConfig

EMPTY_RESPONSE = "EMPTY STRING"
INT32_MAX = 2**31 - 1  # integer fields are bounded: a turn beyond int64 would wrap silently in numpy
# Required fields and a check of each value; anything else in a row is carried along untouched.
UTTERANCE_FIELDS = {
    "utterance_id": "string", "interaction_id": "string", "conversation_id": "string",
    "user_id": "string", "turn": f"int 0..{INT32_MAX}", "within_turn_id": f"int 0..{INT32_MAX}",
    "user_prompt": "string", "model_response": "string", "model_name": "string", "score": "int 1..100",
    "if_chosen": "bool",
}
SURVEY_FIELDS = {"user_id": "string", "location": "mapping with reside_country"}
# An interaction is one user's one prompt: its rows must agree on these (else pairs would be credited to the
# wrong user, split or prompt); a conversation is one user's.
INTERACTION_FIELDS = ("user_id", "conversation_id", "turn", "user_prompt")


class DataValidationError(ValueError):
    """A data row is malformed; the message names the file, the row and the field."""


class _Absent:
    """A required field left out of a JSON row (told apart from null and NaN in messages)."""

    def __repr__(self) -> str:
        return "<absent>"


ABSENT = _Absent()


def load_prism_config(name: str, source: str, folder: Path, hub_id: str, revision: str) -> tuple[pd.DataFrame, str]:
    """One PRISM config (`survey` or `utterances`) as a DataFrame, and a label naming where it came from.

    source "hub" reads `hub_id` at the pinned `revision` through `datasets`; anything else reads
    `<folder>/<name>.jsonl` with `read_jsonl` (strict UTF-8 and JSON, every value as written: no type
    inference that would turn a score "70" into 70 or a huge turn into a wrapped integer).
    """
    if source == "hub":
        label = f"{hub_id}@{revision}:{name}"
        try:
            dataset = datasets.load_dataset(hub_id, name, revision=revision, split="train")
        except Exception as error:  # offline, or the hub refused: say how to go local
            raise ConnectionError(
                f"could not load {label} from the Hugging Face Hub ({type(error).__name__}: {error}). "
                "Offline? Put a snapshot of the dataset's survey.jsonl and utterances.jsonl in data/prism "
                "(`python -m scpo.fetch prism` where the hub is reachable; docs/real_data.md) and set "
                "data.source: local, data.input: data/prism in params.yaml."
            ) from error
        return dataset.to_pandas(), label
    path = Path(folder) / f"{name}.jsonl"
    rows = read_jsonl(path, f"PRISM's {name}.jsonl (docs/real_data.md)")
    frame = pd.DataFrame.from_records(rows)
    fields = UTTERANCE_FIELDS if name == "utterances" else SURVEY_FIELDS
    for field_name in fields:  # absent from a row: ABSENT, not pandas' NaN, so the message can say so
        if field_name in frame.columns:
            frame[field_name] = pd.Series([row.get(field_name, ABSENT) for row in rows], dtype=object)
    return frame, str(path)


class _RowProblem(ValueError):
    """A JSON row the standard parser would accept but the data must not: repeated keys, overflow."""


def _object_without_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for key, value in pairs:
        if key in row:  # json keeps the last silently: the row would lose a value without a word
            raise _RowProblem(f"field {key!r} appears twice")
        row[key] = value
    return row


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _RowProblem(f"the number {text} is outside the range of a float")
    return value


def _lone_surrogate(value: Any, where: str = "") -> str | None:
    """The field path of the first string holding a lone UTF-16 surrogate (an escape like \ud800)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where or "a value"
        return None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _lone_surrogate(item, f"{where}.{key}" if where else str(key))
        if found:
            return found
    return None


def read_jsonl(path: Path, what: str) -> list[dict]:
    """Every row of a JSON-lines file, exactly as written, or a DataValidationError naming the file and the
    row (line): not UTF-8 or compressed (`scpo.io.decode_text`), not JSON, a field given twice, a number
    beyond float range, a lone surrogate escape, not an object, a blank line between rows.

    Blank lines at the end are ignored; a blank line between rows is an error, so that row numbers
    stay line numbers in every later message. NaN and Infinity (not JSON, but Python writes them) are
    read as floats, for the field checks to name."""
    text = read_text(path, DataValidationError, what)
    rows, blank = [], None
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            blank = blank or number
            continue
        if blank:
            raise DataValidationError(f"{path}: row {blank}: blank line between rows")
        try:
            row = json.loads(line, object_pairs_hook=_object_without_repeated_keys, parse_float=_finite_float)
        except _RowProblem as error:
            raise DataValidationError(f"{path}: row {number}: {error}") from None
        except RecursionError:
            raise DataValidationError(f"{path}: row {number}: nested too deeply to read") from None
        except ValueError as error:  # JSONDecodeError, or an integer of more than 4300 digits
            raise DataValidationError(f"{path}: row {number}: not readable as JSON lines ({error})") from None
        if not isinstance(row, dict):
            raise DataValidationError(f"{path}: row {number}: not a JSON object")
        surrogate = _lone_surrogate(row)
        if surrogate:
            raise DataValidationError(f"{path}: row {number}: field '{surrogate}' holds a lone surrogate escape "
                                      "(such as \\ud800): not valid Unicode text")
        rows.append(row)
    if not rows:
        raise DataValidationError(f"{path}: no rows")
    return rows


def _integer_in(value: Any, low: int, high: int) -> bool:
    """A whole number (no bool, no string) in [low, high]; exact for Python ints of any size."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (int, np.integer)):
        return low <= int(value) <= high
    if isinstance(value, (float, np.floating)):
        return math.isfinite(value) and float(value).is_integer() and low <= value <= high
    return False


def _bad_rows(column: pd.Series, rule: str) -> pd.Series:
    """True where a value breaks `rule` (a value of UTTERANCE_FIELDS or SURVEY_FIELDS)."""
    if rule == "string":  # non-empty: PRISM writes an empty response as the text 'EMPTY STRING'
        return ~column.map(lambda v: isinstance(v, str) and bool(v.strip()))
    if rule == "bool":
        return ~column.map(lambda v: isinstance(v, (bool, np.bool_)))
    if rule.startswith("mapping"):
        return ~column.map(lambda v: isinstance(v, dict) and isinstance(v.get("reside_country"), str)
                           and bool(v["reside_country"].strip()))
    bounds = re.fullmatch(r"int (\d+)\.\.(\d+)", rule)
    if bounds is None:
        raise ValueError(f"unknown field rule {rule!r}")
    low, high = int(bounds[1]), int(bounds[2])
    return ~column.map(lambda v: _integer_in(v, low, high)).astype(bool)


def describe(value: Any) -> str:
    """How a bad value reads in a message: absent, null, NaN, or its repr."""
    if value is ABSENT:
        return "is missing (absent from the row)"
    if value is None:
        return "is missing (null)"
    if isinstance(value, float) and math.isnan(value):
        return "= NaN"
    return f"= {value!r}"


def validate_rows(frame: pd.DataFrame, fields: dict[str, str], label: str) -> None:
    """Raise DataValidationError naming the file, the first bad row (1-based line) and the field."""
    for name, rule in fields.items():
        if name not in frame.columns or frame[name].map(lambda v: v is ABSENT).all():
            raise DataValidationError(f"{label}: field '{name}' is missing from every row")
        bad = _bad_rows(frame[name], rule)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            value = frame[name].iloc[row]
            value = value.item() if isinstance(value, np.generic) else value  # 500, not np.int64(500)
            missing = value is ABSENT or value is None
            raise DataValidationError(f"{label}: row {row + 1}: field '{name}' {describe(value)}"
                                      + (", expected a valid " if missing else " is not a valid ")
                                      + f"{rule} ({int(bad.sum())} bad row(s) in all)")


def check_consistent(frame: pd.DataFrame, unit: str, fields: tuple[str, ...], label: str, why: str) -> None:
    """Every row sharing a `unit` value (e.g. one interaction) agrees on each of `fields`, or a
    DataValidationError naming the first disagreeing row, the row it disagrees with and both values."""
    rows = pd.Series(np.arange(len(frame)), index=frame.index)
    first_row = rows.groupby(frame[unit].to_numpy(), sort=False).transform("first")
    for name in fields:
        values = frame[name].to_numpy(dtype=object)
        first = values[first_row.to_numpy()]
        differs = np.fromiter((a != b for a, b in zip(values, first)), dtype=bool, count=len(values))
        if differs.any():
            row = int(np.flatnonzero(differs)[0])
            other = int(first_row.iloc[row])
            raise DataValidationError(
                f"{label}: row {row + 1}: field '{name}' = {values[row]!r} disagrees with row {other + 1} "
                f"({first[row]!r}) of the same {unit} {frame[unit].iloc[row]!r}: {why}")


def check_unique(frame: pd.DataFrame, columns: list[str], label: str) -> None:
    """Raise DataValidationError naming the first row whose `columns` repeat an earlier row's."""
    repeated = frame.duplicated(columns, keep=False).to_numpy()
    if repeated.any():
        first, second = np.flatnonzero(repeated)[0], np.flatnonzero(frame.duplicated(columns).to_numpy())[0]
        value = [v.item() if isinstance(v, np.generic) else v for v in frame[columns].iloc[second].tolist()]
        raise DataValidationError(f"{label}: row {second + 1}: field(s) {' + '.join(columns)} = "
                                  f"{value[0] if len(value) == 1 else tuple(value)!r} repeat row {first + 1}")


def label_key(label: str) -> str:
    """What two spellings of one country label share: case and runs of whitespace ignored."""
    return " ".join(label.split()).casefold()


def canonical_labels(labels: list[str], preferred: set[str] = frozenset()) -> tuple[dict[str, str], int]:
    """One spelling per country label: a map from every spelling in `labels` to its canonical one, and
    how many entries of `labels` it changes.

    Spellings that differ only in case or whitespace ('Chile', 'chile', ' Chile ') are one label, else
    the study country would silently lose data to a "new" country. The canonical spelling is a name of
    `preferred` (the configured countries) when one matches, else the most frequent spelling with its
    whitespace collapsed (the first seen on a tie)."""
    by_key: dict[str, dict[str, int]] = {}
    for label in labels:
        spellings = by_key.setdefault(label_key(label), {})
        collapsed = " ".join(label.split())
        spellings[collapsed] = spellings.get(collapsed, 0) + 1
    preferred_by_key = {label_key(name): name for name in preferred}
    canonical = {key: preferred_by_key.get(key) or max(spellings, key=spellings.get)
                 for key, spellings in by_key.items()}
    mapping = {label: canonical[label_key(label)] for label in set(labels)}
    return mapping, sum(mapping[label] != label for label in labels)


UNIQUE = {"survey": [["user_id"]], "utterances": [["utterance_id"], ["interaction_id", "within_turn_id"]]}


def user_countries(survey: pd.DataFrame, preferred: set[str] = frozenset()) -> tuple[pd.Series, int]:
    """`location.reside_country` per user, indexed by user_id (validated and unique), each country in one
    spelling (`canonical_labels`); and how many users' labels that changed."""
    raw = [loc["reside_country"] for loc in survey.location]
    mapping, changed = canonical_labels(raw, preferred)
    return pd.Series([mapping[c] for c in raw], index=survey.user_id.to_numpy(), name="country"), changed


def split_units(unit_ids: list[str], test_size: float, seed: int, label: str = "data", unit: str = "unit") -> pd.Series:
    """'train'/'test' per split unit (PRISM user, GlobalOpinionQA question): `datasets.Dataset.train_test_split`
    over the units in file order, as the released code split PRISM's 1,500 survey rows (units, not
    pairs, so test users or questions are unseen)."""
    if len(unit_ids) < 2:
        raise DataValidationError(f"{label}: {len(unit_ids)} {unit}(s) in all: too few to split into train and test")
    split = datasets.Dataset.from_dict({"user_id": list(unit_ids)}).train_test_split(test_size=test_size, seed=seed)
    return pd.concat([
        pd.Series("train", index=split["train"]["user_id"]),
        pd.Series("test", index=split["test"]["user_id"]),
    ]).rename("split")


def check_split(pairs: pd.DataFrame, countries: dict[str, str], unit: str, test_size: float) -> None:
    """Every study country has pairs of at least one `unit` (user, question) in each split, or a ConfigError
    naming the country and how many it has: training and evaluation need both."""
    for slug, name in countries.items():
        mine = pairs[pairs.country == name]
        per_split = mine.groupby("split").user_id.nunique()
        train, test = int(per_split.get("train", 0)), int(per_split.get("test", 0))
        if train == 0 or test == 0:
            raise ConfigError(
                f"params: countries.{slug} = {name!r} has {train + test} {unit}(s) with pairs: {train} in the training "
                f"split and {test} in the test split (data.test_size = {test_size}); training and evaluation need "
                f"at least one in each: more {unit}s, another data.split_seed or test_size, or leave the country out")


def build_pairs(utterances: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """All within-interaction response pairs, the higher `score` chosen; exact ties dropped (counted).

    Returns (pairs, n_ties). Only the current `user_prompt` is used, no conversation history, as released.
    """
    cols = ["interaction_id", "user_id", "turn", "user_prompt", "utterance_id", "within_turn_id",
            "model_response", "score"]
    left = utterances[cols]
    both = left.merge(left[["interaction_id", "utterance_id", "within_turn_id", "model_response", "score"]],
                      on="interaction_id", suffixes=("_a", "_b"))
    both = both[both.within_turn_id_a < both.within_turn_id_b]
    ties = both.score_a == both.score_b
    both = both[~ties]
    a_wins = (both.score_a > both.score_b).to_numpy()
    pick = lambda a, b: np.where(a_wins, both[a].to_numpy(), both[b].to_numpy())  # noqa: E731
    pairs = pd.DataFrame({
        "pair_id": both.utterance_id_a + "|" + both.utterance_id_b,
        "user_id": both.user_id, "interaction_id": both.interaction_id, "turn": both.turn.astype(int),
        "prompt": both.user_prompt,
        "chosen": pick("model_response_a", "model_response_b"),
        "rejected": pick("model_response_b", "model_response_a"),
        "chosen_id": pick("utterance_id_a", "utterance_id_b"),
        "rejected_id": pick("utterance_id_b", "utterance_id_a"),
        "chosen_score": pick("score_a", "score_b").astype(int),
        "rejected_score": pick("score_b", "score_a").astype(int),
    })
    return pairs.sort_values("pair_id", ignore_index=True), int(ties.sum())


def check_countries(countries: dict[str, str], present: pd.Series) -> None:
    """Every configured country must have users in the data; the error lists the countries present."""
    known = set(present)
    for slug, name in countries.items():
        if name not in known:
            raise ConfigError(
                f"params: countries.{slug} = {name!r} has no users in the data; residence countries "
                f"present: {', '.join(sorted(known))}"
            )


def check_reference_countries(names: set[str], present: pd.Series) -> None:
    """Every `data.reference_countries` entry must be in the data, like `countries`."""
    absent = sorted(set(names) - set(present))
    if absent:
        raise ConfigError(f"params: data.reference_countries: {', '.join(map(repr, absent))} not in the data; "
                          f"countries present: {', '.join(sorted(set(present)))}")


def attach_truth(pairs: pd.DataFrame, truth: pd.DataFrame | None) -> pd.DataFrame:
    """Add `truth_margin` = noise-free country utility of chosen minus rejected, and `extreme_annotator` = whether
    the pair's annotator is one of the simulation's extreme annotators (both NaN for real data, which has no truth;
    a truth file without the `extreme` field, as older simulations wrote, also gives NaN there)."""
    if truth is None:
        return pairs.assign(truth_margin=np.nan, extreme_annotator=np.nan)
    indexed = truth.set_index("utterance_id")
    utility = indexed.country_utility
    extreme = (indexed.extreme.loc[pairs.chosen_id].to_numpy(dtype=float) if "extreme" in indexed
               else np.full(len(pairs), np.nan))
    return pairs.assign(truth_margin=utility.loc[pairs.chosen_id].to_numpy()
                        - utility.loc[pairs.rejected_id].to_numpy(), extreme_annotator=extreme)


def country_counts(user_country: pd.Series, split: pd.Series, utterances: pd.DataFrame,
                   pairs: pd.DataFrame) -> pd.DataFrame:
    """Per residence country: users, conversing users, train/test users and train/test pairs."""
    users = pd.DataFrame({"country": user_country, "split": split.reindex(user_country.index)})
    users["conversing"] = users.index.isin(utterances.user_id.unique())
    table = users.groupby("country").agg(users=("split", "size"), conversing_users=("conversing", "sum"))
    for part in ("train", "test"):
        table[f"{part}_users"] = users[users.split == part].groupby("country").size()
        table[f"{part}_pairs"] = pairs[pairs.split == part].groupby("country").size()
    return table.fillna(0).astype(int).sort_values("users", ascending=False)


def pair_utterances(pairs: pd.DataFrame) -> pd.DataFrame:
    """Each distinct response in `pairs` once: index `utterance_id`, columns `prompt`, `response`."""
    columns = ["utterance_id", "prompt", "response"]
    both = pd.concat([pairs[["chosen_id", "prompt", "chosen"]].set_axis(columns, axis=1),
                      pairs[["rejected_id", "prompt", "rejected"]].set_axis(columns, axis=1)])
    return both.drop_duplicates("utterance_id").set_index("utterance_id").sort_index()


def scored_utterances(pairs: pd.DataFrame) -> pd.DataFrame:
    """`pair_utterances` with each text's split (a response belongs to one user, so to one split)."""
    texts = pair_utterances(pairs)
    split = pd.concat([pairs.set_index("chosen_id").split, pairs.set_index("rejected_id").split])
    return texts.assign(split=split.groupby(level=0).first().loc[texts.index]).reset_index()


def prepare_prism(source: str, folder: Path, hub_id: str, revision: str, test_size: float, split_seed: int,
                  countries: dict[str, str], keep: set[str]) -> Prepared:
    """Load and validate PRISM, split users, build pairs; keep pairs of the countries in `keep` only."""
    load = dict(source=source, folder=folder, hub_id=hub_id, revision=revision)
    survey, survey_label = load_prism_config("survey", **load)
    utterances, utterances_label = load_prism_config("utterances", **load)
    validate_rows(survey, SURVEY_FIELDS, survey_label)
    validate_rows(utterances, UTTERANCE_FIELDS, utterances_label)
    for columns in UNIQUE["survey"]:
        check_unique(survey, columns, survey_label)
    for columns in UNIQUE["utterances"]:
        check_unique(utterances, columns, utterances_label)
    check_consistent(utterances, "interaction_id", INTERACTION_FIELDS, utterances_label,
                     "an interaction is one user's one prompt, so its rows must agree")
    check_consistent(utterances, "conversation_id", ("user_id",), utterances_label, "a conversation is one user's")
    user_country, relabelled = user_countries(survey, set(countries.values()) | keep)
    check_countries(countries, user_country)
    check_reference_countries(keep - set(countries.values()), user_country)
    split = split_units(list(survey.user_id), test_size, split_seed, survey_label, "user")
    pairs, n_ties = build_pairs(utterances)
    orphans = ~pairs.user_id.isin(user_country.index)  # utterances of users absent from the survey
    pairs = pairs[~orphans].assign(country=lambda p: user_country.loc[p.user_id].to_numpy(),
                                   split=lambda p: split.loc[p.user_id].to_numpy())
    counts = country_counts(user_country, split, utterances, pairs)
    outside = ~pairs.country.isin(keep)
    pairs = pairs[~outside].reset_index(drop=True)
    check_split(pairs, countries, "user", test_size)
    facts = {"source": survey_label if source != "embedded" else "embedded", "split_units": "users",
             "survey_users": len(survey), "survey_only_users": int((~survey.user_id.isin(utterances.user_id)).sum()),
             "utterances": len(utterances),
             "empty_responses": int((utterances.model_response == EMPTY_RESPONSE).sum()),
             "single_response_interactions": int((utterances.groupby("interaction_id").size() == 1).sum()),
             "pairs": len(pairs), "ties_dropped": n_ties, "orphan_pairs_dropped": int(orphans.sum()),
             "country_labels_normalised": relabelled,
             "pairs_of_other_countries_dropped": int(outside.sum())}
    return Prepared(pairs, scored_utterances(pairs), counts, facts)


def prepare(section: DataConfig, folder: Path, split_seed: int, countries: dict[str, str], keep: set[str]) -> Prepared:
    """PRISM's entry in `scpo.dataset.REGISTRY`: `prepare_prism` with the `data` section's PRISM keys."""
    return prepare_prism(section.source, folder, section.prism_hub_id, section.prism_revision, section.test_size,
                         split_seed, countries, keep)
