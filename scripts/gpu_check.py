"""The GPU path, measured in one go (issue 16, item 5): run it on a machine with one CUDA GPU and no hub.

    python scripts/gpu_check.py                   # on the GPU: about 10 minutes; writes reports/gpu/gpu_check.json
    python scripts/gpu_check.py --tiny --skip-bench   # anywhere (CPU): the same steps on a tiny stand-in, in a minute

1. A DeBERTa-v3-base-sized stand-in of `OpenAssistant/reward-model-deberta-v3-base`: the architecture class and
   tokenizer layout of the test suite's `deberta-v3` stand-in (tests/fixtures/models/make_models.py), with the
   base model's sizes (12 layers x 768, 12 heads, MLP 3,072, 128,100-token embedding matrix: 184 M parameters),
   randomly initialised (no hub is reachable there either). `--tiny` keeps the stand-in's own tiny sizes.
2. A scratch project on `profiles/paper.yaml` (the study's settings: 1,024 steps of 8 pairs, max_length 512), the
   embedded PRISM as data and the stand-in as the global RM; `dvc repro filter_weight@0` (data, scoring, filter).
3. One paper-profile fine-tune (Chile, seed 0, arm scpo) as stage 04 runs it (`python -m scpo.train`), at bf16
   mixed precision and at fp32: wall time, its phases (`scpo.phases`), pairs/s of the training steps and peak
   GPU memory.
4. Two runs at once on the one device (`launch.max_concurrent: 2`, arms full and scpo) against the same two
   one after another: the speed-up concurrency buys.
5. `python -m scpo.bench` at the base model's sizes (its encoder is BERT-class, so this is a BERT-base-sized
   stand-in; DeBERTa's disentangled attention costs more per token), unless `--skip-bench`.
6. The projection: the paper profile's main comparison (7 countries x 5 arms x 3 seeds = 105 runs) at the
   measured per-run wall time, one at a time and two at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "models"))
import pipeline  # noqa: E402  (the test suite's scratch-project builder)

from scpo import io  # noqa: E402

BASE_SIZES = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
              "vocab_size": 128100}  # microsoft/deberta-v3-base's config.json
MAIN_COMPARISON_RUNS = 7 * 5 * 3


def stand_in(folder: Path, tiny: bool) -> Path:
    """The deberta-v3 stand-in (its tokenizer files), at the base model's sizes unless `tiny`."""
    import make_models
    from transformers import DebertaV2Config, DebertaV2ForSequenceClassification

    make_models.build("deberta-v3", folder)
    if not tiny:
        config = DebertaV2Config.from_pretrained(folder)
        for name, value in BASE_SIZES.items():
            setattr(config, name, value)
        DebertaV2ForSequenceClassification(config).save_pretrained(folder)  # randomly initialised
    return folder


def overrides(model: Path, tiny: bool) -> dict:
    """The paper profile's settings on the embedded data with the stand-in (tiny: a few steps, short texts)."""
    changes = {"data": {"source": "embedded", "input": "scpo/embedded.py"},
               "scoring": {"model": str(model), "revision": None}, "countries": {"chile": "Chile"}, "seeds": [0],
               "training": {"save_steps": 100_000}}
    if tiny:
        changes["training"] |= {"max_steps": 4, "logging_steps": 2}
        changes["scoring"] |= {"max_length": 64}
        changes["simulation"] = yaml.safe_load((ROOT / "tests/tiny_profile.yaml").read_text())["simulation"]  # its world
    return changes


def set_params(root: Path, **training: object) -> None:
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["training"] |= training
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def fine_tune(root: Path, env: dict[str, str], arm: str, out: Path) -> dict:
    """One `python -m scpo.train` run: wall time, phases, pairs/s of its steps, peak GPU memory."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "scpo.train", "--params", "params.yaml", "--country", "chile", "--seed", "0",
                    "--arm", arm, "--out", str(out)], cwd=root, env=env, check=True)
    wall = time.perf_counter() - start
    result = json.loads((out / "result.json").read_text())
    params = yaml.safe_load((root / "params.yaml").read_text())["training"]
    steps_seconds = result["seconds"].get("training steps", float("nan"))
    return {"wall_seconds": wall, "phases": result["seconds"], "steps": params["max_steps"],
            "pairs_per_second": params["max_steps"] * params["per_device_train_batch_size"] / steps_seconds,
            "peak_gpu_memory_gb": (result["peak_gpu_memory_bytes"] or 0) / 1e9 or None,
            "train_pairs": result["summary"]["train_pairs"]}


def two_at_once(root: Path, env: dict[str, str]) -> dict:
    """Arms full and scpo, two at a time, against one after another (each its own process in both)."""
    code = ("import dataclasses, json, sys, time; from pathlib import Path; from scpo import config, train; "
            "cfg = config.load_stage('training', Path('params.yaml')); cfg = {**cfg, 'arms': ('full', 'scpo')}; "
            "cfg['launch'] = dataclasses.replace(cfg['launch'], max_concurrent=int(sys.argv[1])); "
            "start = time.perf_counter(); train.stage_runs(cfg, Path('params.yaml').resolve(), 'chile'); "
            "print(json.dumps(time.perf_counter() - start))")
    seconds = {}
    for concurrent in (1, 2):
        done = subprocess.run([sys.executable, "-c", code, str(concurrent)], cwd=root, env=env, check=True,
                              capture_output=True, text=True)
        seconds[concurrent] = json.loads(done.stdout.strip().splitlines()[-1])
    # max_concurrent 1 with no command trains in that process; 2 starts a process per run (imports included)
    return {"one_after_another_seconds": seconds[1], "two_at_once_seconds": seconds[2],
            "speed_up": seconds[1] / seconds[2]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="the stand-in's tiny sizes and 4 steps (a CPU check)")
    parser.add_argument("--skip-bench", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "reports/gpu/gpu_check.json")
    args = parser.parse_args(argv)
    import torch

    report: dict = {"date": date.today().isoformat(), "tiny": args.tiny, "platform": platform.platform(),
                    "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
                    "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        model = stand_in(scratch / "deberta-v3-base-standin", args.tiny)
        root = scratch / "project"
        root.mkdir()
        env = pipeline.scratch_project(root, "profiles/paper.yaml", overrides(model, args.tiny))
        start = time.perf_counter()
        code, output = pipeline.repro(root, env, "filter_weight@0", timeout=3600)
        if code:
            print(output[-4000:], file=sys.stderr)
            return code
        report["stages_01_03_seconds"] = time.perf_counter() - start
        runs = {}
        for precision, bf16 in (("bf16", torch.cuda.is_available()), ("fp32", False)):
            if precision == "bf16" and not bf16:
                continue  # bf16 mixed precision needs a CUDA GPU with bf16
            set_params(root, bf16=bf16)
            runs[precision] = fine_tune(root, env, "scpo", scratch / f"run-{precision}")
        report["fine_tune"] = runs
        report["concurrency"] = two_at_once(root, env)
        per_run = runs["fp32"]["wall_seconds"]  # the paper profile trains in fp32, as released
        report["projection_main_comparison_hours"] = {
            "fp32_one_at_a_time": MAIN_COMPARISON_RUNS * per_run / 3600,
            "fp32_two_at_once": MAIN_COMPARISON_RUNS * per_run / report["concurrency"]["speed_up"] / 3600}
        if "bf16" in runs:
            report["projection_main_comparison_hours"]["bf16_one_at_a_time"] = \
                MAIN_COMPARISON_RUNS * runs["bf16"]["wall_seconds"] / 3600
    if not args.skip_bench:
        bench = yaml.safe_load((ROOT / "params.yaml").read_text())
        bench["bench"] |= {k: v for k, v in BASE_SIZES.items() if k != "vocab_size"}
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", dir=ROOT, delete=False) as handle:
            yaml.safe_dump(bench, handle, sort_keys=False)
        try:
            subprocess.run([sys.executable, "-m", "scpo.bench", "--params", handle.name, "--out",
                            str(args.out.parent / "bench_base_sized.json")], cwd=ROOT, check=True)
        finally:
            os.unlink(handle.name)
        report["bench"] = str(args.out.parent / "bench_base_sized.json")
    io.write_json(report, args.out)
    print(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
