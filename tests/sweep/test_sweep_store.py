"""A sweep streams to disk and survives a kill: one Parquet part per run and a journal line, then
the final folder in one rename. What it writes depends only on the runs: the same bytes after a
kill -9 and a --resume on two workers as in one uninterrupted process, and whatever a worker's
chain ran before."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from sweepfiles import GRID, SETS, contents, write

from sandbox.cli import main
from sandbox.results import Results, load
from sandbox.sweep import load_sweep
from sandbox.sweep import store as store_mod
from sandbox.sweep.executors import RunTask, execute
from sandbox.sweep.runner import run_sweep
from sandbox.sweep.store import partial_dir
from sandbox.sweep.warm import WarmChains

ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 300  # a bound for a loaded machine, not a timing


def test_a_sweep_folder_holds_a_part_per_run_and_table_and_the_summaries(reference):
    assert {p.name for p in reference.iterdir()} == {"summary.csv", "aggregate.csv", "manifest.json", "events",
                                                    "positions", "prices", "txs", "agents"}
    assert sorted(p.name for p in (reference / "events").iterdir()) == [f"run-{i:06d}.parquet" for i in range(6)]
    summary = pd.read_csv(reference / "summary.csv")
    assert list(summary.columns[:5]) == ["set", "mechanisms.fixed-fee.bonus_bps", "mechanism", "seed", "run"]
    assert list(summary[["set", "mechanism", "seed"]].itertuples(index=False, name=None)) == [
        (s, m, seed) for s in (0, 1) for m in ("fixed-fee", "dutch-auction") for seed in (0, 1)]
    assert not partial_dir(reference).exists()  # the in-progress folder is gone once published


def test_results_load_a_sweep_with_the_same_methods_as_a_comparison(reference, tmp_path):
    res = Results.load(reference)
    assert res.kind == "sweep" and res.parameters == ["mechanisms.fixed-fee.bonus_bps"]
    assert len(res.summary()) == 8 and (res.summary()["liquidations"] > 0).any()
    agg = res.aggregate(["lender_loss_usd"])
    assert list(agg[["set", "mechanisms.fixed-fee.bonus_bps", "mechanism", "seeds"]].itertuples(index=False, name=None)) == [
        (0, 300, "fixed-fee", 2), (0, 300, "dutch-auction", 2), (1, 800, "fixed-fee", 2), (1, 800, "dutch-auction", 2)]
    pd.testing.assert_frame_equal(agg, pd.read_csv(reference / "aggregate.csv")[list(agg.columns)],
                                  check_dtype=False, rtol=1e-9)  # the file: written with 10 digits
    text = res.table()
    assert text.splitlines()[0].split()[:4] == ["set", "bonus_bps", "mechanism", "seeds"]
    assert sorted(res.events["run"].unique()) == list(range(6)) and len(res.prices) == 6 * 12 + res.prices["phase"].eq("settle").sum()
    charts = res.plot(tmp_path / "png")
    assert [p.name for p in charts] == ["sweep_lender_loss_usd.png", "sweep_borrower_loss_usd.png",
                                        "sweep_keeper_profit_usd.png", "sweep_recovery_efficiency.png"]
    copy = Results.load(res.save(tmp_path / "copy"))
    assert contents(copy.path) == contents(reference)


def _anvil() -> bool:
    from sandbox.chain.anvil import AnvilNotFound, find_anvil

    try:
        return bool(find_anvil())
    except AnvilNotFound:
        return False


@pytest.mark.parametrize("backend", ["eth-tester", pytest.param("anvil", marks=pytest.mark.skipif(
    not _anvil(), reason="no anvil binary (npm ci installs it)"))])
def test_a_runs_tables_do_not_depend_on_what_its_worker_ran_before(tmp_path, backend):
    """The warm chain: the same run on a fresh worker and after three others (another mechanism,
    other parameters, another seed) gives the same Parquet bytes, and the chain was reused."""
    spec = load_sweep(write(tmp_path, GRID), backend=backend)
    task = {(r.mechanism, r.seed, r.scenario.mechanism_overrides("fixed-fee").get("bonus_bps")): r for r in spec.runs}

    def run(key, chains):
        r = task[key]
        return execute(RunTask(run=r.run, scenario=r.scenario, mechanism=r.mechanism, seed=r.seed,
                               backend=backend), chains)

    fresh = run(("fixed-fee", 1, 800), WarmChains())
    worker = WarmChains()
    for key in [("fixed-fee", 0, 800), ("dutch-auction", 1, 300), ("fixed-fee", 1, 300)]:
        assert run(key, worker).status == "ok"
    again = run(("fixed-fee", 1, 800), worker)
    worker.close()
    assert again.status == "ok" and again.parts == fresh.parts and again.metrics == fresh.metrics
    assert worker.stats == {"opened": 2, "reused": 2}  # the target ran on the chain of the two before it


# Runs `liqsandbox sweep` with the store killing its own process (SIGKILL: no clean-up at all)
# right after the parts of its third run are on disk and before that run's journal line.
KILLER = textwrap.dedent('''
    import os, signal
    import sandbox.sweep.store as store

    seen = []

    def checkpoint(step):
        seen.append(step)
        if seen.count("parts") == 3:
            os.kill(os.getpid(), signal.SIGKILL)

    store._checkpoint = checkpoint

    if __name__ == "__main__":
        from sandbox.cli import main

        main()
''')


def test_kill_9_mid_sweep_then_resume_writes_what_an_uninterrupted_sweep_writes(reference, tmp_path):
    """Killed in one process, resumed on two workers: the bytes of the sweep run through in one."""
    sweep_file = write(tmp_path, GRID)
    out = tmp_path / "results" / "tiny"
    driver = tmp_path / "killer.py"
    driver.write_text(KILLER)
    proc = subprocess.run([sys.executable, str(driver), "sweep", str(sweep_file), "--out", str(out), "--jobs", "1"],
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=WAIT_SECONDS)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    partial = partial_dir(out)
    assert not out.exists() and len((partial / "runs.jsonl").read_text().splitlines()) == 2
    assert len(list((partial / "events").glob("*.parquet"))) == 3  # the third run's parts, without its line
    with open(partial / "runs.jsonl", "a") as journal:
        journal.write('{"run": 5, "status": "ok", "entr')  # and a line cut short, as a kill mid-write leaves

    again = CliRunner().invoke(main, ["sweep", str(sweep_file), "--out", str(out)])
    assert again.exit_code == 2 and "an interrupted sweep is in" in again.stderr and "--resume" in again.stderr

    resumed = CliRunner().invoke(main, ["sweep", str(sweep_file), "--out", str(out), "--resume", "--jobs", "2"])
    assert resumed.exit_code == 0, resumed.stderr
    assert "resuming: 2 runs already finished, 4 to do" in resumed.stdout
    assert contents(out) == contents(reference)
    assert load(out).manifest["resumed_runs"] == 2 and not partial.exists()


def test_a_kill_after_publishing_is_finished_by_resume_with_the_same_bytes(tmp_path, monkeypatch):
    spec = load_sweep(write(tmp_path, SETS))
    out = tmp_path / "results" / "sets"

    def stop(step):
        if step == "published":
            raise KeyboardInterrupt  # the final folder is in place, the in-progress one not yet removed

    monkeypatch.setattr(store_mod, "_checkpoint", stop)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, out, jobs=1)
    first = contents(out)
    assert partial_dir(out).exists() and len(load(out).summary()) == 2
    monkeypatch.undo()
    outcome = run_sweep(spec, out, resume=True)
    assert outcome.ran == 0 and outcome.resumed == 2
    assert contents(out) == first and not partial_dir(out).exists()


def test_a_failed_run_is_published_as_failed_and_resume_runs_it_again(tmp_path, monkeypatch):
    import sandbox.simulation

    spec = load_sweep(write(tmp_path, SETS))
    out = tmp_path / "results" / "sets"
    setup = sandbox.simulation.Simulation.setup

    def broken(self):
        if self.scenario.amm.liquidity_weth == 500.0:
            return {}["amount"]  # a bug in the first set's run
        return setup(self)

    monkeypatch.setattr(sandbox.simulation.Simulation, "setup", broken)
    outcome = run_sweep(spec, out, jobs=1)
    assert outcome.failed == 1
    res = load(out)
    assert res.summary()["set"].tolist() == [1]  # the other set's run is published
    assert [f.error for f in res.failures] == ["KeyError: 'amount'"]
    assert "FAILED fixed-fee (seed 0): KeyError: 'amount'" in res.table()
    assert partial_dir(out).exists()  # kept for --resume

    monkeypatch.undo()
    again = run_sweep(spec, out, resume=True)
    assert (again.ran, again.resumed, again.failed) == (1, 1, 0)
    assert load(out).summary()["set"].tolist() == [0, 1] and not partial_dir(out).exists()
