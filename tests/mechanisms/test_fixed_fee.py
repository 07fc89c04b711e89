"""Fixed-fee (Aave v3) liquidation: each test is named after the rule it checks.

Market defaults: liquidation threshold 85%, max LTV 80%, price $2,000. Reference numbers:
close factor 50% while HF > 0.95, 100% at or below; bonus 5%; protocol fee 10% of the bonus
part; dust $1,000 (Aave v3.3).
"""

from __future__ import annotations

import pytest

from sandbox.chain import execute
from sandbox.market.actions import fund_requests, open_positions, set_price
from sandbox.mechanisms import get_mechanism
from sandbox.mechanisms.fixed_fee import (
    FixedFeeMechanism,
    FixedFeeParams,
    max_liquidation,
    quote_liquidation,
)
from sandbox.testing.accounting import Checked
from sandbox.units import WAD, to_wad

KEEPER_USD = to_wad(1_000_000)


@pytest.fixture
def mech(market):
    return FixedFeeMechanism.deploy(market)


@pytest.fixture
def funded(market, mech, keepers, borrowers):
    execute(market.chain, [r for k in keepers for r in fund_requests(market, k, usd_wei=KEEPER_USD,
                                                                       approve=[mech.spender])])
    # borrowers approve too, so a self-liquidation fails on the rule, not on an allowance
    execute(market.chain, [r for b in borrowers for r in fund_requests(market, b, approve=[mech.spender])])
    return keepers


def send_checked(market, mech, borrowers, keepers, requests, require_success=True):
    """Execute one block; assert the debt identity and token conservation around it."""
    return Checked(market, mech, borrowers, keepers).send(requests, require_success=require_success)


def liquidate_req(mech, keeper, owner, amount):
    return mech.contract.tx(keeper, "liquidate", owner.address, amount, gas=400_000)


def position(market, owner):
    col, debt, hf, locked = market.lending.call("positionOf", owner.address)
    return {"collateral": col, "debt": debt, "hf": hf, "locked": locked}


def liquidated_event(receipt):
    (ev,) = receipt.events("Liquidated")
    return ev.args


# ------------------------------------------------------------------ registry and params

def test_entry_point_resolves_to_fixed_fee_mechanism():
    assert get_mechanism("fixed-fee") is FixedFeeMechanism
    assert FixedFeeMechanism.contract_name == "FixedFeeLiquidator"


def test_params_default_to_aave_v3_numbers_and_validate():
    p = FixedFeeParams()
    assert (p.close_factor_bps, p.full_close_health_factor_bps, p.bonus_bps, p.protocol_fee_bps,
            p.dust_usd) == (5000, 9500, 500, 1000, 1000)
    with pytest.raises(ValueError, match="bonus_bps"):
        FixedFeeParams(bonus_bps=-1)
    with pytest.raises(ValueError, match="close_factor_bps"):
        p.replace(close_factor_bps=0)


# ------------------------------------------------------------------------ close factor

def _position_at_hf_095(market, borrowers):
    """10 WETH, 15,300 USD debt: HF = 10 * 1710 * 0.85 / 15300 = 0.95 exactly at $1,710."""
    b = borrowers[0]
    open_positions(market, [(b, to_wad(10), to_wad(15_300))])
    return b


def test_close_factor_is_50_percent_when_hf_is_just_above_095(market, mech, funded, borrowers):
    b = _position_at_hf_095(market, borrowers)
    set_price(market, to_wad(1710) + 2000)  # one wei of HF above 0.95
    assert market.lending.call("healthFactor", b.address) == to_wad("0.95") + 1
    assert mech.contract.call("maxRepay", b.address) == to_wad(7650)
    block = send_checked(market, mech, borrowers, funded,
                         [liquidate_req(mech, funded[0], b, to_wad(15_300))])
    ev = liquidated_event(block.receipts[0])
    assert ev["debtRepaid"] == to_wad(7650)  # 50% of 15,300
    assert position(market, b)["debt"] == to_wad(7650)


def test_close_factor_is_100_percent_when_hf_is_exactly_095(market, mech, funded, borrowers):
    b = _position_at_hf_095(market, borrowers)
    set_price(market, to_wad(1710))
    assert market.lending.call("healthFactor", b.address) == to_wad("0.95")
    block = send_checked(market, mech, borrowers, funded,
                         [liquidate_req(mech, funded[0], b, to_wad(15_300))])
    ev = liquidated_event(block.receipts[0])
    assert ev["debtRepaid"] == to_wad(15_300)
    assert ev["badDebt"] == 0
    col, debt = position(market, b)["collateral"], position(market, b)["debt"]
    assert debt == 0
    assert col == to_wad(10) - to_wad(15_300) * 10_500 * WAD // (10_000 * to_wad(1710))


def test_close_factor_is_100_percent_below_095(market, mech, funded, borrowers):
    b = _position_at_hf_095(market, borrowers)
    set_price(market, to_wad(1700))
    assert market.lending.call("healthFactor", b.address) < to_wad("0.95")
    block = send_checked(market, mech, borrowers, funded,
                         [liquidate_req(mech, funded[0], b, to_wad(20_000))])  # more than the debt
    assert liquidated_event(block.receipts[0])["debtRepaid"] == to_wad(15_300)


# ------------------------------------------------------------------ seize and fee terms

def _liquidate_3500_at_1750(market, mech, funded, borrowers):
    b = _position_at_hf_095(market, borrowers)
    set_price(market, to_wad(1750))  # HF 0.972: close factor 50%, 3,500 is within it
    k = funded[1]
    w0 = market.weth.call("balanceOf", k.address)
    t0 = market.weth.call("balanceOf", market.treasury.address)
    u0 = market.usd.call("balanceOf", k.address)
    block = send_checked(market, mech, borrowers, funded, [liquidate_req(mech, k, b, to_wad(3500))])
    return (b, liquidated_event(block.receipts[0]),
            market.weth.call("balanceOf", k.address) - w0,
            market.weth.call("balanceOf", market.treasury.address) - t0,
            u0 - market.usd.call("balanceOf", k.address))


def test_seized_collateral_is_repaid_times_1_05_over_price(market, mech, funded, borrowers):
    b, ev, keeper_weth, treasury_weth, keeper_usd = _liquidate_3500_at_1750(market, mech, funded, borrowers)
    # 3,500 * 1.05 / 1,750 = 2.1 WETH leaves the position; the keeper paid exactly 3,500 USD
    assert ev["debtRepaid"] == to_wad(3500) == keeper_usd
    assert ev["collateralSeized"] == to_wad("2.1")
    assert keeper_weth + treasury_weth == to_wad("2.1")
    assert position(market, b)["collateral"] == to_wad("7.9")


def test_protocol_fee_is_10_percent_of_the_bonus_part(market, mech, funded, borrowers):
    _, ev, keeper_weth, treasury_weth, _ = _liquidate_3500_at_1750(market, mech, funded, borrowers)
    # bonus part = 2.1 - 2.1 / 1.05 = 0.1 WETH; 10% of it = 0.01 WETH to the treasury
    assert ev["protocolFee"] == to_wad("0.01") == treasury_weth
    assert keeper_weth == to_wad("2.09")


def test_quote_liquidation_mirrors_the_contract_to_the_wei(market, mech, funded, borrowers):
    b = _position_at_hf_095(market, borrowers)
    price = to_wad("1733.3333")
    set_price(market, price)
    col, debt, hf, _ = position(market, b).values()  # dict order: collateral, debt, hf, locked
    amount = to_wad("4321.123456789")
    q = quote_liquidation(col, debt, price, mech.params, amount, health_factor_wad=hf)
    block = send_checked(market, mech, borrowers, funded, [liquidate_req(mech, funded[0], b, amount)])
    ev = liquidated_event(block.receipts[0])
    assert (ev["debtRepaid"], ev["collateralSeized"], ev["protocolFee"], ev["badDebt"]) == (
        q.debt_repaid, q.collateral_seized, q.protocol_fee, q.bad_debt)


# ------------------------------------------------------------ collateral cap and bad debt

def test_seized_collateral_is_capped_at_the_balance_and_the_rest_is_bad_debt(market, mech, funded, borrowers):
    b = _position_at_hf_095(market, borrowers)
    set_price(market, to_wad(1000))  # collateral worth 10,000 against 15,300 of debt
    k = funded[0]
    u0 = market.usd.call("balanceOf", k.address)
    block = send_checked(market, mech, borrowers, funded, [liquidate_req(mech, k, b, to_wad(15_300))])
    ev = liquidated_event(block.receipts[0])
    repaid = -(-to_wad(10_000) * 10_000 // 10_500)  # 10,000 / 1.05, rounded up
    assert ev["collateralSeized"] == to_wad(10)
    assert ev["debtRepaid"] == repaid == u0 - market.usd.call("balanceOf", k.address)
    assert ev["badDebt"] == to_wad(15_300) - repaid
    assert position(market, b)["collateral"] == 0 and position(market, b)["debt"] == 0
    assert market.lending.call("badDebt") == to_wad(15_300) - repaid
    assert [e.args["amount"] for e in block.logs if e.name == "BadDebtWrittenOff"] == [ev["badDebt"]]


# ---------------------------------------------------------------------------- dust rule

def test_dust_rule_reverts_when_less_than_1000_usd_of_debt_would_remain(market, mech, funded, borrowers):
    b = borrowers[0]
    open_positions(market, [(b, to_wad(1), to_wad(1500))])
    set_price(market, to_wad(1700))  # HF 0.963: cap 750, which would leave 750 of debt
    block = send_checked(market, mech, borrowers, funded,
                         [liquidate_req(mech, funded[0], b, to_wad(750))], require_success=False)
    r = block.receipts[0]
    assert not r.succeeded and r.revert_reason.startswith("DustRemaining(")
    # leaving exactly 1,000 of debt (and 1,700 - 525 = 1,175 of collateral) is allowed
    block = send_checked(market, mech, borrowers, funded, [liquidate_req(mech, funded[0], b, to_wad(500))])
    assert block.receipts[0].succeeded
    assert position(market, b)["debt"] == to_wad(1000)


def test_dust_rule_reverts_when_less_than_1000_usd_of_collateral_would_remain(market, mech, funded, borrowers):
    b = borrowers[0]
    open_positions(market, [(b, to_wad(1), to_wad(1600))])
    set_price(market, to_wad(1200))  # HF 0.6375: full close allowed
    # repaying 300 leaves 1,300 of debt but only (1 - 0.2625) * 1,200 = 885 of collateral
    block = send_checked(market, mech, borrowers, funded,
                         [liquidate_req(mech, funded[0], b, to_wad(300))], require_success=False)
    r = block.receipts[0]
    assert not r.succeeded
    assert r.revert_reason == f"DustRemaining(debtLeft={to_wad(1300)}, collateralValueLeft={to_wad(885)})"
    # taking all the collateral is allowed even though debt remains (it becomes bad debt)
    block = send_checked(market, mech, borrowers, funded, [liquidate_req(mech, funded[0], b, to_wad(1600))])
    ev = liquidated_event(block.receipts[0])
    assert ev["collateralSeized"] == to_wad(1) and ev["badDebt"] > 0


def test_a_small_position_above_hf_095_is_closed_at_once_not_stuck_on_dust(market, mech, funded, borrowers):
    """Aave v3.3: the 50% close factor needs debt and collateral each worth >= $2,000, so a
    small position is never stuck between the close factor and the dust rule. Regression: at
    HF 0.956 an $800 position used to revert DustRemaining for every amount."""
    b = borrowers[0]
    open_positions(market, [(b, to_wad("0.5"), to_wad(800))])
    set_price(market, to_wad(1800))  # HF 0.956 > 0.95, collateral $900 and debt $800 < $2,000
    (opp,) = mech.opportunities([b.address])
    assert opp.paid("USD") == to_wad(800)  # the whole debt, not 50%
    block = send_checked(market, mech, borrowers, funded, [liquidate_req(mech, funded[0], b, to_wad(800))])
    assert liquidated_event(block.receipts[0])["debtRepaid"] == to_wad(800)
    assert position(market, b)["debt"] == 0


def test_the_issue_example_800_usd_against_one_weth_at_912_94_is_liquidatable(market, mech, funded, borrowers):
    b = borrowers[0]
    open_positions(market, [(b, to_wad(1), to_wad(800))])
    set_price(market, to_wad("912.94"))  # HF 0.96999... in (0.95, 1)
    (opp,) = mech.opportunities([b.address])
    assert opp.paid("USD") == to_wad(800)
    block = send_checked(market, mech, borrowers, funded, [mech.encode(opp, funded[0].address).request(funded[0])])
    assert block.receipts[0].succeeded and position(market, b)["debt"] == 0


def test_the_close_factor_still_caps_a_large_position_above_hf_095(market, mech, funded, borrowers):
    b = borrowers[0]
    open_positions(market, [(b, to_wad(2), to_wad(3000))])
    set_price(market, to_wad(1700))  # HF 0.963; debt $3,000 and collateral $3,400 >= $2,000
    (opp,) = mech.opportunities([b.address])
    assert opp.paid("USD") == to_wad(1500)
    r = send_checked(market, mech, borrowers, funded, [liquidate_req(mech, funded[0], b, to_wad(3000))]).receipts[0]
    assert liquidated_event(r)["debtRepaid"] == to_wad(1500)  # the request is capped on-chain too


def test_full_close_threshold_is_a_parameter(market, borrowers):
    mech = FixedFeeMechanism.deploy(market, FixedFeeParams(full_close_below_usd=0))
    b = borrowers[0]
    open_positions(market, [(b, to_wad("0.5"), to_wad(800))])
    set_price(market, to_wad(1800))
    assert mech.opportunities([b.address]) == []  # v3.0 rule: 50% cap, and any partial leaves dust


def test_opportunity_is_sized_to_respect_the_dust_rule(market, mech, funded, borrowers):
    b = borrowers[0]
    open_positions(market, [(b, to_wad(2), to_wad(3000))])
    set_price(market, to_wad(1600))  # HF 0.907: full close allowed
    # a keeper limited to $2,500 would leave $500 of debt: sized down to leave exactly $1,000
    q = max_liquidation(to_wad(2), to_wad(3000), to_wad(1600), to_wad("0.907"), mech.params,
                        limit=to_wad(2500))
    assert q.debt_repaid == to_wad(2000) and not q.leaves_dust
    (opp,) = mech.opportunities([b.address])
    call = mech.encode(opp, funded[0].address, max_pay=to_wad(2500))
    block = send_checked(market, mech, borrowers, funded, [call.request(funded[0])])
    assert block.receipts[0].succeeded and position(market, b)["debt"] == to_wad(1000)
    assert max_liquidation(to_wad(2), to_wad(3000), to_wad(1600), to_wad("0.907"), mech.params,
                           limit=to_wad(100)).debt_repaid == to_wad(100)


# -------------------------------------------------------------------- access and health

def test_liquidating_a_healthy_position_reverts(market, mech, funded, borrowers):
    b = borrowers[0]
    open_positions(market, [(b, to_wad(10), to_wad(15_300))])  # HF 1.111 at $2,000
    block = send_checked(market, mech, borrowers, funded, [liquidate_req(mech, funded[0], b, to_wad(100))],
                         require_success=False)
    r = block.receipts[0]
    assert r.status == 0 and r.revert_reason == "HealthyPosition()"
    assert r.fee_paid_wei > 0
    assert mech.opportunities([b.address]) == []


def test_self_liquidation_reverts(market, mech, funded, borrowers):
    b = _position_at_hf_095(market, borrowers)
    execute(market.chain, fund_requests(market, b, usd_wei=to_wad(20_000)))
    set_price(market, to_wad(1700))
    block = send_checked(market, mech, borrowers, funded, [liquidate_req(mech, b, b, to_wad(100))],
                         require_success=False)
    assert block.receipts[0].revert_reason == "SelfLiquidation()"
    assert position(market, b)["debt"] == to_wad(15_300)


def test_only_the_market_may_call_the_position_hook(market, mech, funded, borrowers):
    block = execute(market.chain, [mech.contract.tx(funded[0], "onPositionUpdated", borrowers[0].address)],
                    require_success=False)
    assert block.receipts[0].revert_reason == "NotMarket()"
    assert tuple(mech.contract.call("heldCollateral", borrowers[0].address)) == (0, 0)


# ------------------------------------------------------------------------- end to end

def test_end_to_end_opportunities_encode_execute(market, mech, funded, borrowers):
    healthy, partial, underwater = borrowers[:3]
    open_positions(market, [(healthy, to_wad(10), to_wad(5000)),
                            (partial, to_wad(10), to_wad(15_300)),
                            (underwater, to_wad(2), to_wad(3200))])
    set_price(market, to_wad(1750))  # partial: HF 0.972; underwater: 3,500*.85/3,200 = 0.93
    owners = [b.address for b in (healthy, partial, underwater)]
    opps = {o.owner.lower(): o for o in mech.opportunities(owners)}
    assert set(opps) == {partial.address.lower(), underwater.address.lower()}
    assert opps[partial.address.lower()].paid("USD") == to_wad(7650)
    assert opps[underwater.address.lower()].paid("USD") == to_wad(3200)
    requests, expected = [], []
    for keeper, owner in zip(funded, (partial, underwater), strict=False):  # the first two keepers
        opp = opps[owner.address.lower()]
        call = mech.encode(opp, keeper.address)
        assert call.to == mech.contract.address and call.action == "liquidate"
        requests.append(call.request(keeper))
        expected.append((keeper, call))
    gains = {k.address: (market.weth.call("balanceOf", k.address), market.usd.call("balanceOf", k.address))
             for k, _ in expected}
    block = send_checked(market, mech, borrowers, funded, requests)
    assert all(r.succeeded for r in block.receipts)
    for keeper, call in expected:
        w0, u0 = gains[keeper.address]
        assert market.weth.call("balanceOf", keeper.address) - w0 == call.received("WETH")
        assert u0 - market.usd.call("balanceOf", keeper.address) == call.paid("USD")
    assert mech.opportunities(owners) == []  # both positions are healthy or closed now
    # a keeper with less capital gets a call sized to it
    set_price(market, to_wad(1500))
    (opp,) = [o for o in mech.opportunities(owners) if o.owner.lower() == partial.address.lower()]
    small = mech.encode(opp, funded[2].address, max_pay=to_wad(1000))
    assert small.paid("USD") == to_wad(1000)
    block = send_checked(market, mech, borrowers, funded, [small.request(funded[2])])
    assert liquidated_event(block.receipts[0])["debtRepaid"] == to_wad(1000)
