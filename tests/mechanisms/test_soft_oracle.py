"""Soft's oracle price p_o and fees, as crvUSD's: each test is named after the rule it checks.

* EMA (curve-stablecoin ``EmaPriceOracle.vy``): p <- p_cur * (1 - a) + p_last * a,
  a = exp(-dt / ma_exp_time) in Curve's integer exp; ETH's ma_exp_time 866 s = 600 s / ln 2.
* ``AMM.vy`` ``limit_p_o``: within PREV_P_O_DELAY = 120 s of the last write, p_o moves at most
  x/÷ MAX_P_O_CHG = 1.25 per write and the fee is (old_dfee + 1 - (p_min / p_max)^3) * (time left) / 120 s.
* ``AMM.vy`` ``get_dynamic_fee``: a band whose AMM price range p_o^3/p_up^2 .. p_o^3/p_down^2 lies
  away from p_o charges a quarter of the relative distance (max with the base fee).

Market as in test_soft.py: price $2,000, no oracle delay; the reference position is 10 WETH
borrowing $16,000 (top band 7, p_up = 2000 * 0.99^7 = $1,864).
"""

from __future__ import annotations

import dataclasses
import math
import random
from decimal import Decimal, getcontext
from pathlib import Path

import pytest

from sandbox.chain import execute
from sandbox.market.actions import fund_requests, open_positions, set_price
from sandbox.mechanisms.soft import (
    MAX_P_O_CHG,
    PREV_P_O_DELAY,
    SoftLiquidationMechanism,
    SoftParams,
    band_dynamic_fee,
    curve_exp,
    ema_step,
    limit_p_o,
)
from sandbox.units import WAD, to_wad

COLLATERAL = to_wad(10)
DEBT = to_wad(16_000)
FUNDS_USD = to_wad(1_000_000)
FUNDS_WETH = to_wad(100)
MA_EXP_TIME = 866
BASE_FEE_WAD = 60 * 10**14  # fee_bps = 60

EMA_ONLY = SoftParams(ema=True, dynamic_fee=False)
LIMIT_ONLY = SoftParams(ema=False, dynamic_fee=True)
BOTH = SoftParams(ema=True, dynamic_fee=True)
PLAIN = SoftParams(ema=False, dynamic_fee=False)

ORACLE_JUMP = Path(__file__).with_name("oracle-jump.toml")


def price_oracle(mech, timestamp):
    """(p_o, fee WAD) the contract would use in a block at ``timestamp`` (state as of the head)."""
    return mech.contract.call("priceOracle", timestamp=timestamp)


# ------------------------------------------------------------------------------- 1. exp

def _exact_exp_wad(power: int) -> Decimal:
    getcontext().prec = 60
    return (Decimal(power) / WAD).exp() * WAD


def test_contract_exp_is_curves_integer_exp_exactly(market):
    mech = SoftLiquidationMechanism.deploy(market, EMA_ONLY)
    powers = [0, -1, -10**9, -WAD // 866, -36 * WAD // 866, -WAD, -600 * WAD // 866, -3600 * WAD // 866,
              -17 * WAD - 3, -41446531673892821375, -41446531673892821376, -50 * WAD, WAD, 3 * WAD]
    for p in powers:
        assert mech.contract.call("expWad", p) == curve_exp(p)
    # below Curve's cut-off e^x is 0 in WAD, just above it 1 wei
    assert curve_exp(-41446531673892821376) == 0 and curve_exp(-41446531673892821375) == 1


def test_curve_exp_matches_math_exp_over_the_range_the_ema_uses():
    # the EMA's power is -dt / 866 s: one 12-36 s block is -0.014..-0.042, an hour -4.2, and Curve's
    # cut-off (-41.45) is reached after ~10 h. Within |x| <= ln2/2 (no range reduction) Curve's exp
    # is exact to ~1e-18; past it Curve's truncating division rounds k = round(x / ln2) toward
    # zero, so the rational approximation runs outside its interval: ~3e-12 at x = -1, at most
    # 2e-11 relative (plus one wei of integer rounding near the cut-off).
    rng = random.Random(20)
    small = [-rng.randrange(0, 346 * 10**15) for _ in range(400)] + [-WAD * k // 866 for k in (1, 12, 36, 120)]
    for p in small:
        exact = _exact_exp_wad(p)
        assert abs(Decimal(curve_exp(p)) - exact) <= exact * Decimal("2e-18") + 1, p
    wide = [-rng.randrange(0, 41446531673892821375) for _ in range(600)] + [-WAD, -16 * WAD, -41 * WAD]
    for p in wide:
        exact = _exact_exp_wad(p)
        assert abs(Decimal(curve_exp(p)) - exact) <= exact * Decimal("2e-11") + 1, p
        assert math.isclose(curve_exp(p) / WAD, math.exp(p / WAD), rel_tol=2e-11, abs_tol=1.5e-18)


# ------------------------------------------------------------------------------- 2-3. EMA

def test_one_ema_step_is_curves_formula_with_alpha_exp_of_minus_dt_over_866_s(market):
    mech = SoftLiquidationMechanism.deploy(market, EMA_ONLY)
    assert mech.contract.call("maExpTime") == MA_EXP_TIME
    p0, p1 = to_wad(2000), to_wad(1700)
    t1 = market.chain.timestamp + 1
    set_price(market, p1, timestamp=t1)
    # in the oracle's own block p_o has not moved yet; then it follows the one step
    assert price_oracle(mech, t1) == (p0, BASE_FEE_WAD)
    for dt in (1, 12, 36, 120, 600, 866, 3600, 20_000):
        po, fee = price_oracle(mech, t1 + dt)
        assert po == ema_step(p0, p1, dt, MA_EXP_TIME)  # the integer mirror, exactly
        alpha = math.exp(-dt / MA_EXP_TIME)
        assert math.isclose(po / WAD, 1700 * (1 - alpha) + 2000 * alpha, rel_tol=1e-12)
        assert fee == BASE_FEE_WAD  # no dynamic fee asked for
    # p_o lies strictly between the old EMA and the oracle, and reaches the oracle price
    assert p1 < price_oracle(mech, t1 + 36)[0] < p0
    assert price_oracle(mech, t1 + 100_000)[0] == p1


def test_ema_integrates_each_oracle_round_from_when_it_came_into_force_whenever_it_is_read(market, borrowers):
    mech = SoftLiquidationMechanism.deploy(market, EMA_ONLY)
    p0, p1, p2 = to_wad(2000), to_wad(1800), to_wad(1900)
    t1 = market.chain.timestamp + 1
    set_price(market, p1, timestamp=t1)
    set_price(market, p2, timestamp=t1 + 300)
    expected = ema_step(ema_step(p0, p1, 300, MA_EXP_TIME), p2, 500, MA_EXP_TIME)
    assert price_oracle(mech, t1 + 800)[0] == expected
    # a write in between (a borrower opening, which re-reads p_o) does not change the path
    open_positions(market, [(borrowers[0], COLLATERAL, to_wad(14_000))])
    price, time, _ = mech.contract.call("ema")
    assert t1 + 300 < time < t1 + 800
    assert price == ema_step(ema_step(p0, p1, 300, MA_EXP_TIME), p2, time - t1 - 300, MA_EXP_TIME)
    assert price_oracle(mech, t1 + 800)[0] == ema_step(price, p2, t1 + 800 - time, MA_EXP_TIME)
    # the same path up to the integer exp's rounding (e^a * e^b is not exactly e^(a+b))
    assert math.isclose(price_oracle(mech, t1 + 800)[0], expected, rel_tol=1e-15)


def test_ema_moves_half_way_to_an_oracle_step_in_its_600_s_half_life(market):
    mech = SoftLiquidationMechanism.deploy(market, EMA_ONLY)
    assert math.isclose(MA_EXP_TIME * math.log(2), 600, abs_tol=0.5)  # crvUSD's ETH market: 866 s
    t1 = market.chain.timestamp + 1
    set_price(market, to_wad(1000), timestamp=t1)
    for seconds, moved in ((600, 0.5), (1200, 0.75), (1800, 0.875)):
        po = price_oracle(mech, t1 + seconds)[0]
        fraction = (to_wad(2000) - po) / to_wad(1000)
        assert abs(fraction / moved - 1) < 1e-3, (seconds, fraction)


def test_without_ema_p_o_is_the_markets_oracle_at_once(market):
    mech = SoftLiquidationMechanism.deploy(market, PLAIN)
    t1 = market.chain.timestamp + 1
    set_price(market, to_wad(1000), timestamp=t1)
    assert price_oracle(mech, t1) == (to_wad(1000), BASE_FEE_WAD)
    assert mech.contract.call("maExpTime") == 0


# ------------------------------------------------------------------------------- 4. limit_p_o

def test_limit_p_o_caps_a_big_oracle_jump_at_1_25x_of_the_last_written_p_o(market, borrowers):
    mech = SoftLiquidationMechanism.deploy(market, LIMIT_ONLY)
    old_po, old_dfee, prev = mech.contract.call("feeState")
    assert (old_po, old_dfee) == (to_wad(2000), 0)
    t1 = prev + 10
    set_price(market, to_wad(3000), timestamp=t1)
    # 1.5x up within 120 s of the last write: p_o moves 1.25x, the fee is 1 - 0.8^3 for the
    # time left of the 120 s (110 s of it)
    po, fee = price_oracle(mech, t1)
    assert po == to_wad(2000) * MAX_P_O_CHG // WAD == to_wad(2500)
    assert (po, fee) == limit_p_o(to_wad(3000), to_wad(2000), 0, 10)
    assert math.isclose(fee / WAD, (1 - 0.8**3) * 110 / 120, rel_tol=1e-12)
    assert fee > BASE_FEE_WAD
    # the fee decays with the time left; 120 s after the write the cap no longer applies
    assert price_oracle(mech, prev + 60) == limit_p_o(to_wad(3000), to_wad(2000), 0, 60)
    assert price_oracle(mech, prev + PREV_P_O_DELAY) == (to_wad(3000), BASE_FEE_WAD)
    # a write records the capped p_o and its fee; the next write may move another 1.25x from it
    open_positions(market, [(borrowers[0], COLLATERAL, DEBT)])
    written_po, written_dfee, written_at = mech.contract.call("feeState")
    assert written_at - prev < PREV_P_O_DELAY
    assert (written_po, written_dfee) == limit_p_o(to_wad(3000), to_wad(2000), 0, written_at - prev)
    assert written_po == to_wad(2500)
    po, fee = price_oracle(mech, written_at + 1)
    assert po == to_wad(3000)  # 3000 / 2500 = 1.2 < 1.25: not capped any more
    assert (po, fee) == limit_p_o(to_wad(3000), written_po, written_dfee, 1)
    assert fee > written_dfee * (PREV_P_O_DELAY - 1) // PREV_P_O_DELAY  # the old fee carries over


def limit_only_after_oracle_move(market, price_wad):
    """A limit-only AMM (dynamic fee, no EMA) whose oracle moved to ``price_wad`` one second on:
    (its p_o and fee then, seconds since its last p_o write)."""
    mech = SoftLiquidationMechanism.deploy(market, LIMIT_ONLY)
    prev = mech.contract.call("feeState")[2]
    t1 = market.chain.timestamp + 1
    set_price(market, price_wad, timestamp=t1)
    po, fee = price_oracle(mech, t1)
    return po, fee, t1 - prev


def test_limit_p_o_caps_a_big_oracle_fall_at_1_over_1_25(market):
    po, fee, since_write = limit_only_after_oracle_move(market, to_wad(1000))
    assert po == to_wad(2000) * WAD // MAX_P_O_CHG == to_wad(1600)
    assert (po, fee) == limit_p_o(to_wad(1000), to_wad(2000), 0, since_write)


def test_limit_p_o_follows_a_fall_within_the_cap_at_once_with_the_fee_for_its_ratio(market):
    po, fee, since_write = limit_only_after_oracle_move(market, to_wad(1800))
    assert po == to_wad(1800)
    left = PREV_P_O_DELAY - since_write
    assert math.isclose(fee / WAD, (1 - 0.9**3) * left / 120, rel_tol=1e-12)


def test_without_the_dynamic_fee_a_big_oracle_jump_moves_p_o_at_once_and_the_fee_stays(market):
    mech = SoftLiquidationMechanism.deploy(market, PLAIN)
    set_price(market, to_wad(3000))
    assert price_oracle(mech, market.chain.timestamp) == (to_wad(3000), BASE_FEE_WAD)


# ------------------------------------------------------------------------------- 5. dynamic fee

def test_band_fee_is_the_base_fee_where_p_o_lies_and_a_quarter_of_the_distance_away_from_it(market):
    mech = SoftLiquidationMechanism.deploy(market, LIMIT_ONLY)
    bm = mech.math
    prev = mech.contract.call("feeState")[2]
    now = prev + PREV_P_O_DELAY  # the oracle has not moved: no oracle-move fee
    po, fee = price_oracle(mech, now)
    assert (po, fee) == (to_wad(2000), BASE_FEE_WAD)
    fees = {n: mech.contract.call("bandFee", n) for n in range(-12, 13)}
    # p_o = p_up(0): band 0's AMM range p_o^3/p_up^2 .. p_o^3/p_down^2 holds p_o: the base fee
    assert band_dynamic_fee(po, bm.p_up(0), 100) == 0 and fees[0] == BASE_FEE_WAD
    for n, f in fees.items():
        assert f == max(BASE_FEE_WAD, band_dynamic_fee(po, bm.p_up(n), 100)), n
    # bands away from p_o charge more, the further the more (a band next to p_o: a quarter of
    # ~2% is below the base fee); 10 bands below, a quarter of 1 - (p_up / p_o)^2
    assert fees[-2] == fees[-1] == fees[1] == BASE_FEE_WAD
    assert all(fees[n + 1] > fees[n] for n in range(1, 12))
    assert all(fees[n - 1] > fees[n] for n in range(-2, -12, -1))
    assert math.isclose(fees[10] / WAD, (1 - 0.99**20) / 4, rel_tol=1e-9)


def test_without_the_dynamic_fee_every_band_charges_the_base_fee(market):
    plain = SoftLiquidationMechanism.deploy(market, PLAIN)
    assert {plain.contract.call("bandFee", n) for n in range(-12, 13)} == {BASE_FEE_WAD}


def test_when_p_o_lags_the_oracle_the_bands_at_the_oracle_price_charge_more_than_the_base_fee(market):
    # the EMA still near $2,000 while the oracle says $1,540: the band an arbitrageur would trade
    # at (around $1,540) lies far from p_o and charges about a quarter of the gap
    mech = SoftLiquidationMechanism.deploy(market, BOTH)
    bm = mech.math
    t1 = market.chain.timestamp + 1
    set_price(market, to_wad(1540), timestamp=t1)
    n = next(k for k in range(0, 60) if bm.p_up(k) >= to_wad(1540) > bm.p_down(k))
    # bandFee reads p_o at the head's timestamp: advance the chain 36 s with an empty block
    execute(market.chain, [], timestamp=t1 + 36)
    po, fee = mech.contract.call("priceOracle")
    assert po == limit_p_o(ema_step(to_wad(2000), to_wad(1540), 36, MA_EXP_TIME),
                           *mech.contract.call("feeState")[:2], t1 + 36 - mech.contract.call("feeState")[2])[0]
    assert to_wad(1950) < po < to_wad(2000)
    lagging = mech.contract.call("bandFee", n)
    assert lagging == max(fee, band_dynamic_fee(po, bm.p_up(n), 100))
    assert lagging > 10 * BASE_FEE_WAD  # about (1 - (1555 / 1990)^2) / 4 = 10%
    # once p_o has arrived at the oracle price, that band is where p_o lies: the base fee
    execute(market.chain, [], timestamp=t1 + 40_000)
    assert mech.contract.call("priceOracle") == (to_wad(1540), BASE_FEE_WAD)
    assert mech.contract.call("bandFee", n) == BASE_FEE_WAD


# ------------------------------------------------------------------------------- 6. mirror, both on

@dataclasses.dataclass
class OracleModel:
    """The contract's p_o and fee state in Python: Curve's EMA over the oracle's rounds
    (``ema_step``) and AMM.vy's ``limit_p_o``, written on every state-changing call."""

    ema: int
    ema_time: int
    ema_input: int
    old_po: int
    old_dfee: int
    prev_time: int
    rounds: list[tuple[int, int]] = dataclasses.field(default_factory=list)  # (in force at, answer)

    def _ema_at(self, t: int) -> tuple[int, int]:
        price, since, current = self.ema, self.ema_time, self.ema_input
        for at, answer in self.rounds:
            if since < at <= t:
                price, since = ema_step(price, current, at - since, MA_EXP_TIME), at
            if at <= t:
                current = answer
        if t > since:
            price = ema_step(price, current, t - since, MA_EXP_TIME)
        return price, current

    def at(self, t: int) -> tuple[int, int]:
        """(p_o, fee WAD) an exchange at ``t`` uses."""
        po, dfee = limit_p_o(self._ema_at(t)[0], self.old_po, self.old_dfee, t - self.prev_time)
        return po, max(BASE_FEE_WAD, dfee)

    def write(self, t: int) -> None:
        price, current = self._ema_at(t)
        self.rounds = [(at, a) for at, a in self.rounds if at > t]
        self.ema, self.ema_time, self.ema_input = price, t, current
        self.old_po, self.old_dfee = limit_p_o(price, self.old_po, self.old_dfee, t - self.prev_time)
        self.prev_time = t


def test_mirror_follows_the_chain_with_ema_and_dynamic_fee_on_along_a_random_walk(market, keepers, borrowers):
    mech = SoftLiquidationMechanism.deploy(market, BOTH)
    chain = market.chain
    arb = chain.account("arbitrageur")
    execute(chain, fund_requests(market, arb, usd_wei=FUNDS_USD, weth_wei=FUNDS_WETH, approve=[mech.spender]))
    open_positions(market, [(borrowers[0], COLLATERAL, DEBT), (borrowers[1], COLLATERAL // 2, to_wad(7_000)),
                            (borrowers[2], 3 * COLLATERAL, to_wad(45_000))])
    owners = [b.address for b in borrowers[:3]]
    ema_price, ema_time, _ = mech.contract.call("ema")
    old_po, old_dfee, prev_time = mech.contract.call("feeState")
    model = OracleModel(ema_price, ema_time, mech.contract.call("emaInput"), old_po, old_dfee, prev_time)
    mech.follow(owners)
    bm = mech.math
    rng = random.Random(6)
    price = 1850.0  # just inside the reference position's top band (1864 .. 1845)
    exchanges = buys = sells = raised = 0
    for step in range(32):
        price = min(1950.0, max(1550.0, price * math.exp(rng.gauss(-0.003, 0.02))))
        t_oracle = chain.timestamp + rng.choice((1, 12, 36))
        set_price(market, to_wad(round(price, 2)), timestamp=t_oracle)
        model.rounds.append((t_oracle, to_wad(round(price, 2))))
        t = t_oracle + rng.choice((1, 36, 90, 300, 900, 1800))
        po, fee = model.at(t)
        assert price_oracle(mech, t) == (po, fee), (step, len(model.rounds), exchanges)
        buy, amount = mech.contract.call("getAmountForPrice", to_wad(round(price, 2)), timestamp=t)
        if amount == 0:
            continue
        bands_before = {n: mech.band(n) for n in range(0, 40)}
        active, lo, hi = (mech.contract.call(k) for k in ("activeBand", "minBand", "maxBand"))
        used, out, touched, new_active = bm.simulate_exchange(bands_before, active, lo, hi, buy, amount, po, fee)
        block = execute(chain, [mech.contract.tx(arb, "exchange", buy, amount, 0, arb.address, gas=3_000_000)],
                        timestamp=t)
        model.write(t)
        ex = block.receipts[0].events("Exchange")[0].args
        assert (ex["amountIn"], ex["amountOut"]) == (used, out)
        raised += any(bm.band_fee_wad(po, bm.p_up(n), fee) > BASE_FEE_WAD for n in touched)
        for n, state in touched.items():
            assert mech.band(n) == state
        assert mech.contract.call("activeBand") == new_active
        assert mech.contract.call("feeState") == (model.old_po, model.old_dfee, t)
        assert mech.contract.call("ema")[:2] == (model.ema, t)
        mech._mirror.apply(block)  # the band mirror follows the exchange's events alone
        assert mech._mirror.in_sync()
        assert mech.healths(owners) == list(mech.contract.call("healths", owners))
        exchanges += 1
        buys += buy
        sells += not buy
    # the walk exercised both directions and bands charging AMM.vy's raised fee
    assert exchanges >= 8 and buys >= 2 and sells >= 2 and raised >= 3, (exchanges, buys, sells, raised)


# ------------------------------------------------------------------------------- 7. the oracle jump

def _run_oracle_jump(ema_and_fee: bool):
    from sandbox.runs import run_one
    from sandbox.scenarios import load_scenario

    scenario = dataclasses.replace(load_scenario(str(ORACLE_JUMP)),
                                   mechanisms={"soft": {"ema": ema_and_fee, "dynamic_fee": ema_and_fee}})
    record = run_one(scenario, "soft", 0, "anvil")
    events = record.tables["events"]
    return {"bad_debt_usd": record.metrics["bad_debt_usd"],
            "hard_liquidations": int((events.event == "HardLiquidation").sum()),
            "at_risk": int(record.tables["positions"].at_risk.sum())}


def _anvil_or_skip():
    from sandbox.chain.anvil import AnvilNotFound, find_anvil
    try:
        find_anvil()
    except AnvilNotFound as exc:
        pytest.skip(str(exc))


def test_the_oracle_jump_scenario_stages_a_23_percent_fault_at_a_flat_market():
    from sandbox.scenarios import load_scenario

    sc = load_scenario(str(ORACLE_JUMP))
    assert sc.oracle.faults == ((1800.0, 2400.0, 0.77),)
    assert sc.price.knots[0][1] == sc.price.knots[-1][1] == 2000.0 and sc.price.noise_volatility_per_year == 0
    assert sc.blocks * sc.block_time_seconds > 2400  # the step back to $2,000 happens inside the path


def test_oracle_jump_writes_off_far_less_with_ema_and_dynamic_fee_than_without():
    _anvil_or_skip()
    off = _run_oracle_jump(False)
    on = _run_oracle_jump(True)
    # without them the bands follow the feed down and back in one step each and most positions
    # are hard-liquidated underwater; with them p_o moves 10-minute-half-life slowly
    assert off["bad_debt_usd"] > 50_000 and off["hard_liquidations"] >= 20
    assert on["bad_debt_usd"] < off["bad_debt_usd"] / 10
    assert on["hard_liquidations"] < off["hard_liquidations"] / 4
