"""The ``liqsandbox`` command line: parsing and printing only; the work lives in the package.

Exit codes: 0 done; 2 bad input (one line on stderr, nothing written); 3 internal error (a bug:
a short traceback and how to report it); 4 some runs failed (the others' results were written,
the failures are in the table and the manifest); 130 interrupted (Ctrl-C; nothing half written).
"""

from __future__ import annotations

import functools
import sys
import traceback
from pathlib import Path

import click

from sandbox.errors import SandboxError, one_line

EXIT_BAD_INPUT = 2
EXIT_INTERNAL_ERROR = 3
EXIT_RUNS_FAILED = 4
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
TRACEBACK_FRAMES = 6  # of an internal error: where it happened, not the whole stack
MAX_SEED = 2**32 - 1  # seeds are numpy SeedSequence entropy; one 32-bit word is plenty


class OneLineError(click.ClickException):
    """An error shown as one line on stderr, without a traceback."""

    def show(self, file=None):
        click.echo(f"error: {self.format_message()}", err=True)


class UserError(OneLineError):
    """A problem with the user's input: nothing was run or written (exit code 2)."""

    exit_code = EXIT_BAD_INPUT


class RunsFailed(OneLineError):
    """Some runs of a comparison failed; the others' results were written (exit code 4)."""

    exit_code = EXIT_RUNS_FAILED


class Interrupted(OneLineError):
    """Ctrl-C: whatever was being written has been removed (exit code 130)."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, message: str = "interrupted"):
        super().__init__(message)


class InternalError(click.ClickException):
    """An exception that is not one of the sandbox's own errors: a bug, shown as one."""

    exit_code = EXIT_INTERNAL_ERROR

    def __init__(self, exc: BaseException):
        super().__init__(one_line(exc))
        self.exc = exc

    def show(self, file=None):
        frames = traceback.format_exception(self.exc, limit=-TRACEBACK_FRAMES, chain=False)
        click.echo("".join(frames).rstrip(), err=True)
        click.echo(f"internal error: {type(self.exc).__name__}: {self.format_message()} — this is a bug in "
                   "liquidation-sandbox, not a problem with your input; please report it with the command, "
                   "the scenario file and the lines above", err=True)


def friendly_errors(fn):
    """The sandbox's own errors become one line (exit 2), Ctrl-C one line (exit 130), and
    anything else an internal error with a short traceback (exit 3)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except BrokenPipeError:  # output piped into e.g. `head`: not an error of ours
            sys.stderr.close()
            sys.exit(0)
        except click.ClickException:
            raise
        except SandboxError as exc:
            raise UserError(one_line(exc)) from None
        except KeyboardInterrupt:
            raise Interrupted() from None
        except Exception as exc:  # noqa: BLE001 - every other exception is a bug, reported as one
            raise InternalError(exc) from None

    return wrapper


def _scenario_name(given: str | None) -> str:
    """``--scenario`` as given, the default scenario when it was not; an empty one is refused
    (it is a mistake, e.g. an unset shell variable, not a request for the default)."""
    from sandbox.scenarios import DEFAULT_SCENARIO

    if given is None:
        return DEFAULT_SCENARIO
    if not given.strip():
        raise UserError("--scenario: must not be empty (a built-in name or a .toml path)")
    return given


class OneLineErrors(click.Group):
    """A group whose usage errors are one line on stderr (exit 2), like every other error."""

    def main(self, *args, **kwargs):
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except click.UsageError as exc:
            message = exc.format_message().strip()
            if "\n" in message or not message:  # a group given no command: click's whole help text
                where = exc.ctx.command_path if exc.ctx is not None else "liqsandbox"
                message = f"Missing command (see {where} --help)"
            click.echo(f"error: {message}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort as exc:  # click turns Ctrl-C outside a command into Abort
            if isinstance(exc.__context__, KeyboardInterrupt):
                Interrupted().show()
                sys.exit(EXIT_INTERRUPTED)
            click.echo("aborted", err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="liquidation-sandbox")
def main():
    """Compare DeFi liquidation mechanisms on a local EVM chain."""


@main.command()
@click.option("--check", is_flag=True, help="Only verify that committed artifacts match the sources.")
@click.option("--solcjs", is_flag=True, help="Use solc-js from node_modules even if a native solc is on PATH.")
@friendly_errors
def build(check: bool, solcjs: bool):
    """Recompile contracts/ with the pinned solc and refresh the packaged artifacts."""
    from sandbox.contracts.build import compile_contracts, stale_artifacts, write_artifacts

    result = compile_contracts(prefer_native=not solcjs)
    if check:
        stale = stale_artifacts(result)
        if stale:
            raise UserError(f"artifacts are stale, run `liqsandbox build`: {', '.join(stale)}")
        click.echo(f"artifacts match sources ({len(result.contracts)} contracts, {result.compiler} {result.version})")
        return
    written = write_artifacts(result)
    click.echo(f"compiled {len(written)} contracts with {result.compiler} {result.version}")


@main.command()
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, MAX_SEED))
@click.option("--borrowers", default=8, show_default=True, type=click.IntRange(1, 200))
@click.option("--steps", default=6, show_default=True, type=click.IntRange(1, 100))
@click.option("--drop", default=0.30, show_default=True, type=click.FloatRange(0.0, 0.99),
              help="Total fractional price drop over the steps.")
@friendly_errors
def demo(seed: int, borrowers: int, steps: int, drop: float):
    """Smoke demo: open positions, move the oracle down, print health factors."""
    from sandbox.demo import run_demo

    run_demo(seed=seed, borrowers=borrowers, steps=steps, drop=drop, echo=click.echo)


@main.group("list")
def list_():
    """List what is installed: mechanisms, markets, keeper strategies, built-in scenarios."""


def _list_plugins(registry, notes=lambda cls: [], more=lambda cls: []) -> None:
    """One entry per registered plug-in, with ``notes(cls)`` and its parameters' defaults (then
    the lines ``more(cls)`` adds); a broken third-party plug-in is reported on its line and does
    not hide the others."""
    import dataclasses

    for name in registry.names():
        try:
            cls = registry.load(name)
        except Exception as exc:  # noqa: BLE001 - any import error of someone else's package
            click.echo(f"{name}  (cannot be loaded: {exc})")
            continue
        tags = "".join(f" [{n}]" for n in notes(cls))
        click.echo(f"{name}{tags} — {cls.description}" if cls.description else f"{name}{tags}")
        defaults = cls.Params()
        for f in dataclasses.fields(cls.Params):
            click.echo(f"    {f.name:<32} {getattr(defaults, f.name)!r}")
        for line in more(cls):
            click.echo(line)


@list_.command("mechanisms")
@friendly_errors
def list_mechanisms():
    """Every registered mechanism (entry-point group sandbox.mechanisms) with its parameters."""
    from sandbox.mechanisms import MECHANISMS

    def notes(cls):
        rank = cls.own_default_rank()
        markets = [f"markets: {', '.join(cls.markets)}"]
        markets += [f"not on {m}" for m in cls.unsupported_markets]
        return markets if rank is None else [*markets, f"compared by default, #{rank}"]

    def more(cls):
        """Each variant on another market with its own parameters; why a market is not served."""
        import dataclasses

        lines = []
        for market in cls.variants:
            try:
                variant = cls.variant_for(market)
            except Exception as exc:  # noqa: BLE001 - someone else's broken variant
                lines.append(f"  on {market}: cannot be loaded: {exc}")
                continue
            lines.append(f"  on {market} — {variant.description}" if variant.description else f"  on {market}")
            defaults = variant.Params()
            lines += [f"    {f.name:<32} {getattr(defaults, f.name)!r}" for f in dataclasses.fields(variant.Params)]
        lines += [f"  not on {m}: {why}" for m, why in cls.unsupported_markets.items()]
        return lines

    _list_plugins(MECHANISMS, notes, more)


@list_.command("markets")
@friendly_errors
def list_markets():
    """Every registered market (entry-point group sandbox.markets): its roles and agent kinds,
    and the mechanisms that run on it."""
    from sandbox.markets import MARKETS
    from sandbox.mechanisms import MECHANISMS

    for name in MARKETS.names():
        try:
            cls = MARKETS.load(name)
        except Exception as exc:  # noqa: BLE001 - any import error of someone else's package
            click.echo(f"{name}  (cannot be loaded: {exc})")
            continue
        doc = (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        click.echo(f"{name} — {' '.join(doc.split())}")
        click.echo(f"    {'roles':<16} {', '.join(cls.role_labels)}")
        click.echo(f"    {'agent kinds':<16} {', '.join(cls.agent_kinds)}")
        runs = [m for m in MECHANISMS.names() if name in MECHANISMS.load(m).markets]
        click.echo(f"    {'mechanisms':<16} {', '.join(runs) or 'none installed'}")


@list_.command("keepers")
@friendly_errors
def list_keepers():
    """Every registered keeper strategy (entry-point group sandbox.keepers) with its Params defaults."""
    from sandbox.agents.keepers import KEEPERS

    _list_plugins(KEEPERS)


@list_.command("scenarios")
@friendly_errors
def list_scenarios():
    """The built-in scenarios with their descriptions (pass a name or a .toml path to --scenario)."""
    from sandbox.scenarios import DEFAULT_SCENARIO, builtin_scenarios, load_scenario

    for name in builtin_scenarios():
        try:
            sc = load_scenario(name)
        except Exception as exc:
            click.echo(f"{name}  (cannot be loaded: {exc})")
            continue
        default = "  (default)" if name == DEFAULT_SCENARIO else ""
        click.echo(f"{name}{default} — {sc.blocks} blocks × {sc.block_time_seconds} s "
                   f"= {_duration(sc.duration_seconds)}, {sc.population}, "
                   f"{sum(k.count for k in sc.keepers)} keepers")
        if sc.description:
            click.echo(f"    {sc.description}")


# --------------------------------------------------------------------------- helpers


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h} h {m:02d} min" if m else f"{h} h"
    return f"{m} min {s:02d} s" if m else f"{s} s"


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}"


def _check_backend(name: str) -> str:
    from sandbox.chain import CHAIN_BACKENDS

    CHAIN_BACKENDS.load(name)  # UnknownPlugin: one line with the closest names
    return name


def _check_mechanisms(names) -> list[str]:
    from sandbox.mechanisms import MECHANISMS

    out = list(dict.fromkeys(names))
    for name in out:
        MECHANISMS.load(name)  # UnknownPlugin: one line with the closest names
    return out


def _load_scenario(name_or_path: str, mechanisms=()):
    """The scenario, refused here if one of ``mechanisms`` cannot serve it (before any run)."""
    from sandbox.scenarios import check_mechanisms_serve, load_scenario

    scenario = load_scenario(name_or_path)
    check_mechanisms_serve(scenario, mechanisms)
    return scenario


def _default_out(scenario) -> Path:
    safe = "".join(c if (c.isalnum() or c in "-_.") else "-" for c in scenario.name).strip(".") or "scenario"
    return Path("results") / safe


def _in_range(value: int | None, option: str, limits: tuple[int, int]) -> None:
    lo, hi = limits
    if value is not None and value < lo:
        raise UserError(f"{option} must be >= {lo}, got {value}")
    if value is not None and value > hi:
        raise UserError(f"{option} must be <= {hi:,} (the sandbox's limit), got {value:,}")


class _Progress:
    """A click progress bar on stderr; ``advance(n)`` is the callback the runs call."""

    def __init__(self, length: int, label: str):
        self.bar = click.progressbar(length=max(1, length), label=label, file=sys.stderr,
                                     show_eta=True, show_pos=True, width=30)

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def advance(self, n: int = 1) -> None:
        self.bar.update(n)


# --------------------------------------------------------------------------- compare / run


@main.command()
@click.option("--scenario", "scenario_name", default=None, metavar="NAME|PATH",
              help="Built-in scenario name or a scenario .toml file  [default: crash]")
@click.option("--mechanism", "mechanisms", multiple=True, metavar="NAME",
              help="Mechanism to compare (repeatable)  [default: every mechanism with a default_rank, "
                   "see `liqsandbox list mechanisms`]")
@click.option("--seeds", default=1, show_default=True, type=int, help="Number of seeds: runs seeds 0..N-1.")
@click.option("--backend", default="eth-tester", show_default=True, help="Chain backend.")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=True, dir_okay=True),
              help="Results folder  [default: results/<scenario name>]")
@click.option("--jobs", default=None, type=int, help="Worker processes  [default: CPU count, at most one per run]")
@friendly_errors
def compare(scenario_name, mechanisms, seeds, backend, out_dir, jobs):
    """Run mechanisms on the same scenario and seeds; print the table and write the results."""
    import time

    from sandbox.compare import effective_jobs, progress_total, run_comparison
    from sandbox.mechanisms import default_mechanisms
    from sandbox.results import check_out_dir
    from sandbox.scenarios import RUN_LIMITS, check_run_size

    # everything is checked before anything runs or is written
    _in_range(seeds, "--seeds", RUN_LIMITS["seeds"])
    _in_range(jobs, "--jobs", RUN_LIMITS["jobs"])
    _check_backend(backend)
    mechs = _check_mechanisms(mechanisms or default_mechanisms())
    scenario = _load_scenario(_scenario_name(scenario_name), mechs)
    check_run_size(scenario, runs=len(mechs) * seeds)
    out = check_out_dir(_default_out(scenario) if out_dir is None else out_dir)

    seed_list = list(range(seeds))
    n_runs = len(mechs) * len(seed_list)
    n_jobs = effective_jobs(jobs, n_runs)
    click.echo(f"scenario {scenario.name!r}: {scenario.blocks} blocks × {scenario.block_time_seconds} s, "
               f"{scenario.population}; {len(mechs)} mechanism{'s' * (len(mechs) != 1)} × "
               f"{seeds} seed{'s' * (seeds != 1)} on {backend}, {n_jobs} job{'s' * (n_jobs != 1)}")
    start = time.perf_counter()
    total = progress_total(scenario, n_runs, n_jobs)
    with _Progress(total, "running" if total == n_runs else "blocks") as bar:
        comparison = run_comparison(scenario, mechs, seed_list, backend=backend, jobs=n_jobs,
                                    progress=bar.advance)
    elapsed = time.perf_counter() - start
    click.echo("")
    click.echo(comparison.table())
    click.echo("")
    failed = len(comparison.failures)
    if failed == n_runs:
        raise RunsFailed(f"every run failed (see above); nothing written, {out} left as it was")
    path = comparison.save(out)
    click.echo(f"{n_runs} run{'s' * (n_runs != 1)} in {elapsed:.1f} s; results written to {path}")
    if failed:
        raise RunsFailed(f"{failed} of {n_runs} runs failed (see the table; tracebacks in {path / 'manifest.json'}); "
                         "the other runs' results were written")


@main.command()
@click.argument("file", metavar="FILE.toml", type=click.Path(dir_okay=True))
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=True, dir_okay=True),
              help="Results folder  [default: results/<sweep name>]")
@click.option("--seeds", default=None, type=int, help="Number of seeds (runs seeds 0..N-1)  [default: the file's]")
@click.option("--backend", default=None, help="Chain backend  [default: the file's, else eth-tester]")
@click.option("--executor", default="local", show_default=True, metavar="NAME",
              help="Where runs execute: local (a process pool) or ray.")
@click.option("--jobs", default=None, type=int,
              help="Worker processes or Ray actors  [default: CPU count, at most one per run]")
@click.option("--address", default=None, metavar="ADDR", help="Ray cluster to join (--executor ray)  [default: a local Ray]")
@click.option("--dry-run", is_flag=True, help="Print the number of runs and an estimate of the time; run nothing.")
@click.option("--resume", is_flag=True, help="Continue an interrupted sweep: finished runs are kept, not run again.")
@click.option("--restart", is_flag=True, help="Discard an interrupted sweep's runs and start over.")
@friendly_errors
def sweep(file, out_dir, seeds, backend, executor, jobs, address, dry_run, resume, restart):
    """Run a sweep file: a base scenario and a [sweep] section (a grid or a list of parameter sets)
    × mechanisms × seeds. Runs stream to disk as they finish; the table at the end."""
    import time

    from sandbox.compare import effective_jobs
    from sandbox.results import Results, check_out_dir
    from sandbox.scenarios import RUN_LIMITS
    from sandbox.sweep import load_sweep
    from sandbox.sweep.executors import get_executor
    from sandbox.sweep.runner import AllRunsFailed, estimate, run_sweep
    from sandbox.sweep.store import SweepStore, missing_runs

    if resume and restart:
        raise UserError("--resume and --restart: choose one")
    _in_range(seeds, "--seeds", RUN_LIMITS["seeds"])
    _in_range(jobs, "--jobs", RUN_LIMITS["jobs"])
    get_executor(executor)  # an unknown name: one line with the known ones
    spec = load_sweep(file, seeds=seeds, backend=backend)
    _check_backend(spec.backend)
    out = check_out_dir(Path("results") / _safe_name(spec.name) if out_dir is None else out_dir)
    store = SweepStore(spec, out)
    n_jobs = effective_jobs(jobs, len(spec.runs))
    click.echo(f"sweep {spec.name!r}: {spec.describe()}")
    click.echo(f"scenario {spec.base.name!r} on {spec.backend}; varying {', '.join(spec.parameters) or 'nothing'}")
    if dry_run:
        done = store.finished() if store.interrupted else {}
        left = len(missing_runs(spec, done))
        seconds, how = estimate(spec, n_jobs, done)
        if done:
            click.echo(f"{len(spec.runs) - left} of {len(spec.runs)} runs already finished in {store.folder} (--resume)")
        click.echo(f"{left:,} runs to do with {executor}, {n_jobs} job{'s' * (n_jobs != 1)}: about "
                   f"{_duration(max(1, seconds))} ({how}); nothing run")
        return
    if store.interrupted and not (resume or restart):
        raise UserError(f"an interrupted sweep is in {store.folder}: --resume to go on, --restart to start over")
    start = time.perf_counter()
    bar = None

    def on_start(todo: int, resumed: int) -> None:
        nonlocal bar
        if resumed:
            click.echo(f"resuming: {resumed} runs already finished, {todo} to do")
        click.echo(f"{executor} executor, {min(n_jobs, max(1, todo))} job{'s' * (n_jobs != 1)}; "
                   f"runs stream to {store.folder}")
        bar = _Progress(todo, "running").__enter__()

    try:
        outcome = run_sweep(spec, out, executor=executor, jobs=n_jobs, address=address, resume=resume,
                            restart=restart, progress=lambda n: bar.advance(n), on_start=on_start)
    except AllRunsFailed as exc:
        raise RunsFailed(str(exc)) from None
    except KeyboardInterrupt:
        if bar is not None:
            bar.__exit__(None, None, None)
        raise Interrupted(f"interrupted; the finished runs are kept in {store.folder}: "
                          f"the same command with --resume goes on") from None
    if bar is not None:
        bar.__exit__(None, None, None)
    elapsed = time.perf_counter() - start
    res = Results.load(outcome.path)
    click.echo("")
    click.echo(res.table())
    click.echo("")
    click.echo(f"{outcome.ran} run{'s' * (outcome.ran != 1)} in {elapsed:.1f} s"
               f"{f' ({outcome.resumed} resumed)' if outcome.resumed else ''}; results written to {outcome.path}")
    if outcome.failed:
        raise RunsFailed(f"{outcome.failed} of {len(spec.runs)} runs failed (see the table; tracebacks in "
                         f"{outcome.path / 'manifest.json'}); the others' results were written; --resume "
                         "runs the failed ones again")


def _safe_name(name: str) -> str:
    return "".join(c if (c.isalnum() or c in "-_.") else "-" for c in name).strip(".") or "sweep"


_LOG_MARKET = {"LiquidationRepaid", "BadDebtWrittenOff"}
_LOG_ARGS_SKIP = {"owner"}


def _is_log_event(row: dict, bookkeeping: frozenset[str]) -> bool:
    """Liquidation events worth a line of the live log (not the mechanism's ``bookkeeping``)."""
    contract = row["contract"]
    if contract == "mechanism":
        return row["event"] not in bookkeeping
    if contract == "market":
        return row["event"] in _LOG_MARKET
    return contract.startswith("keeper-contract")


def _short(addr: str) -> str:
    return f"{addr[:6]}…{addr[-4:]}" if isinstance(addr, str) and addr.startswith("0x") and len(addr) == 42 else str(addr)


def _amounts(args_json: str) -> str:
    import json

    try:
        args = json.loads(args_json)
    except ValueError:
        return ""
    parts = []
    for key, value in args.items():
        if key in _LOG_ARGS_SKIP:
            continue
        if isinstance(value, str) and value.lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, bool):
            parts.append(f"{key}={value}")
        elif isinstance(value, int):
            # amounts are WAD (18 decimals); small integers are ids, bands, counts
            parts.append(f"{key}={value / 10**18:,.4f}" if abs(value) >= 10**12 else f"{key}={value}")
        elif isinstance(value, str):
            parts.append(f"{key}={_short(value)}")
    return " ".join(parts)


def _format_metric_lines(metrics: dict) -> list[str]:
    """Every metric of one run, in the table's groups, then the ones the table leaves out."""
    from sandbox.compare import format_value, metric_label
    from sandbox.metrics import METRIC_COLUMNS, headline_groups

    table = headline_groups(metrics)  # the market's own rows and titles too (a perp run's)
    shown = {c for _, cols in table for c in cols}
    groups = [*table, ("more", [c for c in METRIC_COLUMNS if c not in shown])]
    width = max(len(metric_label(c)) for c in [*METRIC_COLUMNS, *metrics])
    lines = []
    for group, cols in groups:
        lines.append(f"  {group}")
        lines += [f"    {metric_label(c):<{width}}  {format_value(c, metrics.get(c, float('nan')))}" for c in cols]
    return lines


@main.command()
@click.option("--mechanism", required=True, metavar="NAME", help="Mechanism to run.")
@click.option("--scenario", "scenario_name", default=None, metavar="NAME|PATH",
              help="Built-in scenario name or a scenario .toml file  [default: crash]")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, MAX_SEED))
@click.option("--backend", default="eth-tester", show_default=True, help="Chain backend.")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=True, dir_okay=True),
              help="Also write a results folder here.")
@friendly_errors
def run(mechanism, scenario_name, seed, backend, out_dir):
    """One run with a live log of liquidation events, then its metrics."""
    import time

    from sandbox.metrics import compute_metrics
    from sandbox.results import Results, check_out_dir
    from sandbox.runs import RunRecord
    from sandbox.simulation import Simulation

    _check_backend(backend)
    (mechanism,) = _check_mechanisms([mechanism])
    scenario = _load_scenario(_scenario_name(scenario_name), [mechanism])
    out = check_out_dir(out_dir) if out_dir is not None else None

    click.echo(f"scenario {scenario.name!r}, mechanism {mechanism}, seed {seed} on {backend}: "
               f"{scenario.blocks} blocks × {scenario.block_time_seconds} s")
    start = time.perf_counter()
    sim = Simulation(scenario, mechanism, seed, backend)
    sim.setup()
    seen = 0
    lines = 0
    tty = sys.stderr.isatty()

    with _Progress(scenario.blocks, "blocks") as bar:
        def on_block(produced) -> None:
            nonlocal seen, lines
            events = sim.recorder.events
            new, seen = events[seen:], len(events)
            for row in new:
                if not _is_log_event(row, sim.mechanism_cls.bookkeeping_events):
                    continue
                if lines == 0:
                    header = f"{'block':>6} {'time':>8}  {'event':<22} {'position':<13} {'keeper':<26} amounts"
                    if tty:
                        click.echo("\r\x1b[K", nl=False, err=True)
                    click.echo(header)
                if tty:
                    click.echo("\r\x1b[K", nl=False, err=True)
                keeper = row["keeper"] if row["keeper"] == row["strategy"] else f"{row['keeper']}"
                click.echo(f"{row['block']:>6} {_clock(row['seconds']):>8}  {row['event']:<22} "
                           f"{_short(row['position']):<13} {keeper:<26} {_amounts(row['args'])}")
                lines += 1

        result = sim.run(on_block=on_block, progress=bar.advance)
    wall = time.perf_counter() - start
    if lines == 0:
        click.echo("no liquidation events")
    metrics = compute_metrics(result)
    click.echo("")
    click.echo(f"metrics ({result.transactions} transactions, {wall:.1f} s):")
    for line in _format_metric_lines(metrics):
        click.echo(line)
    if out is not None:
        record = RunRecord(mechanism=mechanism, seed=seed, mechanism_params=dict(result.mechanism_params),
                           tables=dict(result.tables), metrics=dict(metrics), transactions=int(result.transactions),
                           blocks=int(result.blocks), wall_seconds=wall,
                           settle_blocks=int(result.settle_blocks), settle_reason=result.settle_reason)
        path = Results.from_runs(scenario, [mechanism], [seed], backend, runs=[record]).save(out)
        click.echo(f"results written to {path}")


# --------------------------------------------------------------------------- show / plot


@main.command()
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=True, dir_okay=True))
@friendly_errors
def show(directory):
    """Print the table saved in a results folder (a comparison or a sweep)."""
    from sandbox.results import Results

    res = Results.load(directory)
    m = res.manifest
    sc = m.get("scenario", {})
    n = len(res.seeds)
    sets = f"{len(res.sets)} parameter sets × " if res.kind == "sweep" else ""
    what = f"sweep {m['sweep'].get('name', '?')!r} of scenario" if res.kind == "sweep" else "scenario"
    click.echo(f"{res.path}: {what} {sc.get('name', '?')!r}, {sets}{len(res.mechanisms)} mechanisms × {n} "
               f"seed{'s' * (n != 1)} on {m.get('backend', '?')} (liquidation-sandbox {m.get('package_version')}"
               f"{', commit ' + m['git_commit'][:10] if m.get('git_commit') else ''})")
    click.echo("")
    click.echo(res.table())


@main.command()
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=True, dir_okay=True))
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=True, dir_okay=True),
              help="Folder for the PNGs  [default: DIR/plots]")
@click.option("--seed", default=None, type=int, help="Seed for the price-path and health charts  [default: the first]")
@friendly_errors
def plot(directory, out_dir, seed):
    """Write PNG charts of a results folder: debt outcomes, losses by party, price paths, health,
    liquidators' P&L; for a sweep, metrics across its parameter sets per mechanism."""
    from sandbox import plots
    from sandbox.results import check_writable, load

    res = load(directory)
    if seed is not None and seed not in res.seeds:
        raise UserError(f"--seed {seed}: not in this results folder (seeds: {', '.join(map(str, res.seeds))})")
    out = check_writable(out_dir) if out_dir is not None else res.path / "plots"
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    charts = plots.SWEEP_PLOTS if res.kind == "sweep" else plots.PLOTS
    steps = [lambda name=name, draw=draw: draw(res, out / name, seed) for name, draw in charts.items()]
    written = []
    with _Progress(len(steps), "plotting") as bar:
        for step in steps:
            written.append(step())
            bar.advance(1)
    for p in written:
        click.echo(str(p))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
