"""GlobalOpinionQA (`Anthropic/llm_global_opinions`): loading, validation, answer shares and preference pairs.

One CSV with string columns `question`, `selections`, `options`, `source`. `selections` is the text of
a Python `defaultdict` mapping each country to its answer shares, aligned with `options`; it is parsed
with `ast.literal_eval` on its `{...}` part, never `eval`. Country labels are mapped to PRISM's
residence-country names here, in one place, so the rest of the pipeline speaks one vocabulary.

Pairs, per country and question: every two options whose shares differ; the higher share is chosen,
equal shares are dropped (counted). The question is the split and bootstrap unit (it sits in the
`user_id` column the pipeline resamples), so test questions are unseen in training.

What real files hold, and the policy for each (every drop counted in the data stage's metrics):
- a (question, country) entry whose shares are all zero (a conditional follow-up not asked there):
  dropped, counted per country (`all_zero_shares`);
- one question (same text, same options) on two rows: one question unit (else it would sit in both
  splits); countries only the later row has are added to it, a country both rows have keeps the first
  row's shares (`repeated_question_rows`, `repeated_question_country_entries`);
- two identical option texts in one question: the question is dropped (its pairs would prefer a text to
  itself; `questions_with_repeated_options`);
- country labels differing only in case or whitespace: one country (`country_labels_normalised`);
- non-substantive options ("DK/Refused", "Don't know", "No answer", "Missing; ..."): `non_substantive`
  = keep (as the study is believed to have done: it describes no such step) makes pairs of them like any
  option; drop removes them (and their shares) before pairs are made (`non_substantive_options`).
"""

from __future__ import annotations

import ast
import csv
import itertools
import math
import re
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pandas as pd

from scpo.config import NON_SUBSTANTIVE_POLICIES, DataConfig
from scpo.data import (DataValidationError, canonical_labels, check_countries, check_reference_countries, check_split,
                       label_key, split_units)
from scpo.dataset import Prepared
from scpo.io import read_text

FILE_NAME = "global_opinions.csv"  # the hub dataset's file (data/global_opinions.csv): its registry entry's files
FIELDS = ("question", "selections", "options", "source")
# PRISM residence country -> its GlobalOpinionQA national-sample labels, where the spellings differ.
PRISM_TO_GOQA = {
    "South Africa": ("S. Africa",),
    "United Kingdom": ("Britain", "Great Britain"),  # GAS, WVS
    "South Korea": ("S. Korea", "South Korea"),
}
GOQA_TO_PRISM = {label_key(label): prism for prism, labels in PRISM_TO_GOQA.items() for label in labels}
NON_NATIONAL = "(Non-national sample)"  # e.g. "S. Africa (Non-national sample)": not a country's opinion
SHARE_TOLERANCE = 1e-6  # shares are fractions in [0, 1]; rounding in the CSV may overshoot by a hair
SUM_TOLERANCE = 0.1  # shares rounded to 2 decimals may overshoot 1 by up to 0.005 per option (20 options: 0.1)
# Options that are no opinion: GAS's "DK/Refused", WVS's "Don't know", "No answer", "Missing; ...",
# "Other missing; Multiple answers Mail (EVS)", "Not asked". Matched at the start of the text, any case.
NON_SUBSTANTIVE = re.compile(r"^\s*(dk\b|don[\'’]?t know|do not know|refused|no answer|not asked|(other )?missing\b)",
                             re.IGNORECASE)


def load_goqa(source: str, folder: Path, hub_id: str, revision: str) -> tuple[pd.DataFrame, str]:
    """The GlobalOpinionQA table and a label naming where it came from: the hub at `revision`
    (source "hub") or `<folder>/global_opinions.csv`; both through `datasets.load_dataset`."""
    if source == "hub":
        label = f"{hub_id}@{revision}"
        try:
            dataset = datasets.load_dataset(hub_id, revision=revision, split="train")
        except Exception as error:  # offline, or the hub refused: say how to go local
            raise ConnectionError(
                f"could not load {label} from the Hugging Face Hub ({type(error).__name__}: {error}). "
                f"Offline? Put a snapshot of the dataset's {FILE_NAME} in data/goqa (`python -m scpo.fetch goqa` "
                "where the hub is reachable; docs/real_data.md) and set data.source: local, data.input: "
                "data/goqa in params.yaml."
            ) from error
        return dataset.to_pandas(), label
    path = Path(folder) / FILE_NAME
    return read_csv(path, f"GlobalOpinionQA's {FILE_NAME} (docs/real_data.md)"), str(path)


def read_csv(path: Path, what: str) -> pd.DataFrame:
    """A CSV file as a frame of strings, every cell as written (`scpo.io.read_text` first: `what` says what
    was expected there), or a
    DataValidationError naming the row: a record whose field count differs from the header's, a quote
    never closed (a cut-off file), a header naming a column twice, no header or no rows. Rows are data
    rows, the header not counted; blank lines are skipped."""
    text = read_text(path, DataValidationError, what)
    reader = csv.reader(text.splitlines(keepends=True), strict=True)
    header, records = None, []
    try:
        for record in reader:
            if not record:
                continue
            if header is None:
                header = record
                repeated = sorted({name for name in header if header.count(name) > 1})
                if repeated:
                    raise DataValidationError(f"{path}: the header names column {repeated[0]!r} twice")
                continue
            if len(record) != len(header):
                raise DataValidationError(f"{path}: row {len(records) + 1}: {len(record)} field(s), the header has "
                                          f"{len(header)} ({', '.join(header)})")
            records.append(record)
    except csv.Error as error:  # e.g. a quote never closed: the file was cut off
        raise DataValidationError(f"{path}: row {len(records) + 1} (line {reader.line_num}): not readable as CSV "
                                  f"({error}; truncated file?)") from None
    if header is None:
        raise DataValidationError(f"{path}: empty, not readable as CSV (expected a header row: {', '.join(FIELDS)})")
    if not records:
        raise DataValidationError(f"{path}: no rows below the header")
    return pd.DataFrame(records, columns=header, dtype=object)


def _literal(text: Any, label: str, row: int, field: str) -> Any:
    """`ast.literal_eval` of a string cell, or a DataValidationError naming the row and field."""
    if not isinstance(text, str):
        raise DataValidationError(f"{label}: row {row}: field '{field}' = {text!r} is not a string")
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as error:
        raise DataValidationError(
            f"{label}: row {row}: field '{field}' is not a Python literal ({type(error).__name__}): {text[:80]!r}"
        ) from None


def parse_options(text: Any, label: str, row: int) -> list[str]:
    """The options list; numbers (WVS scale points such as 1.0) become their text ("1")."""
    options = _literal(text, label, row, "options")
    if not isinstance(options, (list, tuple)) or len(options) < 2:
        raise DataValidationError(f"{label}: row {row}: field 'options' must list at least 2 options, got {text!r}")
    texts = []
    for option in options:
        if isinstance(option, bool) or not isinstance(option, (str, int, float)) or option == "":
            raise DataValidationError(f"{label}: row {row}: field 'options' has an invalid option {option!r}")
        texts.append(format(option, "g") if isinstance(option, (int, float)) else option)
    return texts


def parse_selections(text: Any, n_options: int, label: str, row: int) -> dict[str, list[float]]:
    """Country label -> answer shares, from `defaultdict(<class 'list'>, {...})`; each list must have
    one share in [0, 1] per option (all zero is allowed here: `parse_goqa` counts and drops it)."""
    if not isinstance(text, str) or "{" not in text or "}" not in text:
        raise DataValidationError(f"{label}: row {row}: field 'selections' is not a defaultdict text: {str(text)[:80]!r}")
    body = text[text.index("{"): text.rindex("}") + 1]
    selections = _literal(body, label, row, "selections")
    if isinstance(selections, dict):  # a dict literal keeps the last of repeated keys: refuse instead
        keys = [k.value for k in ast.parse(body, mode="eval").body.keys if isinstance(k, ast.Constant)]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise DataValidationError(f"{label}: row {row}: field 'selections' lists {repeated[0]!r} twice")
    if not isinstance(selections, dict) or not selections:
        raise DataValidationError(f"{label}: row {row}: field 'selections' holds no country shares")
    for country, shares in selections.items():
        where = f"{label}: row {row}: field 'selections', country {country!r}"
        if not isinstance(country, str) or not country:
            raise DataValidationError(f"{where}: not a country name")
        if not isinstance(shares, (list, tuple)) or len(shares) != n_options:
            raise DataValidationError(f"{where}: expected {n_options} shares (one per option), got {shares!r}")
        # the range first: math.isfinite of an integer beyond float range would raise OverflowError
        if not all(isinstance(s, (int, float)) and not isinstance(s, bool)
                   and -SHARE_TOLERANCE <= s <= 1 + SHARE_TOLERANCE and math.isfinite(s) for s in shares):
            raise DataValidationError(f"{where}: shares must be numbers in [0, 1], got {shares!r}")
        if sum(shares) > 1 + SUM_TOLERANCE:  # a distribution over options: more than 1 is not rounding
            raise DataValidationError(f"{where}: shares sum to {sum(shares):.3g} > 1, got {shares!r}")
    return selections


def prism_country(label: str) -> str | None:
    """PRISM's name for a GlobalOpinionQA country label (any case); None for a non-national sample."""
    if NON_NATIONAL.lower() in label.lower():
        return None
    return GOQA_TO_PRISM.get(label_key(label), " ".join(label.split()))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or \
        (isinstance(value, str) and not value.strip())


def parse_goqa(frame: pd.DataFrame, label: str, non_substantive: str = "keep",
               preferred: set[str] = frozenset()) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Validate every row; return (questions, answer shares, drop counts).

    questions: question_id, question, options (list), source. shares: question_id, country (PRISM
    name), shares (list, normalised to sum 1). Dropped and counted, never silently: rows without a
    question text (the hub CSV has one), non-national samples, a second label of the same country in
    one row, all-zero shares (per country), repeated questions and options, non-substantive options
    under `non_substantive: drop` (module docstring). `preferred`: the configured country names, the
    spelling labels that differ only in case take. Anything else malformed raises DataValidationError
    naming the file, row and field.
    """
    if non_substantive not in NON_SUBSTANTIVE_POLICIES:
        raise ValueError(f"non_substantive = {non_substantive!r}; allowed: {' | '.join(NON_SUBSTANTIVE_POLICIES)}")
    missing = [f for f in FIELDS if f not in frame.columns]
    if missing:
        raise DataValidationError(f"{label}: field(s) {', '.join(missing)} missing from every row "
                                  f"(columns: {', '.join(map(str, frame.columns))})")
    if frame.empty:
        raise DataValidationError(f"{label}: no rows")
    drops: dict[str, Any] = {"rows_without_question": 0, "non_national_samples": 0, "duplicate_country_labels": 0,
                             "all_zero_shares": {}, "repeated_question_rows": 0,
                             "repeated_question_country_entries": 0, "questions_with_repeated_options": 0,
                             "country_labels_normalised": 0, "non_substantive_policy": non_substantive,
                             "non_substantive_options": 0, "questions_without_two_substantive_options": 0}
    rows = []  # (row number, question, options, source, selections), validated
    for index, record in enumerate(frame[list(FIELDS)].itertuples(index=False), start=1):
        question = record.question
        if _missing(question):
            drops["rows_without_question"] += 1
            continue
        if not isinstance(question, str):
            raise DataValidationError(f"{label}: row {index}: field 'question' = {question!r} is not a string")
        if _missing(record.source) or not isinstance(record.source, str):
            shown = "is missing" if _missing(record.source) else f"= {record.source!r} is not a string"
            raise DataValidationError(f"{label}: row {index}: field 'source' {shown}")
        options = parse_options(record.options, label, index)
        rows.append((index, question.strip(), options, record.source,
                     parse_selections(record.selections, len(options), label, index)))
    if not rows:
        raise DataValidationError(f"{label}: no row has a question")
    national = [country for *_, selections in rows for country in selections if prism_country(country) is not None]
    known = preferred | {prism for prism in PRISM_TO_GOQA}
    spelling, drops["country_labels_normalised"] = canonical_labels(national, known)
    questions, shares, first_row = [], {}, {}
    for index, question, options, source, selections in rows:
        if len({option.strip() for option in options}) < len(options):
            drops["questions_with_repeated_options"] += 1
            continue
        looks_empty = [bool(NON_SUBSTANTIVE.match(option)) for option in options]
        drops["non_substantive_options"] += sum(looks_empty)
        kept = [k for k, empty in enumerate(looks_empty) if not (empty and non_substantive == "drop")]
        if len(kept) < 2:
            drops["questions_without_two_substantive_options"] += 1
            continue
        key = (" ".join(question.split()), tuple(options[k] for k in kept))  # the same text for the RM
        question_id = first_row.get(key)
        if question_id is None:  # the row number: stable across drops elsewhere
            question_id = first_row[key] = f"goqa{index:05d}"
            questions.append({"question_id": question_id, "question": question, "options": list(key[1]),
                              "source": source})
        else:
            drops["repeated_question_rows"] += 1
        seen = set()
        for country_label, values in selections.items():
            country = prism_country(spelling.get(country_label, country_label))
            if country is None:
                drops["non_national_samples"] += 1
                continue
            if country in seen:
                drops["duplicate_country_labels"] += 1
                continue
            seen.add(country)
            values = np.asarray([values[k] for k in kept], dtype="float64").clip(0.0, 1.0)
            if values.sum() <= 0:  # not asked there (a conditional follow-up), or only non-answers were kept
                drops["all_zero_shares"][country] = drops["all_zero_shares"].get(country, 0) + 1
                continue
            if (question_id, country) in shares:
                drops["repeated_question_country_entries"] += 1
                continue
            shares[question_id, country] = list(values / values.sum())
    if not questions:
        raise DataValidationError(f"{label}: no question is left to make pairs of ({drops})")
    shares_frame = pd.DataFrame([{"question_id": q, "country": c, "shares": v} for (q, c), v in shares.items()],
                                columns=["question_id", "country", "shares"])
    drops["all_zero_shares"] = dict(sorted(drops["all_zero_shares"].items()))
    return pd.DataFrame(questions), shares_frame, drops


def option_utterances(questions: pd.DataFrame) -> pd.DataFrame:
    """Every (question, option) text once: utterance_id `<question_id>/o<k>`, prompt, response."""
    rows = [{"utterance_id": f"{q.question_id}/o{k}", "question_id": q.question_id, "option_index": k,
             "prompt": q.question, "response": option}
            for q in questions.itertuples() for k, option in enumerate(q.options)]
    return pd.DataFrame(rows)


def build_pairs(questions: pd.DataFrame, shares: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Per (question, country), every option pair with different shares, the higher share chosen.

    Returns (pairs, n_ties) in the pipeline's pair schema; `user_id` and `interaction_id` hold the
    question id (the split and bootstrap unit), `chosen_score`/`rejected_score` the shares.
    """
    text = questions.set_index("question_id")
    rows, ties = [], 0
    for item in shares.itertuples(index=False):
        question = text.loc[item.question_id]
        for i, j in itertools.combinations(range(len(item.shares)), 2):
            if item.shares[i] == item.shares[j]:
                ties += 1
                continue
            win, lose = (i, j) if item.shares[i] > item.shares[j] else (j, i)
            rows.append({
                "pair_id": f"{item.question_id}/o{win}>o{lose}|{item.country}", "user_id": item.question_id,
                "interaction_id": item.question_id, "turn": 0, "prompt": question.question,
                "chosen": question.options[win], "rejected": question.options[lose],
                "chosen_id": f"{item.question_id}/o{win}", "rejected_id": f"{item.question_id}/o{lose}",
                "chosen_score": float(item.shares[win]), "rejected_score": float(item.shares[lose]),
                "country": item.country,
            })
    columns = ["pair_id", "user_id", "interaction_id", "turn", "prompt", "chosen", "rejected", "chosen_id",
               "rejected_id", "chosen_score", "rejected_score", "country"]
    pairs = pd.DataFrame(rows, columns=columns)
    return pairs.sort_values("pair_id", ignore_index=True), ties


def jensen_shannon_similarity(p: np.ndarray, q: np.ndarray) -> float:
    """1 - Jensen-Shannon distance (base 2, so in [0, 1]) between two distributions over the same
    options: the GlobalOpinionQA similarity between a model's and a country's answers."""
    p, q = np.asarray(p, dtype="float64"), np.asarray(q, dtype="float64")
    if p.shape != q.shape or p.ndim != 1:
        raise ValueError(f"shape mismatch: {p.shape} vs {q.shape}")
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2
    kl = lambda a: float(np.sum(np.where(a > 0, a * np.log2(np.where(a > 0, a, 1) / m), 0.0)))  # noqa: E731
    return 1.0 - math.sqrt(max((kl(p) + kl(q)) / 2, 0.0))


def softmax(scores: np.ndarray) -> np.ndarray:
    """A reward model's scores over a question's options as a distribution (stable)."""
    z = np.asarray(scores, dtype="float64")
    z = np.exp(z - z.max())
    return z / z.sum()


def distribution_similarity(shares: pd.DataFrame, utterance_scores: pd.Series) -> pd.Series:
    """Per (question, country) row of `shares`, 1 - JS distance between softmax(model scores over the
    question's options) and the country's answer shares. Index: the rows of `shares`."""
    values = []
    for item in shares.itertuples(index=False):
        ids = [f"{item.question_id}/o{k}" for k in range(len(item.shares))]
        values.append(jensen_shannon_similarity(softmax(utterance_scores.loc[ids].to_numpy()), item.shares))
    return pd.Series(values, index=shares.index, name="similarity", dtype="float64")


def country_counts(shares: pd.DataFrame, split: pd.Series, pairs: pd.DataFrame) -> pd.DataFrame:
    """Per country: questions with its answer shares, train/test questions and train/test pairs."""
    units = shares.assign(split=split.loc[shares.question_id].to_numpy())
    table = units.groupby("country").agg(questions=("question_id", "size"))
    for part in ("train", "test"):
        table[f"{part}_questions"] = units[units.split == part].groupby("country").size()
        table[f"{part}_pairs"] = pairs[pairs.split == part].groupby("country").size()
    return table.fillna(0).astype(int).sort_values("questions", ascending=False)


def prepare_goqa(source: str, folder: Path, hub_id: str, revision: str, test_size: float, split_seed: int,
                 countries: dict[str, str], keep: set[str], non_substantive: str = "keep") -> Prepared:
    """Load and validate GlobalOpinionQA, split questions, build pairs for the countries in `keep`
    (`non_substantive`: keep or drop options such as "Don't know"; `parse_goqa`)."""
    frame, label = load_goqa(source, folder, hub_id, revision)
    questions, shares, drops = parse_goqa(frame, label, non_substantive, set(countries.values()) | keep)
    check_countries(countries, shares.country)
    check_reference_countries(keep - set(countries.values()), shares.country)
    split = split_units(list(questions.question_id), test_size, split_seed, label, "question")
    every_country = shares
    shares = shares[shares.country.isin(keep)].reset_index(drop=True)
    pairs, ties = build_pairs(questions, shares)
    pairs = pairs.assign(split=split.loc[pairs.user_id].to_numpy())
    check_split(pairs, countries, "question", test_size)
    counts = country_counts(every_country, split, pairs)  # other countries: their questions, no pairs
    used = questions[questions.question_id.isin(shares.question_id)]
    utterances = option_utterances(used).assign(split=lambda u: split.loc[u.question_id].to_numpy())
    facts = {"source": label, "split_units": "questions", "rows": len(frame), "questions": len(questions),
             "questions_with_kept_countries": len(used), "options": int(questions.options.map(len).sum()),
             "pairs": len(pairs), "ties_dropped": ties, "dropped": drops}
    answer_shares = shares.assign(split=split.loc[shares.question_id].to_numpy())
    return Prepared(pairs, utterances[["utterance_id", "prompt", "response", "split"]], counts, facts, answer_shares)


def prepare(section: DataConfig, folder: Path, split_seed: int, countries: dict[str, str], keep: set[str]) -> Prepared:
    """GlobalOpinionQA's entry in `scpo.dataset.REGISTRY`: `prepare_goqa` with the `data` section's goqa keys."""
    return prepare_goqa(section.source, folder, section.goqa_hub_id, section.goqa_revision, section.test_size,
                        split_seed, countries, keep, section.goqa_non_substantive)
