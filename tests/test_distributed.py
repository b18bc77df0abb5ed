"""Two CPU processes (torchrun, gloo) train exactly as one: same global batches, same losses, same weights."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent / "distributed" / "train_pairs.py"


def train(out, launcher):
    out.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*launcher, str(SCRIPT), "--out", str(out)], capture_output=True, text=True, env=env,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "result.json").read_text())


@pytest.mark.slow  # two processes started by torchrun: tens of seconds
@pytest.mark.skipif(shutil.which("torchrun") is None and not (Path(sys.executable).parent / "torchrun").exists(),
                    reason="torchrun not installed")
def test_two_processes_reach_the_losses_and_weights_of_one(tmp_path):
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    one = train(tmp_path / "one", [sys.executable])
    two = train(tmp_path / "two", [torchrun, "--standalone", "--nproc_per_node", "2"])
    assert (one["world_size"], two["world_size"]) == (1, 2)  # really distributed, not two lone runs
    assert len(one["losses"]) == len(two["losses"]) == 8
    assert two["losses"] == pytest.approx(one["losses"], abs=1e-5)
    assert two["weights_sum"] == pytest.approx(one["weights_sum"], abs=1e-3)
    assert two["weights_abs_sum"] == pytest.approx(one["weights_abs_sum"], rel=1e-6)


@pytest.mark.parametrize("name, kind", [("ddp", "MULTI_GPU"), ("zero3", "DEEPSPEED"), ("fsdp", "FSDP")])
def test_shipped_accelerate_configs_load(name, kind):
    from accelerate.commands.config.config_args import load_config_from_file

    loaded = load_config_from_file(str(Path(__file__).parents[1] / "configs" / "accelerate" / f"{name}.yaml"))
    assert loaded.distributed_type.value == kind and loaded.num_processes == 8
