"""The weighted Bradley-Terry loss of SCPO (paper section 4.2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def weighted_bt_loss(chosen: Tensor, rejected: Tensor, weight: Tensor | None = None,
                     normalisation: str = "batch") -> Tensor:
    """L = -(1/B) sum_i w_i log sigmoid(s+_i - s-_i), or with `normalisation="weights"` divided by sum_i w_i
    instead of B (a weighted mean).

    `chosen`/`rejected` are the trained model's rewards s+, s- of shape (B,); `weight` (B,) is a
    constant (no gradient flows into it). By default divided by B, as released: down-weighting then
    also lowers the effective step size, which the `scpo_normalized` arm separates out. On several
    devices each divides by its own batch's sum. logsigmoid is stable for any margin; computed in float32.
    """
    if normalisation not in ("batch", "weights"):
        raise ValueError(f"normalisation must be 'batch' or 'weights', got {normalisation!r}")
    if chosen.shape != rejected.shape:
        raise ValueError(f"chosen has shape {tuple(chosen.shape)}, rejected {tuple(rejected.shape)}")
    nll = -F.logsigmoid(chosen.float() - rejected.float())
    if weight is None:
        return nll.mean()
    if weight.shape != nll.shape:
        raise ValueError(f"weight has shape {tuple(weight.shape)}, expected {tuple(nll.shape)}")
    weight = weight.detach().to(nll.dtype)
    if normalisation == "weights":
        # weights are in (0, 1] for every arm that normalises, so the sum is positive; guarded all the same
        return (nll * weight).sum() / weight.sum().clamp_min(torch.finfo(nll.dtype).tiny)
    return (nll * weight).mean()
