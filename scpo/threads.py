"""One fixed thread count per process, so that the arithmetic behind published numbers is the same whatever
else the machine runs (`scpo/__init__.py` also turns MKL's and OpenMP's dynamic threading off)."""

from __future__ import annotations

import torch


def pin_threads() -> int:
    """Fix torch's intra-op thread count for this process at its start-up value (torch's default, or
    OMP_NUM_THREADS); `torch.set_num_threads` also turns MKL's dynamic threading off. Returns the count.

    Called where the modules that compute published numbers (scoring, training, evaluation) are imported."""
    threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    return threads
