"""The ray executor: the same sweep on two local Ray actors writes the same bytes as the local
executor, even when an actor dies mid-sweep and its runs are run again on another. Ray is the optional extra
``.[ray]``: without it these tests are skipped. The local Ray started here (2 CPUs) is shut
down at the end of the module and none of its processes outlives it."""

from __future__ import annotations

import os
import signal
import time

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install '.[ray]')")

from sweepfiles import GRID, SETS, contents, write  # noqa: E402

from sandbox.results import load  # noqa: E402
from sandbox.sweep import load_sweep  # noqa: E402
from sandbox.sweep.ray_executor import _package_on_path  # noqa: E402
from sandbox.sweep.reaper import descendants  # noqa: E402
from sandbox.sweep.runner import run_sweep  # noqa: E402

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


def _chain_workers() -> list[int]:
    """The Ray actors' processes (``ray::ChainWorker``) among this process's descendants."""
    found = []
    for pid in descendants(os.getpid()):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read().startswith(b"ray::ChainWorker"):
                    found.append(pid)
        except OSError:
            continue
    return sorted(found)


def test_two_ray_actors_write_the_local_bytes_even_when_one_dies_mid_sweep(local_ray, reference, tmp_path):
    spec = load_sweep(write(tmp_path, GRID))
    killed = []

    def kill_one_actor_after_the_first_run(n):
        if not killed:
            killed.append(_chain_workers()[0])
            os.kill(killed[0], signal.SIGKILL)  # the runs it holds are lost with it

    outcome = run_sweep(spec, tmp_path / "results" / "tiny", executor="ray", jobs=2,
                        progress=kill_one_actor_after_the_first_run)
    assert killed and outcome.ran == 6 and outcome.failed == 0
    assert load(outcome.path).manifest["retried_runs"] >= 1  # run again on another actor
    assert contents(outcome.path) == contents(reference)


def test_an_explicit_list_runs_on_ray_from_the_command_line(local_ray, tmp_path):
    from click.testing import CliRunner

    from sandbox.cli import main

    out = tmp_path / "results" / "amm"
    result = CliRunner().invoke(main, ["sweep", str(write(tmp_path, SETS)), "--executor", "ray", "--jobs", "2",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    assert "ray executor, 2 jobs" in result.stdout and f"results written to {out}" in result.stdout
    res = load(out)
    assert res.manifest["executor"] == "ray" and [s["name"] for s in res.sets] == ["shallow AMM", "deep AMM"]
    assert len(res.summary()) == 2
