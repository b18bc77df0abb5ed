"""Figures as PNG (DVC tracks image plots; `dvc plots show` HTML needs a CDN and renders nothing offline)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: papermill and CI have no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from scpo.io import atomic_path  # noqa: E402


def save(fig: plt.Figure, path: Path) -> Path:
    """Save a figure as PNG atomically (fixed dpi, no timestamp metadata) and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return path


def pairs_per_country(counts: pd.DataFrame) -> plt.Figure:
    """Train and test pairs per residence country (counts from `data.country_counts`)."""
    fig, ax = plt.subplots(figsize=(8, 3.5))
    counts[["train_pairs", "test_pairs"]].plot.bar(ax=ax, stacked=True, color=["#4C72B0", "#DD8452"])
    ax.set(xlabel="", ylabel="preference pairs", title="Pairs per residence country")
    return fig


def margin_histogram(margin: pd.Series, country: pd.Series, tau: float, beta: float) -> plt.Figure:
    """Global-RM margins r+ - r- of training pairs, the filter threshold and the weight curve."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    sns.histplot(x=margin, hue=country, element="step", stat="density", common_norm=False, ax=left, bins=40)
    title = "Training pairs by country"
    if tau < 1.0:  # the filter keeps margin < log(tau / (1 - tau))
        left.axvline(math.log(tau / (1 - tau)), color="k", ls="--")
        title += f"\n(tau = {tau}: pairs left of the dashed line are kept)"
    left.set(xlabel="global RM margin r+ - r-", title=title)
    grid = np.linspace(float(margin.min()), max(float(margin.max()), 1.0), 200)
    right.plot(grid, np.exp(np.minimum(grid / beta, 0.0)) if math.isfinite(beta) else np.ones_like(grid))
    right.set(xlabel="global RM margin r+ - r-", ylabel="weight w", title=f"w = min(exp(margin / {beta}), 1)")
    return fig


def training_curves(log_histories: dict[str, list[dict]], title: str) -> plt.Figure:
    """Training loss and per-batch accuracy against step, one line per run (`Trainer.state.log_history`)."""
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.5))
    for label, history in log_histories.items():
        logs = pd.DataFrame([row for row in history if "loss" in row])
        loss_ax.plot(logs.step, logs.loss, label=label)
        if "accuracy" in logs:
            acc_ax.plot(logs.step, logs.accuracy, label=label)
    loss_ax.set(xlabel="step", ylabel="training loss", title=title)
    acc_ax.set(xlabel="step", ylabel="batch accuracy", ylim=(0, 1), title="per-batch accuracy (diagnostic)")
    loss_ax.legend(fontsize=8)
    return fig


def accuracy_bars(results: pd.DataFrame, test_sets: list[str], models: list[str]) -> plt.Figure:
    """Per-country accuracy of each model, one panel per test set; bars are means over seeds, error bars
    one sd over seeds (rows of `results`: seed, country, model, test_set, accuracy)."""
    fig, axes = plt.subplots(len(test_sets), 1, figsize=(11, 3.2 * len(test_sets)), sharex=True, squeeze=False)
    for ax, test_set in zip(axes[:, 0], test_sets):
        sns.barplot(data=results[results.test_set == test_set], x="country", y="accuracy", hue="model",
                    hue_order=models, errorbar="sd", ax=ax)
        ax.set(title=f"test set: {test_set}", xlabel="", ylabel="pairwise accuracy", ylim=(0, 1))
        ax.legend(fontsize=7, ncol=len(models), loc="upper left")
    axes[-1, 0].tick_params(axis="x", rotation=30)
    return fig


def cross_country_heatmap(matrix: pd.DataFrame, title: str) -> plt.Figure:
    """Accuracy of each model (rows) on each country's held-out pairs (columns)."""
    fig, ax = plt.subplots(figsize=(1.0 * matrix.shape[1] + 2, 0.5 * matrix.shape[0] + 1.5))
    sns.heatmap(matrix, annot=True, fmt=".2f", cmap="vlag", center=0.0 if matrix.values.min() < 0 else None, ax=ax)
    ax.set(xlabel="test pairs of country", ylabel="model", title=title)
    return fig
