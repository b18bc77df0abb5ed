"""The study's analyses beyond the results table: data efficiency, the tau x beta trade-off, benign vs
divergent pairs, qualitative examples, and the shuffled-labels control.

Pure functions on the pipeline's tables (pairs from stage 03, per-run accuracies); the notebooks train
and plot, these decide what is compared with what.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

# --- data efficiency --------------------------------------------------------------------------------


def nested_subset_mask(n: int, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of the first ceil(fraction * n) items of one seeded permutation of range(n).

    The permutation depends on (n, seed) only, so the subsets of one seed are nested: a smaller
    fraction's items are all in every larger fraction's. At least one item for any fraction > 0.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    order = np.random.default_rng(seed).permutation(n)
    mask = np.zeros(n, dtype=bool)
    mask[order[:max(1, math.ceil(fraction * n))] if n else []] = True
    return mask


def pairs_to_reach(sizes: Sequence[float], accuracies: Sequence[float], target: float) -> float:
    """The fewest training pairs at which a learning curve first reaches `target` accuracy.

    `sizes` ascending (> 0), `accuracies` the curve's values there; between two measured sizes the
    accuracy is interpolated linearly in log(size) (sizes are spaced geometrically). NaN if the curve
    never reaches `target`; the smallest size if it is reached there already.
    """
    sizes, accuracies = np.asarray(sizes, dtype=float), np.asarray(accuracies, dtype=float)
    if sizes.shape != accuracies.shape or sizes.ndim != 1 or not len(sizes):
        raise ValueError("sizes and accuracies must be 1-d and of equal, non-zero length")
    if (sizes <= 0).any() or (np.diff(sizes) <= 0).any():
        raise ValueError(f"sizes must be positive and strictly ascending, got {sizes.tolist()}")
    reached = np.flatnonzero(accuracies >= target)
    if not len(reached):
        return math.nan
    i = int(reached[0])
    if i == 0:
        return float(sizes[0])
    low, high = np.log(sizes[i - 1]), np.log(sizes[i])
    step = (target - accuracies[i - 1]) / (accuracies[i] - accuracies[i - 1])
    return float(np.exp(low + step * (high - low)))


def crossing_status(sizes: Sequence[float], accuracies: Sequence[float], target: float) -> str:
    """How `pairs_to_reach` found its value: "exact" (reached between two measured sizes), "at most" (reached
    at the smallest size already: the true crossing may lie anywhere below it, the value is an upper bound),
    or "not reached"."""
    reached = np.flatnonzero(np.asarray(accuracies, dtype=float) >= target)
    return "not reached" if not len(reached) else "at most" if reached[0] == 0 else "exact"


def ratio_bound(numerator_status: str, denominator_status: str) -> str:
    """What a ratio of two crossings is, from their statuses: "=" (both exact), "<=" (the numerator is an upper
    bound), ">=" (the denominator is), "undetermined" (both are), or "not reached" (the denominator's curve
    never reached the target)."""
    if denominator_status == "not reached" or numerator_status == "not reached":
        return "not reached"
    return {("exact", "exact"): "=", ("at most", "exact"): "<=", ("exact", "at most"): ">=",
            ("at most", "at most"): "undetermined"}[(numerator_status, denominator_status)]


EFFICIENCY_DEFINITIONS = {
    "offered_ratio": "pairs full fine-tuning needs to reach its own accuracy with all pairs ÷ pairs offered to SCPO "
                     "(before its filter: the pairs someone had to annotate) for it to reach that accuracy; first "
                     "crossing of the seed-mean learning curve, interpolated in log pairs",
    "pairs_ratio": "the same, counting the pairs SCPO trains on (after its filter)",
    "size_ratio": "|D_full| / |D_scpo|: pairs full fine-tuning trains on ÷ pairs SCPO trains on (after filtering), "
                  "with all of the country's training pairs offered; a property of the filter, not of learning",
    "gain_per_pair_ratio": "SCPO's accuracy gain over the global RM per training pair ÷ full fine-tuning's, with all "
                           "pairs offered (seed means; undefined where full fine-tuning gains nothing, as a ratio of "
                           "a tiny gain would say nothing)",
}
CENSORING = ("A crossing at the smallest subset is an upper bound (the curve may have got there with fewer pairs), so "
             "a ratio is marked '≤' (full's crossing is the bound), '≥' (SCPO's is), 'undetermined' (both are) or "
             "'not reached' (SCPO's curve never got to full's accuracy); only '=' is a measured ratio.")


def efficiency_summary(curves: pd.DataFrame, global_accuracy: float, full: str = "full",
                       scpo: str = "scpo") -> dict[str, float | str]:
    """Every reading of "X times more data-efficient" for one learning curve per arm (`EFFICIENCY_DEFINITIONS`),
    with how each crossing and ratio is censored (`crossing_status`, `ratio_bound`).

    `curves`: one row per (arm, fraction) with the `trained` pairs, `offered` pairs and `accuracy`; fraction
    1.0 must be present for both arms. A ratio r means "(r - 1) x 100 % more data-efficient"; NaN where SCPO
    never reaches full fine-tuning's accuracy.
    """
    arms = {arm: curves[curves.arm == arm].sort_values("fraction") for arm in (full, scpo)}
    for arm, curve in arms.items():
        if not len(curve) or curve.fraction.iloc[-1] != 1.0:
            raise ValueError(f"arm '{arm}' has no learning-curve point at fraction 1.0")
    whole = {arm: curve.iloc[-1] for arm, curve in arms.items()}
    target = float(whole[full].accuracy)
    crossings = {"full_pairs_to_target": (arms[full].trained, arms[full].accuracy),
                 "scpo_pairs_to_target": (arms[scpo].trained, arms[scpo].accuracy),
                 "scpo_offered_to_target": (arms[scpo].offered, arms[scpo].accuracy)}
    values = {name: pairs_to_reach(x, y, target) for name, (x, y) in crossings.items()}
    status = {name: crossing_status(x, y, target) for name, (x, y) in crossings.items()}
    gain = {arm: (float(row.accuracy) - global_accuracy) / float(row.trained) for arm, row in whole.items()}
    return {"target_accuracy": target, "full_accuracy": target, "scpo_accuracy": float(whole[scpo].accuracy),
            "full_pairs": float(whole[full].trained), "scpo_pairs": float(whole[scpo].trained),
            "size_ratio": float(whole[full].trained) / float(whole[scpo].trained), **values,
            **{name.replace("_to_target", "_status"): value for name, value in status.items()},
            "pairs_ratio": values["full_pairs_to_target"] / values["scpo_pairs_to_target"],
            "pairs_ratio_bound": ratio_bound(status["full_pairs_to_target"], status["scpo_pairs_to_target"]),
            "offered_ratio": values["full_pairs_to_target"] / values["scpo_offered_to_target"],
            "offered_ratio_bound": ratio_bound(status["full_pairs_to_target"], status["scpo_offered_to_target"]),
            "full_gain_per_1000_pairs": 1000 * gain[full], "scpo_gain_per_1000_pairs": 1000 * gain[scpo],
            "gain_per_pair_ratio": gain[scpo] / gain[full] if gain[full] > 0 else math.nan}


def efficiency_per_seed(curves: pd.DataFrame, global_accuracy: pd.DataFrame) -> pd.DataFrame:
    """`efficiency_summary` of each (country, seed) learning curve of stage 06 (`curves`: country, seed, arm,
    fraction, offered, trained, accuracy_all), against the global RM's accuracy of that country and seed
    (`global_accuracy`: country, seed, accuracy_all). One row per (country, seed)."""
    base = global_accuracy.set_index(["country", "seed"]).accuracy_all
    rows = [{"country": name, "seed": seed}
            | efficiency_summary(curve.rename(columns={"accuracy_all": "accuracy"}), float(base[(name, seed)]))
            for (name, seed), curve in curves.groupby(["country", "seed"])]
    return pd.DataFrame(rows)


def efficiency_on_mean_curves(curves: pd.DataFrame, global_accuracy: pd.DataFrame) -> pd.DataFrame:
    """`efficiency_summary` of each country's seed-mean learning curves (the mean over run seeds of accuracy,
    offered and trained pairs at each (arm, fraction)), against the global RM's seed-mean accuracy: the
    documented readings (`EFFICIENCY_DEFINITIONS`). One row per country, with `seeds`."""
    rows = []
    for name, curve in curves.groupby("country"):
        mean = curve.groupby(["arm", "fraction"], as_index=False)[["offered", "trained", "accuracy_all"]].mean()
        base = float(global_accuracy[global_accuracy.country == name].accuracy_all.mean())
        rows.append({"country": name, "seeds": curve.seed.nunique()}
                    | efficiency_summary(mean.rename(columns={"accuracy_all": "accuracy"}), base))
    return pd.DataFrame(rows)


def ratio_of_means(numerator: Sequence[float], denominator: Sequence[float]) -> float:
    """mean(numerator) / mean(denominator), NaN unless the denominator's mean is positive (a ratio of seed
    means, not a mean of per-seed ratios, which explode where one seed's denominator is near 0)."""
    bottom = float(np.mean(denominator))
    return float(np.mean(numerator)) / bottom if bottom > 0 else math.nan


# --- the tau x beta trade-off ----------------------------------------------------------------------

BEST_POINT_RULE = ("the grid point with the highest geometric mean of true-country and all-country accuracy "
                   "(the farthest up and to the right on log-log axes); ties go to the larger tau, then beta")


def best_tradeoff_point(points: pd.DataFrame, x: str = "true_country", y: str = "all_country") -> int:
    """Index label of the best row of `points` (columns tau, beta, x, y) by `BEST_POINT_RULE`."""
    if not len(points):
        raise ValueError("no trade-off points")
    with np.errstate(divide="ignore"):
        score = 0.5 * (np.log(points[x].astype(float)) + np.log(points[y].astype(float)))
    ranked = points.assign(_score=score.fillna(-np.inf)).sort_values(["_score", "tau", "beta"], ascending=False)
    return ranked.index[0]


def points_like_the_best(runs: pd.DataFrame, best: tuple[float, float], confidence: float, samples: int,
                         rng: np.random.Generator) -> tuple[int, int] | None:
    """(how many other grid points the best one cannot be told apart from, how many others there are), or None
    with fewer than two run seeds. Per run seed, the best point's score by `BEST_POINT_RULE` (on the country-mean
    accuracies) minus another point's; a bootstrap over run seeds (`samples` draws with replacement, the same
    draws for every point) gives the interval of its mean, and an interval that includes 0 (or a score of log 0)
    counts the point as not distinguishable. Each run seed draws its own user split and training seed, so the
    seed-to-seed spread carries both the held-out users' and the training's variation; with few seeds the
    interval is coarse, which errs towards "not distinguishable". `runs`: `tradeoff.grid_runs`' rows."""
    columns = ["accuracy_disagreement", "accuracy_all"]  # None in the JSON (an empty test set): object columns
    macro = runs.astype({c: float for c in columns}).groupby(["tau", "beta", "seed"])[columns].mean()
    with np.errstate(divide="ignore"):
        score = (0.5 * (np.log(macro.accuracy_disagreement) + np.log(macro.accuracy_all))).unstack("seed")
    if score.shape[1] < 2:
        return None
    differences = score.loc[[best]].to_numpy() - score.drop(index=[best]).to_numpy()  # others x seeds
    drawn = rng.integers(differences.shape[1], size=(samples, differences.shape[1]))
    with np.errstate(invalid="ignore"):
        means = differences[:, drawn].mean(axis=2)  # others x samples
        tail = (1.0 - confidence) / 2.0
        low, high = np.quantile(means, tail, axis=1), np.quantile(means, 1.0 - tail, axis=1)
    separated = np.isfinite(low) & np.isfinite(high) & ((low > 0) | (high < 0))
    return int((~separated).sum()), len(differences)


# --- bias: benign vs divergent ----------------------------------------------------------------------

def weight_band(weight: pd.Series) -> pd.Series:
    """'benign' where the SCPO weight is 1 (the global RM agrees with the label: r+ >= r-), else
    'divergent' (w < 1: the global RM disagrees; the further, the smaller w)."""
    return pd.Series(np.where(weight.to_numpy() >= 1.0, "benign", "divergent"), index=weight.index, name="band")


# --- the shuffled-labels control --------------------------------------------------------------------

def shuffle_country_labels(pairs: pd.DataFrame, countries: Sequence[str], seed: int) -> pd.DataFrame:
    """`pairs` with the `country` of the users of `countries` permuted across those users (seeded).

    Each user keeps all their pairs and their split; each country keeps its number of users. The split
    draws users without looking at countries, so shuffling after it is the same as shuffling before it.
    Users of other countries (the majority reference countries) keep their labels.
    """
    user_country = pairs.drop_duplicates("user_id").set_index("user_id").country
    chosen = user_country[user_country.isin(list(countries))].sort_index()
    if len(chosen) == 0:
        raise ValueError(f"no users of {list(countries)} to shuffle")
    shuffled = pd.Series(np.random.default_rng(seed).permutation(chosen.to_numpy()), index=chosen.index)
    relabel = pairs.user_id.map(shuffled)
    return pairs.assign(country=relabel.where(relabel.notna(), pairs.country))


# --- qualitative examples (the study's Tables 13 and 14) ----------------------------------------------

def examples_near(pairs: pd.DataFrame, column: str, targets: Sequence[float]) -> pd.DataFrame:
    """For each country and target, the pair whose `column` is closest to the target (first by pair_id
    on ties); one row per (country, target), without repeating a pair within a country."""
    rows = []
    for country, group in pairs.sort_values("pair_id").groupby("country", sort=True):
        used: set[str] = set()
        for target in targets:
            left = group[~group.pair_id.isin(used)]
            if not len(left):
                break
            best = left.loc[(left[column] - target).abs().idxmin()]
            used.add(best.pair_id)
            rows.append(best.to_dict() | {"target": target})
    return pd.DataFrame(rows)


def shorten(text: str, width: int) -> str:
    """`text` on one line, cut to `width` characters with an ellipsis."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[:width - 1] + "…"


# The study's table script picks, per country, the example nearest each of these values of F (Table 13) and w (14).
EXAMPLE_TARGETS = (0.0, 0.25, 0.5, 0.75, 1.0)


# --- country-specific gains (the cross-country matrix, read per model) -------------------------------

def home_and_away_gains(matrix: pd.DataFrame, countries: dict[str, str]) -> pd.DataFrame:
    """Per country model: its accuracy gain over the global RM on its own country's held-out pairs, the
    mean gain on the other study countries' pairs, and the difference (the home advantage).

    `matrix`: `evaluation.cross_country_matrix` with a 'global' row and one row per country slug; columns
    the countries' names (other columns, e.g. majority countries, are ignored here).
    """
    names = list(countries.values())
    delta = matrix.loc[list(countries), names] - matrix.loc["global", names]
    rows = []
    for slug, name in countries.items():
        away = delta.loc[slug].drop(name)
        rows.append({"country": name, "own_gain": float(delta.loc[slug, name]),
                     "other_gain": float(away.mean()) if len(away) else math.nan})
    frame = pd.DataFrame(rows)
    return frame.assign(home_advantage=frame.own_gain - frame.other_gain)
