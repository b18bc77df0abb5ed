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
# mutant name -> (its mutated line, why it behaves identically). The line guards against mutmut renumbering
# after a source change: a name whose mutated line is no longer this one is reported "not killed".
EQUIVALENT: dict[str, tuple[str, str]] = {
    'scpo.trainer.x_release__mutmut_4': (
        'handler.model = handler.optimizer = handler.lr_scheduler = ""',
        'any value that is not the model drops the reference: "" frees the model and optimiser as None does'),
    'scpo.evaluation.x_accuracy_report__mutmut_27': (
        'report[f"accuracy_{name}"] = float(correct.mean()) if len(correct) else float("NAN")',
        'float() reads "NAN" as "nan": the same NaN'),
    'scpo.evaluation.x_pairwise_accuracy__mutmut_9': (
        'return float("NAN")',
        'float() reads "NAN" as "nan": the same NaN'),
    'scpo.evaluation.x_bootstrap_accuracy__mutmut_18': (
        'hits = np.bincount(user_index, weights=correct.astype(None))',
        "numpy's astype(None) is float64, as astype(float)"),
    'scpo.evaluation.x_bootstrap_accuracy__mutmut_20': (
        'totals = np.bincount(user_index).astype(None)',
        "numpy's astype(None) is float64, as astype(float)"),
    'scpo.evaluation.x_macro_rows__mutmut_5': (
        'for (seed, model, test_set), group in results.groupby(["seed", "model", "test_set"], ):',
        "sort=True is groupby's default"),
    'scpo.evaluation.x_summarise__mutmut_10': (
        'for (country, model, test_set), group in results.groupby(["country", "model", "test_set"], ):',
        "sort=True is groupby's default"),
    'scpo.evaluation.x_summarise__mutmut_31': (
        'else np.full(2, np.nan)',
        'on this branch the replicates only feed np.isfinite(...).any(), False for any all-NaN array'),
    'scpo.evaluation.x_summarise__mutmut_57': (
        '"n_pairs": float(group.n_pairs.mean()), "ties": int(group.ties.fillna(None).sum()),',
        "pandas 3.1's fillna(None) fills nothing and Series.sum skips NaN: the same sum as fillna(0).sum()"),
    'scpo.evaluation.x_summarise__mutmut_65': (
        '"sd": float(group.accuracy.std(ddof=1)) if (len(group) > 1) or True else np.nan,',
        "pandas' std(ddof=1) of one value is NaN (no warning), the else branch's value"),
    'scpo.evaluation.x_summarise__mutmut_69': (
        '"sd": float(group.accuracy.std(ddof=1)) if len(group) >= 1 else np.nan,',
        "groups are never empty, and pandas' std(ddof=1) of one value is NaN, the else branch's value"),
    'scpo.evaluation.x_test_set_outcomes__mutmut_15': (
        'if {"global_chosen", "global_rejected"} < set(pairs.columns):',
        'pairs also holds chosen_id, rejected_id and user_id (read above), so subset and strict subset agree'),
    'scpo.evaluation.x_test_set_outcomes__mutmut_36': (
        'truth = pairs.truth_margin.to_numpy(dtype=None)',
        'the margins are only compared with 0, with the same result for every numeric dtype (float64 in every artifact)'),
    'scpo.evaluation.x_test_set_outcomes__mutmut_51': (
        'outcomes["truth"] = (np.where(truth >= 0, chosen > rejected, rejected > chosen)[known], users[known])',
        'rows with truth == 0 are dropped by [known]; on the rest > 0 and >= 0 agree'),
    'scpo.data.x_build_pairs__mutmut_49': (
        'a_wins = (both.score_a >= both.score_b).to_numpy()',
        'exact ties are removed the line before; on the rest >= and > agree'),
    'scpo.goqa.x_build_pairs__mutmut_24': (
        'win, lose = (i, j) if item.shares[i] >= item.shares[j] else (j, i)',
        'equal shares were skipped (continue) just before; on the rest >= and > agree'),
    'scpo.goqa.x_build_pairs__mutmut_7': (
        'for item in shares.itertuples(index=None):',
        'index=None is falsy: no Index field, as index=False'),
    'scpo.goqa.x_build_pairs__mutmut_8': (
        'for item in shares.itertuples(index=True):',
        'index=True only adds an Index field; the loop reads fields by name'),
    'scpo.selection.x_pair_weights__mutmut_16': (
        'return torch.ones_like(margin, dtype=torch.result_type(margin, 2.0))',
        "torch.result_type with a Python float depends on the scalar's kind, not its value"),
    'scpo.trainer.x_reward_config__mutmut_31': (
        'eval_strategy="no", save_strategy="steps", save_total_limit=1,',
        "report_to='none' is RewardConfig's default (trl 1.16.0, pinned)"),
    'scpo.trainer.x_reward_config__mutmut_32': (
        'report_to="none", save_strategy="steps", save_total_limit=1,',
        "eval_strategy='no' is RewardConfig's default (trl 1.16.0, pinned)"),
    'scpo.trainer.x_reward_config__mutmut_33': (
        'report_to="none", eval_strategy="no", save_total_limit=1,',
        "save_strategy='steps' is RewardConfig's default (trl 1.16.0, pinned)"),
    'scpo.trainer.xǁWeightedPreferenceCollatorǁtorch_call__mutmut_36': (
        'batch["token_type_ids"] = pad(segments, padding_side="right",',
        "padding_value=0 is trl.trainer.utils.pad's default (trl 1.16.0, pinned)"),
    'scpo.trainer.xǁWeightedPreferenceCollatorǁtorch_call__mutmut_37': (
        'batch["token_type_ids"] = pad(segments, padding_value=0, pad_to_multiple_of=self.pad_to_multiple_of)',
        "padding_side='right' is trl.trainer.utils.pad's default (trl 1.16.0, pinned)"),
    'scpo.trainer.xǁWeightedRewardTrainerǁcompute_loss__mutmut_17': (
        'chosen, rejected = outputs.logits.squeeze(+1).chunk(2)',
        "a one-output head's logits are (rows, 1): squeeze(1) and squeeze(-1) are the same"),
}


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
    recorded, reason = EQUIVALENT.get(name, (None, ""))
    if recorded == line:
        return True, f"equivalent: {reason}"
    return False, "not killed" if status == "survived" else f"not killed ({status})"


def summary(counts: dict[str, int]) -> dict[str, float | int | None]:
    """Counts plus kill_rate = (killed + timeout) / (total - equivalent), and the same over every mutant."""
    detected, scored = counts["killed"] + counts["timeout"], counts["total"] - counts["equivalent"]
    return counts | {"kill_rate": round(detected / scored, 4) if scored else None,
                     "kill_rate_counting_equivalent": round(detected / counts["total"], 4) if counts["total"] else None}


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
        print(f"{part:14s} killed {values['killed']:4d} / {values['total']:4d}, {values['equivalent']:2d} equivalent: "
              f"kill rate {values['kill_rate']}")
    print(f"{len(result['survivors'])} not killed; written to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
