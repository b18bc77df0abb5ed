"""reports/mutation/mutation.json from mutmut's results in mutants/ (docs/testing.md).

Per part of the method (selection, loss, trainer, evaluation, the two pair builders): killed, survived,
timeout, no tests, not checked, total and the kill rate, and every mutant not killed with its mutated line
and a one-line triage. Run after `python tests/mutation_run.py --max-children 1`, from the repository root:

    python tests/mutation_report.py
"""

from __future__ import annotations

import datetime
import fnmatch
import importlib.metadata
import json
import sys
from pathlib import Path

# Mutant names (fnmatch patterns) of each part. data.py and goqa.py are mutated whole (mutmut mutates files),
# but only their pair builders are run and counted.
SCOPE: dict[str, tuple[str, ...]] = {
    "selection": ("scpo.selection.*",),
    "loss": ("scpo.loss.*",),
    "trainer": ("scpo.trainer.*",),
    "evaluation": ("scpo.evaluation.*",),
    "pair_builders": ("scpo.data.x_build_pairs__mutmut_*", "scpo.goqa.x_build_pairs__mutmut_*"),
}
SOURCES = ("scpo/selection.py", "scpo/loss.py", "scpo/trainer.py", "scpo/evaluation.py", "scpo/data.py",
           "scpo/goqa.py")
OUT = Path("reports/mutation/mutation.json")
RUN_TIME = Path("mutants/mutation-run-time.json")  # written by tests/mutation_run.py

# Survivors that provably behave like the original, excluded from the kill rate's denominator:
# mutant name -> (a fragment of its mutated line, why it is equivalent). The fragment guards against mutmut
# renumbering after a source change: a name whose mutated line no longer matches is reported "not killed".
EQUIVALENT: dict[str, tuple[str, str]] = {}


def part_of(name: str) -> str | None:
    """The SCOPE part a mutant belongs to, or None (outside the method's core)."""
    return next((part for part, patterns in SCOPE.items() if any(fnmatch.fnmatch(name, p) for p in patterns)), None)


def exit_codes() -> dict[str, int | None]:
    """Mutant name -> mutmut's exit code (None: not run), over the mutated files."""
    codes: dict[str, int | None] = {}
    for source in SOURCES:
        meta = Path("mutants") / f"{source}.meta"
        if meta.exists():
            codes |= json.loads(meta.read_text())["exit_code_by_key"]
    return codes


def mutated_line(name: str, source: str) -> str:
    """The first line the mutant adds (from mutmut's diff of the function), stripped."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    diff = get_diff_for_mutant(name, path=source)
    added = [line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    return added[0] if added else "(a line removed)"


def triage(name: str, line: str, status: str) -> tuple[bool, str]:
    """(equivalent?, the one-line reason) of a mutant that was not killed."""
    fragment, reason = EQUIVALENT.get(name, (None, ""))
    if fragment is not None and fragment in line:
        return True, f"equivalent: {reason}"
    return False, "not killed" if status == "survived" else f"not killed ({status})"


def summary(counts: dict[str, int]) -> dict[str, float | int]:
    """Counts plus kill_rate = (killed + timeout) / (total - equivalent)."""
    scored = counts["total"] - counts["equivalent"]
    return counts | {"kill_rate": round((counts["killed"] + counts["timeout"]) / scored, 4) if scored else None}


def report() -> dict:
    from mutmut.stats import status_by_exit_code

    codes = exit_codes()
    counts = {part: dict.fromkeys(("killed", "survived", "timeout", "no tests", "not checked", "other", "total",
                                   "equivalent"), 0) for part in SCOPE}
    survivors = []
    for name, code in sorted(codes.items()):
        part = part_of(name)
        if part is None:
            continue
        status = status_by_exit_code[code]
        key = status if status in counts[part] else "other"
        counts[part][key] += 1
        counts[part]["total"] += 1
        if status in ("killed", "timeout"):
            continue
        source = f"scpo/{name.split('.')[1]}.py"
        line = mutated_line(name, source)
        equivalent, reason = triage(name, line, status)
        counts[part]["equivalent"] += equivalent
        survivors.append({"mutant": name, "part": part, "status": status, "mutated_line": line, "triage": reason})
    run = json.loads(RUN_TIME.read_text()) if RUN_TIME.exists() else {}
    return {
        "date": run.get("finished", datetime.date.today().isoformat())[:10],
        "mutmut_version": importlib.metadata.version("mutmut"),
        "command": "python tests/mutation_run.py --max-children 1 && python tests/mutation_report.py",
        "run_seconds": run.get("seconds"),
        "kill_rate_definition": "(killed + timeout) / (total - equivalent); 'no tests' and 'not checked' count as "
                                "not killed",
        "parts": {part: summary(c) for part, c in counts.items()},
        "survivors": survivors,
    }


def main() -> int:
    result = report()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    for part, values in result["parts"].items():
        print(f"{part:14s} killed {values['killed']:4d} / {values['total']:4d}  kill rate {values['kill_rate']}")
    print(f"{len(result['survivors'])} not killed; written to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
