"""One scoring path for every reward model: encode (prompt, response), score in length-sorted batches.

Training and scoring share `encode`, so a model is trained on exactly the inputs it is scored on
(the released code trained on 'prompt [SEP] response' strings but scored sequence pairs). An encoded
text is a feature dict as a tokenizer returns it: `input_ids`, and `token_type_ids` where the tokenizer
makes segment ids (BERT-style RMs embed them; DeBERTa-v3's type vocabulary is empty, so it ignores them).
Models are loaded by `scpo.models.load_reward_model`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from scpo.threads import pin_threads

pin_threads()  # one fixed thread count for this process's arithmetic (scpo/threads.py)

Encoded = dict[str, list[int]]  # input_ids [, token_type_ids]
FEATURES = ("input_ids", "token_type_ids")  # what `encode` keeps of a tokenizer's output (masks come from padding)


def encode(tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], responses: Sequence[str],
           max_length: int) -> list[Encoded]:
    """The features of each (prompt, response), truncated to `max_length` tokens (never dropped).

    RMs with a chat template (e.g. Tulu 3) see a user turn and an assistant turn; encoder RMs
    (e.g. DeBERTa) see a sequence pair, as their reward heads were trained, truncated longest first.
    """
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
    if len(prompts) == 0:
        return []
    if tokenizer.chat_template:
        return [{"input_ids": _chat_ids(tokenizer, p, r, max_length)} for p, r in zip(prompts, responses)]
    features = tokenizer(list(prompts), list(responses), truncation="longest_first", max_length=max_length)
    kept = [name for name in FEATURES if name in features]
    return [{name: features[name][i] for name in kept} for i in range(len(prompts))]


def longest_first(prompt_tokens: int, response_tokens: int, budget: int) -> tuple[int, int]:
    """How many tokens of each side fit in `budget`, cutting the longer side first (as `truncation=
    'longest_first'` does for sequence pairs: equal sides leave the first one the odd token)."""
    if prompt_tokens + response_tokens <= budget:
        return prompt_tokens, response_tokens
    keep_prompt = min(prompt_tokens, max(budget - response_tokens, (budget + 1) // 2))
    return keep_prompt, min(response_tokens, budget - keep_prompt)


def _chat_ids(tokenizer: PreTrainedTokenizerBase, prompt: str, response: str, max_length: int) -> list[int]:
    """A user turn and an assistant turn, at most `max_length` tokens. When too long, the longer of the two
    texts is cut first (the prompt loses its start, the response its end) and the conversation re-rendered,
    so the template's ending and its EOS, where the reward is read, always remain."""
    def conversation(user: str, assistant: str) -> list[int]:
        messages = [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
        return list(tokenizer.apply_chat_template(messages, tokenize=True)["input_ids"])

    ids = conversation(prompt, response)
    if len(ids) <= max_length:
        return ids
    template = len(conversation("", ""))
    if max_length - template < 2:
        raise ValueError(f"scoring.max_length = {max_length} leaves no room for text: the chat template alone "
                         f"takes {template} tokens")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"]
    keep_prompt, keep_response = longest_first(len(prompt_ids), len(response_ids), max_length - template)
    while True:  # decoded text can re-tokenise a little longer at the cuts: shrink until it fits
        ids = conversation(tokenizer.decode(prompt_ids[len(prompt_ids) - keep_prompt:]),
                           tokenizer.decode(response_ids[:keep_response]))
        excess = len(ids) - max_length
        if excess <= 0:
            return ids
        if keep_prompt >= keep_response:
            keep_prompt = max(0, keep_prompt - excess)
        else:
            keep_response = max(0, keep_response - excess)


def pad_batch(tokenizer: PreTrainedTokenizerBase, encoded: Sequence[Encoded]) -> dict[str, torch.Tensor]:
    """Right-padded tensors with an attention mask: a reward is read at each sequence's last real token."""
    return dict(tokenizer.pad(list(encoded), padding_side="right", return_tensors="pt"))


@torch.inference_mode()
def score_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, encoded: Sequence[Encoded],
              batch_size: int) -> np.ndarray:
    """Scalar rewards for each encoded text, in input order, float64.

    Eval mode (no dropout) and no gradients, in the model's own precision. Sequences are batched longest
    first so each batch pads to nearly its own length: padding work stays small whatever order the data
    arrives in.
    """
    model.eval()
    device = next(model.parameters()).device
    order = np.argsort([-len(features["input_ids"]) for features in encoded], kind="stable")
    scores = np.empty(len(encoded), dtype=np.float64)
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        batch = pad_batch(tokenizer, [encoded[i] for i in index])
        logits = model(**{name: tensor.to(device) for name, tensor in batch.items()}).logits
        scores[index] = logits[:, 0].float().cpu().numpy()
    return scores


def score_texts(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str],
                responses: Sequence[str], max_length: int, batch_size: int) -> np.ndarray:
    """`encode` then `score_ids`: the reward of each (prompt, response)."""
    return score_ids(model, tokenizer, encode(tokenizer, prompts, responses, max_length), batch_size)
