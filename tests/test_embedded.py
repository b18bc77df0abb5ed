"""The embedded simulated PRISM and tiny RM (scpo/embedded.py): seeded, PRISM's schema, loadable, tokenisable."""

import dataclasses
from collections import Counter, defaultdict

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoTokenizer

from scpo import config, data, embedded, embedded_rm, slider
from scpo.paths import ROOT

RAW = config.read_params(ROOT / "params.yaml")
SIM = dataclasses.replace(config.load_section(RAW, "simulation"), user_scale=0.05)
RM = config.load_section(RAW, "global_rm")

UTTERANCE_KEYS = {"utterance_id", "interaction_id", "conversation_id", "user_id", "turn", "within_turn_id",
                  "conversation_type", "user_prompt", "model_response", "model_name", "model_provider", "score",
                  "if_chosen", "included_in_balanced_subset"}
LOCATION_KEYS = {"birth_country", "birth_countryISO", "birth_region", "birth_subregion", "reside_country",
                 "reside_countryISO", "reside_region", "reside_subregion", "same_birth_reside_country",
                 "special_region"}


@pytest.fixture(scope="module")
def simulated():
    return embedded.simulate_prism(SIM)


# ------------------------------------------------------------------------------------------ determinism

def test_same_seed_same_data(simulated):
    assert embedded.simulate_prism(SIM) == simulated


def test_other_seed_other_data(simulated):
    survey, utterances, truth, meta = embedded.simulate_prism(dataclasses.replace(SIM, seed=SIM.seed + 1))
    assert utterances != simulated[1] and truth != simulated[2]
    assert meta["country_deviations"] != simulated[3]["country_deviations"]
    # same design: the user count per country depends on the scale only
    assert Counter(r["location"]["reside_country"] for r in survey) == \
        Counter(r["location"]["reside_country"] for r in simulated[0])


# ------------------------------------------------------------------------------------------ schema

def test_utterance_rows_have_exactly_prisms_fields(simulated):
    _, utterances, _, _ = simulated
    assert utterances
    for row in utterances:
        assert set(row) == UTTERANCE_KEYS


def test_field_types_and_score_range(simulated):
    _, utterances, _, _ = simulated
    for row in utterances:
        assert type(row["score"]) is int and 1 <= row["score"] <= 100
        assert type(row["turn"]) is int and type(row["within_turn_id"]) is int
        assert type(row["if_chosen"]) is bool and type(row["included_in_balanced_subset"]) is bool
        assert all(isinstance(row[k], str) for k in ("utterance_id", "interaction_id", "conversation_id",
                                                       "user_id", "user_prompt", "model_response", "model_name",
                                                       "model_provider", "conversation_type"))
    assert len({r["utterance_id"] for r in utterances}) == len(utterances)


def test_turn_zero_has_three_or_four_responses_later_turns_two(simulated):
    _, utterances, _, _ = simulated
    interactions = defaultdict(list)
    for row in utterances:
        interactions[row["interaction_id"]].append(row)
    turns = Counter()
    for rows in interactions.values():
        turn = rows[0]["turn"]
        turns[turn > 0] += 1
        assert all(r["turn"] == turn for r in rows) and len({r["user_id"] for r in rows}) == 1
        assert len(rows) in ((3, 4) if turn == 0 else (2,))
        assert sorted(r["within_turn_id"] for r in rows) == list(range(len(rows)))
        assert len({r["user_prompt"] for r in rows}) == 1
        chosen = [r for r in rows if r["if_chosen"]]
        assert len(chosen) == 1 and chosen[0]["score"] == max(r["score"] for r in rows)
    assert turns[False] > 0 and turns[True] > 0  # both kinds occur
    models = [r["model_name"] for rows in interactions.values() if rows[0]["turn"] == 0 for r in rows]
    assert len(set(models)) > 4


def test_later_turns_continue_with_the_chosen_model(simulated):
    _, utterances, _, _ = simulated
    opening_choice, later = {}, defaultdict(set)
    for row in utterances:
        if row["turn"] == 0 and row["if_chosen"]:
            opening_choice[row["conversation_id"]] = row["model_name"]
        elif row["turn"] > 0:
            later[row["conversation_id"]].add(row["model_name"])
    assert later
    for conversation, names in later.items():
        assert names == {opening_choice[conversation]}


def test_users_per_country_proportional_to_prism(simulated):
    survey, _, _, meta = simulated
    counts = Counter(r["location"]["reside_country"] for r in survey)
    assert set(counts) == set(embedded.PRISM_USERS)
    for country, prism_users in embedded.PRISM_USERS.items():
        assert counts[country] >= 2 and abs(counts[country] - prism_users * SIM.user_scale) <= 1
    assert counts["United States"] > counts["United Kingdom"] > counts["South Africa"] > counts["Canada"]
    assert meta["counts"]["users"] == len(survey)


def test_survey_rows_have_a_nested_location(simulated):
    survey, utterances, _, _ = simulated
    assert len({r["user_id"] for r in survey}) == len(survey)
    conversations = defaultdict(set)
    for row in utterances:
        conversations[row["user_id"]].add(row["conversation_id"])
    for row in survey:
        location = row["location"]
        assert isinstance(location, dict) and set(location) == LOCATION_KEYS
        iso, region, subregion = embedded.COUNTRY_CODES[location["reside_country"]]
        assert (location["reside_countryISO"], location["reside_region"], location["reside_subregion"]) == \
            (iso, region, subregion)
        assert location["birth_countryISO"] == embedded.COUNTRY_CODES[location["birth_country"]][0]
        assert location["same_birth_reside_country"] == \
            ("Yes" if location["birth_country"] == location["reside_country"] else "No")
        n = len(conversations[row["user_id"]])
        assert row["num_completed_conversations"] == n and row["survey_only"] == (n == 0)


def test_ties_occur_at_default_settings(simulated):
    _, utterances, _, _ = simulated
    pairs, n_ties = data.build_pairs(pd.DataFrame(utterances))
    assert n_ties > 0 and len(pairs) > n_ties


def test_coarse_raters_make_more_ties():
    # coarse raters are a source of ties: more coarse raters, more ties
    few = dataclasses.replace(SIM, coarse_rater_share=0.0)
    many = dataclasses.replace(SIM, coarse_rater_share=0.9)
    ties = [data.build_pairs(pd.DataFrame(embedded.simulate_prism(s)[1]))[1] for s in (few, many)]
    assert ties[0] < ties[1]


@pytest.fixture(scope="module")
def larger():
    return embedded.simulate_prism(dataclasses.replace(SIM, user_scale=0.3))


def test_volumes_and_scores_follow_prism(larger):
    # PRISM (STUDY.md section 12): about 5.7 conversations and 49 rated responses a user, 2-22 turns of mean
    # 3.39, about 3.75 responses at turn 0, slider scores of mean 65.1 and sd 29.3
    survey, utterances, _, meta = larger
    frame = pd.DataFrame(utterances)
    conversing = frame.user_id.nunique()
    assert 5.2 <= frame.conversation_id.nunique() / conversing <= 6.0
    assert 44 <= len(frame) / conversing <= 54
    turns = frame.groupby("conversation_id").turn.nunique()
    assert turns.min() == 2 and turns.max() <= SIM.max_turns and 3.1 <= turns.mean() <= 3.7
    assert 3.6 <= frame[frame.turn == 0].groupby("interaction_id").size().mean() <= 3.9
    assert 62 <= frame.score.mean() <= 68 and 27 <= frame.score.std() <= 33
    assert set(range(1, 101)) - set(frame.score) == set()  # all 100 slider values used, as in PRISM
    assert meta["planted"]["score_mean"] == pytest.approx(frame.score.mean(), abs=1e-3)


def test_slider_map_gives_the_requested_mean_and_sd():
    a, b = slider.slider_map(65.1, 29.3)
    z = np.random.default_rng(0).standard_normal(400_000)
    scores = 1 + 99 / (1 + np.exp(-(a + b * z)))
    assert scores.mean() == pytest.approx(65.1, abs=0.2) and scores.std() == pytest.approx(29.3, abs=0.2)


def test_level_variance_matches_draws():
    draws = np.clip(np.round(np.random.default_rng(0).normal(0, 1.2, 400_000)), -3, 3)
    assert slider.level_variance(1.2) == pytest.approx(draws.var(), rel=0.01)
    assert slider.level_variance(0.0) == 0.0


def test_country_deviations_are_sized_by_country_share():
    # the per-attribute spread of d_c over countries is about k, with k^2 / (k^2 + personal_sd^2) = country_share
    for share in (0.05, 0.15, 0.45):
        sim = dataclasses.replace(SIM, country_share=share)
        spread = np.array(list(embedded.country_deviations(sim).values())).var(axis=0).mean()
        k = embedded.country_scale(sim)
        assert k ** 2 / (k ** 2 + sim.personal_sd ** 2) == pytest.approx(share)
        assert 0.5 * k ** 2 <= spread <= 1.5 * k ** 2
    none = embedded.country_deviations(dataclasses.replace(SIM, country_share=0.0))
    assert all(not d.any() for d in none.values())


def test_cultural_structure_puts_new_zealand_nearer_australia_than_mexico():
    d = embedded.country_deviations(dataclasses.replace(SIM, cultural_share=1.0))
    distance = lambda a, b: np.linalg.norm(d[a] - d[b])  # noqa: E731
    assert distance("New Zealand", "Australia") < distance("New Zealand", "Mexico")
    assert distance("Canada", "United Kingdom") < distance("Canada", "Chile")


def test_personal_variation_exceeds_country_variation_by_default(larger):
    planted = larger[3]["planted"]
    assert planted["country_variance_share"] < planted["country_variance_share_typical"] < 0.5
    assert 0.03 <= planted["country_variance_share"] <= 0.12  # survey items: 5-10 %


def test_worlds_differ_by_run_seed():
    assert embedded.world(SIM, 2).seed == SIM.seed + 2
    first, second = (embedded.country_deviations(embedded.world(SIM, s)) for s in (0, 1))
    assert any(not np.allclose(first[c], second[c]) for c in first)


def test_one_country_alone_has_the_rows_it_has_in_the_whole_world(simulated):
    survey, utterances, truth, _ = embedded.simulate_prism(SIM, ["Chile"])
    users = {row["user_id"] for row in survey}
    assert users and [u for u in simulated[1] if u["user_id"] in users] == utterances
    assert [r for r in simulated[0] if r["user_id"] in users] == survey


def test_knobs_move_the_ratings_not_the_people_or_texts():
    base = embedded.simulate_prism(SIM, ["Chile"])
    moved = embedded.simulate_prism(dataclasses.replace(SIM, extreme_share=0.4, country_share=0.4), ["Chile"])
    assert [u["model_response"] for u in base[1]] == [u["model_response"] for u in moved[1]]
    assert [u["score"] for u in base[1]] != [u["score"] for u in moved[1]]
    extreme = lambda rows: {t["utterance_id"] for t in rows if t["extreme"]}  # noqa: E731
    assert extreme(base[2]) < extreme(moved[2])  # the extreme annotators at 0.1 stay extreme at 0.4


def test_aggregate_population_is_not_the_study_and_shifts_the_response_mix():
    aggregate = pd.DataFrame(embedded.simulate_aggregate(SIM))
    assert aggregate.user_id.str.startswith("aggregate").all()
    assert aggregate.user_id.nunique() == max(2, round(SIM.aggregate_users * SIM.user_scale))
    def marker_share(frame, attribute):
        _, pos, neg = next(a for a in embedded.ATTRIBUTES if a[0] == attribute)
        return frame.model_response.str.contains("|".join((*pos, *neg))).mean()
    study = pd.DataFrame(embedded.simulate_prism(SIM)[1])
    # tradition varies rarely in what the global RM learns from (aggregate_level_sd 0.4 against level_sd 1.2)
    assert marker_share(aggregate, "tradition") < 0.5 * marker_share(study, "tradition")
    with pytest.raises(config.ConfigError, match="aggregate_level_sd"):
        embedded.simulate_aggregate(dataclasses.replace(SIM, aggregate_level_sd=(1.0, 1.0)))


def test_truth_covers_every_utterance(simulated):
    survey, utterances, truth, _ = simulated
    assert [t["utterance_id"] for t in truth] == [u["utterance_id"] for u in utterances]
    country = {r["user_id"]: r["location"]["reside_country"] for r in survey}
    by_id = {u["utterance_id"]: u for u in utterances}
    for row in truth:
        assert row["country"] == country[by_id[row["utterance_id"]]["user_id"]]
        assert len(row["levels"]) == len(embedded.ATTRIBUTES)
        assert type(row["extreme"]) is bool
        expected_global = sum(level * g for level, g in zip(row["levels"], embedded.GLOBAL_PREFERENCE))
        assert row["global_utility"] == pytest.approx(expected_global, abs=1e-6)


# ------------------------------------------------------------------------------------------ files

def test_written_files_load_and_validate(tmp_path):
    meta = embedded.write_simulated_prism(SIM, tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"survey.jsonl", "utterances.jsonl", "truth.jsonl",
                                                    "simulation.json", embedded.AGGREGATE_FILE}
    aggregate, _ = embedded.aggregate_pairs(tmp_path)
    assert len(aggregate) > 0 and aggregate.user_id.str.startswith("aggregate").all()
    survey, survey_label = data.load_prism_config("survey", source="local", folder=tmp_path, hub_id="x",
                                                  revision="y")
    utterances, label = data.load_prism_config("utterances", source="local", folder=tmp_path, hub_id="x",
                                               revision="y")
    data.validate_rows(survey, data.SURVEY_FIELDS, survey_label)
    data.validate_rows(utterances, data.UTTERANCE_FIELDS, label)
    assert len(survey) == meta["counts"]["users"] and len(utterances) == meta["counts"]["utterances"]
    countries, _ = data.user_countries(survey)
    data.check_countries(config.load_section(RAW, "countries"), countries)
    truth = pd.read_json(tmp_path / "truth.jsonl", lines=True)
    pairs, _ = data.build_pairs(utterances)
    assert data.attach_truth(pairs, truth).truth_margin.notna().all()
    assert meta["simulation"] == dataclasses.asdict(SIM)


# ------------------------------------------------------------------------------------------ tokenizer and model

def test_tokenizer_encodes_cls_prompt_sep_response_sep():
    tokenizer = embedded_rm.embedded_tokenizer()
    ids = tokenizer("What food", "carefully thorough")["input_ids"]
    assert tokenizer.convert_ids_to_tokens(ids) == ["[CLS]", "what", "food", "[SEP]", "carefully", "thorough",
                                                    "[SEP]"]
    assert tokenizer.pad_token_id == 0 and tokenizer.eos_token == "[SEP]"
    assert tokenizer.convert_ids_to_tokens(tokenizer("what zyzzyva")["input_ids"]) == ["[CLS]", "what", "[UNK]",
                                                                                        "[SEP]"]


def test_tokenizer_round_trips_through_save_pretrained(tmp_path):
    tokenizer = embedded_rm.embedded_tokenizer()
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    texts = [("what about food", "carefully thorough the example"), ("Tell me", "EMPTY STRING"),
             ("why politics", "hey yeah gonna cool whatever unknownword")]
    for prompt, response in texts:
        assert loaded(prompt, response)["input_ids"] == tokenizer(prompt, response)["input_ids"]
    assert loaded.get_vocab() == tokenizer.get_vocab()
    assert (loaded.pad_token, loaded.sep_token, loaded.cls_token, loaded.eos_token) == \
        ("[PAD]", "[SEP]", "[CLS]", "[SEP]")


def test_vocabulary_covers_every_simulated_word(simulated):
    _, utterances, _, _ = simulated
    tokenizer = embedded_rm.embedded_tokenizer()
    ids = tokenizer([u["user_prompt"] for u in utterances], [u["model_response"] for u in utterances])["input_ids"]
    assert all(tokenizer.unk_token_id not in seq for seq in ids)
    assert len(tokenizer) == len(embedded_rm.vocabulary())


def test_reward_model_gives_one_score_per_sequence():
    tokenizer = embedded_rm.embedded_tokenizer()
    model = embedded_rm.embedded_reward_model(RM, len(tokenizer), 32, seed=0).eval()
    batch = tokenizer(["what food", "how money now"], ["carefully", "hey yeah cool"], padding=True,
                      return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.shape == (2, 1) and torch.isfinite(logits).all()
    assert model.config.num_labels == 1 and model.config.hidden_size == RM.hidden_size
    assert model.config.num_hidden_layers == RM.num_hidden_layers
    same = embedded_rm.embedded_reward_model(RM, len(tokenizer), 32, seed=0)
    other = embedded_rm.embedded_reward_model(RM, len(tokenizer), 32, seed=1)
    first = dict(model.named_parameters())
    assert all(torch.equal(p, first[n]) for n, p in same.named_parameters())
    assert not all(torch.equal(p, first[n]) for n, p in other.named_parameters())
