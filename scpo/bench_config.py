"""The `bench` section of params.yaml: the sizes of `python -m scpo.bench`, beside the benchmark.

The benchmark is a command, not a stage, so its section is not part of the core config; `scpo.config`
still validates it with every other section (`config.section_type` imports this class on use).
"""

from __future__ import annotations

from dataclasses import dataclass

from scpo.config import check


@dataclass(frozen=True)
class BenchConfig:
    """`python -m scpo.bench` (not a stage): sizes of the side-by-side speed and memory comparison."""

    pairs: int  # training pairs drawn from the embedded data's training split
    warmup_steps: int  # optimiser steps run before timing starts
    measure_steps: int  # timed steps per method
    released_measure_steps: int  # timed steps of the released path (each is ~20x slower)
    batch_size: int  # the same for every method (the release: 8)
    released_max_length: int  # the release padded every sequence to this
    interactions: int  # interactions whose responses are scored
    hidden_size: int  # the benchmark model: MiniLM-L6-sized by default
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    seed: int
    threads: int  # torch threads; 0: torch's default
    repeats: int  # rounds of every method (round-robin); the median round is reported

    def __post_init__(self) -> None:
        for name in ("pairs", "measure_steps", "released_measure_steps", "batch_size", "interactions",
                     "released_max_length", "repeats"):
            check(getattr(self, name) >= 1, name, ">= 1", getattr(self, name))
        check(self.warmup_steps >= 1, "warmup_steps", ">= 1 (the timer starts at the end of a step)",
              self.warmup_steps)
        check(self.threads >= 0, "threads", ">= 0", self.threads)
        for name in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size"):
            check(getattr(self, name) >= 1, name, ">= 1", getattr(self, name))
        check(self.hidden_size % self.num_attention_heads == 0, "hidden_size",
              "a multiple of num_attention_heads", self.hidden_size)
