"""The analysis stages' numbers (05, 08), from saved rewards: every model of a country on every test set.

`load_runs` reads what stage 03 and a training stage (04, or 07's shuffled-label runs) wrote; `Runs.models`
is the one place that pairs the untouched global RM with each trained arm of a country and seed, and every
table below (accuracy, cross-country matrix, benign/divergent bands, controls) is computed through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scpo import analysis, artifacts, evaluation, goqa, paired


@dataclass(frozen=True)
class Runs:
    """Stage 03's pairs per run seed, and each trained arm's rewards per (run seed, country slug)."""

    countries: dict[str, str]  # slug -> the country's name in the data
    seeds: tuple[int, ...]
    pairs: dict[int, pd.DataFrame]
    scores: dict[tuple[int, str], pd.DataFrame]  # columns: arms; index: utterance id

    def test(self, seed: int, name: str | None = None) -> pd.DataFrame:
        """The held-out pairs of a run seed (of one country, by name)."""
        test = self.pairs[seed][self.pairs[seed].split == "test"]
        return test if name is None else test[test.country == name]

    def models(self, seed: int, slug: str, arms: Sequence[str], pairs: pd.DataFrame) -> dict[str, pd.Series]:
        """Rewards by model: the global RM's on `pairs` (from their global columns), then each arm of `slug`'s."""
        return {"global": evaluation.global_scores(pairs)} | {arm: self.scores[(seed, slug)][arm] for arm in arms}


def load_runs(countries: dict[str, str], seeds: Sequence[int], scores: str = "test_scores",
              pairs: dict[int, pd.DataFrame] | None = None) -> Runs:
    """The runs of `scores` ("test_scores": stage 04; "shuffled_scores": stage 07) with stage 03's pairs
    (or `pairs`, e.g. with shuffled labels)."""
    pairs = pairs if pairs is not None else {seed: artifacts.read("selected_pairs", seed=seed) for seed in seeds}
    rewards = {(seed, slug): artifacts.model_scores(scores, slug, seed) for seed in seeds for slug in countries}
    return Runs(dict(countries), tuple(seeds), pairs, rewards)


def accuracy_results(runs: Runs, arms: Sequence[str], samples: int, rng: np.random.Generator) -> pd.DataFrame:
    """`evaluation.evaluate` of every model of every country on its held-out pairs, per run seed (the bootstrap
    draws from `rng` in seed, then country order)."""
    results = []
    for seed in runs.seeds:
        test = runs.test(seed)
        for slug, name in runs.countries.items():
            rows = evaluation.evaluate(test[test.country == name], runs.models(seed, slug, arms, test), samples, rng)
            results.append(rows.assign(seed=seed, country=name))
    return pd.concat(results, ignore_index=True)


def answer_similarity(runs: Runs, arms: Sequence[str]) -> pd.DataFrame:
    """GlobalOpinionQA's measure per (seed, country, model): mean over the country's held-out questions of
    1 - Jensen-Shannon distance between a softmax of the model's option rewards and the answer shares.
    Empty (same columns) on PRISM, which has no answer shares."""
    rows = []
    for seed in runs.seeds:
        if not artifacts.exists("answer_shares", seed=seed):
            continue
        shares = artifacts.read("answer_shares", seed=seed).query("split == 'test'")
        global_all = artifacts.read("utterance_scores", seed=seed).set_index("utterance_id").global_score
        for slug, name in runs.countries.items():
            models = {"global": global_all} | {arm: runs.scores[(seed, slug)][arm] for arm in arms}
            own = shares[shares.country == name]
            rows += [{"seed": seed, "country": name, "model": model, "questions": len(own),
                      "similarity": goqa.distribution_similarity(own, scores).mean()} for model, scores in models.items()]
    return pd.DataFrame(rows, columns=["seed", "country", "model", "questions", "similarity"])


def similarity_over_seeds(similarity: pd.DataFrame) -> pd.DataFrame:
    """`answer_similarity` per (country, model): mean and sd over run seeds (columns country, model, mean, std)."""
    return similarity.groupby(["country", "model"]).similarity.agg(["mean", "std"]).reset_index()


def edited_ratio(runs: Runs) -> pd.DataFrame:
    """Per study country, pooled over seeds: the share of training pairs the filter keeps, and of held-out
    pairs the global RM ranks wrongly."""
    study = pd.concat(p[p.country.isin(runs.countries.values())] for p in runs.pairs.values())
    study = study.assign(global_wrong=study.global_chosen < study.global_rejected)
    return pd.DataFrame({
        "train kept (F < tau)": study[study.split == "train"].groupby("country").keep.mean(),
        "test disagreement (r+ < r-)": study[study.split == "test"].groupby("country").global_wrong.mean()})


@dataclass(frozen=True)
class CrossCountry:
    """One arm's models of each study country (rows) on every country's held-out pairs (columns)."""

    matrix: pd.DataFrame  # accuracy, mean over seeds; own country on the diagonal
    matrix_sd: pd.DataFrame
    delta: pd.DataFrame  # accuracy minus the global RM's, seed by seed, then mean
    delta_sd: pd.DataFrame
    seed_deltas: tuple[pd.DataFrame, ...] = ()  # the same difference in each run seed, in `runs.seeds` order


def cross_country(runs: Runs, arm: str) -> CrossCountry:
    """The cross-country matrices of `arm` (and the global RM's row), mean and sd over run seeds."""
    matrices = []
    for seed in runs.seeds:
        test = runs.test(seed)
        matrices.append(evaluation.cross_country_matrix(
            test, {"global": evaluation.global_scores(test)} | {slug: runs.scores[(seed, slug)][arm] for slug in runs.countries}))
    stacked = pd.concat(matrices)
    matrix = stacked.groupby(level=0, sort=False).mean().dropna(axis=1, how="all")  # NaN: no test pairs
    names = list(runs.countries.values())
    matrix = matrix[[n for n in names if n in matrix] + sorted(set(matrix) - set(names))]  # diagonal first
    deltas = pd.concat([m.drop(index="global") - m.loc["global"] for m in matrices])
    return CrossCountry(matrix, stacked.groupby(level=0, sort=False).std().reindex_like(matrix),
                        deltas.groupby(level=0, sort=False).mean()[matrix.columns],
                        deltas.groupby(level=0, sort=False).std()[matrix.columns],
                        tuple(m.drop(index="global") - m.loc["global"] for m in matrices))


def home_and_away(delta: pd.DataFrame, countries: dict[str, str]) -> dict:
    """From the gain matrix: each country model's gain at home, its mean gain on the other study countries,
    and the mean gain on the majority countries (columns that are no study country; NaN if none)."""
    own = {name: float(delta.loc[slug, name]) for slug, name in countries.items()}
    others = {name: float(delta.loc[slug].drop(name).mean()) for slug, name in countries.items()}
    majority = [c for c in delta.columns if c not in countries.values()]
    on_majority = float(delta[majority].mean().mean()) if majority else float("nan")
    return {"own": own, "others": others, "majority": majority, "on_majority": on_majority}


def home_and_away_intervals(bias: CrossCountry, countries: dict[str, str], confidence: float, samples: int,
                            rng: np.random.Generator) -> dict[str, tuple[float, float, float]]:
    """Per run seed, the home advantage (mean over countries of the gain at home minus the mean gain on the other
    study countries) and the mean gain on the majority countries; each as (mean over seeds, interval) from a
    bootstrap over run seeds (`paired.two_level_interval` with no user level: each seed has its own user split,
    so the seed-to-seed spread carries the held-out users and the training). Absent with fewer than two
    seeds ('majority' also without majority countries). With 3 seeds the interval excludes 0 only when every seed agrees in sign."""
    per_seed: dict[str, list[float]] = {"home_advantage": [], "majority": []}
    for delta in bias.seed_deltas:
        gains = home_and_away(delta, countries)
        per_seed["home_advantage"].append(float(np.mean([gains["own"][c] - gains["others"][c] for c in gains["own"]])))
        per_seed["majority"].append(gains["on_majority"])
    intervals = {}
    for name, values in per_seed.items():
        point = np.asarray(values, dtype=float)
        if len(point) >= 2 and np.isfinite(point).all():  # one seed has no spread: no interval
            low, high = paired.two_level_interval(point, np.tile(point[:, None], (1, samples)), confidence, rng)
            intervals[name] = (float(point.mean()), low, high)
    return intervals


def band_accuracy(runs: Runs, arms: Sequence[str]) -> pd.DataFrame:
    """Accuracy of every model on each country's held-out pairs split by SCPO weight band (benign: w = 1,
    divergent: w < 1), per seed: seed, country, band, model, n_pairs, accuracy."""
    rows = []
    for seed in runs.seeds:
        for slug, name in runs.countries.items():
            own = runs.test(seed, name)
            for band, part in own.groupby(analysis.weight_band(own.weight)):
                rows += [{"seed": seed, "country": name, "band": band, "model": model, "n_pairs": len(part),
                          "accuracy": evaluation.pairwise_accuracy(*evaluation.pair_scores(part, scores))}
                         for model, scores in runs.models(seed, slug, arms, own).items()]
    return pd.DataFrame(rows)


def accuracy_against_truth(runs: Runs, arms: Sequence[str]) -> pd.DataFrame:
    """Macro accuracy per (seed, model) against the held-out labels and, on simulated data, the planted truth
    (NaN on real data)."""
    rows = []
    for seed in runs.seeds:
        for slug, name in runs.countries.items():
            test = runs.test(seed, name)
            for model, scores in runs.models(seed, slug, arms, test).items():
                report = evaluation.accuracy_report(test, scores)
                rows.append({"seed": seed, "country": name, "model": model, "labels": report["accuracy_all"],
                             "planted truth": report.get("accuracy_truth", np.nan)})
    return pd.DataFrame(rows).groupby(["seed", "model"], as_index=False)[["labels", "planted truth"]].mean()


def with_shuffled_labels(real: Runs, shuffle_seed: int) -> Runs:
    """Stage 07's runs: each seed's pairs with the study countries' labels shuffled as stage 07 shuffled
    them (seed `shuffle_seed` + run seed), and the control arms' rewards."""
    study = list(real.countries.values())
    pairs = {seed: analysis.shuffle_country_labels(real.pairs[seed], study, shuffle_seed + seed) for seed in real.seeds}
    return load_runs(real.countries, real.seeds, "shuffled_scores", pairs)


def label_control(conditions: dict[str, Runs], arms: Sequence[str]) -> pd.DataFrame:
    """Per condition (e.g. real and shuffled labels), seed, arm and study country: the country model's gain
    over the global RM at home (`own_gain`), that gain minus its mean gain on the other study countries
    (`home_advantage`), and its accuracy on the country's divergent (w < 1) held-out pairs."""
    first = next(iter(conditions.values()))
    study, slugs = list(first.countries.values()), {name: slug for slug, name in first.countries.items()}
    rows = []
    for seed in first.seeds:
        for condition, runs in conditions.items():
            test = runs.test(seed)
            test = test[test.country.isin(study)]
            for arm in arms:
                scores = {slug: runs.scores[(seed, slug)][arm] for slug in runs.countries}
                matrix = evaluation.cross_country_matrix(test, {"global": evaluation.global_scores(test)} | scores)
                for row in analysis.home_and_away_gains(matrix, runs.countries).itertuples():
                    own = test[test.country == row.country]
                    divergent = own[analysis.weight_band(own.weight) == "divergent"]
                    rows.append({"condition": condition, "seed": seed, "arm": arm, "country": row.country,
                                 "own_gain": row.own_gain, "home_advantage": row.home_advantage,
                                 "divergent_accuracy": evaluation.pairwise_accuracy(
                                     *evaluation.pair_scores(divergent, scores[slugs[row.country]]))})
    return pd.DataFrame(rows)


def headline(summary: pd.DataFrame, accuracy: pd.DataFrame, arms: Sequence[str],
             differences: pd.DataFrame | None = None) -> dict:
    """The few numbers an experiment table leads with: macro accuracy per model and test set (mean over run
    seeds), and SCPO minus full fine-tuning on all held-out pairs, paired by seed (mean and per-seed values;
    with `differences` from `paired.paired_differences`, its macro interval)."""
    macro = summary[summary.country == "macro average"]
    out = {"accuracy": {test_set: {r.model: r.mean for r in rows.itertuples()} for test_set, rows in macro.groupby("test_set")}}
    if {"scpo", "full"} <= set(arms):
        per_seed = accuracy[accuracy.test_set == "all"].groupby(["seed", "model"]).accuracy.mean().unstack("model")
        difference = per_seed.scpo - per_seed.full
        out["scpo_minus_full"] = {"all": {"mean": float(difference.mean()), "per_seed": [float(d) for d in difference]}}
        row = (differences.query("country == 'macro average' and test_set == 'all' and comparison == 'scpo - full'")
               if differences is not None else ())
        if len(row):
            out["scpo_minus_full"]["all"] |= {"ci_low": float(row.ci_low.iloc[0]), "ci_high": float(row.ci_high.iloc[0])}
    return out
