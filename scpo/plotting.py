"""Figures as PNG (DVC tracks image plots; `dvc plots show` HTML needs a CDN and renders nothing offline)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: papermill and CI have no display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from scpo.io import atomic_path  # noqa: E402


def plain_log_axis(axis) -> None:
    """A log axis labelled 0.5, 100, 200 rather than 5 x 10^1, without overlapping labels: ticks at 1, 2, 5
    per decade, or at every digit when the data span less than a factor of 3. Call after plotting."""
    low, high = sorted(abs(v) for v in axis.get_view_interval())
    narrow = low > 0 and high / low < 3
    axis.set_major_locator(LogLocator(base=10, subs=tuple(np.arange(1.0, 10.0)) if narrow else (1.0, 2.0, 5.0)))
    formatter = ScalarFormatter()
    formatter.set_scientific(False)
    axis.set_major_formatter(formatter)
    axis.set_minor_formatter(NullFormatter())


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


def global_rm_overview(agreement: pd.Series, log_history: list[dict] | None, title: str) -> plt.Figure:
    """How often the global RM ranks each country's training pairs as its annotators did (1 - its share of
    disagreements), and, when stage 02 trained it, its training curve."""
    panels = 1 if log_history is None else 2
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 3.6), squeeze=False)
    agreement.sort_values().plot.barh(ax=axes[0, 0], color="#4C72B0")
    axes[0, 0].axvline(0.5, color="k", ls=":", lw=1)
    axes[0, 0].set(xlim=(0, 1), xlabel="share of training pairs ranked as annotated", ylabel="",
                   title=f"Global RM agreement\n{title}")
    if log_history is not None:
        logs = pd.DataFrame([row for row in log_history if "loss" in row])
        axes[0, 1].plot(logs.step, logs.loss)
        axes[0, 1].set(xlabel="step", ylabel="training loss", title="Its training (stage 02)")
    return fig


def margin_ecdf(margin: pd.Series, country: pd.Series, tau: float, beta: float) -> plt.Figure:
    """Global-RM margins r+ - r- of training pairs as one ECDF per country (overlaid lines stay readable where
    seven filled histograms read as one mass): at the filter's threshold each curve's height is the share of the
    country's pairs the filter keeps. Beside it, the weight curve."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    sns.ecdfplot(x=margin, hue=country, ax=left, palette="colorblind")
    title = "Training pairs by country (cumulative share)"
    if tau < 1.0:  # the filter keeps margin < log(tau / (1 - tau))
        left.axvline(math.log(tau / (1 - tau)), color="k", ls="--")
        title += f"\n(tau = {tau}: the share left of the dashed line is kept)"
    left.set(xlabel="global RM margin r+ - r-", ylabel="share of pairs with a smaller margin", title=title)
    grid = np.linspace(float(margin.min()), max(float(margin.max()), 1.0), 200)
    right.plot(grid, np.exp(np.minimum(grid / beta, 0.0)) if math.isfinite(beta) else np.ones_like(grid))
    right.set(xlabel="global RM margin r+ - r-", ylabel="weight w", title=f"w = min(exp(margin / {beta}), 1)")
    return fig


def loss_history(history: list[dict]) -> pd.DataFrame:
    """The logged training loss of a run (`Trainer.state.log_history`) as step, loss: a DVC plot's data."""
    return pd.DataFrame([{"step": row["step"], "loss": row["loss"]} for row in history if "loss" in row],
                        columns=["step", "loss"])


def training_curves(log_histories: dict[str, list[dict]], title: str) -> plt.Figure:
    """The unweighted Bradley-Terry loss (`bt_loss`, the same quantity for every arm; the optimised, weighted
    loss where a log lacks it) and per-batch accuracy against step, one line per run (`Trainer.state.log_history`)."""
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.5))
    unweighted = True
    for label, history in log_histories.items():
        logs = pd.DataFrame([row for row in history if "loss" in row])
        column = "bt_loss" if "bt_loss" in logs else "loss"
        unweighted = unweighted and column == "bt_loss"
        loss_ax.plot(logs.step, logs[column], label=label)
        if "accuracy" in logs:
            acc_ax.plot(logs.step, logs.accuracy, label=label)
    loss_ax.set(xlabel="step", ylabel="unweighted BT loss" if unweighted else "training loss (weighted)", title=title)
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
    fig.suptitle("Bars: mean over run seeds; error bars: one sd over run seeds", fontsize=9)
    fig.tight_layout()
    return fig


def paired_differences(differences: pd.DataFrame, comparisons: list[str], test_sets: list[str],
                       confidence: float, per_row: int = 4) -> plt.Figure:
    """One panel per comparison 'a - b' (`per_row` to a row): per country (macro average last) the mean over
    seeds of the paired difference, a point per test set with its two-level bootstrap interval (`scpo.paired`);
    0 marked."""
    countries = sorted(c for c in set(differences.country) if c != "macro average") + ["macro average"]
    rows, columns = math.ceil(len(comparisons) / per_row), min(per_row, len(comparisons))
    fig, axes = plt.subplots(rows, columns, figsize=(3.1 * columns + 1.5, (0.42 * len(countries) + 1.2) * rows),
                             sharey=True, squeeze=False)
    offsets = np.linspace(-0.2, 0.2, len(test_sets)) if len(test_sets) > 1 else np.zeros(1)
    for ax, comparison in zip(axes.flat, comparisons):
        for offset, test_set, color in zip(offsets, test_sets, sns.color_palette("colorblind", len(test_sets))):
            part = differences[(differences.comparison == comparison) & (differences.test_set == test_set)]
            part = part.set_index("country").reindex(countries)
            ax.errorbar(part["mean"], np.arange(len(countries)) + offset, fmt="o", color=color, markersize=4,
                        capsize=2, label=test_set, xerr=[(part["mean"] - part.ci_low).clip(lower=0),
                                                         (part.ci_high - part["mean"]).clip(lower=0)])
        ax.axvline(0.0, color="0.4", linewidth=0.8)
        ax.set(title=comparison, xlabel="accuracy difference")
    for ax in list(axes.flat)[len(comparisons):]:
        ax.set_visible(False)
    axes[0, 0].set_yticks(np.arange(len(countries)), countries)
    axes[0, 0].invert_yaxis()
    axes[0, columns - 1].legend(title="test set", fontsize=7, loc="lower right")
    fig.suptitle(f"Paired differences on the same held-out pairs: mean over run seeds, {confidence:.0%} two-level "
                 "bootstrap interval (seeds, then users)", fontsize=9)
    fig.tight_layout()
    return fig


def cross_country_heatmap(matrix: pd.DataFrame, title: str, sd: pd.DataFrame | None = None,
                          difference: bool = False) -> plt.Figure:
    """Accuracy of each model (rows) on each country's held-out pairs (columns): a sequential colormap for
    absolute accuracy, a diverging one centred on 0 for a `difference` (e.g. minus the global RM's); with `sd`
    (same shape: the sd over seeds) each cell reads 'mean ± sd'."""
    fig, ax = plt.subplots(figsize=(1.25 * matrix.shape[1] + 2, 0.6 * matrix.shape[0] + 1.5))
    annot: bool | np.ndarray = True
    if sd is not None:
        annot = np.vectorize(lambda m, s: "" if not np.isfinite(m) else
                             f"{m:.2f}" + (f"\n±{s:.2f}" if np.isfinite(s) else ""))(
            matrix.to_numpy(dtype=float), sd.reindex_like(matrix).to_numpy(dtype=float))
    colours = {"cmap": "vlag", "center": 0.0} if difference else {"cmap": "viridis"}
    sns.heatmap(matrix, annot=annot, fmt=".2f" if sd is None else "", ax=ax, annot_kws={"fontsize": 8}, **colours)
    ax.set(xlabel="test pairs of country", ylabel="model",
           title=title + ("\n(± one sd over run seeds)" if sd is not None else ""))
    return fig


def learning_curves(curves: pd.DataFrame, global_accuracy: pd.Series, countries: list[str]) -> plt.Figure:
    """Accuracy on all held-out pairs against training pairs (log x), one panel per country.

    `curves` rows: country, arm, seed, trained, offered, accuracy_all. Solid: against the pairs each arm
    trains on; dotted (scpo): against the pairs offered to it before its filter. Points are seed means,
    error bars one sd over seeds; the dashed line is the untouched global RM (`global_accuracy` by country).
    """
    columns = min(4, len(countries))
    rows = math.ceil(len(countries) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(max(3.8 * columns, 5.5), 3.2 * rows), squeeze=False, sharey=True)
    for ax, country in zip(axes.flat, countries):
        part = curves[curves.country == country]
        for i, (arm, group) in enumerate(part.groupby("arm", sort=True)):
            stats = group.groupby("fraction").agg(trained=("trained", "mean"), offered=("offered", "mean"),
                                                  mean=("accuracy_all", "mean"), sd=("accuracy_all", "std"))
            color = f"C{i}"
            ax.errorbar(stats.trained, stats["mean"], yerr=stats.sd.fillna(0), marker="o", ms=3, capsize=2,
                        color=color, label=f"{arm} (pairs trained on)")
            if not np.allclose(stats.trained, stats.offered):
                ax.plot(stats.offered, stats["mean"], ls=":", marker=".", color=color, label=f"{arm} (pairs offered)")
        ax.axhline(global_accuracy[country], color="k", ls="--", lw=1, label="global RM")
        ax.set_xscale("log")
        plain_log_axis(ax.xaxis)
        ax.set(title=country, xlabel="training pairs (log)", ylabel="accuracy, all held-out pairs")
    for ax in axes.flat[len(countries):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("Points: mean over run seeds; error bars: one sd over run seeds; dashed: the untouched global RM",
                 fontsize=9)
    fig.tight_layout()
    return fig


def tradeoff_scatter(points: pd.DataFrame, best: int, configured: int | None, title: str) -> plt.Figure:
    """The study's Figure 3: true-country (x) vs all-country (y) accuracy, log-log, one point per (tau, beta).

    `points` rows: tau, beta, x_mean, x_sd, y_mean, y_sd (sd over seeds, drawn as error bars); colour is
    tau, marker beta. `best` (circled red) and `configured` (params' tau and beta, a black square) index rows.
    """
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    markers = dict(zip(sorted(points.beta.unique()), "os^Dvp*hX"))
    taus = sorted(points.tau.unique())
    palette = dict(zip(taus, sns.color_palette("viridis", len(taus))))
    for row in points.itertuples():
        ax.errorbar(row.x_mean, row.y_mean, xerr=0 if np.isnan(row.x_sd) else row.x_sd,
                    yerr=0 if np.isnan(row.y_sd) else row.y_sd, fmt=markers[row.beta], color=palette[row.tau],
                    ms=6, elinewidth=0.6, capsize=1.5, alpha=0.9)
    chosen = points.loc[best]
    ax.scatter([chosen.x_mean], [chosen.y_mean], s=320, facecolors="none", edgecolors="red", linewidths=2,
               label=f"best: tau {chosen.tau:g}, beta {chosen.beta:g}", zorder=5)
    if configured is not None:
        here = points.loc[configured]
        ax.scatter([here.x_mean], [here.y_mean], s=140, marker="s", facecolors="none", edgecolors="black",
                   label=f"params: tau {here.tau:g}, beta {here.beta:g}", zorder=5)
    for tau, color in palette.items():
        ax.plot([], [], "o", color=color, label=f"tau {tau:g}" + (" (no filter)" if tau >= 1 else ""))
    for beta, marker in markers.items():
        ax.plot([], [], marker, color="grey", label=f"beta {beta:g}" + (" (no weights)" if np.isinf(beta) else ""))
    scale = "log" if (points.x_mean > 0).all() and (points.y_mean > 0).all() else "linear"  # log of 0: no
    ax.set_xscale(scale)
    ax.set_yscale(scale)
    if scale == "log":
        plain_log_axis(ax.xaxis)
        plain_log_axis(ax.yaxis)
    ax.set(xlabel=f"true-country accuracy (pairs the global RM gets wrong), {scale}",
           ylabel=f"all-country accuracy (all held-out pairs), {scale}",
           title=f"{title}\npoints: mean over run seeds; error bars: one sd over run seeds")
    ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
    return fig


def grouped_bars(frame: pd.DataFrame, x: str, y: str, hue: str, title: str, ylabel: str,
                 hue_order: list[str] | None = None, order: list[str] | None = None) -> plt.Figure:
    """Bars of the seed mean of `y` by `x` and `hue`, error bars one sd over the rows (seeds) of each bar."""
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * frame[x].nunique() + 2), 3.8))
    sns.barplot(data=frame, x=x, y=y, hue=hue, hue_order=hue_order, order=order, errorbar="sd", ax=ax)
    ax.set(title=f"{title}\nbars: mean over run seeds; error bars: one sd over run seeds", xlabel="", ylabel=ylabel)
    ax.tick_params(axis="x", rotation=20)
    ax.legend(fontsize=7)
    return fig


def facet_bars(frame: pd.DataFrame, x: str, y: str, hue: str, facet: str, title: str,
               order: list[str] | None = None, hue_order: list[str] | None = None) -> plt.Figure:
    """One panel of `grouped_bars` per value of `facet` (its own y axis), a zero line in each; the title states the
    error bars (one sd over the rows, the run seeds, of each bar)."""
    values = list(dict.fromkeys(frame[facet]))
    fig, axes = plt.subplots(1, len(values), figsize=(4.6 * len(values), 3.8), squeeze=False)
    for ax, value in zip(axes[0], values):
        sns.barplot(data=frame[frame[facet] == value], x=x, y=y, hue=hue, order=order, hue_order=hue_order,
                    errorbar="sd", ax=ax)
        ax.axhline(0.0, color="k", lw=0.8)
        ax.set(title=str(value).replace("_", " "), xlabel="", ylabel=str(value).replace("_", " "))
        ax.legend(fontsize=7)
    fig.suptitle(f"{title}; bars: mean over run seeds, error bars: one sd over run seeds", fontsize=9)
    fig.tight_layout()
    return fig


def regime_map(table: pd.DataFrame, comparisons: list[str], confidence: float, title: str) -> plt.Figure:
    """One heatmap per comparison 'a - b' over the map's points (rows: extreme-annotator share, columns: country
    share): the mean over seeds of the paired difference, each cell 'mean [low, high]' with its interval, and
    a box around a cell whose interval excludes 0 (`regimes.differences_table` rows of one test set)."""
    fig, axes = plt.subplots(1, len(comparisons), figsize=(4.3 * len(comparisons) + 0.8, 3.9), squeeze=False)
    limit = float(np.nanmax(np.abs(table["mean"]))) if len(table) and np.isfinite(table["mean"]).any() else 0.01
    for ax, comparison in zip(axes[0], comparisons):
        part = table[table.comparison == comparison]
        grid = lambda column: part.pivot(index="extreme_share", columns="country_share", values=column)  # noqa: E731
        means = grid("mean")
        text = np.vectorize(lambda m, lo, hi: f"{m:+.3f}\n[{lo:+.3f}, {hi:+.3f}]" if np.isfinite(m) else "n/a")(
            means.to_numpy(dtype=float), grid("ci_low").to_numpy(dtype=float), grid("ci_high").to_numpy(dtype=float))
        sns.heatmap(means, annot=text, fmt="", cmap="vlag", center=0.0, vmin=-limit, vmax=limit, ax=ax, cbar=False,
                    annot_kws={"fontsize": 7})
        for (i, j), excludes in np.ndenumerate(grid("excludes_zero").to_numpy(dtype=bool)):
            if excludes:
                ax.add_patch(plt.Rectangle((j, i), 1, 1, fill=False, edgecolor="k", lw=2))
        ax.set(title=comparison, xlabel="country share of a typical annotator's variance",
               ylabel="extreme-annotator share")
        ax.invert_yaxis()
    fig.suptitle(f"{title}\nmean over worlds (run seeds), {confidence:.0%} paired interval; boxed: excludes 0",
                 fontsize=9)
    fig.tight_layout()
    return fig


def message_figure(message: str) -> plt.Figure:
    """A small figure that only says `message` (a figure that does not apply to this run)."""
    fig, ax = plt.subplots(figsize=(5, 1.2))
    ax.text(0.5, 0.5, message, ha="center", va="center")
    ax.set_axis_off()
    return fig
