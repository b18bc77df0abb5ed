"""One scoring path (scpo/scoring.py): encoding, length-sorted batches restored to input order, loading."""

import numpy as np
import pytest
import torch

from scpo import config, models, scoring
from scpo.embedded_rm import embedded_reward_model, embedded_tokenizer, vocabulary
from scpo.paths import ROOT

RM = config.load_section(config.read_params(ROOT / "params.yaml"), "global_rm")
MAX_LENGTH = 96
WORDS = vocabulary()[5:]  # no special tokens
CHAT_TEMPLATE = "{% for message in messages %}{{ message['content'] }} {% endfor %}"


def spread_out(model):
    """Random weights large enough that different inputs get clearly different scores (a fresh init gives
    scores within ~1e-4 of each other, too close to tell a misordering from float noise)."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * 0.3)
    return model.eval()


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run many small forwards: one intra-op thread is faster and immune to a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tokenizer():
    return embedded_tokenizer()


@pytest.fixture(scope="module")
def model(tokenizer):
    return spread_out(embedded_reward_model(RM, len(tokenizer), MAX_LENGTH, seed=0))


@pytest.fixture(scope="module")
def texts():
    rng = np.random.default_rng(0)
    prompts = [" ".join(rng.choice(WORDS, int(rng.integers(1, 10)))) for _ in range(50)]
    responses = [" ".join(rng.choice(WORDS, int(rng.integers(1, 60)))) for _ in range(50)]
    return prompts, responses


@pytest.fixture(scope="module")
def encoded(tokenizer, texts):
    return scoring.encode(tokenizer, *texts, MAX_LENGTH)


@pytest.fixture(scope="module")
def reference(model, encoded):
    return alone(model, encoded)


def alone(model, encoded):
    """Each sequence through the model on its own: no batching, no padding."""
    with torch.no_grad():
        return np.array([model(**{name: torch.tensor([values]) for name, values in features.items()}).logits[0, 0].item()
                         for features in encoded])


def ids_of(encoded):
    return [features["input_ids"] for features in encoded]


# ------------------------------------------------------------------------------------------ score_ids

@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_batched_scores_equal_unbatched_in_input_order(model, tokenizer, encoded, reference, batch_size):
    ids = encoded
    lengths = [len(seq) for seq in ids_of(ids)]
    assert lengths != sorted(lengths, reverse=True)  # the inputs are not already in scoring order
    assert np.diff(np.sort(reference)).min() > 1e-4  # scores distinct enough to detect a misordering
    scores = scoring.score_ids(model, tokenizer, ids, batch_size)
    assert scores.dtype == np.float64 and scores.shape == (len(ids),)
    np.testing.assert_allclose(scores, reference, rtol=0, atol=1e-5)


def test_permuting_inputs_permutes_scores(model, tokenizer, encoded):
    ids = encoded
    permutation = np.random.default_rng(1).permutation(len(ids))
    scores = scoring.score_ids(model, tokenizer, ids, 8)
    permuted = scoring.score_ids(model, tokenizer, [ids[i] for i in permutation], 8)
    np.testing.assert_allclose(permuted, scores[permutation], rtol=0, atol=1e-5)


def test_score_texts_is_encode_then_score(model, tokenizer, texts):
    prompts, responses = texts
    expected = alone(model, scoring.encode(tokenizer, prompts[:10], responses[:10], MAX_LENGTH))
    np.testing.assert_allclose(scoring.score_texts(model, tokenizer, prompts[:10], responses[:10], MAX_LENGTH, 4),
                               expected, rtol=0, atol=1e-5)


def test_scoring_leaves_model_in_eval_mode_without_gradients(tokenizer, texts):
    model = spread_out(embedded_reward_model(RM, len(tokenizer), MAX_LENGTH, seed=0)).train()
    grad_enabled = []
    model.register_forward_hook(lambda *_: grad_enabled.append(torch.is_grad_enabled()))
    ids = scoring.encode(tokenizer, *texts, MAX_LENGTH)[:10]
    first = scoring.score_ids(model, tokenizer, ids, 4)
    assert not model.training and not any(m.training for m in model.modules())
    assert grad_enabled and not any(grad_enabled)
    assert all(p.grad is None for p in model.parameters())
    # dropout is off, so scores are reproducible
    np.testing.assert_array_equal(scoring.score_ids(model, tokenizer, ids, 4), first)


def test_no_sequences_no_scores(model, tokenizer):
    assert scoring.score_ids(model, tokenizer, [], 4).shape == (0,)
    assert scoring.encode(tokenizer, [], [], MAX_LENGTH) == []


# ------------------------------------------------------------------------------------------ encode

def test_encode_is_a_sequence_pair(tokenizer):
    ids = ids_of(scoring.encode(tokenizer, ["what food"], ["carefully thorough"], MAX_LENGTH))
    assert tokenizer.convert_ids_to_tokens(ids[0]) == ["[CLS]", "what", "food", "[SEP]", "carefully", "thorough",
                                                       "[SEP]"]


def test_encode_truncates_long_inputs_never_drops_them(tokenizer):
    prompts = ["what food " * 40, "why", "tell me about music " * 30]
    responses = ["carefully " * 100, "hey", "thorough " * 5]
    ids = ids_of(scoring.encode(tokenizer, prompts, responses, 16))
    assert len(ids) == 3
    assert [len(seq) for seq in ids] == [16, 5, 16]  # [CLS] why [SEP] hey [SEP] is untouched
    for seq in ids:
        tokens = tokenizer.convert_ids_to_tokens(seq)
        assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and tokens.count("[SEP]") == 2
    # longest-first truncation keeps both sides
    assert {"what", "carefully"} <= set(tokenizer.convert_ids_to_tokens(ids[0]))
    assert {"tell", "thorough"} <= set(tokenizer.convert_ids_to_tokens(ids[2]))


def test_encode_mismatched_lengths_raise(tokenizer):
    with pytest.raises(ValueError, match="2 prompts but 1 responses"):
        scoring.encode(tokenizer, ["a", "b"], ["c"], MAX_LENGTH)


def test_encode_uses_the_chat_template_when_there_is_one():
    tokenizer = embedded_tokenizer()
    tokenizer.chat_template = CHAT_TEMPLATE  # a user turn then an assistant turn, no special tokens
    ids = ids_of(scoring.encode(tokenizer, ["what food"], ["carefully thorough"], MAX_LENGTH))
    assert ids == [tokenizer.convert_tokens_to_ids(["what", "food", "carefully", "thorough"])]
    assert len(ids_of(scoring.encode(tokenizer, ["what food " * 20], ["carefully " * 20], 12))[0]) == 12


def test_chat_template_truncation_keeps_part_of_the_response():
    tokenizer = embedded_tokenizer()
    tokenizer.chat_template = CHAT_TEMPLATE
    long_prompt = "what food " * 20
    ids = ids_of(scoring.encode(tokenizer, [long_prompt, long_prompt], ["carefully thorough", "hey yeah"], 16))
    assert ids[0] != ids[1]


# ------------------------------------------------------------------------------------------ loading

def test_load_reward_model_round_trip(model, tokenizer, texts, tmp_path):
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded, loaded_tokenizer = models.load_reward_model(tmp_path, device=torch.device("cpu"))
    assert not loaded.training and loaded.config.num_labels == 1
    assert next(loaded.parameters()).dtype == torch.float32
    assert loaded.config.pad_token_id == loaded_tokenizer.pad_token_id == tokenizer.pad_token_id
    prompts, responses = texts
    ids = scoring.encode(loaded_tokenizer, prompts, responses, MAX_LENGTH)
    assert ids == scoring.encode(tokenizer, prompts, responses, MAX_LENGTH)
    np.testing.assert_allclose(scoring.score_ids(loaded, loaded_tokenizer, ids, 16),
                               scoring.score_ids(model, tokenizer, ids, 16), rtol=0, atol=1e-6)


def test_load_reward_model_in_half_precision(model, tokenizer, tmp_path):
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded, _ = models.load_reward_model(tmp_path, dtype="bfloat16", device=torch.device("cpu"))
    assert next(loaded.parameters()).dtype == torch.bfloat16
    scores = scoring.score_texts(loaded, tokenizer, ["what food"], ["carefully"], MAX_LENGTH, 1)
    assert scores.dtype == np.float64 and np.isfinite(scores).all()


def test_pickled_weights_are_refused(model, tokenizer, tmp_path):
    import safetensors.torch

    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    state = safetensors.torch.load_file(tmp_path / "model.safetensors")
    (tmp_path / "model.safetensors").unlink()
    torch.save(state, tmp_path / "pytorch_model.bin")  # a pickle: loading one can run arbitrary code
    with pytest.raises(OSError, match="has no safetensors weights, and pickled weights are not loaded"):
        models.load_reward_model(tmp_path, device=torch.device("cpu"))


def test_model_code_is_not_run_unless_trusted(model, tokenizer, tmp_path):
    import json

    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    marker = tmp_path / "code-ran"
    (tmp_path / "modeling_custom.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    config = json.loads((tmp_path / "config.json").read_text())
    # An unknown model_type: only the folder's own code could load it (a known type such as "bert" would
    # be loaded by transformers' built-in class, and the auto_map ignored).
    config["model_type"] = "scpo_custom_rm"
    config["auto_map"] = {"AutoConfig": "modeling_custom.CustomConfig",
                          "AutoModelForSequenceClassification": "modeling_custom.CustomModel"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="trust_remote_code"):
        models.load_reward_model(tmp_path, device=torch.device("cpu"))
    assert not marker.exists()
    # The switch is what stands between: trusted, the folder's code runs (and here fails to define a model).
    with pytest.raises(Exception):
        models.load_reward_model(tmp_path, device=torch.device("cpu"), trust_remote_code=True)
    assert marker.exists()


# ------------------------------------------------------------------------------------------ ensure_pad_token

def test_ensure_pad_token_takes_eos_from_sep_and_keeps_the_pad(model, tokenizer):
    prepared = embedded_tokenizer()
    prepared.eos_token = None
    models.ensure_pad_token(model, prepared)
    assert (prepared.eos_token, prepared.pad_token) == ("[SEP]", "[PAD]")
    assert model.config.pad_token_id == prepared.pad_token_id == tokenizer.pad_token_id


def test_a_missing_pad_token_reuses_a_reserved_pad_like_token():
    """Without a pad token, pad = EOS (TRL's fallback) would hide the final EOS where the reward is read;
    a reserved pad-like special token of the vocabulary is reused (Llama 3.1's, and adding one:
    tests/test_models.py)."""
    tokenizer = embedded_tokenizer()
    tokenizer.pad_token = None
    model = embedded_reward_model(RM, len(tokenizer), MAX_LENGTH, seed=0)
    size = model.get_input_embeddings().num_embeddings
    models.ensure_pad_token(model, tokenizer)
    assert tokenizer.pad_token == "[PAD]" != tokenizer.eos_token
    assert model.get_input_embeddings().num_embeddings == size  # nothing added
    assert model.config.pad_token_id == tokenizer.pad_token_id
