"""sandbox.pool: workers run tasks like any process pool, but leaving the pool by an exception
kills them instead of waiting for their tasks (kill -9 and Ctrl-C: tests/test_reliability.py)."""

from __future__ import annotations

import os
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from sandbox.pool import worker_pool


def mark_then_sleep(marker: str) -> None:
    """A long task that says when it has started (run in a worker)."""
    Path(marker).write_text(str(os.getpid()))
    time.sleep(60)


def test_workers_run_tasks_in_other_processes():
    with worker_pool(2) as pool:
        pids = {pool.submit(os.getpid).result() for _ in range(4)}
    assert pids and os.getpid() not in pids


def test_leaving_the_pool_by_an_exception_kills_its_workers_instead_of_waiting(tmp_path):
    markers = [tmp_path / f"started{i}" for i in range(2)]
    with pytest.raises(RuntimeError, match="stop"):
        with worker_pool(2) as pool:
            running = [pool.submit(mark_then_sleep, str(m)) for m in markers]
            deadline = time.monotonic() + 120  # a bound for a loaded machine, not a timing
            while not all(m.exists() for m in markers) and time.monotonic() < deadline:
                time.sleep(0.1)  # until both tasks are running
            raise RuntimeError("stop")
    for future in running:  # killed mid-task, not waited for
        with pytest.raises(BrokenProcessPool):
            future.result()
