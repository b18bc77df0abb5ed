"""Train the embedded RM on fixed pairs with scpo's trainer and write the loss curve and final weights'
checksum (rank 0). Run alone, or under `torchrun --standalone --nproc_per_node N`: `reward_config`
splits the batch across the processes, each takes its share (tests/test_distributed.py compares them)."""

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

from scpo import config
from scpo.embedded_rm import embedded_reward_model, embedded_tokenizer
from scpo.paths import ROOT
from scpo.trainer import preference_dataset, reward_config, train_reward_model

parser = argparse.ArgumentParser()
parser.add_argument("--out", type=Path, required=True)
args = parser.parse_args()

params = config.read_params(ROOT / "params.yaml")
rm = config.load_section(params, "global_rm")
training = dataclasses.replace(config.load_section(params, "training"), max_steps=8, learning_rate=1e-3,
                               per_device_train_batch_size=8, logging_steps=1,
                               save_steps=100, disable_dropout=True)  # dropout masks differ per process
rng = np.random.default_rng(0)
words = ["kind", "direct", "formal", "brief", "detailed", "warm", "cautious", "bold", "plain", "vivid"]
n = 96
texts = [" ".join(rng.choice(words, size=rng.integers(2, 12))) for _ in range(3 * n)]
tokenizer = embedded_tokenizer(texts)
dataset = preference_dataset(tokenizer, texts[:n], texts[n:2 * n], texts[2 * n:], rng.uniform(0.2, 1.0, n), 32)
model = embedded_reward_model(rm, len(tokenizer), 32, seed=0)
trainer = train_reward_model(model, tokenizer, dataset, reward_config(training, args.out / "run"))
if trainer.args.process_index == 0:
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    weights = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
    (args.out / "result.json").write_text(json.dumps({
        "world_size": trainer.args.world_size, "losses": losses,
        "weights_sum": float(weights.double().sum()), "weights_abs_sum": float(weights.double().abs().sum())}))
