"""The datasets the data stage reads, registered once: a new dataset is one module plus one line in `REGISTRY`.

Each dataset's module has `prepare(section, folder, split_seed, countries, keep) -> Prepared`: load and
validate the rows, split its units, build the pairs (docs/datasets.md). This module is plain data and
imports no other scpo module, so the config checks `data.dataset` and `data.input` against the registry
without pandas or `datasets`; a dataset's module is imported only when `prepare` runs it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from scpo.config import DataConfig


@dataclass
class Prepared:
    """What every dataset's `prepare` returns and the data stage writes."""

    pairs: pd.DataFrame  # one row per preference pair, with `country` and `split` (train/test)
    utterances: pd.DataFrame  # every text to score once: utterance_id, prompt, response, split
    counts: pd.DataFrame  # per country: units, train/test units and train/test pairs
    facts: dict[str, Any]  # source label, sizes, and every dropped row counted by reason
    answer_shares: pd.DataFrame | None = field(default=None)  # GlobalOpinionQA: the distributional view


@dataclass(frozen=True)
class Dataset:
    """One dataset: the module that prepares it, where `python -m scpo.fetch` gets it, what DVC hashes."""

    module: str  # the module with `prepare(...) -> Prepared`; a dependency of the data stage in dvc.yaml
    hub_id: str  # the Hugging Face dataset `python -m scpo.fetch <name>` snapshots (hub runs: params' data keys)
    files: tuple[str, ...]  # the upstream files its loader reads from a snapshot folder (data.source: local)
    inputs: dict[str, str]  # data.source -> the data.input it requires (the file DVC hashes); local: a snapshot folder
    split_unit: str  # what the split holds out, so that test units are unseen (facts: split_units)

    def prepare_function(self) -> Callable[..., Prepared]:
        """The module's `prepare`, imported now (pandas, `datasets`): only the data stage needs it."""
        return importlib.import_module(self.module).prepare


REGISTRY: dict[str, Dataset] = {
    "prism": Dataset("scpo.data", "HannahRoseKirk/prism-alignment", ("survey.jsonl", "utterances.jsonl"),
                     {"embedded": "scpo/embedded.py", "hub": "scpo/data.py"}, "user"),  # PRISM
    "goqa": Dataset("scpo.goqa", "Anthropic/llm_global_opinions", ("global_opinions.csv",),
                    {"hub": "scpo/goqa.py"}, "question"),  # GlobalOpinionQA
}


def prepare(section: DataConfig, folder: Path, countries: dict[str, str], seed: int = 0) -> Prepared:
    """`section.dataset` loaded from `folder`, validated, split (seed: `section.split_seed` + the run `seed`)
    and paired by its module's `prepare`; pairs kept for `countries` and `section.reference_countries`."""
    keep = set(countries.values()) | set(section.reference_countries)
    prepare_dataset = REGISTRY[section.dataset].prepare_function()
    return prepare_dataset(section, Path(folder), section.split_seed + seed, countries, keep)
