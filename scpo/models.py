"""Reward models in: loading any sequence-classification RM (a hub id, a local folder, or a LoRA adapter saved
on its base) safely and ready to batch. Where `scoring.model` points (`resolve_model`) and the fingerprint DVC
tracks (`model_fingerprint`) live in `scpo.model_source`, which the model-source stage runs without torch.

Every stage loads through `load_reward_model`: the global RM (stage 02), the copies each arm fine-tunes,
and the saved arms whose scores are reported, so a model is always read the same way.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from scpo.config import GlobalRMConfig

ADDED_PAD_TOKEN = "<|pad|>"  # added (and the embeddings grown by one row) only where no pad-like token exists
TOKENIZER_PACKAGES = ("sentencepiece", "google.protobuf")  # read a SentencePiece-only tokenizer (spm.model)


def default_device() -> torch.device:
    """The first GPU if there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def missing_tokenizer_packages() -> list[str]:
    """The packages of TOKENIZER_PACKAGES this environment lacks."""
    missing = []
    for name in TOKENIZER_PACKAGES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name.replace("google.", ""))
    return missing


def load_tokenizer(name_or_path: str | Path, revision: str | None = None,
                   trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    """The model's tokenizer; a SentencePiece-only folder (DeBERTa-v3's `spm.model`) without the packages
    that read it stops with their names, not with transformers' fallback error ("tiktoken is required")."""
    try:
        return AutoTokenizer.from_pretrained(str(name_or_path), revision=revision, trust_remote_code=trust_remote_code)
    except (ValueError, OSError, ImportError) as error:
        missing = missing_tokenizer_packages()
        if not missing:
            raise
        raise ImportError(f"{name_or_path}: its tokenizer could not be read, and this environment lacks "
                          f"{' and '.join(missing)}, which a SentencePiece tokenizer (spm.model, e.g. DeBERTa-v3) "
                          "without tokenizer.json needs: pip install -r requirements.txt (it pins both). "
                          f"({type(error).__name__}: {error})") from error


def ensure_pad_token(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
    """Give the tokenizer the EOS and pad tokens batching and TRL need, and the model the same pad id.

    A sequence-classification model reads its reward at the last token that is not the pad token, so the
    pad token must never be a real one: with pad = EOS (TRL's fallback) a decoder RM would read its reward
    one token early, before the final EOS. Without a pad token, a reserved pad-like special token of the
    vocabulary is used (Llama 3.1's `<|finetune_right_pad_id|>`), else `<|pad|>` is added and the embeddings
    grow by one row (never attended: batches are right-padded). A pad token the model ships is kept.
    """
    if tokenizer.eos_token is None and tokenizer.sep_token is not None:  # BERT-style: TRL needs an EOS
        tokenizer.eos_token = tokenizer.sep_token
    size = model.get_input_embeddings().num_embeddings
    if tokenizer.pad_token is None:
        reserved = [token.content for index, token in sorted(tokenizer.added_tokens_decoder.items())
                    if token.special and "pad" in token.content.lower() and index < size]
        if reserved:
            tokenizer.pad_token = reserved[0]
        else:
            tokenizer.add_special_tokens({"pad_token": ADDED_PAD_TOKEN})
    if len(tokenizer) > size:  # the added rows are zeros, not random: reruns stay byte-identical
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        with torch.no_grad():
            model.get_input_embeddings().weight[size:] = 0.0
    tokenizer.padding_side = "right"  # decoder RMs' positions then do not depend on the batch
    model.config.pad_token_id = tokenizer.pad_token_id


def _weights(name_or_path: str | Path, revision: str | None, dtype: str, trust_remote_code: bool) -> PreTrainedModel:
    """Weights from safetensors only (a pickle can run code), one reward output."""
    try:
        return AutoModelForSequenceClassification.from_pretrained(
            str(name_or_path), revision=revision, num_labels=1, dtype=getattr(torch, dtype),
            use_safetensors=True, trust_remote_code=trust_remote_code)
    except OSError as error:
        if "safetensors" not in str(error):
            raise
        raise OSError(f"{name_or_path}@{revision or 'main'} has no safetensors weights, and pickled weights are "
                      "not loaded (they can run code). Use a revision with model.safetensors (the hub's "
                      f"conversion pull request, e.g. refs/pr/1) or convert it locally. ({error})") from error


def load_reward_model(name_or_path: str | Path, revision: str | None = None, dtype: str = "float32",
                      device: torch.device | None = None,
                      trust_remote_code: bool = False) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A sequence-classification RM with one output, in eval mode in `dtype`, and its tokenizer.

    `name_or_path` is a hub id, a model folder, or a LoRA adapter folder (`adapter_config.json`, as a LoRA
    run saves it): then its base is loaded from the base's id and revision recorded there, in `dtype`, and
    the adapter on top. Safe by default: safetensors only, no model-supplied code unless
    `trust_remote_code`; a hub token, if any, is read by huggingface_hub from the environment (HF_TOKEN).
    """
    folder = Path(name_or_path)
    adapter = folder / "adapter_config.json"
    tokenizer = load_tokenizer(name_or_path, revision, trust_remote_code)
    if adapter.is_file():
        from peft import PeftModel

        settings = json.loads(adapter.read_text())
        if not (folder / "adapter_model.safetensors").is_file():
            raise OSError(f"{folder} has no adapter_model.safetensors, and pickled weights are not loaded")
        model = _weights(settings["base_model_name_or_path"], settings.get("revision"), dtype, trust_remote_code)
        ensure_pad_token(model, tokenizer)
        model = PeftModel.from_pretrained(model, str(folder))
        model = model.to(getattr(torch, dtype))  # the adapters too: every score in one precision
    else:
        model = _weights(name_or_path, revision, dtype, trust_remote_code)
        ensure_pad_token(model, tokenizer)
    return model.to(device or default_device()).eval(), tokenizer


def global_rm_to_train(rm: GlobalRMConfig, encoder: str | None, texts: Iterable[str], max_length: int,
                       seed: int) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The global RM stage 02 trains and its tokenizer: a fresh tiny BERT over `vocabulary()` and the words of
    `texts` (`encoder` None), or a pretrained encoder (`encoder`, a local folder) with a new reward head, of
    which only the newly initialised weights (the head) train: the encoder stays as pretrained."""
    from scpo import embedded_rm  # the tiny BERT and its tokenizer

    if encoder is None:
        tokenizer = embedded_rm.embedded_tokenizer(texts)
        return embedded_rm.embedded_reward_model(rm, len(tokenizer), max_length, seed), tokenizer
    torch.manual_seed(seed)  # the new head's initialisation
    model, loading = AutoModelForSequenceClassification.from_pretrained(encoder, num_labels=1, use_safetensors=True,
                                                                       output_loading_info=True)
    tokenizer = load_tokenizer(encoder)
    ensure_pad_token(model, tokenizer)
    new = set(loading["missing_keys"])
    if not new:
        raise ValueError(f"global_rm.encoder {encoder} already has a reward head: set it as scoring.model instead")
    for name, parameter in model.named_parameters():
        parameter.requires_grad = name in new
    return model, tokenizer


def train_global_rm(rm: GlobalRMConfig, encoder: str | None, pool: Any, max_length: int, seed: int,
                    workdir: Path, target: Path) -> list[dict]:
    """Train the embedded global RM on `pool`'s pairs (prompt, chosen, rejected) with the country models' trainer
    and loss, every weight 1 (plain Bradley-Terry), save it to `target` (atomic: whole or absent) and drop its
    checkpoints in `workdir`. Returns the training log (`Trainer.state.log_history`)."""
    import shutil

    import numpy as np

    from scpo import trainer

    model, tokenizer = global_rm_to_train(rm, encoder, [*pool.prompt, *pool.chosen, *pool.rejected], max_length,
                                          rm.training.seed + seed)
    dataset = trainer.preference_dataset(tokenizer, pool.prompt, pool.chosen, pool.rejected, np.ones(len(pool)),
                                         max_length)
    run = trainer.train_reward_model(model, tokenizer, dataset, trainer.reward_config(rm.training, workdir, seed))
    trainer.save_model(run, target)
    shutil.rmtree(workdir)  # saved: its checkpoints are no longer needed
    return run.state.log_history
