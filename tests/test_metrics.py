"""Metrics: every rule of sandbox/metrics.py on hand-built tables where each number is known, and
the debt identity and counts on short real runs of each mechanism."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pandas as pd
import pytest

from sandbox.mechanisms import MECHANISMS
from sandbox.metrics import (
    HEADLINE_METRICS,
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    METRIC_COLUMNS,
    AccountingError,
    compute_metrics,
    enrich_events,
    metric_details,
)
from sandbox.scenarios import load_scenario
from sandbox.scenarios.schema import Scenario
from sandbox.simulation import RunResult, Simulation
from sandbox.units import WAD

# ------------------------------------------------------------------------------ hand-built tables

BLOCK_SECONDS = 36
A, B, C, D = "0xaaaa", "0xbbbb", "0xcccc", "0xdddd"
KEEPER_ADDR, TREASURY, MECH = "0x1111", "0x2222", "0x3333"
WETH_TOKEN, USD_TOKEN = "0x4444", "0x5555"


def w(x: float | str) -> int:
    """Decimal string or number -> WAD integer (exact for the decimals used here)."""
    from decimal import Decimal
    return int(Decimal(str(x)) * WAD)


def jsonable(args: dict) -> str:
    return json.dumps({k: (str(v) if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 2**53 else v)
                       for k, v in args.items()}, sort_keys=True)


class Tables:
    """A run's tables written by hand. Blocks 1..last_block are the price path unless
    ``settle_from`` starts a settle phase; the reference price equals the oracle's unless set
    with ``reference``."""

    def __init__(self, first_block: int = 1, last_block: int = 40, oracle_price: float = 2000.0,
                 reference_price: float | None = None, settle_from: int | None = None):
        self.events: list[dict] = []
        self.txs: list[dict] = []
        self.positions: list[dict] = []
        self.agents: list[dict] = []
        ref = oracle_price if reference_price is None else reference_price
        self.blocks = [{"block": b, "timestamp": 1_000_000 + b * BLOCK_SECONDS, "seconds": b * BLOCK_SECONDS,
                        "phase": "settle" if settle_from is not None and b >= settle_from else "path",
                        "oracle_price_usd": oracle_price, "amm_price_usd": oracle_price,
                        "reference_price_usd": ref, "reference_price_wad": str(w(ref))}
                       for b in range(first_block, last_block + 1)]
        self._log: dict[tuple[int, int], int] = {}
        self.health: dict[tuple[str, int], float] = {}  # (position, block) -> health at the reference

    def reference(self, price: float, from_block: int = 1) -> None:
        for b in self.blocks:
            if b["block"] >= from_block:
                b["reference_price_usd"], b["reference_price_wad"] = price, str(w(price))

    def ev(self, block: int, tx: int, contract: str, name: str, keeper: str = "keeper-k-0-0",
           strategy: str = "naive", **args) -> None:
        log = self._log.get((block, tx), 0)
        self._log[(block, tx)] = log + 1
        owner = str(args.get("owner", ""))
        phase = next((b["phase"] for b in self.blocks if b["block"] == block), "path")
        self.events.append({
            "mechanism": "m", "seed": 0, "block": block, "timestamp": 1_000_000 + block * BLOCK_SECONDS,
            "seconds": block * BLOCK_SECONDS, "phase": phase, "tx_index": tx, "log_index": log,
            "contract": contract, "event": name, "position": owner, "keeper": keeper, "strategy": strategy,
            "reference_price_usd": 0.0, "position_health_ref": self.health.get((owner, block), 0.9),
            "args": jsonable(args)})

    def tx(self, block: int, agent: str, tag: str, action: str, status: int, priority_fee: float, gas: float,
           builder_payment: float = 0.0, tx_index: int = 0) -> None:
        self.txs.append({"block": block, "tx_index": tx_index, "agent": agent, "tag": tag, "action": action,
                         "status": status, "priority_fee_usd": priority_fee, "gas_cost_usd": gas,
                         "builder_payment_usd": builder_payment})

    def oracle(self, block: int, tx: int, price: float) -> None:
        self.ev(block, tx, "oracle", "AnswerUpdated", keeper="oracle", strategy="oracle",
                current=w(price), roundId=len(self.events) + 1, updatedAt=1_000_000 + block * BLOCK_SECONDS)

    def position(self, owner: str, at_risk_block: int | None, debt: float, collateral: float, final_debt: float,
                 final_weth: float = 1.0, final_usd: float = 0.0, safe_block: int | None = None,
                 path_end: tuple[float, float, float] | None = None):
        """``path_end`` = (debt, WETH, USD held) when the path ended (default: the final state)."""
        p_debt, p_weth, p_usd = path_end or (final_debt, final_weth, final_usd)
        self.positions.append({
            "position": owner, "at_risk": at_risk_block is not None,
            "at_risk_block": -1 if at_risk_block is None else at_risk_block,
            "at_risk_seconds": math.nan if at_risk_block is None else float(at_risk_block * BLOCK_SECONDS),
            "at_risk_debt_usd_wad": str(w(debt) if at_risk_block is not None else 0),
            "at_risk_collateral_weth": collateral if at_risk_block is not None else 0.0,
            "final_debt_usd_wad": str(w(final_debt)), "final_debt_usd": final_debt,
            "final_collateral_weth_wad": str(w(final_weth)), "final_held_usd_wad": str(w(final_usd)),
            "path_end_debt_usd_wad": str(w(p_debt)), "path_end_collateral_weth_wad": str(w(p_weth)),
            "path_end_held_usd_wad": str(w(p_usd)),
            "safe_block": -1 if safe_block is None else safe_block,
            "safe_seconds": math.nan if safe_block is None else float(safe_block * BLOCK_SECONDS)})

    def result(self, mechanism: str, lt_bps: int = 8500) -> RunResult:
        sc = Scenario(name="hand-built")
        sc = replace(sc, lending=replace(sc.lending, liquidation_threshold_bps=lt_bps))
        tables = {
            "blocks": pd.DataFrame(self.blocks),
            "events": pd.DataFrame(self.events, columns=[
                "mechanism", "seed", "block", "timestamp", "seconds", "phase", "tx_index", "log_index",
                "contract", "event", "position", "keeper", "strategy", "reference_price_usd",
                "position_health_ref", "args"]),
            "txs": pd.DataFrame(self.txs, columns=["block", "tx_index", "agent", "tag", "action", "status",
                                                   "priority_fee_usd", "gas_cost_usd", "builder_payment_usd"]),
            "positions": pd.DataFrame(self.positions),
            "agents": pd.DataFrame(self.agents, columns=["agent", "kind", "strategy", "pnl_usd"]),
        }
        tables["events"]["mechanism"] = mechanism  # the rows name the run's mechanism, as recorded
        return RunResult(scenario=sc, mechanism=mechanism, seed=0, mechanism_params={}, tables=tables,
                         transactions=len(self.txs), blocks=len(self.blocks))


def fixed_fee_tables() -> Tables:
    """A: at risk in block 10 (debt 1000, 0.75 WETH); the oracle drops 2000 -> 1500 in tx 0 of
    block 10 and a keeper liquidates 500 for 0.35 WETH (0.01 fee) in tx 1; A borrows 50 in block
    11 and repays 100 in block 12. B: at risk in block 20 (debt 300, 0.2 WETH), liquidated in
    block 21: 200 repaid for 0.2 WETH, 100 written off. C: at risk (debt 400), never touched.
    D: never at risk. At the end (reference 2,000): A owes 450 against 0.4 WETH (covered), C owes
    400 against 0.15 WETH = 300 (100 short)."""
    t = Tables()
    t.position(A, 10, 1000, 0.75, 450, final_weth=0.4, safe_block=10)
    t.position(B, 20, 300, 0.2, 0, final_weth=0, safe_block=21)
    t.position(C, 30, 400, 1.0, 400, final_weth=0.15)
    t.position(D, None, 100, 1.0, 100)
    t.ev(2, 0, "market", "Borrow", keeper="borrower-3", strategy="borrower", owner=D, amount=w(100))
    t.oracle(10, 0, 1500)
    t.ev(10, 1, "market", "LiquidationRepaid", owner=A, payer=MECH, amount=w(500))
    t.ev(10, 1, "market", "CollateralSeized", owner=A, to=TREASURY, amount=w("0.01"))
    t.ev(10, 1, "market", "CollateralSeized", owner=A, to=KEEPER_ADDR, amount=w("0.34"))
    t.ev(10, 1, "mechanism", "Liquidated", owner=A, liquidator=KEEPER_ADDR, debtRepaid=w(500),
         collateralSeized=w("0.35"), protocolFee=w("0.01"), badDebt=0)
    t.ev(11, 0, "market", "Borrow", keeper="borrower-0", strategy="borrower", owner=A, amount=w(50))
    t.ev(12, 0, "market", "Repay", keeper="borrower-0", strategy="borrower", owner=A, payer=A, amount=w(100))
    t.ev(21, 0, "market", "LiquidationRepaid", owner=B, payer=MECH, amount=w(200))
    t.ev(21, 0, "market", "CollateralSeized", owner=B, to=KEEPER_ADDR, amount=w("0.2"))
    t.ev(21, 0, "market", "BadDebtWrittenOff", owner=B, amount=w(100))
    t.ev(21, 0, "mechanism", "Liquidated", owner=B, liquidator=KEEPER_ADDR, debtRepaid=w(200),
         collateralSeized=w("0.2"), protocolFee=0, badDebt=w(100))
    return t


def absorb_tables(**position) -> Tables:
    """A (debt 1000, 1 WETH) absorbed in block 3 at an oracle price of 1,200: 1 WETH taken, $1,000
    of debt wiped, $116 of excess credit paid to A's wallet. ``position`` overrides A's row."""
    t = Tables(oracle_price=1200)
    t.position(A, 3, 1000, 1.0, 0, **position)
    # the recorder leaves `position` empty for absorb events (their arg is `borrower`)
    t.ev(3, 0, "market", "CollateralSeized", owner=A, to=MECH, amount=w(1))
    t.ev(3, 0, "market", "LiquidationRepaid", owner=A, payer=MECH, amount=w(1000))
    t.ev(3, 0, "mechanism", "AbsorbCollateral", absorber=KEEPER_ADDR, borrower=A, collateralAbsorbed=w(1),
         usdValue=w(1200))
    t.ev(3, 0, "mechanism", "AbsorbDebt", absorber=KEEPER_ADDR, borrower=A, debtAbsorbed=w(1000),
         credit=w(1116), reservesPaid=w(1000), excessPaid=w(116), badDebt=0)
    return t


def test_debt_at_risk_ends_recovered_written_off_covered_open_or_short():
    m = compute_metrics(fixed_fee_tables().result("fixed-fee"))
    # at risk: 1000 + 50 borrowed after B + 300 + 400; D (never at risk) is excluded
    assert m["debt_at_risk_usd"] == pytest.approx(1750)
    assert m["debt_recovered_usd"] == pytest.approx(500 + 100 + 200)  # liquidations + A's own repay
    assert m["bad_debt_usd"] == pytest.approx(100)
    # still owed: A 450 (0.4 WETH x 2,000 = 800 covers it), C 400 against 0.15 x 2,000 = 300
    assert m["debt_open_covered_usd"] == pytest.approx(450 + 300)
    assert m["shortfall_usd"] == pytest.approx(100)
    assert m["lender_loss_usd"] == pytest.approx(100 + 100)  # bad debt + shortfall
    assert m["recovery_efficiency"] == pytest.approx(800 / 1750)


def test_metric_details_split_recovered_debt_by_who_paid_in_exact_wad():
    d = metric_details(fixed_fee_tables().result("fixed-fee"))
    o = d["outcome_wad"]
    assert o.at_risk == w(1750) == o.recovered + o.bad + o.covered + o.shortfall
    assert (o.covered, o.shortfall) == (w(750), w(100))
    assert d["debt_repaid_by_liquidation_usd"] == pytest.approx(700)
    assert d["debt_repaid_by_borrowers_usd"] == pytest.approx(100)
    assert d["debt_borrowed_after_at_risk_usd"] == pytest.approx(50)
    assert d["positions_at_risk"] == 3 and d["positions_liquidated"] == 2 and d["positions_short"] == 1


def test_identity_failure_raises_accounting_error_with_the_numbers():
    t = fixed_fee_tables()
    t.positions[0]["final_debt_usd_wad"] = str(w(450) + 1)  # one wei too much left open
    with pytest.raises(AccountingError, match=r"difference -1 wei"):
        compute_metrics(t.result("fixed-fee"))


def test_liquidation_of_a_position_never_at_risk_raises_accounting_error():
    t = fixed_fee_tables()
    t.ev(25, 0, "market", "LiquidationRepaid", owner=D, payer=MECH, amount=w(10))
    with pytest.raises(AccountingError, match="never at risk"):
        compute_metrics(t.result("fixed-fee"))


def test_liquidation_before_the_at_risk_block_raises_accounting_error():
    t = fixed_fee_tables()
    t.ev(5, 0, "market", "BadDebtWrittenOff", owner=C, amount=w(1))
    with pytest.raises(AccountingError, match="before its at_risk_block"):
        compute_metrics(t.result("fixed-fee"))


def test_no_position_at_risk_gives_nan_recovery_efficiency_and_time():
    t = Tables()
    t.position(D, None, 100, 1.0, 100)
    m = compute_metrics(t.result("fixed-fee"))
    assert m["debt_at_risk_usd"] == 0 and math.isnan(m["recovery_efficiency"])
    assert math.isnan(m["median_time_to_liquidate_s"]) and m["liquidations"] == 0


def test_fixed_fee_penalty_and_revenue_use_the_oracle_price_in_force_at_the_liquidation():
    m = compute_metrics(fixed_fee_tables().result("fixed-fee"))
    # A: 0.35 WETH at 1500 (the round landed earlier in the same block) - 500 repaid = 25
    # B: 0.2 WETH at 1500 - 200 repaid = 100. (At the block-start price 2000, A alone would be 200.)
    assert m["borrower_penalty_oracle_usd"] == pytest.approx(125)
    assert m["protocol_revenue_usd"] == pytest.approx(0.01 * 1500)


def test_private_revenue_adds_the_protocol_share_of_bids_but_not_the_operator_share():
    t = fixed_fee_tables()
    t.ev(10, 1, "mechanism", "BidPaid", roundId=1, winner=KEEPER_ADDR, bid=w(40), protocolAmount=w(32),
         operatorAmount=w(8))
    r = t.result("private")
    assert compute_metrics(r)["protocol_revenue_usd"] == pytest.approx(15 + 32)
    assert metric_details(r)["auction_operator_usd"] == pytest.approx(8)


def test_liquidations_count_distinct_transactions_and_time_to_liquidate_is_a_median():
    m = compute_metrics(fixed_fee_tables().result("fixed-fee"))
    assert m["liquidations"] == 2  # (10, 1) and (21, 0); B's repay + write-off is one transaction
    assert isinstance(m["liquidations"], int)
    # A: same block as at risk (0 s); B: one block later (36 s)
    assert m["median_time_to_liquidate_s"] == pytest.approx(18)


def test_over_liquidation_is_the_value_taken_beyond_the_repayment_restoring_hf_one():
    m = compute_metrics(fixed_fee_tables().result("fixed-fee"))
    # A: D 1000, C·p = 0.75 x 1500, LT 0.85, k = 525/500 = 1.05 -> r* = (1000 - 956.25)/(1 - 0.8925)
    r_star = (1000 - 0.75 * 1500 * 0.85) / (1 - 1.05 * 0.85)
    # B: k = 1.5, k·LT > 1: only full repayment restores HF, r* = D = 300 > 200 repaid -> 0
    assert m["over_liquidation_usd"] == pytest.approx((500 - r_star) * 1.05)


def dutch_tables() -> Tables:
    """P at risk in block 5 (debt 1000, 1 WETH, oracle 1500): bark (reward 30), redo (reward 20),
    take 0.6 WETH for 700 at oracle 1200, then take 0.3 WETH for 430 (300 repays, 130 penalty)
    at oracle 1000; the last 0.1 WETH is restored."""
    t = Tables(oracle_price=1500)
    t.position(A, 5, 1000, 1.0, 0, final_weth=0.1)
    t.ev(5, 0, "market", "LockChanged", owner=A, isLocked=True)
    t.ev(5, 0, "market", "CollateralSeized", owner=A, to=MECH, amount=w(1))
    t.ev(5, 0, "mechanism", "Bark", id=1, owner=A, collateral=w(1), debt=w(1000), tab=w(1130))
    t.ev(5, 0, "mechanism", "Kick", id=1, top=w(1800), tab=w(1130), lot=w(1), owner=A, kpr=KEEPER_ADDR, coin=w(30))
    t.ev(8, 0, "mechanism", "Redo", id=1, top=w(1500), tab=w(1130), lot=w(1), owner=A, kpr=KEEPER_ADDR, coin=w(20))
    t.oracle(9, 0, 1200)
    t.ev(9, 1, "market", "LiquidationRepaid", owner=A, payer=MECH, amount=w(700))
    t.ev(9, 1, "mechanism", "Take", id=1, maxPrice=w(2000), price=w("1166.666"), owe=w(700), tab=w(430),
         lot=w("0.4"), owner=A, who=KEEPER_ADDR)
    t.oracle(10, 0, 1000)
    t.ev(10, 1, "market", "LiquidationRepaid", owner=A, payer=MECH, amount=w(300))
    t.ev(10, 1, "mechanism", "PenaltyPaid", id=1, amount=w(130))
    t.ev(10, 1, "mechanism", "Take", id=1, maxPrice=w(2000), price=w("1433.33"), owe=w(430), tab=0,
         lot=w("0.1"), owner=A, who=KEEPER_ADDR)
    t.ev(10, 1, "market", "CollateralRestored", owner=A, **{"from": MECH}, amount=w("0.1"))
    t.ev(10, 1, "market", "LockChanged", owner=A, isLocked=False)
    t.ev(10, 1, "mechanism", "Settle", id=1, owner=A, collateralReturned=w("0.1"), debtWrittenOff=0)
    return t


def test_dutch_penalty_counts_take_slices_at_each_take_price_and_revenue_nets_keeper_rewards():
    m = compute_metrics(dutch_tables().result("dutch-auction"))
    assert m["debt_recovered_usd"] == pytest.approx(1000) and m["debt_open_covered_usd"] == 0
    # 0.6 x 1200 + 0.3 x 1000 - 1000 repaid; the restored 0.1 WETH was never taken
    assert m["borrower_penalty_oracle_usd"] == pytest.approx(20)
    assert m["protocol_revenue_usd"] == pytest.approx(130 - 30 - 20)
    assert m["liquidations"] == 2
    assert m["median_time_to_liquidate_s"] == pytest.approx(4 * BLOCK_SECONDS)  # first take, block 9


def test_english_penalty_counts_the_lot_dealt_to_the_winner_and_revenue_is_the_deal_penalty():
    t = Tables(oracle_price=1000)
    t.position(A, 5, 1000, 2.0, 0)
    t.ev(5, 0, "market", "CollateralSeized", owner=A, to=MECH, amount=w(2))
    t.ev(5, 0, "mechanism", "Bite", id=1, owner=A, lot=w(2), debt=w(1000), tab=w(1130), end=0)
    t.ev(9, 0, "market", "LiquidationRepaid", owner=A, payer=MECH, amount=w(1000))
    t.ev(9, 0, "market", "CollateralRestored", owner=A, **{"from": MECH}, amount=w("0.5"))
    t.ev(9, 0, "mechanism", "Deal", id=1, owner=A, winner=KEEPER_ADDR, lot=w("1.5"), bid=w(1130),
         debtRepaid=w(1000), penalty=w(130), collateralReturned=w("0.5"), badDebt=0)
    m = compute_metrics(t.result("english-auction"))
    assert m["borrower_penalty_oracle_usd"] == pytest.approx(1.5 * 1000 - 1000)
    assert m["protocol_revenue_usd"] == pytest.approx(130)


def test_absorb_penalty_nets_the_excess_credit_and_revenue_marks_inventory_at_the_final_price():
    t = absorb_tables()
    t.ev(4, 0, "mechanism", "BuyCollateral", buyer=KEEPER_ADDR, recipient=KEEPER_ADDR, usdAmount=w(579),
         collateralAmount=w("0.5"))
    t.oracle(6, 0, 1100)
    m = compute_metrics(t.result("absorb"))
    assert m["borrower_penalty_oracle_usd"] == pytest.approx(1200 - 116 - 1000)
    assert m["protocol_revenue_usd"] == pytest.approx(579 - 1116 + 0.5 * 1100)
    e = enrich_events(t.result("absorb").tables["events"])
    assert set(e.loc[e.event.str.startswith("Absorb"), "position"]) == {A}


def test_soft_penalty_is_hard_liquidation_loss_plus_band_conversion_loss_and_revenue_is_zero():
    t = Tables(oracle_price=2000)
    t.position(A, 10, 800, 0.3, 0)
    other = dict(keeper="arbitrageur", strategy="arbitrageur")
    t.ev(8, 0, "mechanism", "Exchange", buyer=KEEPER_ADDR, to=KEEPER_ADDR, buyCollateral=True,
         amountIn=w(1900), amountOut=w(1), bandFrom=1, bandTo=1, **other)  # loss 2000 - 1900 = 100
    t.ev(9, 0, "mechanism", "Exchange", buyer=KEEPER_ADDR, to=KEEPER_ADDR, buyCollateral=False,
         amountIn=w("0.5"), amountOut=w(1050), bandFrom=1, bandTo=1, **other)  # loss 1050 - 1000 = 50
    t.ev(10, 0, "market", "LiquidationRepaid", owner=A, payer=MECH, amount=w(800))
    t.ev(10, 0, "mechanism", "HardLiquidation", owner=A, keeper=KEEPER_ADDR, debtRepaid=w(800),
         collateralOut=w("0.3"), usdOut=w(500), badDebt=0)
    r = t.result("soft")
    m = compute_metrics(r)
    assert metric_details(r)["soft_conversion_loss_oracle_usd"] == pytest.approx(150)
    assert m["borrower_penalty_oracle_usd"] == pytest.approx(0.3 * 2000 + 500 - 800 + 150)
    assert m["protocol_revenue_usd"] == 0


def test_soft_debt_backed_by_usd_in_the_bands_is_covered_open_not_a_loss():
    """Regression: soft's positions ended with 0 WETH and 109% of their debt in USD in the bands;
    the table showed recovery 0% and all debt "still open". It is covered: lenders lose nothing."""
    t = Tables(oracle_price=1200)
    t.position(A, 10, 1000, 1.0, 1000, final_weth=0, final_usd=1090, safe_block=30)
    t.ev(12, 0, "mechanism", "Exchange", keeper="arbitrageur", strategy="arbitrageur", buyer=KEEPER_ADDR,
         to=KEEPER_ADDR, buyCollateral=True, amountIn=w(1090), amountOut=w(1), bandFrom=3, bandTo=9)
    m = compute_metrics(t.result("soft"))
    assert m["debt_open_covered_usd"] == pytest.approx(1000) and m["shortfall_usd"] == 0
    assert m["lender_loss_usd"] == 0 and m["debt_recovered_usd"] == 0
    # the band conversion is soft's liquidating action
    assert m["liquidations"] == m["soft_conversions"] == 1


def test_stuck_insolvent_debt_is_shortfall_and_a_lender_loss():
    """Regression: positions at HF 0.70-0.84 that nobody liquidated (gas too high) were shown as
    "open", not as a loss. Owed 1,100 against 0.5 WETH at the final reference 2,000 = 1,000."""
    t = Tables()
    t.position(A, 5, 1100, 0.5, 1100, final_weth=0.5)
    m = compute_metrics(t.result("fixed-fee"))
    assert m["debt_open_covered_usd"] == pytest.approx(1000)
    assert m["shortfall_usd"] == pytest.approx(100)
    assert m["lender_loss_usd"] == pytest.approx(100)
    assert m["median_time_to_safety_s"] == math.inf  # never covered


def test_open_debt_is_valued_at_the_final_reference_price_not_the_oracle():
    t = Tables(oracle_price=2500, reference_price=1800)  # the oracle says 2,500; the market pays 1,800
    t.position(A, 5, 1000, 0.5, 1000, final_weth=0.5)
    m = compute_metrics(t.result("fixed-fee"))
    assert (m["debt_open_covered_usd"], m["shortfall_usd"]) == pytest.approx((900, 100))


def faulty_oracle_tables() -> Tables:
    """The market pays 2,000 while the oracle reports 1,540 (23% low). A (1 WETH, debt 1,400: health
    at the market price 1.21) is liquidated: 700 repaid for 700 x 1.05 / 1,540 WETH."""
    t = Tables(oracle_price=1540, reference_price=2000)
    seized = w(700) * 105 // 100 * WAD // w(1540)
    t.position(A, 3, 1400, 1.0, 700, final_weth=1 - seized / WAD, safe_block=3)
    t.health[(A, 3)] = 1.214285714
    t.ev(3, 0, "market", "LiquidationRepaid", owner=A, payer=MECH, amount=w(700))
    t.ev(3, 0, "market", "CollateralSeized", owner=A, to=KEEPER_ADDR, amount=seized)
    t.seized = seized
    return t


def test_borrower_loss_is_valued_at_the_reference_price_beside_the_oracle_penalty():
    """Regression: under a faulty oracle the penalty at the oracle's price reads the 5% bonus
    while borrowers lost far more at the market price."""
    t = faulty_oracle_tables()
    m = compute_metrics(t.result("fixed-fee"))
    assert m["borrower_penalty_oracle_usd"] == pytest.approx(35, abs=1e-9)  # 5% of 700
    assert m["borrower_loss_usd"] == pytest.approx(t.seized / WAD * 2000 - 700)  # 254.5
    assert m["borrower_loss_usd"] > 7 * m["borrower_penalty_oracle_usd"]


def test_a_liquidation_of_a_position_safe_at_the_reference_price_is_wrongful():
    t = faulty_oracle_tables()
    t.position(B, 8, 1000, 0.6, 0, final_weth=0)  # liquidated while under water at the market price
    t.ev(8, 0, "market", "LiquidationRepaid", owner=B, payer=MECH, amount=w(1000))
    t.ev(8, 0, "market", "CollateralSeized", owner=B, to=KEEPER_ADDR, amount=w("0.6"))
    m = compute_metrics(t.result("fixed-fee"))
    assert m["liquidations"] == 2
    assert m["wrongful_liquidations"] == 1  # A only: its health at the market price was 1.21
    assert m["wrongful_liquidation_value_usd"] == pytest.approx(t.seized / WAD * 2000)


def test_an_auction_selling_above_a_faulty_oracle_shows_a_negative_oracle_penalty_and_a_real_loss():
    t = Tables(oracle_price=1000, reference_price=1300)
    t.position(A, 5, 1000, 1.0, 0, final_weth=0.1)
    t.ev(5, 0, "mechanism", "Bark", id=1, owner=A, collateral=w(1), debt=w(1000), tab=w(1130))
    t.ev(5, 0, "mechanism", "Kick", id=1, top=w(1200), tab=w(1130), lot=w(1), owner=A, kpr=KEEPER_ADDR, coin=0)
    t.ev(9, 0, "market", "LiquidationRepaid", owner=A, payer=MECH, amount=w(1000))
    t.ev(9, 0, "mechanism", "Take", id=1, maxPrice=w(1200), price=w(1130), owe=w(1130), tab=0, lot=w("0.1"),
         owner=A, who=KEEPER_ADDR)
    m = compute_metrics(t.result("dutch-auction"))
    assert m["borrower_penalty_oracle_usd"] == pytest.approx(0.9 * 1000 - 1000)  # -100
    assert m["borrower_loss_usd"] == pytest.approx(0.9 * 1300 - 1000)  # +170


def soft_conversion_tables() -> Tables:
    """The arbitrageur converts band WETH into USD twice (one reverted attempt) and once back."""
    t = Tables(oracle_price=2000, reference_price=1950)
    t.position(A, 10, 800, 0.3, 800, final_weth=0, final_usd=900)
    arb = dict(keeper="arbitrageur", strategy="arbitrageur")
    t.ev(8, 0, "mechanism", "Exchange", buyer=KEEPER_ADDR, to=KEEPER_ADDR, buyCollateral=True,
         amountIn=w(1900), amountOut=w(1), bandFrom=1, bandTo=1, **arb)  # at 1,950: +50 for the trader
    t.ev(9, 0, "mechanism", "Exchange", buyer=KEEPER_ADDR, to=KEEPER_ADDR, buyCollateral=True,
         amountIn=w(950), amountOut=w("0.5"), bandFrom=1, bandTo=2, **arb)  # +25
    t.ev(11, 0, "mechanism", "Exchange", buyer=KEEPER_ADDR, to=KEEPER_ADDR, buyCollateral=False,
         amountIn=w("0.2"), amountOut=w(400), bandFrom=2, bandTo=2, **arb)  # 400 - 390 = +10
    for block, action, status, gas in ((8, "soft-liquidate", 1, 4.0), (9, "soft-liquidate", 1, 4.0),
                                       (10, "soft-liquidate", 0, 3.0), (11, "de-liquidate", 1, 4.0)):
        t.tx(block, "arbitrageur", "arbitrage", action, status, 1.0, gas)
    t.tx(12, "arbitrageur", "arbitrage", "", 1, 9.0, 9.0)  # an AMM trade
    t.agents = [{"agent": "keeper-k-0-0", "kind": "keeper", "strategy": "naive", "pnl_usd": -5.0},
                {"agent": "arbitrageur", "kind": "arbitrageur", "strategy": "arbitrageur", "pnl_usd": 500.0}]
    return t


def test_keeper_profit_includes_the_arbitrageurs_band_conversions_at_the_reference_price_after_gas():
    m = compute_metrics(soft_conversion_tables().result("soft"))
    # keepers -5; conversions 50 + 25 + 10 at the reference price, minus 15 of gas on its
    # conversion transactions (the reverted one too), not its AMM trade nor its other P&L
    assert m["keeper_profit_usd"] == pytest.approx(-5 + 85 - 15)


def test_soft_borrowers_lose_the_conversion_loss_at_the_reference_price_beside_the_oracle_price():
    r = soft_conversion_tables().result("soft")
    m = compute_metrics(r)
    assert m["borrower_loss_usd"] == pytest.approx(85)
    assert m["borrower_penalty_oracle_usd"] == pytest.approx(100 + 50 - 0)  # at 2,000: 100, 50, 0


def test_band_conversions_count_as_liquidations_and_their_fees_as_mev_and_gas():
    r = soft_conversion_tables().result("soft")
    m = compute_metrics(r)
    assert m["soft_conversions"] == 2 and m["liquidations"] == 2  # de-liquidation back is not one
    assert metric_details(r)["soft_deconversions"] == 1
    assert m["mev_leaked_usd"] == pytest.approx(4.0)  # the four conversion transactions
    assert m["gas_spent_usd"] == pytest.approx(15.0)
    assert m["failed_liquidation_txs"] == 1


def test_time_to_safety_is_the_median_from_at_risk_to_covered_with_never_counting_as_infinite():
    t = fixed_fee_tables()  # A covered in its at-risk block (0 s), B one block later, C never
    assert compute_metrics(t.result("fixed-fee"))["median_time_to_safety_s"] == pytest.approx(BLOCK_SECONDS)
    t.positions[1]["safe_block"], t.positions[1]["safe_seconds"] = -1, math.nan
    assert compute_metrics(t.result("fixed-fee"))["median_time_to_safety_s"] == math.inf


def test_outcomes_at_the_path_end_use_path_events_and_the_path_end_positions():
    """The path ends after block 20; A is liquidated in the settle phase (block 25). At the path
    end A's 1,000 was open against 0.45 WETH at 2,000 = 900 (100 short); B, at risk only in the
    settle phase, is not counted there."""
    t = Tables(settle_from=21)
    t.position(A, 10, 1000, 0.5, 0, final_weth=0, path_end=(1000, 0.45, 0))
    t.position(B, 22, 200, 1.0, 200, final_weth=1.0)
    t.ev(25, 0, "market", "LiquidationRepaid", owner=A, payer=MECH, amount=w(950))
    t.ev(25, 0, "market", "BadDebtWrittenOff", owner=A, amount=w(50))
    m = compute_metrics(t.result("fixed-fee"))
    assert m["debt_at_risk_at_path_end_usd"] == pytest.approx(1000)
    assert m["debt_recovered_at_path_end_usd"] == 0 and m["bad_debt_at_path_end_usd"] == 0
    assert m["debt_open_covered_at_path_end_usd"] == pytest.approx(900)
    assert m["shortfall_at_path_end_usd"] == pytest.approx(100)
    assert (m["debt_recovered_usd"], m["bad_debt_usd"], m["debt_open_covered_usd"]) == pytest.approx((950, 50, 200))


def test_the_path_end_identity_is_checked_too():
    t = Tables(settle_from=21)
    t.position(A, 10, 1000, 0.5, 0, final_weth=0, path_end=(999, 0.45, 0))  # 1 USD vanished by the path end
    t.ev(25, 0, "market", "LiquidationRepaid", owner=A, payer=MECH, amount=w(1000))
    with pytest.raises(AccountingError, match="end of the price path"):
        compute_metrics(t.result("fixed-fee"))


def test_mev_gas_failures_and_keeper_profit_come_from_liquidation_txs_and_keeper_ledgers():
    t = fixed_fee_tables()
    t.tx(10, "keeper-k-0-0", "liquidation", "liquidate", 1, 1.5, 10.0, tx_index=1)
    t.tx(10, "keeper-j-1-0", "liquidation", "liquidate", 0, 0.5, 4.0, tx_index=2)
    t.tx(10, "keeper-j-1-0", "liquidation", "builder-payment", 1, 0.0, 1.0, builder_payment=20.0, tx_index=3)
    t.tx(10, "arbitrageur", "arbitrage", "", 1, 9.0, 9.0, tx_index=4)
    t.agents = [{"agent": "keeper-k-0-0", "kind": "keeper", "strategy": "naive", "pnl_usd": 100.0},
                {"agent": "keeper-j-1-0", "kind": "keeper", "strategy": "pga", "pnl_usd": -30.0},
                {"agent": "arbitrageur", "kind": "arbitrageur", "strategy": "arbitrageur", "pnl_usd": 500.0}]
    m = compute_metrics(t.result("fixed-fee"))
    assert m["mev_leaked_usd"] == pytest.approx(2.0 + 20.0)  # priority fees and the bundle's payment
    assert m["gas_spent_usd"] == pytest.approx(15.0)
    assert m["failed_liquidation_txs"] == 1 and isinstance(m["failed_liquidation_txs"], int)
    assert m["keeper_profit_usd"] == pytest.approx(70.0)


def amm_tables() -> Tables:
    """The AMM starts at 1000 WETH / 2,000,000 USD (first swap has no earlier Sync). A keeper sells
    10 WETH, the arbitrageur sells 50 WETH, a keeper buys WETH back."""
    t = fixed_fee_tables()
    t.agents = [{"agent": "keeper-k-0-0", "kind": "keeper", "strategy": "naive", "pnl_usd": 0.0},
                {"agent": "arbitrageur", "kind": "arbitrageur", "strategy": "arbitrageur", "pnl_usd": 0.0}]
    r0, r1 = w(1000), w(2_000_000)

    def swap(block, weth_in, amount_in, keeper, strategy):
        nonlocal r0, r1
        if weth_in:
            out = amount_in * 9970 * r1 // (r0 * 10_000 + amount_in * 9970)
            r0, r1 = r0 + amount_in, r1 - out
        else:
            out = amount_in * 9970 * r0 // (r1 * 10_000 + amount_in * 9970)
            r0, r1 = r0 - out, r1 + amount_in
        t.ev(block, 0, "amm", "Sync", keeper=keeper, strategy=strategy, reserve0=r0, reserve1=r1)
        t.ev(block, 0, "amm", "Swap", keeper=keeper, strategy=strategy, sender=KEEPER_ADDR,
             tokenIn=WETH_TOKEN if weth_in else USD_TOKEN, amountIn=amount_in, amountOut=out, to=KEEPER_ADDR)
        return out

    before = 2_000_000 / 1000
    out = swap(3, True, w(10), "keeper-k-0-0", "naive")
    t.expected_drop_bps = (before - (2_000_000 - out / WAD) / 1010) / before * 10_000
    t.expected_first_swap = (10.0, out / WAD)
    swap(4, True, w(50), "arbitrageur", "arbitrageur")
    swap(5, False, w(300_000), "keeper-k-0-0", "naive")
    return t


def test_max_price_impact_is_the_largest_drop_from_one_keeper_swap_of_weth_into_the_amm():
    t = amm_tables()
    m = compute_metrics(t.result("fixed-fee"))
    # the arbitrageur's larger sale and the keeper's purchase do not count
    assert m["max_price_impact_bps"] == pytest.approx(t.expected_drop_bps, rel=1e-9)
    assert 80 < m["max_price_impact_bps"] < 250


def test_enrich_events_parses_amounts_per_event_type_and_swap_direction():
    t = amm_tables()
    e = enrich_events(t.result("fixed-fee").tables["events"])
    assert {"debt_usd", "collateral_weth", "usd_amount"} <= set(e.columns)
    liq = e[e.event == "Liquidated"].iloc[0]
    assert (liq.debt_usd, liq.collateral_weth, liq.usd_amount) == pytest.approx((500, 0.35, 500))
    assert e[e.event == "Borrow"].debt_usd.tolist() == [100, 50]
    assert math.isnan(e[e.event == "Borrow"].iloc[0].collateral_weth)
    first = e[e.event == "Swap"].iloc[0]  # resolved without an earlier Sync
    assert (first.collateral_weth, first.usd_amount) == pytest.approx(t.expected_first_swap)
    buy = e[e.event == "Swap"].iloc[2]  # USD in: WETH out in collateral_weth, USD in usd_amount
    assert buy.usd_amount == pytest.approx(300_000)
    takes = enrich_events(dutch_tables().result("dutch-auction").tables["events"])
    assert takes[takes.event == "Take"].collateral_weth.tolist() == pytest.approx([0.6, 0.3])
    assert len(enrich_events(t.result("fixed-fee").tables["events"].iloc[:0])) == 0


def test_metric_lists_are_consistent():
    assert len(set(METRIC_COLUMNS)) == len(METRIC_COLUMNS)
    assert set(HEADLINE_METRICS) <= set(METRIC_COLUMNS)
    assert len(set(HEADLINE_METRICS)) == len(HEADLINE_METRICS)
    assert not HIGHER_IS_BETTER & LOWER_IS_BETTER
    assert (HIGHER_IS_BETTER | LOWER_IS_BETTER) <= set(METRIC_COLUMNS)


# ------------------------------------------------------------------------------ real runs

REAL_MECHANISMS = MECHANISMS.names()
REPAYING_ACTIONS = {"liquidate", "liquidate-with-bid", "take", "hard-liquidate", "absorb", "deal"}


@pytest.fixture(scope="module")
def runs():
    sc = load_scenario("crash")
    sc = replace(sc, blocks=90, borrowers=replace(sc.borrowers, count=10),
                 mechanisms={"dutch-auction": {"step_seconds": 36, "cut_bps": 9700}})
    return {m: Simulation(sc, m, seed=1).run() for m in REAL_MECHANISMS}


@pytest.mark.parametrize("mechanism", REAL_MECHANISMS)
def test_real_run_debt_identity_holds_exactly_at_the_end_and_at_the_path_end(runs, mechanism):
    r = runs[mechanism]
    d = metric_details(r)
    for o in (d["outcome_wad"], d["outcome_at_path_end_wad"]):
        assert o.at_risk == o.recovered + o.bad + o.covered + o.shortfall
    m = compute_metrics(r)
    assert list(m) == METRIC_COLUMNS
    assert m["debt_at_risk_usd"] > 0  # the crash puts positions at risk on every mechanism
    parts = ("debt_recovered_usd", "bad_debt_usd", "debt_open_covered_usd", "shortfall_usd")
    assert sum(m[c] for c in parts) == pytest.approx(m["debt_at_risk_usd"], abs=0.01)
    assert m["lender_loss_usd"] == pytest.approx(m["bad_debt_usd"] + m["shortfall_usd"])
    assert 0 <= m["recovery_efficiency"] <= 1


@pytest.mark.parametrize("mechanism", REAL_MECHANISMS)
def test_real_run_keeper_profit_is_the_keeper_ledgers_plus_non_keepers_band_conversions(runs, mechanism):
    r = runs[mechanism]
    expected = sum(a.ledger.pnl_usd for a in r.agents if a.kind == "keeper") / WAD
    d = metric_details(r)
    assert compute_metrics(r)["keeper_profit_usd"] == pytest.approx(expected + d["converter_profit_usd"], abs=1e-6)
    assert (d["converter_profit_usd"] != 0) == (mechanism == "soft")


@pytest.mark.parametrize("mechanism", REAL_MECHANISMS)
def test_real_run_liquidation_counts_match_transactions(runs, mechanism):
    r = runs[mechanism]
    m = compute_metrics(r)
    txs = r.tables["txs"]
    liq = txs[(txs.tag == "liquidation") | txs.action.isin(["soft-liquidate", "de-liquidate"])]
    repaying = liq[(liq.status == 1) & liq.action.isin(REPAYING_ACTIONS)]
    converting = liq[(liq.status == 1) & (liq.action == "soft-liquidate")]
    assert m["liquidations"] == len(repaying) + len(converting)
    assert m["soft_conversions"] == len(converting)
    assert m["failed_liquidation_txs"] == int((liq.status == 0).sum())
    assert m["gas_spent_usd"] == pytest.approx(liq.gas_cost_usd.sum())


def test_real_runs_liquidate_on_fixed_fee_dutch_private_and_absorb(runs):
    for mechanism in ("fixed-fee", "dutch-auction", "private", "absorb"):
        m = compute_metrics(runs[mechanism])
        assert m["liquidations"] > 0 and m["debt_recovered_usd"] > 0, mechanism
        assert m["median_time_to_liquidate_s"] >= 0
        assert m["borrower_penalty_oracle_usd"] > 0 and m["borrower_loss_usd"] > 0, mechanism


def test_real_fixed_fee_penalty_is_the_bonus_on_the_debt_repaid(runs):
    r = runs["fixed-fee"]
    bonus = r.mechanism_params["bonus_bps"] / 10_000
    d = metric_details(r)
    # seized = repaid x (1 + bonus) / price at the liquidation's own oracle price (to rounding)
    assert compute_metrics(r)["borrower_penalty_oracle_usd"] == pytest.approx(
        d["debt_repaid_by_liquidation_usd"] * bonus, rel=1e-6)


def test_real_soft_run_borrowers_lose_to_band_conversion(runs):
    d = metric_details(runs["soft"])
    assert d["soft_conversion_loss_oracle_usd"] > 0  # falling prices: arbitrageurs buy band WETH below the oracle
    assert d["soft_conversion_loss_reference_usd"] > 0


def test_real_soft_run_converts_bands_and_its_open_debt_is_covered_not_lost(runs):
    m = compute_metrics(runs["soft"])
    assert m["soft_conversions"] > 0 and m["liquidations"] >= m["soft_conversions"]
    assert m["debt_open_covered_usd"] > 0 and m["lender_loss_usd"] == 0


def test_dropping_a_liquidation_repaid_row_raises_accounting_error(runs):
    r = runs["fixed-fee"]
    ev = r.tables["events"]
    idx = ev.index[ev.event == "LiquidationRepaid"][0]
    tampered = replace(r, tables={**r.tables, "events": ev.drop(index=idx)})
    with pytest.raises(AccountingError, match="debt at risk"):
        compute_metrics(tampered)


def test_unmarking_a_liquidated_position_raises_accounting_error(runs):
    r = runs["dutch-auction"]
    pos = r.tables["positions"].copy()
    ev = r.tables["events"]
    owner = ev[ev.event == "LiquidationRepaid"].position.iloc[0]
    pos.loc[pos.position == owner, "at_risk"] = False
    with pytest.raises(AccountingError, match="never at risk"):
        compute_metrics(replace(r, tables={**r.tables, "positions": pos}))


@pytest.fixture(scope="module")
def faulty_oracle_runs():
    """The crash's first 36 minutes with the oracle 23% below the market from 6 to 30 minutes."""
    sc = load_scenario("crash")
    sc = replace(sc, blocks=60, borrowers=replace(sc.borrowers, count=10),
                 oracle=replace(sc.oracle, faults=((360.0, 1800.0, 0.77),)))
    return {m: Simulation(sc, m, seed=1).run() for m in ("fixed-fee", "dutch-auction")}


def test_real_faulty_oracle_borrowers_lose_more_at_the_market_price_than_the_oracle_shows(faulty_oracle_runs):
    """Regression: valuing at the oracle hid borrowers' losses under a faulty oracle (fixed-fee read
    the 5% bonus; Dutch auctions that sold above the faulty oracle read a negative penalty)."""
    fixed = compute_metrics(faulty_oracle_runs["fixed-fee"])
    assert fixed["borrower_loss_usd"] > 3 * fixed["borrower_penalty_oracle_usd"] > 0
    dutch = compute_metrics(faulty_oracle_runs["dutch-auction"])
    assert dutch["borrower_penalty_oracle_usd"] < 0 < dutch["borrower_loss_usd"]
    for m in (fixed, dutch):
        assert m["wrongful_liquidations"] > 0 and m["wrongful_liquidation_value_usd"] > 0



def test_enrich_events_reads_each_run_alone_when_runs_share_block_keys():
    """Two runs' events share (block, tx, log) keys: each row's amounts come from its own run."""
    def run(seed: int, repaid: float) -> pd.DataFrame:
        t = Tables()
        t.ev(5, 0, "market", "LiquidationRepaid", borrower="0x01", amount=w(repaid))
        return t.result("fixed-fee").tables["events"].assign(seed=seed)

    both = pd.concat([run(0, 100.0), run(1, 7.0)], ignore_index=True)
    assert enrich_events(both)["debt_usd"].tolist() == [100.0, 7.0]
