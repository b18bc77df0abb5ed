"""params.yaml validation (scpo/config.py): every stage loads; bad values name their key and range."""

import copy
import math
import re

import pytest
import yaml

from scpo import config
from scpo.config import ConfigError, load_stage
from scpo.paths import ROOT

PARAMS_FILE = ROOT / "params.yaml"
RAW = yaml.safe_load(PARAMS_FILE.read_text())

STAGE_FOR_SECTION = {"data": "data", "simulation": "data", "filtering": "filter_weight",
                     "weighting": "filter_weight", "training": "training", "global_rm": "global_scoring",
                     "scoring": "global_scoring", "evaluation": "bias_analysis", "countries": "filter_weight"}


def write_params(tmp_path, mutate) -> "Path":  # noqa: F821
    """A copy of the repo's params.yaml, changed by `mutate(raw)`, written to tmp_path."""
    raw = copy.deepcopy(RAW)
    mutate(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def setter(dotted: str, value):
    def mutate(raw):
        *parents, key = dotted.split(".")
        node = raw
        for part in parents:
            node = node[part]
        node[key] = value
    return mutate


# ------------------------------------------------------------------------------------------ the repo's params

@pytest.mark.parametrize("stage", list(config.STAGE_PARAMS))
def test_every_stage_loads_from_the_repo_params(stage):
    loaded = load_stage(stage, PARAMS_FILE)
    assert tuple(loaded) == config.stage_sections(stage)
    for section, value in loaded.items():
        expected = config.SECTIONS[section]
        if section == "countries":
            assert value == RAW["countries"]
        elif section in ("arms", "seeds"):
            assert value == tuple(RAW[section])
        else:
            assert isinstance(value, expected)


def test_repo_params_values_come_through_typed():
    cfg = load_stage("filter_weight", PARAMS_FILE)
    assert cfg["filtering"].tau == RAW["filtering"]["tau"] and cfg["weighting"].beta == RAW["weighting"]["beta"]
    rm = load_stage("global_scoring", PARAMS_FILE)["global_rm"]
    assert rm.pool_countries == tuple(RAW["global_rm"]["pool_countries"])
    assert isinstance(rm.training, config.TrainingConfig)
    assert rm.training.max_steps == RAW["global_rm"]["training"]["max_steps"]
    training = load_stage("training", PARAMS_FILE)["training"]
    assert training.trainer_kwargs() == {k: v for k, v in RAW["training"].items() if not k.startswith("lora_")}


def test_sections_are_frozen():
    cfg = load_stage("filter_weight", PARAMS_FILE)
    with pytest.raises(Exception):
        cfg["filtering"].tau = 0.5


# ------------------------------------------------------------------------------------------ out-of-range values

@pytest.mark.parametrize("dotted,value,allowed", [
    ("filtering.tau", 0, "0 < tau <= 1"),
    ("filtering.tau", 0.0, "0 < tau <= 1"),
    ("filtering.tau", 1.5, "0 < tau <= 1"),
    ("filtering.tau", -0.2, "0 < tau <= 1"),
    ("weighting.beta", 0, "beta > 0"),
    ("weighting.beta", -1, "beta > 0"),
    ("weighting.beta", -float("inf"), "beta > 0"),
    ("training.max_steps", 0, ">= 1"),
    ("training.learning_rate", 0, "> 0"),
    ("data.test_size", 1.0, "0 < test_size < 1"),
    ("data.test_size", 0, "0 < test_size < 1"),
    ("data.source", "foo", "embedded | local | hub"),
    ("data.dataset", "opinions", "prism | goqa"),
    ("data.input", "data/prism", "scpo/embedded.py when data.source is embedded"),
    ("scoring.dtype", "float8", "float32 | bfloat16 | float16"),
    ("simulation.extreme_share", 1.0, "0 <= x < 1"),
    ("evaluation.confidence", 1.0, "0 < confidence < 1"),
])
def test_out_of_range_value_names_key_and_allowed_range(tmp_path, dotted, value, allowed):
    path = write_params(tmp_path, setter(dotted, value))
    stage = STAGE_FOR_SECTION[dotted.split(".")[0]]
    with pytest.raises(ConfigError) as info:
        load_stage(stage, path)
    message = str(info.value)
    assert f"{dotted} = {value!r}" in message
    assert f"allowed: {allowed}" in message


def test_nested_training_section_is_validated_and_its_errors_name_the_nested_key(tmp_path):
    path = write_params(tmp_path, setter("global_rm.training.max_steps", 0))
    with pytest.raises(ConfigError, match=re.escape("params: global_rm.training.max_steps = 0 is out of range; "
                                                    "allowed: >= 1")):
        load_stage("global_scoring", path)


def test_every_section_is_checked_whatever_the_stage(tmp_path):
    path = write_params(tmp_path, setter("filtering.tau", 1.5))
    for stage in config.STAGE_PARAMS:  # even stages that never read filtering fail early
        with pytest.raises(ConfigError, match=re.escape("filtering.tau = 1.5")):
            load_stage(stage, path)


def test_goqa_has_no_embedded_source(tmp_path):
    path = write_params(tmp_path, setter("data.dataset", "goqa"))
    with pytest.raises(ConfigError, match=re.escape("data.source = 'embedded' is out of range; allowed: local or "
                                                    "hub for dataset goqa (the embedded default simulates PRISM only)")):
        load_stage("data", path)


@pytest.mark.parametrize("dataset,loader", [("prism", "scpo/data.py"), ("goqa", "scpo/goqa.py")])
def test_input_must_match_the_hub_source(tmp_path, dataset, loader):
    def mutate(raw):
        raw["data"].update(dataset=dataset, source="hub", input="scpo/embedded.py")
    with pytest.raises(ConfigError, match=re.escape(f"allowed: {loader} when data.source is hub")):
        load_stage("data", write_params(tmp_path, mutate))


@pytest.mark.parametrize("dataset", ["prism", "goqa"])
def test_local_source_accepts_any_snapshot_folder(tmp_path, dataset):
    def mutate(raw):
        raw["data"].update(dataset=dataset, source="local", input="data/my_snapshot")
    data = load_stage("data", write_params(tmp_path, mutate))["data"]
    assert (data.dataset, data.source, data.input) == (dataset, "local", "data/my_snapshot")


def test_reference_countries_must_be_a_list_of_names(tmp_path):
    path = write_params(tmp_path, setter("data.reference_countries", "United States"))
    with pytest.raises(ConfigError, match=re.escape("data.reference_countries = 'United States' is not a list")):
        load_stage("data", path)


# ------------------------------------------------------------------------------------------ structure

def test_unknown_key_in_a_section_is_named(tmp_path):
    path = write_params(tmp_path, setter("filtering.taus", 0.5))
    with pytest.raises(ConfigError, match=re.escape("unknown key(s) filtering.taus")):
        load_stage("filter_weight", path)


def test_unknown_key_in_the_nested_training_section_is_named(tmp_path):
    path = write_params(tmp_path, setter("global_rm.training.epochs", 3))
    with pytest.raises(ConfigError, match=re.escape("unknown key(s) global_rm.training.epochs")):
        load_stage("global_scoring", path)


def test_missing_key_is_named(tmp_path):
    path = write_params(tmp_path, lambda raw: raw["weighting"].pop("beta"))
    with pytest.raises(ConfigError, match=re.escape("missing key(s) weighting.beta")):
        load_stage("filter_weight", path)
    path = write_params(tmp_path, lambda raw: raw["training"].pop("seed"))
    with pytest.raises(ConfigError, match=re.escape("missing key(s) training.seed")):
        load_stage("training", path)


def test_unknown_section_is_named(tmp_path):
    path = write_params(tmp_path, lambda raw: raw.update(filterring={"tau": 0.7}))
    with pytest.raises(ConfigError, match=re.escape("unknown section(s) filterring")):
        load_stage("data", path)


def test_missing_section_fails_only_the_stages_that_need_it(tmp_path):
    path = write_params(tmp_path, lambda raw: raw.pop("filtering"))
    with pytest.raises(ConfigError, match=re.escape("missing section(s) filtering needed by stage 'filter_weight'")):
        load_stage("filter_weight", path)
    assert set(load_stage("data", path)) == {"data", "simulation", "countries"}


def test_section_must_be_a_mapping(tmp_path):
    path = write_params(tmp_path, setter("filtering", 0.7))
    with pytest.raises(ConfigError, match="section 'filtering' must be a mapping"):
        load_stage("filter_weight", path)


def test_unknown_stage_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="unknown stage 'deploy'"):
        load_stage("deploy", PARAMS_FILE)
    with pytest.raises(ConfigError, match="params file not found"):
        load_stage("data", tmp_path / "nope.yaml")


def test_file_that_is_not_a_mapping(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_stage("data", path)


# ------------------------------------------------------------------------------------------ YAML number forms

def test_infinite_beta_is_accepted(tmp_path):
    path = write_params(tmp_path, setter("weighting.beta", float("inf")))
    assert "beta: .inf" in path.read_text()  # YAML's spelling of infinity
    beta = load_stage("filter_weight", path)["weighting"].beta
    assert math.isinf(beta) and beta > 0


def test_yaml_inf_written_by_hand_is_accepted(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS_FILE.read_text().replace("beta: 1.1", "beta: .inf"))
    assert math.isinf(load_stage("filter_weight", path)["weighting"].beta)


def test_exponent_without_dot_is_parsed_as_float(tmp_path):
    text = PARAMS_FILE.read_text()
    assert "  learning_rate: 2.0e-4" in text and "    learning_rate: 1.0e-3" in text
    text = text.replace("  learning_rate: 2.0e-4", "  learning_rate: 1e-6")
    text = text.replace("    learning_rate: 1.0e-3", "    learning_rate: 3e-5")
    path = tmp_path / "params.yaml"
    path.write_text(text)
    raw = yaml.safe_load(text)
    assert raw["training"]["learning_rate"] == "1e-6"  # PyYAML (YAML 1.1) reads it as a string
    training = load_stage("training", path)["training"]
    assert isinstance(training.learning_rate, float) and training.learning_rate == 1e-6
    rm = load_stage("global_scoring", path)["global_rm"]
    assert rm.training.learning_rate == 3e-5


def test_quoted_number_strings_and_ints_become_floats(tmp_path):
    def mutate(raw):
        raw["training"]["learning_rate"] = "1e-6"
        raw["filtering"]["tau"] = 1
        raw["weighting"]["beta"] = 2
    path = write_params(tmp_path, mutate)
    cfg = load_stage("filter_weight", path)
    assert cfg["filtering"].tau == 1.0 and isinstance(cfg["filtering"].tau, float)
    assert cfg["weighting"].beta == 2.0 and isinstance(cfg["weighting"].beta, float)
    assert load_stage("training", path)["training"].learning_rate == 1e-6


def test_non_numeric_float_is_named(tmp_path):
    path = write_params(tmp_path, setter("training.learning_rate", "fast"))
    with pytest.raises(ConfigError, match=re.escape("training.learning_rate = 'fast' is not a number")):
        load_stage("training", path)


@pytest.mark.parametrize("value", ["1e3", "100"])
def test_int_field_given_as_string_is_a_config_error(tmp_path, value):
    path = write_params(tmp_path, setter("training.max_steps", value))
    with pytest.raises(ConfigError, match="training.max_steps"):
        load_stage("training", path)


@pytest.mark.parametrize("dotted,value,message", [
    ("scoring.model", 5, "scoring.model = 5 is not a string"),
    ("global_rm.encoder", ["models/x"], "global_rm.encoder = ['models/x'] is not a string or null"),
    ("scoring.model", None, "scoring.model = None is not a string"),
])
def test_text_fields_must_be_strings(tmp_path, dotted, value, message):
    path = write_params(tmp_path, setter(dotted, value))
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_stage("global_scoring", path)


def test_precision_switches_this_machine_lacks_stop_the_first_stage(tmp_path):
    """TF32 passes validation on paper but needs an Ampere-or-newer GPU: refused by the first stage that
    loads params (model_source, then data), naming the key, not by stage 04 after 01-03 ran."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this check is about a machine without a CUDA GPU")
    path = write_params(tmp_path, setter("training.tf32", True))
    for stage in ("model_source", "data"):
        with pytest.raises(ConfigError, match=re.escape("params: training.tf32 = true needs an NVIDIA GPU of "
                                                        "compute capability 8.0 or newer (Ampere); this machine "
                                                        "has no CUDA GPU: set it to null")):
            load_stage(stage, path)
    path = write_params(tmp_path, setter("global_rm.training.tf32", True))  # trains only for the embedded RM
    with pytest.raises(ConfigError, match=re.escape("global_rm.training.tf32 = true")):
        load_stage("data", path)
    raw = yaml.safe_load(path.read_text())
    raw["scoring"]["model"] = "org/rm"
    path.write_text(yaml.safe_dump(raw))
    load_stage("data", path)  # not trained, so not checked
    load_stage("data", write_params(tmp_path, setter("training.bf16", True)))  # bf16 autocast runs on a CPU


# ------------------------------------------------------------------------------------------ countries

@pytest.mark.parametrize("countries,message", [
    ({"Chile": "Chile"}, "countries.Chile: a slug must be a lowercase identifier"),
    ({"south-africa": "South Africa"}, "countries.south-africa: a slug must be a lowercase identifier"),
    ({"new zealand": "New Zealand"}, "countries.new zealand: a slug must be a lowercase identifier"),
    ({"1chile": "Chile"}, "countries.1chile: a slug must be a lowercase identifier"),
    ({"chile": ""}, "countries.chile must name a country"),
    ({"chile": 5}, "countries.chile must name a country"),
    ({}, "countries must be a non-empty mapping"),
    (["Chile"], "countries must be a non-empty mapping"),
])
def test_country_slugs_are_validated(tmp_path, countries, message):
    path = write_params(tmp_path, setter("countries", countries))
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_stage("filter_weight", path)


def test_valid_country_slugs_keep_exact_names(tmp_path):
    countries = {"south_africa": "South Africa", "usa2": "United States"}
    path = write_params(tmp_path, lambda raw: (setter("countries", countries)(raw),
                                               setter("tradeoff.countries", ["usa2"])(raw),
                                               setter("regimes.country", "usa2")(raw)))
    assert load_stage("bias_analysis", path)["countries"] == countries
    left = write_params(tmp_path, setter("countries", countries))  # the grid still names chile: said early
    with pytest.raises(ConfigError, match=re.escape("tradeoff.countries: 'chile' not a slug of countries (south_africa, usa2)")):
        load_stage("data", left)
    grid_moved = write_params(tmp_path, lambda raw: (setter("countries", countries)(raw),
                                                     setter("tradeoff.countries", ["usa2"])(raw)))
    with pytest.raises(ConfigError, match=re.escape("regimes.country: 'chile' not a slug of countries (south_africa, usa2)")):
        load_stage("data", grid_moved)


def test_regimes_arms_and_comparisons_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="regimes.arms: unknown arm"):
        load_stage("regimes", write_params(tmp_path, setter("regimes.arms", [*RAW["regimes"]["arms"], "scpoo"])))
    with pytest.raises(ConfigError, match="regimes.comparisons"):
        load_stage("regimes", write_params(tmp_path, setter("regimes.comparisons", ["scpo - weight"])))
    with pytest.raises(ConfigError, match="regimes.extreme_shares"):
        load_stage("regimes", write_params(tmp_path, setter("regimes.extreme_shares", [0.1, 1.0])))
