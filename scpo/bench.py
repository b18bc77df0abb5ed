"""`python -m scpo.bench`: this repo's training and scoring against the released code's data path and
TRL's defaults, measured side by side in one run on the same model, data and batch size.

Training (pairs/s), each a fresh process loading the same weights and the same tokenised pairs:

- `scpo`: our trainer (`scpo.trainer.reward_trainer`, the params' `training` section): one forward pass
  over chosen and rejected, dynamic padding, length-grouped batches, the weighted loss.
- `released`: the released code's data path: every sequence padded to `bench.released_max_length`
  (512), chosen and rejected in two forward passes, random batches; same loss, optimiser and steps.
- `trl_defaults`: TRL's `RewardTrainer` with `RewardConfig` defaults (plain Bradley-Terry, gradient
  checkpointing on, dropout off); only the batch size, steps, seed and output are set, and bf16 is
  turned off where the machine has no bf16 GPU (TRL's default would refuse to start).
- `trl_no_checkpointing`: the same with gradient checkpointing off, to show what the defaults cost.

Scoring (utterances/s) of the first `bench.interactions` interactions' responses, eval mode, no
gradients: `scpo` is `scpo.scoring.score_texts` (one pass over all texts in length-sorted batches of
`scoring.batch_size`); `per_interaction` scores each interaction's responses as one batch, in arrival
order, with dynamic padding (the stricter baseline); `released` does the same padded to 512.

Sizes: the `bench` section (`scpo.bench_config.BenchConfig`). Each method runs once per round,
`bench.repeats` rounds, round-robin, and the median round is reported (with every round's rate), so a
change in machine load hits every method alike.

For each method: padding efficiency (real tokens / tokens the model processed, counted by a hook on
the model's forward), peak memory (resident set of its process; on a GPU also the peak allocated), and
the ratios against our path. Results go to `reports/bench/bench.json`. Timings belong to a machine, so
this is a command, not a DVC stage.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pandas as pd
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, TrainerCallback

from scpo import config, data, embedded, embedded_rm, io, paths
from scpo.loss import weighted_bt_loss
from scpo.scoring import encode, score_texts
from scpo.trainer import WeightedRewardTrainer, preference_dataset, reward_config, reward_trainer

TRAIN_METHODS = ("scpo", "released", "trl_defaults", "trl_no_checkpointing")
SCORE_METHODS = ("scpo", "per_interaction", "released")
TARGETS = {"train_vs_released": 4.0, "train_vs_trl_defaults": 1.2, "score_vs_per_interaction": 3.0,
           "scpo_train_padding_efficiency": 0.85}  # issue 6's targets


# ------------------------------------------------------------------------------------------ measuring

class TokenCounter:
    """Counts real and processed tokens of every forward call of a model (a forward pre-hook)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.real = self.processed = 0
        model.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module, args, kwargs):
        mask = kwargs.get("attention_mask")
        if mask is not None:
            self.real += int(mask.sum())
            self.processed += mask.numel()

    @property
    def efficiency(self) -> float:
        return self.real / self.processed if self.processed else float("nan")


class StepTimer(TrainerCallback):
    """Wall time of the optimiser steps after the first `warmup` (compilation, allocator warm-up)."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.end, self.steps = warmup, None, None, 0

    def on_step_end(self, args, state, control, **kwargs):
        if args.use_cpu is False and torch.cuda.is_available():
            torch.cuda.synchronize()
        if state.global_step == self.warmup:
            self.start = time.perf_counter()
        elif state.global_step > self.warmup:
            self.end, self.steps = time.perf_counter(), state.global_step - self.warmup


def resident_mb() -> float:
    """The current resident set of this process, MiB (Linux /proc; 0 where unavailable)."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


def memory(before_mb: float) -> dict[str, float]:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    out = {"peak_rss_mb": round(peak, 1), "peak_rss_over_loaded_mb": round(max(peak - before_mb, 0.0), 1)}
    if torch.cuda.is_available():
        out["cuda_peak_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


# ------------------------------------------------------------------------------------------ the released path

class ReleasedPathCollator:
    """Each side padded to a fixed length (the release: 512), as two tensors; plus the weight."""

    def __init__(self, pad_token_id: int, max_length: int) -> None:
        self.pad_token_id, self.max_length = pad_token_id, max_length

    def _pad(self, sequences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        ids = torch.full((len(sequences), self.max_length), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, seq in enumerate(sequences):
            seq = seq[:self.max_length]
            ids[row, :len(seq)], mask[row, :len(seq)] = torch.tensor(seq), 1
        return ids, mask

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        chosen, chosen_mask = self._pad([ex["chosen_ids"] for ex in examples])
        rejected, rejected_mask = self._pad([ex["rejected_ids"] for ex in examples])
        return {"chosen_input_ids": chosen, "chosen_attention_mask": chosen_mask, "rejected_input_ids": rejected,
                "rejected_attention_mask": rejected_mask,
                "weight": torch.tensor([float(ex.get("weight", 1.0)) for ex in examples])}


class ReleasedPathTrainer(WeightedRewardTrainer):
    """The release's forward: chosen and rejected in two separate passes; the same loss as ours."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        weight = inputs.pop("weight")
        chosen = model(input_ids=inputs["chosen_input_ids"], attention_mask=inputs["chosen_attention_mask"])
        rejected = model(input_ids=inputs["rejected_input_ids"], attention_mask=inputs["rejected_attention_mask"])
        loss = weighted_bt_loss(chosen.logits.squeeze(-1), rejected.logits.squeeze(-1), weight)
        return (loss, chosen) if return_outputs else loss


# ------------------------------------------------------------------------------------------ workers

def train_worker(method: str, workdir: Path, cfg: dict[str, Any]) -> dict[str, Any]:
    """Train `method` for warm-up + measured steps in this process; its throughput, padding, memory."""
    from trl import RewardConfig, RewardTrainer

    bench, training = cfg["bench"], cfg["training"]
    tokenizer = AutoTokenizer.from_pretrained(workdir / "model")
    model = AutoModelForSequenceClassification.from_pretrained(workdir / "model", use_safetensors=True)
    dataset = datasets.load_from_disk(str(workdir / "pairs"))
    steps = bench.warmup_steps + (bench.released_measure_steps if method == "released" else bench.measure_steps)
    ours = dataclasses.replace(training, max_steps=steps, per_device_train_batch_size=bench.batch_size,
                               logging_steps=steps, save_steps=10 * steps)
    timer = StepTimer(bench.warmup_steps)
    counter = TokenCounter(model)
    before = resident_mb()
    if method == "scpo":
        trainer = reward_trainer(model, tokenizer, dataset, reward_config(ours, workdir / method), [timer])
    elif method == "released":
        args = reward_config(dataclasses.replace(ours, train_sampling_strategy="random"), workdir / method)
        trainer = ReleasedPathTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                                      data_collator=ReleasedPathCollator(tokenizer.pad_token_id,
                                                                         bench.released_max_length),
                                      callbacks=[timer])
    elif method in ("trl_defaults", "trl_no_checkpointing"):
        bf16_ok = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        extra = {} if bf16_ok else {"bf16": False}  # TRL's default bf16=True refuses to start without one
        if method == "trl_no_checkpointing":
            extra["gradient_checkpointing"] = False
        args = RewardConfig(output_dir=str(workdir / method), per_device_train_batch_size=bench.batch_size,
                            max_steps=steps, seed=training.seed, report_to="none", save_strategy="no",
                            logging_steps=steps, **extra)
        trainer = RewardTrainer(model=model, args=args, train_dataset=dataset.remove_columns(["weight", "length"]),
                                processing_class=tokenizer, callbacks=[timer])
    else:
        raise ValueError(f"unknown training method {method!r}; methods: {', '.join(TRAIN_METHODS)}")
    trainer.train()
    seconds = timer.end - timer.start
    return {"pairs_per_s": round(timer.steps * bench.batch_size / seconds, 3), "measured_steps": timer.steps,
            "seconds": round(seconds, 3), "padding_efficiency": round(counter.efficiency, 4),
            "gradient_checkpointing": bool(trainer.args.gradient_checkpointing),
            "sampling": trainer.args.train_sampling_strategy, **memory(before)}


def score_worker(method: str, workdir: Path, cfg: dict[str, Any]) -> dict[str, Any]:
    """Score the benchmark's utterances with `method` in this process."""
    scoring = cfg["scoring"]
    tokenizer = AutoTokenizer.from_pretrained(workdir / "model")
    model = AutoModelForSequenceClassification.from_pretrained(workdir / "model", use_safetensors=True).eval()
    texts = pd.read_parquet(workdir / "texts.parquet")
    counter = TokenCounter(model)
    before = resident_mb()
    start = time.perf_counter()
    if method == "scpo":
        scores = score_texts(model, tokenizer, list(texts.prompt), list(texts.response), scoring.max_length,
                             scoring.batch_size)
    elif method in ("per_interaction", "released"):
        padding = {"padding": "max_length", "max_length": cfg["bench"].released_max_length} if method == "released" \
            else {}  # the release padded to 512 as well; per_interaction pads to the interaction's longest
        scores = []
        with torch.inference_mode():
            for _, group in texts.groupby("interaction_id", sort=False):  # arrival order
                encoded = encode(tokenizer, list(group.prompt), list(group.response), scoring.max_length)
                batch = tokenizer.pad(encoded, return_tensors="pt", **padding)
                scores.extend(model(**batch).logits[:, 0].tolist())
        scores = np.asarray(scores)
    else:
        raise ValueError(f"unknown scoring method {method!r}; methods: {', '.join(SCORE_METHODS)}")
    seconds = time.perf_counter() - start
    np.save(workdir / f"scores-{method}.npy", np.asarray(scores, dtype=np.float64))
    return {"utterances_per_s": round(len(texts) / seconds, 3), "utterances": len(texts),
            "seconds": round(seconds, 3), "padding_efficiency": round(counter.efficiency, 4), **memory(before)}


# ------------------------------------------------------------------------------------------ the run

def prepare(cfg: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """The shared inputs: the embedded data's training pairs and arrival-ordered utterances, and one
    randomly initialised model of the configured size (every method loads these same weights)."""
    bench, scoring, sim = cfg["bench"], cfg["scoring"], cfg["simulation"]
    folder = workdir / "data"
    embedded.write_simulated_prism(sim, folder)
    # Only training pairs are timed: no country needs test users here (countries={} skips check_split).
    prepared = data.prepare_prism("local", folder, "-", "-", cfg["data"].test_size, cfg["data"].split_seed,
                                  {}, set(cfg["countries"].values()))
    train = prepared.pairs[prepared.pairs.split == "train"]
    if len(train) < bench.pairs:
        raise config.ConfigError(f"params: bench.pairs = {bench.pairs} but the data has {len(train)} training pairs")
    pairs = train.sample(n=bench.pairs, random_state=bench.seed)
    raw = pd.read_json(folder / "utterances.jsonl", lines=True)  # arrival order, with interaction ids
    first = raw.interaction_id.drop_duplicates().iloc[:bench.interactions]
    utterances = raw[raw.interaction_id.isin(set(first))].rename(
        columns={"user_prompt": "prompt", "model_response": "response"})[["interaction_id", "prompt", "response"]]
    tokenizer = embedded_rm.embedded_tokenizer([*raw.user_prompt, *raw.model_response])
    rm = dataclasses.replace(cfg["global_rm"], hidden_size=bench.hidden_size, num_hidden_layers=bench.num_hidden_layers,
                             num_attention_heads=bench.num_attention_heads, intermediate_size=bench.intermediate_size)
    model = embedded_rm.embedded_reward_model(rm, len(tokenizer), bench.released_max_length, seed=bench.seed)
    model.save_pretrained(workdir / "model")
    tokenizer.save_pretrained(workdir / "model")
    dataset = preference_dataset(tokenizer, pairs.prompt, pairs.chosen, pairs.rejected, np.ones(len(pairs)),
                                 scoring.max_length)
    dataset.save_to_disk(str(workdir / "pairs"))
    utterances.to_parquet(workdir / "texts.parquet", index=False)
    return {"pairs": len(pairs), "utterances": len(utterances), "interactions": int(len(first)),
            "parameters": sum(p.numel() for p in model.parameters()),
            "mean_pair_tokens": round(float(np.mean([len(x) for x in [*dataset["chosen_ids"], *dataset["rejected_ids"]]])), 2)}


def run_worker(kind: str, method: str, workdir: Path, params_file: Path) -> dict[str, Any]:
    """One method in a fresh process (so its peak memory is its own); its JSON result."""
    done = subprocess.run([sys.executable, "-m", "scpo.bench", "--params", str(params_file), "--worker", kind, method,
                           "--workdir", str(workdir)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"bench worker {kind}/{method} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def median_run(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The run with the median `key` (all of its numbers, so they belong together), and every round's `key`."""
    ordered = sorted(runs, key=lambda r: r[key])
    return {**ordered[(len(ordered) - 1) // 2], f"{key}_rounds": [r[key] for r in runs]}


def ratios(train: dict[str, Any], score: dict[str, Any]) -> dict[str, float]:
    ours = train["scpo"]["pairs_per_s"]
    return {"train_vs_released": round(ours / train["released"]["pairs_per_s"], 2),
            "train_vs_trl_defaults": round(ours / train["trl_defaults"]["pairs_per_s"], 2),
            "train_vs_trl_no_checkpointing": round(ours / train["trl_no_checkpointing"]["pairs_per_s"], 2),
            "score_vs_per_interaction": round(score["scpo"]["utterances_per_s"]
                                              / score["per_interaction"]["utterances_per_s"], 2),
            "score_vs_released": round(score["scpo"]["utterances_per_s"] / score["released"]["utterances_per_s"], 2),
            "scpo_train_padding_efficiency": train["scpo"]["padding_efficiency"]}


def report(result: dict[str, Any]) -> str:
    """The side-by-side table the command prints."""
    lines = [f"{'training':24} {'pairs/s':>9} {'padding eff.':>13} {'peak RSS MiB':>13}"]
    for name, r in result["train"].items():
        lines.append(f"{name:24} {r['pairs_per_s']:9.2f} {r['padding_efficiency']:13.3f} {r['peak_rss_mb']:13.0f}")
    lines.append(f"{'scoring':24} {'utt/s':>9} {'padding eff.':>13} {'peak RSS MiB':>13}")
    for name, r in result["score"].items():
        lines.append(f"{name:24} {r['utterances_per_s']:9.2f} {r['padding_efficiency']:13.3f} {r['peak_rss_mb']:13.0f}")
    lines.append("ratios (target):")
    for key, value in result["ratios"].items():
        target = TARGETS.get(key)
        verdict = "" if target is None else f" (target >= {target}: {'met' if value >= target else 'MISSED'})"
        lines.append(f"  {key}: {value}{verdict}")
    return "\n".join(lines)


def load_config(params_file: Path) -> dict[str, Any]:
    raw = config.read_params(params_file)
    return {s: config.load_section(raw, s)
            for s in ("data", "simulation", "scoring", "global_rm", "training", "countries", "bench")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scpo.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", type=Path, default=paths.ROOT / "params.yaml")
    parser.add_argument("--out", type=Path, default=paths.ROOT / "reports" / "bench" / "bench.json")
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "METHOD"), help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    cfg = load_config(args.params)
    torch.set_num_threads(cfg["bench"].threads or torch.get_num_threads())
    if args.worker:
        kind, method = args.worker
        worker = {"train": train_worker, "score": score_worker}[kind]
        print(json.dumps(worker(method, args.workdir, cfg)))
        return 0
    with tempfile.TemporaryDirectory(prefix="scpo-bench-") as scratch:
        workdir = Path(scratch)
        inputs = prepare(cfg, workdir)
        rounds = []  # every method once per round, so drifts in machine load hit all methods alike
        for _ in range(cfg["bench"].repeats):
            rounds.append({("train", m): run_worker("train", m, workdir, args.params) for m in TRAIN_METHODS}
                          | {("score", m): run_worker("score", m, workdir, args.params) for m in SCORE_METHODS})
        train = {m: median_run([r[("train", m)] for r in rounds], "pairs_per_s") for m in TRAIN_METHODS}
        score = {m: median_run([r[("score", m)] for r in rounds], "utterances_per_s") for m in SCORE_METHODS}
        ours = np.load(workdir / "scores-scpo.npy")
        agree = all(np.allclose(ours, np.load(workdir / f"scores-{m}.npy"), atol=1e-4) for m in SCORE_METHODS)
    result = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
                          "torch": torch.__version__, "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"},
              "bench": dataclasses.asdict(cfg["bench"]), "inputs": inputs, "train": train, "score": score,
              "scores_agree": bool(agree), "ratios": ratios(train, score), "targets": TARGETS}
    io.write_json(result, args.out)
    print(report(result))
    print(f"scoring paths agree on every utterance: {agree}\nwritten: {args.out}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
