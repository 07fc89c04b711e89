"""Whole simulations per chain backend: wall and CPU time, simulated tx/s, backend vs Python share.

For each mechanism and backend one full run (set-up and block loop) of ``benchmarks/bench.toml``
(or ``--scenario``), printing:

- wall seconds (set-up, loop, total); CPU seconds of this Python process and of the node's
  process (anvil, read from the reaped child's rusage);
- simulated tx/s: transactions executed (set-up and loop) per wall second;
- backend share: wall time spent inside the chain object's methods (execute_block, call, sign,
  nonce, …, counted once when they nest) against the rest (agents, builder, recorder: Python);
- the ratio anvil ÷ eth-tester of the same run's wall time, measured in this invocation;
- a ceiling: the very blocks the anvil run produced (its signed transactions, timestamps,
  coinbase and background gas) replayed on a fresh anvil chain with no agents; the sandbox's
  rate as a share of the replay's, by wall time and by CPU time (Python + node: on a machine
  shared with other jobs, the CPU share is the steadier figure);
- the load average before and after, since wall times on a busy machine stretch.

``--profile FILE`` writes a cProfile of each anvil run and prints its top Python functions.
Figures are printed, never asserted.

Usage: python benchmarks/engine.py [--backend NAME]... [--mechanism NAME]... [--borrowers N]
       [--blocks N] [--seed N] [--profile FILE] [--scenario PATH]
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import os
import pstats
import resource
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from sandbox.chain import CHAIN_BACKENDS
from sandbox.scenarios import load_scenario
from sandbox.simulation import Simulation

HERE = Path(__file__).resolve().parent
TIMED = ("execute_block", "call", "sign", "nonce", "balance", "code", "snapshot", "revert",
         "register_abi")
TIMED_PROPERTIES = ("block_number", "timestamp", "next_base_fee", "gas_limit")


@dataclass
class Meter:
    """Wall time inside the chain object's methods (outermost calls only) and its blocks."""

    seconds: float = 0.0
    depth: int = 0
    blocks: list = field(default_factory=list)  # (signed txs, timestamp, coinbase, background)
    marks: dict = field(default_factory=dict)  # snapshot id -> len(blocks) when taken


def instrument(cls: type, meter: Meter) -> dict:
    """Wrap ``cls``'s chain methods with timers; returns the originals for ``restore``."""
    originals = {}

    def timed(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if meter.depth:
                return fn(*args, **kwargs)
            meter.depth += 1
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                meter.seconds += time.perf_counter() - start
                meter.depth -= 1
        return wrapper

    for name in TIMED:
        originals[name] = cls.__dict__[name]
        setattr(cls, name, timed(originals[name]))
    for name in TIMED_PROPERTIES:
        originals[name] = prop = cls.__dict__[name]
        setattr(cls, name, property(timed(prop.fget)))

    record, snap, back = cls.execute_block, cls.snapshot, cls.revert

    def execute_block(self, transactions, timestamp, coinbase=None, background_gas=0):
        result = record(self, transactions, timestamp, coinbase, background_gas)
        meter.blocks.append((list(transactions), timestamp, coinbase, background_gas))
        return result

    def snapshot(self):
        sid = snap(self)
        meter.marks[sid] = len(meter.blocks)
        return sid

    def revert(self, sid):
        back(self, sid)
        del meter.blocks[meter.marks[sid]:]  # hypothetical blocks are not history

    cls.execute_block, cls.snapshot, cls.revert = execute_block, snapshot, revert
    return originals


def restore(cls: type, originals: dict) -> None:
    for name, value in originals.items():
        setattr(cls, name, value)


@dataclass
class Figures:
    backend: str
    mechanism: str
    setup_wall: float
    loop_wall: float
    python_cpu: float
    node_cpu: float
    backend_seconds: float
    setup_txs: int
    loop_txs: int
    blocks: list

    @property
    def wall(self) -> float:
        return self.setup_wall + self.loop_wall

    @property
    def txs(self) -> int:
        return self.setup_txs + self.loop_txs

    @property
    def tps(self) -> float:
        return self.txs / self.wall

    @property
    def backend_share(self) -> float:
        return self.backend_seconds / self.wall


def load() -> str:
    """The 1, 5 and 15-minute load averages (2 cores: above 2, jobs wait for a processor)."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(scenario, mechanism: str, backend: str, seed: int, profile: cProfile.Profile | None) -> Figures:
    cls = CHAIN_BACKENDS.load(backend)
    meter = Meter()
    originals = instrument(cls, meter)
    node_cpu0, cpu0 = children_cpu(), time.process_time()
    try:
        if profile is not None:
            profile.enable()
        t0 = time.perf_counter()
        sim = Simulation(scenario, mechanism, seed, backend)
        sim.setup()
        t1 = time.perf_counter()
        setup_txs = sum(len(b[0]) for b in meter.blocks)
        sim.run()
        t2 = time.perf_counter()
        if profile is not None:
            profile.disable()
        python_cpu = time.process_time() - cpu0
        sim.close()  # reaps the node, so its CPU time shows in RUSAGE_CHILDREN
    finally:
        restore(cls, originals)
    return Figures(backend=backend, mechanism=mechanism, setup_wall=t1 - t0, loop_wall=t2 - t1,
                   python_cpu=python_cpu, node_cpu=children_cpu() - node_cpu0,
                   backend_seconds=meter.seconds, setup_txs=setup_txs, loop_txs=sim.transactions,
                   blocks=meter.blocks)


def replay(blocks: list, scenario, seed: int, labels: list[str]) -> tuple[float, float, int]:
    """The recorded blocks on a fresh anvil chain, no agents: (wall seconds, CPU seconds of
    Python and node, transactions)."""
    from sandbox.chain.anvil import AnvilChain

    chain = AnvilChain(seed=seed, accounts=labels)
    node0 = children_cpu()
    try:
        chain._started()  # start the node outside the timing
        for txs, *_ in blocks:  # signatures were checked when the run executed them
            chain._signed_here.update({tx.hash: tx.sender for tx in txs})
        start, cpu = time.perf_counter(), time.process_time()
        for txs, timestamp, coinbase, background in blocks:
            chain.execute_block(txs, timestamp, coinbase, background)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        chain.close()  # reaps the node: its CPU shows in RUSAGE_CHILDREN
    return wall, cpu + children_cpu() - node0, sum(len(b[0]) for b in blocks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=str(HERE / "bench.toml"))
    parser.add_argument("--backend", action="append", help="default: every registered backend")
    parser.add_argument("--mechanism", action="append",
                        help="default: the default comparison's mechanisms (liqsandbox list mechanisms)")
    parser.add_argument("--borrowers", type=int, help="override the scenario's borrower count")
    parser.add_argument("--blocks", type=int, help="override the scenario's block count")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", help="write a cProfile of the anvil runs to this file")
    args = parser.parse_args(argv)

    scenario = load_scenario(args.scenario)
    if args.borrowers:
        scenario = replace(scenario, borrowers=replace(scenario.borrowers, count=args.borrowers))
    if args.blocks:
        scenario = replace(scenario, blocks=args.blocks)
    backends = args.backend or CHAIN_BACKENDS.names()
    from sandbox.mechanisms import default_mechanisms

    mechanisms = args.mechanism or default_mechanisms()
    profile = cProfile.Profile() if args.profile else None
    print(f"scenario {scenario.name}: {scenario.borrowers.count} borrowers, {scenario.blocks} blocks of "
          f"{scenario.block_time_seconds} s, {sum(k.count for k in scenario.keepers)} keepers; seed {args.seed}; "
          f"load average {load()}")
    header = (f"{'mechanism':<14} {'backend':<11} {'wall s':>8} {'setup':>7} {'loop':>7} {'py CPU':>7} "
              f"{'node CPU':>8} {'txs':>6} {'tx/s':>7} {'backend':>8} {'python':>7}")
    print(header)
    print("-" * len(header))
    results: dict[tuple[str, str], Figures] = {}
    for mechanism in mechanisms:
        for backend in backends:
            f = run(scenario, mechanism, backend, args.seed, profile if backend == "anvil" else None)
            results[(mechanism, backend)] = f
            print(f"{mechanism:<14} {backend:<11} {f.wall:>8.1f} {f.setup_wall:>7.1f} {f.loop_wall:>7.1f} "
                  f"{f.python_cpu:>7.1f} {f.node_cpu:>8.1f} {f.txs:>6} {f.tps:>7.0f} "
                  f"{f.backend_share:>8.0%} {1 - f.backend_share:>7.0%}", flush=True)

    if "anvil" in backends and "eth-tester" in backends:
        print("\nspeed-up anvil ÷ eth-tester (same run, wall time):")
        for mechanism in mechanisms:
            a, e = results[(mechanism, "anvil")], results[(mechanism, "eth-tester")]
            print(f"  {mechanism:<14} total {e.wall / a.wall:5.1f}×   set-up {e.setup_wall / a.setup_wall:5.1f}×   "
                  f"loop {e.loop_wall / a.loop_wall:5.1f}×")
    if "anvil" in backends:
        print("\nceiling: the anvil run's blocks replayed on a fresh anvil chain, no agents:")
        from sandbox.simulation import account_labels

        labels = account_labels(scenario)
        for mechanism in mechanisms:
            f = results[(mechanism, "anvil")]
            seconds, cpu, txs = replay(f.blocks, scenario, args.seed, labels)
            print(f"  {mechanism:<14} {len(f.blocks)} blocks, {txs} txs in {seconds:.1f} s = {txs / seconds:.0f} tx/s; "
                  f"the sandbox's {f.tps:.0f} tx/s is {f.tps / (txs / seconds):.0%} of it; by CPU time "
                  f"({cpu:.1f} s against {f.python_cpu + f.node_cpu:.1f} s) {cpu / (f.python_cpu + f.node_cpu):.0%}")
    print(f"\nload average {load()}")
    if profile is not None:
        profile.dump_stats(args.profile)
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out).strip_dirs().sort_stats("tottime")
        stats.print_stats(25)
        print(f"\nprofile of the anvil runs ({args.profile}), top functions by own time:")
        print("\n".join(line for line in out.getvalue().splitlines()[4:] if line.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
