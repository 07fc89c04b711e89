"""Borrower loss "vs holding" (``borrower_loss_vs_hold_usd``): what being liquidated cost each
position against holding it untouched, both valued at the path-end reference price, a position
worth less than its debt counting as zero (the borrower walks away). Hand-built tables where each
number is known, then real runs of a fall and recovery on lending and a perp run."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from test_metrics import KEEPER_ADDR, MECH, TREASURY, A, B, C, Tables, absorb_tables, w

from sandbox.markets import get_market
from sandbox.metrics import HEADLINE_GROUPS, LOWER_IS_BETTER, METRIC_COLUMNS, compute_metrics, loss_vs_hold_wad
from sandbox.perp import math as pm
from sandbox.scenarios import load_scenario
from sandbox.simulation import Simulation
from sandbox.table import metric_label
from sandbox.testing import fastest_backend
from sandbox.units import WAD

ARB = dict(keeper="arbitrageur", strategy="arbitrageur")


# ------------------------------------------------------------------------------ the rule itself

def test_loss_vs_hold_is_the_held_value_less_the_value_left_and_what_was_returned():
    assert loss_vs_hold_wad(w(5000), w(2000)) == w(3000)
    assert loss_vs_hold_wad(w(1200) - w(1000), 0, returned_wad=w(116)) == w(84)
    # negative when the liquidation sold before the price fell further
    assert loss_vs_hold_wad(w(100), w(250)) == -w(150)


def test_a_position_worth_less_than_its_debt_counts_as_zero_either_way():
    assert loss_vs_hold_wad(-w(500), 0) == 0  # held: the borrower would have walked away
    assert loss_vs_hold_wad(w(300), -w(200)) == w(300)  # left under water: walks away from it too


def test_the_row_sits_beside_the_loss_at_the_market_price():
    borrowers = dict(HEADLINE_GROUPS)["borrowers (USD)"]
    assert borrowers[:2] == ["borrower_loss_usd", "borrower_loss_vs_hold_usd"]
    assert "borrower_loss_vs_hold_usd" in METRIC_COLUMNS and "borrower_loss_vs_hold_usd" in LOWER_IS_BETTER
    assert metric_label("borrower_loss_vs_hold_usd") == "loss vs holding"
    assert metric_label("borrower_loss_usd") == "loss at the market price"


# ------------------------------------------------------------------------------ hand-built runs

def soft_round_trip() -> Tables:
    """The issue's example: 100 WETH against $150,000; on the way down (reference $1,800) the
    arbitrageur buys 40 WETH out of the bands for $71,617 ($383 under the market), on the way up
    (reference $1,870) it sells 38.102 WETH back for all of that USD; the path ends at $2,000
    with 98.102 WETH in the bands and the same debt."""
    t = Tables(oracle_price=2000)
    t.reference(1800, from_block=10)
    t.reference(1870, from_block=20)
    t.reference(2000, from_block=30)
    t.position(A, 10, 150_000, 100, 150_000, final_weth=98.102)
    t.ev(10, 0, "mechanism", "Exchange", buyer=KEEPER_ADDR, to=KEEPER_ADDR, buyCollateral=True,
         amountIn=w(71_617), amountOut=w(40), bandFrom=1, bandTo=4, **ARB)
    t.ev(20, 0, "mechanism", "Exchange", buyer=KEEPER_ADDR, to=KEEPER_ADDR, buyCollateral=False,
         amountIn=w("38.102"), amountOut=w(71_617), bandFrom=4, bandTo=1, **ARB)
    return t


def test_soft_round_trip_costs_the_collateral_it_did_not_buy_back_at_the_final_price():
    m = compute_metrics(soft_round_trip().result("soft"))
    # 1.898 WETH fewer against the same debt, at $2,000
    assert m["borrower_loss_vs_hold_usd"] == pytest.approx(1.898 * 2000)  # $3,796
    # at the market price each conversion lost only its edge at the time: 383 + (71,617 - 38.102 x 1,870)
    assert m["borrower_loss_usd"] == pytest.approx(383 + 71_617 - 38.102 * 1870)  # $749
    assert m["borrower_loss_vs_hold_usd"] > 5 * m["borrower_loss_usd"]


def fixed_fee_sale_at_the_bottom() -> Tables:
    """10 WETH against $15,000; at the bottom ($1,500) a keeper repays $7,500 for 5.25 WETH (5%
    bonus, 0.05 of it the protocol fee); the price is back at $2,000 when the path ends."""
    t = Tables(oracle_price=2000)
    t.oracle(10, 0, 1500)
    t.reference(1500, from_block=10)
    t.oracle(30, 0, 2000)
    t.reference(2000, from_block=30)
    t.position(A, 10, 15_000, 10, 7_500, final_weth=4.75, safe_block=10)
    t.ev(10, 1, "market", "LiquidationRepaid", owner=A, payer=MECH, amount=w(7_500))
    t.ev(10, 1, "market", "CollateralSeized", owner=A, to=TREASURY, amount=w("0.05"))
    t.ev(10, 1, "market", "CollateralSeized", owner=A, to=KEEPER_ADDR, amount=w("5.2"))
    t.ev(10, 1, "mechanism", "Liquidated", owner=A, liquidator=KEEPER_ADDR, debtRepaid=w(7_500),
         collateralSeized=w("5.25"), protocolFee=w("0.05"), badDebt=0)
    return t


def test_fixed_fee_sale_at_the_bottom_costs_the_seized_collateral_at_the_final_price():
    m = compute_metrics(fixed_fee_sale_at_the_bottom().result("fixed-fee"))
    # held: 10 x 2,000 - 15,000 = 5,000; left: 4.75 x 2,000 - 7,500 = 2,000
    assert m["borrower_loss_vs_hold_usd"] == pytest.approx(3_000)
    assert m["borrower_loss_usd"] == pytest.approx(5.25 * 1500 - 7_500)  # the bonus at the time: 375


def test_an_underwater_position_held_is_worth_zero_not_its_negative_equity():
    """B: 1 WETH against $2,500 when the path ends at $2,000 (worth -$500 held); a keeper took
    the WETH for $1,900 and wrote $600 off. C: under water, never acted on."""
    t = Tables(oracle_price=2000)
    t.position(B, 10, 2_500, 1, 0, final_weth=0)
    t.position(C, 12, 3_000, 1, 3_000, final_weth=1)
    t.ev(10, 0, "market", "LiquidationRepaid", owner=B, payer=MECH, amount=w(1_900))
    t.ev(10, 0, "market", "CollateralSeized", owner=B, to=KEEPER_ADDR, amount=w(1))
    t.ev(10, 0, "market", "BadDebtWrittenOff", owner=B, amount=w(600))
    t.ev(10, 0, "mechanism", "Liquidated", owner=B, liquidator=KEEPER_ADDR, debtRepaid=w(1_900),
         collateralSeized=w(1), protocolFee=0, badDebt=w(600))
    m = compute_metrics(t.result("fixed-fee"))
    assert m["borrower_loss_vs_hold_usd"] == 0  # not -500: the borrower would have walked away


def test_the_owners_own_flows_count_held_and_left_alike():
    """A tops up 1 WETH, borrows $500 and repays $2,000 after B and nothing else acts on it: held
    and left are the same position, so it adds nothing."""
    t = Tables(oracle_price=2000)
    t.position(A, 10, 15_000, 10, 13_500, final_weth=11)
    own = dict(keeper="borrower-0", strategy="borrower")
    t.ev(11, 0, "market", "Deposit", owner=A, amount=w(1), **own)
    t.ev(12, 0, "market", "Borrow", owner=A, amount=w(500), **own)
    t.ev(13, 0, "market", "Repay", owner=A, payer=A, amount=w(2_000), **own)
    assert compute_metrics(t.result("fixed-fee"))["borrower_loss_vs_hold_usd"] == 0


def test_usd_a_liquidation_credits_to_the_owner_is_part_of_what_is_left():
    """Absorb takes 1 WETH (worth $1,200), wipes $1,000 of debt and pays $116 of excess credit to
    the borrower's wallet: held 200, left 0 + 116."""
    t = absorb_tables(final_weth=0)
    assert compute_metrics(t.result("absorb"))["borrower_loss_vs_hold_usd"] == pytest.approx(84)


# ------------------------------------------------------------------------------ real runs

@pytest.fixture(scope="module")
def round_trip_runs():
    """WETH falls 17.5% in 90 minutes and comes back in 90 more, no noise; 10 borrowers at 70-79%
    loan-to-value."""
    sc = load_scenario("crash")
    sc = replace(sc, blocks=300, borrowers=replace(sc.borrowers, count=10, ltv_min_bps=7000),
                 price=replace(sc.price, knots=((0.0, 2000.0), (5400.0, 1650.0), (10800.0, 2000.0)),
                               noise_volatility_per_year=0.0))
    return {m: Simulation(sc, m, seed=1, backend=fastest_backend()).run() for m in ("soft", "fixed-fee")}


def _wad(x) -> int:
    return int(str(x))


def test_real_soft_round_trip_loses_the_collateral_sold_down_and_not_bought_back(round_trip_runs):
    r = round_trip_runs["soft"]
    m = compute_metrics(r)
    pos = r.tables["positions"]
    pos = pos[pos.at_risk]
    ev = r.tables["events"]
    assert not (ev.event == "HardLiquidation").any()  # only band conversions acted
    assert (ev.event == "Exchange").any()
    # the positions end with less WETH and the same debt (soft never touches it)
    assert (pos.final_debt_usd_wad.map(_wad) == pos.at_risk_debt_usd_wad.map(_wad)).all()
    fewer = pos.final_collateral_weth_wad.map(_wad) < pos.at_risk_collateral_weth_wad.map(_wad)
    assert fewer.any()
    # loss vs holding: the WETH not bought back and any USD left in the bands, at the final price
    price = _wad(r.tables["blocks"].reference_price_wad.iloc[-1])
    expected = sum((_wad(b) - _wad(f)) * price // WAD + _wad(hb) - _wad(hf) for b, f, hb, hf in zip(
        pos.at_risk_collateral_weth_wad, pos.final_collateral_weth_wad, pos.at_risk_held_usd_wad,
        pos.final_held_usd_wad, strict=True))
    assert m["borrower_loss_vs_hold_usd"] == pytest.approx(expected / WAD, abs=1e-6)
    # at the market price each conversion only lost its edge at the time: far less
    assert m["borrower_loss_vs_hold_usd"] > 2 * m["borrower_loss_usd"] > 0


def test_real_fixed_fee_sale_at_the_bottom_costs_more_than_its_bonus(round_trip_runs):
    m = compute_metrics(round_trip_runs["fixed-fee"])
    assert m["liquidations"] > 0
    assert m["borrower_loss_vs_hold_usd"] > 3 * m["borrower_loss_usd"] > 0


@pytest.fixture(scope="module")
def perp_run():
    sc = get_market("perp").example_scenario()
    sim = Simulation(sc, "fixed-fee", seed=1, backend=fastest_backend())
    try:
        return sim.run()
    finally:
        sim.close()


def test_perp_traders_loss_vs_holding_is_the_at_risk_position_and_own_deposits_at_the_path_end(perp_run):
    """Held: the margin and position when the account became at risk plus its own deposits (less
    funding), at the path-end price; left: the account's equity at the end; both floored at zero."""
    r = perp_run
    blocks = r.tables["blocks"]
    price = _wad(blocks[blocks.phase == "path"].reference_price_wad.iloc[-1])
    ev = r.tables["events"]
    market = ev[ev.contract == "market"]
    total, acted = 0, 0
    for row in r.tables["positions"].to_dict("records"):
        if not row["at_risk"]:
            continue
        owner = row["position"]
        mine = market[(market.position.str.lower() == owner.lower()) & (market.block >= row["at_risk_block"])]
        args = [json.loads(a) for a in mine.args]
        liquidated = any(n == "PositionChanged" and int(a["kind"]) != 0 for n, a in zip(mine.event, args, strict=True))
        if not liquidated:
            continue
        acted += 1
        deposits = sum(int(str(a["amount"])) for n, a in zip(mine.event, args, strict=True) if n == "Deposit")
        funding = sum(int(str(a["amount"])) for n, a in zip(mine.event, args, strict=True) if n == "FundingPaid")
        held = _wad(row["at_risk_margin_usd_wad"]) + deposits - funding + pm.unrealised_pnl(
            _wad(row["at_risk_size_weth_wad"]), _wad(row["at_risk_debt_usd_wad"]), price)
        left = _wad(row["final_margin_usd_wad"]) + pm.unrealised_pnl(
            _wad(row["final_size_weth_wad"]), _wad(row["final_debt_usd_wad"]), price)
        total += max(0, held) - max(0, left)
    assert acted > 0
    assert compute_metrics(r)["borrower_loss_vs_hold_usd"] == pytest.approx(total / WAD, abs=1e-6)
