"""Soft (Curve LLAMMA-style) liquidation: each test is named after the rule it checks.

Reference numbers (crvUSD mainnet): A = 100 (bands 1% wide: p_up(n) = base × 0.99^n), N = 10
bands, fee 0.6%, loan discount 9%, liquidation discount 6%. Market: price $2,000, max LTV 80%.
The reference position is 10 WETH borrowing $16,000 (80% LTV).
"""

from __future__ import annotations

import dataclasses

import pytest

from sandbox.chain import TransactionFailed, deploy, execute
from sandbox.market.actions import fund_requests, open_position_requests, open_positions, set_price
from sandbox.mechanisms import get_mechanism
from sandbox.mechanisms.soft import BandMath, BandState, SoftLiquidationMechanism, SoftParams
from sandbox.testing.accounting import Checked, liquidation_flows
from sandbox.units import WAD, to_wad

COLLATERAL = to_wad(10)
DEBT = to_wad(16_000)
FUNDS_USD = to_wad(1_000_000)
FUNDS_WETH = to_wad(100)


# The band maths at p_o = the market's oracle: the EMA and the dynamic fee off (their own tests are
# in test_soft_oracle.py).
PLAIN = SoftParams(ema=False, dynamic_fee=False)


@pytest.fixture
def mech(market):
    return SoftLiquidationMechanism.deploy(market, PLAIN)


@pytest.fixture
def arb(chain):
    return chain.account("arbitrageur")


@pytest.fixture
def funded(market, mech, keepers, arb):
    reqs = [r for a in [*keepers, arb]
            for r in fund_requests(market, a, usd_wei=FUNDS_USD, weth_wei=FUNDS_WETH, approve=[mech.spender])]
    execute(market.chain, reqs)
    return keepers


def send_checked(market, mech, borrowers, keepers, arb, requests, require_success=True):
    """Execute one block; assert the debt identity and token conservation around it."""
    return Checked(market, mech, borrowers, keepers, extra=[arb.address]).send(
        requests, require_success=require_success)


def band_snapshot(mech, lo, hi):
    return {n: mech.band(n) for n in range(lo, hi + 1)}


def amm_state(mech):
    c = mech.contract
    return c.call("activeBand"), c.call("minBand"), c.call("maxBand")


def arbitrage(market, mech, borrowers, keepers, arb, price_wad):
    """Arbitrageur trades the bands toward ``price_wad``; returns (call, receipt) or (None, None)."""
    call = mech.arbitrage_call(price_wad, FUNDS_USD, arb.address)
    if call is None:
        return None, None
    block = send_checked(market, mech, borrowers, keepers, arb, [call.request(arb)])
    return call, block.receipts[0]


def open_reference(market, borrower):
    open_positions(market, [(borrower, COLLATERAL, DEBT)])


# ------------------------------------------------------------------------------- bands

def test_band_edges_are_base_price_times_099_pow_n(market, mech):
    c = mech.contract
    base = c.call("basePrice")
    assert base == to_wad(2000)
    assert c.call("bandPrices", 0) == (to_wad(2000), to_wad(1980))
    assert c.call("bandPrices", 1) == (to_wad(1980), to_wad("1960.2"))
    bm = mech.math
    for n in (-40, -1, 0, 7, 16, 100, 230):
        up, down = c.call("bandPrices", n)
        assert (up, down) == (bm.p_up(n), bm.p_down(n))
        assert down == c.call("bandPrices", n + 1)[0]  # p_down(n) = p_up(n + 1)
        assert abs(up / 1e18 - 2000 * 0.99 ** n) <= 2000 * 0.99 ** n * 1e-12


def test_params_validate_bands_between_4_and_50(market):
    for bad in (3, 51):
        with pytest.raises(ValueError, match="bands_n"):
            SoftParams(bands_n=bad)
    with pytest.raises(ValueError, match="liquidation_discount_bps"):
        SoftParams(liquidation_discount_bps=900, loan_discount_bps=900)
    # the contract enforces the same bound
    with pytest.raises(TransactionFailed, match="InvalidParameters"):
        deploy(market.chain, market.deployer,
               [("SoftLiquidationAMM", (market.lending.address, 3, 100, 6 * WAD // 100, 9 * WAD // 100, 60, 866, True))])


def test_collateral_spread_evenly_over_n_bands_on_opening(market, mech, borrowers):
    b = borrowers[0]
    collateral = COLLATERAL + 7  # 7 wei of dust cannot be split over 10 bands
    open_positions(market, [(b, collateral, DEBT)])  # default 500k gas suffices
    shares, debt, n1 = mech.contract.call("positions", b.address)
    bm = mech.math
    assert debt == DEBT
    assert n1 == bm.top_band(collateral, DEBT) == 7
    for n in range(n1, n1 + 10):
        assert mech.band(n) == BandState(x=0, y=COLLATERAL // 10, shares=COLLATERAL // 10)
    assert mech.band(n1 - 1) == BandState() and mech.band(n1 + 10) == BandState()
    assert market.lending.call("collateralOf", b.address) == 7
    assert mech.contract.call("heldCollateral", b.address) == (COLLATERAL, 0)
    # top band rule: the bands' bottom prices cover the debt with the 9% loan discount, one band
    # lower they would not
    def cover(top):
        return sum(COLLATERAL // 10 * bm.p_down(n) // WAD for n in range(top, top + 10)) * 91 // 100
    assert cover(n1) >= DEBT > cover(n1 + 1)
    # health at opening: about (1 - 6%) / (1 - 9%) - 1 = +3.3%
    h = mech.contract.call("health", b.address)
    assert 0.03 < h / WAD < 0.045
    # the market's health factor counts the collateral held in bands
    pos = market.positions([b.address])[0]
    assert pos.held_collateral == COLLATERAL and pos.collateral == 7


def test_only_the_market_can_call_the_position_hook(market, mech, borrowers):
    block = execute(market.chain, [mech.contract.tx(borrowers[0], "onPositionUpdated", borrowers[0].address)],
                    require_success=False)
    assert not block.receipts[0].succeeded
    assert "NotMarket" in block.receipts[0].revert_reason


# ------------------------------------------------------------------------------- soft liquidation

def _assert_exchange_matches_mirror(market, mech, price_wad, call, receipt, before, state_before):
    active, lo, hi = state_before
    ex = receipt.events("Exchange")[0].args
    used, out, touched, new_active = mech.math.simulate_exchange(
        before, active, lo, hi, ex["buyCollateral"], ex["amountIn"], price_wad)
    assert used == ex["amountIn"]
    assert out == ex["amountOut"]
    assert touched, "the exchange touched no band"
    for n, state in touched.items():
        assert mech.band(n) == state
    assert mech.contract.call("activeBand") == new_active
    return ex


def test_falling_price_arbitrage_converts_band_collateral_to_usd_as_mirror(market, mech, borrowers, keepers,
                                                                          arb, funded):
    b = borrowers[0]
    open_reference(market, b)
    bm = mech.math
    n1 = mech.contract.call("positions", b.address)[2]
    # above the top band nothing is offered below the market price
    set_price(market, to_wad(1900))
    assert mech.arbitrage_call(to_wad(1900), FUNDS_USD, arb.address) is None
    # the oracle price enters the middle of the top band: part of it is converted
    mid = (bm.p_up(n1) + bm.p_down(n1)) // 2
    set_price(market, mid)
    assert mech.contract.call("ammPrice") < mid  # AMM quotes below the oracle: p_o^3 / p_up^2
    before, state = band_snapshot(mech, n1 - 1, n1 + 10), amm_state(mech)
    call, receipt = arbitrage(market, mech, borrowers, keepers, arb, mid)
    assert call.action == "soft-liquidate"
    ex = _assert_exchange_matches_mirror(market, mech, mid, call, receipt, before, state)
    # the arbitrageur paid, per WETH, between the band's lowest quote p_o^3 / p_up^2 (plus the
    # fee) and the oracle price: cheap collateral, bought with USD
    paid = ex["amountIn"] * WAD // ex["amountOut"]
    lowest = mid * mid // bm.p_up(n1) * mid // bm.p_up(n1)
    assert lowest * 10_000 // 9_940 < paid < mid
    top = mech.band(n1)
    assert 0 < top.y < COLLATERAL // 10 and top.x > 0
    assert ex["amountOut"] == COLLATERAL // 10 - top.y
    assert mech.band(n1 + 1) == BandState(0, COLLATERAL // 10, COLLATERAL // 10)
    # the price falls below the top band: it is converted completely, the next one partly
    p2 = bm.p_down(n1 + 1) + (bm.p_up(n1 + 1) - bm.p_down(n1 + 1)) // 4
    set_price(market, p2)
    before, state = band_snapshot(mech, n1 - 1, n1 + 10), amm_state(mech)
    call, receipt = arbitrage(market, mech, borrowers, keepers, arb, p2)
    _assert_exchange_matches_mirror(market, mech, p2, call, receipt, before, state)
    assert mech.band(n1).y == 0 and mech.band(n1).x > 0
    assert 0 < mech.band(n1 + 1).y < COLLATERAL // 10
    assert mech.contract.call("activeBand") == n1 + 1
    # soft liquidation never touches the debt; only the collateral held changes
    assert market.lending.call("debtOf", b.address) == DEBT
    weth_held, usd_held = mech.contract.call("heldCollateral", b.address)
    assert weth_held < COLLATERAL and usd_held > 0
    assert mech.contract.call("health", b.address) > 0


def test_recovering_price_reverse_exchange_converts_usd_back_to_collateral(market, mech, borrowers, keepers,
                                                                          arb, funded):
    b = borrowers[0]
    open_reference(market, b)
    bm = mech.math
    n1 = mech.contract.call("positions", b.address)[2]
    low = bm.p_down(n1 + 2) + 10**18  # just inside band n1 + 2
    set_price(market, low)
    arbitrage(market, mech, borrowers, keepers, arb, low)
    assert mech.band(n1).y == 0 and mech.band(n1 + 1).y == 0
    converted_usd = mech.contract.call("heldCollateral", b.address)[1]
    assert converted_usd > 0
    # price back above the bands: arbitrageurs sell WETH into them until no USD is left
    set_price(market, to_wad(2000))
    before, state = band_snapshot(mech, n1 - 1, n1 + 10), amm_state(mech)
    call, receipt = arbitrage(market, mech, borrowers, keepers, arb, to_wad(2000))
    assert call.action == "de-liquidate"
    ex = _assert_exchange_matches_mirror(market, mech, to_wad(2000), call, receipt, before, state)
    assert ex["buyCollateral"] is False
    assert ex["amountOut"] == converted_usd  # all USD of the bands bought back
    for n in range(n1, n1 + 10):
        assert mech.band(n).x == 0
    weth_held, usd_held = mech.contract.call("heldCollateral", b.address)
    assert usd_held == 0
    # the round trip cost the borrower collateral: the AMM sold at p_o^3/p^2 on the way down and
    # bought back above p_o on the way up (the price jumped ~2.5% each way in one oracle update)
    assert to_wad(9) < weth_held < COLLATERAL
    assert market.lending.call("debtOf", b.address) == DEBT


def test_exchange_charges_the_fee_and_keeps_it_in_the_band(market, mech, borrowers, keepers, arb, funded):
    b = borrowers[0]
    open_reference(market, b)
    bm = mech.math
    n1 = mech.contract.call("positions", b.address)[2]
    price = bm.p_down(n1) + (bm.p_up(n1) - bm.p_down(n1)) // 3
    set_price(market, price)
    amount = to_wad(500)
    before = mech.band(n1)
    quoted = mech.contract.call("getAmountOut", True, amount)
    no_fee = BandMath(bm.base_price, fee_bps=0).trade_band(True, before.x, before.y, price, bm.p_up(n1), amount)
    with_fee = bm.trade_band(True, before.x, before.y, price, bm.p_up(n1), amount)
    assert quoted == with_fee[2]
    # 0.6% of the input does not buy anything: output is ~0.6% lower than without the fee
    assert with_fee[2] < no_fee[2]
    assert abs(with_fee[2] / no_fee[2] - 0.994) < 1e-4
    block = send_checked(market, mech, borrowers, keepers, arb,
                         [mech.contract.tx(arb, "exchange", True, amount, quoted, arb.address, gas=1_000_000)])
    ex = block.receipts[0].events("Exchange")[0].args
    assert ex["amountIn"] == amount and ex["amountOut"] == quoted
    after = mech.band(n1)
    assert after.x == before.x + amount  # the whole input, fee included, stays with the band
    assert after.y == before.y - quoted
    # slippage protection
    block = execute(market.chain, [mech.contract.tx(arb, "exchange", True, amount, 10**30, arb.address,
                                                    gas=1_000_000)], require_success=False)
    assert "SlippageExceeded" in block.receipts[0].revert_reason


def test_soft_liquidating_position_may_only_repay(market, mech, borrowers, keepers, arb, funded):
    b = borrowers[0]
    open_reference(market, b)
    bm = mech.math
    n1 = mech.contract.call("positions", b.address)[2]
    p = bm.p_down(n1 + 1)
    set_price(market, p)
    arbitrage(market, mech, borrowers, keepers, arb, p)
    lending = market.lending
    # adding collateral is refused (borrowing more already fails the market's max-LTV check:
    # bands start below the price where LTV = 80%)
    execute(market.chain, [market.weth.tx(market.deployer, "mint", b.address, to_wad(1))])
    block = execute(market.chain, [lending.tx(b, "deposit", to_wad(1), gas=900_000)], require_success=False)
    assert "PositionInSoftLiquidation" in block.receipts[0].revert_reason
    # a partial repay is fine and keeps the bands
    held = mech.contract.call("heldCollateral", b.address)
    execute(market.chain, [lending.tx(b, "repay", to_wad(1000), gas=900_000)])
    assert lending.call("debtOf", b.address) == DEBT - to_wad(1000)
    assert mech.contract.call("heldCollateral", b.address) == held
    # repaying in full returns the WETH to the market and the USD to the borrower
    execute(market.chain, [market.usd.tx(market.deployer, "mint", b.address, DEBT)])
    usd_before = market.usd.call("balanceOf", b.address)
    execute(market.chain, [lending.tx(b, "repay", DEBT, gas=900_000)])
    assert lending.call("debtOf", b.address) == 0
    assert mech.contract.call("heldCollateral", b.address) == (0, 0)
    assert lending.call("collateralOf", b.address) == held[0]
    assert market.usd.call("balanceOf", b.address) == usd_before - (DEBT - to_wad(1000)) + held[1]


# ------------------------------------------------------------------------------- hard liquidation

def test_hard_liquidation_reverts_while_health_is_not_negative(market, mech, borrowers, keepers, arb, funded):
    b = borrowers[0]
    open_reference(market, b)
    k = keepers[0]
    liq = mech.contract.tx(k, "liquidate", b.address, 0, gas=600_000)
    block = execute(market.chain, [liq], require_success=False)
    assert "HealthyPosition" in block.receipts[0].revert_reason
    # in soft liquidation (top band partly converted) but health still >= 0: still refused
    bm = mech.math
    n1 = mech.contract.call("positions", b.address)[2]
    p = (bm.p_up(n1) + bm.p_down(n1)) // 2
    set_price(market, p)
    arbitrage(market, mech, borrowers, keepers, arb, p)
    assert mech.contract.call("heldCollateral", b.address)[1] > 0
    assert mech.contract.call("health", b.address) >= 0
    block = execute(market.chain, [mech.contract.tx(k, "liquidate", b.address, 0, gas=600_000)],
                    require_success=False)
    assert "HealthyPosition" in block.receipts[0].revert_reason
    assert mech.opportunities([b.address]) == []


def test_hard_liquidation_when_health_negative_repays_debt_and_takes_bands(market, mech, borrowers, keepers,
                                                                          arb, funded):
    b = borrowers[0]
    open_reference(market, b)
    # a 15% drop is soft-liquidated at once (a lossy jump); then the price soars to $3,000 with
    # nobody de-liquidating: the bands' value at their bottom prices stays below the debt
    set_price(market, to_wad(1700))
    arbitrage(market, mech, borrowers, keepers, arb, to_wad(1700))
    set_price(market, to_wad(3000))
    weth_held, usd_held = mech.contract.call("heldCollateral", b.address)
    assert weth_held > 0 and usd_held > 0
    h = mech.contract.call("health", b.address)
    assert h < 0
    # not underwater: value at the oracle price x 94% still covers the debt
    assert (weth_held * 3000 + usd_held) * 94 // 100 >= DEBT
    k = keepers[0]
    block = send_checked(market, mech, borrowers, keepers, arb,
                         [mech.contract.tx(k, "liquidate", b.address, weth_held, gas=600_000)])
    ev = block.receipts[0].events("HardLiquidation")[0].args
    assert ev["owner"] == b.address and ev["keeper"] == k.address
    assert ev["debtRepaid"] == DEBT and ev["badDebt"] == 0
    assert ev["collateralOut"] == weth_held and ev["usdOut"] == usd_held
    assert market.lending.call("debtOf", b.address) == 0
    assert mech.contract.call("heldCollateral", b.address) == (0, 0)
    assert mech.contract.call("positions", b.address)[0] == 0
    assert market.lending.call("badDebt") == 0


def test_underwater_hard_liquidation_writes_off_the_shortfall_as_bad_debt(market, mech, borrowers, keepers,
                                                                         arb, funded):
    b = borrowers[0]
    open_reference(market, b)
    # a crash below all bands with nobody arbitraging: the bands still hold 10 WETH worth $15,000
    set_price(market, to_wad(1500))
    assert mech.contract.call("health", b.address) < 0
    pays = COLLATERAL * 1500 * 94 // 100  # $14,100 = value at the oracle x (1 - 6%)
    k = keepers[0]
    block = send_checked(market, mech, borrowers, keepers, arb,
                         [mech.contract.tx(k, "liquidate", b.address, COLLATERAL, gas=600_000)])
    ev = block.receipts[0].events("HardLiquidation")[0].args
    assert ev["debtRepaid"] == pays == to_wad(14_100)
    assert ev["badDebt"] == DEBT - pays == to_wad(1_900)
    assert ev["collateralOut"] == COLLATERAL
    assert market.lending.call("badDebt") == to_wad(1_900)
    assert market.lending.call("debtOf", b.address) == 0
    flows = liquidation_flows([block], market)
    assert flows == {"repaid": to_wad(14_100), "written_off": to_wad(1_900)}


# ------------------------------------------------------------------------------- Python module

def test_mechanism_is_registered_as_soft():
    assert get_mechanism("soft") is SoftLiquidationMechanism
    assert SoftLiquidationMechanism.contract_name == "SoftLiquidationAMM"


def test_end_to_end_hard_liquidation_through_python_module(market, mech, borrowers, keepers, arb, funded):
    healthy, risky = borrowers[0], borrowers[1]
    open_positions(market, [(healthy, to_wad(10), to_wad(8_000)), (risky, COLLATERAL, DEBT)])
    owners = [healthy.address, risky.address]
    assert mech.opportunities(owners) == []
    set_price(market, to_wad(1500))
    hs = mech.healths(owners)
    assert hs == [mech.contract.call("health", o) for o in owners]
    assert hs[0] >= 0 > hs[1]
    opps = mech.opportunities(owners)
    assert [o.owner for o in opps] == [risky.address]
    opp = opps[0]
    assert opp.action == "hard-liquidate"
    assert opp.paid("USD") == to_wad(14_100) and opp.received("WETH") == COLLATERAL
    assert opp.received("USD") == 0 and opp.extra["bad_debt"] == to_wad(1_900)
    k = keepers[1]
    call = mech.encode(opp, k.address)
    weth_before = market.weth.call("balanceOf", k.address)
    block = send_checked(market, mech, borrowers, keepers, arb, [call.request(k)])
    assert block.receipts[0].succeeded
    ev = block.receipts[0].events("HardLiquidation")[0].args
    assert ev["debtRepaid"] == opp.paid("USD") and ev["badDebt"] == opp.extra["bad_debt"]
    assert market.weth.call("balanceOf", k.address) - weth_before == COLLATERAL
    assert mech.opportunities(owners) == []


def test_arbitrage_call_moves_amm_price_to_the_reference_net_of_fee(market, mech, borrowers, keepers, arb,
                                                                  funded):
    open_reference(market, borrowers[0])
    bm = mech.math
    n1 = mech.contract.call("positions", borrowers[0].address)[2]
    p = bm.p_down(n1 + 3) + 10**18
    set_price(market, p)
    call, receipt = arbitrage(market, mech, borrowers, keepers, arb, p)
    amm = mech.contract.call("ammPrice")
    # after the trade the next WETH costs about the reference price once the 0.6% fee is added
    assert abs(amm * 10_000 / (10_000 - 60) / p - 1) < 0.002
    # and the trade was profitable at the reference price
    ex = receipt.events("Exchange")[0].args
    assert ex["amountOut"] * p // WAD > ex["amountIn"]
    # nothing profitable is left at that price
    assert mech.arbitrage_call(p, FUNDS_USD, arb.address) is None


# ------------------------------------------------------------------------------- shared bands

def test_bands_are_shared_with_per_position_shares(market, mech, borrowers, keepers, arb, funded):
    a, b = borrowers[0], borrowers[1]
    open_positions(market, [(a, COLLATERAL, DEBT), (b, COLLATERAL // 2, DEBT // 2)])
    pa, pb = mech.contract.call("positions", a.address), mech.contract.call("positions", b.address)
    assert pa[2] == pb[2] == 7  # same loan-to-value: same bands
    assert mech.band(7) == BandState(0, COLLATERAL * 3 // 20, COLLATERAL * 3 // 20)
    # soft liquidation converts both positions pro rata; one exchange, whatever the number of users
    p = to_wad(1800)
    set_price(market, p)
    arbitrage(market, mech, borrowers, keepers, arb, p)
    wa, ua = mech.contract.call("heldCollateral", a.address)
    wb, ub = mech.contract.call("heldCollateral", b.address)
    assert ua > 0 and abs(ua - 2 * ub) <= 10 and abs(wa - 2 * wb) <= 10
    # hard-liquidating one position leaves the other's share of every band intact
    set_price(market, to_wad(1300))
    block = send_checked(market, mech, borrowers, keepers, arb,
                         [mech.contract.tx(keepers[0], "liquidate", a.address, 0, gas=600_000)])
    ev = block.receipts[0].events("HardLiquidation")[0].args
    assert (ev["collateralOut"], ev["usdOut"]) == (wa, ua)
    wb2, ub2 = mech.contract.call("heldCollateral", b.address)
    assert 0 <= wb2 - wb <= 10 and 0 <= ub2 - ub <= 10  # the last holder also gets the rounding dust
    assert mech.contract.call("heldCollateral", a.address) == (0, 0)
    for n in range(7, 17):
        band = mech.band(n)
        assert band.shares == pb[0]


def test_adding_collateral_respreads_the_position_over_lower_bands(market, mech, borrowers):
    b = borrowers[0]
    open_reference(market, b)
    n1 = mech.contract.call("positions", b.address)[2]
    execute(market.chain, [market.weth.tx(market.deployer, "mint", b.address, COLLATERAL),
                           market.lending.tx(b, "deposit", COLLATERAL)])
    shares, debt, n1_new = mech.contract.call("positions", b.address)
    assert n1_new == mech.math.top_band(2 * COLLATERAL, DEBT) > n1
    for n in range(n1, n1_new):
        assert mech.band(n) == BandState()
    for n in range(n1_new, n1_new + 10):
        assert mech.band(n) == BandState(0, 2 * COLLATERAL // 10, 2 * COLLATERAL // 10)
    assert market.lending.call("collateralOf", b.address) == 0
    # repaying everything takes the position out of the bands and lets the borrower withdraw
    execute(market.chain, [market.lending.tx(b, "repay", DEBT)])
    assert mech.contract.call("positions", b.address)[0] == 0
    assert market.lending.call("collateralOf", b.address) == 2 * COLLATERAL
    execute(market.chain, [market.lending.tx(b, "withdraw", 2 * COLLATERAL)])
    assert market.weth.call("balanceOf", b.address) == 2 * COLLATERAL


def test_position_above_the_active_band_moves_it_up_when_bands_between_hold_no_usd(market, mech, borrowers,
                                                                                   keepers, arb, funded):
    open_reference(market, borrowers[0])
    assert mech.contract.call("activeBand") == 0
    set_price(market, to_wad(2500))
    open_positions(market, [(borrowers[1], COLLATERAL, to_wad(20_000))])
    n1 = mech.contract.call("positions", borrowers[1].address)[2]
    assert n1 < 0 and mech.contract.call("activeBand") == n1 - 1
    # the higher position is soft-liquidated first when the price falls into it
    p = mech.math.p_down(n1 + 1)
    set_price(market, p)
    arbitrage(market, mech, borrowers, keepers, arb, p)
    assert mech.contract.call("heldCollateral", borrowers[1].address)[1] > 0
    assert mech.contract.call("heldCollateral", borrowers[0].address) == (COLLATERAL, 0)
    # now the bands above the active band hold USD: a loan that would need bands up there reverts
    set_price(market, to_wad(3000))
    reqs = fund_requests(market, borrowers[2], weth_wei=COLLATERAL, approve=[market.lending.address])
    execute(market.chain, reqs)
    block = execute(market.chain, [market.lending.tx(borrowers[2], "open", COLLATERAL, to_wad(23_000))],
                    require_success=False)
    assert "DebtTooHigh" in block.receipts[0].revert_reason


def test_loan_whose_top_band_would_start_above_the_oracle_price_reverts(market, borrowers):
    # N = 30 reaches ~26% below the top band: the bottom-price cover rule puts an 80% LTV loan's
    # top band above $2,000, so Curve's "Debt too high" applies; 70% fits
    mech = SoftLiquidationMechanism.deploy(market, dataclasses.replace(PLAIN, bands_n=30))
    assert mech.math.p_up(mech.math.top_band(COLLATERAL, DEBT)) >= to_wad(2000)
    reqs = fund_requests(market, borrowers[0], weth_wei=COLLATERAL, approve=[market.lending.address])
    execute(market.chain, reqs)
    block = execute(market.chain, [market.lending.tx(borrowers[0], "open", COLLATERAL, DEBT, gas=2_000_000)],
                    require_success=False)
    assert "DebtTooHigh" in block.receipts[0].revert_reason
    # (30 bands cost ~7k gas each to fill: give open() more than the default 500k)
    reqs = open_position_requests(market, borrowers[1], COLLATERAL, to_wad(14_000))
    execute(market.chain, [*reqs[:-1], dataclasses.replace(reqs[-1], gas=1_000_000)])
    _, _, n1 = mech.contract.call("positions", borrowers[1].address)
    assert mech.math.p_up(n1) < to_wad(2000)
    assert mech.contract.call("heldCollateral", borrowers[1].address) == (COLLATERAL // 30 * 30, 0)
    assert market.lending.call("collateralOf", borrowers[1].address) == COLLATERAL % 30  # dust stays
    assert all(mech.band(n).y == COLLATERAL // 30 for n in range(n1, n1 + 30))


def test_max_ltv_bps_is_the_highest_loan_the_contract_bands(chain, borrowers):
    # what scenarios are checked against before a run (check_scenario): one bps more reverts
    from sandbox.market import MarketParams, deploy_market
    from sandbox.units import BPS

    market = deploy_market(chain, MarketParams(max_ltv_bps=9000, liquidation_threshold_bps=9500))
    SoftLiquidationMechanism.deploy(market)
    top = SoftLiquidationMechanism.max_ltv_bps(SoftParams())
    assert top == 8528
    price = market.oracle.call("price")
    loans = [(borrowers[0], COLLATERAL * price // WAD * top // BPS),  # as draw_population sizes them
             (borrowers[1], COLLATERAL * price // WAD * (top + 1) // BPS)]
    reqs = [r for b, debt in loans for r in open_position_requests(market, b, COLLATERAL, debt)]
    block = execute(market.chain, reqs, require_success=False)
    assert block.receipts[3].succeeded
    assert "DebtTooHigh" in block.receipts[7].revert_reason
