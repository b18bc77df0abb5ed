"""Writes the bad-input corpus beside this file: one folder per case, in the upstream formats, and
`cases.yaml` saying what each must produce (an error naming file, row and field, or a counted drop).

`python tests/bad_inputs/make_corpus.py` regenerates it (deterministic). Each case is a valid base
with one defect, so the expected message can only come from that defect.
"""

from __future__ import annotations

import copy
import csv
import json
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


def prism_case(name: str, expect: dict, survey=None, utterances=None, survey_text=None, utterances_text=None) -> dict:
    folder = HERE / name
    folder.mkdir(exist_ok=True)
    (folder / "survey.jsonl").write_text(survey_text if survey_text is not None else jsonl(survey or BASE_SURVEY))
    (folder / "utterances.jsonl").write_text(
        utterances_text if utterances_text is not None else jsonl(utterances or BASE_UTTERANCES))
    return {"name": name, "format": "prism", **expect}


def goqa_case(name: str, expect: dict, rows=None, text=None, header=GOQA_HEADER) -> dict:
    folder = HERE / name
    folder.mkdir(exist_ok=True)
    path = folder / "global_opinions.csv"
    if text is not None:
        path.write_text(text)
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
        prism_case("prism_score_null", error(utterances_file, "row 2: field 'score' is missing (null or absent)"),
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
        prism_case("prism_field_absent_in_one_row", error(utterances_file, "row 4: field 'within_turn_id' is missing"),
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
    ]


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
]


if __name__ == "__main__":
    entries = cases()
    for name, key, value, fragments in PARAMS_CASES:
        folder = HERE / name
        folder.mkdir(exist_ok=True)
        (folder / "overrides.yaml").write_text(yaml.safe_dump({"set": {key: value}}))
        entries.append({"name": name, "format": "params", "error": fragments})
    (HERE / "cases.yaml").write_text(yaml.safe_dump({"cases": entries}, sort_keys=False, allow_unicode=True, width=120))
