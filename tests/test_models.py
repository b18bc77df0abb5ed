"""The reward-model families the study and its users meet, on tiny random stand-ins laid out as their hub
repositories are (tests/fixtures/models/make_models.py): loading, batching, where the reward is read,
truncation, segment ids, and that the scores a run reports are the scores of the model it saved."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from scpo import config, model_source, models, scoring, train
from scpo.paths import ROOT
from scpo.phases import RUN_PHASES
from scpo.trainer import WeightedPreferenceCollator, preference_dataset

PARAMS = config.read_params(ROOT / "params.yaml")
TRAINING = config.load_section(PARAMS, "training")
SCORING = config.load_section(PARAMS, "scoring")
FAMILIES = ("deberta-v3-spm", "deberta-v3", "llama-tulu", "llama-nopad", "bert-segments")
DECODERS = ("llama-tulu", "llama-nopad")
CLASSES = {"deberta-v3-spm": ("DebertaV2ForSequenceClassification", "DebertaV2Tokenizer"),
           "deberta-v3": ("DebertaV2ForSequenceClassification", "DebertaV2Tokenizer"),
           "llama-tulu": ("LlamaForSequenceClassification", "TokenizersBackend"),
           "llama-nopad": ("LlamaForSequenceClassification", "TokenizersBackend"),
           "bert-segments": ("BertForSequenceClassification", "BertTokenizer")}
PROMPTS = ["What should I cook for a family dinner on Sunday?", "Is it rude to arrive late?", "Tell me a joke."]
RESPONSES = ["A roast with vegetables is a classic choice, and everyone can help in the kitchen.",
             "Short answer: yes.", "Why did the goalkeeper bring string? To tie the match."]


def spread(model):
    """Random weights large enough that different inputs get clearly different rewards (a fresh init gives
    rewards within ~1e-3 of each other)."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() == 2:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    return model.eval()


@pytest.fixture(scope="module")
def loaded(standins):
    return {family: models.load_reward_model(standins[family], device=torch.device("cpu")) for family in FAMILIES}


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_loads_as_its_architecture_and_tokenizer(loaded, standins, family):
    model, tokenizer = loaded[family]
    assert (type(model).__name__, type(tokenizer).__name__) == CLASSES[family]
    assert model.config.num_labels == 1 and not model.training
    assert tokenizer.pad_token is not None and tokenizer.pad_token_id != tokenizer.eos_token_id
    assert model.config.pad_token_id == tokenizer.pad_token_id and tokenizer.padding_side == "right"
    files = {p.name for p in standins[family].iterdir()}
    if family == "deberta-v3-spm":
        assert "tokenizer.json" not in files and {"spm.model", "tokenizer_config.json"} <= files


@pytest.mark.slow  # a fresh interpreter without sentencepiece: tens of seconds
def test_a_sentencepiece_only_tokenizer_names_the_packages_it_needs(standins):
    """Without sentencepiece and protobuf, transformers falls back to tiktoken and says 'tiktoken is
    required', which sends a user the wrong way; the loader names the two packages and the install."""
    code = ("import sys; sys.modules['sentencepiece'] = sys.modules['google.protobuf'] = None\n"
            "from scpo import models\n"
            f"models.load_tokenizer({str(standins['deberta-v3-spm'])!r})\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": ""})
    assert done.returncode != 0
    assert "lacks sentencepiece and protobuf" in done.stderr and "pip install -r requirements.txt" in done.stderr
    # with tokenizer.json beside spm.model, neither package is needed
    code = code.replace("deberta-v3-spm", "deberta-v3")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": ""}).returncode == 0


@pytest.mark.parametrize("family", FAMILIES)
def test_a_reward_does_not_depend_on_the_batch_it_is_scored_in(loaded, family):
    model, tokenizer = loaded[family]
    spread(model)
    encoded = scoring.encode(tokenizer, PROMPTS, RESPONSES, 64)
    batched = scoring.score_ids(model, tokenizer, encoded, batch_size=3)  # padded to the longest
    alone = np.array([scoring.score_ids(model, tokenizer, [features], 1)[0] for features in encoded])
    assert np.ptp(alone) > 1e-2  # rewards distinct enough to notice a padded position being read
    np.testing.assert_allclose(batched, alone, rtol=0, atol=1e-5)


@pytest.mark.parametrize("family", DECODERS)
def test_a_decoder_reads_its_reward_at_the_final_eos(loaded, family):
    """The reward is the score head at the last real token, the template's final EOS; with pad = EOS
    (TRL's fallback for a tokenizer without a pad token) the model would read the token before it."""
    model, tokenizer = loaded[family]
    spread(model)
    features = scoring.encode(tokenizer, PROMPTS[:1], RESPONSES[:1], 64)[0]
    assert features["input_ids"][-1] == tokenizer.eos_token_id != tokenizer.pad_token_id
    ids = torch.tensor([features["input_ids"]])
    with torch.no_grad():
        per_token = model.score(model.model(input_ids=ids).last_hidden_state)[0, :, 0]
    reward = scoring.score_ids(model, tokenizer, [features], 1)[0]
    assert reward == pytest.approx(per_token[-1].item(), abs=1e-5)
    pad = model.config.pad_token_id
    model.config.pad_token_id = tokenizer.eos_token_id
    try:
        with torch.no_grad():
            early = model(input_ids=ids).logits[0, 0].item()
    finally:
        model.config.pad_token_id = pad
    assert early == pytest.approx(per_token[-2].item(), abs=1e-5) and abs(early - reward) > 1e-3


def test_a_tokenizer_without_a_pad_token_gets_a_new_one_with_a_zero_embedding(standins):
    base = json.loads((standins["llama-nopad"] / "config.json").read_text())["vocab_size"]
    first, tokenizer = models.load_reward_model(standins["llama-nopad"], device=torch.device("cpu"))
    assert tokenizer.pad_token == models.ADDED_PAD_TOKEN and tokenizer.pad_token_id == base
    embeddings = first.get_input_embeddings().weight
    assert embeddings.shape[0] == base + 1 and torch.count_nonzero(embeddings[base]) == 0
    second, _ = models.load_reward_model(standins["llama-nopad"], device=torch.device("cpu"))
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))


@pytest.mark.parametrize("family", DECODERS)
def test_an_over_long_response_keeps_the_template_ending_eos_and_some_of_the_prompt(loaded, family):
    _, tokenizer = loaded[family]
    prompt, response = "What should I cook for a family dinner on Sunday?", "A roast with vegetables. " * 40
    ids = scoring.encode(tokenizer, [prompt], [response], 48)[0]["input_ids"]
    whole = scoring.encode(tokenizer, [prompt], [response], 4096)[0]["input_ids"]
    assert 46 <= len(ids) <= 48 < len(whole) and ids[-1] == tokenizer.eos_token_id  # (Llama 3's template trims)
    text = tokenizer.decode(ids)
    user, assistant = ("<|user|>", "<|assistant|>") if family == "llama-tulu" else ("user<|end_header_id|>", "assistant")
    assert user in text and assistant in text
    prompt_part = text.split(user)[1].split(assistant)[0]
    assert "Sunday" in prompt_part  # the prompt keeps its end; longest first, the response lost more
    assert text.rstrip().endswith(tokenizer.eos_token) and "roast" in text.split(assistant)[-1]
    template = len(scoring.encode(tokenizer, [""], [""], 4096)[0]["input_ids"])
    with pytest.raises(ValueError, match=f"the chat template alone takes {template} tokens"):
        scoring.encode(tokenizer, [prompt], [response], template + 1)


def test_segment_ids_reach_a_model_that_embeds_them(loaded):
    model, tokenizer = loaded["bert-segments"]
    spread(model)
    features = scoring.encode(tokenizer, PROMPTS[:2], RESPONSES[:2], 64)
    segments = features[0]["token_type_ids"]
    assert set(segments) == {0, 1} and segments[-1] == 1  # the response is segment 1
    with torch.no_grad():
        unsegmented = model(input_ids=torch.tensor([features[0]["input_ids"]])).logits[0, 0].item()
    reward = scoring.score_ids(model, tokenizer, features, 2)[0]
    assert abs(reward - unsegmented) > 1e-3
    dataset = preference_dataset(tokenizer, PROMPTS[:2], RESPONSES[:2], RESPONSES[1:3], [1.0, 1.0], 64)
    assert {"chosen_token_type_ids", "rejected_token_type_ids"} <= set(dataset.column_names)
    batch = WeightedPreferenceCollator(pad_token_id=tokenizer.pad_token_id)(list(dataset))
    assert batch["token_type_ids"].shape == batch["input_ids"].shape
    assert batch["token_type_ids"][0, :len(segments)].tolist() == segments  # row 0: the first chosen side


# ------------------------------------------------------------------------------------------ reported = saved

def toy_pairs():
    """A country's train and test pairs and its held-out texts, in the columns stage 03 writes."""
    rows, texts = [], []
    for i in range(40):
        split = "test" if i >= 32 else "train"
        prompt, chosen, rejected = PROMPTS[i % 3], RESPONSES[i % 3], RESPONSES[(i + 1) % 3] + f" ({i})"
        rows.append({"pair_id": i, "user_id": f"u{i % 8}", "country": "Chile", "split": split, "prompt": prompt,
                     "chosen": chosen, "rejected": rejected, "chosen_id": f"c{i}", "rejected_id": f"r{i}",
                     "keep": i % 2 == 0, "weight": 0.5 + 0.5 * (i % 2), "inverse_weight": 1.0,
                     "global_chosen": 0.0, "global_rejected": float(i % 3 - 1)})
        if split == "test":
            texts += [{"utterance_id": f"c{i}", "prompt": prompt, "response": chosen},
                      {"utterance_id": f"r{i}", "prompt": prompt, "response": rejected}]
    return pd.DataFrame(rows), pd.DataFrame(texts)


CASES = {  # family, training switches, scoring precision
    "bert-full-fp32": ("bert-segments", {}, "float32"),
    "deberta-full-bf16": ("deberta-v3", {"bf16": True}, "float32"),
    "tulu-lora-bf16": ("llama-tulu", {"bf16": True, "lora_r": 4, "lora_alpha": 8}, "float32"),
    "nopad-lora-bf16-scored-bf16": ("llama-nopad", {"bf16": True, "lora_r": 4, "lora_alpha": 8}, "bfloat16"),
}


@pytest.mark.slow  # trains each family for a few steps and reloads it: ~10 s a case
@pytest.mark.parametrize("case", CASES)
def test_reported_scores_are_the_saved_models_scores(standins, tmp_path, case):
    """What a run reports is what it shipped: its scores equal the saved folder's, loaded through the one
    loading path in `scoring.dtype` (exactly: the same weights, precision and batches), whether it trained
    in bf16 mixed precision or as a LoRA adapter on a bf16 base."""
    family, switches, dtype = CASES[case]
    pairs, texts = toy_pairs()
    training = dataclasses.replace(TRAINING, max_steps=4, per_device_train_batch_size=4, learning_rate=5e-2,
                                   logging_steps=2, save_steps=100, **switches)
    scoring_cfg = dataclasses.replace(SCORING, max_length=48, dtype=dtype, revision=None)
    base = str(standins[family])
    settings = train.RunSettings(base, scoring_cfg, training, 8, {"tau": 0.7})
    result = train.run_arm("scpo", 0, pairs, texts, "Chile", settings, tmp_path / "model", tmp_path / "checkpoints")
    scores = result.scores
    saved, tokenizer = models.load_reward_model(tmp_path / "model", dtype=dtype, device=torch.device("cpu"))
    again = scoring.score_texts(saved, tokenizer, list(texts.prompt), list(texts.response), 48, 8)
    np.testing.assert_array_equal(scores.to_numpy(), again)
    untrained, tokenizer = models.load_reward_model(base, dtype=dtype, device=torch.device("cpu"))
    before = scoring.score_texts(untrained, tokenizer, list(texts.prompt), list(texts.response), 48, 8)
    assert np.abs(scores.to_numpy() - before).max() > 1e-4, "training changed nothing: the check would be empty"
    card = (tmp_path / "model/README.md").read_text()
    assert result.train_pairs == 16 and "## Held-out pairwise accuracy" in card and "- **tau**: 0.7" in card
    assert set(result.seconds) == set(RUN_PHASES) and all(v >= 0 for v in result.seconds.values())
    assert "seconds" not in result.summary()  # wall times never enter the metrics
    assert not (tmp_path / "checkpoints").exists() or not list((tmp_path / "checkpoints").glob("*/checkpoint-*"))
    if "lora_r" in switches:
        adapter = json.loads((tmp_path / "model/adapter_config.json").read_text())
        assert adapter["base_model_name_or_path"] == base and adapter["revision"] is None
    if dtype == "bfloat16":  # bf16 scoring: stated tolerance against the same saved model in fp32
        fp32, tokenizer = models.load_reward_model(tmp_path / "model", device=torch.device("cpu"))
        exact = scoring.score_texts(fp32, tokenizer, list(texts.prompt), list(texts.response), 48, 8)
        assert np.abs(again - exact).max() <= 0.02 * max(1.0, np.abs(exact).max())


def test_a_lora_run_loads_its_frozen_base_in_the_training_precision_and_records_the_revision(standins, tmp_path):
    """8B RMs: the frozen base in bf16 (15 GB, not 30), adapters and head in fp32; the adapter names the base's
    revision so that reloading it finds the same weights."""
    pairs, _ = toy_pairs()
    train_pairs = train.arm_pairs("scpo", pairs[pairs.split == "train"])
    training = dataclasses.replace(TRAINING, max_steps=2, per_device_train_batch_size=4, logging_steps=1,
                                   bf16=True, lora_r=4, lora_alpha=8)
    scoring_cfg = dataclasses.replace(SCORING, max_length=48, revision="main")
    run = train.train_arm(train_pairs, str(standins["llama-tulu"]), scoring_cfg, training, 0, tmp_path)
    dtypes = {(p.requires_grad, p.dtype) for p in run.model.parameters()}
    assert dtypes == {(False, torch.bfloat16), (True, torch.float32)}
    assert run.model.peft_config["default"].revision == "main"


# ------------------------------------------------------------------------------------------ where models are

def test_a_relative_model_path_is_read_from_the_run_root(tmp_path):
    (tmp_path / "models" / "my_rm").mkdir(parents=True)
    assert model_source.resolve_model("models/my_rm", tmp_path) == str((tmp_path / "models" / "my_rm").resolve())
    assert model_source.resolve_model(str(tmp_path / "models" / "my_rm"), ROOT) == str(tmp_path / "models" / "my_rm")
    assert model_source.resolve_model("OpenAssistant/reward-model-deberta-v3-base", tmp_path) == \
        "OpenAssistant/reward-model-deberta-v3-base"  # a hub id
    for missing in ("./models/other", "models/a/b", str(tmp_path / "nowhere")):
        with pytest.raises(config.ConfigError, match=f"scoring.model = '{missing}': no folder .* and not a hub id"):
            model_source.resolve_model(missing, tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(config.ConfigError, match="is a file; give the model's folder"):
        model_source.resolve_model("file", tmp_path)


def test_the_model_fingerprint_follows_the_contents_not_the_path(standins, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(standins["bert-segments"], copy)
    one = model_source.model_fingerprint(str(standins["bert-segments"]), None, ROOT, "scoring.model")["files"]
    assert model_source.model_fingerprint(str(copy), None, ROOT, "scoring.model")["files"] == one
    (copy / "config.json").write_text((copy / "config.json").read_text().replace('"num_hidden_layers": 2',
                                                                                 '"num_hidden_layers": 1'))
    changed = model_source.model_fingerprint(str(copy), None, ROOT, "scoring.model")["files"]
    assert changed != one and changed["model.safetensors"] == one["model.safetensors"]
    assert model_source.model_fingerprint("embedded", None, ROOT, "scoring.model") == {"model": "embedded"}
    assert model_source.model_fingerprint("org/rm", "abc123", ROOT, "scoring.model") == {"model": "org/rm", "revision": "abc123"}
    assert model_source.model_fingerprint(None, None, ROOT, "global_rm.encoder") is None


def test_the_memory_plan_counts_what_a_run_loads(standins, tmp_path):
    """scpo.memory builds the model on the meta device by the same rules as a run: its parameter table (roles,
    precisions, bytes) equals that of the model a LoRA-bf16 run and a full fine-tune actually train."""
    from transformers import AutoConfig

    from scpo.memory import memory_plan, parameter_memory, planned_model

    pairs, _ = toy_pairs()
    train_pairs = train.arm_pairs("scpo", pairs[pairs.split == "train"])
    model_config = AutoConfig.from_pretrained(standins["llama-tulu"])
    scoring_cfg = dataclasses.replace(SCORING, max_length=48, revision=None)
    for name, switches in {"lora": {"bf16": True, "lora_r": 4, "lora_alpha": 8}, "full": {}}.items():
        training = dataclasses.replace(TRAINING, max_steps=1, per_device_train_batch_size=4, **switches)
        run = train.train_arm(train_pairs, str(standins["llama-tulu"]), scoring_cfg, training, 0, tmp_path / name)
        assert parameter_memory(planned_model(model_config, training)) == parameter_memory(run.model)
    plan = memory_plan(model_config, training, tokens=16)
    assert plan["weights_gb"] * 1e9 == pytest.approx(sum(p.numel() * 4 for p in run.model.parameters()))  # all fp32
