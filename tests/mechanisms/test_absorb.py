"""Absorb (Compound v3 / Comet absorb + buyCollateral + quoteCollateral): each test is named after
the rule it checks.

Reference numbers: liquidation factor 0.93, store-front price factor 0.5, so buyers get
(1 − 0.93) × 0.5 = 3.5% off the oracle price. Market: price $2,000, liquidation threshold 85%,
max LTV 80%. The position: 10 WETH against 16,000 USD, liquidatable at $1,800 (HF 0.956), where
the credit is 18,000 × 0.93 = 16,740 (740 above the debt); at $1,500 the credit 13,950 falls
2,050 short of the debt.
"""

from __future__ import annotations

import pytest

from sandbox.chain import execute
from sandbox.market.actions import fund_requests, open_positions, set_price
from sandbox.mechanisms.absorb import (
    AbsorbMechanism,
    AbsorbParams,
    discounted_price,
    quote_absorb,
    quote_collateral,
)
from sandbox.testing.accounting import Checked, liquidation_flows
from sandbox.units import WAD, to_wad

from test_dutch_auction import position, reverted

KEEPER_USD = to_wad(1_000_000)
COLLATERAL = to_wad(10)
DEBT = to_wad(16_000)
CRASH_PRICE = to_wad(1_800)
RESERVES = to_wad(10_000_000)
MAX_UINT = 2**256 - 1


def deploy_checked(market, borrowers, keepers, params=None):
    mech = AbsorbMechanism.deploy(market, params)
    execute(market.chain, [r for k in keepers
                           for r in fund_requests(market, k, usd_wei=KEEPER_USD, approve=[mech.spender])])
    return mech, Checked(market, mech, borrowers, keepers)


@pytest.fixture
def setup(market, borrowers, keepers):
    return deploy_checked(market, borrowers, keepers)


def absorb_req(mech, keeper, owners):
    return mech.contract.tx(keeper, "absorb", keeper.address, [o.address for o in owners],
                            gas=150_000 + 150_000 * len(owners))


def buy_req(mech, keeper, min_amount, usd_amount, recipient=None):
    return mech.contract.tx(keeper, "buyCollateral", min_amount, usd_amount,
                            (recipient or keeper).address, gas=150_000)


def bal(market, who):
    a = who if isinstance(who, str) else who.address
    return market.weth.call("balanceOf", a), market.usd.call("balanceOf", a)


# ------------------------------------------------------------------------------ params

def test_params_default_to_comet_numbers_and_validate():
    p = AbsorbParams()
    assert (p.liquidation_factor_bps, p.store_front_price_factor_bps) == (9300, 5000)
    assert p.discount_wad == to_wad("0.035")
    assert p.reserves_wad == RESERVES and p.target_reserves_wad > RESERVES
    with pytest.raises(ValueError, match="liquidation_factor_bps"):
        AbsorbParams(liquidation_factor_bps=10_001)
    with pytest.raises(ValueError, match="reserves_usd"):
        p.replace(reserves_usd=-1)
    assert AbsorbMechanism.name == "absorb" and AbsorbMechanism.contract_name == "AbsorbLiquidator"


# ------------------------------------------------------------------------------ absorb

def test_absorbing_a_healthy_position_reverts(market, setup, borrowers, keepers):
    mech, checked = setup
    open_positions(market, [(borrowers[0], COLLATERAL, DEBT), (borrowers[1], COLLATERAL, to_wad(10_000))])
    block = checked.send([absorb_req(mech, keepers[0], [borrowers[0]])], require_success=False)
    assert reverted(block, "NotLiquidatable()")
    assert mech.opportunities([borrowers[0].address]) == []
    # one healthy position in the list makes the whole absorb revert
    set_price(market, CRASH_PRICE)  # borrowers[0] liquidatable, borrowers[1] (HF 1.53) not
    block = checked.send([absorb_req(mech, keepers[0], [borrowers[0], borrowers[1]])], require_success=False)
    assert reverted(block, "NotLiquidatable()")
    assert position(market, borrowers[0])["debt"] == DEBT


def test_absorb_clears_the_debt_and_credits_93_percent_of_collateral_value(market, setup, borrowers, keepers):
    mech, checked = setup
    b, k = borrowers[0], keepers[0]
    open_positions(market, [(b, COLLATERAL, DEBT)])
    set_price(market, CRASH_PRICE)
    b_usd = bal(market, b)[1]
    k_before = bal(market, k)
    block = checked.send([absorb_req(mech, k, [b])])
    r = block.receipts[0]
    (col_ev,) = r.events("AbsorbCollateral")
    (debt_ev,) = r.events("AbsorbDebt")
    credit = to_wad(18_000) * 93 // 100  # 16,740
    assert (col_ev.args["collateralAbsorbed"], col_ev.args["usdValue"]) == (COLLATERAL, to_wad(18_000))
    assert (debt_ev.args["debtAbsorbed"], debt_ev.args["credit"], debt_ev.args["reservesPaid"],
            debt_ev.args["badDebt"]) == (DEBT, credit, DEBT, 0)
    assert liquidation_flows([block], market) == {"repaid": DEBT, "written_off": 0}
    assert position(market, b) == {"collateral": 0, "debt": 0, "hf": MAX_UINT, "locked": False}
    # the protocol now owns the collateral and paid the credit out of its reserves
    assert bal(market, mech.contract.address) == (COLLATERAL, RESERVES - credit)
    assert bal(market, k) == k_before  # the absorber gets nothing but the gas bill
    assert r.fee_paid_wei > 0
    # the excess credit above the debt is paid to the borrower
    assert debt_ev.args["excessPaid"] == credit - DEBT == to_wad(740)
    assert bal(market, b)[1] - b_usd == to_wad(740)
    q = quote_absorb(COLLATERAL, DEBT, CRASH_PRICE, to_wad("0.93"), RESERVES)
    assert (q.credit, q.debt_repaid, q.excess_to_borrower, q.bad_debt) == (credit, DEBT, to_wad(740), 0)


def test_absorb_of_an_underwater_position_writes_off_the_shortfall(market, setup, borrowers, keepers):
    mech, checked = setup
    b = borrowers[0]
    open_positions(market, [(b, COLLATERAL, DEBT)])
    set_price(market, to_wad(1_500))
    b_usd = bal(market, b)[1]
    block = checked.send([absorb_req(mech, keepers[0], [b])])
    credit = to_wad(15_000) * 93 // 100  # 13,950
    (ev,) = block.receipts[0].events("AbsorbDebt")
    assert (ev.args["reservesPaid"], ev.args["excessPaid"], ev.args["badDebt"]) == (credit, 0, DEBT - credit)
    assert liquidation_flows([block], market) == {"repaid": credit, "written_off": to_wad(2_050)}
    assert market.lending.call("badDebt") == to_wad(2_050)
    assert bal(market, b)[1] == b_usd  # nothing paid to the borrower
    assert position(market, b)["debt"] == 0
    assert bal(market, mech.contract.address) == (COLLATERAL, RESERVES - credit)


def test_absorb_writes_off_what_exhausted_reserves_cannot_pay(market, borrowers, keepers):
    mech, checked = deploy_checked(market, borrowers, keepers, AbsorbParams(reserves_usd=10_000))
    b = borrowers[0]
    open_positions(market, [(b, COLLATERAL, DEBT)])
    set_price(market, CRASH_PRICE)
    (opp,) = mech.opportunities([b.address])
    assert opp.extra["bad_debt"] == to_wad(6_000) and opp.extra["excess_to_borrower"] == 0
    block = checked.send([absorb_req(mech, keepers[0], [b])])
    assert liquidation_flows([block], market) == {"repaid": to_wad(10_000), "written_off": to_wad(6_000)}
    assert bal(market, mech.contract.address) == (COLLATERAL, 0)


def test_absorb_handles_several_positions_in_one_call(market, setup, borrowers, keepers):
    mech, checked = setup
    open_positions(market, [(borrowers[0], COLLATERAL, DEBT), (borrowers[1], to_wad(5), to_wad(8_000))])
    set_price(market, CRASH_PRICE)
    call = mech.absorb_call(keepers[1].address, [borrowers[0].address, borrowers[1].address])
    block = checked.send([call.request(keepers[1])])
    assert len(block.receipts[0].events("AbsorbDebt")) == 2
    assert liquidation_flows([block], market) == {"repaid": to_wad(24_000), "written_off": 0}
    assert bal(market, mech.contract.address)[0] == to_wad(15)


# ------------------------------------------------------------------------ buyCollateral

def test_store_front_discount_is_3_5_percent_on_buy_collateral(market, setup, borrowers, keepers):
    mech, checked = setup
    open_positions(market, [(borrowers[0], COLLATERAL, DEBT)])
    set_price(market, CRASH_PRICE)
    checked.send([absorb_req(mech, keepers[0], [borrowers[0]])])
    dp = to_wad(1_737)  # 1,800 × (1 − 0.035)
    assert discounted_price(CRASH_PRICE, to_wad("0.035")) == dp == mech.state()["discountedPrice"]
    assert mech.contract.call("quoteCollateral", dp) == WAD == quote_collateral(dp, CRASH_PRICE, to_wad("0.035"))
    amount = to_wad("1234.5678")
    assert mech.contract.call("quoteCollateral", amount) == amount * WAD // dp
    k = keepers[2]
    k0 = bal(market, k)
    r0 = bal(market, mech.contract.address)
    block = checked.send([buy_req(mech, k, WAD, dp)])
    (ev,) = block.receipts[0].events("BuyCollateral")
    assert (ev.args["usdAmount"], ev.args["collateralAmount"]) == (dp, WAD)
    assert bal(market, k) == (k0[0] + WAD, k0[1] - dp)
    assert bal(market, mech.contract.address) == (r0[0] - WAD, r0[1] + dp)  # the USD goes to reserves


def test_buy_collateral_enforces_slippage_inventory_and_target_reserves(market, borrowers, keepers):
    # reserves start exactly at target: nothing is for sale until an absorb spends some
    mech, checked = deploy_checked(market, borrowers, keepers,
                                   AbsorbParams(reserves_usd=1_000_000, target_reserves_usd=1_000_000))
    open_positions(market, [(borrowers[0], COLLATERAL, DEBT)])
    set_price(market, CRASH_PRICE)
    dp = to_wad(1_737)
    assert reverted(checked.send([buy_req(mech, keepers[0], 0, dp)], require_success=False), "NotForSale()")
    checked.send([absorb_req(mech, keepers[0], [borrowers[0]])])
    for req, err in [
        (buy_req(mech, keepers[0], WAD + 1, dp), "TooMuchSlippage()"),
        (buy_req(mech, keepers[0], 0, dp * 10 + 1737), "InsufficientInventory()"),
        (buy_req(mech, keepers[0], 0, 0), "ZeroAmount()"),
    ]:
        assert reverted(checked.send([req], require_success=False), err)
    checked.send([buy_req(mech, keepers[0], COLLATERAL, dp * 10)])  # the whole inventory
    assert bal(market, mech.contract.address)[0] == 0


def test_protocol_revenue_is_visible_in_reserves_after_absorb_and_sale(market, setup, borrowers, keepers):
    mech, checked = setup
    open_positions(market, [(borrowers[0], COLLATERAL, DEBT)])
    set_price(market, CRASH_PRICE)
    checked.send([absorb_req(mech, keepers[0], [borrowers[0]])])
    checked.send([buy_req(mech, keepers[1], COLLATERAL, to_wad(17_370))])
    # paid a credit of 16,740, sold 10 WETH at 1,737: +630 for the protocol
    assert bal(market, mech.contract.address) == (0, RESERVES + to_wad(630))


# ------------------------------------------------------------------ through the Python module

def test_end_to_end_absorb_then_buy_collateral_through_the_module(market, setup, borrowers, keepers):
    mech, checked = setup
    a, b, healthy = borrowers[:3]
    open_positions(market, [(a, COLLATERAL, DEBT), (b, to_wad(4), to_wad(6_000)),
                            (healthy, COLLATERAL, to_wad(5_000))])
    owners = [a.address, b.address, healthy.address]
    assert mech.opportunities(owners) == []
    set_price(market, to_wad(1_750))  # a: HF 0.930, b: 4 × 1750 × 0.85 / 6000 = 0.992
    opps = mech.opportunities(owners)
    assert [o.action for o in opps] == ["absorb", "absorb"]
    assert {o.owner.lower() for o in opps} == {a.address.lower(), b.address.lower()}
    assert all(o.paid("USD") == 0 and not o.needs_capital for o in opps)
    checked.send([mech.encode(o, keepers[0].address).request(keepers[0]) for o in opps])
    assert position(market, a)["debt"] == 0 and position(market, b)["debt"] == 0
    assert market.lending.call("badDebt") == 0  # 93% of 17,500 and of 7,000 cover both debts
    (opp,) = mech.opportunities(owners)
    dp = to_wad(1_750) * 965 // 1000
    assert opp.action == "buy-collateral" and opp.extra["discounted_price"] == dp
    assert opp.paid("USD") == to_wad(14) * dp // WAD and opp.received("WETH") == to_wad(14)
    assert quote_collateral(opp.paid("USD"), to_wad(1_750), to_wad("0.035")) == to_wad(14)
    # a keeper with a smaller budget buys part, then another buys the rest
    call = mech.encode(opp, keepers[1].address, max_pay=to_wad(5_000))
    assert call.paid("USD") == to_wad(5_000) and call.received("WETH") == to_wad(5_000) * WAD // dp
    checked.send([call.request(keepers[1])])
    (opp,) = mech.opportunities(owners)
    checked.send([mech.encode(opp, keepers[2].address).request(keepers[2])])
    assert bal(market, keepers[1])[0] + bal(market, keepers[2])[0] == to_wad(14)
    assert mech.opportunities(owners) == []
