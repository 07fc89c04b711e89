"""The ray executor: the same sweep on two local Ray actors writes the same bytes as the local
executor, and a run whose actor dies is run again on another. Ray is the optional extra
``.[ray]``: without it these tests are skipped. The local Ray started here (2 CPUs) is shut
down at the end of the module and none of its processes outlives it."""

from __future__ import annotations

import os
import signal
import time

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install '.[ray]')")

from sandbox.sweep import load_sweep  # noqa: E402
from sandbox.results import part_name  # noqa: E402
from sandbox.sweep.ray_executor import RayExecutor, _package_on_path  # noqa: E402
from sandbox.sweep.reaper import descendants  # noqa: E402
from sandbox.sweep.runner import run_sweep, tasks_of  # noqa: E402

from sweepfiles import GRID, contents, write  # noqa: E402

pytestmark = pytest.mark.slow  # a local Ray takes a while to start on a busy machine
WAIT_SECONDS = 120  # a bound for processes to stop on a loaded machine, not a timing


def _ray_processes() -> list[str]:
    found = []
    for pid in descendants(os.getpid()):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "ray" in command:
            found.append(f"{pid} {command[:80]}")
    return found


@pytest.fixture(scope="module")
def local_ray():
    with _package_on_path():  # Ray's workers import this checkout's sandbox
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=256 * 2**20)
    try:
        yield
    finally:
        ray.shutdown()
        deadline = time.monotonic() + WAIT_SECONDS
        while _ray_processes() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _ray_processes() == []  # no Ray process outlives the tests that started it


def test_a_sweep_on_two_ray_actors_writes_what_the_local_executor_writes(local_ray, reference, tmp_path):
    spec = load_sweep(write(tmp_path, GRID))
    outcome = run_sweep(spec, tmp_path / "results" / "tiny", executor="ray", jobs=2)
    assert outcome.ran == 6 and outcome.failed == 0
    assert contents(outcome.path) == contents(reference)


def test_a_dead_actors_runs_are_run_again_on_another(local_ray, reference, tmp_path):
    spec = load_sweep(write(tmp_path, GRID))
    tasks = tasks_of(spec, list(range(len(spec.runs))))
    executor = RayExecutor(jobs=2)
    try:
        doomed = executor.pids()[0]
        outputs = executor.run(tasks)
        got = [next(outputs)]
        os.kill(doomed, signal.SIGKILL)  # its runs in flight are lost with it
        got += list(outputs)
    finally:
        executor.close()
    assert executor.retried >= 1
    assert sorted(o.run for o in got) == list(range(6)) and all(o.status == "ok" for o in got)
    for o in got:  # the retried runs' tables are the same as everywhere else
        assert o.parts == {t: (reference / t / part_name(o.run)).read_bytes() for t in o.parts}, o.run
