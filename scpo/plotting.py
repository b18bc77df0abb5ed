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


def training_curve(log_history: list[dict], title: str) -> plt.Figure:
    """Training loss and per-batch accuracy against step, from a Trainer's `state.log_history`."""
    logs = pd.DataFrame([row for row in log_history if "loss" in row])
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(logs.step, logs.loss, label="weighted BT loss")
    if "accuracy" in logs:
        ax.plot(logs.step, logs.accuracy, label="batch accuracy")
    ax.set(xlabel="step", title=title)
    ax.legend()
    return fig


def accuracy_bars(table: pd.DataFrame, metrics: list[str]) -> plt.Figure:
    """Per-country accuracy of each model, one panel per metric (rows: country, model, metric, value)."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.8), sharey=True, squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        sns.barplot(data=table[table.metric == metric], x="country", y="value", hue="model", ax=ax)
        ax.set(title=metric.replace("_", " "), xlabel="", ylabel="pairwise accuracy", ylim=(0, 1))
        ax.tick_params(axis="x", rotation=45)
    return fig


def cross_country_heatmap(matrix: pd.DataFrame, title: str) -> plt.Figure:
    """Accuracy of each model (rows) on each country's held-out pairs (columns)."""
    fig, ax = plt.subplots(figsize=(1.0 * matrix.shape[1] + 2, 0.5 * matrix.shape[0] + 1.5))
    sns.heatmap(matrix, annot=True, fmt=".2f", cmap="vlag", center=0.0 if matrix.values.min() < 0 else None, ax=ax)
    ax.set(xlabel="test pairs of country", ylabel="model", title=title)
    return fig
