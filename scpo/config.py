"""Typed, validated views of `params.yaml`: one frozen dataclass per section.

`params.yaml` is the only place values live. Notebooks call `load_stage(stage, params_file)` and get
only the sections that stage declares (the same list as its `params:` in `dvc.yaml`).

Strict: the file is read as YAML that refuses a key given twice and every value is checked against its
field's type in strict mode (`scpo.strict`); each section checks its own ranges here; the checks that span
sections or need transformers or the machine (`scpo.config_checks`) run at the first stage.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scpo.config_checks import FIRST_STAGES, check_across_sections, check_machine, check_training_arguments
from scpo.dataset import REGISTRY  # plain data: the dataset names and inputs
from scpo.errors import ConfigError, RangeError
from scpo.strict import arms_section, build_section, countries_section, load_yaml, nearest, seeds_section

DATA_SOURCES = ("embedded", "local", "hub")  # the datasets themselves: scpo.dataset.REGISTRY
NON_SUBSTANTIVE_POLICIES = ("keep", "drop")  # GlobalOpinionQA's "Don't know" options (scpo.goqa)
SAMPLING_STRATEGIES = ("group_by_length", "random", "sequential")  # TrainingArguments.train_sampling_strategy


def check(ok: bool, key: str, allowed: str, value: Any) -> None:
    """A section's range check: RangeError '<key> = <value> is out of range; allowed: <allowed>' unless `ok`."""
    if not ok:
        raise RangeError(f"{key} = {value!r} is out of range; allowed: {allowed}")


@dataclass(frozen=True)
class DataConfig:
    """Which dataset, from where, and how its split units (PRISM users, GlobalOpinionQA questions) are split."""

    dataset: str  # a name of scpo.dataset.REGISTRY: prism | goqa
    source: str  # embedded (simulated PRISM) | local (the snapshot folder `input`) | hub
    input: str  # what the data stage reads (a DVC dependency): the registry entry's `inputs`, or a snapshot folder
    prism_hub_id: str
    prism_revision: str  # pinned hub commit: the seeded user split depends on row order
    goqa_hub_id: str
    goqa_revision: str
    reference_countries: tuple[str, ...]  # majority countries kept beside `countries` (bias matrix; real data: global RM pool)
    test_size: float  # share of split units held out (the study: 0.15)
    split_seed: int
    goqa_non_substantive: str  # keep | drop GlobalOpinionQA options such as "Don't know" (scpo.goqa)

    def __post_init__(self) -> None:
        check(self.dataset in REGISTRY, "dataset", " | ".join(REGISTRY), self.dataset)
        check(self.source in DATA_SOURCES, "source", " | ".join(DATA_SOURCES), self.source)
        check(not (self.source == "embedded" and "embedded" not in REGISTRY[self.dataset].inputs), "source",
              f"local or hub for dataset {self.dataset} (the embedded default simulates PRISM only)", self.source)
        expected = REGISTRY[self.dataset].inputs.get(self.source)
        check(expected is None or self.input == expected, "input",
              f"{expected} when data.source is {self.source}", self.input)
        check(0.0 < self.test_size < 1.0, "test_size", "0 < test_size < 1", self.test_size)
        check(self.goqa_non_substantive in NON_SUBSTANTIVE_POLICIES, "goqa_non_substantive",
              " | ".join(NON_SUBSTANTIVE_POLICIES), self.goqa_non_substantive)


@dataclass(frozen=True)
class SimulationConfig:
    """The embedded, simulated PRISM: volumes, the slider, and the planted preference structure (`scpo.embedded`)."""

    seed: int  # the world's seed; run seed s simulates world `seed + s` (its own country positions, users, texts)
    user_scale: float  # x PRISM's users per residence country (US 386, UK 340, ...)
    survey_only_share: float  # users who answered the survey but never conversed
    conversations_per_user: int  # a user who did all of them had this many conversations (PRISM: 6)
    full_conversations_share: float  # share of conversing users who did all of them; the rest 1 .. one fewer
    mean_turns: float  # turns per conversation: 2 + a geometric count, mean this (PRISM: 3.39)
    max_turns: int  # at most this many turns (PRISM: 22)
    opening_responses_mean: float  # responses at turn 0: 4 or 3, mean this (PRISM: about 3.75); later turns 2
    score_mean: float  # the slider's mean (PRISM: 65.1) for a typical annotator ...
    score_sd: float  # ... and its sd (PRISM: 29.3); scores are integers 1..100
    coarse_rater_share: float  # raters who round to multiples of 10, a source of ties
    personal_sd: float  # sd of a typical annotator's own deviation e_u from their country, per attribute
    country_share: float  # share of a typical annotator's preference variance that their country explains
    cultural_share: float  # share of the country deviations' variance along the two Inglehart-Welzel dimensions
    extreme_share: float  # share of annotators whose preference is noise (g + N(0, extreme_sd)), not their country's
    extreme_sd: float  # sd of an extreme annotator's deviation from the global preference, per attribute
    rating_noise: float  # sd of per-response rating noise, in utility units
    level_sd: float  # spread of the study's responses' attribute levels (rounded, clipped to -3..3)
    aggregate_users: int  # the off-the-shelf global RM's own annotators (x user_scale): not study users
    aggregate_level_sd: tuple[float, ...]  # per attribute: the aggregate data's response mix (its domain shift)

    def __post_init__(self) -> None:
        check(self.user_scale > 0, "user_scale", "> 0", self.user_scale)
        check(self.conversations_per_user >= 1, "conversations_per_user", ">= 1", self.conversations_per_user)
        check(self.max_turns >= 2, "max_turns", ">= 2", self.max_turns)
        check(2.0 <= self.mean_turns <= self.max_turns, "mean_turns", "2 <= x <= max_turns", self.mean_turns)
        check(3.0 <= self.opening_responses_mean <= 4.0, "opening_responses_mean", "3 <= x <= 4",
              self.opening_responses_mean)
        check(1.0 < self.score_mean < 100.0, "score_mean", "1 < x < 100", self.score_mean)
        check(0.0 < self.score_sd < 49.5, "score_sd", "0 < x < 49.5", self.score_sd)
        for name in ("survey_only_share", "extreme_share", "coarse_rater_share", "country_share"):
            check(0.0 <= getattr(self, name) < 1.0, name, "0 <= x < 1", getattr(self, name))
        for name in ("full_conversations_share", "cultural_share"):
            check(0.0 <= getattr(self, name) <= 1.0, name, "0 <= x <= 1", getattr(self, name))
        for name in ("personal_sd", "extreme_sd", "rating_noise", "level_sd"):
            check(getattr(self, name) >= 0.0, name, ">= 0", getattr(self, name))
        check(self.personal_sd > 0 or self.country_share == 0, "personal_sd", "> 0 (country deviations are "
              "sized against it) unless country_share is 0", self.personal_sd)
        check(self.aggregate_users >= 2, "aggregate_users", ">= 2", self.aggregate_users)
        check(all(sd >= 0 for sd in self.aggregate_level_sd), "aggregate_level_sd", "sds >= 0",
              list(self.aggregate_level_sd))


@dataclass(frozen=True)
class ScoringConfig:
    """The global reward model and how texts are encoded and scored."""

    model: str  # "embedded", a hub id or a local path
    revision: str | None  # hub revision for a hub id
    max_length: int  # tokens per (prompt, response); longer inputs are truncated, never dropped
    batch_size: int  # scoring batch (sorted by length, so padding stays small)
    dtype: str  # float32 | bfloat16 | float16
    trust_remote_code: bool  # run a hub model's own Python code: only for a model you have read

    def __post_init__(self) -> None:
        check(self.max_length >= 8, "max_length", ">= 8", self.max_length)
        check(self.batch_size >= 1, "batch_size", ">= 1", self.batch_size)
        check(self.dtype in ("float32", "bfloat16", "float16"), "dtype",
              "float32 | bfloat16 | float16", self.dtype)


@dataclass(frozen=True)
class FilteringConfig:
    """Keep a pair iff sigmoid(r+ - r-) < tau (the study: tau = 0.7; tau = 1 keeps all)."""

    tau: float

    def __post_init__(self) -> None:
        check(0.0 < self.tau <= 1.0, "tau", "0 < tau <= 1", self.tau)


@dataclass(frozen=True)
class WeightingConfig:
    """w = min(exp((r+ - r-) / beta), 1) (the study: beta = 1.1; .inf means no weighting)."""

    beta: float

    def __post_init__(self) -> None:
        check(self.beta > 0.0, "beta", "beta > 0 (.inf disables weighting)", self.beta)


@dataclass(frozen=True)
class TrainingConfig:
    """Fine-tuning hyperparameters; names are `transformers.TrainingArguments` names."""

    learning_rate: float
    max_steps: int
    per_device_train_batch_size: int
    lr_scheduler_type: str
    warmup_steps: int
    weight_decay: float
    max_grad_norm: float
    adam_beta1: float
    adam_beta2: float
    adam_epsilon: float
    seed: int
    bf16: bool
    tf32: bool | None  # TF32 matmuls on Ampere+ GPUs; null leaves torch's default (must be null without one)
    gradient_checkpointing: bool
    disable_dropout: bool  # the release kept HF's dropout on while training
    train_sampling_strategy: str  # group_by_length: batches of similar length, little padding; random as released
    lora_r: int  # 0: full fine-tuning; > 0: LoRA adapters of this rank (peft) on `lora_target_modules`
    lora_alpha: int
    lora_dropout: float
    lora_target_modules: str  # "all-linear" or comma-separated module names (e.g. q_proj,v_proj)
    logging_steps: int
    save_steps: int  # checkpoint interval; an interrupted run resumes from its last checkpoint

    def __post_init__(self) -> None:
        check(self.learning_rate > 0, "learning_rate", "> 0", self.learning_rate)
        check(self.max_steps >= 1, "max_steps", ">= 1", self.max_steps)
        check(self.warmup_steps >= 0, "warmup_steps", ">= 0", self.warmup_steps)
        check(self.weight_decay >= 0, "weight_decay", ">= 0", self.weight_decay)
        check(self.max_grad_norm >= 0, "max_grad_norm", ">= 0 (0: no clipping)", self.max_grad_norm)
        for name in ("adam_beta1", "adam_beta2"):  # torch.optim.AdamW's own check, here at the first stage
            check(0.0 <= getattr(self, name) < 1.0, name, "0 <= beta < 1", getattr(self, name))
        check(self.adam_epsilon >= 0, "adam_epsilon", ">= 0", self.adam_epsilon)
        check(self.per_device_train_batch_size >= 1, "per_device_train_batch_size",
              ">= 1", self.per_device_train_batch_size)
        check(self.logging_steps >= 1, "logging_steps", ">= 1", self.logging_steps)
        check(self.save_steps >= 1, "save_steps", ">= 1", self.save_steps)
        check(self.train_sampling_strategy in SAMPLING_STRATEGIES, "train_sampling_strategy",
              " | ".join(SAMPLING_STRATEGIES), self.train_sampling_strategy)
        check(self.lora_r >= 0, "lora_r", ">= 0 (0: full fine-tuning)", self.lora_r)
        check(self.lora_alpha >= 1, "lora_alpha", ">= 1", self.lora_alpha)
        check(0.0 <= self.lora_dropout < 1.0, "lora_dropout", "0 <= lora_dropout < 1", self.lora_dropout)
        check(bool(self.lora_target_modules.strip()), "lora_target_modules", "all-linear or module names",
              self.lora_target_modules)

    def trainer_kwargs(self) -> dict[str, Any]:
        """The fields as keyword arguments for `RewardConfig`/`TrainingArguments` (all but the LoRA ones)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if not k.startswith("lora_")}

    def lora(self) -> dict[str, Any] | None:
        """The LoRA settings as `peft.LoraConfig` keyword arguments, or None for full fine-tuning."""
        if self.lora_r == 0:
            return None
        modules = self.lora_target_modules.strip()
        return {"r": self.lora_r, "lora_alpha": self.lora_alpha, "lora_dropout": self.lora_dropout,
                "target_modules": modules if modules == "all-linear" else [m.strip() for m in modules.split(",")]}


@dataclass(frozen=True)
class GlobalRMConfig:
    """The embedded global RM: a tiny encoder trained on the simulated aggregate population (embedded data) or on
    the pooled majority users (real data)."""

    pool_countries: tuple[str, ...]  # real data: residence countries whose train-split users train it
    encoder: str | None  # null: a fresh tiny BERT (all trained); a folder of a pretrained encoder: its reward head
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    training: TrainingConfig = field(repr=False)

    def __post_init__(self) -> None:
        check(len(self.pool_countries) > 0, "pool_countries", "a non-empty list",
              self.pool_countries)
        for name in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size"):
            check(getattr(self, name) >= 1, name, ">= 1", getattr(self, name))
        check(self.hidden_size % self.num_attention_heads == 0, "hidden_size",
              "a multiple of num_attention_heads", self.hidden_size)


@dataclass(frozen=True)
class EvaluationConfig:
    """How held-out pairs are scored."""

    batch_size: int
    bootstrap_samples: int  # resamples of held-out users for confidence intervals
    bootstrap_seed: int
    confidence: float  # e.g. 0.95
    comparisons: tuple[str, ...]  # paired differences "a - b" of two models (arms or "global") on the same pairs

    def __post_init__(self) -> None:
        check(self.batch_size >= 1, "batch_size", ">= 1", self.batch_size)
        check(all(len(c.split(" - ")) == 2 and all(c.split(" - ")) for c in self.comparisons), "comparisons",
              "a list of 'a - b' (two model names around ' - ', e.g. 'scpo - full')", list(self.comparisons))
        check(self.bootstrap_samples >= 10, "bootstrap_samples", ">= 10", self.bootstrap_samples)
        check(0.0 < self.confidence < 1.0, "confidence", "0 < confidence < 1", self.confidence)


@dataclass(frozen=True)
class LaunchConfig:
    """How the training stages run their runs. With `command: ""`: one after another in the stage's own process
    (`max_concurrent: 1`), or in a pool of `max_concurrent` worker processes (`train.run_calls`; stages 04, 06, 07
    and every `tradeoff@<tau>`). Stage 04 also takes a `command`: each (seed, arm) run as `<command> -m scpo.train
    ...`, at most `max_concurrent` at once. A command such as `accelerate launch --config_file
    configs/accelerate/ddp.yaml` or `torchrun --standalone --nproc_per_node 2` spreads one run over several GPUs
    (or CPU processes with gloo); `srun --ntasks=1 --gres=gpu:1 python` hands each run to SLURM."""

    command: str
    max_concurrent: int  # runs at once; on one machine each gets threads_per_run threads and, with GPUs, a device
    threads_per_run: int  # torch threads of each run; 0: the machine's cores shared out among max_concurrent runs

    def __post_init__(self) -> None:
        import shlex

        try:
            shlex.split(self.command)
        except ValueError as error:
            raise RangeError(f"command = {self.command!r} is not a shell command line ({error})") from None
        check(self.max_concurrent >= 1, "max_concurrent", "an integer >= 1", self.max_concurrent)
        check(self.threads_per_run >= 0, "threads_per_run", "an integer >= 0 (0: cores / max_concurrent)",
              self.threads_per_run)


@dataclass(frozen=True)
class DataEfficiencyConfig:
    """Learning curves: arms trained on nested random subsets of each country's training pairs."""

    fractions: tuple[float, ...]  # shares of a country's training pairs, each in (0, 1); 1.0 is stage 04's run
    arms: tuple[str, ...]  # compared arms, each also in `arms` (their all-pairs point comes from stage 04)
    subset_seed: int  # the subsets' permutation (offset by the run seed): nested within a run seed

    def __post_init__(self) -> None:
        check(len(self.fractions) > 0 and all(0.0 < f < 1.0 for f in self.fractions), "fractions",
              "a non-empty list of shares 0 < f < 1 (the full set is stage 04's run)", list(self.fractions))
        check(len(set(self.fractions)) == len(self.fractions), "fractions", "distinct shares", list(self.fractions))
        check(set(self.arms) == {"full", "scpo"}, "arms", "[full, scpo]", list(self.arms))


@dataclass(frozen=True)
class TradeoffConfig:
    """The tau x beta grid of the study's Figure 3: each point trains SCPO with that tau and beta."""

    taus: tuple[float, ...]  # 1.0: no filter
    betas: tuple[float, ...]  # .inf: no weighting
    countries: tuple[str, ...]  # slugs of `countries` (the study: Chile)

    def __post_init__(self) -> None:
        check(len(self.taus) > 0 and all(0.0 < t <= 1.0 for t in self.taus), "taus",
              "a non-empty list of 0 < tau <= 1", list(self.taus))
        check(len(self.betas) > 0 and all(b > 0.0 for b in self.betas), "betas",
              "a non-empty list of beta > 0 (.inf: no weighting)", list(self.betas))
        check(len(set(self.taus)) == len(self.taus) and len(set(self.betas)) == len(self.betas), "taus",
              "distinct values in taus and in betas", (list(self.taus), list(self.betas)))
        check(len(self.countries) > 0, "countries", "a non-empty list of country slugs", list(self.countries))


@dataclass(frozen=True)
class RegimesConfig:
    """The regime map: a grid over the simulation's extreme-annotator share and country share (`scpo.regimes`)."""

    country: str  # the slug of `countries` trained at every point
    extreme_shares: tuple[float, ...]  # simulation.extreme_share at each point
    country_shares: tuple[float, ...]  # simulation.country_share at each point
    arms: tuple[str, ...]  # arms trained at every point (scpo.selection.ARMS; they need not be in `arms`)
    comparisons: tuple[str, ...]  # paired differences 'a - b' read at every point ('global' allowed)

    def __post_init__(self) -> None:
        for name in ("extreme_shares", "country_shares"):
            values = list(getattr(self, name))
            check(len(values) > 0 and all(0.0 <= v < 1.0 for v in values) and len(set(values)) == len(values), name,
                  "a non-empty list of distinct shares 0 <= x < 1", values)
        check(len(self.arms) > 0, "arms", "a non-empty list of arms (scpo.selection.ARMS)", list(self.arms))
        check(all(len(c.split(" - ")) == 2 and set(c.split(" - ")) <= {"global", *self.arms} for c in self.comparisons),
              "comparisons", "'a - b' of regimes.arms or 'global'", list(self.comparisons))


@dataclass(frozen=True)
class ControlsConfig:
    """The shuffled-labels control: country labels permuted across the study countries' users."""

    shuffle_seed: int  # offset by the run seed
    arms: tuple[str, ...]  # arms retrained on the shuffled labels, each also in `arms`

    def __post_init__(self) -> None:
        check(len(self.arms) > 0, "arms", "a non-empty list of arms", list(self.arms))


# Each section's dataclass; one given as "module.Class" is imported when its section is built (`section_type`).
SECTIONS: dict[str, type | str] = {
    "data": DataConfig,
    "simulation": SimulationConfig,
    "scoring": ScoringConfig,
    "global_rm": GlobalRMConfig,
    "filtering": FilteringConfig,
    "weighting": WeightingConfig,
    "training": TrainingConfig,
    "launch": LaunchConfig,
    "evaluation": EvaluationConfig,
    "countries": dict,
    "arms": list,
    "seeds": list,
    "bench": "scpo.bench_config.BenchConfig",  # beside the benchmark (a command, not a stage)
    "data_efficiency": DataEfficiencyConfig,
    "tradeoff": TradeoffConfig,
    "controls": ControlsConfig,
    "regimes": RegimesConfig,
}

# The params sections each stage reads; `dvc.yaml` lists the same (a test keeps them equal).
STAGE_PARAMS: dict[str, tuple[str, ...]] = {
    "model_source": ("scoring.model", "scoring.revision", "global_rm.encoder"),
    "data": ("data", "simulation", "countries"),
    "global_scoring": ("scoring", "global_rm"),
    "filter_weight": ("filtering", "weighting", "countries"),
    "training": ("filtering", "weighting", "scoring", "training", "launch", "evaluation", "countries", "arms", "seeds"),
    "bias_analysis": ("evaluation", "countries", "arms", "seeds"),
    "data_efficiency": ("scoring", "training", "launch", "evaluation", "countries", "arms", "seeds", "data_efficiency"),
    # A tau's stage reads tradeoff.countries and .betas (its tau comes from the foreach), so adding a tau does not
    # invalidate the points already run.
    "tradeoff": ("scoring", "training", "launch", "evaluation", "countries", "seeds", "tradeoff.countries",
                 "tradeoff.betas"),
    "shuffled_labels": ("scoring", "training", "launch", "evaluation", "countries", "arms", "seeds", "controls"),
    # A point's stage reads the map's country, arms and comparisons (its two shares come from the matrix), so adding
    # a share runs only the new points.
    "regimes": ("simulation", "data", "scoring", "filtering", "weighting", "training", "launch", "evaluation",
                "countries", "seeds", "regimes.country", "regimes.arms", "regimes.comparisons"),
    "figures": ("filtering", "weighting", "evaluation", "countries", "arms", "seeds", "data_efficiency",
                "tradeoff", "controls", "regimes"),
}


def read_params(params_file: str | Path) -> dict[str, Any]:
    """The raw YAML mapping (`load_yaml`), with a clear error when it is not a mapping of known sections."""
    path = Path(params_file)
    raw = load_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections")
    unknown = sorted(set(raw) - set(SECTIONS), key=str)
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {', '.join(str(k) + nearest(k, SECTIONS) for k in unknown)}")
    return raw


def load_section(raw: dict[str, Any], section: str) -> Any:
    """One validated section of a raw params mapping."""
    if section not in raw:
        raise ConfigError(f"params: missing section '{section}'")
    if section in ("countries", "arms", "seeds"):
        return {"countries": countries_section, "arms": arms_section, "seeds": seeds_section}[section](raw[section])
    return build_section(section_type(section), section, raw[section])


def section_type(section: str) -> type:
    """The dataclass of `section`; one named "module.Class" in SECTIONS is imported here, on use (the benchmark's
    lives beside the benchmark and imports this module's `check`: no import cycle, no stage depends on it)."""
    kind = SECTIONS[section]
    if isinstance(kind, str):
        module, _, name = kind.rpartition(".")
        kind = getattr(importlib.import_module(module), name)
    return kind


def load_stage(stage: str, params_file: str | Path) -> dict[str, Any]:
    """The sections `stage` reads, validated; every section is checked so bad values fail early."""
    if stage not in STAGE_PARAMS:
        raise ConfigError(f"unknown stage '{stage}'; stages: {', '.join(STAGE_PARAMS)}")
    raw = read_params(params_file)
    loaded = {section: load_section(raw, section) for section in SECTIONS if section in raw}
    sections = stage_sections(stage)
    missing = [section for section in sections if section not in loaded]
    if missing:
        raise ConfigError(f"params: missing section(s) {', '.join(missing)} needed by stage '{stage}'")
    check_across_sections(loaded)
    check_machine(loaded)
    if stage in FIRST_STAGES:
        check_training_arguments(loaded)
    return {section: loaded[section] for section in sections}


def stage_sections(stage: str) -> tuple[str, ...]:
    """The sections of `STAGE_PARAMS[stage]`; an entry 'section.key' (one key DVC tracks) counts as its section."""
    return tuple(dict.fromkeys(entry.split(".")[0] for entry in STAGE_PARAMS[stage]))
