"""One training run: a country's pairs, one arm, one run seed -> a fine-tuned copy of the global RM.

Every arm goes through `arm_pairs` and `train_arm`; they differ only in `selection.arm_selection`
(which pairs, which weights). Checkpoints go to a folder named by the run's fingerprint, so an interrupted run resumes
from its last checkpoint, and a changed run never resumes from another's. `scpo.trainer` holds the Trainer
subclass this drives; `scpo.retrain` and `scpo.tradeoff` choose the pairs the analyses' runs see, and train here.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import queue
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scpo import artifacts, config, evaluation, io, paths, selection
from scpo.pool import FORK_SERVER_PRELOAD
from scpo.phases import Phases
from scpo.config import LaunchConfig, ScoringConfig, TrainingConfig
from scpo.models import load_reward_model
from scpo.scoring import score_texts
from scpo.trainer import (WeightedRewardTrainer, base_dtype, model_card, preference_dataset, release,
                          reward_config, run_fingerprint, save_model, shared_arguments, train_reward_model)

# What is imported by now (torch, transformers, TRL, pandas: a million objects) lives as long as the process. Frozen
# out of the collector's sight, so the full collections each run makes (Trainer.train and accelerate's free_memory
# call gc.collect) scan only the run's own objects: about 0.25 s each here otherwise, 2 or 3 per run of ~3 s.
# Nothing of a run exists yet to be frozen with it, so no run's garbage is kept (scpo/run_profile.py measures it).
gc.freeze()


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
    seconds: dict[str, float] = field(default_factory=dict, repr=False)  # wall time per phase (`scpo.phases`)

    def summary(self) -> dict[str, Any]:
        """The run as stage metrics record it (everything but the rewards, the log and the wall times: metrics
        are byte-identical across reruns)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("scores", "log", "seconds")}


def arm_pairs(arm: str, train_pairs: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The training pairs of `arm` with its `train_weight` column (needs keep, weight, inverse_weight); `seed`
    (the run seed) draws the `random` arm's subset."""
    mask, weights = selection.arm_selection(arm, io.as_tensor(train_pairs.keep), io.as_tensor(train_pairs.weight),
                                            io.as_tensor(train_pairs.inverse_weight), seed)
    return train_pairs[mask.numpy()].assign(train_weight=weights.numpy())


def train_arm(pairs: pd.DataFrame, base_model: str, scoring: ScoringConfig, training: TrainingConfig, seed: int,
              checkpoint_root: Path, phases: Phases | None = None,
              loss_normalisation: str = "batch") -> WeightedRewardTrainer:
    """Fine-tune a fresh copy of `base_model` on an arm's pairs (from `arm_pairs`, with `train_weight`),
    checkpointing under `checkpoint_root/<fingerprint>` and resuming from there. Returns the trainer (its
    `resumed_from_step`: the step it resumed from, None for a fresh start). `phases` gets each step's wall time.

    Full fine-tuning loads the model in float32 (with `training.bf16`, mixed precision is the Trainer's job);
    LoRA loads the frozen base in the training precision (bfloat16 with `training.bf16`: half the memory)
    and keeps the adapters and the reward head in float32; the adapter records the base's revision.
    """
    phases = phases if phases is not None else Phases()
    with phases("load model"):
        model, tokenizer = load_reward_model(base_model, scoring.revision, base_dtype(training),
                                             trust_remote_code=scoring.trust_remote_code)
    with phases("tokenise"):
        dataset = preference_dataset(tokenizer, pairs.prompt, pairs.chosen, pairs.rejected, pairs.train_weight,
                                     scoring.max_length)
    lora = training.lora() and {**training.lora(), "revision": scoring.revision}
    fingerprint = run_fingerprint(reward_config(training, checkpoint_root, seed), dataset, base_model, lora,
                                  loss_normalisation)
    args = reward_config(training, checkpoint_root / fingerprint, seed)
    return train_reward_model(model, tokenizer, dataset, args, lora=lora, phases=phases,  # resumes, if it can
                              loss_normalisation=loss_normalisation)


def saved_model_scores(run: WeightedRewardTrainer, folder: Path, test_texts: pd.DataFrame, scoring: ScoringConfig,
                       batch_size: int, phases: Phases | None = None) -> np.ndarray:
    """Rewards of `test_texts` from the model as saved in `folder`, loaded in `scoring.dtype` like the global RM.

    The trainer's model is released first (a GPU holds one copy): what is reported is what was shipped,
    never the training-time model (wrapped by mixed precision's autocast, a LoRA base in bf16).
    """
    phases = phases if phases is not None else Phases()
    with phases("load saved model"):
        release(run)
        model, tokenizer = load_reward_model(folder, scoring.revision, scoring.dtype,
                                             trust_remote_code=scoring.trust_remote_code)
    with phases("scoring"):
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
    prompt, response) with the saved model. Checkpoints go to `checkpoint_root/<arm>/<fingerprint>`: runs that go
    at once (`run_calls`) need distinct `checkpoint_root`s unless they differ in arm or fingerprint."""
    base_model, scoring, training = settings.base_model, settings.scoring, settings.training
    train_pairs = pairs[(pairs.country == country) & (pairs.split == "train")]
    chosen = arm_pairs(arm, train_pairs, seed)
    phases = Phases()
    # Each arm its own folder: arms that train on the same pairs (filter, full and random when the filter keeps
    # every pair) share a fingerprint, and at once in a pool they would resume from, or delete, each other's files.
    run = train_arm(chosen, base_model, scoring, training, seed, checkpoint_root / arm, phases,
                    selection.ARMS[arm].normalisation)
    facts = {"country": country, "arm": arm, "run seed": seed, "base model": base_model,
             "training pairs": f"{len(chosen)} of the country's {len(train_pairs)}",
             **{name: f"{value:g}" for name, value in settings.selection.items()},
             "fine-tuning": f"LoRA {training.lora()} (this folder holds the adapter; load it with "
                            "scpo.models.load_reward_model, or on the base model with peft)" if training.lora() else "full",
             "arm definition": selection.ARMS[arm].describe(),
             "scores": f"held-out rewards in {scoring.dtype}, from this folder"}
    folder = model_dir if model_dir is not None else Path(f"{run.args.output_dir}-model")
    with phases("save model"):
        save_model(run, folder)
    scores = pd.Series(saved_model_scores(run, folder, test_texts, scoring, settings.batch_size, phases),
                       index=pd.Index(test_texts.utterance_id, name="utterance_id"), name=arm)
    writing = time.perf_counter()
    test = pairs[pairs.split == "test"]
    report = evaluation.accuracy_report(test[test.country == country], scores)
    if model_dir is not None and run.is_world_process_zero():
        io.write_text(model_card(f"{country} reward model ({arm}, seed {seed})", facts, run.args, report),
                      model_dir / "README.md")
    run.accelerator.wait_for_everyone()  # every process has scored before the folders go
    if run.is_world_process_zero():
        shutil.rmtree(run.args.output_dir, ignore_errors=True)  # saved: its checkpoints are no longer needed
        if model_dir is None:
            shutil.rmtree(folder, ignore_errors=True)
    phases.add("evaluation and writing", time.perf_counter() - writing)
    return RunResult(scores, len(chosen), len(train_pairs), float(chosen.train_weight.mean()), report,
                     run.resumed_from_step, shared_arguments(run.args), run.state.log_history, phases.seconds)


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
                     out: Path, env: dict[str, str] | None = None) -> RunResult:
    """`stage_arm` run as `<command> -m scpo.train ...` (e.g. `accelerate launch`, `torchrun`; "": this Python) in
    the environment `env` (None: this one): the same run in as many processes as the launcher starts; its results
    come back through files in `out`."""
    argv = [*(shlex.split(command) or [sys.executable]), "-m", "scpo.train", "--params", str(params_file),
            "--country", country, "--seed", str(seed), "--arm", arm, "--out", str(out)]
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"launch.command failed for {country}/seed{seed}/{arm} (exit {done.returncode}): "
                           f"{' '.join(argv)}\n{done.stderr[-4000:]}")
    scores = io.read_table(out / "scores.parquet").set_index("utterance_id")[arm]
    result = json.loads((out / "result.json").read_text())
    return RunResult(scores, **result["summary"], log=result["log"], seconds=result.get("seconds", {}))


def run_threads(launch: LaunchConfig) -> int:
    """Torch threads of each run: `launch.threads_per_run`, or the machine's cores shared out among the runs that
    go at once (two runs of two threads on two cores would each wait on the other: many times slower)."""
    return launch.threads_per_run or max(1, (os.cpu_count() or 1) // launch.max_concurrent)


def visible_devices() -> list[str]:
    """The CUDA devices this process may use (CUDA_VISIBLE_DEVICES, or all); none without CUDA."""
    import torch  # the CUDA query only

    if not torch.cuda.is_available():
        return []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return visible.split(",") if visible else [str(i) for i in range(torch.cuda.device_count())]


def run_environment(launch: LaunchConfig, slot: int) -> dict[str, str]:
    """The environment of the run in concurrency slot `slot`: its thread count and, where this machine has CUDA
    GPUs and no launcher assigns them, one visible device (slot i: the i-th visible device, cycling, so
    max_concurrent above the device count puts several runs on a device)."""
    env = os.environ | {"OMP_NUM_THREADS": str(run_threads(launch))}
    devices = visible_devices() if not launch.command else []
    if devices:
        env["CUDA_VISIBLE_DEVICES"] = devices[slot % len(devices)]
    return env


def start_worker(slots: Any, threads: int, environ: dict[str, str], devices: list[str], owner: int) -> None:
    """A pool worker's start: the parent's environment as it is now (the fork server's is as it was when the
    server started), a slot of its own (with GPUs: the slot's device), and its thread count."""
    import torch

    os.environ.clear()
    os.environ.update(environ)
    threading.Thread(target=exit_with_owner, args=(owner,), daemon=True).start()
    slot = slots.get()
    if devices:
        os.environ["CUDA_VISIBLE_DEVICES"] = devices[slot % len(devices)]
    torch.set_num_threads(threads)


def exit_with_owner(owner: int, interval: float = 0.1) -> None:
    """End this worker as soon as process `owner` (the stage's process, which made the pool) is gone or a zombie.

    A worker outlives a killed stage otherwise (the fork server lives on while its workers do): it finishes the run in
    hand, deletes that run's checkpoints and writes its model beside the re-run, so a killed stage would neither
    resume nor be alone. The way ipykernel's parent poller ends a kernel whose parent died."""
    import psutil

    try:
        process = psutil.Process(owner)
        while process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
            time.sleep(interval)
    except psutil.NoSuchProcess:
        pass
    os._exit(1)


def worker_pool(launch: LaunchConfig) -> ProcessPoolExecutor:
    """`launch.max_concurrent` worker processes, each with `run_threads(launch)` threads and, on GPUs, a device.

    Workers are forked from a fork server that has imported this module once (`forkserver` with `scpo.train`
    preloaded), so no worker pays the imports (about 4 s here) and none inherits a parent's OpenMP threads; each
    runs many runs. It is `concurrent.futures`, the standard library's pool: nothing scheduled by hand."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(FORK_SERVER_PRELOAD)  # a no-op if `pool.start_fork_server` started it
    slots = context.Queue()
    for slot in range(launch.max_concurrent):
        slots.put(slot)
    devices = visible_devices() if not launch.command else []
    return ProcessPoolExecutor(launch.max_concurrent, mp_context=context, initializer=start_worker,
                               initargs=(slots, run_threads(launch), dict(os.environ), devices, os.getpid()))


def call(run: Callable[[], RunResult]) -> RunResult:
    """Run one call of `run_calls` (module level, so a worker can unpickle it)."""
    return run()


def run_calls(runs: Sequence[Callable[[], RunResult]], launch: LaunchConfig) -> list[RunResult]:
    """Every run (a picklable call, e.g. `functools.partial(configured_arm, ...)`), results in order: one after
    another in this process with `launch.max_concurrent` 1 (at `threads_per_run` threads if set), else in a
    `worker_pool`. A run depends on its own arguments only, so the results do not depend on the order or the
    concurrency, at a given thread count (`tests/test_pipeline_e2e.py` checks byte-identity)."""
    import torch

    if launch.max_concurrent == 1:
        if launch.threads_per_run:
            torch.set_num_threads(launch.threads_per_run)
        return [run() for run in runs]
    with worker_pool(launch) as pool:
        return list(pool.map(call, runs))


def stage_runs(cfg: dict[str, Any], params_file: Path, country: str) -> dict[str, RunResult]:
    """Every run of stage 04 for `country`, keyed "seed<s>/<arm>" (seeds, then arms, in params order), by
    `run_calls` (this process, or a pool of `launch.max_concurrent` workers), or, with a `launch.command`, each
    as `<command> -m scpo.train ...` (accelerate, torchrun; on a cluster the scheduler, e.g. `srun`), at most
    `max_concurrent` at once."""
    launch = cfg["launch"]
    keys = [(seed, arm) for seed in cfg["seeds"] for arm in cfg["arms"]]
    if not launch.command:
        results = run_calls([partial(stage_arm, cfg, country, seed, arm) for seed, arm in keys], launch)
        return {f"seed{seed}/{arm}": result for (seed, arm), result in zip(keys, results)}
    slots: queue.Queue[int] = queue.Queue()
    for slot in range(launch.max_concurrent):
        slots.put(slot)
    out = paths.artifact_dir("04_training", country)

    def launched(key: tuple[int, str]) -> RunResult:
        seed, arm = key
        slot = slots.get()  # a free slot: its device and threads are no other running run's
        try:
            return launch_stage_arm(launch.command, params_file, country, seed, arm,
                                    out / f"seed{seed}" / arm / "launched", run_environment(launch, slot))
        finally:
            slots.put(slot)

    with ThreadPoolExecutor(max_workers=launch.max_concurrent) as pool:
        return {f"seed{seed}/{arm}": result for (seed, arm), result in zip(keys, pool.map(launched, keys))}


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
        import torch  # the peak memory only

        peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None  # bytes; None on CPU
        io.write_text(json.dumps({"summary": result.summary(), "log": result.log, "seconds": result.seconds,
                                  "peak_gpu_memory_bytes": peak}, default=str),
                      args.out / "result.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
