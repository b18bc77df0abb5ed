"""The params checks that span sections, build transformers' training arguments or ask the machine; run by
`scpo.config.load_stage` (the training-arguments check at the first stages only), so a value that would stop a
later stage stops the first one."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scpo.errors import ConfigError

if TYPE_CHECKING:
    from scpo.config import TrainingConfig

# The stages that come first in `dvc repro` (model_source) or in a notebook session (data): they also build
# the training arguments, so a value transformers refuses stops the pipeline before anything runs.
FIRST_STAGES = ("model_source", "data")


def check_training_arguments(loaded: dict[str, Any]) -> None:
    """Build the training arguments of every training section exactly as stage 04 will
    (`scpo.trainer.reward_config`); a value transformers refuses (e.g. an unknown lr_scheduler_type)
    becomes a ConfigError naming the key."""
    import tempfile

    trainings = training_sections(loaded)
    if not trainings:
        return
    from scpo.trainer import reward_config  # transformers: only this check needs it

    for key, training in trainings:
        with tempfile.TemporaryDirectory() as scratch:
            try:
                reward_config(training, Path(scratch))
            except (ValueError, TypeError) as error:
                message = str(error)  # name the key: the message names the field, or starts with its value
                named = [name for name, value in dataclasses.asdict(training).items()
                         if name in message or isinstance(value, str) and value and
                         (message.startswith(value) or f"{value!r} is not" in message or f"{value} is not" in message)]
                where = f"{key}.{named[0]} = {getattr(training, named[0])!r}" if named else key
                raise ConfigError(f"params: {where}: transformers refuses these training arguments: "
                                  f"{str(error).splitlines()[0]}") from None



def check_across_sections(loaded: dict[str, Any]) -> None:
    """Names one section takes from another must exist there (arms of the analyses, grid countries)."""
    arms, countries = loaded.get("arms", ()), loaded.get("countries", {})
    for section in ("data_efficiency", "controls"):
        if section in loaded and "arms" in loaded:
            extra = [arm for arm in loaded[section].arms if arm not in arms]
            if extra:
                raise ConfigError(f"params: {section}.arms: {', '.join(extra)} not in arms {list(arms)} "
                                  "(the analysis compares with stage 04's runs of the same arms)")
    if "evaluation" in loaded and "arms" in loaded:
        extra = sorted({name for comparison in loaded["evaluation"].comparisons for name in comparison.split(" - ")}
                       - {"global", *arms})
        if extra:
            raise ConfigError(f"params: evaluation.comparisons: {', '.join(extra)} not in arms {list(arms)} "
                              "(nor 'global', the untouched global RM)")
    if "tradeoff" in loaded and "countries" in loaded:
        extra = [slug for slug in loaded["tradeoff"].countries if slug not in countries]
        if extra:
            raise ConfigError(f"params: tradeoff.countries: {', '.join(map(repr, extra))} not a slug of countries "
                              f"({', '.join(countries)})")
    if "regimes" in loaded:
        check_regimes(loaded["regimes"], countries)


def check_regimes(regimes: Any, countries: dict[str, str]) -> None:
    """The regime map's country is a slug of `countries`, its arms are arms (`scpo.selection.ARMS`)."""
    from scpo.selection import ARMS  # selection imports torch; only this check needs it

    unknown = [arm for arm in regimes.arms if arm not in ARMS]
    if unknown:
        raise ConfigError(f"params: regimes.arms: unknown arm(s) {', '.join(map(repr, unknown))}; allowed: "
                          f"{', '.join(ARMS)}")
    if countries and regimes.country not in countries:
        raise ConfigError(f"params: regimes.country: {regimes.country!r} not a slug of countries ({', '.join(countries)})")


def training_sections(loaded: dict[str, Any]) -> list[tuple[str, TrainingConfig]]:
    """(key, section) of every training a run performs: `training`, and `global_rm.training` where the
    embedded global RM is trained (scoring.model: embedded)."""
    trainings = [("training", loaded.get("training"))]
    if getattr(loaded.get("scoring"), "model", None) == "embedded" and "global_rm" in loaded:
        trainings.append(("global_rm.training", loaded["global_rm"].training))
    return [(key, training) for key, training in trainings if training is not None]


def check_machine(loaded: dict[str, Any]) -> None:
    """Precision switches this machine cannot honour stop the first stage, not stage 04 after 01-03 ran:
    `tf32: true` needs an NVIDIA GPU of compute capability 8.0 or newer (Ampere), `bf16: true` on a CUDA
    GPU one that supports bf16 (on the CPU, bf16 autocast works)."""
    import torch  # only the check needs it

    trainings = training_sections(loaded)
    cuda = torch.cuda.is_available()
    machine = (f"this machine's GPU is a {torch.cuda.get_device_name()} (compute capability "
               f"{'.'.join(map(str, torch.cuda.get_device_capability()))})" if cuda else "this machine has no CUDA GPU")
    for key, training in trainings:
        if training.tf32 and not (cuda and torch.cuda.get_device_capability()[0] >= 8):
            raise ConfigError(f"params: {key}.tf32 = true needs an NVIDIA GPU of compute capability 8.0 or newer "
                              f"(Ampere); {machine}: set it to null")
        if training.bf16 and cuda and not torch.cuda.is_bf16_supported():
            raise ConfigError(f"params: {key}.bf16 = true needs a GPU with bf16; {machine}: set it to false")
