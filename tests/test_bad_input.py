"""Malformed input, on the command line or in a scenario file, is refused before anything runs:
one line on stderr naming what is wrong (the field and its limit), the row's exit code (2: bad
input), no traceback, no run started, and nothing written — no results folder, no temporary
folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from sandbox.cli import EXIT_BAD_INPUT, main

GBM = '[price]\nmodel = "gbm"\n'
ONE_KEEPER = '[[keepers]]\nstrategy = "naive"\n'


# (id, scenario file text, extra arguments, expected fragment of the error line, exit code)
BAD_SCENARIOS = [
    ("empty file", "", [], "empty scenario file", 2),
    ("only comments", "# nothing here\n\n", [], "empty scenario file", 2),
    ("malformed toml", "blocks = = 3\n", [], "malformed TOML", 2),
    ("wrong type", 'blocks = "many"\n', [], "blocks: expected an integer", 2),
    ("blocks zero", "blocks = 0\n", [], "blocks: 0 is below the lowest value", 2),
    ("blocks huge", "blocks = 1000000000\n", [], "blocks: 1,000,000,000 is above the highest value the sandbox "
                                                  "can run (1 … 1,000,000)", 2),
    ("block time huge", "block_time_seconds = 100000\n", [], "block_time_seconds: 100,000 is above", 2),
    ("borrowers huge", "[borrowers]\ncount = 1000000000\n", [], "borrowers.count: 1,000,000,000 is above", 2),
    ("keeper count huge", ONE_KEEPER + "count = 1000000\n", [], "keepers[0].count: 1,000,000 is above", 2),
    ("keepers in all", ONE_KEEPER + "count = 600\n" + ONE_KEEPER + "count = 600\n", [],
     "keepers: 1,200 keepers in all is above", 2),
    ("start price huge", GBM + "start_price_usd = 1e300\n", [], "price.start_price_usd: 1e+300 is above", 2),
    ("start price tiny", GBM + "start_price_usd = 1e-12\n", [], "price.start_price_usd: 1e-12 is below", 2),
    ("floor price tiny", GBM + "floor_price_usd = 1e-9\n", [], "price.floor_price_usd: 1e-09 is below", 2),
    ("knot price huge", "[price]\nknots = [[0, 2000], [60, 1e15]]\n", [], "price.knots[1]: 1e+15 is above", 2),
    ("knot time huge", "[price]\nknots = [[0, 2000], [1e12, 1000]]\n", [], "price.knots[1]: 1e+12 is above", 2),
    ("integer too big for a float", GBM + "start_price_usd = " + "9" * 400 + "\n", [],
     "price.start_price_usd: expected a finite number", 2),
    ("volatility huge", GBM + "volatility_per_year = 1000.0\n", [], "price.volatility_per_year: 1,000 is above", 2),
    ("drift huge", GBM + "drift_per_year = -50.0\n", [], "price.drift_per_year: -50 is below", 2),
    ("collateral huge", "[borrowers]\ncollateral_weth_median = 1e30\n", [],
     "borrowers.collateral_weth_median: 1e+30 is above", 2),
    ("collateral sigma huge", "[borrowers]\ncollateral_weth_sigma = 50.0\n", [],
     "borrowers.collateral_weth_sigma: 50 is above", 2),
    ("amm liquidity huge", "[amm]\nliquidity_weth = 1e20\n", [], "amm.liquidity_weth: 1e+20 is above", 2),
    ("base fee huge", "[gas]\nbase_fee_gwei = 1e12\n", [], "gas.base_fee_gwei: 1e+12 is above", 2),
    ("spike multiplier huge", "[gas]\nspikes = [[0, 60, 1e9]]\n", [], "gas.spikes[0]: 1,000,000,000 is above", 2),
    ("heartbeat huge", "[oracle]\nheartbeat_seconds = 1000000000000\n", [],
     "oracle.heartbeat_seconds: 1e+12 is above", 2),
    ("deviation huge", "[oracle]\ndeviation_bps = 20000\n", [], "oracle.deviation_bps: 20,000 is above", 2),
    ("arbitrage capital huge", "[arbitrageur]\ncapital_usd_per_block = 1e20\n", [],
     "arbitrageur.capital_usd_per_block: 1e+20 is above", 2),
    ("keeper capital huge", ONE_KEEPER + "capital_usd = 1e20\n", [], "keepers[0].capital_usd: 1e+20 is above", 2),
    ("unknown keeper", '[[keepers]]\nstrategy = "naiv"\n', [],
     "keepers[0].strategy: unknown keeper strategy 'naiv'", 2),
    ("unknown keeper param", ONE_KEEPER + "[keepers.params]\nmin_profit = 5.0\n", [],
     "keepers[0].params: unknown parameter(s) for", 2),
    ("soft cannot band the loans", "[lending]\nmax_ltv_bps = 9300\nliquidation_threshold_bps = 9500\n"
     "[borrowers]\nltv_min_bps = 9000\nltv_max_bps = 9200\n", [],
     "borrowers.ltv_max_bps: 9200 is above what soft can band (max 8528", 2),
    ("soft bound by the market's max", "[lending]\nmax_ltv_bps = 9000\nliquidation_threshold_bps = 9500\n"
     "[borrowers]\nltv_max_bps = 9500\n", ["--mechanism", "soft"], "lending.max_ltv_bps: 9000 is above what soft", 2),
    ("soft bands overflow", "[borrowers]\ncount = 750\ncollateral_weth_median = 1e5\n", ["--mechanism", "soft"],
     "above what soft's bands hold", 2),
    ("too many blocks in all", "blocks = 100000\n[lending]\nmin_borrow_usd = 2500.0\n", ["--seeds", "100"], "blocks in all, above the 5,000,000", 2),
    ("zero knot price", '[price]\nmodel = "path"\nknots = [[0, 0.0], [60, 100.0]]\n', [], "price must be > 0", 2),
    ("negative price", GBM + "start_price_usd = -5.0\n", [], "price.start_price_usd: must be > 0", 2),
    ("csv without its columns", '[price]\nmodel = "csv"\ncsv_file = "prices.csv"\n', [], "timestamp,price", 2),
    # fields and tables
    ("unknown field", "blokcs = 3\n", [], "blokcs: unknown field (did you mean blocks?)", 2),
    ("unknown section field", '[price]\nmodle = "gbm"\n', [], "price.modle: unknown field (did you mean model?)", 2),
    ("unknown section", "[pricing]\nmodel = 'gbm'\n", [], "pricing: unknown field (did you mean price?)", 2),
    ("section not a table", "price = 3\n", [], "price: expected a table, got 3", 2),
    ("section as an array of tables", "[[price]]\nmodel = 'gbm'\n", [], "price: expected a table, got an array", 2),
    ("name empty", 'name = ""\n', [], "name: is required", 2),
    ("not a number", "blocks = nan\n", [], "blocks: expected an integer, got nan", 2),
    ("infinite", GBM + "start_price_usd = inf\n", [], "price.start_price_usd: expected a finite number, got inf", 2),
    ("number for a flag", "[arbitrageur]\nenabled = 1\n", [], "arbitrageur.enabled: expected true or false, got 1", 2),
    ("unknown builder policy", 'builder_policy = "random"\n', [], "builder_policy: unknown policy 'random'", 2),
    ("settle idle below a block", "block_time_seconds = 36\nsettle_idle_seconds = 5\n", [],
     "settle_idle_seconds: must be at least one block", 2),
    ("settle negative", "settle_max_seconds = -1\n", [], "settle_max_seconds: -1 is below the lowest value", 2),
    # price
    ("unknown price model", '[price]\nmodel = "gbmm"\n', [], "price.model: unknown model 'gbmm'", 2),
    ("knots not increasing", "[price]\nknots = [[0, 2000], [0, 1000]]\n", [], "price.knots: times must increase", 2),
    ("knot of three", "[price]\nknots = [[0, 2000, 3]]\n", [], "price.knots[0]: expected a [seconds, price] pair", 2),
    ("knots not rows", "[price]\nknots = 5\n", [], "price.knots: expected an array of [seconds, price] rows", 2),
    ("knot before the start", "[price]\nknots = [[-60, 2000], [60, 1000]]\n", [],
     "price.knots[0]: seconds must be >= 0", 2),
    ("start price off the path", "[price]\nknots = [[0, 2000]]\nstart_price_usd = 1500.0\n", [],
     "price.start_price_usd: 1500 differs from the path's price at 0 s (2000)", 2),
    ("bridge without a target", '[price]\nmodel = "bridge"\n', [], "price.target_price_usd: must be > 0", 2),
    ("csv without a file", '[price]\nmodel = "csv"\n', [], "price.csv_file: the csv model needs a file", 2),
    ("csv file missing", '[price]\nmodel = "csv"\ncsv_file = "nope.csv"\n', [], "price.csv_file: no such file", 2),
    ("csv time going back", '[price]\nmodel = "csv"\ncsv_file = "back.csv"\n', [],
     "back.csv line 4: timestamps must increase (300 after 600)", 2),
    ("csv zero price", '[price]\nmodel = "csv"\ncsv_file = "zero.csv"\n', [], "zero.csv line 3: price must be > 0", 2),
    ("csv price not a number", '[price]\nmodel = "csv"\ncsv_file = "text.csv"\n', [],
     "text.csv line 3: price 'abc' is not a number", 2),
    ("csv empty", '[price]\nmodel = "csv"\ncsv_file = "empty.csv"\n', [], "empty.csv is empty", 2),
    # gas and oracle
    ("spike of two", "[gas]\nspikes = [[0, 60]]\n", [],
     "gas.spikes[0]: expected a [start_s, end_s, multiplier] triple", 2),
    ("spike ending first", "[gas]\nspikes = [[60, 0, 2.0]]\n", [], "gas.spikes[0]: needs 0 <= start_s < end_s", 2),
    ("spike of zero", "[gas]\nspikes = [[0, 60, 0.0]]\n", [], "gas.spikes[0]: multiplier must be > 0", 2),
    ("background above the gas limit", "[gas]\nbackground_gas_per_block = 40000000\n", [],
     "gas.background_gas_per_block: must be within [0, 30000000]", 2),
    ("faults overlapping", "[oracle]\nfaults = [[0, 600, 0.5], [300, 900, 1.5]]\n", [],
     "oracle.faults[1]: windows must not overlap", 2),
    ("fault of zero", "[oracle]\nfaults = [[0, 600, 0.0]]\n", [],
     "oracle.faults[0]: multiplier must be within (0, 100]", 2),
    ("fault ending first", "[oracle]\nfaults = [[600, 0, 0.5]]\n", [],
     "oracle.faults[0]: needs 0 <= start_s < end_s", 2),
    ("amm weight above one", "[oracle]\namm_weight = 2.0\n", [], "oracle.amm_weight: must be within [0, 1]", 2),
    ("deviation zero", "[oracle]\ndeviation_bps = 0\n", [], "oracle.deviation_bps: must be > 0", 2),
    ("delay negative", "[oracle]\ndelay_seconds = -5\n", [], "oracle.delay_seconds: must be >= 0", 2),
    # market and population
    ("amm fee all of it", "[amm]\nfee_bps = 10000\n", [], "amm.fee_bps: must be within [0, 10000)", 2),
    ("max ltv above the threshold", "[lending]\nmax_ltv_bps = 9000\nliquidation_threshold_bps = 8500\n", [],
     "lending: needs 0 < max_ltv_bps <= liquidation_threshold_bps < 10000", 2),
    ("minimum borrow negative", "[lending]\nmin_borrow_usd = -1.0\n", [], "lending.min_borrow_usd: must be >= 0", 2),
    ("borrower ltvs crossed", "[borrowers]\nltv_min_bps = 7900\nltv_max_bps = 7000\n", [],
     "borrowers: needs 0 < ltv_min_bps <= ltv_max_bps < 10000", 2),
    ("no borrowers", "[borrowers]\ncount = 0\n", [], "borrowers.count: must be >= 1", 2),
    ("reaction above certainty", "[borrowers]\nreaction_probability = 1.5\n", [],
     "borrowers.reaction_probability: must be within [0, 1]", 2),
    # keepers
    ("keepers as one table", '[keepers]\nstrategy = "naive"\n', [],
     "keepers: expected an array of tables ([[keepers]]), got a table ([keepers])", 2),
    ("no keepers", "keepers = []\n", [], "keepers: at least one keeper group is required", 2),
    ("keeper without a strategy", "[[keepers]]\ncount = 2\n", [], "keepers[0].strategy: is required", 2),
    ("keeper strategy empty", '[[keepers]]\nstrategy = ""\n', [], "keepers[0].strategy: must not be empty", 2),
    ("keeper count zero", ONE_KEEPER + "count = 0\n", [], "keepers[0].count: must be >= 1", 2),
    ("keeper tip negative", ONE_KEEPER + "tip_gwei = -1.0\n", [], "keepers[0].tip_gwei: must be >= 0", 2),
    ("keeper fee cap negative", ONE_KEEPER + "max_fee_cap_gwei = -1.0\n", [],
     "keepers[0].max_fee_cap_gwei: must be >= 0 (0 = no cap)", 2),
    ("keeper parameter out of range", ONE_KEEPER + "[keepers.params]\nmin_profit_usd = -5.0\n", [],
     "keepers[0].params: min_profit_usd must be >= 0", 2),
    # mechanisms
    ("mechanism unknown", "[mechanisms.fixed-fe]\nbonus_bps = 1\n", [],
     "mechanisms.fixed-fe: unknown mechanism (did you mean fixed-fee?", 2),
    ("mechanism parameter unknown", "[mechanisms.fixed-fee]\nbonus = 1\n", [],
     "mechanisms.fixed-fee.bonus: unknown field (did you mean bonus_bps?)", 2),
    ("mechanism parameter out of range", "[mechanisms.fixed-fee]\nclose_factor_bps = 0\n", [],
     "mechanisms.fixed-fee: close_factor_bps must be in (0, 10000], got 0", 2),
    ("mechanism parameter of the wrong type", '[mechanisms.dutch-auction]\nstep_seconds = "fast"\n', [],
     "mechanisms.dutch-auction.step_seconds: expected an integer, got 'fast'", 2),
    ("mechanisms not a table", "mechanisms = 3\n", [], "mechanisms: expected a table, got 3", 2),
    ("positions below the dust", "name = 'small'\n", ["--mechanism", "dutch-auction"],
     "lending.min_borrow_usd: $0 lets borrowers open positions below dutch-auction's dust of $2,500, which it "
     "never liquidates: raise min_borrow_usd to at least 2500", 2),
    ("fixed positions below the dust", "[borrowers]\ncollateral_weth_sigma = 0.0\ncollateral_weth_median = 0.2\n"
     "[lending]\nmin_borrow_usd = 100.0\n[mechanisms.english-auction]\ndust_usd = 300.5\n",
     ["--mechanism", "english-auction"],
     "lending.min_borrow_usd: borrowers' positions owe down to $260 (min_borrow_usd is $100), below "
     "english-auction's dust of $300.5, which it never liquidates: raise min_borrow_usd to at least 300.5", 2),
    ("private window holding no block", "block_time_seconds = 30\n[oracle]\ndelay_seconds = 7\n",
     ["--mechanism", "private"], "mechanisms.private.open_delay_seconds: 12 s leaves no block", 2),
]

# (id, arguments, expected fragment, exit code); {tiny} is a valid scenario file, {tmp} the work folder
BAD_ARGUMENTS = [
    ("seeds zero", ["compare", "--scenario", "{tiny}", "--seeds", "0"], "--seeds must be >= 1", 2),
    ("seeds huge", ["compare", "--scenario", "{tiny}", "--seeds", "1000000000"], "--seeds must be <= 100,000", 2),
    ("seeds 10^30", ["compare", "--scenario", "{tiny}", "--seeds", str(10**30)], "--seeds must be <= 100,000", 2),
    ("seeds not a number", ["compare", "--scenario", "{tiny}", "--seeds", "many"], "'--seeds': 'many' is not", 2),
    ("jobs huge", ["compare", "--scenario", "{tiny}", "--jobs", "100000"], "--jobs must be <= 64", 2),
    ("jobs zero", ["compare", "--scenario", "{tiny}", "--jobs", "0"], "--jobs must be >= 1", 2),
    ("out empty", ["compare", "--scenario", "{tiny}", "--out", ""], "--out: must not be empty", 2),
    ("out under a file", ["compare", "--scenario", "{tiny}", "--out", "{tmp}/afile/results"],
     "cannot be created under", 2),
    ("out unwritable", ["compare", "--scenario", "{tiny}", "--out", "/proc/liqsandbox-test/results"],
     "cannot write in /proc", 2),
    ("out not results", ["compare", "--scenario", "{tiny}", "--out", "{tmp}/notresults"], "not a results folder", 2),
    ("out is a file", ["compare", "--scenario", "{tiny}", "--out", "{tmp}/afile"], "not a results folder (a file)", 2),
    ("scenario is a folder", ["compare", "--scenario", "{tmp}/notresults"], "a folder, not a scenario file", 2),
    ("scenario missing", ["compare", "--scenario", "{tmp}/nope.toml"], "no such scenario file", 2),
    ("scenario not utf-8", ["compare", "--scenario", "{tmp}/latin1.toml"], "cannot read scenario file", 2),
    ("unknown scenario", ["compare", "--scenario", "crsh"], "did you mean 'crash'", 2),
    ("unknown mechanism", ["compare", "--scenario", "{tiny}", "--mechanism", "fixed-fe"],
     "did you mean 'fixed-fee'", 2),
    ("unknown backend", ["compare", "--scenario", "{tiny}", "--backend", "eth-testr"], "did you mean 'eth-tester'", 2),
    ("run seed negative", ["run", "--mechanism", "soft", "--scenario", "{tiny}", "--seed", "-1"], "'--seed': -1", 2),
    ("run seed huge", ["run", "--mechanism", "soft", "--scenario", "{tiny}", "--seed", str(2**40)], "'--seed'", 2),
    ("run out empty", ["run", "--mechanism", "soft", "--scenario", "{tiny}", "--out", ""],
     "--out: must not be empty", 2),
    ("run out under a file", ["run", "--mechanism", "soft", "--scenario", "{tiny}", "--out", "{tmp}/afile/x"],
     "cannot be created under", 2),
    ("run soft cannot band", ["run", "--mechanism", "soft", "--scenario", "{tmp}/highltv.toml"],
     "borrowers.ltv_max_bps: 9200 is above what soft can band", 2),
    ("run unknown mechanism", ["run", "--mechanism", "sof", "--scenario", "{tiny}"], "did you mean 'soft'", 2),
    ("run out not results", ["run", "--mechanism", "soft", "--scenario", "{tiny}", "--out", "{tmp}/notresults"],
     "not a results folder", 2),
    ("show a file", ["show", "{tmp}/afile"], "not a results folder (a file)", 2),
    ("show not results", ["show", "{tmp}/notresults"], "not a results folder", 2),
    ("show missing", ["show", "{tmp}/nothere"], "no such results folder", 2),
    ("plot not results", ["plot", "{tmp}/notresults"], "not a results folder", 2),
    ("demo seed negative", ["demo", "--seed", "-1"], "'--seed': -1", 2),
    ("list unknown", ["list", "gadgets"], "No such command", 2),
    ("seeds negative", ["compare", "--scenario", "{tiny}", "--seeds", "-3"], "--seeds must be >= 1, got -3", 2),
    ("seeds a fraction", ["compare", "--scenario", "{tiny}", "--seeds", "1.5"], "'1.5' is not a valid integer", 2),
    ("jobs not a number", ["compare", "--scenario", "{tiny}", "--jobs", "many"], "'many' is not a valid integer", 2),
    ("mechanism empty", ["compare", "--scenario", "{tiny}", "--mechanism", ""], "unknown mechanism ''", 2),
    ("backend empty", ["compare", "--scenario", "{tiny}", "--backend", ""], "unknown backend ''", 2),
    ("backend without a value", ["compare", "--scenario", "{tiny}", "--backend"],
     "Option '--backend' requires an argument", 2),
    ("unknown option", ["compare", "--frobnicate"], "No such option '--frobnicate'", 2),
    ("unknown command", ["frobnicate"], "No such command 'frobnicate'", 2),
    ("build unknown option", ["build", "--frob"], "No such option '--frob'", 2),
    ("run without a mechanism", ["run", "--scenario", "{tiny}"], "Missing option '--mechanism'", 2),
    ("run mechanism empty", ["run", "--mechanism", "", "--scenario", "{tiny}"], "unknown mechanism ''", 2),
    ("run unknown backend", ["run", "--mechanism", "soft", "--scenario", "{tiny}", "--backend", "anvl"],
     "did you mean 'anvil'", 2),
    ("show without a folder", ["show"], "Missing argument 'DIR'", 2),
    ("plot a file", ["plot", "{tmp}/afile"], "not a results folder (a file)", 2),
    ("plot missing", ["plot", "{tmp}/nothere"], "no such results folder", 2),
    ("demo seed not a number", ["demo", "--seed", "many"], "'many' is not a valid integer", 2),
    ("scenario empty", ["compare", "--scenario", ""], "--scenario: must not be empty", 2),
    ("run scenario empty", ["run", "--mechanism", "soft", "--scenario", ""], "--scenario: must not be empty", 2),
    ("list without a kind", ["list"], "Missing command", 2),
    ("no command", [], "Missing command", 2),
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
    (tmp_path / "back.csv").write_text("timestamp,price\n0,2000\n600,1500\n300,1400\n")
    (tmp_path / "zero.csv").write_text("timestamp,price\n0,2000\n600,0\n")
    (tmp_path / "text.csv").write_text("timestamp,price\n0,2000\n600,abc\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "latin1.toml").write_bytes("name = 'caf\u00e9'\n".encode("latin-1"))
    (tmp_path / "highltv.toml").write_text(next(r[1] for r in BAD_SCENARIOS if r[0] == "soft cannot band the loans"))
    return tmp_path


def _no_run(*args, **kwargs):
    raise AssertionError("a run started: the input was not refused up front")


def _refused(args: list[str], cwd: Path, expected: str, code: int, monkeypatch) -> None:
    """Run the command in ``cwd`` and check the one-line refusal with ``code``, that no run
    started and that nothing changed."""
    import sandbox.compare
    import sandbox.simulation

    monkeypatch.setattr(sandbox.compare, "run_comparison", _no_run)  # a refusal comes before any run
    monkeypatch.setattr(sandbox.simulation.Simulation, "setup", _no_run)
    before = _files(cwd)
    monkeypatch.chdir(cwd)  # the default --out (results/<name>) would land here
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    lines = result.stderr.splitlines()
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert expected in lines[0], lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert _files(cwd) == before  # no results folder, no temporary folder, nothing removed


def _params(rows):
    return [pytest.param(*row[1:], id=row[0]) if type(row) is tuple else row for row in rows]


@pytest.mark.parametrize("text, extra, expected, code", _params(BAD_SCENARIOS))
def test_a_bad_scenario_file_is_refused_in_one_line_and_nothing_is_written(work, text, extra, expected, code,
                                                                            monkeypatch):
    (work / "bad.toml").write_text(text)
    _refused(["compare", "--scenario", str(work / "bad.toml"), *extra], work, expected, code, monkeypatch)


@pytest.mark.parametrize("args, expected, code", _params(BAD_ARGUMENTS))
def test_a_bad_argument_is_refused_in_one_line_and_nothing_is_written(work, args, expected, code, monkeypatch):
    args = [a.format(tiny=work / "tiny.toml", tmp=work) for a in args]
    _refused(args, work, expected, code, monkeypatch)


def test_every_row_is_a_different_input_with_the_bad_input_exit_code():
    """The table is the inventory of malformed inputs: ids and inputs all distinct, every exit
    code the command line's one for bad input."""
    rows = [(r[0], r[1:]) if type(r) is tuple else (r.id, r.values) for r in BAD_SCENARIOS + BAD_ARGUMENTS]
    ids = [i for i, _ in rows]
    inputs = [repr(v[:-2]) for _, v in rows]
    assert len(set(ids)) == len(ids) and len(set(inputs)) == len(inputs)
    assert {v[-1] for _, v in rows} == {EXIT_BAD_INPUT}
    assert len(rows) >= 40
