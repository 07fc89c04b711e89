"""Malformed input, on the command line or in a scenario file, is refused before anything runs:
one line on stderr naming what is wrong (the field and its limit), exit code 2, no traceback,
and nothing written — no results folder, no temporary folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from sandbox.cli import main

GBM = '[price]\nmodel = "gbm"\n'
ONE_KEEPER = '[[keepers]]\nstrategy = "naive"\n'

# (id, scenario file text, extra arguments, expected fragment of the error line)
BAD_SCENARIOS = [
    ("empty file", "", [], "empty scenario file"),
    ("only comments", "# nothing here\n\n", [], "empty scenario file"),
    ("malformed toml", "blocks = = 3\n", [], "malformed TOML"),
    ("wrong type", 'blocks = "many"\n', [], "blocks: expected an integer"),
    ("blocks zero", "blocks = 0\n", [], "blocks: 0 is below the lowest value"),
    ("blocks huge", "blocks = 1000000000\n", [], "blocks: 1,000,000,000 is above the highest value the sandbox "
                                                  "can run (1 … 1,000,000)"),
    ("block time huge", "block_time_seconds = 100000\n", [], "block_time_seconds: 100,000 is above"),
    ("borrowers huge", "[borrowers]\ncount = 1000000000\n", [], "borrowers.count: 1,000,000,000 is above"),
    ("keeper count huge", ONE_KEEPER + "count = 1000000\n", [], "keepers[0].count: 1,000,000 is above"),
    ("keepers in all", ONE_KEEPER + "count = 600\n" + ONE_KEEPER + "count = 600\n", [],
     "keepers: 1,200 keepers in all is above"),
    ("start price huge", GBM + "start_price_usd = 1e300\n", [], "price.start_price_usd: 1e+300 is above"),
    ("start price tiny", GBM + "start_price_usd = 1e-12\n", [], "price.start_price_usd: 1e-12 is below"),
    ("floor price tiny", GBM + "floor_price_usd = 1e-9\n", [], "price.floor_price_usd: 1e-09 is below"),
    ("knot price huge", "[price]\nknots = [[0, 2000], [60, 1e15]]\n", [], "price.knots[1]: 1e+15 is above"),
    ("knot time huge", "[price]\nknots = [[0, 2000], [1e12, 1000]]\n", [], "price.knots[1]: 1e+12 is above"),
    ("integer too big for a float", GBM + "start_price_usd = " + "9" * 400 + "\n", [],
     "price.start_price_usd: expected a finite number"),
    ("volatility huge", GBM + "volatility_per_year = 1000.0\n", [], "price.volatility_per_year: 1,000 is above"),
    ("drift huge", GBM + "drift_per_year = -50.0\n", [], "price.drift_per_year: -50 is below"),
    ("collateral huge", "[borrowers]\ncollateral_weth_median = 1e30\n", [],
     "borrowers.collateral_weth_median: 1e+30 is above"),
    ("collateral sigma huge", "[borrowers]\ncollateral_weth_sigma = 50.0\n", [],
     "borrowers.collateral_weth_sigma: 50 is above"),
    ("amm liquidity huge", "[amm]\nliquidity_weth = 1e20\n", [], "amm.liquidity_weth: 1e+20 is above"),
    ("base fee huge", "[gas]\nbase_fee_gwei = 1e12\n", [], "gas.base_fee_gwei: 1e+12 is above"),
    ("spike multiplier huge", "[gas]\nspikes = [[0, 60, 1e9]]\n", [], "gas.spikes[0]: 1,000,000,000 is above"),
    ("heartbeat huge", "[oracle]\nheartbeat_seconds = 1000000000000\n", [], "oracle.heartbeat_seconds: 1e+12 is above"),
    ("deviation huge", "[oracle]\ndeviation_bps = 20000\n", [], "oracle.deviation_bps: 20,000 is above"),
    ("arbitrage capital huge", "[arbitrageur]\ncapital_usd_per_block = 1e20\n", [],
     "arbitrageur.capital_usd_per_block: 1e+20 is above"),
    ("keeper capital huge", ONE_KEEPER + "capital_usd = 1e20\n", [], "keepers[0].capital_usd: 1e+20 is above"),
    ("unknown keeper", '[[keepers]]\nstrategy = "naiv"\n', [], "keepers[0].strategy: unknown keeper strategy 'naiv'"),
    ("unknown keeper param", ONE_KEEPER + "[keepers.params]\nmin_profit = 5.0\n", [],
     "keepers[0].params: unknown parameter(s) for"),
    ("soft cannot band the loans", "[lending]\nmax_ltv_bps = 9300\nliquidation_threshold_bps = 9500\n"
     "[borrowers]\nltv_min_bps = 9000\nltv_max_bps = 9200\n", [],
     "borrowers.ltv_max_bps: 9200 is above what soft can band (max 8528"),
    ("soft bound by the market's max", "[lending]\nmax_ltv_bps = 9000\nliquidation_threshold_bps = 9500\n"
     "[borrowers]\nltv_max_bps = 9500\n", ["--mechanism", "soft"], "lending.max_ltv_bps: 9000 is above what soft"),
    ("soft bands overflow", "[borrowers]\ncount = 750\ncollateral_weth_median = 1e5\n", ["--mechanism", "soft"],
     "above what soft's bands hold"),
    ("too many blocks in all", "blocks = 100000\n", ["--seeds", "100"], "blocks in all, above the 5,000,000"),
    ("zero knot price", '[price]\nmodel = "path"\nknots = [[0, 0.0], [60, 100.0]]\n', [], "price must be > 0"),
    ("negative price", GBM + "start_price_usd = -5.0\n", [], "price.start_price_usd: must be > 0"),
    ("csv without its columns", '[price]\nmodel = "csv"\ncsv_file = "prices.csv"\n', [], "timestamp,price"),
]

# (id, arguments, expected fragment); {tiny} is a valid scenario file, {tmp} the work folder
BAD_ARGUMENTS = [
    ("seeds zero", ["compare", "--scenario", "{tiny}", "--seeds", "0"], "--seeds must be >= 1"),
    ("seeds huge", ["compare", "--scenario", "{tiny}", "--seeds", "1000000000"], "--seeds must be <= 100,000"),
    ("seeds 10^30", ["compare", "--scenario", "{tiny}", "--seeds", str(10**30)], "--seeds must be <= 100,000"),
    ("seeds not a number", ["compare", "--scenario", "{tiny}", "--seeds", "many"], "'--seeds': 'many' is not"),
    ("jobs huge", ["compare", "--scenario", "{tiny}", "--jobs", "100000"], "--jobs must be <= 64"),
    ("jobs zero", ["compare", "--scenario", "{tiny}", "--jobs", "0"], "--jobs must be >= 1"),
    ("out empty", ["compare", "--scenario", "{tiny}", "--out", ""], "--out: must not be empty"),
    ("out under a file", ["compare", "--scenario", "{tiny}", "--out", "{tmp}/afile/results"],
     "cannot be created under"),
    ("out unwritable", ["compare", "--scenario", "{tiny}", "--out", "/proc/liqsandbox-test/results"],
     "cannot write in /proc"),
    ("out not results", ["compare", "--scenario", "{tiny}", "--out", "{tmp}/notresults"], "not a results folder"),
    ("out is a file", ["compare", "--scenario", "{tiny}", "--out", "{tmp}/afile"], "not a results folder (a file)"),
    ("scenario is a folder", ["compare", "--scenario", "{tmp}/notresults"], "a folder, not a scenario file"),
    ("scenario missing", ["compare", "--scenario", "{tmp}/nope.toml"], "no such scenario file"),
    ("scenario not utf-8", ["compare", "--scenario", "{tmp}/latin1.toml"], "cannot read scenario file"),
    ("unknown scenario", ["compare", "--scenario", "crsh"], "did you mean 'crash'"),
    ("unknown mechanism", ["compare", "--scenario", "{tiny}", "--mechanism", "fixed-fe"], "did you mean 'fixed-fee'"),
    ("unknown backend", ["compare", "--scenario", "{tiny}", "--backend", "eth-testr"], "did you mean 'eth-tester'"),
    ("run seed negative", ["run", "--mechanism", "soft", "--scenario", "{tiny}", "--seed", "-1"], "'--seed': -1"),
    ("run seed huge", ["run", "--mechanism", "soft", "--scenario", "{tiny}", "--seed", str(2**40)], "'--seed'"),
    ("run out empty", ["run", "--mechanism", "soft", "--scenario", "{tiny}", "--out", ""], "--out: must not be empty"),
    ("run out under a file", ["run", "--mechanism", "soft", "--scenario", "{tiny}", "--out", "{tmp}/afile/x"],
     "cannot be created under"),
    ("run soft cannot band", ["run", "--mechanism", "soft", "--scenario", "{tmp}/highltv.toml"],
     "borrowers.ltv_max_bps: 9200 is above what soft can band"),
    ("run unknown mechanism", ["run", "--mechanism", "sof", "--scenario", "{tiny}"], "did you mean 'soft'"),
    ("run out not results", ["run", "--mechanism", "soft", "--scenario", "{tiny}", "--out", "{tmp}/notresults"],
     "not a results folder"),
    ("show a file", ["show", "{tmp}/afile"], "not a results folder (a file)"),
    ("show not results", ["show", "{tmp}/notresults"], "not a results folder"),
    ("show missing", ["show", "{tmp}/nothere"], "no such results folder"),
    ("plot not results", ["plot", "{tmp}/notresults"], "not a results folder"),
    ("demo seed negative", ["demo", "--seed", "-1"], "'--seed': -1"),
    ("list unknown", ["list", "gadgets"], "No such command"),
]


def _files(root: Path) -> dict[str, bytes]:
    """Every path under ``root`` with its bytes (links by their target): what a command changed."""
    out = {}
    for p in sorted(root.rglob("*")):
        out[str(p.relative_to(root))] = (os.readlink(p).encode() if p.is_symlink() else
                                         p.read_bytes() if p.is_file() else b"<dir>")
    return out


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A working folder with a valid tiny scenario and the things bad arguments point at."""
    from test_compare_cli import tiny_scenario_text

    (tmp_path / "tiny.toml").write_text(tiny_scenario_text())
    (tmp_path / "notresults").mkdir()
    (tmp_path / "notresults" / "keep.txt").write_text("mine")
    (tmp_path / "afile").write_text("x")
    (tmp_path / "prices.csv").write_text("time,usd\n0,2000\n600,1500\n")
    (tmp_path / "latin1.toml").write_bytes("name = 'caf\u00e9'\n".encode("latin-1"))
    (tmp_path / "highltv.toml").write_text(BAD_SCENARIOS[[c[0] for c in BAD_SCENARIOS].index(
        "soft cannot band the loans")][1])
    return tmp_path


def _refused(args: list[str], cwd: Path, expected: str) -> None:
    """Run the command in ``cwd`` and check the one-line refusal and that nothing changed."""
    before = _files(cwd)
    old = os.getcwd()
    os.chdir(cwd)  # the default --out (results/<name>) would land here
    try:
        result = CliRunner().invoke(main, args, catch_exceptions=False)
    finally:
        os.chdir(old)
    lines = result.stderr.splitlines()
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert expected in lines[0], lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert _files(cwd) == before  # no results folder, no temporary folder, nothing removed


@pytest.mark.parametrize("text, extra, expected", [pytest.param(t, a, e, id=i) for i, t, a, e in BAD_SCENARIOS])
def test_a_bad_scenario_file_is_refused_in_one_line_and_nothing_is_written(work, text, extra, expected):
    (work / "bad.toml").write_text(text)
    _refused(["compare", "--scenario", str(work / "bad.toml"), *extra], work, expected)


@pytest.mark.parametrize("args, expected", [pytest.param(a, e, id=i) for i, a, e in BAD_ARGUMENTS])
def test_a_bad_argument_is_refused_in_one_line_and_nothing_is_written(work, args, expected):
    args = [a.format(tiny=work / "tiny.toml", tmp=work) for a in args]
    _refused(args, work, expected)
