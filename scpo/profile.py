"""Profiles: a params file made of `params.yaml` with a few overrides (tests use `tests/tiny_profile.yaml`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from scpo.io import write_text


def merged(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`base` with `overrides` merged in recursively; `countries` is replaced whole, not merged."""
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict) and key != "countries":
            out[key] = merged(base[key], value)
        else:
            out[key] = value
    return out


def write_profile(base_file: Path, overrides_file: Path, target: Path) -> Path:
    """Write `base_file` merged with `overrides_file` to `target` as YAML."""
    from scpo.strict import load_yaml

    base = load_yaml(base_file)
    overrides = load_yaml(overrides_file) or {}
    return write_text(yaml.safe_dump(merged(base, overrides), sort_keys=False), target)


def main(argv: list[str]) -> int:
    """`python -m scpo.profile OVERRIDES.yaml [MORE.yaml ...] [--base BASE.yaml]`: print BASE (default
    params.yaml) merged with each OVERRIDES file in turn, after validating the result."""
    import argparse
    import sys

    from scpo.config import SECTIONS, load_section
    from scpo.strict import load_yaml

    parser = argparse.ArgumentParser(prog="python -m scpo.profile")
    parser.add_argument("overrides", type=Path, nargs="+")
    parser.add_argument("--base", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    result = load_yaml(args.base)
    for overrides in args.overrides:
        result = merged(result, load_yaml(overrides) or {})
    for section in SECTIONS:  # refuse to print an invalid params file
        load_section(result, section)
    sys.stdout.write(yaml.safe_dump(result, sort_keys=False))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
