"""The offline default: a simulated PRISM with planted, known preference structure (its tiny RM: `embedded_rm`).

The generator writes `survey.jsonl` and `utterances.jsonl` in PRISM's exact schema (so the real loader reads them
unchanged), the ground truth `truth.jsonl` (each response's noise-free utility for its annotator's country and for
the global preference, and whether its annotator is extreme), `simulation.json` (the world and its planted facts),
and `aggregate_utterances.jsonl`: the ratings of a separate population that the off-the-shelf global RM is trained
on (stage 02), never the study's users.

Planted structure. Each response carries latent attributes (levels in -3..3) that its text expresses as marker
words. Annotator u of country c rates a response with attribute levels a by

    utility = a . p_u + noise,   p_u = g + d_c + e_u  (typical)   or   g + x_u  (extreme: noise, not their country)

g is the global preference, e_u ~ N(0, personal_sd) a typical annotator's own deviation, x_u ~ N(0, extreme_sd).
The country deviation d_c = k (sqrt(cultural_share) L q_c / s + sqrt(1 - cultural_share) r_c): q_c is the
country's position on the two Inglehart-Welzel dimensions (CULTURAL_POSITIONS), L a loading of each attribute on
them (CULTURAL_LOADINGS), s the spread of L q over the simulated countries, r_c a standardised country residual,
and k sized so that country explains `country_share` of a typical annotator's preference variance
(k^2 / (k^2 + personal_sd^2), per attribute). Positions are measured from the world's centre, where the aggregate
population stands (its annotators: g + e_u), so every country's deviation also has a common part. Scores map the
utility onto PRISM's 1-100 slider through 1 + 99 sigmoid(a + b z) (z: the utility over a typical annotator's
spread; a, b fitted to `score_mean`, `score_sd`), rounded to integers; coarse raters round to tens, and identical
scores are ties. The country truth of a pair is the sign of a . (g + d_c) between its two responses.

Randomness comes in streams (`numpy.random.SeedSequence` of the world seed and a stream id): the world (d_c), each
country's users and texts, and the aggregate population. So simulating one country alone gives the same rows as
the whole world, and changing `country_share` or `extreme_share` changes the ratings but not who the users are or
what the responses say (the regime map's points are paired).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from scpo.config import ConfigError, SimulationConfig
from scpo.embedded_rm import ATTRIBUTES, FILLER, PROMPT_WORDS, TOPICS  # the words texts are written in
from scpo.data import EMPTY_RESPONSE, UTTERANCE_FIELDS, build_pairs, read_jsonl, validate_rows
from scpo.io import atomic_path, write_text
from scpo.slider import level_variance, slider_map

# Users per residence country in PRISM (survey, all 1,500 rows), for the countries simulated.
PRISM_USERS = {
    "United States": 386, "United Kingdom": 340, "South Africa": 86, "New Zealand": 77,
    "Australia": 72, "Mexico": 67, "Chile": 65, "Israel": 61, "Canada": 54,
}
COUNTRY_CODES = {
    "United States": ("USA", "Americas", "Northern America"),
    "United Kingdom": ("GBR", "Europe", "Northern Europe"),
    "South Africa": ("ZAF", "Africa", "Sub-Saharan Africa"),
    "New Zealand": ("NZL", "Oceania", "Australia and New Zealand"),
    "Australia": ("AUS", "Oceania", "Australia and New Zealand"),
    "Mexico": ("MEX", "Americas", "Latin America and the Caribbean"),
    "Chile": ("CHL", "Americas", "Latin America and the Caribbean"),
    "Israel": ("ISR", "Asia", "Western Asia"),
    "Canada": ("CAN", "Americas", "Northern America"),
}
# Inglehart-Welzel positions (IVS factor scores, latest wave per country): traditional (-) <-> secular-rational (+),
# survival (-) <-> self-expression (+). They only shape the simulation (docs/embedded.md says where they come from).
CULTURAL_POSITIONS = {
    "New Zealand": (0.72, 2.60), "Australia": (0.76, 2.04), "United Kingdom": (1.19, 1.99),
    "Canada": (0.99, 1.81), "United States": (0.30, 1.21), "Israel": (0.21, 0.34),
    "Mexico": (-0.94, 0.17), "Chile": (0.29, -0.28), "South Africa": (-0.25, -0.15),
}
# How each attribute's preference moves along (secular-rational, self-expression): an assumption that follows the
# dimensions' usual reading (secular and self-expressive societies value tradition, formality and conformity less,
# individual autonomy and play more, security-seeking caution less).
CULTURAL_LOADINGS = np.array([
    [0.0, 0.3],    # detail
    [0.0, -0.5],   # caution
    [-0.4, -0.3],  # formality
    [-0.9, -0.2],  # tradition
    [0.2, 0.5],    # humour
    [-0.3, -0.6],  # community
])
# The global preference g over ATTRIBUTES (the world centre's): detail and caution, mildly formal.
GLOBAL_PREFERENCE = np.array([0.9, 0.6, 0.3, 0.0, 0.0, 0.0])
MODELS = (
    ("gpt-4-turbo", "openai"), ("gpt-3.5-turbo", "openai"), ("claude-2.1", "anthropic"),
    ("claude-instant-1", "anthropic"), ("command", "cohere"), ("command-light", "cohere"),
    ("llama-2-70b-chat", "meta"), ("llama-2-13b-chat", "meta"), ("mistral-7b-instruct", "mistralai"),
    ("zephyr-7b-beta", "huggingfaceh4"), ("falcon-7b-instruct", "tiiuae"), ("palm-2", "google"),
)
CONVERSATION_TYPES = ("unguided", "values guided", "controversy guided")
EMPTY_RESPONSE_SHARE = 0.003  # PRISM has a few empty responses, stored as EMPTY_RESPONSE
WORLD_STREAM, AGGREGATE_STREAM = 0, 1  # stream ids; country i (PRISM_USERS order): annotators 2 + 2i, conversations 3 + 2i
AGGREGATE = "aggregate"  # the country of the off-the-shelf RM's own raters
AGGREGATE_FILE = "aggregate_utterances.jsonl"  # its ratings, in PRISM's utterances schema


def world(sim: SimulationConfig, run_seed: int) -> SimulationConfig:
    """The simulation of run seed `run_seed`: its own world, `simulation.seed + run_seed`."""
    return dataclasses.replace(sim, seed=sim.seed + run_seed)


def stream(sim: SimulationConfig, stream_id: int) -> np.random.Generator:
    """An independent random stream of this world (see the module's docstring)."""
    return np.random.default_rng(np.random.SeedSequence([sim.seed, stream_id]))


def country_scale(sim: SimulationConfig) -> float:
    """k: the per-attribute sd of the country deviations for which country explains `country_share` of a typical
    annotator's preference variance, k^2 / (k^2 + personal_sd^2)."""
    return sim.personal_sd * math.sqrt(sim.country_share / (1.0 - sim.country_share))


def country_deviations(sim: SimulationConfig) -> dict[str, np.ndarray]:
    """d_c per simulated country: the Inglehart-Welzel part (from the world's centre, scaled by its spread over the
    countries) plus a standardised residual, mixed by `cultural_share` and scaled by `country_scale`."""
    rng = stream(sim, WORLD_STREAM)
    names = list(PRISM_USERS)
    cultural = np.array([CULTURAL_POSITIONS[c] for c in names]) @ CULTURAL_LOADINGS.T
    cultural = cultural / math.sqrt(cultural.var(axis=0).mean())
    residual = rng.standard_normal((len(names), len(ATTRIBUTES)))
    residual = residual - residual.mean(axis=0)
    residual = residual / math.sqrt(residual.var(axis=0).mean())
    mixed = math.sqrt(sim.cultural_share) * cultural + math.sqrt(1.0 - sim.cultural_share) * residual
    return dict(zip(names, country_scale(sim) * mixed))


@functools.lru_cache(maxsize=8)
def _slider(sim: SimulationConfig) -> tuple[float, float, float]:
    return (*slider_map(sim.score_mean, sim.score_sd), utility_sd(sim))


def utility_sd(sim: SimulationConfig) -> float:
    """The spread of a typical annotator's noisy utility (global preference and personal deviation): the unit the
    slider map reads, so the map does not move with `country_share` or `extreme_share`."""
    preference = float(GLOBAL_PREFERENCE @ GLOBAL_PREFERENCE) + len(ATTRIBUTES) * sim.personal_sd ** 2
    return math.sqrt(level_variance(sim.level_sd) * preference + sim.rating_noise ** 2) or 1.0


def slider_scores(utility: np.ndarray, sim: SimulationConfig, coarse: bool) -> np.ndarray:
    """Integer scores 1..100 of noisy utilities; a coarse rater's rounded to tens."""
    a, b, unit = _slider(sim)
    scores = np.clip(np.round(1.0 + 99.0 / (1.0 + np.exp(-(a + b * utility / unit)))), 1, 100)
    return np.clip(np.round(scores, -1), 1, 100).astype(int) if coarse else scores.astype(int)


def response_texts(levels: np.ndarray, rng: np.random.Generator) -> list[str]:
    """One text per row of attribute levels: |level| marker words per attribute (its + or - words) and 3-15 filler
    words, shuffled; every draw made in bulk (a fixed number of draws per response, whatever the levels)."""
    markers = rng.integers(0, 4, size=(len(levels), len(ATTRIBUTES), 3))
    fill_count = rng.integers(3, 16, size=len(levels))
    fill = rng.integers(0, len(FILLER), size=(len(levels), 15))
    order = rng.random((len(levels), 3 * len(ATTRIBUTES) + 15))
    texts = []
    for row, level_row in enumerate(levels):
        words = [(pos if level > 0 else neg)[markers[row, k, j]]
                 for k, ((_, pos, neg), level) in enumerate(zip(ATTRIBUTES, level_row)) for j in range(abs(int(level)))]
        words += [FILLER[i] for i in fill[row, :fill_count[row]]]
        texts.append(" ".join(words[i] for i in np.argsort(order[row, :len(words)], kind="stable")))
    return texts


def _survey_row(user_id: str, country: str, conversations: int, rng: np.random.Generator) -> dict[str, Any]:
    birth = country if rng.random() < 0.85 else str(rng.choice(list(PRISM_USERS)))
    (r_iso, r_region, r_sub), (b_iso, b_region, b_sub) = COUNTRY_CODES[country], COUNTRY_CODES[birth]
    return {
        "user_id": user_id, "survey_only": conversations == 0,
        "num_completed_conversations": conversations, "consent": "Yes",
        "age": str(rng.choice(["18-24 years old", "25-34 years old", "35-44 years old", "45-54 years old"])),
        "gender": str(rng.choice(["Female", "Male", "Non-binary / third gender"])),
        "location": {
            "birth_country": birth, "birth_countryISO": b_iso, "birth_region": b_region,
            "birth_subregion": b_sub, "reside_country": country, "reside_countryISO": r_iso,
            "reside_region": r_region, "reside_subregion": r_sub,
            "same_birth_reside_country": "Yes" if birth == country else "No",
            "special_region": "UK" if country == "United Kingdom" else ("US" if country == "United States" else "Rest of World"),
        },
    }


@dataclasses.dataclass
class Rater:
    """One annotator: who, from where, their preference (p_u) and their country's (g + d_c)."""

    user_id: str
    country: str  # a PRISM_USERS name, or AGGREGATE
    preference: np.ndarray
    country_preference: np.ndarray
    extreme: bool
    coarse: bool


def conversation_counts(sim: SimulationConfig, rng: np.random.Generator) -> int:
    """One user's conversations: 0 (survey only), all of them, or 1 .. one fewer (PRISM: 6 for 1,283 of 1,396)."""
    if rng.random() < sim.survey_only_share:
        return 0
    if rng.random() < sim.full_conversations_share or sim.conversations_per_user == 1:
        return sim.conversations_per_user
    return int(rng.integers(1, sim.conversations_per_user))


def turn_count(sim: SimulationConfig, rng: np.random.Generator) -> int:
    """Turns of one conversation: 2 + a geometric count of further turns (mean `mean_turns`), at most `max_turns`."""
    extra = int(rng.geometric(1.0 / (sim.mean_turns - 1.0))) - 1 if sim.mean_turns > 2 else 0
    return min(2 + extra, sim.max_turns)


def user_count(sim: SimulationConfig, country: str) -> int:
    """Users of `country` in the survey: PRISM's count times `user_scale`, at least 2."""
    return max(2, round(PRISM_USERS[country] * sim.user_scale))


def annotators(sim: SimulationConfig, country: str, deviation: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(preferences p_u, extreme flags, coarse flags) of `country`'s users, from the country's own preference
    stream: every draw is made whatever the knobs, so a user stays the same person across knob values."""
    rng = stream(sim, 2 + 2 * list(PRISM_USERS).index(country))
    n = user_count(sim, country)
    extreme = rng.random(n) < sim.extreme_share
    coarse = rng.random(n) < sim.coarse_rater_share
    own = rng.standard_normal((n, len(ATTRIBUTES)))
    deviations = np.where(extreme[:, None], sim.extreme_sd * own, deviation + sim.personal_sd * own)
    return GLOBAL_PREFERENCE + deviations, extreme, coarse


def simulate_country(sim: SimulationConfig, country: str, deviation: np.ndarray,
                     ) -> tuple[list[dict], list[dict], list[dict]]:
    """(survey rows, utterance rows, truth rows) of one country: its annotators (`annotators`), then their
    conversations from the country's own text stream."""
    index = list(PRISM_USERS).index(country)
    rng = stream(sim, 3 + 2 * index)
    first = sum(user_count(sim, c) for c in list(PRISM_USERS)[:index])
    survey, utterances, truth = [], [], []
    country_preference = GLOBAL_PREFERENCE + deviation
    for number, (preference, extreme, coarse) in enumerate(zip(*annotators(sim, country, deviation)), start=first):
        rater = Rater(f"user{number}", country, preference, country_preference, bool(extreme), bool(coarse))
        conversations = conversation_counts(sim, rng)
        survey.append(_survey_row(rater.user_id, country, conversations, rng))
        for k in range(conversations):
            _simulate_conversation(rater, f"{rater.user_id}-{k}", sim, sim.level_sd, rng, utterances, truth)
    return survey, utterances, truth


def simulate_aggregate(sim: SimulationConfig) -> list[dict]:
    """The utterance rows of the aggregate population the embedded global RM learns from (its own stream): typical
    annotators at the world's centre (g + e_u), rating responses of another mix (`aggregate_level_sd`)."""
    if len(sim.aggregate_level_sd) != len(ATTRIBUTES):
        raise ConfigError(f"params: simulation.aggregate_level_sd has {len(sim.aggregate_level_sd)} values; needs one "
                          f"per attribute ({len(ATTRIBUTES)}: {', '.join(name for name, _, _ in ATTRIBUTES)})")
    rng = stream(sim, AGGREGATE_STREAM)
    utterances: list[dict] = []
    for number in range(max(2, round(sim.aggregate_users * sim.user_scale))):
        coarse, own = rng.random() < sim.coarse_rater_share, rng.standard_normal(len(ATTRIBUTES))
        rater = Rater(f"aggregate{number}", AGGREGATE, GLOBAL_PREFERENCE + sim.personal_sd * own, GLOBAL_PREFERENCE,
                      False, coarse)
        for k in range(max(1, conversation_counts(sim, rng))):
            _simulate_conversation(rater, f"{rater.user_id}-{k}", sim, np.array(sim.aggregate_level_sd), rng,
                                   utterances, [])
    return utterances


def simulate_prism(sim: SimulationConfig, countries: Iterable[str] | None = None,
                   ) -> tuple[list[dict], list[dict], list[dict], dict[str, Any]]:
    """(survey rows, utterance rows, truth rows, metadata) of a simulated PRISM world, deterministic in `sim.seed`;
    `countries` (PRISM_USERS names) simulates only those, with the same rows as in the whole world (the planted
    facts are the whole world's)."""
    deviations = country_deviations(sim)
    survey, utterances, truth = [], [], []
    for country in (PRISM_USERS if countries is None else countries):
        rows = simulate_country(sim, country, deviations[country])
        survey += rows[0]
        utterances += rows[1]
        truth += rows[2]
    meta = {
        "attributes": [name for name, _, _ in ATTRIBUTES],
        "global_preference": GLOBAL_PREFERENCE.tolist(),
        "country_deviations": {c: d.round(6).tolist() for c, d in deviations.items()},
        "cultural_positions": {c: list(p) for c, p in CULTURAL_POSITIONS.items()},
        "cultural_loadings": CULTURAL_LOADINGS.tolist(),
        "slider_map": dict(zip(("a", "b"), (round(v, 6) for v in slider_map(sim.score_mean, sim.score_sd)))),
        "simulation": asdict(sim),
        "planted": planted_facts(sim, deviations, utterances),
        "counts": {"users": len(survey), "utterances": len(utterances)},
    }
    return survey, utterances, truth, meta


def variance_share(preferences: dict[str, np.ndarray]) -> float:
    """Share of the annotators' preference variance (summed over attributes) between countries: the variance of
    the country means (user-weighted) over the total."""
    everyone = np.concatenate(list(preferences.values()))
    between = sum(len(p) * ((p.mean(axis=0) - everyone.mean(axis=0)) ** 2).sum() for p in preferences.values())
    return float(between / ((everyone - everyone.mean(axis=0)) ** 2).sum())


def planted_facts(sim: SimulationConfig, deviations: dict[str, np.ndarray], utterances: list[dict]) -> dict[str, Any]:
    """What the world holds: the share of preference variance between countries over every annotator of every
    country (the knob `country_share` is for typical annotators) and over the typical ones, the extreme
    annotators' share, and the slider's mean and sd over `utterances`."""
    people = {country: annotators(sim, country, deviations[country]) for country in PRISM_USERS}
    extreme = np.concatenate([flags for _, flags, _ in people.values()])
    scores = np.array([row["score"] for row in utterances], dtype=float)
    return {"country_variance_share": round(variance_share({c: p for c, (p, _, _) in people.items()}), 6),
            "country_variance_share_typical": round(variance_share({c: p[~x] for c, (p, x, _) in people.items()}), 6),
            "extreme_annotator_share": round(float(extreme.mean()), 6),
            "score_mean": round(float(scores.mean()), 3) if len(scores) else None,
            "score_sd": round(float(scores.std()), 3) if len(scores) else None}


def _simulate_conversation(rater: Rater, conversation_id: str, sim: SimulationConfig, level_sd: Any,
                           rng: np.random.Generator, utterances: list, truth: list) -> None:
    conversation_type = CONVERSATION_TYPES[rng.integers(len(CONVERSATION_TYPES))]
    topic = TOPICS[rng.integers(len(TOPICS))]
    opening = [MODELS[i] for i in rng.permutation(len(MODELS))[:4]]
    opening = opening[:4 if rng.random() < sim.opening_responses_mean - 3.0 else 3]
    chosen_model = opening[0]
    for turn in range(turn_count(sim, rng)):
        interaction_id = f"int{conversation_id}-{turn}"
        prompt = " ".join([*(PROMPT_WORDS[i] for i in rng.integers(0, len(PROMPT_WORDS), 3)), topic,
                           TOPICS[rng.integers(len(TOPICS))]])
        models_ = opening if turn == 0 else [chosen_model, chosen_model]
        levels = np.clip(np.round(rng.normal(0.0, 1.0, (len(models_), len(ATTRIBUTES))) * level_sd), -3, 3)
        empty = rng.random(len(models_)) < EMPTY_RESPONSE_SHARE
        levels[empty] = 0
        noisy = levels @ rater.preference + rng.normal(0.0, sim.rating_noise, len(models_))
        scores = slider_scores(noisy, sim, rater.coarse)
        top = np.flatnonzero(scores == scores.max())  # PRISM: ties broken at random (one draw either way, so
        best = int(top[int(rng.random() * len(top))])  # the stream does not depend on whether there was a tie)
        texts = response_texts(levels, rng)
        rows = []
        for within_turn_id, (model_name, provider) in enumerate(models_):
            utterance_id = f"ut{conversation_id}-{turn}-{within_turn_id}"
            rows.append({
                "utterance_id": utterance_id, "interaction_id": interaction_id,
                "conversation_id": f"c{conversation_id}", "user_id": rater.user_id, "turn": turn,
                "within_turn_id": within_turn_id, "conversation_type": conversation_type,
                "user_prompt": prompt,
                "model_response": EMPTY_RESPONSE if empty[within_turn_id] else texts[within_turn_id],
                "model_name": model_name, "model_provider": provider,
                "score": int(scores[within_turn_id]), "if_chosen": within_turn_id == best,
                "included_in_balanced_subset": bool(rng.random() < 0.5),
            })
            truth.append({"utterance_id": utterance_id, "country": rater.country,
                          "country_utility": round(float(levels[within_turn_id] @ rater.country_preference), 6),
                          "global_utility": round(float(levels[within_turn_id] @ GLOBAL_PREFERENCE), 6),
                          "levels": levels[within_turn_id].astype(int).tolist(), "extreme": rater.extreme})
        if turn == 0:
            chosen_model = models_[best]
        utterances.extend(rows)


def write_jsonl(rows: list[dict], path: Path) -> Path:
    """One JSON object per line, keys in a stable order; atomic (renamed into place when complete)."""
    with atomic_path(path) as tmp, tmp.open("w") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    return path


def write_simulated_prism(sim: SimulationConfig, folder: Path) -> dict[str, Any]:
    """Write survey.jsonl, utterances.jsonl, truth.jsonl, aggregate_utterances.jsonl and simulation.json into
    `folder` (simulation.json last: its presence means the rest is complete)."""
    survey, utterances, truth, meta = simulate_prism(sim)
    aggregate = simulate_aggregate(sim)
    meta["counts"]["aggregate_utterances"] = len(aggregate)
    write_jsonl(survey, folder / "survey.jsonl")
    write_jsonl(utterances, folder / "utterances.jsonl")
    write_jsonl(truth, folder / "truth.jsonl")
    write_jsonl(aggregate, folder / AGGREGATE_FILE)
    write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", folder / "simulation.json")
    return meta


def aggregate_pairs(folder: Path) -> tuple[pd.DataFrame, int]:
    """The aggregate population's pairs (`write_simulated_prism`'s AGGREGATE_FILE in `folder`), validated and paired
    as PRISM's utterances are: (pairs, ties dropped)."""
    path = folder / AGGREGATE_FILE
    utterances = pd.DataFrame(read_jsonl(path, "aggregate utterances"))
    validate_rows(utterances, UTTERANCE_FIELDS, str(path))
    return build_pairs(utterances)
