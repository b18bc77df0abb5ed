"""scripts/gpu_check.py, the prepared GPU measurement, run end to end on CPU at its tiny sizes: every step it
will take on a GPU (stand-in, scratch project on the paper profile, fine-tunes, two runs at once, projection)
works here, so the one chance on a lent GPU is not spent finding a typo."""

import json
import subprocess
import sys

import pytest

from scpo.paths import ROOT


@pytest.mark.slow  # stages 01-03 and four short fine-tunes of the tiny DeBERTa stand-in: about a minute
def test_the_gpu_check_runs_every_step_at_its_tiny_sizes(tmp_path):
    out = tmp_path / "gpu_check.json"
    done = subprocess.run([sys.executable, "scripts/gpu_check.py", "--tiny", "--skip-bench", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["tiny"] and report["gpu"] is None and set(report["fine_tune"]) == {"fp32"}  # no bf16 on a CPU
    run = report["fine_tune"]["fp32"]
    assert run["steps"] == 4 and run["pairs_per_second"] > 0 and run["train_pairs"] > 0
    assert {"training steps", "scoring", "save model"} <= set(run["phases"])
    assert report["concurrency"]["two_at_once_seconds"] > 0
    hours = report["projection_main_comparison_hours"]
    assert hours["fp32_one_at_a_time"] == pytest.approx(105 * run["wall_seconds"] / 3600, rel=1e-4)  # JSON: 6 digits
