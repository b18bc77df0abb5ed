"""Which pairs a country model trains on (filter, paper section 4.1) and what each is worth (weight, 4.2).

Notation: `global_chosen` = r+ and `global_rejected` = r-, the global RM's rewards for the response the
country's annotator preferred and the one they rejected; margin = r+ - r-.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from scpo.errors import ConfigError
from scpo.io import as_tensor, pair_values


def with_global_rewards(pairs: pd.DataFrame, global_score: pd.Series) -> pd.DataFrame:
    """`pairs` with `global_chosen` (r+) and `global_rejected` (r-) looked up in the global RM's score per
    utterance id (stage 02's `utterance_scores`, indexed by utterance_id)."""
    chosen, rejected = pair_values(pairs, global_score, "utterances the global RM did not score")
    return pairs.assign(global_chosen=chosen, global_rejected=rejected)


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


@dataclass(frozen=True)
class Arm:
    """What one arm trains on: which of a country's training pairs, with which weights, and how the loss is
    averaged. Arms differ only in these choices; every other setting is shared."""

    pairs: str  # "all"; "kept" (the filter, F < tau); "random": a seeded random subset of all pairs, as many as kept
    weights: str | None = None  # the weight column ("weight": SCPO's, "inverse_weight"); None: w = 1
    normalisation: str = "batch"  # the loss divides by the batch size ("batch", as released) or by the sum of
    #                               the batch's weights ("weights": a weighted mean, so weights do not shrink the step)

    def __post_init__(self) -> None:
        if self.pairs not in ARM_PAIRS or self.normalisation not in LOSS_NORMALISATIONS:
            raise ValueError(f"arm pairs must be one of {ARM_PAIRS} and normalisation one of {LOSS_NORMALISATIONS}, "
                             f"got {self.pairs!r}, {self.normalisation!r}")

    def describe(self) -> str:
        """One line for a model card: the arm's three choices."""
        return f"pairs={self.pairs}, weights={self.weights or 'none'}, loss ÷ {self.normalisation}"


ARM_PAIRS = ("all", "kept", "random")
LOSS_NORMALISATIONS = ("batch", "weights")

# Every arm. The untouched global RM ("global") is evaluated, never trained. `random` and `scpo_normalized` are
# controls the study lacked: does *which* pairs the filter keeps matter, or only how many? Is weighting more
# than a smaller step (SCPO's mean weight is below 1 and its loss divides by the batch size)?
ARMS: dict[str, Arm] = {
    "full": Arm("all"),
    "filter": Arm("kept"),
    "weight": Arm("all", "weight"),
    "scpo": Arm("kept", "weight"),
    "inverse": Arm("kept", "inverse_weight"),
    "random": Arm("random"),
    "scpo_normalized": Arm("kept", "weight", "weights"),
}


def random_subset_mask(n: int, size: int, seed: int) -> Tensor:
    """A boolean mask of exactly `size` of `n` items, drawn by one seeded permutation (numpy's PCG64, the same
    on every platform)."""
    if not 0 <= size <= n:
        raise ValueError(f"a subset of {size} of {n} pairs is impossible")
    mask = torch.zeros(n, dtype=torch.bool)
    mask[torch.from_numpy(np.random.default_rng(seed).permutation(n)[:size])] = True
    return mask


def arm_selection(arm: str, keep: Tensor, weight: Tensor, inverse_weight: Tensor,
                  seed: int = 0) -> tuple[Tensor, Tensor]:
    """(mask of the pairs `arm` trains on, their weights): the only place arms differ in their pairs.
    `keep` is the filter (disagreement_mask), `weight` the SCPO weights, `inverse_weight` the ablation's;
    `seed` draws the `random` arm's subset (the run seed: each run its own subset, of the filter's size).
    """
    if arm not in ARMS:
        raise ValueError(f"unknown arm '{arm}'; arms: {', '.join(ARMS)}")
    spec = ARMS[arm]
    keep = keep.bool()
    mask = {"all": lambda: torch.ones_like(keep), "kept": lambda: keep,
            "random": lambda: random_subset_mask(len(keep), int(keep.sum()), seed)}[spec.pairs]()
    weights = {"weight": weight, "inverse_weight": inverse_weight}.get(spec.weights, torch.ones_like(weight))
    return mask, weights[mask]


def check_kept(kept_per_country: Mapping[str, int], tau: float) -> None:
    """Every study country must keep a training pair after filtering, or its filtered arms would train
    on nothing; the error names the countries and the setting."""
    empty = [str(country) for country, kept in kept_per_country.items() if kept == 0]
    if empty:
        raise ConfigError(f"params: filtering.tau = {tau} keeps none of the training pairs of {', '.join(empty)}; "
                          "raise tau (1.0 keeps every pair) or check the global RM's scores")
