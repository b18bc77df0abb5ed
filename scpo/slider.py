"""PRISM's 1-100 slider in the simulation: the spread of an attribute level, and the map a utility takes to a score
(`scpo.embedded.slider_scores` applies it)."""

from __future__ import annotations

import functools
import math

import numpy as np


def level_variance(sd: float) -> float:
    """Variance of an attribute level, round(N(0, sd)) clipped to -3..3 (exact, from the normal's CDF)."""
    if sd == 0:
        return 0.0
    cdf = lambda x: 0.5 * (1.0 + math.erf(x / (sd * math.sqrt(2.0))))  # noqa: E731
    return sum(2 * k * k * ((1.0 - cdf(k - 0.5)) if k == 3 else (cdf(k + 0.5) - cdf(k - 0.5))) for k in (1, 2, 3))


@functools.lru_cache(maxsize=8)
def slider_map(mean: float, sd: float) -> tuple[float, float]:
    """(a, b) such that 1 + 99 sigmoid(a + b z), z ~ N(0, 1), has this mean and sd (Gauss-Hermite quadrature,
    nested bisection: the mean rises with a, the sd with b)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    weights = weights / weights.sum()

    def moments(a: float, b: float) -> tuple[float, float]:
        values = 1.0 + 99.0 / (1.0 + np.exp(-(a + b * nodes)))
        first = float(weights @ values)
        return first, math.sqrt(max(float(weights @ (values - first) ** 2), 0.0))

    def intercept(b: float) -> float:
        low, high = -50.0, 50.0
        for _ in range(80):
            low, high = ((low + high) / 2, high) if moments((low + high) / 2, b)[0] < mean else (low, (low + high) / 2)
        return (low + high) / 2

    low, high = 1e-6, 50.0
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if moments(intercept(middle), middle)[1] < sd else (low, middle)
    b = (low + high) / 2
    return intercept(b), b
