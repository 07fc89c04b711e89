"""When things go wrong the command line says what happened and leaves nothing behind: a bug is an
internal error (exit 3, a short traceback), a run that fails costs only its own results (exit 4),
Ctrl-C exits 130 with one line, and a kill -9 leaves no worker process alive."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from sandbox.cli import main

from test_compare_cli import tiny_scenario_text

MECHS = ["fixed-fee", "dutch-auction"]
ROOT = Path(__file__).resolve().parent.parent
WAIT_SECONDS = 120  # an upper bound for processes to start or stop on a loaded machine, not a timing


@pytest.fixture
def tiny(tmp_path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(tiny_scenario_text())
    return path


def _cli(args: list[str], cwd: Path, driver: Path | None = None, logs: Path | None = None) -> subprocess.Popen:
    """``liqsandbox ARGS`` in a fresh interpreter (through ``driver`` if given). Output goes to
    pipes, or to files in ``logs``: a pipe would keep a killed CLI's surviving workers waited for."""
    command = [sys.executable, str(driver)] if driver else [sys.executable, "-m", "sandbox.cli"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if logs is None:
        return subprocess.Popen([*command, *args], cwd=cwd, text=True, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    logs.mkdir(exist_ok=True)
    with open(logs / "stdout", "w") as stdout, open(logs / "stderr", "w") as stderr:  # the child keeps its copies
        return subprocess.Popen([*command, *args], cwd=cwd, text=True, env=env, stdout=stdout, stderr=stderr)


# --------------------------------------------------------------------------- internal errors


def test_a_bug_is_an_internal_error_with_a_short_traceback_exit_3(tiny, monkeypatch):
    import sandbox.scenarios

    def broken(name):
        return {}["amount"]  # a KeyError from inside the package, as a bug would raise it

    monkeypatch.setattr(sandbox.scenarios, "load_scenario", broken)
    result = CliRunner().invoke(main, ["compare", "--scenario", str(tiny)], catch_exceptions=False)
    assert result.exit_code == 3
    lines = result.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert "KeyError: 'amount'" in lines and "in broken" in result.stderr
    assert lines[-1].startswith("internal error: KeyError: 'amount' — this is a bug") and "report" in lines[-1]
    assert sum(line.startswith("  File ") for line in lines) <= 6
    assert "error: 'amount'" not in result.stderr  # not dressed up as bad input


# --------------------------------------------------------------------------- failed runs

# Runs the CLI with one run broken. Spawned workers import this file as their __main__ module, so
# the patch is in force in every worker too.
DRIVER = textwrap.dedent('''
    import sandbox.simulation

    _setup = sandbox.simulation.Simulation.setup


    def setup(self):
        if self.mechanism_name == "dutch-auction" and self.seed == {seed}:
            return {{}}["amount"]  # a bug in one run
        return _setup(self)


    sandbox.simulation.Simulation.setup = setup

    if __name__ == "__main__":
        from sandbox.cli import main

        main()
''')


def _driver(tmp_path: Path, failing_seed: int) -> Path:
    path = tmp_path / f"driver{failing_seed}.py"
    path.write_text(DRIVER.format(seed=failing_seed))
    return path


def _table(stdout: str) -> str:
    """The printed table with its notes: from the header to the line with the wall time."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("metric"))
    end = next(i for i, line in enumerate(lines) if "results written to" in line)
    return "\n".join(lines[start:end])


def test_a_failed_run_costs_only_its_own_results_whatever_the_jobs(tiny, tmp_path):
    outs, tables = {}, {}
    for jobs in (2, 1):
        out = tmp_path / f"jobs{jobs}"
        args = ["compare", "--scenario", str(tiny), "--seeds", "2", "--jobs", str(jobs), "--out", str(out)]
        proc = _cli([*args, *[a for m in MECHS for a in ("--mechanism", m)]], tmp_path, _driver(tmp_path, 1))
        stdout, stderr = proc.communicate(timeout=WAIT_SECONDS * 5)
        assert proc.returncode == 4, stderr
        assert stderr.splitlines()[-1].startswith("error: 1 of 4 runs failed"), stderr
        outs[jobs], tables[jobs] = out, _table(stdout)
    assert "FAILED dutch-auction (seed 1): KeyError: 'amount'" in tables[2]
    assert tables[1] == tables[2]  # the same table, failure line included, whatever the jobs
    summary = pd.read_csv(outs[2] / "summary.csv")
    assert list(summary[["mechanism", "seed"]].itertuples(index=False, name=None)) == [
        ("fixed-fee", 0), ("fixed-fee", 1), ("dutch-auction", 0)]
    assert (outs[1] / "summary.csv").read_bytes() == (outs[2] / "summary.csv").read_bytes()
    runs = json.loads((outs[2] / "manifest.json").read_text())["runs"]
    assert [(r["mechanism"], r["seed"], r["status"]) for r in runs] == [
        ("fixed-fee", 0, "ok"), ("fixed-fee", 1, "ok"), ("dutch-auction", 0, "ok"), ("dutch-auction", 1, "failed")]
    assert runs[3]["error"] == "KeyError: 'amount'" and runs[3]["internal_error"] is True
    assert "in setup" in runs[3]["traceback"]
    shown = CliRunner().invoke(main, ["show", str(outs[2])])
    assert "FAILED dutch-auction (seed 1): KeyError: 'amount'" in shown.stdout


def test_a_mechanism_whose_every_run_failed_shows_failed_in_its_column(tiny, tmp_path, monkeypatch):
    import sandbox.simulation

    setup = sandbox.simulation.Simulation.setup

    def broken(self):
        if self.mechanism_name == "dutch-auction":
            raise KeyError("amount")
        return setup(self)

    monkeypatch.setattr(sandbox.simulation.Simulation, "setup", broken)
    out = tmp_path / "res"
    args = ["compare", "--scenario", str(tiny), "--jobs", "1", "--out", str(out), "--mechanism", "fixed-fee",
            "--mechanism", "dutch-auction"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 4
    row = next(line for line in result.stdout.splitlines() if line.strip().startswith("debt at risk"))
    assert row.split()[-1] == "failed"
    assert pd.read_csv(out / "summary.csv")["mechanism"].tolist() == ["fixed-fee"]


def test_when_every_run_fails_nothing_is_written(tiny, tmp_path, monkeypatch):
    import sandbox.simulation

    def broken(self):
        raise KeyError("amount")

    monkeypatch.setattr(sandbox.simulation.Simulation, "setup", broken)
    out = tmp_path / "res"
    result = CliRunner().invoke(main, ["compare", "--scenario", str(tiny), "--jobs", "1", "--out", str(out),
                                       "--mechanism", "fixed-fee"], catch_exceptions=False)
    assert result.exit_code == 4
    last_line = result.stderr.splitlines()[-1]
    assert last_line == f"error: every run failed (see above); nothing written, {out} left as it was"
    assert "FAILED fixed-fee (seed 0): KeyError: 'amount'" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.toml"]


# --------------------------------------------------------------------------- kill -9 and Ctrl-C


def _children(pid: int) -> dict[int, str]:
    """Live child processes of ``pid`` (from /proc) with their command lines."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out[int(entry.name)] = cmdline
    return out


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (a zombie holds no memory, only its entry)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _threads(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def _wait_for(condition, what: str):
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}")


def _busy_workers(proc: subprocess.Popen) -> dict[int, str]:
    """Wait until the CLI's two pool workers run their first task (past the initializer, whose
    parent-watching thread is then running) and return every child process."""
    def ready():
        # forked workers carry the CLI's command line (read each time: until the CLI's exec it is
        # the test's), spawned ones spawn_main's
        own = Path(f"/proc/{proc.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        children = _children(proc.pid)
        workers = [p for p, cmd in children.items() if "spawn_main" in cmd or cmd == own]
        if proc.poll() is not None:
            raise AssertionError(f"the CLI ended early with exit code {proc.returncode}")
        return children if len(workers) == 2 and all(_threads(p) >= 2 for p in workers) else None

    children = _wait_for(ready, "two busy workers")
    time.sleep(1.0)  # into the runs themselves
    return children


def _long_compare(tmp_path: Path, tiny: Path) -> tuple[subprocess.Popen, Path]:
    """compare --jobs 2 of two mechanisms on 3,000 blocks, in ``tmp_path/work``; logs beside it."""
    work = tmp_path / "work"
    work.mkdir()
    long = tmp_path / "long.toml"
    long.write_text(tiny.read_text().replace("blocks = 30", "blocks = 3000"))
    args = ["compare", "--scenario", str(long), "--jobs", "2", "--mechanism", "fixed-fee", "--mechanism",
            "dutch-auction", "--out", str(work / "res")]
    return _cli(args, work, logs=tmp_path / "logs"), work


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kill_9_of_compare_leaves_no_worker_alive(tiny, tmp_path):
    proc, work = _long_compare(tmp_path, tiny)
    children = _busy_workers(proc)  # the workers, and multiprocessing's helpers if any: all must go
    proc.kill()
    proc.wait()
    _wait_for(lambda: not any(_alive(p) for p in children), "the workers to die with their parent")
    assert list(work.iterdir()) == []  # no results, no temporary folder


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_exits_130_with_one_line_and_leaves_nothing(tiny, tmp_path):
    proc, work = _long_compare(tmp_path, tiny)
    children = _busy_workers(proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=WAIT_SECONDS) == 130
    stderr = (tmp_path / "logs" / "stderr").read_text()
    errors = [line for line in stderr.splitlines() if line.startswith("error")]
    assert errors == ["error: interrupted"] and "Traceback" not in stderr, stderr
    _wait_for(lambda: not any(_alive(p) for p in children), "the workers to stop")
    assert list(work.iterdir()) == []
