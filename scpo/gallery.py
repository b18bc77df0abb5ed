"""`reports/README.md`: every figure with a one-line reading, written by stage 08 from the numbers it
plots (never edited by hand)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Entry:
    """One figure of the gallery: where it is (relative to reports/), what it shows, what it says."""

    title: str
    figure: str  # e.g. "figures/05_accuracy.png"
    reading: str  # one line, with the numbers
    links: tuple[str, ...] = ()  # tables or metrics behind it, relative to reports/


def mean_sd(values: Iterable[float], digits: int = 3, signed: bool = False) -> str:
    """'mean ± sd' of the finite values (sd over seeds; 'n/a' when none, no sd for one value)."""
    finite = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if not len(finite):
        return "n/a"
    sign = "+" if signed else ""
    text = f"{finite.mean():{sign}.{digits}f}"
    return text + (f" ± {finite.std(ddof=1):.{digits}f}" if len(finite) > 1 else "")


def markdown(title: str, intro: str, entries: Sequence[Entry]) -> str:
    """The gallery page: a title, an introduction, then each entry as heading, reading, image and links."""
    parts = [f"# {title}\n", intro.strip() + "\n"]
    for entry in entries:
        parts.append(f"## {entry.title}\n")
        parts.append(entry.reading.strip() + "\n")
        parts.append(f"![{entry.title}]({entry.figure})\n")
        if entry.links:
            parts.append("Numbers: " + ", ".join(f"[{link}]({link})" for link in entry.links) + "\n")
    return "\n".join(parts)
