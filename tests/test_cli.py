"""The command line: the demo prints what the chain says, build --check guards the artifacts,
bad input is one clear line with exit code 2."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from sandbox.cli import main
from sandbox.market import MarketParams, health_factor_wad
from sandbox.units import WAD, to_wad


def _compiler_available() -> bool:
    import shutil

    from sandbox.contracts.build import _native_solc_matches, project_root

    if _native_solc_matches():
        return True
    return bool(shutil.which("node")) and (project_root() / "node_modules" / "solc").is_dir()


requires_solc = pytest.mark.skipif(not _compiler_available(), reason=(
    "no compiler: need a native solc 0.8.28 on PATH, or node with node_modules/solc (npm ci)"))


def expected_demo_rows(seed: int, borrowers: int, steps: int, drop: float):
    """Health factors and liquidatable counts computed in Python from the demo's inputs."""
    params = MarketParams()
    rng = np.random.default_rng(seed)
    collateral = [round(float(x), 3) for x in rng.lognormal(mean=2.0, sigma=0.8, size=borrowers)]
    ltv = [int(x) for x in rng.integers(5_000, 8_000, size=borrowers)]
    start = to_wad(params.initial_price_usd)
    debts = [to_wad(c) * start // WAD * ltv_bps // 10_000 for c, ltv_bps in zip(collateral, ltv, strict=True)]
    threshold = params.liquidation_threshold_bps * WAD // 10_000
    rows = []
    for k in range(steps + 1):
        price = params.initial_price_usd * (1 - drop * k / steps)
        price_wad = to_wad(round(price, 6)) if k else start
        hfs = [health_factor_wad(to_wad(c), d, price_wad, threshold) for c, d in zip(collateral, debts, strict=True)]
        rows.append((price, [hf / WAD for hf in hfs], sum(hf < WAD for hf in hfs)))
    return rows


def printed_rows(output: str, borrowers: int):
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("price(USD)"))
    rows = []
    for line in lines[start + 1:]:
        fields = line.split()
        if len(fields) != borrowers + 2:
            break
        rows.append((float(fields[0]), [float(f) for f in fields[1:-1]], int(fields[-1])))
    return rows


@pytest.mark.parametrize("extra, any_liquidatable", [([], False), (["--drop", "0.375"], True)])
def test_demo_prints_health_factors_and_liquidatable_counts_that_match_python(extra, any_liquidatable):
    result = CliRunner().invoke(main, ["demo", "--borrowers", "3", "--steps", "2", *extra])
    assert result.exit_code == 0, result.output
    drop = float(extra[1]) if extra else 0.30
    expected = expected_demo_rows(seed=0, borrowers=3, steps=2, drop=drop)
    printed = printed_rows(result.output, borrowers=3)
    assert len(printed) == 3
    for (price, hfs, count), (e_price, e_hfs, e_count) in zip(printed, expected, strict=True):
        assert price == pytest.approx(e_price, abs=0.005)
        assert hfs == pytest.approx(e_hfs, abs=0.0005)
        assert count == e_count
        assert count == sum(hf < 1 for hf in e_hfs)
    assert (printed[-1][2] > 0) == any_liquidatable
    assert printed[0][2] == 0


@requires_solc
def test_build_check_passes_when_artifacts_are_fresh():
    result = CliRunner().invoke(main, ["build", "--check"])
    assert result.exit_code == 0, result.output
    assert "artifacts match sources" in result.output


@pytest.mark.parametrize("args, names", [
    (["demo", "--borrowers", "0"], "--borrowers"),
    (["demo", "--steps", "abc"], "--steps"),
    (["demo", "--drop", "1.5"], "--drop"),
])
def test_bad_option_exits_2_with_one_error_line_and_no_traceback(args, names):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    errors = [line for line in result.output.splitlines() if line.lower().startswith("error")]
    assert len(errors) == 1 and names in errors[0]


def test_failure_inside_the_command_is_one_line_exit_2_no_traceback():
    result = CliRunner().invoke(main, ["demo", "--seed", "-1", "--borrowers", "2", "--steps", "1"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ")
