"""PRISM preference data: loading (hub or local snapshot), validation, user split and pairs.

One loader serves the real dataset and the embedded simulation: both are PRISM's `survey` and
`utterances` configs, jsonl files read through `datasets`. `Prepared` is what the data stage writes
for either dataset (GlobalOpinionQA: `scpo/goqa.py`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pandas as pd

from scpo.config import ConfigError

EMPTY_RESPONSE = "EMPTY STRING"
# Required fields and a check of each value; anything else in a row is carried along untouched.
UTTERANCE_FIELDS = {
    "utterance_id": "string", "interaction_id": "string", "conversation_id": "string",
    "user_id": "string", "turn": "int>=0", "within_turn_id": "int>=0", "user_prompt": "string",
    "model_response": "string", "model_name": "string", "score": "int 1..100", "if_chosen": "bool",
}
SURVEY_FIELDS = {"user_id": "string", "location": "mapping with reside_country"}


class DataValidationError(ValueError):
    """A data row is malformed; the message names the file, the row and the field."""


def load_prism_config(name: str, source: str, folder: Path, hub_id: str, revision: str) -> tuple[pd.DataFrame, str]:
    """One PRISM config (`survey` or `utterances`) as a DataFrame, and a label naming where it came from.

    source "hub" reads `hub_id` at the pinned `revision`; anything else reads `<folder>/<name>.jsonl`.
    """
    if source == "hub":
        label = f"{hub_id}@{revision}:{name}"
        try:
            dataset = datasets.load_dataset(hub_id, name, revision=revision, split="train")
        except Exception as error:  # offline, or the hub refused: say how to go local
            raise ConnectionError(
                f"could not load {label} from the Hugging Face Hub ({type(error).__name__}: {error}). "
                "Offline? Put a snapshot of the dataset's survey.jsonl and utterances.jsonl in data/prism "
                "(`python -m scpo.fetch prism` where the hub is reachable; README, 'Real data') and set "
                "data.source: local, data.input: data/prism in params.yaml."
            ) from error
        return dataset.to_pandas(), label
    path = Path(folder) / f"{name}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: expected PRISM's {name}.jsonl there (see README, 'Real data')")
    raw = raw_jsonl(path)
    try:
        dataset = datasets.load_dataset("json", data_files=str(path), split="train")
    except Exception as error:
        raise DataValidationError(f"{path}: not readable as JSON lines ({type(error).__name__}: {error})") from error
    frame = dataset.to_pandas()
    fields = UTTERANCE_FIELDS if name == "utterances" else SURVEY_FIELDS
    for field_name in fields:  # as written in the file: Arrow would turn a score "70" into 70 without a word
        if field_name in frame.columns:
            frame[field_name] = [row.get(field_name) for row in raw]
    return frame, str(path)


def raw_jsonl(path: Path) -> list[dict]:
    """Every line of a JSON-lines file as written (for validation), or an error naming the line.

    Blank lines at the end are ignored; a blank line between rows is an error, so that row numbers
    stay line numbers in every later message."""
    rows, blank = [], None
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                blank = blank or number
                continue
            if blank:
                raise DataValidationError(f"{path}: row {blank}: blank line between rows")
            try:
                row = json.loads(line)
            except ValueError as error:
                raise DataValidationError(f"{path}: row {number}: not readable as JSON lines ({error})") from None
            if not isinstance(row, dict):
                raise DataValidationError(f"{path}: row {number}: not a JSON object")
            rows.append(row)
    if not rows:
        raise DataValidationError(f"{path}: no rows")
    return rows


def _bad_rows(column: pd.Series, rule: str) -> pd.Series:
    """True where a value breaks `rule` (a value of UTTERANCE_FIELDS or SURVEY_FIELDS)."""
    if rule == "string":  # non-empty: PRISM writes an empty response as the text 'EMPTY STRING'
        return ~column.map(lambda v: isinstance(v, str) and bool(v.strip()))
    if rule == "bool":
        return ~column.map(lambda v: isinstance(v, (bool, np.bool_)))
    if rule.startswith("mapping"):
        return ~column.map(lambda v: isinstance(v, dict) and isinstance(v.get("reside_country"), str)
                           and bool(v["reside_country"].strip()))
    is_number = column.map(lambda v: isinstance(v, (int, float, np.integer, np.floating))
                            and not isinstance(v, (bool, np.bool_)))  # no strings, no booleans
    numeric = pd.to_numeric(column.where(is_number), errors="coerce")
    ok = is_number & numeric.notna() & (numeric == numeric.round())
    ok &= numeric.between(1, 100) if rule == "int 1..100" else numeric >= 0
    return ~ok


def validate_rows(frame: pd.DataFrame, fields: dict[str, str], label: str) -> None:
    """Raise DataValidationError naming the file, the first bad row (1-based line) and the field."""
    for name, rule in fields.items():
        if name not in frame.columns:
            raise DataValidationError(f"{label}: field '{name}' is missing from every row")
        bad = _bad_rows(frame[name], rule)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            value = frame[name].iloc[row]
            value = value.item() if isinstance(value, np.generic) else value  # 500, not np.int64(500)
            # null in the file, the field left out of this row, or NaN: say so rather than print nan
            missing = value is None or (isinstance(value, float) and math.isnan(value))
            raise DataValidationError(
                f"{label}: row {row + 1}: field '{name}' "
                + ("is missing (null or absent), expected a valid " if missing else f"= {value!r} is not a valid ")
                + f"{rule} ({int(bad.sum())} bad row(s) in all)"
            )


def check_unique(frame: pd.DataFrame, columns: list[str], label: str) -> None:
    """Raise DataValidationError naming the first row whose `columns` repeat an earlier row's."""
    repeated = frame.duplicated(columns, keep=False).to_numpy()
    if repeated.any():
        first, second = np.flatnonzero(repeated)[0], np.flatnonzero(frame.duplicated(columns).to_numpy())[0]
        value = [v.item() if isinstance(v, np.generic) else v for v in frame[columns].iloc[second].tolist()]
        raise DataValidationError(f"{label}: row {second + 1}: field(s) {' + '.join(columns)} = "
                                  f"{value[0] if len(value) == 1 else tuple(value)!r} repeat row {first + 1}")


UNIQUE = {"survey": [["user_id"]], "utterances": [["utterance_id"], ["interaction_id", "within_turn_id"]]}


def user_countries(survey: pd.DataFrame) -> pd.Series:
    """`location.reside_country` per user, indexed by user_id (validated and unique)."""
    return pd.Series(survey.location.map(lambda loc: loc["reside_country"]).to_numpy(), index=survey.user_id,
                     name="country")


def split_units(unit_ids: list[str], test_size: float, seed: int) -> pd.Series:
    """'train'/'test' per split unit (PRISM user, GlobalOpinionQA question): `datasets.Dataset.train_test_split`
    over the units in file order, as the released code split PRISM's 1,500 survey rows (units, not
    pairs, so test users or questions are unseen)."""
    if len(unit_ids) < 2:
        raise DataValidationError(f"cannot split {len(unit_ids)} unit(s) into train and test")
    split = datasets.Dataset.from_dict({"user_id": list(unit_ids)}).train_test_split(test_size=test_size, seed=seed)
    return pd.concat([
        pd.Series("train", index=split["train"]["user_id"]),
        pd.Series("test", index=split["test"]["user_id"]),
    ]).rename("split")


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
    """Add `truth_margin` = noise-free country utility of chosen minus rejected (NaN for real data)."""
    if truth is None:
        return pairs.assign(truth_margin=np.nan)
    utility = truth.set_index("utterance_id").country_utility
    return pairs.assign(truth_margin=utility.loc[pairs.chosen_id].to_numpy()
                        - utility.loc[pairs.rejected_id].to_numpy())


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


@dataclass
class Prepared:
    """What the data stage writes for either dataset."""

    pairs: pd.DataFrame  # one row per preference pair, with `country` and `split` (train/test)
    utterances: pd.DataFrame  # every text to score once: utterance_id, prompt, response, split
    counts: pd.DataFrame  # per country: units, train/test units and train/test pairs
    facts: dict[str, Any]  # source label, sizes, and every dropped row counted by reason
    answer_shares: pd.DataFrame | None = field(default=None)  # GlobalOpinionQA: the distributional view


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
    user_country = user_countries(survey)
    check_countries(countries, user_country)
    check_reference_countries(keep - set(countries.values()), user_country)
    split = split_units(list(survey.user_id), test_size, split_seed)
    pairs, n_ties = build_pairs(utterances)
    orphans = ~pairs.user_id.isin(user_country.index)  # utterances of users absent from the survey
    pairs = pairs[~orphans].assign(country=lambda p: user_country.loc[p.user_id].to_numpy(),
                                   split=lambda p: split.loc[p.user_id].to_numpy())
    counts = country_counts(user_country, split, utterances, pairs)
    outside = ~pairs.country.isin(keep)
    pairs = pairs[~outside].reset_index(drop=True)
    facts = {"source": survey_label if source != "embedded" else "embedded", "split_units": "users",
             "survey_users": len(survey), "survey_only_users": int((~survey.user_id.isin(utterances.user_id)).sum()),
             "utterances": len(utterances),
             "empty_responses": int((utterances.model_response == EMPTY_RESPONSE).sum()),
             "single_response_interactions": int((utterances.groupby("interaction_id").size() == 1).sum()),
             "pairs": len(pairs), "ties_dropped": n_ties, "orphan_pairs_dropped": int(orphans.sum()),
             "pairs_of_other_countries_dropped": int(outside.sum())}
    return Prepared(pairs, scored_utterances(pairs), counts, facts)
