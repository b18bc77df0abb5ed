"""The embedded global RM: a word-level tokenizer over the simulator's vocabulary and a tiny BERT reward model; the
vocabulary itself (the words `scpo.embedded` writes texts in) lives here, so the RM's code does not import the
simulator.

Stage 02 trains it (`scpo.models.train_global_rm`) where `scoring.model` is `embedded`; the benchmark, the scaling
command and the tests build the same pair.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

from scpo.config import GlobalRMConfig
from scpo.data import EMPTY_RESPONSE

if TYPE_CHECKING:  # transformers is imported where a tokenizer or a model is built: what needs only the vocabulary
    # (the simulator, and through it the gallery) starts without it, about 2 s sooner
    from transformers import BertForSequenceClassification, PreTrainedTokenizerFast

# The simulator's latent attributes (scpo.embedded) and the words that express them: (name, words for +, words for -).
ATTRIBUTES = (
    ("detail", ("specifically", "thorough", "detailed", "example"), ("briefly", "simply", "short", "basically")),
    ("caution", ("carefully", "safety", "risk", "consult"), ("boldly", "dare", "adventure", "whatever")),
    ("formality", ("sincerely", "furthermore", "regards", "therefore"), ("hey", "yeah", "gonna", "cool")),
    ("tradition", ("tradition", "family", "faith", "heritage"), ("modern", "secular", "novel", "progressive")),
    ("humour", ("haha", "joke", "funny", "playful"), ("serious", "strictly", "solemn", "formal")),
    ("community", ("community", "together", "society", "neighbours"), ("yourself", "personal", "independent", "alone")),
)
FILLER = tuple("the a of to and in is it that for on with as this can be are you your about more some".split())
TOPICS = tuple("food work school health money travel religion politics music sport family weather".split())
PROMPT_WORDS = tuple("what how why should tell me about think advice explain".split())
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


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
    from transformers import PreTrainedTokenizerFast

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
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(
        vocab_size=vocab_size, hidden_size=rm.hidden_size, num_hidden_layers=rm.num_hidden_layers,
        num_attention_heads=rm.num_attention_heads, intermediate_size=rm.intermediate_size,
        max_position_embeddings=max(max_length, 64), num_labels=1, pad_token_id=0,
    )
    import torch  # seeded here so the initial weights are a function of `seed` alone

    torch.manual_seed(seed)
    return BertForSequenceClassification(config)
