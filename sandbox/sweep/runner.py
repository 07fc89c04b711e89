"""Running a sweep: the distinct runs not finished yet, on an executor, into the store, then the
final folder. ``estimate`` says how long it should take before anything runs (``--dry-run``)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sandbox.errors import SandboxError

from .executors import RunTask, get_executor
from .spec import SweepSpec
from .store import SweepStore, missing_runs

# CPU seconds of one run, by backend: a + blocks x (b + c x agents), fitted to tiny runs and to
# examples/sweep-bonus.toml (7.8 CPU s a run of 150 blocks, 16 agents) on the development machine;
# a rough guide for free cores, not a promise.
_COST = {"eth-tester": (0.4, 0.018, 0.0018), "anvil": (0.1, 0.003, 0.0005)}


class AllRunsFailed(SandboxError):
    """No run of the sweep has results: nothing is published."""


@dataclass(frozen=True)
class SweepOutcome:
    path: Path
    ran: int  # runs executed by this call
    resumed: int  # runs found finished in the interrupted sweep
    failed: int  # runs without results (failed, or their worker died)
    seconds: float


def tasks_of(spec: SweepSpec, runs: list[int]) -> list[RunTask]:
    return [RunTask(run=r.run, scenario=r.scenario, mechanism=r.mechanism, seed=r.seed, backend=spec.backend)
            for r in (spec.runs[i] for i in runs)]


def run_sweep(spec: SweepSpec, out: str | os.PathLike, executor: str = "local", jobs: int = 1,
              address: str | None = None, resume: bool = False, restart: bool = False,
              progress: Callable[[int], None] | None = None, on_start: Callable[[int, int], None] | None = None,
              ) -> SweepOutcome:
    """Run what is left of ``spec``, stream it into ``out``'s in-progress folder and publish
    ``out``. ``on_start(to_run, already_done)`` is called once the folder is open; ``progress(1)``
    after each run. An exception (Ctrl-C included) leaves the in-progress folder to ``--resume``."""
    runner = get_executor(executor)(jobs=jobs, address=address)  # refused options: before any file
    try:
        store = SweepStore(spec, out)
        done = store.open(resume=resume, restart=restart)
        todo = missing_runs(spec, done)
        resumed = len(spec.runs) - len(todo)
        if on_start is not None:
            on_start(len(todo), resumed)
        start = time.perf_counter()
        for output in runner.run(tasks_of(spec, todo)) if todo else ():
            store.record(output)
            if progress is not None:
                progress(1)
    finally:
        runner.close()
    retried = getattr(runner, "retried", 0)  # runs sent again after their worker died
    seconds = time.perf_counter() - start
    failed = len(missing_runs(spec, store.finished()))
    if failed == len(spec.runs):
        raise AllRunsFailed(f"every run failed; nothing published (the failures are in {store.folder})")
    path = store.publish({"executor": executor, "jobs": jobs, "wall_seconds": round(seconds, 3),
                          "resumed_runs": resumed, "retried_runs": retried})
    return SweepOutcome(path=path, ran=len(todo), resumed=resumed, failed=failed, seconds=seconds)


def estimate(spec: SweepSpec, jobs: int, done: dict | None = None) -> tuple[float, str]:
    """(seconds, how it was estimated) for the runs left: from the finished runs' own wall times
    when an interrupted sweep has some, else from ``_COST``."""
    done = done or {}
    todo = missing_runs(spec, done)
    walls = [r["entry"].get("wall_seconds") for r in done.values() if r["status"] == "ok"]
    walls = [w for w in walls if isinstance(w, (int, float))]
    jobs = max(1, min(jobs, len(todo) or 1))
    if walls:
        per_run = sum(walls) / len(walls)
        return per_run * len(todo) / jobs, f"{len(walls)} finished runs took {per_run:.1f} s each"
    a, b, c = _COST.get(spec.backend, _COST["eth-tester"])
    total = 0.0
    for i in todo:
        sc = spec.runs[i].scenario
        agents = sc.borrowers.count + sum(k.count for k in sc.keepers) + 2
        settle = sc.settle_max_seconds // sc.block_time_seconds
        blocks = sc.blocks + min(settle, sc.blocks // 4)  # most runs settle well before the cap
        total += a + blocks * (b + c * agents)
    return total / jobs, "on free cores, from a rough model of the cost of a block and an agent"


__all__ = ["AllRunsFailed", "SweepOutcome", "estimate", "run_sweep", "tasks_of"]
