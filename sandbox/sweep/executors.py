"""Where a sweep's runs execute, behind one interface: ``Executor.run(tasks)`` yields each run's
``RunOutput`` as it finishes, in any order (the store puts them in order).

* ``local`` (``LocalExecutor``): in this process with ``jobs=1``, else a process pool
  (``sandbox.pool.worker_pool``: workers die with the parent). Each worker keeps its chain and
  deployed market between runs (``sandbox.sweep.warm.WarmChains``), and runs are handed out in
  batches of one seed (``batches``) so that a worker runs them back to back on that chain. At
  most ``2 x jobs`` batches are in flight, so memory stays flat however long the sweep. A worker
  that dies fails the runs it had (``--resume`` retries them); a new pool takes the rest.
* ``ray`` (``sandbox.sweep.ray_executor.RayExecutor``): actors that hold a chain each, results
  gathered in batches as they finish, a dead actor's runs retried on another.

A run's output is small and self-contained: its summary metrics, its manifest entry and its
tables as Parquet bytes, made in the worker, so the parent only writes files. Executors are
plug-ins: the built-in ``local`` and ``ray`` plus any registered under the entry-point group
``sandbox.executors``.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Protocol, Sequence

from sandbox.scenarios import Scenario

IN_FLIGHT_PER_JOB = 2  # batches queued per worker: one running, one waiting
MAX_BATCH = 16


@dataclass(frozen=True)
class RunTask:
    """One distinct run to execute: ``run`` is its number in the sweep."""

    run: int
    scenario: Scenario
    mechanism: str
    seed: int
    backend: str


@dataclass(frozen=True)
class RunOutput:
    """What a run leaves for the store: ``status`` "ok" (metrics, tables as Parquet bytes) or
    "failed"; ``entry`` is its manifest entry (transactions and wall time, or the error)."""

    run: int
    status: str
    entry: dict
    metrics: dict = field(default_factory=dict)
    parts: dict = field(default_factory=dict)  # table name -> Parquet bytes


class Executor(Protocol):
    """Runs tasks and yields their outputs as they finish; ``close`` ends every worker."""

    name: str
    jobs: int

    def run(self, tasks: Sequence[RunTask]) -> Iterator[RunOutput]: ...

    def close(self) -> None: ...


def execute(task: RunTask, chains=None) -> RunOutput:
    """One run, made ready to store: its tables (``sandbox.results.run_table``, a leading ``run``
    column) as Parquet bytes; its manifest entry has its wall and CPU seconds (the manifest is
    the only place for them). Never raises for the run's own errors: those are its output."""
    from sandbox.results import TABLES, parquet_bytes, run_entry, run_table
    from sandbox.runs import RunFailure, attempt

    cpu = time.process_time()
    outcome = attempt(task.scenario, task.mechanism, task.seed, task.backend, chains=chains)
    if isinstance(outcome, RunFailure):
        return failed(task, outcome)
    parts = {}
    for name in TABLES:
        table = run_table([outcome], [task.mechanism], name, task.scenario.market)
        table.insert(0, "run", [task.run] * len(table))
        parts[name] = parquet_bytes(table)
    entry = {"run": task.run, **run_entry(outcome), "cpu_seconds": round(time.process_time() - cpu, 3)}
    return RunOutput(run=task.run, status="ok", entry=entry, metrics=dict(outcome.metrics), parts=parts)


def failed(task: RunTask, failure) -> RunOutput:
    from sandbox.results import run_entry

    return RunOutput(run=task.run, status="failed", entry={"run": task.run, **run_entry(failure)})


def chain_key(task: RunTask) -> tuple:
    """What a worker's warm chain depends on (``sandbox.sweep.warm``): tasks with the same key can
    run one after the other on the same chain."""
    sc = task.scenario
    return (task.backend, task.seed, sc.borrowers.count, tuple((k.strategy, k.count) for k in sc.keepers),
            repr(sc.market_params()))


def by_seed(tasks: Iterable[RunTask]) -> list[RunTask]:
    """Tasks in the order that lets a worker's warm chain serve consecutive runs: by chain key
    (seed first), then run number."""
    return sorted(tasks, key=lambda t: (chain_key(t), t.run))


def batches(tasks: Sequence[RunTask], jobs: int) -> list[list[RunTask]]:
    """``tasks`` in batches of one chain key each, for one worker to run back to back on its warm
    chain; none longer than ``MAX_BATCH`` (results stream to disk batch by batch) nor than an
    eighth of a job's share (the last ones still spread over every worker)."""
    tasks = by_seed(tasks)
    longest = max(1, min(MAX_BATCH, len(tasks) // (8 * max(1, jobs))))
    out: list[list[RunTask]] = []
    for task in tasks:
        if out and chain_key(out[-1][-1]) == chain_key(task) and len(out[-1]) < longest:
            out[-1].append(task)
        else:
            out.append([task])
    return out


# --------------------------------------------------------------------------- local

_WORKER_CHAINS = None  # a pool worker's WarmChains, made on its first task


def _pool_batch(batch: list[RunTask]) -> list[RunOutput]:
    """A pool worker runs a batch back to back on its warm chain."""
    global _WORKER_CHAINS
    if _WORKER_CHAINS is None:
        from sandbox.sweep.warm import WarmChains

        _WORKER_CHAINS = WarmChains()
    return [execute(task, _WORKER_CHAINS) for task in batch]


class LocalExecutor:
    """This machine: in-process with one job, else a pool of ``jobs`` worker processes."""

    name = "local"

    def __init__(self, jobs: int = 1, address: str | None = None):
        if address:
            from sandbox.errors import SandboxError

            raise SandboxError("--address is for --executor ray; the local executor runs on this machine")
        self.jobs = max(1, int(jobs))
        self._chains: Any = None  # WarmChains, made on first use

    def run(self, tasks: Sequence[RunTask]) -> Iterator[RunOutput]:
        if self.jobs == 1:
            from sandbox.sweep.warm import WarmChains

            self._chains = self._chains or WarmChains()
            for task in by_seed(tasks):
                yield execute(task, self._chains)
            return
        yield from self._pool(deque(batches(tasks, self.jobs)))

    def close(self) -> None:
        if self._chains is not None:
            self._chains.close()
            self._chains = None

    def _pool(self, queue: deque) -> Iterator[RunOutput]:
        from sandbox.pool import worker_pool
        from sandbox.runs import prepare

        tasks = [t for batch in queue for t in batch]
        mechanisms = sorted({t.mechanism for t in tasks})
        for backend in sorted({t.backend for t in tasks}):
            prepare(backend, mechanisms)
        while queue:
            with worker_pool(self.jobs) as pool:
                futures: dict = {}
                broken = False
                while (queue or futures) and not broken:
                    while queue and len(futures) < IN_FLIGHT_PER_JOB * self.jobs:
                        batch = queue.popleft()
                        futures[pool.submit(_pool_batch, batch)] = batch
                    finished, _ = wait(futures, return_when=FIRST_COMPLETED)
                    for future in finished:
                        batch = futures.pop(future)
                        outputs, broken_now = _collect(future, batch)
                        broken = broken or broken_now
                        yield from outputs
                for future, batch in futures.items():  # the pool is broken: these died with it
                    yield from _collect(future, batch)[0]


def _collect(future, batch: list[RunTask]) -> tuple[list[RunOutput], bool]:
    """A finished batch's outputs, or one failure per run when its worker died (True: the pool is
    broken) or its outputs could not come back."""
    from sandbox.compare import worker_died
    from sandbox.runs import RunFailure

    try:
        return future.result(), False
    except BrokenProcessPool as exc:  # a worker died: its runs fail (--resume retries them)
        return [failed(t, worker_died(t.mechanism, t.seed, exc)) for t in batch], True
    except Exception as exc:  # noqa: BLE001 - e.g. an output that did not pickle
        return [failed(t, RunFailure.from_exception(t.mechanism, t.seed, exc)) for t in batch], False




# --------------------------------------------------------------------------- registry


def executor_names() -> list[str]:
    """The built-in executors and those registered under ``sandbox.executors``."""
    from importlib.metadata import entry_points

    return sorted({"local", "ray", *(ep.name for ep in entry_points(group="sandbox.executors"))})


def get_executor(name: str) -> Callable[..., Any]:
    """The executor class named ``name`` (UnknownPlugin with the known names otherwise)."""
    if name == "local":
        return LocalExecutor
    if name == "ray":
        from sandbox.sweep.ray_executor import RayExecutor, require_ray

        require_ray()  # not installed: one line now, before anything runs or is written
        return RayExecutor
    from sandbox.plugins import Registry, UnknownPlugin

    if name not in executor_names():
        raise UnknownPlugin(f"unknown executor {name!r} (known: {', '.join(executor_names())})")
    return Registry("sandbox.executors", "executor", object).load(name)


__all__ = ["Executor", "LocalExecutor", "RunOutput", "RunTask", "by_seed", "execute", "executor_names",
           "get_executor"]
