"""Where a run's wall time goes: named phases, each timed with `time.perf_counter` and summed per name.

A run records its phases in `train.RunResult.seconds` (never in its metrics, which stay byte-identical across
reruns); `python -m scpo.run_profile` prints and writes them for one default fine-tune and one grid point.
"""

from __future__ import annotations

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
