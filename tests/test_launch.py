"""How the training stages share a machine among runs that go at once (scpo/train.py: run_threads,
run_environment, run_calls' worker pool) and the checks of the launch section. The runs themselves are compared in tests/test_pipeline_e2e.py."""

import os
from functools import partial

import pytest
import torch

from scpo import train
from scpo.config import ConfigError, LaunchConfig, load_section


def launch(**changes):
    return LaunchConfig(**({"command": "", "max_concurrent": 1, "threads_per_run": 0} | changes))


def test_the_cores_are_shared_out_among_the_runs_that_go_at_once_unless_a_count_is_given():
    cores = os.cpu_count()
    assert train.run_threads(launch()) == cores
    assert train.run_threads(launch(max_concurrent=2)) == max(1, cores // 2)
    assert train.run_threads(launch(max_concurrent=4 * cores)) == 1  # never 0 threads
    assert train.run_threads(launch(max_concurrent=2, threads_per_run=3)) == 3


def test_each_slot_gets_its_threads_and_on_gpus_one_device_cycling(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    envs = [train.run_environment(launch(max_concurrent=3, threads_per_run=1), slot) for slot in range(3)]
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["0", "1", "0"]  # 3 runs on 2 GPUs: two share device 0
    assert all(e["OMP_NUM_THREADS"] == "1" for e in envs)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")  # only these are ours: slots map onto them
    assert train.run_environment(launch(max_concurrent=2), 1)["CUDA_VISIBLE_DEVICES"] == "6"
    # a launcher (torchrun, accelerate, srun) assigns devices itself
    assert train.run_environment(launch(command="srun python", max_concurrent=2), 0)["CUDA_VISIBLE_DEVICES"] == "4,6"


def test_without_gpus_no_device_is_assigned(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert "CUDA_VISIBLE_DEVICES" not in train.run_environment(launch(max_concurrent=2), 1)


@pytest.mark.parametrize("key,value,message", [("max_concurrent", 0, "launch.max_concurrent = 0 is out of range"),
                                               ("threads_per_run", -1, "launch.threads_per_run = -1 is out of range"),
                                               ("max_concurrent", 1.5, "launch.max_concurrent = 1.5 is not an integer")])
def test_launch_values_out_of_range_are_named(key, value, message):
    raw = {"launch": {"command": "", "max_concurrent": 1, "threads_per_run": 0} | {key: value}}
    with pytest.raises(ConfigError, match=message):
        load_section(raw, "launch")


def test_a_pool_runs_the_calls_in_order_in_workers_with_their_threads_and_the_parent_s_environment(monkeypatch):
    monkeypatch.setenv("SCPO_TEST_MARK", "set after import")  # after the fork server may have started: still seen
    calls = [os.getpid, torch.get_num_threads, partial(os.getenv, "SCPO_TEST_MARK")] * 3
    results = train.run_calls(calls, launch(max_concurrent=2, threads_per_run=1))
    assert os.getpid() not in results[0::3] and len(set(results[0::3])) <= 2  # two workers at most
    assert results[1::3] == [1, 1, 1]
    assert results[2::3] == ["set after import"] * 3


def test_one_at_a_time_runs_in_this_process():
    before = torch.get_num_threads()
    try:
        assert train.run_calls([os.getpid, torch.get_num_threads], launch(threads_per_run=1)) == [os.getpid(), 1]
    finally:
        torch.set_num_threads(before)


def test_a_worker_ends_when_the_stage_that_owns_its_pool_is_killed():
    """A killed stage leaves no worker finishing its run (and deleting that run's checkpoints) behind it; the
    owner is killed and not reaped, a zombie, as a kernel whose parent died may stay under a container's init."""
    import multiprocessing
    import subprocess
    import time

    owner = subprocess.Popen(["sleep", "60"])
    watcher = multiprocessing.get_context("spawn").Process(target=train.exit_with_owner, args=(owner.pid, 0.05))
    watcher.start()
    try:
        time.sleep(1.0)
        assert watcher.is_alive(), "the worker ended while its owner lived"
        owner.kill()  # not waited for: a zombie until the finally below
        watcher.join(timeout=30)
        assert watcher.exitcode == 1
    finally:
        owner.kill()
        owner.wait()
        watcher.kill()


@pytest.mark.slow
@pytest.mark.parametrize("max_concurrent", [1, 2])
def test_a_fork_server_started_early_is_the_one_the_pool_forks_its_workers_from(tmp_path, max_concurrent):
    """`pool.start_fork_server` (the training notebooks' first cell) starts the server only for a pool, and
    `train.worker_pool` then forks its workers from it rather than starting another."""
    import json
    import subprocess
    import sys

    import yaml

    from scpo.paths import ROOT

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["launch"]["max_concurrent"] = max_concurrent
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    script = (
        "import json, os, multiprocessing.forkserver as fs\n"
        "from scpo import pool, train, config\n"
        "started = pool.start_fork_server('params.yaml')\n"
        "server = fs._forkserver._forkserver_pid\n"
        "launch = config.load_section(config.read_params('params.yaml'), 'launch')\n"
        "parents = set(train.run_calls([os.getppid] * 4, launch)) if started else set()\n"
        "print(json.dumps({'started': started, 'server': server, 'parents': sorted(parents)}))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if max_concurrent == 1:
        assert result == {"started": False, "server": None, "parents": []}
    else:
        assert result["started"] and result["parents"] == [result["server"]]
