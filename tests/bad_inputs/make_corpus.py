"""Writes the bad-input corpus beside this file: one folder per case, in the upstream formats, and
`cases.yaml` saying what each must produce (an error naming file, row and field, or a counted drop).

`python tests/bad_inputs/make_corpus.py` regenerates it (deterministic). Each case is a valid base
with one defect, so the expected message can only come from that defect.
"""

from __future__ import annotations

import copy
import csv
import gzip
import json
import os
import shutil
from pathlib import Path

import yaml

HERE = Path(__file__).parent


def survey_row(user_id: str, country: str) -> dict:
    return {"user_id": user_id, "survey_only": False, "num_completed_conversations": 1, "age": "25-34 years old",
            "location": {"birth_country": country, "reside_country": country, "reside_countryISO": "CHL",
                         "special_region": "Latin America"}}


def utterance(n: int, interaction: str, user: str, within: int, score: int, turn: int = 0) -> dict:
    return {"utterance_id": f"ut{n}", "interaction_id": interaction, "conversation_id": f"c-{user}", "user_id": user,
            "turn": turn, "within_turn_id": within, "conversation_type": "unguided",
            "user_prompt": "How should I greet my neighbours?", "model_response": f"Say hello warmly ({n}).",
            "model_name": "gpt-4-turbo", "model_provider": "openai", "score": score, "if_chosen": within == 0,
            "included_in_balanced_subset": True}


BASE_SURVEY = [survey_row("u1", "Chile"), survey_row("u2", "Chile"), survey_row("u3", "United States"),
               survey_row("u4", "Chile")]
BASE_UTTERANCES = [utterance(0, "i1", "u1", 0, 90), utterance(1, "i1", "u1", 1, 40), utterance(2, "i1", "u1", 2, 70),
                   utterance(3, "i1", "u1", 3, 10), utterance(4, "i2", "u2", 0, 80), utterance(5, "i2", "u2", 1, 20),
                   utterance(6, "i3", "u3", 0, 55), utterance(7, "i3", "u3", 1, 65), utterance(8, "i4", "u4", 0, 30),
                   utterance(9, "i4", "u4", 1, 60)]
GOQA_HEADER = ["question", "selections", "options", "source"]
GOQA_BASE = [["Is family important?", "defaultdict(<class 'list'>, {'Chile': [0.6, 0.3, 0.1], 'United States': [0.2, 0.5, 0.3]})",
              "['Very', 'Somewhat', 'Not at all']", "WVS"],
             ["Do you trust the press?", "defaultdict(<class 'list'>, {'Chile': [0.4, 0.6], 'United States': [0.7, 0.3]})",
              "['Yes', 'No']", "GAS"],
             ["Is the economy good?", "defaultdict(<class 'list'>, {'Chile': [0.1, 0.9], 'United States': [0.5, 0.5]})",
              "['Good', 'Bad']", "GAS"]]


def jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def fresh(name: str) -> Path:
    folder = HERE / name
    if folder.is_dir() and not folder.is_symlink():
        shutil.rmtree(folder)
    folder.mkdir()
    return folder


def write(path: Path, content: str | bytes) -> None:
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))


def prism_case(name: str, expect: dict, survey=None, utterances=None, survey_text=None, utterances_text=None) -> dict:
    folder = fresh(name)
    write(folder / "survey.jsonl", survey_text if survey_text is not None else jsonl(survey or BASE_SURVEY))
    write(folder / "utterances.jsonl", utterances_text if utterances_text is not None else jsonl(utterances or BASE_UTTERANCES))
    return {"name": name, "format": "prism", **expect}


def goqa_text(rows: list[list[str]]) -> str:
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(GOQA_HEADER)
    writer.writerows(rows)
    return buffer.getvalue()


def goqa_case(name: str, expect: dict, rows=None, text=None, header=GOQA_HEADER) -> dict:
    folder = fresh(name)
    path = folder / "global_opinions.csv"
    if text is not None:
        write(path, text)
    else:
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(GOQA_BASE if rows is None else rows)
    return {"name": name, "format": "goqa", **expect}


def with_utterance(index: int, **changes) -> list[dict]:
    rows = copy.deepcopy(BASE_UTTERANCES)
    rows[index].update(changes)
    return rows


def with_goqa(index: int, column: int, value: str) -> list[list[str]]:
    rows = copy.deepcopy(GOQA_BASE)
    rows[index][column] = value
    return rows


def error(*fragments: str) -> dict:
    return {"error": list(fragments)}


def cases() -> list[dict]:
    utterances_file, survey_file, goqa_file = "utterances.jsonl", "survey.jsonl", "global_opinions.csv"
    no_score = copy.deepcopy(BASE_UTTERANCES)
    for row in no_score:
        del row["score"]
    no_location = copy.deepcopy(BASE_SURVEY)
    del no_location[1]["location"]
    empty_country = copy.deepcopy(BASE_SURVEY)
    empty_country[2]["location"]["reside_country"] = ""
    orphan = BASE_UTTERANCES + [utterance(10, "i9", "u99", 0, 10), utterance(11, "i9", "u99", 1, 90)]
    single = BASE_UTTERANCES + [utterance(10, "i5", "u1", 0, 50, turn=1)]
    all_ties = BASE_UTTERANCES + [utterance(10, "i6", "u2", 0, 50, turn=1), utterance(11, "i6", "u2", 1, 50, turn=1)]
    return [
        prism_case("prism_field_missing_everywhere", error(utterances_file, "field 'score' is missing from every row"),
                   utterances=no_score),
        prism_case("prism_score_as_string", error(utterances_file, "row 3: field 'score' = '70'"),
                   utterances=with_utterance(2, score="70")),
        prism_case("prism_score_out_of_range", error(utterances_file, "row 5: field 'score' = 180", "int 1..100"),
                   utterances=with_utterance(4, score=180)),
        prism_case("prism_score_fractional", error(utterances_file, "row 6: field 'score' = 20.5"),
                   utterances=with_utterance(5, score=20.5)),
        prism_case("prism_score_null", error(utterances_file, "row 2: field 'score' is missing (null)"),
                   utterances=with_utterance(1, score=None)),
        prism_case("prism_turn_not_a_number", error(utterances_file, "row 1: field 'turn' = 'first'"),
                   utterances=with_utterance(0, turn="first")),
        prism_case("prism_if_chosen_not_boolean", error(utterances_file, "row 4: field 'if_chosen' = 'yes'"),
                   utterances=with_utterance(3, if_chosen="yes")),
        prism_case("prism_empty_prompt", error(utterances_file, "row 7: field 'user_prompt' = ''"),
                   utterances=with_utterance(6, user_prompt="")),
        prism_case("prism_empty_response", error(utterances_file, "row 8: field 'model_response' = '   '"),
                   utterances=with_utterance(7, model_response="   ")),
        prism_case("prism_duplicate_utterance_id", error(utterances_file, "row 10: field(s) utterance_id = 'ut0' repeat row 1"),
                   utterances=with_utterance(9, utterance_id="ut0")),
        prism_case("prism_duplicate_response_slot",
                   error(utterances_file, "row 2: field(s) interaction_id + within_turn_id = ('i1', 0) repeat row 1"),
                   utterances=with_utterance(1, within_turn_id=0)),
        prism_case("prism_duplicate_user", error(survey_file, "row 4: field(s) user_id = 'u1' repeat row 1"),
                   survey=BASE_SURVEY[:3] + [survey_row("u1", "Chile")]),
        prism_case("prism_location_missing", error(survey_file, "row 2: field 'location'"), survey=no_location),
        prism_case("prism_country_empty", error(survey_file, "row 3: field 'location'"), survey=empty_country),
        prism_case("prism_empty_file", error(utterances_file, "no rows"), utterances_text=""),
        prism_case("prism_truncated_json", error(utterances_file, "not readable as JSON lines"),
                   utterances_text=jsonl(BASE_UTTERANCES)[:-40]),
        prism_case("prism_not_json", error(survey_file, "not readable as JSON lines"),
                   survey_text="user_id,location\nu1,Chile\n"),
        prism_case("prism_blank_line_between_rows", error(utterances_file, "row 3: blank line between rows"),
                   utterances_text=jsonl(BASE_UTTERANCES[:2]) + "\n" + jsonl(BASE_UTTERANCES[2:])),
        prism_case("prism_row_not_an_object", error(utterances_file, "row 11: not a JSON object"),
                   utterances_text=jsonl(BASE_UTTERANCES) + "[1, 2]\n"),
        prism_case("prism_field_absent_in_one_row",
                   error(utterances_file, "row 4: field 'within_turn_id' is missing (absent from the row)"),
                   utterances=[{k: v for k, v in row.items() if not (i == 3 and k == "within_turn_id")}
                               for i, row in enumerate(BASE_UTTERANCES)]),
        prism_case("prism_utterances_of_unknown_user", {"counted": {"orphan_pairs_dropped": 1}}, utterances=orphan),
        prism_case("prism_interaction_with_one_response", {"counted": {"single_response_interactions": 1}},
                   utterances=single),
        prism_case("prism_interaction_all_ties", {"counted": {"ties_dropped": 1}}, utterances=all_ties),
        prism_case("prism_unknown_country", {"params": {"countries": {"peru": "Peru"}},
                                             **error("countries.peru = 'Peru' has no users in the data",
                                                     "Chile, United States")}),
        goqa_case("goqa_unparseable_selections", error(goqa_file, "row 2: field 'selections' is not a Python literal"),
                  rows=with_goqa(1, 1, "defaultdict(<class 'list'>, {'Chile': [0.4, 0.6], 'United States': [0.7, 0.3}")),
        goqa_case("goqa_selections_not_a_dict_text", error(goqa_file, "row 1: field 'selections' is not a defaultdict text"),
                  rows=with_goqa(0, 1, "Chile: 0.6, 0.3, 0.1")),
        goqa_case("goqa_share_count_mismatch", error(goqa_file, "row 3: field 'selections', country 'United States': expected 2 shares"),
                  rows=with_goqa(2, 1, "defaultdict(<class 'list'>, {'Chile': [0.1, 0.9], 'United States': [0.5, 0.25, 0.25]})")),
        goqa_case("goqa_share_negative", error(goqa_file, "row 2: field 'selections', country 'Chile': shares must be numbers in [0, 1]"),
                  rows=with_goqa(1, 1, "defaultdict(<class 'list'>, {'Chile': [-0.4, 1.4], 'United States': [0.7, 0.3]})")),
        goqa_case("goqa_share_as_text", error(goqa_file, "row 1: field 'selections', country 'Chile': shares must be numbers"),
                  rows=with_goqa(0, 1, "defaultdict(<class 'list'>, {'Chile': ['0.6', 0.3, 0.1], 'United States': [0.2, 0.5, 0.3]})")),
        goqa_case("goqa_options_not_a_list", error(goqa_file, "row 3: field 'options' is not a Python literal"),
                  rows=with_goqa(2, 2, "Good; Bad")),
        goqa_case("goqa_column_missing", error(goqa_file, "field(s) selections missing from every row"),
                  rows=[[r[0], r[2], r[3]] for r in GOQA_BASE], header=["question", "options", "source"]),
        goqa_case("goqa_empty_file", error(goqa_file, "empty, not readable as CSV"), text=""),
        goqa_case("goqa_header_only", error(goqa_file, "no rows"), text="question,selections,options,source\n"),
        goqa_case("goqa_country_repeated", error(goqa_file, "row 1: field 'selections' lists 'Chile' twice"),
                  rows=with_goqa(0, 1, "defaultdict(<class 'list'>, {'Chile': [0.6, 0.3, 0.1], 'Chile': [0.2, 0.5, 0.3]})")),
        goqa_case("goqa_shares_sum_above_one", error(goqa_file, "row 1: field 'selections', country 'Chile': shares sum to 1.9 > 1"),
                  rows=with_goqa(0, 1, "defaultdict(<class 'list'>, {'Chile': [0.9, 0.9, 0.1], 'United States': [0.2, 0.5, 0.3]})")),
        goqa_case("goqa_short_record", error(goqa_file, "row 2: 2 field(s), the header has 4"),
                  rows=[GOQA_BASE[0], GOQA_BASE[1][:2], GOQA_BASE[2]]),
        goqa_case("goqa_truncated_file", error(goqa_file, "row 3 (line 4): not readable as CSV", "truncated file?"),
                  text="question,selections,options,source\n" + "".join(
                      f'"{q}","{sel}","{opt}",{src}\n' for q, sel, opt, src in GOQA_BASE)[:-60]),
        goqa_case("goqa_row_without_question", {"counted": {"dropped.rows_without_question": 1}},
                  rows=GOQA_BASE + [["", GOQA_BASE[0][1], GOQA_BASE[0][2], "WVS"]]),
        goqa_case("goqa_non_national_sample", {"counted": {"dropped.non_national_samples": 1}},
                  rows=with_goqa(1, 1, "defaultdict(<class 'list'>, {'Chile': [0.4, 0.6], 'Chile (Non-national sample)': [0.5, 0.4], 'United States': [0.7, 0.3]})")),
        goqa_case("goqa_unknown_country", {"params": {"countries": {"south_africa": "South Africa"}},
                                           **error("countries.south_africa = 'South Africa' has no users in the data")}),
        *robustness_cases(),
    ]


def robustness_cases() -> list[dict]:
    """Issue 17's classes: encodings and containers, JSON the standard parser accepts but data must not,
    unbounded integers, rows of one interaction that disagree, GlobalOpinionQA's real quirks, too few users,
    what a path is when it is not a file."""
    utterances_file, goqa_file = "utterances.jsonl", "global_opinions.csv"
    text = jsonl(BASE_UTTERANCES)
    lines = text.splitlines(keepends=True)
    cases = [
        prism_case("prism_base", {"counted": {"ties_dropped": 0, "country_labels_normalised": 0}}),
        prism_case("prism_not_utf8", error(utterances_file, "line 3, column", "not UTF-8", "re-save the file as UTF-8"),
                   utterances_text=(text.replace("Say hello warmly (2).", "Say hello warmly (2) \u00e9.")
                                    .encode("utf-8").replace("é".encode("utf-8"), "é".encode("latin-1")))),
        prism_case("prism_gzip_file", error(utterances_file, "gzip-compressed", "decompress it"),
                   utterances_text=gzip.compress(text.encode("utf-8"), mtime=0)),
        prism_case("prism_utf16_file", error("survey.jsonl", "UTF-16"),
                   survey_text=jsonl(BASE_SURVEY).encode("utf-16")),
        prism_case("prism_duplicate_json_key", error(utterances_file, "row 2: field 'score' appears twice"),
                   utterances_text="".join(lines[:1]) + lines[1].replace('"score": 40', '"score": 40, "score": 45')
                   + "".join(lines[2:])),
        prism_case("prism_number_beyond_float", error(utterances_file, "row 4: the number 1e309 is outside the range"),
                   utterances_text="".join(lines[:3]) + lines[3].replace('"score": 10', '"score": 1e309')
                   + "".join(lines[4:])),
        prism_case("prism_lone_surrogate", error(utterances_file, "row 5: field 'model_response' holds a lone surrogate"),
                   utterances_text="".join(lines[:4]) + lines[4].replace("Say hello warmly (4).", "\\ud800")
                   + "".join(lines[5:])),
        prism_case("prism_score_nan", error(utterances_file, "row 2: field 'score' = NaN is not a valid int 1..100"),
                   utterances_text="".join(lines[:1]) + lines[1].replace('"score": 40', '"score": NaN')
                   + "".join(lines[2:])),
        prism_case("prism_turn_beyond_int64",
                   error(utterances_file, "row 3: field 'turn' = 18446744073709551616 is not a valid int 0..2147483647"),
                   utterances=with_utterance(2, turn=2**64)),
        prism_case("prism_turn_beyond_int32", error(utterances_file, "row 1: field 'turn' = 2147483648 is not a valid int"),
                   utterances=with_utterance(0, turn=2**31)),
        prism_case("prism_interaction_user_disagrees",
                   error(utterances_file, "row 3: field 'user_id' = 'u2' disagrees with row 1 ('u1')", "interaction_id 'i1'"),
                   utterances=with_utterance(2, user_id="u2", conversation_id="c-u1")),
        prism_case("prism_interaction_prompt_disagrees",
                   error(utterances_file, "row 2: field 'user_prompt' = 'Something else?' disagrees with row 1"),
                   utterances=with_utterance(1, user_prompt="Something else?")),
        prism_case("prism_interaction_turn_disagrees", error(utterances_file, "row 4: field 'turn' = 1 disagrees with row 1 (0)"),
                   utterances=with_utterance(3, turn=1)),
        prism_case("prism_interaction_conversation_disagrees",
                   error(utterances_file, "row 6: field 'conversation_id' = 'c-other' disagrees with row 5"),
                   utterances=with_utterance(5, conversation_id="c-other")),
        prism_case("prism_conversation_of_two_users",
                   error(utterances_file, "row 5: field 'user_id' = 'u2' disagrees with row 1 ('u1') of the same "
                         "conversation_id 'c-u1'"),
                   utterances=[{**row, "conversation_id": "c-u1"} if row["interaction_id"] == "i2" else row
                               for row in BASE_UTTERANCES]),
        prism_case("prism_country_label_case_and_space",
                   {"counted": {"country_labels_normalised": 2}, "same_pairs_as": "prism_base"},
                   survey=[survey_row("u1", "Chile"), survey_row("u2", "chile"), survey_row("u3", "United States"),
                           survey_row("u4", " Chile ")]),
        prism_case("prism_too_few_users", error("countries.chile = 'Chile' has 1 user(s) with pairs", "test split"),
                   survey=[survey_row("u1", "Chile"), survey_row("u2", "Mexico"), survey_row("u3", "United States"),
                           survey_row("u4", "Mexico")]),
        goqa_case("goqa_base", {"counted": {"dropped.repeated_question_rows": 0}}),
        goqa_case("goqa_not_utf8", error(goqa_file, "line 3, column", "not UTF-8"),
                  text=goqa_text(with_goqa(1, 0, "Do you trust la prensa espa\u00f1ola?")).encode("cp1252")),
        goqa_case("goqa_gzip_file", error(goqa_file, "gzip-compressed"),
                  text=gzip.compress(goqa_text(GOQA_BASE).encode("utf-8"), mtime=0)),
        goqa_case("goqa_all_zero_shares", {"counted": {"dropped.all_zero_shares.United States": 1}},
                  rows=with_goqa(0, 1, "defaultdict(<class 'list'>, {'Chile': [0.6, 0.3, 0.1], 'United States': [0.0, 0.0, 0.0]})")),
        goqa_case("goqa_repeated_question", {"counted": {"dropped.repeated_question_rows": 1,
                                                         "dropped.repeated_question_country_entries": 2},
                                             "same_pairs_as": "goqa_base"},
                  rows=GOQA_BASE + [GOQA_BASE[1]]),
        goqa_case("goqa_repeated_question_new_country", {"counted": {"dropped.repeated_question_rows": 1,
                                                                     "dropped.repeated_question_country_entries": 1}},
                  rows=GOQA_BASE + [[GOQA_BASE[1][0], "defaultdict(<class 'list'>, {'Chile': [0.5, 0.5], 'Mexico': [0.2, 0.8]})",
                                     GOQA_BASE[1][2], "GAS"]]),
        goqa_case("goqa_repeated_option", {"counted": {"dropped.questions_with_repeated_options": 1}},
                  rows=GOQA_BASE + [["Is it fair?", "defaultdict(<class 'list'>, {'Chile': [0.5, 0.5], 'United States': [0.3, 0.7]})",
                                     "['Yes', 'Yes']", "GAS"]]),
        goqa_case("goqa_country_label_case", {"counted": {"dropped.country_labels_normalised": 1}, "same_pairs_as": "goqa_base"},
                  rows=with_goqa(1, 1, "defaultdict(<class 'list'>, {'chile': [0.4, 0.6], 'United States': [0.7, 0.3]})")),
        goqa_case("goqa_non_substantive_option", {"counted": {"dropped.non_substantive_options": 1,
                                                              "dropped.non_substantive_policy": "keep"}},
                  rows=with_goqa(0, 2, "['Very', 'Somewhat', \"Don't know\"]")),
        goqa_case("goqa_too_few_questions", error("countries.chile = 'Chile' has 1 question(s) with pairs"),
                  rows=[GOQA_BASE[0]] + [[q, sel.replace("'Chile'", "'Mexico'"), opt, src] for q, sel, opt, src in GOQA_BASE[1:]]),
    ]
    directory = fresh("prism_file_is_a_directory")
    write(directory / "survey.jsonl", jsonl(BASE_SURVEY))
    (directory / "utterances.jsonl").mkdir()
    write(directory / "utterances.jsonl" / "README", "a folder where PRISM's utterances.jsonl should be\n")
    cases.append({"name": "prism_file_is_a_directory", "format": "prism",
                  **error(utterances_file, "a directory, not a file")})
    loop = fresh("prism_symlink_loop")
    write(loop / "survey.jsonl", jsonl(BASE_SURVEY))
    os.symlink("utterances.jsonl", loop / "utterances.jsonl")
    cases.append({"name": "prism_symlink_loop", "format": "prism", **error(utterances_file, "a symbolic link loop")})
    dangling = fresh("goqa_dangling_symlink")
    os.symlink("elsewhere/global_opinions.csv", dangling / "global_opinions.csv")
    cases.append({"name": "goqa_dangling_symlink", "format": "goqa",
                  **error(goqa_file, "a symbolic link to 'elsewhere/global_opinions.csv', which does not exist")})
    return cases


PARAMS_CASES = [  # (name, dotted key to set, value, expected fragments); applied to the repo's params.yaml
    ("params_section_typo", "weigthing", {"beta": 1.1}, ["unknown section(s) weigthing (did you mean 'weighting'?)"]),
    ("params_key_typo", "filtering.taus", 0.7, ["unknown key(s) filtering.taus (did you mean 'filtering.tau'?)"]),
    ("params_tau_above_one", "filtering.tau", 1.5, ["filtering.tau = 1.5 is out of range; allowed: 0 < tau <= 1"]),
    ("params_tau_zero", "filtering.tau", 0, ["filtering.tau = 0.0 is out of range"]),
    ("params_beta_negative", "weighting.beta", -1.1, ["weighting.beta = -1.1 is out of range; allowed: beta > 0"]),
    ("params_steps_zero", "training.max_steps", 0, ["training.max_steps = 0 is out of range; allowed: >= 1"]),
    ("params_steps_text", "training.max_steps", "many", ["training.max_steps = 'many' is not an integer"]),
    ("params_test_size_one", "data.test_size", 1.0, ["data.test_size = 1.0 is out of range; allowed: 0 < test_size < 1"]),
    ("params_arm_typo", "arms", ["full", "scpoo"], ["unknown arm(s) 'scpoo' (did you mean 'scpo'?)"]),
    ("params_dataset_unknown", "data.dataset", "opinionqa", ["data.dataset = 'opinionqa' is out of range; allowed: prism | goqa"]),
    ("params_fraction_one", "data_efficiency.fractions", [0.25, 1.0],
     ["data_efficiency.fractions = [0.25, 1.0] is out of range; allowed: a non-empty list of shares 0 < f < 1"]),
    ("params_fractions_text", "data_efficiency.fractions", "half", ["data_efficiency.fractions = 'half' is not a list of numbers"]),
    ("params_grid_tau_above_one", "tradeoff.taus", [0.7, 1.2], ["tradeoff.taus = [0.7, 1.2] is out of range"]),
    ("params_grid_country_unknown", "tradeoff.countries", ["chili"], ["tradeoff.countries: 'chili' not a slug of countries"]),
    ("params_control_arm_not_trained", "controls.arms", ["full", "scpoo"], ["controls.arms: scpoo not in arms"]),
    ("simulated_user_scale_zero", "simulation.user_scale", 0, ["simulation.user_scale = 0.0 is out of range"]),
    ("simulated_extreme_share_above_one", "simulation.extreme_share", 1.2, ["simulation.extreme_share = 1.2 is out of range"]),
    ("params_tau_yes", "filtering.tau", True, ["filtering.tau = True is not a number"]),
    ("params_beta_null", "weighting.beta", None, ["weighting.beta = None is not a number"]),
    ("params_tau_list", "filtering.tau", [0.7], ["filtering.tau = [0.7] is not a number"]),
    ("params_tau_nan", "filtering.tau", float("nan"), ["filtering.tau = nan is not a number (NaN)"]),
    ("params_steps_float", "training.max_steps", 10.0, ["training.max_steps = 10.0 is not an integer"]),
    ("params_steps_huge", "training.max_steps", 2**63, ["training.max_steps = 9223372036854775808 is out of range"]),
    ("params_country_under_two_slugs", "countries.chile_again", "Chile",
     ["countries.chile and countries.chile_again both name 'Chile'"]),
    ("params_split_seed_negative", "data.split_seed", -1,
     ["data.split_seed = -1 is out of range; allowed: integers 0..2147483647"]),
    ("params_scheduler_typo", "training.lr_scheduler_type", "cosin",
     ["training.lr_scheduler_type = 'cosin'", "transformers refuses these training arguments"]),
    ("params_adam_beta2_above_one", "training.adam_beta2", 1.5,
     ["training.adam_beta2 = 1.5 is out of range; allowed: 0 <= beta < 1"]),
    ("params_heads_zero", "global_rm.num_attention_heads", 0,
     ["global_rm.num_attention_heads = 0 is out of range; allowed: >= 1"]),
    ("params_goqa_policy_unknown", "data.goqa_non_substantive", "remove",
     ["data.goqa_non_substantive = 'remove' is out of range; allowed: keep | drop"]),
    ("params_global_rm_scheduler_typo", "global_rm.training.lr_scheduler_type", "linar",
     ["global_rm.training.lr_scheduler_type = 'linar'", "transformers refuses"]),
]
# Cases made from the repo's params.yaml by a text edit (the test applies it): what YAML itself gets wrong.
PARAMS_TEXT_CASES = [  # (name, edit, expected fragments)
    ("params_yaml_tab", {"find": "\n  tau: 0.7", "replace": "\n\ttau: 0.7"},
     ["params.yaml: line", "not valid YAML", "tabs"]),
    ("params_not_utf8", {"find": "# keep a pair iff", "replace": "# café: keep a pair iff", "encoding": "latin-1"},
     ["params.yaml: line", "not UTF-8"]),
    ("params_section_twice", {"append": "\nfiltering:\n  tau: 0.5\n"},
     ["params.yaml: line", "key 'filtering' is given twice (first on line"]),
    ("params_key_twice", {"find": "\n  tau: 0.7", "replace": "\n  tau: 0.7\n  tau: 0.5"},
     ["key 'tau' is given twice"]),
]


if __name__ == "__main__":
    entries = cases()
    for name, key, value, fragments in PARAMS_CASES:
        folder = fresh(name)
        (folder / "overrides.yaml").write_text(yaml.safe_dump({"set": {key: value}}))
        entries.append({"name": name, "format": "params", "error": fragments})
    for name, edit, fragments in PARAMS_TEXT_CASES:
        folder = fresh(name)
        (folder / "edit.yaml").write_text(yaml.safe_dump(edit, allow_unicode=True))
        entries.append({"name": name, "format": "params_text", "error": fragments})
    (HERE / "cases.yaml").write_text(yaml.safe_dump({"cases": entries}, sort_keys=False, allow_unicode=True, width=120))
