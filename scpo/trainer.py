"""Fine-tuning a reward model with the weighted Bradley-Terry loss: TRL's RewardTrainer, loss overridden.

Every arm (and the embedded global RM's own training) goes through `train_reward_model`; arms differ
only in the pairs and the `weight` column they pass.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer
from trl import RewardConfig, RewardTrainer
from trl.trainer.reward_trainer import DataCollatorForPreference

from scpo.config import TrainingConfig
from scpo.loss import weighted_bt_loss
from scpo.scoring import encode


@dataclass
class WeightedPreferenceCollator(DataCollatorForPreference):
    """TRL's collator (rows [chosen..., rejected...], dynamic padding) plus a (B,) float `weight`."""

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = super().torch_call(examples)
        batch["weight"] = torch.tensor([float(ex.get("weight", 1.0)) for ex in examples], dtype=torch.float)
        return batch


class WeightedRewardTrainer(RewardTrainer):
    """RewardTrainer whose loss is `weighted_bt_loss`; logs batch accuracy and mean weight."""

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        if "weight" not in self._signature_columns:
            self._signature_columns = [*self._signature_columns, "weight"]

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        weight = inputs.pop("weight")
        outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
        chosen, rejected = outputs.logits.squeeze(-1).chunk(2)
        loss = weighted_bt_loss(chosen, rejected, weight)
        mode = "train" if model.training else "eval"
        with torch.no_grad():  # per-batch diagnostics only; accuracy is computed from saved scores
            self._metrics[mode]["accuracy"].append((chosen > rejected).float().mean().item())
            self._metrics[mode]["mean_weight"].append(weight.mean().item())
        return (loss, outputs) if return_outputs else loss


def preference_dataset(tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], chosen: Sequence[str],
                       rejected: Sequence[str], weight: Sequence[float] | np.ndarray,
                       max_length: int) -> datasets.Dataset:
    """Tokenised pairs (`chosen_ids`, `rejected_ids`, `weight`), encoded exactly as scoring encodes them."""
    return datasets.Dataset.from_dict({
        "chosen_ids": encode(tokenizer, prompts, chosen, max_length),
        "rejected_ids": encode(tokenizer, prompts, rejected, max_length),
        "weight": np.asarray(weight, dtype=np.float64).tolist(),
    })


def reward_config(training: TrainingConfig, output_dir: Path, seed_offset: int = 0) -> RewardConfig:
    """TrainingArguments from `params.yaml` alone: every value TRL would default differently is pinned there.

    The run seed offsets `training.seed` (initialisation of new heads, dropout, data order).
    """
    kwargs = training.trainer_kwargs() | {"seed": training.seed + seed_offset}
    return RewardConfig(
        output_dir=str(output_dir), **kwargs,
        max_length=None,  # inputs are truncated by `encode`; TRL's max_length would drop long pairs
        report_to="none", eval_strategy="no", save_strategy="steps", save_total_limit=1,
    )


def shared_arguments(args: RewardConfig) -> dict[str, Any]:
    """The training arguments that must be identical across arms: all but where the run writes."""
    return {k: v for k, v in args.to_dict().items() if k not in ("output_dir", "logging_dir", "run_name")}


def run_fingerprint(args: RewardConfig, dataset: datasets.Dataset, base_model: str) -> str:
    """A hash of everything a run's result depends on: resuming is only safe from the same fingerprint."""
    payload = json.dumps({"args": shared_arguments(args), "model": base_model,
                          "data": [dataset["chosen_ids"], dataset["rejected_ids"], dataset["weight"]]},
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def train_reward_model(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, dataset: datasets.Dataset,
                       args: RewardConfig, callbacks: list | None = None) -> WeightedRewardTrainer:
    """Fine-tune `model` in place on weighted pairs, resuming from the last checkpoint in `args.output_dir`.

    Returns the trainer; its `state.log_history` holds the training curve.
    """
    if len(dataset) == 0:
        raise ValueError("no training pairs: nothing to fine-tune on (check filtering.tau and the data)")
    trainer = WeightedRewardTrainer(
        model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
        data_collator=WeightedPreferenceCollator(pad_token_id=tokenizer.pad_token_id), callbacks=callbacks,
    )
    resume = last_complete_checkpoint(Path(args.output_dir))
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    return trainer


def last_complete_checkpoint(output_dir: Path) -> Path | None:
    """The newest `checkpoint-<step>` folder that was fully written, or None.

    The Trainer writes `trainer_state.json` last, so a checkpoint without a readable one was cut off
    by a kill during the save: it is removed, and the run resumes from the one before.
    """
    steps = sorted(((int(p.name.split("-")[1]), p) for p in output_dir.glob("checkpoint-*")
                    if p.is_dir() and p.name.split("-")[1].isdigit()), reverse=True)
    for _, folder in steps:
        try:
            json.loads((folder / "trainer_state.json").read_text())
            return folder
        except (OSError, ValueError):
            shutil.rmtree(folder, ignore_errors=True)
    return None


def save_model(trainer: Trainer, folder: Path, card: str | None = None) -> Path:
    """Save the model and tokenizer (HF format, safetensors) and an optional model card to `folder`,
    atomically: written to a temporary sibling folder and renamed, so a crash never leaves a
    half-written model that a later stage would load."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        trainer.save_model(str(scratch))
        if card is not None:
            (scratch / "README.md").write_text(card)
        if folder.exists():
            shutil.rmtree(folder)
        scratch.rename(folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return folder


def model_card(title: str, facts: dict[str, Any], args: RewardConfig, metrics: dict[str, Any]) -> str:
    """A short Hugging Face model card: what the model is, what it was trained on, how, and how it scores."""
    lines = [f"# {title}", "", "Trained with scpo (Steerable Cultural Preference Optimization).", ""]
    lines += [f"- **{key}**: {value}" for key, value in facts.items()]
    lines += ["", "## Training arguments", "", "```json",
              json.dumps({k: v for k, v in shared_arguments(args).items()
                          if k in TrainingConfig.__dataclass_fields__}, indent=1, sort_keys=True), "```",
              "", "## Held-out pairwise accuracy", "", "```json", json.dumps(metrics, indent=1, sort_keys=True), "```"]
    return "\n".join(lines) + "\n"
