"""The offline default: a simulated PRISM with planted, known preference structure, and a tiny RM.

The generator writes `survey.jsonl` and `utterances.jsonl` in PRISM's exact schema (so the real
loader reads them unchanged), plus the ground truth: `truth.jsonl` (each utterance's noise-free
utility for its annotator's country and for the global preference) and `simulation.json`.

Planted structure. Each response carries latent attributes (levels in -3..3) that its text
expresses as marker words. Annotator u in country c rates a response with attribute levels a by

    utility = a . (g + d_c + e_u) + noise,     score = clip(round(50 + k * utility), 1, 100)

g is the global preference, d_c the country's deviation (small for the majority countries), e_u the
annotator's own deviation (large for a share of extreme annotators). Coarse raters round scores to
tens, and identical scores are ties, as on PRISM's slider. The country truth of a pair is the sign of
a . (g + d_c) between its two responses: no personal or rating noise.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

from scpo.config import GlobalRMConfig, SimulationConfig
from scpo.data import EMPTY_RESPONSE
from scpo.io import atomic_path, write_text

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
# Latent attributes and the words that express them: (name, words for +, words for -).
ATTRIBUTES = (
    ("detail", ("specifically", "thorough", "detailed", "example"), ("briefly", "simply", "short", "basically")),
    ("caution", ("carefully", "safety", "risk", "consult"), ("boldly", "dare", "adventure", "whatever")),
    ("formality", ("sincerely", "furthermore", "regards", "therefore"), ("hey", "yeah", "gonna", "cool")),
    ("tradition", ("tradition", "family", "faith", "heritage"), ("modern", "secular", "novel", "progressive")),
    ("humour", ("haha", "joke", "funny", "playful"), ("serious", "strictly", "solemn", "formal")),
    ("community", ("community", "together", "society", "neighbours"), ("yourself", "personal", "independent", "alone")),
)
# The global preference g over ATTRIBUTES: the majority likes detail and caution, is mildly formal.
GLOBAL_PREFERENCE = np.array([0.9, 0.6, 0.3, 0.0, 0.0, 0.0])
FILLER = tuple("the a of to and in is it that for on with as this can be are you your about more some".split())
TOPICS = tuple("food work school health money travel religion politics music sport family weather".split())
PROMPT_WORDS = tuple("what how why should tell me about think advice explain".split())
MODELS = (
    ("gpt-4-turbo", "openai"), ("gpt-3.5-turbo", "openai"), ("claude-2.1", "anthropic"),
    ("claude-instant-1", "anthropic"), ("command", "cohere"), ("command-light", "cohere"),
    ("llama-2-70b-chat", "meta"), ("llama-2-13b-chat", "meta"), ("mistral-7b-instruct", "mistralai"),
    ("zephyr-7b-beta", "huggingfaceh4"), ("falcon-7b-instruct", "tiiuae"), ("palm-2", "google"),
)
CONVERSATION_TYPES = ("unguided", "values guided", "controversy guided")
EMPTY_RESPONSE_SHARE = 0.003  # PRISM has a few empty responses, stored as EMPTY_RESPONSE
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def country_deviations(sim: SimulationConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """d_c per country: minority countries deviate on every attribute at `country_deviation` scale."""
    return {
        country: rng.normal(0.0, sim.majority_deviation if count > 300 else sim.country_deviation,
                            len(ATTRIBUTES))
        for country, count in PRISM_USERS.items()
    }


def _response_text(levels: np.ndarray, rng: np.random.Generator) -> str:
    words = [str(rng.choice(pos if level > 0 else neg))
             for (_, pos, neg), level in zip(ATTRIBUTES, levels) for _ in range(abs(int(level)))]
    words += [str(w) for w in rng.choice(FILLER, size=int(rng.integers(3, 16)))]
    rng.shuffle(words)
    return " ".join(words)


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


def _score(utility: float, sim: SimulationConfig, coarse: bool) -> int:
    score = float(np.clip(round(50 + sim.score_scale * utility), 1, 100))
    return int(np.clip(round(score, -1), 1, 100)) if coarse else int(score)


def simulate_prism(sim: SimulationConfig) -> tuple[list[dict], list[dict], list[dict], dict[str, Any]]:
    """(survey rows, utterance rows, truth rows, metadata) of a simulated PRISM; deterministic in `sim.seed`."""
    rng = np.random.default_rng(sim.seed)
    deviations = country_deviations(sim, rng)
    survey, utterances, truth = [], [], []
    counters = {"user": 0, "conversation": 0, "interaction": 0, "utterance": 0}
    for country, count in PRISM_USERS.items():
        for _ in range(max(2, round(count * sim.user_scale))):
            user_id = f"user{counters['user']}"
            counters["user"] += 1
            extreme = rng.random() < sim.extreme_share
            personal = rng.normal(0.0, sim.extreme_noise if extreme else sim.personal_noise, len(ATTRIBUTES))
            n_conv = 0 if rng.random() < sim.survey_only_share else int(rng.integers(1, sim.conversations_per_user + 1))
            survey.append(_survey_row(user_id, country, n_conv, rng))
            rater = {"user_id": user_id, "country": country, "coarse": rng.random() < sim.coarse_rater_share,
                     "country_pref": GLOBAL_PREFERENCE + deviations[country], "personal": personal}
            for _ in range(n_conv):
                _simulate_conversation(rater, sim, rng, counters, utterances, truth)
    meta = {
        "attributes": [name for name, _, _ in ATTRIBUTES],
        "global_preference": GLOBAL_PREFERENCE.tolist(),
        "country_deviations": {c: d.round(6).tolist() for c, d in deviations.items()},
        "simulation": asdict(sim),
        "counts": {"users": len(survey), "utterances": len(utterances)},
    }
    return survey, utterances, truth, meta


def _simulate_conversation(rater: dict, sim: SimulationConfig, rng: np.random.Generator,
                           counters: dict[str, int], utterances: list, truth: list) -> None:
    conversation_id = f"c{counters['conversation']}"
    counters["conversation"] += 1
    conversation_type = str(rng.choice(CONVERSATION_TYPES))
    topic = str(rng.choice(TOPICS))
    opening = [MODELS[i] for i in rng.choice(len(MODELS), size=4, replace=False)]
    chosen_model = opening[0]
    for turn in range(int(rng.integers(1, sim.max_turns + 1))):
        interaction_id = f"int{counters['interaction']}"
        counters["interaction"] += 1
        prompt = " ".join([*rng.choice(PROMPT_WORDS, size=3), topic, *rng.choice(TOPICS, size=1)])
        models_ = opening if turn == 0 else [chosen_model, chosen_model]
        rows = []
        for within_turn_id, (model_name, provider) in enumerate(models_):
            levels = np.clip(np.round(rng.normal(0.0, 1.2, len(ATTRIBUTES))), -3, 3)
            empty = rng.random() < EMPTY_RESPONSE_SHARE
            levels = levels * 0 if empty else levels
            country_utility = float(levels @ rater["country_pref"])
            user_utility = float(levels @ (rater["country_pref"] + rater["personal"]))
            noisy = user_utility + rng.normal(0.0, sim.rating_noise)
            utterance_id = f"ut{counters['utterance']}"
            counters["utterance"] += 1
            rows.append({
                "utterance_id": utterance_id, "interaction_id": interaction_id,
                "conversation_id": conversation_id, "user_id": rater["user_id"], "turn": turn,
                "within_turn_id": within_turn_id, "conversation_type": conversation_type,
                "user_prompt": prompt,
                "model_response": EMPTY_RESPONSE if empty else _response_text(levels, rng),
                "model_name": model_name, "model_provider": provider,
                "score": _score(noisy, sim, rater["coarse"]), "if_chosen": False,
                "included_in_balanced_subset": bool(rng.random() < 0.5),
            })
            truth.append({"utterance_id": utterance_id, "country": rater["country"],
                          "country_utility": round(country_utility, 6),
                          "global_utility": round(float(levels @ GLOBAL_PREFERENCE), 6),
                          "levels": levels.astype(int).tolist()})
        best = max(range(len(rows)), key=lambda i: rows[i]["score"])
        rows[best]["if_chosen"] = True
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
    """Write survey.jsonl, utterances.jsonl, truth.jsonl and simulation.json into `folder`."""
    survey, utterances, truth, meta = simulate_prism(sim)
    write_jsonl(survey, folder / "survey.jsonl")
    write_jsonl(utterances, folder / "utterances.jsonl")
    write_jsonl(truth, folder / "truth.jsonl")
    write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", folder / "simulation.json")
    return meta


def vocabulary() -> list[str]:
    """Every word the simulator can write, after the special tokens: the tokenizer needs no training."""
    words = {w for _, pos, neg in ATTRIBUTES for w in (*pos, *neg)}
    words |= {*FILLER, *TOPICS, *PROMPT_WORDS, *EMPTY_RESPONSE.lower().split()}
    return [*SPECIAL_TOKENS, *sorted(words)]


def words(texts: Iterable[str]) -> set[str]:
    """The words of `texts` as the embedded tokenizer splits them (lowercased, punctuation apart)."""
    split = pre_tokenizers.Whitespace()
    return {word for text in texts for word, _ in split.pre_tokenize_str(text.lower())}


def embedded_tokenizer(texts: Iterable[str] = ()) -> PreTrainedTokenizerFast:
    """A BERT-style word-level tokenizer over `vocabulary()`, extended by the words of `texts` (real
    data: the global RM's training texts; other words are [UNK]): [CLS] prompt [SEP] response [SEP]."""
    base = vocabulary()
    vocab = {word: i for i, word in enumerate([*base, *sorted(words(texts) - set(base))])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", eos_token="[SEP]", model_max_length=512,
    )


def embedded_reward_model(rm: GlobalRMConfig, vocab_size: int, max_length: int, seed: int) -> BertForSequenceClassification:
    """A freshly initialised tiny BERT with a scalar reward head (num_labels = 1)."""
    config = BertConfig(
        vocab_size=vocab_size, hidden_size=rm.hidden_size, num_hidden_layers=rm.num_hidden_layers,
        num_attention_heads=rm.num_attention_heads, intermediate_size=rm.intermediate_size,
        max_position_embeddings=max(max_length, 64), num_labels=1, pad_token_id=0,
    )
    import torch  # seeded here so the initial weights are a function of `seed` alone

    torch.manual_seed(seed)
    return BertForSequenceClassification(config)
