"""Scenarios: TOML files, their validation, the built-ins, and the reference price models."""

from __future__ import annotations

import math
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

from sandbox.scenarios import (
    DEFAULT_SCENARIO,
    AmmSpec,
    ArbitrageurSpec,
    BorrowerSpec,
    GasSpec,
    KeeperSpec,
    LendingSpec,
    OracleSpec,
    PerpSpec,
    PriceSpec,
    Scenario,
    ScenarioError,
    TraderSpec,
    builtin_scenarios,
    load_scenario,
    reference_prices,
    to_wad_prices,
)
from sandbox.units import WAD

KEEPER_STRATEGIES = {"naive", "pga", "frontrunner", "backrunner", "flash", "opportunist"}
YEAR = 31_536_000

# A complete scenario file: every section and every field, read out of README's example, so
# the documentation cannot drift from what the loader accepts.
README = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLE_TOML = re.search(r"```toml\n(# An 80-minute run.*?)```", README.read_text(), re.S).group(1)


def write(tmp_path: Path, text: str, name: str = "scenario.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def load_text(tmp_path: Path, text: str) -> Scenario:
    return load_scenario(write(tmp_path, text))


def rng(seed: int = 1) -> np.random.Generator:
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------- built-ins


def test_builtin_scenarios_are_the_five_lending_and_three_perp_ones():
    assert set(builtin_scenarios()) == {"crash", "calm", "black-thursday", "flash-crash", "oracle-lag",
                                        "perp-crash", "perp-cascade", "perp-vol-regime"}
    assert DEFAULT_SCENARIO == "crash"
    assert {load_scenario(n).market for n in builtin_scenarios() if n.startswith("perp-")} == {"perp"}


@pytest.mark.parametrize("name", builtin_scenarios())
def test_every_builtin_loads_validates_and_describes_itself(name):
    sc = load_scenario(name)
    assert sc.name == name
    assert sc.source == f"builtin:{name}"
    assert sc.description.strip() and "\n" not in sc.description
    assert {k.strategy for k in sc.keepers} <= KEEPER_STRATEGIES
    prices = reference_prices(sc.price, sc.blocks, sc.block_time_seconds, rng(3))
    assert len(prices) == sc.blocks + 1
    assert np.all(prices > 0)
    assert prices[0] == sc.price.start_price_usd == sc.market_params().initial_price_usd


def test_crash_is_minus_40_percent_in_two_hours():
    sc = load_scenario("crash")
    assert sc.price.model == "path"
    start = sc.price.start_price_usd
    assert sc.price.knots[0] == (0.0, start)
    assert sc.price.knots[-1] == (7200.0, pytest.approx(0.6 * start))
    assert sc.duration_seconds >= 7200
    assert 7200 % sc.block_time_seconds == 0
    prices = reference_prices(sc.price, sc.blocks, sc.block_time_seconds, rng(11))
    assert prices[7200 // sc.block_time_seconds] == pytest.approx(0.6 * start, rel=1e-12)
    assert sc.price.noise_volatility_per_year > 0  # mild noise, still exact at the knots


def test_crash_is_small_enough_for_the_default_compare():
    sc = load_scenario("crash")
    assert sc.borrowers.count <= 40 and sc.blocks <= 250
    assert {k.strategy for k in sc.keepers} == KEEPER_STRATEGIES - {"opportunist"}  # black-thursday has it
    assert sum(k.count for k in sc.keepers) <= 6


def test_black_thursday_has_two_cliffs_gas_spikes_and_a_one_hour_oracle_delay():
    sc = load_scenario("black-thursday")
    assert sc.oracle.delay_seconds == 3600
    prices = reference_prices(sc.price, sc.blocks, sc.block_time_seconds, rng(5))
    assert sc.duration_seconds <= 26 * 3600
    assert prices.min() <= 0.5 * prices[0] + 1e-9  # -50% within about a day
    # two cliffs: two separate 2-hour windows each losing > 20%
    window = 7200 // sc.block_time_seconds
    drops = prices[window:] / prices[:-window]
    steep = np.flatnonzero(drops < 0.8)
    assert steep.size and (steep.max() - steep.min()) * sc.block_time_seconds > 6 * 3600
    ramps = [s for s in sc.gas.spikes if s[2] > 1]
    assert len(ramps) == 2
    assert any(k.max_fee_cap_gwei > 0 for k in sc.keepers)  # fixed gas policies that will fail
    assert any(k.max_fee_cap_gwei == 0 for k in sc.keepers)  # and keepers that pay up


def test_black_thursday_gas_rises_about_six_fold_during_the_cliffs():
    from sandbox.chain.gasmarket import next_base_fee

    sc = load_scenario("black-thursday")
    base = fee = int(sc.gas.base_fee_gwei * 1e9)
    peak = fee
    for k in range(sc.blocks):
        gas, _ = sc.gas.demand_at(k * sc.block_time_seconds)
        fee = next_base_fee(fee, gas, 30_000_000)
        peak = max(peak, fee)
    assert 5 <= peak / base <= 7
    assert fee / base < 1.5  # and it comes back down
    capped = [k.max_fee_cap_gwei for k in sc.keepers if k.max_fee_cap_gwei > 0]
    assert min(capped) * 1e9 < peak  # capped keepers are priced out at the peak


def test_flash_crash_drops_30_percent_and_recovers_within_an_hour():
    sc = load_scenario("flash-crash")
    prices = reference_prices(sc.price, sc.blocks, sc.block_time_seconds, rng(2))
    low = int(np.argmin(prices))
    assert prices[low] == pytest.approx(0.7 * prices[0], rel=0.01)
    t_back = sc.price.knots[-1][0]
    assert sc.price.knots[-1][1] == prices[0] and t_back - sc.price.knots[1][0] <= 3600
    assert prices[int(t_back // sc.block_time_seconds)] == prices[0]


def test_oracle_lag_has_a_coarse_oracle_over_a_steady_slide():
    sc = load_scenario("oracle-lag")
    assert sc.oracle.deviation_bps == 200 and sc.oracle.heartbeat_seconds == 3600
    prices = reference_prices(sc.price, sc.blocks, sc.block_time_seconds, rng(4))
    # steady: the slide loses many times the deviation threshold, a small step at a time
    assert prices[-1] < 0.75 * prices[0]
    assert np.max(np.abs(np.diff(np.log(prices)))) < 0.02


def test_calm_stays_calm():
    sc = load_scenario("calm")
    assert sc.price.model == "gbm" and sc.price.volatility_per_year <= 0.5
    prices = reference_prices(sc.price, sc.blocks, sc.block_time_seconds, rng(6))
    assert prices.min() > 0.95 * prices[0]


def test_unknown_builtin_suggests_the_closest_and_lists_them():
    with pytest.raises(ScenarioError) as e:
        load_scenario("crsh")
    msg = str(e.value)
    assert "'crash'" in msg and "black-thursday" in msg and "oracle-lag" in msg and "\n" not in msg


# --------------------------------------------------------------------------- the example file


def test_full_example_round_trips_into_the_expected_dataclasses(tmp_path):
    path = write(tmp_path, EXAMPLE_TOML, "example.toml")
    expected = Scenario(
        name="slide-with-congestion",
        description="WETH slides 25% over 1 h with noise; a gas spike while it falls.",
        blocks=400,
        block_time_seconds=12,
        builder_policy="priority-fee",
        settle_max_seconds=86_400,
        settle_idle_seconds=3_600,
        price=PriceSpec(model="path", start_price_usd=2000.0,
                        knots=((0.0, 2000.0), (1800.0, 1800.0), (3600.0, 1500.0)),
                        noise_volatility_per_year=0.4, floor_price_usd=1.0),
        gas=GasSpec(base_fee_gwei=25.0, background_gas_per_block=15_000_000, background_tip_gwei=1.5,
                    spikes=((1800.0, 2100.0, 1.25),)),
        oracle=OracleSpec(deviation_bps=100, heartbeat_seconds=1800, delay_seconds=0, tip_gwei=2.0,
                          amm_weight=0.0, faults=((2400.0, 3000.0, 0.8),)),
        amm=AmmSpec(liquidity_weth=3000.0, fee_bps=30),
        lending=LendingSpec(max_ltv_bps=7500, liquidation_threshold_bps=8200, min_borrow_usd=2500.0),
        borrowers=BorrowerSpec(count=50, collateral_weth_median=8.0, collateral_weth_sigma=0.8,
                               ltv_min_bps=6000, ltv_max_bps=7400, react_below_health_factor=1.08,
                               reaction_probability=0.02, top_up_fraction=0.3),
        arbitrageur=ArbitrageurSpec(enabled=True, capital_usd_per_block=1_000_000.0, min_edge_bps=15,
                                    tip_gwei=1.0),
        keepers=(
            KeeperSpec(strategy="naive", count=2, capital_usd=500_000.0, tip_gwei=2.0, max_fee_cap_gwei=100.0),
            KeeperSpec(strategy="pga", count=1, capital_usd=1_000_000.0, tip_gwei=3.0, max_fee_cap_gwei=0.0,
                       params={"min_profit_usd": 50.0}),
            KeeperSpec(strategy="flash", capital_usd=0.0),
        ),
        mechanisms={"dutch-auction": {"step_seconds": 60, "cut_bps": 9900}, "fixed-fee": {"bonus_bps": 750}},
        source=str(path.resolve()),
    )
    sc = load_scenario(path)
    assert sc == expected
    assert isinstance(sc.price.knots, tuple) and all(isinstance(k, tuple) for k in sc.price.knots)
    assert isinstance(sc.gas.spikes, tuple) and isinstance(sc.keepers, tuple)
    assert type(sc.keepers[2].capital_usd) is float  # ints are accepted for float fields
    assert sc.mechanism_overrides("dutch-auction") == {"step_seconds": 60, "cut_bps": 9900}
    assert sc.mechanism_overrides("soft") == {}
    hash(sc), [hash(k) for k in sc.keepers]  # frozen and hashable
    prices = reference_prices(sc.price, sc.blocks, sc.block_time_seconds, rng())
    assert prices[150] == 1800.0 and prices[300] == 1500.0


def test_loading_by_string_path_and_relative_path(tmp_path, monkeypatch):
    write(tmp_path, EXAMPLE_TOML, "example.toml")
    monkeypatch.chdir(tmp_path)
    by_rel = load_scenario("example.toml")
    by_abs = load_scenario(str(tmp_path / "example.toml"))
    assert by_rel == by_abs and by_rel.source == str((tmp_path / "example.toml").resolve())


def test_name_defaults_to_the_file_stem(tmp_path):
    sc = load_text(tmp_path, "blocks = 10\n")
    assert sc.name == "scenario" and sc.blocks == 10
    assert sc.price == Scenario(name="x").price and sc.keepers == Scenario(name="x").keepers


def test_path_start_price_defaults_to_the_first_knot(tmp_path):
    sc = load_text(tmp_path, '[price]\nknots = [[0, 1500], [60, 1400]]\n')
    assert sc.price.start_price_usd == 1500.0
    assert sc.market_params().initial_price_usd == 1500.0


# --------------------------------------------------------------------------- bad input

BAD_INPUTS = [
    # (id, file text, expected start of the message)
    ("malformed-toml", "blocks = 10\n[price\nmodel = 'gbm'\n", "malformed TOML"),
    ("unknown-top-level-key", "blokcs = 10\n", "blokcs: unknown field (did you mean blocks?)"),
    ("unknown-section-key", "[borrowers]\ncolateral_weth_median = 5.0\n",
     "borrowers.colateral_weth_median: unknown field (did you mean collateral_weth_median?)"),
    ("unknown-section", "[prices]\nmodel = 'gbm'\n", "prices: unknown field (did you mean price?)"),
    ("string-for-int", "[oracle]\ndeviation_bps = 'abc'\n", "oracle.deviation_bps: expected an integer, got 'abc'"),
    ("float-for-int", "[oracle]\nheartbeat_seconds = 1.5\n", "oracle.heartbeat_seconds: expected an integer, got 1.5"),
    ("bool-for-float", "[amm]\nliquidity_weth = true\n", "amm.liquidity_weth: expected a number, got true"),
    ("bool-for-int", "blocks = true\n", "blocks: expected an integer, got true"),
    ("number-for-bool", "[arbitrageur]\nenabled = 1\n", "arbitrageur.enabled: expected true or false"),
    ("number-for-string", "name = 5\n", "name: expected a string"),
    ("section-not-a-table", "oracle = 5\n", "oracle: expected a table"),
    ("dataclass-validation", "[borrowers]\ncount = 0\n", "borrowers.count: must be >= 1"),
    ("blocks-zero", "blocks = 0\n", "blocks: 0 is below the lowest value the sandbox can run (1 … 1,000,000)"),
    ("unknown-builder-policy", "builder_policy = 'lifo'\n", "builder_policy: unknown policy"),
    ("unknown-price-model", "[price]\nmodel = 'gmb'\n", "price.model: unknown model"),
    ("knot-not-a-pair", "[price]\nknots = [[0, 2000, 5]]\n", "price.knots[0]: expected a [seconds, price] pair"),
    ("knot-not-an-array", "[price]\nknots = [2000]\n", "price.knots[0]: expected a [seconds, price] pair"),
    ("knots-not-an-array", "[price]\nknots = 'x'\n", "price.knots: expected an array"),
    ("knot-not-numeric", "[price]\nknots = [[0, 'a']]\n", "price.knots[0]: expected a number"),
    ("knot-zero-price", "[price]\nknots = [[0, 2000], [60, 0]]\n", "price.knots[1]: price must be > 0"),
    ("knot-negative-price", "[price]\nknots = [[0, -5]]\n", "price.knots[0]: price must be > 0"),
    ("knots-not-increasing", "[price]\nknots = [[60, 2000], [0, 1000]]\n", "price.knots: times must increase"),
    ("path-without-knots", "[price]\nmodel = 'path'\n", "price.knots: the path model needs"),
    ("negative-start-price", "[price]\nmodel = 'gbm'\nstart_price_usd = -1\n", "price.start_price_usd: must be > 0"),
    ("zero-start-price", "[price]\nmodel = 'gbm'\nstart_price_usd = 0\n", "price.start_price_usd: must be > 0"),
    ("start-price-differs-from-path", "[price]\nstart_price_usd = 1800\nknots = [[0, 2000]]\n",
     "price.start_price_usd: 1800 differs"),
    ("bridge-zero-target", "[price]\nmodel = 'bridge'\ntarget_price_usd = 0\ntarget_time_seconds = 60\n",
     "price.target_price_usd: must be > 0"),
    ("csv-missing-file", "[price]\nmodel = 'csv'\ncsv_file = 'nope.csv'\n", "price.csv_file: no such file"),
    ("csv-without-file", "[price]\nmodel = 'csv'\n", "price.csv_file: the csv model needs a file"),
    ("spike-not-a-triple", "[gas]\nspikes = [[0, 60]]\n",
     "gas.spikes[0]: expected a [start_s, end_s, multiplier] triple"),
    ("spike-backwards", "[gas]\nspikes = [[60, 0, 2]]\n", "gas.spikes[0]: needs 0 <= start_s < end_s"),
    ("lending-inconsistent", "[lending]\nmax_ltv_bps = 9000\nliquidation_threshold_bps = 8500\n", "lending: needs"),
    ("keepers-as-table", "[keepers]\nstrategy = 'naive'\n", "keepers: expected an array of tables"),
    ("keeper-without-strategy", "[[keepers]]\ncount = 2\n", "keepers[0].strategy: is required"),
    ("keeper-unknown-key", "[[keepers]]\nstrategy = 'naive'\ntipgwei = 3\n",
     "keepers[0].tipgwei: unknown field (did you mean tip_gwei?)"),
    ("keeper-zero-count", "[[keepers]]\nstrategy = 'naive'\n[[keepers]]\nstrategy = 'pga'\ncount = 0\n",
     "keepers[1].count: must be >= 1"),
    ("keeper-negative-fee-cap", "[[keepers]]\nstrategy = 'naive'\nmax_fee_cap_gwei = -1\n",
     "keepers[0].max_fee_cap_gwei: must be >= 0"),
    ("keeper-nested-params", "[[keepers]]\nstrategy = 'naive'\n[keepers.params.deep]\nx = 1\n",
     "keepers[0].params.deep: expected a number"),
    ("keeper-bool-tip", "[[keepers]]\nstrategy = 'naive'\ntip_gwei = false\n",
     "keepers[0].tip_gwei: expected a number"),
    ("unknown-mechanism", "[mechanisms.dutch-auciton]\nstep_seconds = 60\n",
     "mechanisms.dutch-auciton: unknown mechanism (did you mean dutch-auction?"),
    ("unknown-mechanism-param", "[mechanisms.dutch-auction]\nstep_second = 60\n",
     "mechanisms.dutch-auction.step_second: unknown field (did you mean step_seconds?)"),
    ("mechanism-param-wrong-type", "[mechanisms.fixed-fee]\nbonus_bps = '5%'\n",
     "mechanisms.fixed-fee.bonus_bps: expected an integer, got '5%'"),
    ("mechanism-param-rejected", "[mechanisms.dutch-auction]\nstep_seconds = 0\n",
     "mechanisms.dutch-auction: step_seconds"),
    ("mechanisms-not-tables", "mechanisms = 5\n", "mechanisms: expected a table"),
    ("fault-not-a-triple", "[oracle]\nfaults = [[0, 60]]\n",
     "oracle.faults[0]: expected a [start_s, end_s, multiplier] triple"),
    ("fault-ends-before-it-starts", "[oracle]\nfaults = [[60, 60, 0.8]]\n",
     "oracle.faults[0]: needs 0 <= start_s < end_s"),
    ("fault-zero-multiplier", "[oracle]\nfaults = [[0, 60, 0]]\n",
     "oracle.faults[0]: multiplier must be within (0, 100]"),
    ("faults-overlap", "[oracle]\nfaults = [[0, 60, 0.8], [30, 90, 1.2]]\n",
     "oracle.faults[1]: windows must not overlap"),
    ("negative-min-borrow", "[lending]\nmin_borrow_usd = -1\n", "lending.min_borrow_usd: must be >= 0"),
    ("negative-settle", "settle_max_seconds = -1\n", "settle_max_seconds: -1 is below the lowest value"),
    ("settle-idle-below-a-block", "block_time_seconds = 12\nsettle_idle_seconds = 5\n",
     "settle_idle_seconds: must be at least one block"),
]


@pytest.mark.parametrize("text, expected", [pytest.param(t, e, id=i) for i, t, e in BAD_INPUTS])
def test_bad_input_raises_one_line_scenario_error_naming_the_field(tmp_path, text, expected):
    with pytest.raises(ScenarioError) as e:
        load_text(tmp_path, text)
    msg = str(e.value)
    assert "\n" not in msg
    assert expected in msg, msg


def test_malformed_toml_names_the_file_and_the_line(tmp_path):
    path = write(tmp_path, "blocks = 10\n[price\n")
    with pytest.raises(ScenarioError, match=r"line 2") as e:
        load_scenario(path)
    assert str(e.value).startswith(str(path))


def test_missing_scenario_file_names_the_path(tmp_path):
    missing = tmp_path / "absent.toml"
    with pytest.raises(ScenarioError, match="no such scenario file") as e:
        load_scenario(missing)
    assert str(missing) in str(e.value)


CSV_CASES = [
    ("no-columns", "time,usd\n0,2000\n", "needs the columns timestamp,price"),
    ("empty", "", "is empty"),
    ("non-numeric-price", "timestamp,price\n0,2000\n60,abc\n", "line 3: price 'abc' is not a number"),
    ("non-numeric-time", "timestamp,price\nsoon,2000\n", "line 2: timestamp 'soon' is not a number"),
    ("zero-price", "timestamp,price\n0,2000\n60,0\n", "line 3: price must be > 0"),
    ("negative-price", "timestamp,price\n0,-1\n", "line 2: price must be > 0"),
    ("short-row", "timestamp,price\n0\n", "line 2: expected timestamp,price"),
    ("not-increasing", "timestamp,price\n60,2000\n0,1900\n", "line 3: timestamps must increase"),
    ("header-only", "timestamp,price\n", "has no price rows"),
]


@pytest.mark.parametrize("body, expected", [pytest.param(b, e, id=i) for i, b, e in CSV_CASES])
def test_bad_csv_raises_scenario_error_naming_csv_file(tmp_path, body, expected):
    (tmp_path / "prices.csv").write_text(body)
    with pytest.raises(ScenarioError) as e:
        load_text(tmp_path, "[price]\nmodel = 'csv'\ncsv_file = 'prices.csv'\n")
    msg = str(e.value)
    assert msg.startswith("price.csv_file:") and expected in msg and "\n" not in msg, msg


# --------------------------------------------------------------------------- price models


def test_gbm_matches_its_drift_and_volatility():
    spec = PriceSpec(model="gbm", start_price_usd=2000.0, drift_per_year=0.125, volatility_per_year=0.5,
                     floor_price_usd=1e-300)
    day = 86_400
    prices = reference_prices(spec, 100_000, day, rng(42))
    r = np.diff(np.log(prices))
    dt = day / YEAR
    sigma_hat = r.std(ddof=1) / math.sqrt(dt)
    mu_hat = r.mean() / dt + sigma_hat**2 / 2
    assert sigma_hat == pytest.approx(0.5, rel=0.02)
    assert mu_hat == pytest.approx(0.125, abs=0.12)  # ≈ 4 standard errors (0.5/√274 years)
    assert abs(r.mean() / dt) < 0.12  # log-drift μ − σ²/2 = 0 here
    assert abs(np.corrcoef(r[:-1], r[1:])[0, 1]) < 0.02  # independent steps


def test_gbm_without_volatility_follows_its_drift_exactly():
    spec = PriceSpec(model="gbm", start_price_usd=100.0, drift_per_year=0.5, volatility_per_year=0.0)
    prices = reference_prices(spec, 365, 86_400, rng())
    assert prices[-1] == pytest.approx(100.0 * math.exp(0.5), rel=1e-9)


def test_jump_model_produces_jumps_of_the_given_size_and_rate():
    spec = PriceSpec(model="jump", start_price_usd=2000.0, volatility_per_year=0.01,
                     jump_intensity_per_day=24.0, jump_mean=-0.1, jump_stdev=0.01)
    blocks, bt = 20_000, 12  # 240000 s: 66.7 expected jumps
    r = np.diff(np.log(reference_prices(spec, blocks, bt, rng(7))))
    jumps = r[np.abs(r) > 0.05]
    assert 40 <= jumps.size <= 95
    assert np.median(jumps) == pytest.approx(-0.1, abs=0.01)
    no_jumps = PriceSpec(model="jump", start_price_usd=2000.0, volatility_per_year=0.01,
                         jump_intensity_per_day=0.0, jump_mean=-0.1, jump_stdev=0.01)
    r0 = np.diff(np.log(reference_prices(no_jumps, blocks, bt, rng(7))))
    assert np.max(np.abs(r0)) < 0.01


def test_path_hits_its_knots_exactly_and_is_flat_after_the_last():
    knots = ((0.0, 2000.0), (120.0, 1500.0), (300.0, 1800.0))
    spec = PriceSpec(model="path", start_price_usd=2000.0, knots=knots)
    prices = reference_prices(spec, 40, 12, rng())
    assert prices[0] == 2000.0 and prices[10] == 1500.0 and prices[25] == 1800.0
    assert prices[5] == pytest.approx(1750.0)  # linear in between
    assert np.all(prices[25:] == 1800.0)


def test_path_with_noise_still_hits_its_knots():
    knots = ((0.0, 2000.0), (120.0, 1500.0), (300.0, 1800.0))
    spec = PriceSpec(model="path", start_price_usd=2000.0, knots=knots, noise_volatility_per_year=2.0)
    prices = reference_prices(spec, 40, 12, rng(9))
    assert prices[0] == 2000.0 and prices[10] == 1500.0 and prices[25] == 1800.0
    linear = np.interp(np.arange(41) * 12, [0, 120, 300], [2000, 1500, 1800])
    assert np.any(np.abs(prices / linear - 1) > 1e-4)  # noise between the knots
    assert np.max(np.abs(np.log(prices / linear))) < 0.05  # but mild


def test_path_knots_between_blocks_are_interpolated():
    spec = PriceSpec(model="path", start_price_usd=1000.0, knots=((0.0, 1000.0), (30.0, 700.0)))
    prices = reference_prices(spec, 4, 12, rng())
    assert list(prices) == pytest.approx([1000.0, 880.0, 760.0, 700.0, 700.0])


def test_bridge_ends_at_its_target_and_stays_there():
    spec = PriceSpec(model="bridge", start_price_usd=2000.0, volatility_per_year=1.5,
                     target_price_usd=1200.0, target_time_seconds=3600.0)
    prices = reference_prices(spec, 400, 12, rng(8))
    assert prices[0] == 2000.0
    assert prices[300] == 1200.0
    assert np.all(prices[300:] == 1200.0)
    middle = np.exp(np.interp(np.arange(301) * 12, [0, 3600], [math.log(2000), math.log(1200)]))
    assert np.any(np.abs(prices[:301] / middle - 1) > 1e-3)  # random in between


def test_bridge_with_target_between_blocks():
    spec = PriceSpec(model="bridge", start_price_usd=2000.0, volatility_per_year=1.0,
                     target_price_usd=1000.0, target_time_seconds=100.0)
    prices = reference_prices(spec, 20, 12, rng(1))
    assert np.all(prices[9:] == 1000.0)
    assert np.all(prices[1:9] != 1000.0)


def test_csv_replays_the_file(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "eth.csv").write_text("timestamp,price\n0,2000\n60,1900.5\n120,1700\n600,1750\n")
    sc = load_text(tmp_path, """\
        blocks = 60
        [price]
        model = "csv"
        csv_file = "data/eth.csv"
    """)
    assert sc.price.csv_file == str((tmp_path / "data" / "eth.csv").resolve())
    assert sc.price.start_price_usd == 2000.0
    prices = reference_prices(sc.price, sc.blocks, sc.block_time_seconds, rng())
    assert prices[0] == 2000.0 and prices[5] == 1900.5 and prices[10] == 1700.0 and prices[50] == 1750.0
    assert prices[15] == pytest.approx(1700.0 + 50 * 60 / 480)
    assert np.all(prices[50:] == 1750.0)  # flat after the last row
    same = reference_prices(sc.price, sc.blocks, sc.block_time_seconds, rng(99))
    assert np.array_equal(prices, same)  # a replay ignores the seed


ALL_MODELS = [
    PriceSpec(model="gbm", volatility_per_year=0.8),
    PriceSpec(model="jump", volatility_per_year=0.8, jump_intensity_per_day=48.0),
    PriceSpec(model="path", knots=((0.0, 2000.0), (600.0, 1500.0)), noise_volatility_per_year=0.5),
    PriceSpec(model="bridge", volatility_per_year=0.8, target_price_usd=1500.0, target_time_seconds=3000.0),
]


@pytest.mark.parametrize("spec", ALL_MODELS, ids=lambda s: s.model)
def test_same_seed_same_path_different_seed_different_path(spec):
    a = reference_prices(spec, 300, 12, rng(123))
    b = reference_prices(spec, 300, 12, rng(123))
    c = reference_prices(spec, 300, 12, rng(124))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert to_wad_prices(a) == to_wad_prices(b)


@pytest.mark.parametrize("spec", [
    PriceSpec(model="gbm", drift_per_year=-50.0, volatility_per_year=20.0, floor_price_usd=0.01),
    PriceSpec(model="jump", volatility_per_year=1.0, jump_intensity_per_day=500.0, jump_mean=-2.0,
              floor_price_usd=0.01),
    PriceSpec(model="path", knots=((0.0, 2000.0), (600.0, 0.02)), noise_volatility_per_year=50.0,
              floor_price_usd=0.01),
], ids=["gbm", "jump", "path"])
def test_prices_stay_positive_clipped_at_the_floor(spec):
    prices = reference_prices(spec, 2000, 3600, rng(5))  # 83 days
    assert np.all(prices >= 0.01) and prices.min() == 0.01
    assert all(w > 0 for w in to_wad_prices(prices))


def test_to_wad_prices_rounds_to_1e_8_usd_exactly():
    assert to_wad_prices([2000.0, 1234.567890123, 0.1 + 0.2]) == [
        2000 * WAD, 1234_56789012 * 10**10, 30_000_000 * 10**10]
    assert to_wad_prices(np.array([1e-6])) == [10**12]
    with pytest.raises(ValueError):
        to_wad_prices([0.0])


def test_reference_prices_has_one_price_per_block_plus_the_start():
    spec = PriceSpec(model="gbm")
    assert len(reference_prices(spec, 7, 12, rng())) == 8
    assert len(reference_prices(spec, 0, 12, rng())) == 1


# --------------------------------------------------------------------------- size limits


def _numeric_fields(cls, prefix: str) -> list[str]:
    """Paths of every int/float field of a spec dataclass as LIMITS spells them; rows of numbers
    (knots, spikes) as ``path[]``, whose columns LIMITS names through _ROW_COLUMNS."""
    import dataclasses
    import typing

    from sandbox.scenarios.schema import _ROW_COLUMNS

    out = []
    for f in dataclasses.fields(cls):
        hint = typing.get_type_hints(cls)[f.name]
        if hint in (int, float):
            out.append(f"{prefix}{f.name}")
        elif typing.get_origin(hint) is tuple and typing.get_origin(typing.get_args(hint)[0]) is tuple:
            rows = f"{prefix}{f.name}"
            out += [f"{rows}[].{column}" for column in _ROW_COLUMNS.get(rows, ("?",))]
    return out


def test_every_number_a_scenario_sets_has_a_limit():
    from sandbox.scenarios import LIMITS

    fields = _numeric_fields(Scenario, "")
    for section, cls in (("price", PriceSpec), ("gas", GasSpec), ("oracle", OracleSpec), ("amm", AmmSpec),
                         ("lending", LendingSpec), ("borrowers", BorrowerSpec), ("arbitrageur", ArbitrageurSpec)):
        fields += _numeric_fields(cls, f"{section}.")
    fields += _numeric_fields(KeeperSpec, "keepers[].")
    fields += _numeric_fields(PerpSpec, "perp.") + _numeric_fields(TraderSpec, "traders.")
    assert sorted(set(fields) - set(LIMITS)) == []


def test_a_run_away_price_path_is_clipped_at_the_highest_price():
    from sandbox.scenarios.schema import MAX_PRICE_USD

    spec = PriceSpec(model="gbm", start_price_usd=1e11, drift_per_year=10.0, volatility_per_year=0.0)
    prices = reference_prices(spec, 100, 86_400 * 30, rng())
    assert prices.max() == MAX_PRICE_USD and np.all(np.isfinite(prices))
    assert to_wad_prices(prices)[-1] == 10**12 * WAD


def test_the_limits_are_checked_when_a_scenario_is_built_in_python():
    with pytest.raises(ScenarioError, match=r"^blocks: 2,000,000 is above the highest value the sandbox can run"):
        Scenario(name="x", blocks=2_000_000)
