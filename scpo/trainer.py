"""Fine-tuning a reward model with the weighted Bradley-Terry loss: TRL's RewardTrainer, loss overridden.

Every arm (and the embedded global RM's own training) goes through `train_reward_model`; arms differ
only in the pairs and the `weight` column they pass.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer, TrainerCallback
from transformers.trainer_pt_utils import LengthGroupedSampler, get_length_grouped_indices
from trl import RewardConfig, RewardTrainer
from trl.trainer.reward_trainer import DataCollatorForPreference
from trl.trainer.utils import pad

from scpo.config import TrainingConfig
from scpo.loss import weighted_bt_loss
from scpo.phases import Phases, TrainLoopTimer
from scpo.scoring import encode


@dataclass
class WeightedPreferenceCollator(DataCollatorForPreference):
    """TRL's collator (rows [chosen..., rejected...], dynamic right padding) plus a (B,) float `weight` and,
    for RMs whose tokenizer makes segment ids, `token_type_ids` in the same row order."""

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = super().torch_call(examples)  # reads chosen_ids and rejected_ids only
        batch["weight"] = torch.tensor([float(ex.get("weight", 1.0)) for ex in examples], dtype=torch.float)
        if "chosen_token_type_ids" in examples[0]:
            segments = [torch.tensor(ex[f"{side}_token_type_ids"]) for side in ("chosen", "rejected") for ex in examples]
            batch["token_type_ids"] = pad(segments, padding_value=0, padding_side="right",
                                          pad_to_multiple_of=self.pad_to_multiple_of)
        return batch


class SeededLengthGroupedSampler(LengthGroupedSampler):
    """transformers' length-grouped order (shuffled mega-batches, sorted by length inside), drawn from
    (seed, epoch) alone rather than the global RNG: a resumed run, and every process of a distributed
    run, sees the same batches as an uninterrupted single-process run."""

    def __init__(self, batch_size: int, lengths: list[int], seed: int) -> None:
        super().__init__(batch_size, lengths=lengths)
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(get_length_grouped_indices(self.lengths, self.batch_size, generator=generator))


class NoFinalCheckpoint(TrainerCallback):
    """No checkpoint at the last step (the Trainer writes one whatever `save_steps` says, and one at a multiple of
    `save_steps`): every caller saves the finished model itself right after (`save_model`) and deletes the
    checkpoints, so it would only be written and removed. The checkpoints before it, which an interrupted run
    resumes from, are untouched; a run killed between its last step and its save resumes from the one before."""

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= state.max_steps:
            control.should_save = False
        return control


class WeightedRewardTrainer(RewardTrainer):
    """RewardTrainer whose loss is `weighted_bt_loss`; logs batch accuracy, mean weight and the unweighted BT loss
    (`bt_loss`), and the seconds its checkpoints took (`checkpoint_seconds`: where a run's time goes, `scpo.phases`)."""

    checkpoint_seconds = 0.0
    loss_normalisation = "batch"  # `weighted_bt_loss`'s: set per arm by `reward_trainer` (selection.Arm)
    _flos_per_token: int | None = None

    def _save_checkpoint(self, model, trial):
        start = time.perf_counter()
        super()._save_checkpoint(model, trial)
        self.checkpoint_seconds += time.perf_counter() - start

    def _get_train_sampler(self, train_dataset=None):
        dataset = self.train_dataset if train_dataset is None else train_dataset
        if self.args.train_sampling_strategy != "group_by_length" or "length" not in dataset.column_names:
            return super()._get_train_sampler(train_dataset)
        # Grouped by the global batch, the same on every process: accelerate then hands each process its
        # consecutive share, so N processes see exactly the pairs one process would (tests/test_distributed.py).
        batch = self.args.train_batch_size * self.args.gradient_accumulation_steps * max(1, self.args.world_size)
        # a list, not the dataset's lazy column: the sampler reads each length by index, and an Arrow lookup a
        # length cost 0.26 s of a 3 s default run (more with more pairs: what scpo.scaling measured as slower steps)
        return SeededLengthGroupedSampler(batch, list(dataset["length"]), self.args.seed)

    def floating_point_ops(self, inputs: dict[str, Any]) -> int:
        """transformers' count (6 x tokens x non-embedding parameters), with the parameters counted once per run:
        it walks every module each step otherwise (about 0.6 ms of a 10 ms default step)."""
        main_input = getattr(self.model, "main_input_name", "input_ids")
        tokens = inputs.get(main_input)
        if not isinstance(tokens, torch.Tensor) or tokens.numel() == 0:
            return super().floating_point_ops(inputs)
        if self._flos_per_token is None:
            self._flos_per_token = super().floating_point_ops({main_input: tokens.reshape(-1)[:1]})
        return self._flos_per_token * tokens.numel()

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        # `weight` feeds the loss, segment ids the model; `length` the length-grouped sampler (the collator drops it)
        extra = ("weight", "length", "chosen_token_type_ids", "rejected_token_type_ids")
        self._signature_columns = [*self._signature_columns, *(c for c in extra if c not in self._signature_columns)]

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        weight = inputs.pop("weight")
        outputs = model(**{name: inputs[name] for name in ("input_ids", "attention_mask", "token_type_ids")
                           if name in inputs})
        chosen, rejected = outputs.logits.squeeze(-1).chunk(2)
        loss = weighted_bt_loss(chosen, rejected, weight, self.loss_normalisation)
        mode = "train" if model.training else "eval"
        with torch.no_grad():  # per-batch diagnostics only; accuracy is computed from saved scores
            self._metrics[mode]["accuracy"].append((chosen > rejected).float().mean().item())
            self._metrics[mode]["mean_weight"].append(weight.mean().item())
            # the plain Bradley-Terry loss: the same quantity for every arm, so training curves compare across arms
            self._metrics[mode]["bt_loss"].append(weighted_bt_loss(chosen, rejected).item())
        return (loss, outputs) if return_outputs else loss


def preference_dataset(tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], chosen: Sequence[str],
                       rejected: Sequence[str], weight: Sequence[float] | np.ndarray,
                       max_length: int) -> datasets.Dataset:
    """Tokenised pairs (`chosen_ids`, `rejected_ids`, `weight`, and `*_token_type_ids` where the tokenizer makes
    segment ids), encoded exactly as scoring encodes them, and `length`, the longer side's token count: a
    batch pads both sides to it, so the length-grouped sampler (`train_sampling_strategy: group_by_length`)
    groups pairs by it."""
    sides = {"chosen": encode(tokenizer, prompts, chosen, max_length),
             "rejected": encode(tokenizer, prompts, rejected, max_length)}
    columns = {}
    for side, encoded in sides.items():
        for name in (encoded[0] if encoded else ("input_ids",)):  # TRL's names: chosen_ids, rejected_ids
            columns[f"{side}_ids" if name == "input_ids" else f"{side}_{name}"] = [f[name] for f in encoded]
    return datasets.Dataset.from_dict({
        **columns,
        "weight": np.asarray(weight, dtype=np.float64).tolist(),
        "length": [max(len(c), len(r)) for c, r in zip(columns["chosen_ids"], columns["rejected_ids"])],
    })


def process_batch_size(batch: int, world_size: int) -> int:
    """Each of `world_size` processes' share of a `batch` of pairs per optimiser step."""
    if batch % world_size:
        raise ValueError(f"training.per_device_train_batch_size = {batch} is not divisible by the {world_size} "
                         "processes launch.command starts: choose a batch or a process count that divide")
    return batch // world_size


def reward_config(training: TrainingConfig, output_dir: Path, seed_offset: int = 0) -> RewardConfig:
    """TrainingArguments from `params.yaml` alone: every value TRL would default differently is pinned there.

    The run seed offsets `training.seed` (initialisation of new heads, dropout, data order).
    `training.per_device_train_batch_size` is the batch of a one-process run; started by a launcher
    (WORLD_SIZE > 1) it is split across the processes, so the pairs per optimiser step, and the
    results, stay those of one process.
    """
    kwargs = training.trainer_kwargs() | {"seed": training.seed + seed_offset}
    kwargs["per_device_train_batch_size"] = process_batch_size(training.per_device_train_batch_size,
                                                               int(os.environ.get("WORLD_SIZE", "1")))
    return RewardConfig(
        output_dir=str(output_dir), **kwargs,
        max_length=None,  # inputs are truncated by `encode`; TRL's max_length would drop long pairs
        report_to="none", eval_strategy="no", save_strategy="steps", save_total_limit=1,
        # Without an accelerator, say so: transformers then starts gloo under torchrun / accelerate launch
        # (otherwise each CPU process would train alone on the whole data).
        use_cpu=not (torch.cuda.is_available() or torch.backends.mps.is_available()),
    )


def shared_arguments(args: RewardConfig) -> dict[str, Any]:
    """The training arguments that must be identical across arms: all but where the run writes."""
    return {k: v for k, v in args.to_dict().items() if k not in ("output_dir", "logging_dir", "run_name")}


def run_fingerprint(args: RewardConfig, dataset: datasets.Dataset, base_model: str,
                    lora: dict[str, Any] | None = None, loss_normalisation: str = "batch") -> str:
    """A hash of everything a run's result depends on: resuming is only safe from the same fingerprint."""
    payload = json.dumps({"args": shared_arguments(args), "model": base_model, **({"lora": lora} if lora else {}),
                          **({"loss_normalisation": loss_normalisation} if loss_normalisation != "batch" else {}),
                          "data": [dataset["chosen_ids"], dataset["rejected_ids"], dataset["weight"]]},
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def reward_trainer(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, dataset: datasets.Dataset,
                   args: RewardConfig, callbacks: list | None = None,
                   lora: dict[str, Any] | None = None, loss_normalisation: str = "batch") -> WeightedRewardTrainer:
    """The trainer every fine-tune uses (also what `scpo.bench` measures): one forward pass over the
    batch's chosen and rejected sequences, dynamic padding, the weighted loss. With `lora`
    (`TrainingConfig.lora()`), TRL wraps the model in peft LoRA adapters; the reward head stays fully
    trainable (peft's sequence-classification task saves `score`/`classifier` whole)."""
    if len(dataset) == 0:
        raise ValueError("no training pairs: nothing to fine-tune on (check filtering.tau and the data)")
    peft_config = None
    if lora is not None:
        from peft import LoraConfig, TaskType

        peft_config = LoraConfig(task_type=TaskType.SEQ_CLS, **lora)
    trainer = WeightedRewardTrainer(
        model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
        data_collator=WeightedPreferenceCollator(pad_token_id=tokenizer.pad_token_id),
        callbacks=[NoFinalCheckpoint(), *(callbacks or [])], peft_config=peft_config,
    )
    trainer.loss_normalisation = loss_normalisation
    if lora is not None:
        upcast_trainable(trainer.model)
    return trainer


def base_dtype(training: TrainingConfig) -> str:
    """The precision a run loads its model in: the frozen base of a LoRA run in bf16 when training in bf16
    (half the memory: 15 GB for an 8B RM, not 30); otherwise fp32 (with `bf16`, mixed precision keeps fp32
    master weights and computes in bf16)."""
    return "bfloat16" if training.lora() and training.bf16 else "float32"


def upcast_trainable(model: torch.nn.Module) -> None:
    """What trains (LoRA adapters, the reward head) in fp32, whatever the base's precision: bf16 weights would
    round away small Adam updates."""
    for parameter in model.parameters():
        if parameter.requires_grad and parameter.dtype != torch.float32:
            parameter.data = parameter.data.float()


def train_reward_model(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, dataset: datasets.Dataset,
                       args: RewardConfig, callbacks: list | None = None, lora: dict[str, Any] | None = None,
                       phases: Phases | None = None, loss_normalisation: str = "batch") -> WeightedRewardTrainer:
    """Fine-tune `model` in place on weighted pairs, resuming from the last checkpoint in `args.output_dir`.

    Returns the trainer; its `state.log_history` holds the training curve, its `resumed_from_step` the
    checkpoint step it resumed from (None for a fresh start). `phases` gets the wall time of the trainer's
    set-up, of `train()`'s own set-up, of the training steps and of checkpointing.
    """
    phases = phases if phases is not None else Phases()
    loop = TrainLoopTimer()
    with phases("trainer set-up"):
        trainer = reward_trainer(model, tokenizer, dataset, args, [*(callbacks or []), loop], lora, loss_normalisation)
        resume = last_complete_checkpoint(Path(args.output_dir))
        trainer.resumed_from_step = int(resume.name.split("-")[1]) if resume else None
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    phases.add("train() set-up", time.perf_counter() - start - loop.loop_seconds())
    phases.add("training steps", loop.loop_seconds() - trainer.checkpoint_seconds)
    phases.add("checkpointing", trainer.checkpoint_seconds)
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


def save_model(trainer: Trainer, folder: Path) -> Path:
    """Save the model and tokenizer (HF format, safetensors; a LoRA run: the adapter and the reward head) to
    `folder`, atomically: written to a temporary sibling folder and renamed, so a crash never leaves a
    half-written model that a later stage would load. Returns once every process can read it."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        trainer.save_model(str(scratch))  # every process calls it (sharded weights are gathered); the main one writes
        if trainer.is_world_process_zero():
            (scratch / "README.md").unlink(missing_ok=True)  # TRL's generic card; scpo writes its own
            if folder.exists():
                shutil.rmtree(folder)
            scratch.rename(folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    return folder


def release(trainer: Trainer) -> None:
    """Drop the trainer's model and optimiser and free accelerator memory, so that a GPU has room to load
    the saved model for scoring (its arguments, state and log stay). The collection is cheap once the process's
    imports are frozen out of the collector's sight (`scpo.train` does so)."""
    trainer.accelerator.free_memory()
    trainer.model = trainer.model_wrapped = None
    trainer.optimizer = trainer.lr_scheduler = None
    handler = trainer.callback_handler  # holds its own references to all three
    handler.model = handler.optimizer = handler.lr_scheduler = None
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def model_card(title: str, facts: dict[str, Any], args: RewardConfig, metrics: dict[str, Any]) -> str:
    """A short Hugging Face model card: what the model is, what it was trained on, how, and how it scores."""
    lines = [f"# {title}", "", "Trained with scpo (Steerable Cultural Preference Optimization).", ""]
    lines += [f"- **{key}**: {value}" for key, value in facts.items()]
    lines += ["", "## Training arguments", "", "```json",
              json.dumps({k: v for k, v in shared_arguments(args).items()
                          if k in TrainingConfig.__dataclass_fields__}, indent=1, sort_keys=True), "```",
              "", "## Held-out pairwise accuracy", "", "```json", json.dumps(metrics, indent=1, sort_keys=True), "```"]
    return "\n".join(lines) + "\n"
