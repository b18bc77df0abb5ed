"""The memory a fine-tune holds, counted from the model it would build: the same loading precision and the
same LoRA wrapping as `train.train_arm`, on PyTorch's meta device (no weights read, no memory used).

    python -m scpo.memory [--out reports/bench/memory_plan.json]

writes the plan for the study's 8B RM (allenai/Llama-3.1-Tulu-3-8B-RM under profiles/tulu8b.yaml, and full
fine-tuning for comparison). Parameters, gradients and Adam moments are counted; activations are an
estimate from the architecture, stated as such.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForSequenceClassification, LlamaConfig, PretrainedConfig, PreTrainedModel

from scpo.config import TrainingConfig
from scpo.trainer import base_dtype, upcast_trainable

GB = 1e9
# allenai/Llama-3.1-Tulu-3-8B-RM: Llama-3.1-8B with a one-output score head (as its config.json describes it)
TULU_8B = LlamaConfig(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                      num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=131072, num_labels=1,
                      tie_word_embeddings=False)
# The study's batch and length: 8 pairs = 16 sequences of 512 tokens.
STUDY_TOKENS = 16 * 512


def planned_model(config: PretrainedConfig, training: TrainingConfig) -> PreTrainedModel:
    """The model a run of `training` trains, on the meta device: the base in `trainer.base_dtype`, LoRA
    adapters as peft adds them for TRL, and what trains in fp32 (`trainer.upcast_trainable`)."""
    with torch.device("meta"):
        model = AutoModelForSequenceClassification.from_config(config, dtype=getattr(torch, base_dtype(training)))
        if training.lora():
            from peft import LoraConfig, TaskType, get_peft_model

            model = get_peft_model(model, LoraConfig(task_type=TaskType.SEQ_CLS, **training.lora()))
            upcast_trainable(model)
    return model


def parameter_memory(model: torch.nn.Module) -> dict[str, dict[str, float]]:
    """Parameters and bytes by role (frozen, trainable) and precision."""
    table: dict[str, dict[str, float]] = {}
    for parameter in model.parameters():
        role = table.setdefault("trainable" if parameter.requires_grad else "frozen", {})
        key = str(parameter.dtype).replace("torch.", "")
        role[f"{key}_parameters"] = role.get(f"{key}_parameters", 0) + parameter.numel()
        role[f"{key}_bytes"] = role.get(f"{key}_bytes", 0) + parameter.numel() * parameter.element_size()
    return table


def activation_bytes_per_token(config: PretrainedConfig, checkpointing: bool, element_size: int = 2) -> float:
    """What autograd keeps per token (an estimate): per layer, the two norms' inputs and outputs, q, k, v, the
    attention output and the MLP's gate, up and product; with gradient checkpointing each layer's input
    plus one layer's activations during recomputation. SDPA/flash attention keeps no score matrix."""
    hidden, layers = config.hidden_size, config.num_hidden_layers
    kv = hidden // config.num_attention_heads * config.num_key_value_heads
    per_layer = (4 * hidden + hidden + 2 * kv + hidden + 3 * config.intermediate_size) * element_size
    return (layers * hidden * element_size + per_layer) if checkpointing else layers * per_layer


def memory_plan(config: PretrainedConfig, training: TrainingConfig, tokens: int) -> dict[str, Any]:
    """GB held by a run of `training` on `config` at `tokens` tokens per step (one process)."""
    table = parameter_memory(planned_model(config, training))
    weights = sum(v for role in table.values() for k, v in role.items() if k.endswith("_bytes"))
    trainable = sum(v for k, v in table.get("trainable", {}).items() if k.endswith("_parameters"))
    states = trainable * (4 + 8)  # fp32 gradients and Adam's two fp32 moments of what trains
    with_checkpointing = activation_bytes_per_token(config, True) * tokens
    without = activation_bytes_per_token(config, False) * tokens
    return {"parameters": table, "weights_gb": weights / GB, "gradients_and_adam_gb": states / GB,
            "activations_gb": {"without_checkpointing": without / GB, "with_checkpointing": with_checkpointing / GB},
            "total_gb": {"without_checkpointing": (weights + states + without) / GB,
                         "with_checkpointing": (weights + states + with_checkpointing) / GB}}


def main(argv: list[str] | None = None) -> int:
    """Write the memory plan of the 8B RM under profiles/tulu8b.yaml (LoRA) and under full fine-tuning."""
    import dataclasses

    from scpo import config, io
    from scpo.paths import ROOT
    from scpo.profile import merged
    from scpo.strict import load_yaml

    parser = argparse.ArgumentParser(prog="python -m scpo.memory", description=main.__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "reports/bench/memory_plan.json")
    args = parser.parse_args(argv)
    raw = load_yaml(ROOT / "params.yaml")  # the strict reader every params file goes through
    for profile in ("profiles/paper.yaml", "profiles/tulu8b.yaml"):
        raw = merged(raw, load_yaml(ROOT / profile))
    lora = config.load_section(raw, "training")
    full = dataclasses.replace(lora, lora_r=0)
    plan = {"model": "allenai/Llama-3.1-Tulu-3-8B-RM (Llama-3.1-8B architecture, one-output head)",
            "tokens_per_step": STUDY_TOKENS, "GB": "1e9 bytes",
            "lora_bf16 (profiles/tulu8b.yaml)": memory_plan(TULU_8B, lora, STUDY_TOKENS),
            "full_fine_tuning_bf16_mixed_precision": memory_plan(TULU_8B, full, STUDY_TOKENS)}
    io.write_json(plan, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
