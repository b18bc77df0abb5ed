"""One scoring path for every reward model: encode (prompt, response), score in length-sorted batches.

Training and scoring share `encode`, so a model is trained on exactly the inputs it is scored on
(the released code trained on 'prompt [SEP] response' strings but scored sequence pairs).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase


def default_device() -> torch.device:
    """The first GPU if there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def prepare_tokenizer(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Give the tokenizer the pad and EOS tokens that batching and TRL need (BERT lacks EOS, Llama pad)."""
    if tokenizer.eos_token is None and tokenizer.sep_token is not None:
        tokenizer.eos_token = tokenizer.sep_token
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_reward_model(name_or_path: str | Path, revision: str | None = None, dtype: str = "float32",
                      device: torch.device | None = None,
                      trust_remote_code: bool = False) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A sequence-classification RM with one output (hub id or local folder), in eval mode, and its tokenizer.

    Safe by default: weights only from safetensors (never a pickle), no model-supplied code unless
    `trust_remote_code`; a hub token, if any, is read by huggingface_hub from the environment (HF_TOKEN)
    and never passed through here.
    """
    tokenizer = prepare_tokenizer(AutoTokenizer.from_pretrained(str(name_or_path), revision=revision,
                                                                trust_remote_code=trust_remote_code))
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            str(name_or_path), revision=revision, num_labels=1, dtype=getattr(torch, dtype),
            use_safetensors=True, trust_remote_code=trust_remote_code)
    except OSError as error:
        if "safetensors" not in str(error):
            raise
        raise OSError(f"{name_or_path}@{revision or 'main'} has no safetensors weights, and pickled weights are "
                      "not loaded (they can run code). Use a revision with model.safetensors (the hub's "
                      f"conversion pull request, e.g. refs/pr/1) or convert it locally. ({error})") from error
    model.config.pad_token_id = tokenizer.pad_token_id
    return model.to(device or default_device()).eval(), tokenizer


def encode(tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], responses: Sequence[str],
           max_length: int) -> list[list[int]]:
    """Token ids of each (prompt, response), truncated to `max_length` (never dropped).

    RMs with a chat template (e.g. Tulu 3) see a user turn and an assistant turn; encoder RMs
    (e.g. DeBERTa) see a sequence pair, as their reward heads were trained.
    """
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
    if len(prompts) == 0:
        return []
    if tokenizer.chat_template:
        return [_chat_ids(tokenizer, p, r, max_length) for p, r in zip(prompts, responses)]
    return tokenizer(list(prompts), list(responses), truncation="longest_first", max_length=max_length)["input_ids"]


def _chat_ids(tokenizer: PreTrainedTokenizerBase, prompt: str, response: str, max_length: int) -> list[int]:
    """A user turn and an assistant turn; when too long, the prompt loses its start first, so the
    response (what the reward judges) survives; only then is the end cut."""
    def conversation(text: str) -> list[int]:
        messages = [{"role": "user", "content": text}, {"role": "assistant", "content": response}]
        return list(tokenizer.apply_chat_template(messages, tokenize=True)["input_ids"])

    ids = conversation(prompt)
    overflow = len(ids) - max_length
    if overflow > 0:
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        ids = conversation(tokenizer.decode(prompt_ids[min(overflow, len(prompt_ids)):]))
    return ids[:max_length]


@torch.inference_mode()
def score_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, input_ids: Sequence[list[int]],
              batch_size: int) -> np.ndarray:
    """Scalar rewards for each sequence, in input order, float64.

    Eval mode (no dropout) and no gradients. Sequences are batched longest first so each batch pads to
    nearly its own length: padding work stays small whatever order the data arrives in.
    """
    model.eval()
    device = next(model.parameters()).device
    order = np.argsort([-len(ids) for ids in input_ids], kind="stable")
    scores = np.empty(len(input_ids), dtype=np.float64)
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        batch = tokenizer.pad({"input_ids": [input_ids[i] for i in index]}, return_tensors="pt")
        logits = model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)).logits
        scores[index] = logits[:, 0].float().cpu().numpy()
    return scores


def score_texts(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str],
                responses: Sequence[str], max_length: int, batch_size: int) -> np.ndarray:
    """`encode` then `score_ids`: the reward of each (prompt, response)."""
    return score_ids(model, tokenizer, encode(tokenizer, prompts, responses, max_length), batch_size)
