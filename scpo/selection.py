"""Which pairs a country model trains on (filter, paper section 4.1) and what each is worth (weight, 4.2).

Notation: `global_chosen` = r+ and `global_rejected` = r-, the global RM's rewards for the response the
country's annotator preferred and the one they rejected; margin = r+ - r-.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd
import torch
from torch import Tensor

from scpo.errors import ConfigError
from scpo.io import as_tensor


def with_global_rewards(pairs: pd.DataFrame, global_score: pd.Series) -> pd.DataFrame:
    """`pairs` with `global_chosen` (r+) and `global_rejected` (r-) looked up in the global RM's score per
    utterance id (stage 02's `utterance_scores`, indexed by utterance_id)."""
    missing = ~pairs.chosen_id.isin(global_score.index) | ~pairs.rejected_id.isin(global_score.index)
    if missing.any():
        raise KeyError(f"{int(missing.sum())} pairs have utterances the global RM did not score, "
                       f"e.g. pair {pairs.pair_id[missing].iloc[0]}")
    return pairs.assign(global_chosen=global_score.loc[pairs.chosen_id].to_numpy(),
                        global_rejected=global_score.loc[pairs.rejected_id].to_numpy())


def filter_and_weight(pairs: pd.DataFrame, tau: float, beta: float) -> pd.DataFrame:
    """`pairs` (with `global_chosen`, `global_rejected`) with every column an arm selects by: `agreement` (F),
    `keep` (the filter at tau), `weight` (SCPO's, at beta) and `inverse_weight` (the released, unused ablation).
    Stage 03 and every trade-off grid point compute them here."""
    chosen, rejected = as_tensor(pairs.global_chosen), as_tensor(pairs.global_rejected)
    return pairs.assign(agreement=agreement(chosen, rejected).numpy(),
                        keep=disagreement_mask(chosen, rejected, tau).numpy(),
                        weight=pair_weights(chosen, rejected, beta).numpy(),
                        inverse_weight=inverse_weights(chosen, rejected).numpy())


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


def inverse_weights(global_chosen: Tensor, global_rejected: Tensor) -> Tensor:
    """w = max(exp(r- - r+), 1): the released, unused ablation that *up*-weights pairs the global RM gets wrong.

    Computed as exp(max(-margin, 0)); it is unbounded by design (overflows to inf only past margin -709 in float64).
    """
    return torch.exp(torch.clamp(global_rejected - global_chosen, min=0.0))


# Every arm: (train on the filtered pairs only?, which weight column). The untouched global RM ("global")
# is evaluated, never trained. Arms differ only in these two choices; every other setting is shared.
ARMS: dict[str, tuple[bool, str | None]] = {
    "full": (False, None),
    "filter": (True, None),
    "weight": (False, "weight"),
    "scpo": (True, "weight"),
    "inverse": (True, "inverse_weight"),
}


def arm_selection(arm: str, keep: Tensor, weight: Tensor, inverse_weight: Tensor) -> tuple[Tensor, Tensor]:
    """(mask of the pairs `arm` trains on, their weights): the only place arms differ.

    `keep` is the filter (disagreement_mask), `weight` the SCPO weights, `inverse_weight` the ablation's.
    """
    if arm not in ARMS:
        raise ValueError(f"unknown arm '{arm}'; arms: {', '.join(ARMS)}")
    filtered, column = ARMS[arm]
    mask = keep.bool() if filtered else torch.ones_like(keep, dtype=torch.bool)
    weights = {"weight": weight, "inverse_weight": inverse_weight}.get(column, torch.ones_like(weight))
    return mask, weights[mask]


def check_kept(kept_per_country: Mapping[str, int], tau: float) -> None:
    """Every study country must keep a training pair after filtering, or its filtered arms would train
    on nothing; the error names the countries and the setting."""
    empty = [str(country) for country, kept in kept_per_country.items() if kept == 0]
    if empty:
        raise ConfigError(f"params: filtering.tau = {tau} keeps none of the training pairs of {', '.join(empty)}; "
                          "raise tau (1.0 keeps every pair) or check the global RM's scores")
