"""Filter and weights (scpo/selection.py) against a naive float64 reference, at extremes and at the threshold."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scpo.config import ConfigError
from scpo.selection import (agreement, arm_selection, check_kept, disagreement_mask, filter_and_weight,
                            inverse_weights, pair_weights, with_global_rewards)


def sigmoid(x: float) -> float:
    """The logistic function in float64, written so neither branch overflows."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def reference_weights(margins: np.ndarray, beta: float) -> np.ndarray:
    """The paper's formula as written, min(exp(margin / beta), 1), naively in float64."""
    with np.errstate(over="ignore"):
        return np.minimum(np.exp(np.asarray(margins, dtype=np.float64) / beta), 1.0)


def as_pairs(margins, dtype=torch.float64):
    """(r+, r-) with r+ - r- = margin exactly (r- = 0)."""
    chosen = torch.tensor(margins, dtype=dtype)
    return chosen, torch.zeros_like(chosen)


MODERATE = np.linspace(-30.0, 30.0, 241)
LOGIT_7_3 = math.log(7 / 3)  # the threshold at tau = 0.7

finite_margin = st.floats(min_value=-30.0, max_value=30.0, allow_nan=False, allow_infinity=False)
finite_beta = st.floats(min_value=0.1, max_value=100.0, allow_nan=False, allow_infinity=False)
open_tau = st.floats(min_value=1e-6, max_value=1 - 1e-6, allow_nan=False)


# ------------------------------------------------------------------------------------------ pair_weights

@pytest.mark.parametrize("beta", [0.1, 0.5, 1.1, 3.0, 100.0])
def test_weights_match_the_naive_formula(beta):
    weights = pair_weights(*as_pairs(MODERATE), beta)
    assert weights.dtype == torch.float64 and weights.shape == (len(MODERATE),)
    np.testing.assert_allclose(weights.numpy(), reference_weights(MODERATE, beta), rtol=1e-12, atol=0)


def test_weights_depend_on_the_margin_only():
    margins = np.array([-3.0, -0.5, 0.0, 0.7, 4.0])
    offsets = torch.tensor([100.0, -250.0, 3.5, -1e3, 42.0], dtype=torch.float64)
    chosen, rejected = as_pairs(margins)
    shifted = pair_weights(chosen + offsets, rejected + offsets, 1.1)
    torch.testing.assert_close(shifted, pair_weights(chosen, rejected, 1.1), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("margin,expected", [(0.0, 1.0), (-1.0, 0.403), (-2.0, 0.162)])
def test_known_weights_at_the_study_beta(margin, expected):
    chosen, rejected = as_pairs([margin])
    assert pair_weights(chosen, rejected, 1.1).item() == pytest.approx(expected, abs=5e-4)


def test_known_weights_exact_values():
    weights = pair_weights(*as_pairs([0.0, -1.0, -2.0, 5.0]), 1.1)
    assert weights.tolist() == pytest.approx([1.0, math.exp(-1 / 1.1), math.exp(-2 / 1.1), 1.0], rel=1e-14)


def test_agreeing_pairs_weigh_exactly_one():
    weights = pair_weights(*as_pairs([0.0, 1e-9, 0.5, 10.0, 1e3]), 1.1)
    assert weights.tolist() == [1.0] * 5


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_infinite_beta_disables_weighting(dtype):
    chosen, rejected = as_pairs([-1e30, -1e4, -5.0, 0.0, 3.0, 1e30], dtype)
    weights = pair_weights(chosen, rejected, float("inf"))
    assert weights.dtype == dtype and torch.equal(weights, torch.ones(6, dtype=dtype))


def test_infinite_beta_gives_float_ones_for_integer_rewards():
    weights = pair_weights(torch.tensor([-5, 0, 3]), torch.tensor([0, 0, 0]), float("inf"))
    assert weights.is_floating_point() and weights.tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("beta", [0.0, -0.0, -1.0, -float("inf"), float("nan")])
def test_non_positive_beta_is_rejected(beta):
    chosen, rejected = as_pairs([0.0])
    with pytest.raises(ValueError, match="beta"):
        pair_weights(chosen, rejected, beta)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("beta", [1e-3, 1.1, 1e3])
def test_weights_at_extreme_rewards_stay_finite_and_bounded(dtype, beta):
    big = [1e4, -1e4, 1e30, -1e30]
    chosen = torch.tensor([b for b in big for _ in big], dtype=dtype)
    rejected = torch.tensor([b for _ in big for b in big], dtype=dtype)
    weights = pair_weights(chosen, rejected, beta)
    assert torch.isfinite(weights).all()
    assert ((weights >= 0) & (weights <= 1)).all()
    margin = (chosen.double() - rejected.double())
    assert (weights[margin >= 0] == 1).all()
    # strongly disagreeing pairs are (numerically) worthless, never NaN
    assert (weights[margin <= -1e4] < 1e-4).all()


# ------------------------------------------------------------------------------------------ disagreement_mask

@pytest.mark.parametrize("tau", [1e-6, 0.05, 0.3, 0.5, 0.7, 0.9, 0.999])
def test_mask_matches_sigmoid_reference(tau):
    threshold = math.log(tau / (1 - tau))
    margins = MODERATE[np.abs(MODERATE - threshold) > 1e-9]
    mask = disagreement_mask(*as_pairs(margins), tau)
    assert mask.dtype == torch.bool and mask.shape == (len(margins),)
    assert mask.tolist() == [sigmoid(m) < tau for m in margins]


def test_mask_uses_the_pair_margin_not_the_raw_rewards():
    # same margins, rewards shifted by large offsets
    margins = [-2.0, 0.5, 0.9, 3.0]
    offsets = torch.tensor([1e3, -1e3, 7.0, -55.0], dtype=torch.float64)
    chosen, rejected = as_pairs(margins)
    assert disagreement_mask(chosen + offsets, rejected + offsets, 0.7).tolist() == [True, True, False, False]


def test_threshold_is_exact_near_log_7_over_3():
    assert math.log(0.7 / 0.3) == pytest.approx(LOGIT_7_3, rel=1e-15)
    eps = [1e-12, 1e-10, 1e-6]
    below = [LOGIT_7_3 - e for e in eps]
    above = [LOGIT_7_3 + e for e in eps]
    assert all(sigmoid(m) < 0.7 for m in below) and not any(sigmoid(m) < 0.7 for m in above)
    assert disagreement_mask(*as_pairs(below), 0.7).tolist() == [True] * 3
    assert disagreement_mask(*as_pairs(above), 0.7).tolist() == [False] * 3
    # at the threshold itself (as float64 computes it from tau) F == tau, and the comparison is strict
    at = math.log(0.7 / (1.0 - 0.7))
    assert abs(at - LOGIT_7_3) < 1e-15 and sigmoid(at) == 0.7
    below_at = np.nextafter(at, -np.inf)
    assert disagreement_mask(*as_pairs([below_at, at, LOGIT_7_3]), 0.7).tolist() == [True, False, False]


def test_threshold_near_log_7_over_3_in_float32():
    eps = 1e-5  # well above float32 spacing (~6e-8) at 0.85
    mask = disagreement_mask(*as_pairs([LOGIT_7_3 - eps, LOGIT_7_3 + eps], torch.float32), 0.7)
    assert mask.tolist() == [True, False]


def test_threshold_with_both_rewards_nonzero():
    chosen = torch.tensor([10.0 + LOGIT_7_3 - 1e-9, 10.0 + LOGIT_7_3 + 1e-9], dtype=torch.float64)
    rejected = torch.tensor([10.0, 10.0], dtype=torch.float64)
    assert disagreement_mask(chosen, rejected, 0.7).tolist() == [True, False]


def test_tau_one_keeps_every_pair():
    margins = [-1e30, -1e4, -1.0, 0.0, 1.0, 50.0, 1e4, 1e30]
    for dtype in (torch.float32, torch.float64):
        assert disagreement_mask(*as_pairs(margins, dtype), 1.0).tolist() == [True] * len(margins)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mask_at_extreme_rewards(dtype):
    big = [1e4, -1e4, 1e30, -1e30]
    chosen = torch.tensor([b for b in big for _ in big], dtype=dtype)
    rejected = torch.tensor([b for _ in big for b in big], dtype=dtype)
    margin = chosen.double() - rejected.double()
    for tau in (1e-6, 0.7, 1 - 1e-9):
        mask = disagreement_mask(chosen, rejected, tau)
        # |margin| >= 2e4 or 0: sigmoid is 0, 1 or 1/2 there
        expected = [sigmoid(m) < tau for m in margin.tolist()]
        assert mask.tolist() == expected


def test_extreme_tau_is_handled_in_logit_space():
    # F = sigmoid(-700) ~ 1e-304 < tau = 1e-300, though float32 sigmoid would underflow to 0 for both
    margins = [-700.0, -680.0]
    assert [sigmoid(m) < 1e-300 for m in margins] == [True, False]
    assert disagreement_mask(*as_pairs(margins), 1e-300).tolist() == [True, False]
    # close to 1: F = sigmoid(30) = 1 - 9.4e-14 is not below 1 - 1e-12; sigmoid(25) is
    assert disagreement_mask(*as_pairs([25.0, 30.0]), 1 - 1e-12).tolist() == [True, False]


@pytest.mark.parametrize("tau", [0.0, -0.1, 1.0000001, 1.5, float("inf"), float("nan")])
def test_tau_outside_the_unit_interval_is_rejected(tau):
    with pytest.raises(ValueError, match="tau"):
        disagreement_mask(*as_pairs([0.0]), tau)


def test_filter_and_weight_agree_on_what_is_a_disagreement():
    # at tau = 1/2 the filter keeps exactly the pairs the weight discounts (margin < 0)
    margins = [-3.0, -1e-6, 1e-6, 2.0]
    pairs = as_pairs(margins)
    assert disagreement_mask(*pairs, 0.5).tolist() == (pair_weights(*pairs, 1.1) < 1).tolist()


# ------------------------------------------------------------------------------------------ properties

@settings(max_examples=200, deadline=None)
@given(st.lists(finite_margin, min_size=1, max_size=20), finite_beta)
def test_property_weights_in_unit_interval(margins, beta):
    weights = pair_weights(*as_pairs(margins), beta)
    assert ((weights > 0) & (weights <= 1)).all()
    np.testing.assert_allclose(weights.numpy(), reference_weights(margins, beta), rtol=1e-12)


@settings(max_examples=200, deadline=None)
@given(finite_margin, finite_margin, finite_beta)
def test_property_weights_monotone_in_margin(a, b, beta):
    low, high = sorted((a, b))
    weights = pair_weights(*as_pairs([low, high]), beta)
    assert weights[0] <= weights[1]


@settings(max_examples=200, deadline=None)
@given(st.lists(finite_margin, min_size=2, max_size=30), finite_beta)
def test_property_weights_sorted_by_margin_are_sorted(margins, beta):
    weights = pair_weights(*as_pairs(sorted(margins)), beta)
    assert (weights[1:] >= weights[:-1]).all()


@settings(max_examples=300, deadline=None)
@given(finite_margin, open_tau)
def test_property_mask_equals_sigmoid_below_tau(margin, tau):
    threshold = math.log(tau / (1 - tau))
    if abs(margin - threshold) < 1e-9:
        margin = threshold + 1e-6  # stay clear of the boundary, where rounding decides
    mask = disagreement_mask(*as_pairs([margin]), tau)
    assert mask.item() == (sigmoid(margin) < tau)


@settings(max_examples=100, deadline=None)
@given(st.lists(finite_margin, min_size=1, max_size=20), open_tau, open_tau)
def test_property_larger_tau_keeps_a_superset(margins, tau_a, tau_b):
    low, high = sorted((tau_a, tau_b))
    pairs = as_pairs(margins)
    assert (disagreement_mask(*pairs, low) <= disagreement_mask(*pairs, high)).all()


# ------------------------------------------------------------------------------------------ the pair columns

def scored_pairs() -> pd.DataFrame:
    """Three pairs whose utterances the global RM scored: margins r+ - r- = 0.0, -1.1, +2.2."""
    return pd.DataFrame({"pair_id": ["p1", "p2", "p3"], "chosen_id": ["a", "c", "e"], "rejected_id": ["b", "d", "a"]})


GLOBAL_SCORE = pd.Series({"a": 0.5, "b": 0.5, "c": -0.6, "d": 0.5, "e": 2.7, "unused": 9.0})


def test_global_rewards_are_looked_up_per_side_by_utterance_id():
    pairs = with_global_rewards(scored_pairs(), GLOBAL_SCORE)
    assert pairs.global_chosen.tolist() == [0.5, -0.6, 2.7]  # a, c, e
    assert pairs.global_rejected.tolist() == [0.5, 0.5, 0.5]  # b, d, a
    assert list(pairs.columns) == ["pair_id", "chosen_id", "rejected_id", "global_chosen", "global_rejected"]


@pytest.mark.parametrize("dropped,message", [
    (["c"], "1 pairs have utterances the global RM did not score, e.g. pair p2"),  # a chosen side
    (["d"], "1 pairs have utterances the global RM did not score, e.g. pair p2"),  # a rejected side
    (["b", "e"], "2 pairs have utterances the global RM did not score, e.g. pair p1"),  # p1 and p3, first named
])
def test_pairs_with_an_unscored_utterance_are_counted_and_named(dropped, message):
    with pytest.raises(KeyError) as info:
        with_global_rewards(scored_pairs(), GLOBAL_SCORE.drop(dropped))
    assert info.value.args[0] == message


def test_filter_and_weight_adds_every_arm_column_by_hand():
    pairs = with_global_rewards(scored_pairs(), GLOBAL_SCORE)  # margins 0.0, -1.1, +2.2
    out = filter_and_weight(pairs, tau=0.7, beta=1.1)
    assert list(out.columns) == [*pairs.columns, "agreement", "keep", "weight", "inverse_weight"]
    # F = sigmoid(margin): 1/2; 1 / (1 + e^1.1) = 1 / 4.0041660 = 0.2497399; 1 / (1 + e^-2.2) = 0.9002495
    np.testing.assert_allclose(out.agreement, [0.5, 0.24973989440488234, 0.9002495108803148], rtol=1e-12)
    assert out.keep.tolist() == [True, True, False]  # F < 0.7
    # w = min(exp(margin / 1.1), 1): 1, e^-1 = 0.3678794, 1
    np.testing.assert_allclose(out.weight, [1.0, 0.36787944117144233, 1.0], rtol=1e-12)
    # inverse w = max(exp(-margin), 1): 1, e^1.1 = 3.0041660, 1
    np.testing.assert_allclose(out.inverse_weight, [1.0, 3.0041660239464334, 1.0], rtol=1e-12)
    assert out.keep.dtype == bool and "agreement" not in pairs  # a new frame; the input is left alone


def test_filter_and_weight_passes_tau_and_beta_on():
    out = filter_and_weight(with_global_rewards(scored_pairs(), GLOBAL_SCORE), tau=0.2, beta=2.2)
    assert out.keep.tolist() == [False, False, False]  # F = 0.5, 0.2497, 0.9002: none below 0.2
    np.testing.assert_allclose(out.weight, [1.0, 0.6065306597126334, 1.0], rtol=1e-12)  # e^(-1.1 / 2.2) = e^-0.5


def test_agreement_is_the_sigmoid_of_the_margin_not_of_a_sum():
    # margin 1.0 - 0.5 = 0.5: 1 / (1 + e^-0.5) = 0.6224593 (a sum, 1.5, would give 0.8176)
    assert agreement(torch.tensor([1.0], dtype=torch.float64),
                     torch.tensor([0.5], dtype=torch.float64)).item() == pytest.approx(0.6224593312018546, rel=1e-12)


def test_inverse_weights_use_the_margin_with_nonzero_rejected_rewards():
    # margins 0.5 - 1.5 = -1 -> e^1 = 2.7182818; 2.0 - 1.0 = +1 -> 1; 3 - 3 = 0 -> 1
    weights = inverse_weights(torch.tensor([0.5, 2.0, 3.0], dtype=torch.float64),
                              torch.tensor([1.5, 1.0, 3.0], dtype=torch.float64))
    assert weights.tolist() == pytest.approx([2.718281828459045, 1.0, 1.0], rel=1e-12)


# ------------------------------------------------------------------------------------------ check_kept

def test_check_kept_names_every_country_that_keeps_nothing():
    with pytest.raises(ConfigError) as info:
        check_kept({"chile": 0, "mexico": 3, "peru": 0}, 0.7)
    assert str(info.value) == ("params: filtering.tau = 0.7 keeps none of the training pairs of chile, peru; "
                               "raise tau (1.0 keeps every pair) or check the global RM's scores")


def test_check_kept_accepts_a_country_with_a_single_kept_pair():
    assert check_kept({"chile": 1, "mexico": 12}, 0.05) is None
    assert check_kept({}, 0.7) is None


# ------------------------------------------------------------------------------------------ arm_selection

@pytest.mark.parametrize("arm,weights", [("full", [1.0, 1.0, 1.0, 1.0]), ("weight", [0.5, 1.0, 0.2, 1.0])])
def test_unfiltered_arms_give_a_boolean_mask_of_every_pair_for_an_integer_keep(arm, weights):
    keep = torch.tensor([1, 0, 1, 0])  # a 0/1 column, as numpy or a file may hand it over
    weight, inverse = torch.tensor([0.5, 1.0, 0.2, 1.0], dtype=torch.float64), torch.tensor([2.0, 1.0, 5.0, 1.0])
    mask, w = arm_selection(arm, keep, weight, inverse)
    assert mask.dtype == torch.bool and mask.tolist() == [True] * 4
    assert w.tolist() == weights


def test_unknown_arm_message_lists_the_arms():
    with pytest.raises(ValueError) as info:
        arm_selection("dpo", torch.tensor([True]), torch.ones(1), torch.ones(1))
    assert str(info.value) == "unknown arm 'dpo'; arms: full, filter, weight, scpo, inverse, random, scpo_normalized"
