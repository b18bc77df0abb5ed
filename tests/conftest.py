"""Shared fixtures: tiny random stand-ins of every reward-model family, built once per session."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

MAKE_MODELS = Path(__file__).parent / "fixtures" / "models" / "make_models.py"


def make_models():
    """tests/fixtures/models/make_models.py as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("make_models", MAKE_MODELS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def standins(tmp_path_factory) -> dict[str, Path]:
    """family -> the folder of its stand-in, laid out as the family's hub repositories are."""
    module = make_models()
    root = tmp_path_factory.mktemp("standins")
    return {family: module.build(family, root / family) for family in module.FAMILIES}
