"""`python -m scpo.scaling`: how the cost of the data stage, of scoring and of a training step grows with the data.

For each `simulation.user_scale` in `--scales` (default 1 2 4 8), and at PRISM's real size (the scale whose
simulated PRISM has about PRISM's 68,371 rated responses), in this process and on the params' own sizes:
- data: the data stage's work (`embedded.write_simulated_prism` then `dataset.prepare`: read, validate, pair, split);
- scoring: every response scored once by a randomly initialised embedded global RM (`scoring.score_texts`);
- training: on the country pairs, with the `training` section's arguments, the median seconds of an optimiser
  step after the first, and apart from it the seconds from the loop's start to the first step's end (the
  length-grouped sampler orders the whole dataset there: that part grows with the data, a step should not).
Then the growth exponent of each, the slope of log(seconds) on log(responses) (1: linear; 0: flat). Writes
`reports/bench/scaling.json` and prints the table the README shows. A command, not a stage.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from scpo import config, dataset, embedded, embedded_rm, io, paths, phases, scoring, trainer

PRISM_RESPONSES = 68_371  # PRISM's rated responses (utterances.jsonl rows), for the real-size row


def measure(cfg: dict[str, Any], scale: float, steps: int, workdir: Path) -> dict[str, Any]:
    """Seconds of the data stage, of scoring every response and of one training step, at `scale`."""
    sim = dataclasses.replace(cfg["simulation"], user_scale=scale)
    start = time.perf_counter()
    folder = workdir / f"scale{scale:g}"
    embedded.write_simulated_prism(sim, folder)
    prepared = dataset.prepare(cfg["data"], folder, cfg["countries"])
    data_seconds = time.perf_counter() - start
    utterances, pairs = prepared.utterances, prepared.pairs
    rm, score_cfg = cfg["global_rm"], cfg["scoring"]
    texts = [*utterances.prompt, *utterances.response]
    tokenizer = embedded_rm.embedded_tokenizer(texts)
    model = embedded_rm.embedded_reward_model(rm, len(tokenizer), score_cfg.max_length, seed=0).eval()
    start = time.perf_counter()
    scoring.score_texts(model, tokenizer, list(utterances.prompt), list(utterances.response), score_cfg.max_length,
                        score_cfg.batch_size)
    score_seconds = time.perf_counter() - start
    train = pairs[(pairs.split == "train") & pairs.country.isin(cfg["countries"].values())]
    data = trainer.preference_dataset(tokenizer, train.prompt, train.chosen, train.rejected, np.ones(len(train)),
                                      score_cfg.max_length)
    args = trainer.reward_config(dataclasses.replace(cfg["training"], max_steps=steps, save_steps=steps + 1,
                                                     logging_steps=steps), workdir / f"run{scale:g}")
    timer = phases.StepTimer()
    trainer.reward_trainer(model.train(), tokenizer, data, args, callbacks=[timer]).train()
    return {"user_scale": scale, "users": int(pairs.user_id.nunique()), "responses": len(utterances),
            "pairs": len(pairs), "data_seconds": data_seconds, "scoring_seconds": score_seconds,
            "responses_per_second": len(utterances) / score_seconds, "train_pairs": len(train),
            "train_step_seconds": timer.step_seconds(), "first_step_seconds": timer.first_step_seconds()}


MEASURED = ("data_seconds", "scoring_seconds", "train_step_seconds", "first_step_seconds")


def growth_exponent(sizes: list[float], seconds: list[float]) -> float:
    """The slope of log(seconds) on log(size): 1 for linear growth, 0 for none."""
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def table(rows: list[dict[str, Any]], exponents: dict[str, float]) -> str:
    lines = ["| user_scale | users | responses | pairs | data stage, s | scoring, s | training step, s "
             "| loop start to first step's end, s |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['user_scale']:g} | {r['users']:,} | {r['responses']:,} | {r['pairs']:,} | {r['data_seconds']:.1f} "
              f"| {r['scoring_seconds']:.1f} | {r['train_step_seconds']:.4f} | {r['first_step_seconds']:.3f} |"
              for r in rows]
    lines.append("| growth exponent | | | | " + " | ".join(f"{exponents[key]:.2f}" for key in MEASURED) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scpo.scaling", description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 2.0, 4.0, 8.0])
    parser.add_argument("--steps", type=int, default=20, help="training steps timed at each scale")
    parser.add_argument("--no-prism-size", action="store_true", help="skip the row at PRISM's real size")
    parser.add_argument("--out", type=Path, default=Path("reports/bench/scaling.json"))
    args = parser.parse_args(argv)
    raw = config.read_params(paths.run_root() / args.params)
    cfg = {section: config.load_section(raw, section)
           for section in ("data", "simulation", "scoring", "global_rm", "training", "countries")}
    if cfg["data"].source != "embedded":
        raise config.ConfigError("python -m scpo.scaling grows the embedded PRISM: set data.source: embedded")
    with tempfile.TemporaryDirectory() as scratch:
        rows = [measure(cfg, scale, args.steps, Path(scratch)) for scale in args.scales]
        if not args.no_prism_size:
            per_scale = np.mean([r["responses"] / r["user_scale"] for r in rows])
            rows.append(measure(cfg, round(PRISM_RESPONSES / per_scale, 2), args.steps, Path(scratch)))
    rows.sort(key=lambda r: r["responses"])
    sizes = [r["responses"] for r in rows]
    exponents = {key: growth_exponent(sizes, [r[key] for r in rows]) for key in MEASURED}
    result = {"date": date.today().isoformat(), "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
              "steps_timed": args.steps, "rows": rows, "growth_exponents": exponents,
              "prism_responses": PRISM_RESPONSES}
    io.write_json(result, paths.run_root() / args.out)
    print(table(rows, exponents))
    return 0 if all(math.isfinite(v) for v in exponents.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
