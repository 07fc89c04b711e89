"""Sweeps at scale: parallel speed-up, memory of a long streamed sweep, and kill -9 + --resume.

Prints, measured in this one invocation (figures are printed, never asserted):

1. local process pool: wall and CPU seconds of the same sweep (``--pool-runs`` distinct tiny runs)
   with one job (in this process, no pool: the conservative yardstick) and with a pool of two
   workers, in ``--repeats`` alternating pairs (1, 2, 1, 2, ...: a machine whose speed drifts
   moves both sides of a pair alike) after one untimed run that loads the code, so neither side
   pays the imports; each pair's wall ratio, their median (the figure to quote), and the ratio
   two free cores would give, 2 x CPU(1) / CPU(2) (the second worker's overhead shows in it);
   and the machine's own bound: the same runs split between two independent processes (no pool)
   against one process running them all (two busy processes slow each other down);
2. Ray: the same with one actor and with two on a local Ray of 2 CPUs (started once, its start-up
   not counted: actors are made and warmed inside the timed part), and the same ratios;
3. a ``--runs``-run sweep (default 1,000 distinct tiny runs) through ``liqsandbox sweep --jobs 2``
   in a child process: its wall time, the peak resident memory of its largest process
   (``getrusage(RUSAGE_CHILDREN)``) and the peak of the whole process tree's resident memory
   (sampled from /proc every 0.2 s), and the folder's size;
4. the same sweep again, killed with SIGKILL when about 40% of its runs are in the journal, then
   ``--resume``d: whether every file (summary.csv, aggregate.csv, every Parquet part) is byte for
   byte the uninterrupted sweep's, and that no worker process outlived the kill.

And the load average before and after. Usage:
    python benchmarks/sweep.py [--runs 1000] [--pool-runs 40] [--repeats 3] [--skip-ray] [--skip-scale]
                               [--keep DIR]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox.sweep import parse_sweep  # noqa: E402
from sandbox.sweep.executors import LocalExecutor  # noqa: E402
from sandbox.sweep.runner import tasks_of  # noqa: E402

# A tiny run: 6 blocks of 36 s, one borrower, one keeper, a 40% fall in four minutes (the borrower
# is liquidated), settled within three blocks: ~0.5 CPU seconds on eth-tester.
BASE = {
    "name": "bench-sweep",
    "blocks": 6,
    "settle_max_seconds": 108,
    "price": {"knots": [[0, 2000.0], [240, 1200.0]]},
    "borrowers": {"count": 1},
    "keepers": [{"strategy": "naive"}],
}


def sweep_data(runs: int) -> dict:
    """A sweep of exactly ``runs`` distinct fixed-fee runs: bonus x close factor x seeds."""
    bonus = [200, 300, 400, 500, 600, 700, 800, 900, 1000, 1100]
    close = [2000, 4000, 5000, 8000, 10000]
    points = len(bonus) * len(close)
    if runs % points == 0:
        grid = {"mechanisms.fixed-fee.bonus_bps": bonus, "mechanisms.fixed-fee.close_factor_bps": close}
        seeds = runs // points
    else:
        grid = {"mechanisms.fixed-fee.bonus_bps": bonus[:2]}
        seeds = max(1, runs // 2)
    return {**BASE, "sweep": {"scenario": "crash", "mechanisms": ["fixed-fee"], "seeds": seeds, "grid": grid}}


def write_toml(data: dict, path: Path) -> Path:
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    lines = [f"{k} = {value(v)}" for k, v in data.items() if not isinstance(v, (dict, list))
             or (isinstance(v, list) and not any(isinstance(x, dict) for x in v))]
    for k, v in data.items():
        if isinstance(v, dict) and k != "sweep":
            lines += [f"[{k}]", *(f"{kk} = {value(vv)}" for kk, vv in v.items())]
        elif isinstance(v, list) and any(isinstance(x, dict) for x in v):
            for item in v:
                lines += [f"[[{k}]]", *(f"{kk} = {value(vv)}" for kk, vv in item.items())]
    sweep = data["sweep"]
    lines += ["[sweep]", *(f"{k} = {value(v)}" for k, v in sweep.items() if k != "grid"), "[sweep.grid]",
              *(f'"{k}" = {value(v)}' for k, v in sweep["grid"].items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def proc_cpu(pids) -> float:
    """CPU seconds used so far by the processes ``pids`` (from /proc)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / os.sysconf("SC_CLK_TCK")


def timed(executor, tasks) -> tuple[float, float, int]:
    """(wall s, CPU s, runs ok) of running ``tasks``: the CPU of this process, of its reaped
    children (a pool's workers, joined when it ends) and of Ray actors (read before they end)."""
    c0, t0 = cpu(), time.perf_counter()
    actors = 0.0
    try:
        ok = sum(out.status == "ok" for out in executor.run(tasks))
        if hasattr(executor, "pids"):
            actors = proc_cpu(executor.pids())
    finally:
        executor.close()
    return time.perf_counter() - t0, cpu() - c0 + actors, ok


def paired(name: str, unit: str, make, tasks, repeats: int) -> None:
    """Time ``make(1)`` and ``make(2)`` executors on ``tasks`` in ``repeats`` alternating pairs and
    print each pair, the median wall ratio, and the ratio two cores would give if they were this
    run's alone: with the work split evenly, 2 x CPU(one) / CPU(two)."""
    walls, cpus = [], []
    for i in range(repeats):
        one = timed(make(1), tasks)
        two = timed(make(2), tasks)
        walls.append(one[0] / two[0])
        cpus.append(2 * one[1] / two[1])
        print(f"  {name} pair {i + 1}: 1 {unit} {one[0]:.1f} s wall, {one[1]:.1f} s CPU, {one[2]} ok; "
              f"2 {unit}s {two[0]:.1f} s wall, {two[1]:.1f} s CPU, {two[2]} ok: {walls[-1]:.2f}x")
    print(f"{name} speed-up, 2 {unit}s vs 1, {len(tasks)} runs: {statistics.median(walls):.2f}x wall "
          f"(median of {repeats} pairs, {min(walls):.2f}-{max(walls):.2f}); "
          f"{statistics.median(cpus):.2f}x on two free cores (from CPU time)")


def run_here(tasks) -> None:
    """Run ``tasks`` in this process (one job), discarding the outputs."""
    executor = LocalExecutor(jobs=1)
    try:
        for _ in executor.run(tasks):
            pass
    finally:
        executor.close()


def machine_scaling(tasks, repeats: int) -> None:
    """What this machine gives two processes that share nothing: the tasks run once in this
    process, and once split in two halves run at the same time by two independent processes
    (forked, no pool, no messages). Their ratio bounds what any executor can reach here: two
    busy processes slow each other down through the caches and memory they share (and, on a
    virtual machine, the host), which no executor can avoid."""
    ctx = multiprocessing.get_context("fork")
    ratios = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run_here(tasks[0::2])
        run_here(tasks[1::2])
        alone = time.perf_counter() - t0
        t0 = time.perf_counter()
        halves = [ctx.Process(target=run_here, args=(tasks[parity::2],)) for parity in (0, 1)]
        for process in halves:
            process.start()
        for process in halves:
            process.join()
        ratios.append(alone / (time.perf_counter() - t0))
    print(f"machine: two independent processes with half the runs each vs one with all: "
          f"{statistics.median(ratios):.2f}x wall (median of {repeats}, {min(ratios):.2f}-{max(ratios):.2f}): "
          f"the most any executor can reach here")


def warm_up(tasks) -> None:
    """One run in this process before anything is timed: the code it loads (and that pool workers
    forked later inherit) is not charged to whichever side happens to go first."""
    run_here(tasks[:1])


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --------------------------------------------------------------------------- 1. and 2.


def local_ratio(n: int, repeats: int) -> None:
    spec = parse_sweep(sweep_data(n))
    tasks = tasks_of(spec, list(range(len(spec.runs))))
    warm_up(tasks)
    machine_scaling(tasks, repeats)
    paired("local", "worker", lambda jobs: LocalExecutor(jobs=jobs), tasks, repeats)


def ray_ratio(n: int, repeats: int) -> None:
    try:
        import ray
    except ImportError:
        print("ray: not installed (pip install '.[ray]'), skipped")
        return
    from sandbox.sweep.ray_executor import RayExecutor, _package_on_path

    spec = parse_sweep(sweep_data(n))
    tasks = tasks_of(spec, list(range(len(spec.runs))))
    t0 = time.perf_counter()
    with _package_on_path():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=256 * 2**20)
    print(f"ray: a local Ray of 2 CPUs started in {time.perf_counter() - t0:.1f} s (not counted)")
    try:
        paired("ray", "actor", lambda jobs: RayExecutor(jobs=jobs), tasks, repeats)
    finally:
        ray.shutdown()


# --------------------------------------------------------------------------- 3. and 4.


def tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and its descendants now."""
    from sandbox.sweep.reaper import descendants

    total = 0
    page = os.sysconf("SC_PAGE_SIZE")
    for pid in [root, *descendants(root)]:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * page
        except OSError:
            pass
    return total


# Runs the CLI as its own child and writes that child's peak RSS (the largest process of its tree,
# as the kernel accounts it) to the file named first: this process's own children (pools, Ray)
# stay out of the figure.
MEASURE = """
import resource, subprocess, sys
code = subprocess.call([sys.executable, "-m", "sandbox.cli", *sys.argv[2:]])
open(sys.argv[1], "w").write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024))
sys.exit(code)
"""


def cli(args: list[str], cwd: Path, sample: list | None = None, kill_at: tuple[Path, int] | None = None,
        measure: Path | None = None):
    """``liqsandbox ARGS`` in a child process: (return code, wall s, pid). ``sample`` collects the
    tree's RSS; ``kill_at=(journal, lines)`` SIGKILLs the child once the journal has that many
    lines; ``measure`` runs it under ``MEASURE``, which writes the peak RSS there."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    command = [sys.executable, "-c", MEASURE, str(measure)] if measure else [sys.executable, "-m", "sandbox.cli"]
    proc = subprocess.Popen([*command, *args], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            if sample is not None:
                sample.append(tree_rss(proc.pid))
            if kill_at is not None:
                journal, lines = kill_at
                try:
                    if journal.read_bytes().count(b"\n") >= lines:
                        proc.send_signal(signal.SIGKILL)
                        return
                except OSError:
                    pass
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    code = proc.wait()
    stop.set()
    watcher.join()
    return code, time.perf_counter() - t0, proc.pid


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "manifest.json"}


def at_scale(runs: int, work: Path) -> None:
    sweep_file = write_toml(sweep_data(runs), work / "bench-sweep.toml")
    print(f"scale: {runs} distinct runs, liqsandbox sweep --jobs 2 (a child process)")
    rss: list[int] = []
    code, wall, _ = cli(["sweep", str(sweep_file), "--out", "results/full", "--jobs", "2"], work, sample=rss,
                        measure=work / "peak-rss")
    peak_one = int((work / "peak-rss").read_text())
    size = sum(p.stat().st_size for p in (work / "results" / "full").resolve().rglob("*") if p.is_file())
    parts = len(list((work / "results" / "full" / "events").glob("*.parquet")))
    print(f"  exit {code}, {wall:.0f} s ({runs / wall:.1f} runs/s); {parts} parts per table, {size / 2**20:.0f} MiB")
    print(f"  peak memory: largest process {peak_one / 2**20:.0f} MiB; whole process tree {max(rss) / 2**20:.0f} MiB")

    journal = work / "results" / ".killed.sweep-partial" / "runs.jsonl"
    target = int(runs * 0.4)
    env_tag = {}
    code, wall1, pid = cli_tagged(["sweep", str(sweep_file), "--out", "results/killed", "--jobs", "2"], work,
                                  (journal, target), env_tag)
    time.sleep(2)
    left = survivors_tagged(env_tag["tag"])
    done = journal.read_bytes().count(b"\n")
    print(f"  kill -9 after {wall1:.0f} s with {done} runs in the journal (exit {code}); "
          f"processes left behind: {len(left)}")
    code, wall2, _ = cli(["sweep", str(sweep_file), "--out", "results/killed", "--jobs", "2", "--resume"], work)
    same = files(work / "results" / "killed") == files(work / "results" / "full")
    print(f"  --resume: exit {code}, {wall2:.0f} s; every file identical to the uninterrupted sweep: {same}")


def cli_tagged(args, cwd, kill_at, out):
    """``cli`` with an environment tag, so that its surviving descendants can be found after a kill."""
    tag = f"{os.getpid()}-{time.monotonic_ns()}"
    out["tag"] = tag
    old = os.environ.get("LIQSANDBOX_BENCH_TAG")
    os.environ["LIQSANDBOX_BENCH_TAG"] = tag
    try:
        return cli(args, cwd, kill_at=kill_at)
    finally:
        if old is None:
            os.environ.pop("LIQSANDBOX_BENCH_TAG", None)
        else:
            os.environ["LIQSANDBOX_BENCH_TAG"] = old


def survivors_tagged(tag: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if f"LIQSANDBOX_BENCH_TAG={tag}".encode() in f.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="distinct runs of the scale sweep (default 1000)")
    parser.add_argument("--pool-runs", type=int, default=40, help="runs of the speed-up sweeps (default 40)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating pairs of each speed-up (default 3)")
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--skip-scale", action="store_true", help="only the speed-ups (1. and 2.)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the sweep folders here")
    args = parser.parse_args()
    print(f"load average before: {load_average()} ({os.cpu_count()} cores)")
    local_ratio(args.pool_runs, args.repeats)
    if not args.skip_ray:
        ray_ratio(args.pool_runs, args.repeats)
    if not args.skip_scale:
        work = args.keep or Path(tempfile.mkdtemp(prefix="liqsandbox-bench-sweep-"))
        work.mkdir(parents=True, exist_ok=True)
        try:
            at_scale(args.runs, work)
        finally:
            if args.keep is None:
                shutil.rmtree(work, ignore_errors=True)
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
