"""One (mechanism, seed) run as the runners see it: what it leaves behind (``RunRecord``) or how it
failed (``RunFailure``), and ``attempt``, which turns any exception of a run into its failure.

The comparison (``sandbox.compare``) and the sweep executors (``sandbox.sweep.executors``) both
run through ``attempt``: one run that breaks never ends the others. Wall time is measured here
and belongs in a manifest only, never in a table.
"""

from __future__ import annotations

import math
import time
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import pandas as pd

from sandbox.errors import SandboxError, one_line

if TYPE_CHECKING:
    from sandbox.scenarios import Scenario

TABLE_NAMES = ("blocks", "txs", "events", "positions", "agents")


@dataclass
class RunRecord:
    """What one (mechanism, seed) run leaves behind (picklable: plain data and DataFrames)."""

    mechanism: str
    seed: int
    mechanism_params: dict
    tables: dict[str, pd.DataFrame]
    metrics: dict
    transactions: int
    blocks: int  # executed, settle phase included
    wall_seconds: float
    settle_blocks: int = 0
    settle_reason: str = ""  # why the settle phase ended (``Simulation.settled``)


@dataclass(frozen=True)
class RunFailure:
    """A (mechanism, seed) run that raised: what to show (``error``, one line) and what to
    report (``traceback``); ``internal`` when the error is not one of the sandbox's own (a bug)."""

    mechanism: str
    seed: int
    error: str
    traceback: str = ""
    internal: bool = True

    @classmethod
    def from_exception(cls, mechanism: str, seed: int, exc: BaseException) -> "RunFailure":
        return cls(mechanism=mechanism, seed=int(seed), error=f"{type(exc).__name__}: {one_line(exc)}",
                   traceback="".join(traceback.format_exception(exc)),
                   internal=not isinstance(exc, SandboxError))


def run_one(scenario: "Scenario", mechanism: str, seed: int, backend: str,
            progress: Callable[[int], None] | None = None, chains=None) -> RunRecord:
    """One run and its metrics. ``chains`` (``sandbox.sweep.warm.WarmChains``) lends a chain with
    the market already deployed; a run that raises gives it back discarded, never reused."""
    from sandbox.metrics import compute_metrics
    from sandbox.simulation import Simulation

    start = time.perf_counter()
    sim = Simulation(scenario, mechanism, seed, backend, chains=chains)
    try:
        result = sim.run(progress=progress)
    except BaseException:
        if chains is not None and sim.chain is not None:
            chains.discard(sim.chain)  # its state is whatever the failure left: not lent again
        raise
    finally:
        sim.close()  # a node backend's process ends with its run (or goes back to ``chains``)
    metrics = compute_metrics(result)  # raises AccountingError if the debt does not add up
    wall = time.perf_counter() - start
    return RunRecord(mechanism=mechanism, seed=seed, mechanism_params=dict(result.mechanism_params),
                     tables={k: v for k, v in result.tables.items()}, metrics=dict(metrics),
                     transactions=int(result.transactions), blocks=int(result.blocks),
                     wall_seconds=wall, settle_blocks=int(result.settle_blocks),
                     settle_reason=result.settle_reason)


def prepare(backend: str, mechanisms: Sequence[str] = ()) -> None:
    """Import what runs on ``backend`` need (the simulation, the metrics, the backend's and the
    mechanisms' modules), so that pool workers forked afterwards (``sandbox.pool``) start with
    them instead of each importing them again."""
    from sandbox.chain import CHAIN_BACKENDS
    from sandbox.mechanisms import get_mechanism
    from sandbox.metrics import compute_metrics  # noqa: F401
    from sandbox.simulation import Simulation  # noqa: F401

    CHAIN_BACKENDS.load(backend)
    for name in mechanisms:
        get_mechanism(name)


def attempt(scenario: "Scenario", mechanism: str, seed: int, backend: str,
            progress: Callable[[int], None] | None = None, chains=None) -> RunRecord | RunFailure:
    """One run, or its failure: an exception in one run must not end the others."""
    try:
        return run_one(scenario, mechanism, seed, backend, progress=progress, chains=chains)
    except Exception as exc:  # noqa: BLE001 - recorded with its traceback, reported by the caller
        return RunFailure.from_exception(mechanism, seed, exc)


def summary_frame(runs: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per run: mechanism, seed, then ``METRIC_COLUMNS``, then a market's own metrics
    (the perp market's insurance fund, ADL, funding), in the order the runs give them."""
    from sandbox.metrics import METRIC_COLUMNS

    extra = list(dict.fromkeys(c for r in runs for c in r.metrics if c not in METRIC_COLUMNS))
    columns = [*METRIC_COLUMNS, *extra]
    rows = [{"mechanism": r.mechanism, "seed": int(r.seed), **{c: r.metrics.get(c, math.nan) for c in columns}}
            for r in runs]
    return pd.DataFrame(rows, columns=["mechanism", "seed", *columns])


__all__ = ["RunFailure", "RunRecord", "TABLE_NAMES", "attempt", "prepare", "run_one", "summary_frame"]
