"""The fork server the training workers come from (`train.worker_pool`), started early.

A stage that trains makes its pool after its own imports and reading (about 4 s in a notebook's kernel), and the
fork server then imports `scpo.train` (torch, transformers: about 3 s) while the stage waits. Started first,
from a module that imports no torch, the server's imports run on another core while the stage does its own.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
from pathlib import Path

from scpo import config

FORK_SERVER_PRELOAD = ["scpo.train"]  # what every worker has imported before its first run


def start_fork_server(params_file: Path) -> bool:
    """Start the workers' fork server now if `params_file`'s `launch.max_concurrent` asks for a pool (stage 04
    with a `launch.command` runs a launcher instead, and the server stays idle); True if it started or was running.
    A later `train.worker_pool` in this process forks its workers from it."""
    if config.load_section(config.read_params(params_file), "launch").max_concurrent == 1:
        return False
    multiprocessing.get_context("forkserver").set_forkserver_preload(FORK_SERVER_PRELOAD)
    multiprocessing.forkserver.ensure_running()
    return True
