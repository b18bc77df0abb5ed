"""The dataset registry (scpo/dataset.py): the config, `python -m scpo.fetch` and the data stage all read it,
and a dataset registered there is accepted and prepared without another edit."""

import dataclasses
import subprocess
import sys
import types
from pathlib import Path

import pandas as pd
import pytest
import yaml

from scpo import config, data, dataset, fetch, goqa
from scpo.config import ConfigError
from scpo.paths import ROOT

RAW = config.read_params(ROOT / "params.yaml")
SECTION = config.load_section(RAW, "data")
COUNTRIES = {"chile": "Chile"}  # every dataset's fixture has Chile and the reference countries
FIXTURES = ROOT / "tests" / "fixtures"  # tests/fixtures/<name>: a few rows of each dataset, its upstream files
PAIR_COLUMNS = ["pair_id", "user_id", "interaction_id", "turn", "prompt", "chosen", "rejected", "chosen_id",
                "rejected_id", "chosen_score", "rejected_score", "country", "split"]  # what stages 02-08 read


def local(name: str) -> config.DataConfig:
    """The repo's data section, switched to the local snapshot of `name`."""
    return dataclasses.replace(SECTION, dataset=name, source="local", input=f"data/{name}")


def test_every_registered_module_prepares_and_is_a_dependency_of_the_data_stage():
    deps = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["data"]["do"]["deps"]
    for name, entry in dataset.REGISTRY.items():
        path = entry.module.replace(".", "/") + ".py"
        assert path in deps, f"{name}: add {path} to the data stage's deps in dvc.yaml"
        assert callable(entry.prepare_function())
        assert all((ROOT / file).is_file() for file in entry.inputs.values())
        assert entry.inputs.get("hub", path) == path  # a hub run hashes the loader that reads the hub


@pytest.mark.parametrize("name", list(dataset.REGISTRY))
def test_every_dataset_prepares_its_fixture_in_the_pipelines_schema(name):
    entry = dataset.REGISTRY[name]
    assert all((FIXTURES / name / file).is_file() for file in entry.files), f"add tests/fixtures/{name}"
    prepared = dataset.prepare(local(name), FIXTURES / name, COUNTRIES)
    pairs = prepared.pairs
    assert set(PAIR_COLUMNS) <= set(pairs.columns) and pairs.pair_id.is_unique
    assert list(prepared.utterances.columns) == ["utterance_id", "prompt", "response", "split"]
    train, test = (set(pairs.user_id[pairs.split == part]) for part in ("train", "test"))
    assert train and test and not train & test  # split units, not pairs, are held out
    assert prepared.facts["split_units"] == entry.split_unit + "s" and prepared.facts["pairs"] == len(pairs)
    assert {"train_pairs", "test_pairs"} <= set(prepared.counts.columns) and "Chile" in prepared.counts.index


def test_the_registry_holds_what_the_loaders_read():
    assert dataset.REGISTRY["goqa"].files == (goqa.FILE_NAME,)
    inputs = {(name, source): path for name, entry in dataset.REGISTRY.items() for source, path in entry.inputs.items()}
    assert inputs == {("prism", "embedded"): "scpo/embedded.py", ("prism", "hub"): "scpo/data.py",
                      ("goqa", "hub"): "scpo/goqa.py"}  # what config.INPUT_FOR_SOURCE held


@pytest.mark.parametrize("name", ["prism", "goqa"])
def test_the_dispatch_is_what_notebook_01_ran_before_the_registry(name):
    """The if/else stage 01 held, call for call: the same keys of the data section, the same seed and countries."""
    keep = {"Chile"} | set(SECTION.reference_countries)
    got = dataset.prepare(local(name), FIXTURES / name, COUNTRIES, seed=1)
    if name == "prism":
        direct = data.prepare_prism("local", FIXTURES / name, SECTION.prism_hub_id, SECTION.prism_revision,
                                    SECTION.test_size, SECTION.split_seed + 1, COUNTRIES, keep)
    else:
        direct = goqa.prepare_goqa("local", FIXTURES / name, SECTION.goqa_hub_id, SECTION.goqa_revision,
                                   SECTION.test_size, SECTION.split_seed + 1, COUNTRIES, keep,
                                   SECTION.goqa_non_substantive)
    pd.testing.assert_frame_equal(got.pairs, direct.pairs)
    pd.testing.assert_frame_equal(got.utterances, direct.utterances)
    pd.testing.assert_frame_equal(got.counts, direct.counts)
    assert got.facts == direct.facts


def test_a_new_dataset_is_one_module_and_one_registry_line(monkeypatch):
    module = types.ModuleType("scpo_toy")
    module.prepare = lambda section, folder, split_seed, countries, keep: (section.dataset, folder, split_seed, keep)
    monkeypatch.setitem(sys.modules, "scpo_toy", module)
    monkeypatch.setitem(dataset.REGISTRY, "toy", dataset.Dataset("scpo_toy", "someone/toy", ("toy.csv",),
                                                                 {"hub": "scpo/toy.py"}, "question"))
    section = local("toy")  # the config accepts it
    assert dataset.prepare(section, "data/toy", COUNTRIES, seed=2) == \
        ("toy", Path("data/toy"), section.split_seed + 2, {"Chile", *section.reference_countries})
    with pytest.raises(ConfigError, match=r"data.source = 'embedded' is out of range; allowed: local or hub for "
                                          r"dataset toy \(the embedded default simulates PRISM only\)"):
        config.load_section({"data": {**RAW["data"], "dataset": "toy"}}, "data")
    with pytest.raises(SystemExit) as done:  # fetch offers it (to download toy.csv from someone/toy)
        fetch.main(["toy", "--help"])
    assert done.value.code == 0


def test_an_unknown_dataset_names_the_registered_ones():
    with pytest.raises(ConfigError, match=r"data.dataset = 'pism' is out of range; allowed: prism \| goqa"):
        config.load_section({"data": {**RAW["data"], "dataset": "pism"}}, "data")


def test_the_config_imports_no_dataset_module():
    """Importing the config stays light; checking the data section reads the registry, not a dataset's module."""
    code = ("import sys; from scpo import config; from scpo.paths import ROOT\n"
            "assert not {'pandas', 'torch'} & set(sys.modules), 'a heavy import'\n"
            "config.load_section(config.read_params(ROOT / 'params.yaml'), 'data')\n"
            "heavy = {'datasets', 'torch', 'scpo.data', 'scpo.goqa', 'scpo.bench_config'} & set(sys.modules)\n"
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
