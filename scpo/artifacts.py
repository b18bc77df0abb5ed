"""The files stages hand each other: one name each, the stage that writes it, and where it lies.

Every notebook and module reads and writes these through `path` and `read` (never a literal file name),
and `tests/test_artifacts.py` checks each location against the writing stage's outputs in `dvc.yaml`, so a
renamed file fails a test instead of a stage. Paths are relative to the run root (`scpo.paths.run_root`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from scpo import io, paths


@dataclass(frozen=True)
class Artifact:
    """A file one stage writes and later stages read."""

    stage: str  # the dvc.yaml stage (without its @item) that writes it
    template: str  # location under the run root; fields {seed} (a run seed) and {country} (a slug)
    description: str


ARTIFACTS: dict[str, Artifact] = {
    "pairs": Artifact("data", "artifacts/01_data/seed{seed}/pairs.parquet",
                      "preference pairs of every country, split by user (or question)"),
    "utterances": Artifact("data", "artifacts/01_data/seed{seed}/utterances.parquet",
                           "every response (or option) with its prompt and split"),
    "answer_shares": Artifact("data", "artifacts/01_data/seed{seed}/answer_shares.parquet",
                              "GlobalOpinionQA's answer shares per country and question (PRISM runs: absent)"),
    "aggregate_pairs": Artifact("data", "artifacts/01_data/seed{seed}/aggregate_pairs.parquet",
                                "the embedded global RM's own training pairs: the simulated aggregate population, "
                                "never study users (embedded data only)"),
    "utterance_scores": Artifact("global_scoring", "artifacts/02_global_scoring/seed{seed}/utterance_scores.parquet",
                                 "the global RM's reward of every response"),
    "planted_facts": Artifact("global_scoring", "artifacts/02_global_scoring/seed{seed}/planted_facts.json",
                              "what the simulated world planted: per world and per country (scpo.planted)"),
    "selected_pairs": Artifact("filter_weight", "artifacts/03_filter_weight/seed{seed}/pairs.parquet",
                               "the pairs with global rewards, keep (F < tau), weight and inverse_weight"),
    "test_scores": Artifact("training", "artifacts/04_training/{country}/seed{seed}/test_scores.parquet",
                            "each arm's reward of every held-out response, by the saved model"),
    "training_metrics": Artifact("training", "reports/metrics/04_training-{country}.json",
                                 "each run's summary (pairs, weights, held-out accuracy)"),
    "bias_metrics": Artifact("bias_analysis", "reports/metrics/05_bias_analysis.json",
                             "macro results, cross-country gains, benign/divergent accuracy"),
    "efficiency_curves": Artifact("data_efficiency", "artifacts/06_data_efficiency/{country}/curves.parquet",
                                  "accuracy of full and scpo on nested subsets of the training pairs"),
    "efficiency_global": Artifact("data_efficiency", "artifacts/06_data_efficiency/{country}/global.parquet",
                                  "the global RM's accuracy on the same held-out pairs"),
    "shuffled_scores": Artifact("shuffled_labels", "artifacts/07_shuffled_labels/{country}/seed{seed}/test_scores.parquet",
                                "the control arms' rewards after shuffling country labels"),
}


def path(name: str, **fields: Any) -> Path:
    """Where artifact `name` lies for these fields, e.g. `path("pairs", seed=0)`; nothing is created (the writers
    in `scpo.io` make the folder), so reading a missing artifact leaves no empty folder behind."""
    return paths.run_root() / ARTIFACTS[name].template.format(**fields)


def read(name: str, **fields: Any) -> Any:
    """Artifact `name`: a DataFrame for parquet, the parsed value for JSON."""
    location = path(name, **fields)
    return io.read_table(location) if location.suffix == ".parquet" else io.read_json(location)


def exists(name: str, **fields: Any) -> bool:
    """Whether artifact `name` was written (an optional one: GlobalOpinionQA's answer shares)."""
    return path(name, **fields).is_file()


def model_scores(name: str, country: str, seed: int) -> pd.DataFrame:
    """Rewards of held-out responses by the models of `country` and `seed` (columns: arms), indexed by
    utterance id; `name` is "test_scores" (stage 04) or "shuffled_scores" (stage 07)."""
    return read(name, country=country, seed=seed).set_index("utterance_id")


def write_model_scores(scores: dict[str, pd.Series], name: str, country: str, seed: int) -> Path:
    """Write each arm's rewards (by utterance id) as artifact `name` ("test_scores" or "shuffled_scores")."""
    return io.write_table(pd.DataFrame(scores).rename_axis("utterance_id").reset_index(),
                          path(name, country=country, seed=seed))
