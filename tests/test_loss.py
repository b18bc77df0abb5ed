"""The weighted Bradley-Terry loss (scpo/loss.py): reference values, B normalisation, gradients, stability."""

import math

import numpy as np
import pytest
import torch

from scpo.loss import weighted_bt_loss

CHOSEN = [1.5, -0.3, 2.0, 0.0, -4.0, 0.7]
REJECTED = [0.5, 0.2, -1.0, 0.0, 1.0, 3.1]


def reference(chosen, rejected, weight=None) -> float:
    """-(1/B) sum w log sigmoid(s+ - s-), in float64 from the definition."""
    weight = [1.0] * len(chosen) if weight is None else weight
    terms = [-w * math.log(1.0 / (1.0 + math.exp(-(c - r)))) for c, r, w in zip(chosen, rejected, weight)]
    return sum(terms) / len(chosen)


def leaf(values, dtype=torch.float64):
    return torch.tensor(values, dtype=dtype, requires_grad=True)


def test_unit_weights_equal_unweighted_equal_plain_bradley_terry():
    chosen, rejected = torch.tensor(CHOSEN), torch.tensor(REJECTED)
    unweighted = weighted_bt_loss(chosen, rejected)
    unit = weighted_bt_loss(chosen, rejected, torch.ones(len(CHOSEN)))
    assert unweighted.shape == () and unit.shape == ()
    assert unit.item() == unweighted.item()
    assert unweighted.item() == pytest.approx(reference(CHOSEN, REJECTED), rel=1e-6)


def test_normalising_by_the_weights_is_a_weighted_mean_and_scale_free():
    weight = torch.tensor([0.5, 1.0, 0.2, 0.25, 0.9, 0.1])
    chosen, rejected = torch.tensor(CHOSEN), torch.tensor(REJECTED)
    by_weights = weighted_bt_loss(chosen, rejected, weight, "weights")
    per_batch = weighted_bt_loss(chosen, rejected, weight)
    assert by_weights.item() == pytest.approx(per_batch.item() * len(CHOSEN) / weight.sum().item(), rel=1e-6)
    assert by_weights.item() == pytest.approx(weighted_bt_loss(chosen, rejected, 0.1 * weight, "weights").item(), rel=1e-6)
    assert weighted_bt_loss(chosen, rejected, torch.ones(6), "weights").item() == pytest.approx(
        weighted_bt_loss(chosen, rejected).item(), rel=1e-6)  # unit weights: the two normalisations agree
    with pytest.raises(ValueError, match="normalisation must be 'batch' or 'weights'"):
        weighted_bt_loss(chosen, rejected, weight, "sum")


def test_weighted_loss_matches_reference():
    weight = [0.5, 1.0, 0.0, 0.25, 0.9, 0.1]
    loss = weighted_bt_loss(torch.tensor(CHOSEN), torch.tensor(REJECTED), torch.tensor(weight))
    assert loss.item() == pytest.approx(reference(CHOSEN, REJECTED, weight), rel=1e-6)


def test_normalised_by_batch_size_not_weight_sum():
    chosen, rejected = torch.tensor(CHOSEN[:2]), torch.tensor(REJECTED[:2])
    alone = weighted_bt_loss(chosen[:1], rejected[:1])
    half = weighted_bt_loss(chosen, rejected, torch.tensor([1.0, 0.0]))
    assert half.item() == pytest.approx(alone.item() / 2, rel=1e-6)
    # uniform weights scale the loss (a sum(w) normalisation would cancel them)
    full = weighted_bt_loss(chosen, rejected)
    assert weighted_bt_loss(chosen, rejected, torch.tensor([0.5, 0.5])).item() == pytest.approx(full.item() / 2, rel=1e-6)


def test_zero_weights_give_zero_loss_and_zero_gradient():
    chosen, rejected = leaf(CHOSEN), leaf(REJECTED)
    loss = weighted_bt_loss(chosen, rejected, torch.zeros(len(CHOSEN)))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(chosen.grad, torch.zeros_like(chosen)) and torch.equal(rejected.grad, torch.zeros_like(rejected))


def test_zero_weighted_rows_get_exactly_zero_gradient_others_the_analytic_one():
    weight = torch.tensor([1.0, 0.0, 0.5, 0.0, 2.0, 0.0])
    chosen, rejected = leaf(CHOSEN), leaf(REJECTED)
    weighted_bt_loss(chosen, rejected, weight).backward()
    zero = weight == 0
    assert (chosen.grad[zero] == 0).all() and (rejected.grad[zero] == 0).all()
    assert (chosen.grad[~zero] != 0).all() and (rejected.grad[~zero] != 0).all()
    # d/ds+ of -w log sigmoid(d) / B = -w sigmoid(-d) / B; d/ds- is its negative
    d = np.array(CHOSEN) - np.array(REJECTED)
    expected = -weight.double().numpy() / (1.0 + np.exp(d)) / len(CHOSEN)
    np.testing.assert_allclose(chosen.grad.numpy(), expected, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(rejected.grad.numpy(), -expected, rtol=1e-5, atol=1e-9)


def test_weight_receives_no_gradient():
    chosen = leaf(CHOSEN)
    weight = torch.full((len(CHOSEN),), 0.5, requires_grad=True)
    loss = weighted_bt_loss(chosen, torch.tensor(REJECTED), weight)
    loss.backward()
    assert weight.grad is None
    assert chosen.grad is not None and (chosen.grad != 0).all()


@pytest.mark.parametrize("weight", [None, [1.0, 0.3, 1.0, 0.0]])
def test_stable_at_extreme_margins(weight):
    chosen, rejected = leaf([1e4, -1e4, 1e4, -1e4], torch.float32), leaf([-1e4, 1e4, 1e4, -1e4], torch.float32)
    w = None if weight is None else torch.tensor(weight)
    loss = weighted_bt_loss(chosen, rejected, w)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(chosen.grad).all() and torch.isfinite(rejected.grad).all()
    # margins +2e4, -2e4, 0, 0: -log sigmoid = ~0, 2e4, log 2, log 2
    w = [1.0] * 4 if weight is None else weight
    expected = (w[1] * 2e4 + (w[2] + w[3]) * math.log(2)) / 4
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_confident_right_pair_costs_nothing_confident_wrong_costs_its_margin():
    assert weighted_bt_loss(torch.tensor([1e4]), torch.tensor([-1e4])).item() == 0.0
    assert weighted_bt_loss(torch.tensor([-1e4]), torch.tensor([1e4])).item() == pytest.approx(2e4, rel=1e-6)


def test_low_precision_rewards_are_computed_in_float32():
    chosen = torch.tensor(CHOSEN, dtype=torch.bfloat16)
    rejected = torch.tensor(REJECTED, dtype=torch.bfloat16)
    loss = weighted_bt_loss(chosen, rejected, torch.ones(len(CHOSEN), dtype=torch.bfloat16))
    assert loss.dtype == torch.float32
    exact = reference(chosen.float().tolist(), rejected.float().tolist())
    assert loss.item() == pytest.approx(exact, rel=1e-6)


@pytest.mark.parametrize("shape", [(3,), (2, 1), (1,), (4, 2)])
def test_weight_shape_mismatch_raises(shape):
    chosen, rejected = torch.zeros(2), torch.ones(2)
    with pytest.raises(ValueError, match="weight has shape"):
        weighted_bt_loss(chosen, rejected, torch.ones(shape))


@pytest.mark.parametrize("chosen_shape,rejected_shape", [((3, 1), (3,)), ((3,), (1,))])
def test_chosen_rejected_shape_mismatch_raises(chosen_shape, rejected_shape):
    with pytest.raises(ValueError):
        weighted_bt_loss(torch.zeros(chosen_shape), torch.ones(rejected_shape))


def test_float64_weights_leave_the_loss_in_float32():
    # weights are cast to the loss's dtype: 0.5 * -log sigmoid(0) = 0.5 * log 2 = 0.3465736
    loss = weighted_bt_loss(torch.zeros(1), torch.zeros(1), torch.tensor([0.5], dtype=torch.float64))
    assert loss.dtype == torch.float32 and loss.item() == pytest.approx(0.5 * math.log(2), rel=1e-6)


def test_shape_mismatch_message_names_both_shapes():
    with pytest.raises(ValueError) as info:
        weighted_bt_loss(torch.zeros(3, 1), torch.ones(3))
    assert str(info.value) == "chosen has shape (3, 1), rejected (3,)"
    with pytest.raises(ValueError) as info:
        weighted_bt_loss(torch.zeros(2), torch.ones(2), torch.ones(3))
    assert str(info.value) == "weight has shape (3,), expected (2,)"
