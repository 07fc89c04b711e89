"""Several mechanisms on the same scenario and seeds: the runs, their metrics and the table.

Each (mechanism, seed) run is independent (a run holds no global state), so with ``jobs > 1``
they go to a process pool (``sandbox.pool.worker_pool``: spawned workers that die with the
parent). Results come back in (mechanism order given, seed) order whatever the job count, so
the tables are identical for ``jobs=1`` and ``jobs=N``. Wall time is measured per run and goes
into the results manifest only, never into a table.

A run that raises is recorded as a ``RunFailure`` (its error line and traceback) and the other
runs go on: one mechanism that breaks never discards the others' results. The table marks the
failure and the manifest keeps it; the command line exits non-zero.

``run_comparison`` returns a ``sandbox.results.Results`` (the one results object, also what
``Results.load`` reads back). The statistics and the table live in ``sandbox.table``, the run
records in ``sandbox.runs``; both are re-exported here for older imports.
"""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Sequence

from sandbox.errors import one_line
from sandbox.pool import worker_pool
from sandbox.results import Results
from sandbox.runs import TABLE_NAMES, RunFailure, RunRecord, attempt, prepare, summary_frame
from sandbox.scenarios import Scenario
from sandbox.table import (
    MIN_SEEDS_FOR_INTERVAL,
    aggregate,
    best_mechanisms,
    failure_lines,
    format_table,
    format_value,
    mean_interval,
    metric_label,
    t975,
    table_legend,
)


def _worker(scenario: Scenario, mechanism: str, seed: int, backend: str) -> RunRecord | RunFailure:
    return attempt(scenario, mechanism, seed, backend)


def effective_jobs(jobs: int | None, runs: int) -> int:
    """Worker processes used: ``jobs`` (default: CPU count) capped at the number of runs."""
    if jobs is None:
        jobs = os.cpu_count() or 1
    return max(1, min(int(jobs), runs))


def progress_total(scenario: Scenario, runs: int, jobs: int | None) -> int:
    """How many ``progress`` steps ``run_comparison`` reports: one per block when it runs
    in-process (``jobs`` resolves to 1), else one per finished run."""
    if effective_jobs(jobs, runs) == 1:
        return runs * scenario.blocks
    return runs


def check_mechanism_list(mechanisms: Sequence[str]) -> list[str]:
    """``mechanisms`` as a list, refused when empty or when one is listed twice."""
    mechanisms = list(mechanisms)
    if not mechanisms:
        raise ValueError("no mechanisms to compare")
    if len(set(mechanisms)) != len(mechanisms):
        raise ValueError(f"mechanism listed twice: {', '.join(sorted({m for m in mechanisms if mechanisms.count(m) > 1}))}")
    return mechanisms


def run_comparison(scenario: Scenario, mechanisms: Sequence[str], seeds: Sequence[int],
                   backend: str = "eth-tester", jobs: int | None = None,
                   progress: Callable[[int], None] | None = None) -> Results:
    """Run every mechanism on every seed; ``progress(n)`` advances by ``n`` steps (see
    ``progress_total``). Runs are ordered by (mechanism order given, seed)."""
    mechanisms = check_mechanism_list(mechanisms)
    seeds = list(seeds)
    if not seeds:
        raise ValueError("no seeds to run")
    from sandbox.simulation import check_scenario

    for m in mechanisms:  # refuse a scenario a mechanism cannot serve before anything runs
        check_scenario(scenario, m)
    keys = [(m, s) for m in mechanisms for s in seeds]
    n_jobs = effective_jobs(jobs, len(keys))
    done: dict[tuple[str, int], RunRecord | RunFailure] = {}
    if n_jobs == 1:
        for m, s in keys:
            done[(m, s)] = attempt(scenario, m, s, backend, progress=progress)
    else:
        prepare(backend, mechanisms)
        with worker_pool(n_jobs) as pool:
            futures = {pool.submit(_worker, scenario, m, s, backend): (m, s) for m, s in keys}
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    done[futures[fut]] = _outcome(fut, *futures[fut])
                    if progress is not None:
                        progress(1)
    outcomes = [done[k] for k in keys]
    return Results.from_runs(scenario, mechanisms, seeds, backend,
                             runs=[o for o in outcomes if isinstance(o, RunRecord)],
                             failures=[o for o in outcomes if isinstance(o, RunFailure)])


def _outcome(future, mechanism: str, seed: int) -> RunRecord | RunFailure:
    """A finished future's run; a worker that died (killed, out of memory) or a result that could
    not come back fails only its run."""
    try:
        return future.result()
    except BrokenProcessPool as exc:
        return worker_died(mechanism, seed, exc)
    except Exception as exc:  # noqa: BLE001 - e.g. a result that does not pickle: that run's failure
        return RunFailure.from_exception(mechanism, seed, exc)


def worker_died(mechanism: str, seed: int, exc: BaseException) -> RunFailure:
    """The failure of a run whose worker process died under it."""
    return RunFailure(mechanism=mechanism, seed=int(seed), internal=False,
                      error=f"worker process died ({one_line(exc)}); killed or out of memory?")


__all__ = ["MIN_SEEDS_FOR_INTERVAL", "RunFailure", "RunRecord", "TABLE_NAMES", "aggregate",
           "best_mechanisms", "check_mechanism_list", "effective_jobs", "failure_lines", "format_table",
           "format_value", "mean_interval", "metric_label", "progress_total", "run_comparison", "summary_frame",
           "t975", "table_legend", "worker_died"]
