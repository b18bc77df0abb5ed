"""One training run: a country's pairs, one arm, one run seed -> a fine-tuned copy of the global RM.

Every arm goes through `arm_pairs` and `train_arm`; they differ only in `selection.arm_selection`
(which pairs, which weights). Checkpoints go to a folder named by the run's fingerprint, so an interrupted run resumes
from its last checkpoint, and a changed run never resumes from another's. `scpo.trainer` holds the Trainer
subclass this drives; `scpo.retrain` and `scpo.tradeoff` choose the pairs the analyses' runs see, and train here.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scpo import artifacts, config, evaluation, io, paths, selection
from scpo.config import ScoringConfig, TrainingConfig
from scpo.models import load_reward_model
from scpo.scoring import score_texts
from scpo.trainer import (WeightedRewardTrainer, base_dtype, model_card, preference_dataset, release,
                          reward_config, run_fingerprint, save_model, shared_arguments, train_reward_model)


@dataclass
class RunResult:
    """What one training run returns: the saved model's held-out rewards, its summary and its training log."""

    scores: pd.Series  # reward of every held-out text scored, by utterance id; named after the arm
    train_pairs: int  # pairs the arm trained on
    country_train_pairs: int  # the country's training pairs offered to the arm (before its filter)
    mean_train_weight: float
    test: dict[str, float | int]  # evaluation.accuracy_report on the country's held-out pairs
    resumed_from_step: int | None  # the checkpoint step it resumed from; None: a fresh start
    shared_arguments: dict[str, Any]  # the TrainingArguments every arm must share (trainer.shared_arguments)
    log: list[dict] = field(default_factory=list, repr=False)  # the Trainer's log history

    def summary(self) -> dict[str, Any]:
        """The run as stage metrics record it (everything but the rewards and the log)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("scores", "log")}


def arm_pairs(arm: str, train_pairs: pd.DataFrame) -> pd.DataFrame:
    """The training pairs of `arm` with its `train_weight` column (needs keep, weight, inverse_weight)."""
    mask, weights = selection.arm_selection(arm, io.as_tensor(train_pairs.keep), io.as_tensor(train_pairs.weight),
                                            io.as_tensor(train_pairs.inverse_weight))
    return train_pairs[mask.numpy()].assign(train_weight=weights.numpy())


def train_arm(pairs: pd.DataFrame, base_model: str, scoring: ScoringConfig, training: TrainingConfig, seed: int,
              checkpoint_root: Path) -> WeightedRewardTrainer:
    """Fine-tune a fresh copy of `base_model` on an arm's pairs (from `arm_pairs`, with `train_weight`),
    checkpointing under `checkpoint_root/<fingerprint>` and resuming from there. Returns the trainer (its
    `resumed_from_step`: the step it resumed from, None for a fresh start).

    Full fine-tuning loads the model in float32 (with `training.bf16`, mixed precision is the Trainer's job);
    LoRA loads the frozen base in the training precision (bfloat16 with `training.bf16`: half the memory)
    and keeps the adapters and the reward head in float32; the adapter records the base's revision.
    """
    model, tokenizer = load_reward_model(base_model, scoring.revision, base_dtype(training),
                                         trust_remote_code=scoring.trust_remote_code)
    dataset = preference_dataset(tokenizer, pairs.prompt, pairs.chosen, pairs.rejected, pairs.train_weight,
                                 scoring.max_length)
    lora = training.lora() and {**training.lora(), "revision": scoring.revision}
    fingerprint = run_fingerprint(reward_config(training, checkpoint_root, seed), dataset, base_model, lora)
    args = reward_config(training, checkpoint_root / fingerprint, seed)
    return train_reward_model(model, tokenizer, dataset, args, lora=lora)  # resumes, if it can


def saved_model_scores(run: WeightedRewardTrainer, folder: Path, test_texts: pd.DataFrame, scoring: ScoringConfig,
                       batch_size: int) -> np.ndarray:
    """Rewards of `test_texts` from the model as saved in `folder`, loaded in `scoring.dtype` like the global RM.

    The trainer's model is released first (a GPU holds one copy): what is reported is what was shipped,
    never the training-time model (wrapped by mixed precision's autocast, a LoRA base in bf16).
    """
    release(run)
    model, tokenizer = load_reward_model(folder, scoring.revision, scoring.dtype,
                                         trust_remote_code=scoring.trust_remote_code)
    return score_texts(model, tokenizer, list(test_texts.prompt), list(test_texts.response), scoring.max_length,
                       batch_size)


@dataclass(frozen=True)
class RunSettings:
    """How every run of a stage trains and scores (from its params sections): the same for every arm."""

    base_model: str  # the global RM to fine-tune: a hub id or a local folder
    scoring: ScoringConfig
    training: TrainingConfig
    batch_size: int  # evaluation.batch_size: held-out texts scored per batch
    selection: dict[str, float] = field(default_factory=dict)  # tau, beta of the pairs' keep and weight (model card)


def run_arm(arm: str, seed: int, pairs: pd.DataFrame, test_texts: pd.DataFrame, country: str, settings: RunSettings,
            model_dir: Path | None, checkpoint_root: Path) -> RunResult:
    """Train `arm` for `country` on this seed's pairs, save the model with its card (HF format) to `model_dir`
    (None: to a temporary folder, removed after), and score `test_texts` (held-out texts: utterance_id,
    prompt, response) with the saved model."""
    base_model, scoring, training = settings.base_model, settings.scoring, settings.training
    train_pairs = pairs[(pairs.country == country) & (pairs.split == "train")]
    chosen = arm_pairs(arm, train_pairs)
    run = train_arm(chosen, base_model, scoring, training, seed, checkpoint_root)
    facts = {"country": country, "arm": arm, "run seed": seed, "base model": base_model,
             "training pairs": f"{len(chosen)} of the country's {len(train_pairs)}",
             **{name: f"{value:g}" for name, value in settings.selection.items()},
             "fine-tuning": f"LoRA {training.lora()} (this folder holds the adapter; load it with "
                            "scpo.models.load_reward_model, or on the base model with peft)" if training.lora() else "full",
             "arm definition": f"filtered={selection.ARMS[arm][0]}, weights={selection.ARMS[arm][1] or 'none'}",
             "scores": f"held-out rewards in {scoring.dtype}, from this folder"}
    folder = model_dir if model_dir is not None else Path(f"{run.args.output_dir}-model")
    save_model(run, folder)
    scores = pd.Series(saved_model_scores(run, folder, test_texts, scoring, settings.batch_size),
                       index=pd.Index(test_texts.utterance_id, name="utterance_id"), name=arm)
    test = pairs[pairs.split == "test"]
    report = evaluation.accuracy_report(test[test.country == country], scores)
    if model_dir is not None and run.is_world_process_zero():
        io.write_text(model_card(f"{country} reward model ({arm}, seed {seed})", facts, run.args, report),
                      model_dir / "README.md")
    result = RunResult(scores, len(chosen), len(train_pairs), float(chosen.train_weight.mean()), report,
                       run.resumed_from_step, shared_arguments(run.args), run.state.log_history)
    run.accelerator.wait_for_everyone()  # every process has scored before the folders go
    if run.is_world_process_zero():
        shutil.rmtree(run.args.output_dir, ignore_errors=True)  # saved: its checkpoints are no longer needed
        if model_dir is None:
            shutil.rmtree(folder, ignore_errors=True)
    return result


def stage_inputs(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What stage 04 trains and scores for a run seed: stage 03's pairs, and every held-out text of every
    country (GlobalOpinionQA: every option of the test questions)."""
    return artifacts.read("selected_pairs", seed=seed), held_out_texts(seed)


def held_out_texts(seed: int) -> pd.DataFrame:
    """Every held-out text of a run seed (stage 01's utterances of the test split)."""
    texts = artifacts.read("utterances", seed=seed)
    return texts[texts.split == "test"]


def configured_arm(cfg: dict[str, Any], country: str, seed: int, arm: str, pairs: pd.DataFrame,
                   test_texts: pd.DataFrame, model_dir: Path | None,
                   checkpoint_root: Path) -> RunResult:
    """`run_arm` with the scoring, training and evaluation settings of `cfg` (a stage's sections): every
    stage that trains (04 and the analyses) trains through here, so their runs differ only in the pairs."""
    scoring = cfg["scoring"]
    selection_used = {"tau (filtering.tau)": cfg["filtering"].tau, "beta (weighting.beta)": cfg["weighting"].beta} \
        if "filtering" in cfg else {}
    settings = RunSettings(paths.global_rm_source(scoring.model, seed), scoring, cfg["training"],
                           cfg["evaluation"].batch_size, selection_used)
    return run_arm(arm, seed, pairs, test_texts, cfg["countries"][country], settings, model_dir, checkpoint_root)


def stage_arm(cfg: dict[str, Any], country: str, seed: int, arm: str) -> RunResult:
    """`run_arm` with stage 04's settings (`cfg` from `config.load_stage("training", ...)`) and paths."""
    pairs, test_texts = stage_inputs(seed)
    return configured_arm(cfg, country, seed, arm, pairs, test_texts,
                          paths.artifact_dir("04_training", country) / f"seed{seed}" / arm / "model",
                          paths.artifact_dir("checkpoints", country))


def country_test_texts(pairs: pd.DataFrame, test_texts: pd.DataFrame, country: str) -> pd.DataFrame:
    """The held-out texts of `country`'s test pairs: what an analysis that evaluates on one country scores."""
    test = pairs[(pairs.split == "test") & (pairs.country == country)]
    return test_texts[test_texts.utterance_id.isin(set(test.chosen_id) | set(test.rejected_id))]


def launch_stage_arm(command: str, params_file: Path, country: str, seed: int, arm: str,
                     out: Path) -> RunResult:
    """`stage_arm` run as `<command> -m scpo.train ...` (e.g. `accelerate launch`, `torchrun`): the same
    run in as many processes as the launcher starts; its results come back through files in `out`."""
    argv = [*shlex.split(command), "-m", "scpo.train", "--params", str(params_file), "--country", country,
            "--seed", str(seed), "--arm", arm, "--out", str(out)]
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"launch.command failed for {country}/seed{seed}/{arm} (exit {done.returncode}): "
                           f"{' '.join(argv)}\n{done.stderr[-4000:]}")
    scores = io.read_table(out / "scores.parquet").set_index("utterance_id")[arm]
    result = json.loads((out / "result.json").read_text())
    return RunResult(scores, **result["summary"], log=result["log"])


def main(argv: list[str] | None = None) -> int:
    """`python -m scpo.train`: one arm of stage 04 (what `launch.command` runs in each process)."""
    parser = argparse.ArgumentParser(prog="python -m scpo.train", description=main.__doc__)
    parser.add_argument("--params", type=Path, required=True)
    parser.add_argument("--country", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--arm", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    cfg = config.load_stage("training", args.params)
    if args.country not in cfg["countries"] or args.arm not in cfg["arms"] or args.seed not in cfg["seeds"]:
        raise config.ConfigError(f"--country {args.country} --arm {args.arm} --seed {args.seed}: not in params "
                                 f"(countries {sorted(cfg['countries'])}, arms {list(cfg['arms'])}, seeds {list(cfg['seeds'])})")
    result = stage_arm(cfg, args.country, args.seed, args.arm)
    if int(os.environ.get("RANK", "0")) == 0:  # one process writes; the others trained their share
        io.write_table(result.scores.rename(args.arm).rename_axis("utterance_id").reset_index(),
                       args.out / "scores.parquet")
        io.write_text(json.dumps({"summary": result.summary(), "log": result.log}, default=str),
                      args.out / "result.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
