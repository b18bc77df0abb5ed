"""`python -m scpo.bench` on a tiny model: every method runs in its own process on the same inputs and
the report holds what the README promises (timings are not asserted: they belong to a machine)."""

import json

import pytest
import yaml

from scpo import bench
from scpo.paths import ROOT
from scpo.profile import write_profile

TINY = {"bench": {"pairs": 400, "warmup_steps": 1, "measure_steps": 3, "released_measure_steps": 1, "interactions": 12,
                  "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
                  "released_max_length": 128, "repeats": 1}, "simulation": {"user_scale": 0.25}}


@pytest.mark.slow  # trains and scores every method side by side: a minute and a half
def test_the_benchmark_measures_every_method_side_by_side(tmp_path):
    overrides = tmp_path / "bench.yaml"
    overrides.write_text(yaml.safe_dump(TINY))
    params = write_profile(ROOT / "params.yaml", overrides, tmp_path / "params.yaml")  # the default data
    out = tmp_path / "bench.json"
    assert bench.main(["--params", str(params), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["train"]) == set(bench.TRAIN_METHODS) and set(result["score"]) == set(bench.SCORE_METHODS)
    assert result["scores_agree"]  # both scoring paths give the same reward to every utterance
    train = result["train"]
    assert train["scpo"]["measured_steps"] == 3 and train["released"]["measured_steps"] == 1
    assert train["scpo"]["sampling"] == "group_by_length" and train["released"]["sampling"] == "random"
    assert train["trl_defaults"]["gradient_checkpointing"] and not train["trl_no_checkpointing"]["gradient_checkpointing"]
    mean_tokens = result["inputs"]["mean_pair_tokens"]
    assert train["released"]["padding_efficiency"] == pytest.approx(mean_tokens / 128, rel=0.5)  # padded to 128
    assert train["scpo"]["padding_efficiency"] > train["trl_defaults"]["padding_efficiency"]  # length-grouped
    for r in [*train.values(), *result["score"].values()]:
        assert r["peak_rss_mb"] > 0 and 0 < r["padding_efficiency"] <= 1
    assert set(result["ratios"]) >= set(bench.TARGETS)


def test_bench_params_are_validated(tmp_path):
    from scpo import config

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["bench"]["batch_size"] = 0
    with pytest.raises(config.ConfigError, match="bench.batch_size = 0 is out of range"):
        config.load_section(raw, "bench")


def test_the_bench_section_lives_beside_the_benchmark():
    from scpo import bench_config, config

    assert config.section_type("bench") is bench_config.BenchConfig  # read on use: the config does not import it
    assert config.section_type("data") is config.DataConfig
