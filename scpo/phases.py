"""Where a run's wall time goes: named phases, each timed with `time.perf_counter` and summed per name.

A run records its phases in `train.RunResult.seconds` (never in its metrics, which stay byte-identical across
reruns); `python -m scpo.run_profile` prints and writes them for one default fine-tune and one grid point.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from transformers import TrainerCallback

# The phases of one run, in the order they happen (`train.run_arm`, `trainer.WeightedRewardTrainer`).
RUN_PHASES = ("load model", "tokenise", "trainer set-up", "train() set-up", "training steps", "checkpointing",
              "save model", "load saved model", "scoring", "evaluation and writing")


@dataclass
class Phases:
    """Seconds per phase name; `with phases("tokenise"): ...` adds the block's wall time to its phase."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)


class TrainLoopTimer(TrainerCallback):
    """Splits `Trainer.train()` into its set-up (dataloader, optimiser, accelerator) and its loop: the time from
    `on_train_begin` to `on_train_end`, less the checkpointing `WeightedRewardTrainer` records, is training steps."""

    def __init__(self) -> None:
        self.begin = self.end = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.begin = time.perf_counter()

    def on_train_end(self, args, state, control, **kwargs):
        self.end = time.perf_counter()

    def loop_seconds(self) -> float:
        """Seconds between the loop's start and end (0 when training never began: every step was resumed)."""
        return (self.end - self.begin) if self.begin is not None and self.end is not None else 0.0


class StepTimer(TrainerCallback):
    """The wall time of each optimiser step apart from the loop's set-up: the time between consecutive step ends
    (the batch's loading included), and the time from the loop's start to the first step's end (the sampler's
    order over the whole dataset, the dataloader's start and the first step), which a mean over steps would mix in."""

    def __init__(self) -> None:
        self.begin: float | None = None
        self.ends: list[float] = []

    def on_train_begin(self, args, state, control, **kwargs):
        self.begin = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.ends.append(time.perf_counter())

    def first_step_seconds(self) -> float:
        """From the loop's start to the end of its first step."""
        if self.begin is None or not self.ends:
            raise ValueError("no step was timed")
        return self.ends[0] - self.begin

    def step_seconds(self) -> float:
        """The median time of the steps after the first (robust to a pause of the machine)."""
        if len(self.ends) < 3:
            raise ValueError(f"{len(self.ends)} steps timed: at least 3 are needed for a median step after the first")
        return statistics.median(b - a for a, b in zip(self.ends, self.ends[1:]))
