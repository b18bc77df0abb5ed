"""Reading params strictly: YAML that refuses a key given twice, values typed by pydantic in strict mode (no
`yes` for a number, no `null` or list for a number, no 1.0 for an integer), integers bounded, seeds 0..2**31-1,
unknown names answered with the nearest valid one. Each failure is a ConfigError naming the file or key.

Used by `scpo.config`, which owns the sections themselves and their ranges."""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import typing
from pathlib import Path
from typing import Any

import yaml

from scpo.errors import ConfigError, RangeError

INT_LIMIT = 2**31 - 1  # every integer param: larger ones overflow numpy, torch or the launcher silently
SEED_LIMIT = 2**31 - 1  # numpy takes seeds up to 2**32 - 1; a run seed is added to each seed param


def build_section(cls: type, section: str, raw: Any) -> Any:
    """The dataclass `cls` built from the mapping `raw` of params section `section`: every key known and present,
    every value of its field's type (`typed_value`; a field that is itself a dataclass is built the same way),
    a field's range error named with its section; any failure a ConfigError naming the key."""
    if not isinstance(raw, dict):
        raise ConfigError(f"params: section '{section}' must be a mapping, got {type(raw).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names, key=str)
    missing = sorted(names - set(raw))
    if unknown:
        raise ConfigError(f"params: unknown key(s) {', '.join(f'{section}.{k}' + nearest(k, names, f'{section}.') for k in unknown)}")
    if missing:
        raise ConfigError(f"params: missing key(s) {', '.join(f'{section}.{k}' for k in missing)}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in raw.items():
        if dataclasses.is_dataclass(hints[name]):
            values[name] = build_section(hints[name], f"{section}.{name}", value)
        else:
            values[name] = typed_value(value, hints[name], f"{section}.{name}")
    try:
        return cls(**values)
    except RangeError as error:  # a nested section's errors come out here already named, as ConfigError
        raise ConfigError(f"params: {section}.{error}") from None


@functools.cache
def _adapter(hint: Any) -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(hint)


def _expected(hint: Any) -> str:
    """What a value of type `hint` is, in a message's words."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is tuple:
        return "a list of names" if args[0] is str else "a list of numbers"
    base = args[0] if args else hint
    words = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[base]
    return words + (" or null" if type(None) in typing.get_args(hint) else "")


def typed_value(value: Any, hint: Any, key: str) -> Any:
    """`value` checked against the field type `hint` by pydantic in strict mode (bool is no number, 1.0
    no integer, a list no number), or a ConfigError naming `key`, the value and the expected type.

    YAML's own forms are taken as written: a list for a tuple (null for an empty list of names), a
    number written as `1e-6` (YAML 1.1 reads it as text) for a float. Integers are bounded (INT_LIMIT;
    seeds 0..SEED_LIMIT) and NaN is no number."""
    from pydantic import ValidationError

    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple:
        if value is None and args[0] is str:
            value = []
        value = tuple(value) if isinstance(value, list) else value
    elif float in args or hint is float:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
    try:
        typed = _adapter(hint).validate_python(value, strict=True)
    except ValidationError:
        shown = list(value) if isinstance(value, tuple) else value
        raise ConfigError(f"params: {key} = {shown!r} is not {_expected(hint)}") from None
    items = typed if isinstance(typed, tuple) else (typed,)
    if any(isinstance(v, float) and math.isnan(v) for v in items):
        raise ConfigError(f"params: {key} = {value!r} is not a number (NaN)")
    if isinstance(typed, int) and not isinstance(typed, bool):
        low, high = (0, SEED_LIMIT) if key.endswith("seed") else (-INT_LIMIT, INT_LIMIT)
        if not low <= typed <= high:
            raise ConfigError(f"params: {key} = {typed!r} is out of range; allowed: integers {low}..{high}")
    return typed


def nearest(key: Any, valid: Any, prefix: str = "") -> str:
    """' (did you mean '<prefix>x'?)' for the closest valid name, or '' when none is close."""
    close = difflib.get_close_matches(str(key), sorted(valid), n=1, cutoff=0.6)
    return f" (did you mean '{prefix}{close[0]}'?)" if close else ""


def countries_section(raw: Any) -> dict[str, str]:
    """Slug -> exact `reside_country` string."""
    if not isinstance(raw, dict) or not raw:
        raise ConfigError("params: countries must be a non-empty mapping slug -> country name")
    for slug, name in raw.items():
        if not (isinstance(slug, str) and slug.isidentifier() and slug == slug.lower()):
            raise ConfigError(f"params: countries.{slug}: a slug must be a lowercase identifier")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"params: countries.{slug} must name a country, got {name!r}")
    named: dict[str, str] = {}
    for slug, name in raw.items():
        if name in named:  # two slugs would write their results over each other's
            raise ConfigError(f"params: countries.{named[name]} and countries.{slug} both name {name!r}: "
                              "one slug per country")
        named[name] = slug
    return dict(raw)


def arms_section(raw: Any) -> tuple[str, ...]:
    """The trained arms, each a key of `scpo.selection.ARMS`."""
    from scpo.selection import ARMS  # selection imports torch; only this check needs it

    if not isinstance(raw, list) or not raw or not all(isinstance(arm, str) for arm in raw) or len(set(raw)) != len(raw):
        raise ConfigError(f"params: arms must be a non-empty list of arm names without repeats, got {raw!r}")
    unknown = [arm for arm in raw if arm not in ARMS]
    if unknown:
        raise ConfigError(f"params: arms: unknown arm(s) {', '.join(repr(a) + nearest(a, ARMS) for a in unknown)}; "
                          f"allowed: {', '.join(ARMS)}")
    return tuple(raw)


def seeds_section(raw: Any) -> tuple[int, ...]:
    """Run seeds: each offsets the split, initialisation and shuffling seeds of its run."""
    if not isinstance(raw, list) or not raw or \
            not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= SEED_LIMIT for s in raw) or \
            len(set(raw)) != len(raw):
        raise ConfigError(f"params: seeds must be a non-empty list of distinct integers 0..{SEED_LIMIT}, got {raw!r}")
    return tuple(raw)


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, but a mapping that gives a key twice is an error (PyYAML keeps the last)."""


def _mapping_without_repeated_keys(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(None, None, f"a key must be a name, got {key!r}",
                                                    key_node.start_mark) from None
        if first is not None:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice (first on line {first}); the second would win silently",
                key_node.start_mark)
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_repeated_keys)


def load_yaml(path: str | Path) -> Any:
    """A YAML file (params.yaml, a profile) read strictly: UTF-8, valid YAML, no key given twice; any
    failure a ConfigError naming the file, with the line and column YAML reports."""
    from scpo.io import read_text

    path = Path(path)
    try:
        text = read_text(path, ConfigError, "a params file (YAML)")
    except FileNotFoundError:
        raise ConfigError(f"params file not found: {path}") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as error:
        where = ""
        mark = getattr(error, "problem_mark", None)
        if mark is not None:
            where = f"line {mark.line + 1}, column {mark.column + 1}: "
        problem = getattr(error, "problem", None) or str(error)
        hint = " (YAML does not allow tabs for indentation: use spaces)" if "\\t" in str(error) or "\t" in str(error) else ""
        raise ConfigError(f"{path}: {where}not valid YAML: {problem}{hint}") from None
