"""The ``liqsandbox`` command line: parsing and printing only; the work lives in the package."""

from __future__ import annotations

import functools
import sys

import click


class UserError(click.ClickException):
    """A problem with the user's input: one line on stderr, exit code 2, no traceback."""

    exit_code = 2

    def show(self, file=None):
        click.echo(f"error: {self.format_message()}", err=True)


def friendly_errors(fn):
    """Turn the package's expected failures into one-line errors instead of tracebacks."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from sandbox.chain import ChainError
        from sandbox.contracts.build import BuildError

        try:
            return fn(*args, **kwargs)
        except BrokenPipeError:  # output piped into e.g. `head`: not an error of ours
            sys.stderr.close()
            sys.exit(0)
        except (BuildError, ChainError, ValueError, LookupError, OSError) as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(message) from None

    return wrapper


class OneLineErrors(click.Group):
    """A group whose usage errors are one line on stderr (exit 2), like every other error."""

    def main(self, *args, **kwargs):
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except click.UsageError as exc:
            click.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(2)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
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
@click.option("--seed", default=0, show_default=True, type=int)
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
    """List what is installed: mechanisms (and, later, keepers and scenarios)."""


@list_.command("mechanisms")
@friendly_errors
def list_mechanisms():
    """Every registered mechanism (entry-point group sandbox.mechanisms) with its parameters."""
    import dataclasses

    from sandbox.mechanisms import MECHANISMS

    for name in MECHANISMS.names():
        try:
            cls = MECHANISMS.load(name)
        except Exception as exc:  # a broken third-party plug-in must not hide the others
            click.echo(f"{name}  (cannot be loaded: {exc})")
            continue
        click.echo(f"{name} — {cls.description}" if cls.description else name)
        for f in dataclasses.fields(cls.Params):
            default = cls.default_params().as_dict()[f.name]
            click.echo(f"    {f.name:<32} {default!r}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
