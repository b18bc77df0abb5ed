"""The weighted Bradley-Terry loss of SCPO (paper section 4.2)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def weighted_bt_loss(chosen: Tensor, rejected: Tensor, weight: Tensor | None = None) -> Tensor:
    """L = -(1/B) sum_i w_i log sigmoid(s+_i - s-_i).

    `chosen`/`rejected` are the trained model's rewards s+, s- of shape (B,); `weight` (B,) is a
    constant (no gradient flows into it). Divided by B, not by sum(w), as released: down-weighting
    also lowers the effective step size. logsigmoid is stable for any margin; computed in float32.
    """
    if chosen.shape != rejected.shape:
        raise ValueError(f"chosen has shape {tuple(chosen.shape)}, rejected {tuple(rejected.shape)}")
    nll = -F.logsigmoid(chosen.float() - rejected.float())
    if weight is None:
        return nll.mean()
    if weight.shape != nll.shape:
        raise ValueError(f"weight has shape {tuple(weight.shape)}, expected {tuple(nll.shape)}")
    return (nll * weight.detach().to(nll.dtype)).mean()
