"""The figures say what they show: ECDFs per country, a sequential colormap for absolute accuracy and a diverging one
for differences, loss curves comparable across arms, and captions that state the error bars."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd

from scpo import plotting


def test_the_margins_are_one_ecdf_per_country_reaching_one():
    margin = pd.Series(np.linspace(-2, 2, 40))
    country = pd.Series(["Chile"] * 20 + ["Mexico"] * 20)
    fig = plotting.margin_ecdf(margin, country, 0.7, 1.1)
    lines = [line for line in fig.axes[0].get_lines() if len(line.get_ydata()) > 2]
    assert len(lines) == 2 and all(np.isclose(max(line.get_ydata()), 1.0) for line in lines)
    assert "kept" in fig.axes[0].get_title()


def test_absolute_accuracy_is_sequential_and_a_difference_diverges_around_zero():
    matrix = pd.DataFrame([[0.6, 0.7], [0.8, 0.9]], index=["a", "b"], columns=["x", "y"])
    absolute = plotting.cross_country_heatmap(matrix, "accuracy", sd=matrix * 0.1)
    assert absolute.axes[0].collections[0].get_cmap().name == "viridis"
    assert "sd over run seeds" in absolute.axes[0].get_title()
    delta = plotting.cross_country_heatmap(matrix - 0.75, "minus global", difference=True)
    low, high = delta.axes[0].collections[0].get_clim()
    assert delta.axes[0].collections[0].get_cmap().name != "viridis" and np.isclose(low, -high)  # centred on 0


def test_training_curves_plot_the_unweighted_loss_when_logged():
    logs = {"scpo": [{"step": 1, "loss": 0.2, "bt_loss": 0.69, "accuracy": 0.5}],
            "full": [{"step": 1, "loss": 0.69, "bt_loss": 0.69, "accuracy": 0.5}]}
    fig = plotting.training_curves(logs, "Chile")
    assert fig.axes[0].get_ylabel() == "unweighted BT loss"
    assert [list(line.get_ydata()) for line in fig.axes[0].get_lines()] == [[0.69], [0.69]]
    old = plotting.training_curves({"scpo": [{"step": 1, "loss": 0.2}]}, "Chile")
    assert old.axes[0].get_ylabel() == "training loss (weighted)"


def test_bar_figures_state_their_error_bars():
    frame = pd.DataFrame({"model": ["a", "a", "b", "b"], "accuracy": [0.5, 0.6, 0.7, 0.8], "band": ["x"] * 4})
    fig = plotting.grouped_bars(frame, "band", "accuracy", "model", "Bands", "accuracy")
    assert "error bars: one sd over run seeds" in fig.axes[0].get_title()
    results = frame.assign(country="Chile", test_set="all", seed=[0, 1, 0, 1])
    bars = plotting.accuracy_bars(results, ["all"], ["a", "b"])
    assert "error bars: one sd over run seeds" in bars.texts[0].get_text()
