"""Which pairs a country model trains on (filter, paper section 4.1) and what each is worth (weight, 4.2).

Notation: `global_chosen` = r+ and `global_rejected` = r-, the global RM's rewards for the response the
country's annotator preferred and the one they rejected; margin = r+ - r-.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def disagreement_mask(global_chosen: Tensor, global_rejected: Tensor, tau: float) -> Tensor:
    """True where F = sigmoid(r+ - r-) < tau: the global RM does not already agree confidently.

    Compared in logit space, margin < log(tau / (1 - tau)), so huge rewards never overflow exp();
    tau = 1 keeps every pair. Shapes: (N,), (N,) -> bool (N,).
    """
    if not 0.0 < tau <= 1.0:
        raise ValueError(f"tau must be in (0, 1], got {tau}")
    threshold = math.inf if tau >= 1.0 else math.log(tau / (1.0 - tau))
    return (global_chosen - global_rejected) < threshold


def pair_weights(global_chosen: Tensor, global_rejected: Tensor, beta: float) -> Tensor:
    """w = min(exp((r+ - r-) / beta), 1), computed as exp(min(margin / beta, 0)) so it cannot overflow.

    w = 1 where the global RM agrees (margin >= 0) and decays towards 0 for strong disagreement;
    beta = inf gives w = 1 everywhere (no weighting). Shapes: (N,), (N,) -> float (N,) in (0, 1].
    """
    if not beta > 0.0:
        raise ValueError(f"beta must be > 0, got {beta}")
    margin = global_chosen - global_rejected
    if math.isinf(beta):
        return torch.ones_like(margin, dtype=torch.result_type(margin, 1.0))
    return torch.exp(torch.clamp(margin / beta, max=0.0))


def agreement(global_chosen: Tensor, global_rejected: Tensor) -> Tensor:
    """F = sigmoid(r+ - r-): the global RM's Bradley-Terry probability of the human label."""
    return torch.sigmoid(global_chosen - global_rejected)
