"""Metrics of one run (one mechanism, one seed), computed from its chain events and batched reads.

Every number below is a sum over rows of ``RunResult.tables`` — market and mechanism events
(``events``, amounts as exact WAD integers in ``args``), transactions (``txs``), the block table
(``blocks``), the end-of-run position reads (``positions``) and the agents' ledgers (``agents``) —
so each can be traced back to a block, a transaction and a log.

Words used below
----------------
- *At-risk position*: a position with ``positions.at_risk`` (it began a block with HF < 1, or a
  back-run liquidated it inside the block that made it liquidatable); ``B`` is its
  ``at_risk_block``. "After B" means events in blocks >= B.
- *Oracle price at an event*: the answer in force when the event was emitted: the newest
  ``AnswerUpdated`` round emitted earlier in the run (earlier block, or earlier in the same block)
  whose ``updatedAt + oracle.delay_seconds`` is at most the event's block timestamp; before the
  first recorded round, the block's ``oracle_price_usd``. (This differs from the block-start price
  only when a round lands in the same block as the event, which is exactly when back-runs fire.)

Debt (exact WAD integers)
-------------------------
- ``debt_at_risk_usd`` = Σ over at-risk positions of (debt at the start of B,
  ``at_risk_debt_usd_wad``) + (``Borrow`` amounts of that position after B).
- ``debt_recovered_usd`` = Σ over at-risk positions, after B, of ``LiquidationRepaid`` amounts
  (whoever paid: keeper, auction or protocol reserves) + the borrower's own ``Repay`` amounts.
  ``metric_details`` splits it into ``debt_repaid_by_liquidation_usd`` and
  ``debt_repaid_by_borrowers_usd``.
- ``bad_debt_usd`` = Σ ``BadDebtWrittenOff`` amounts of at-risk positions after B.
- ``debt_open_usd`` = Σ ``final_debt_usd_wad`` of at-risk positions.
- Identity, checked in exact integers on every call: at_risk = recovered + bad + open; otherwise
  ``AccountingError`` with the numbers. Also every ``LiquidationRepaid`` / ``BadDebtWrittenOff``
  must belong to an at-risk position, in a block >= its B (else ``AccountingError``).
- ``recovery_efficiency`` = recovered / at_risk (NaN when nothing was at risk).

Borrower penalty
----------------
``borrower_penalty_usd`` = value of what was taken from at-risk borrowers (WETH at the oracle
price at the event that took it, plus USD taken, minus USD credited back) − their debt repaid by
liquidation (``LiquidationRepaid``), plus, for the soft mechanism, the conversion loss of the
bands. What counts as "taken" depends on the mechanism (``PENALTY_RULES``):

==================  ====================================================================================
rule                collateral taken from the borrower
==================  ====================================================================================
seized              fixed-fee, private: every market ``CollateralSeized`` (to the liquidator and the fee
                    to the treasury), at the liquidation's oracle price.
auction-sales       dutch-auction, english-auction: collateral seized into an auction stays the
                    borrower's (the market counts it as held collateral) until sold: dutch ``Take``
                    slices (lot before − lot after, lots from ``Kick``/``Redo``/``Take``) and english
                    ``Deal.lot`` (to the winner), each at the sale's oracle price. Leftovers restored at
                    ``Settle``/``Deal`` and lots unsold at the end are not taken.
absorbed            absorb: ``AbsorbCollateral.usdValue`` (collateral × the oracle price the contract
                    used) minus ``AbsorbDebt.excessPaid`` (USD credited back to the borrower).
soft                soft: the market's ``CollateralSeized`` only moves collateral into the bands, so:
                    ``HardLiquidation`` collateralOut at the oracle price + usdOut; plus the conversion
                    loss Σ over every ``Exchange`` of (oracle value of what the trader took out of the
                    bands − oracle value of what it put in) — LLAMMA's loss to its borrowers, pool-wide
                    (bands are shared, so it includes positions never at risk; it is negative when
                    traders overpay, e.g. de-liquidation above the oracle).
seized-net          any other mechanism: ``CollateralSeized`` − ``CollateralRestored``, each at its
                    event's oracle price (approximate if collateral sits in custody while prices move).
==================  ====================================================================================

Money flows
-----------
- ``keeper_profit_usd`` = Σ ``agents.pnl_usd`` of agents of kind "keeper" (token P&L marked at the
  final reference price, minus gas and priority fees).
- ``mev_leaked_usd`` = Σ ``txs.priority_fee_usd`` + Σ ``txs.builder_payment_usd`` of liquidation
  transactions (tag "liquidation", landed or reverted): what keepers paid the block builder, as
  priority fees and as bundle bids (ether sent to the block's coinbase). The private mechanism's operator
  share of bids (``BidPaid.operatorAmount``) is *not* included (see ``metric_details``:
  ``auction_operator_usd``).
- ``protocol_revenue_usd`` (``REVENUE_RULES``): fixed-fee: Σ ``Liquidated.protocolFee`` (WETH at
  the oracle price); private: the same + Σ ``BidPaid.protocolAmount``; dutch-auction:
  Σ ``PenaltyPaid.amount`` − Σ ``Kick.coin`` − Σ ``Redo.coin`` (keeper incentives paid from the
  protocol's reserve); english-auction: Σ ``Deal.penalty``; absorb: the change in the protocol's
  reserves plus inventory: Σ ``BuyCollateral.usdAmount`` − Σ (``AbsorbDebt.reservesPaid`` +
  ``excessPaid``) + (WETH absorbed − WETH sold) × the final oracle price; soft: 0 (the swap fee
  stays in the bands, with the borrowers, as on mainnet). Another mechanism: the sum of every
  rule above whose events it emits.
- ``gas_spent_usd`` = Σ ``txs.gas_cost_usd`` of liquidation transactions (landed or reverted).

Counts and timing
-----------------
- ``liquidations`` = number of distinct landed transactions (block, tx_index) that emitted a
  ``LiquidationRepaid`` or ``BadDebtWrittenOff`` (a dutch ``bark`` or english ``bite`` alone is not
  one; the take or deal that repays is).
- ``failed_liquidation_txs`` = liquidation transactions with status 0.
- ``median_time_to_liquidate_s`` = median over liquidated at-risk positions of (``seconds`` of the
  block of the position's first ``LiquidationRepaid``/``BadDebtWrittenOff`` − ``at_risk_seconds``);
  0 for a same-block back-run; NaN when nothing was liquidated.
- ``max_price_impact_bps`` = the largest AMM price drop caused by one ``Swap`` that sent WETH into
  the AMM in a transaction sent by a keeper (keeper contracts included): AMM price
  reserve1/reserve0 from the ``Sync`` before the swap (or, for the run's first swap, the reserves
  implied by the swap) versus its own ``Sync``, in bps; 0 when keepers never sold.
- ``over_liquidation_usd`` (approximation) = Σ over liquidated at-risk positions, for the
  liquidations in the position's first liquidated block: with D the debt and C·p the collateral
  value just before them (D and C replayed from the at-risk snapshot and the position's events;
  for soft, C·p = what the hard liquidation took, since it takes everything), p the oracle price,
  LT = ``scenario.lending.liquidation_threshold_bps`` / 10⁴, repaid the debt repaid in that block
  and k = (value taken in that block) / repaid, the repayment that would have restored HF = 1 is
  r* = max(0, (D − C·p·LT) / (1 − k·LT)) when 1 − k·LT > 0 (else r* = D); over = max(0, repaid − r*)·k.
"""

from __future__ import annotations

import bisect
import json
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sandbox.units import WAD

if TYPE_CHECKING:  # pragma: no cover
    from sandbox.simulation import RunResult

METRIC_COLUMNS = [
    "debt_at_risk_usd", "debt_recovered_usd", "bad_debt_usd", "debt_open_usd", "recovery_efficiency",
    "borrower_penalty_usd", "keeper_profit_usd", "mev_leaked_usd", "protocol_revenue_usd",
    "gas_spent_usd", "liquidations", "failed_liquidation_txs", "median_time_to_liquidate_s",
    "max_price_impact_bps", "over_liquidation_usd",
]
HEADLINE_METRICS = [
    "debt_at_risk_usd", "debt_recovered_usd", "bad_debt_usd", "debt_open_usd", "recovery_efficiency",
    "borrower_penalty_usd", "keeper_profit_usd", "mev_leaked_usd", "protocol_revenue_usd",
    "median_time_to_liquidate_s",
]
HIGHER_IS_BETTER = {"recovery_efficiency", "debt_recovered_usd", "protocol_revenue_usd"}
LOWER_IS_BETTER = {
    "bad_debt_usd", "debt_open_usd", "borrower_penalty_usd", "mev_leaked_usd", "gas_spent_usd",
    "failed_liquidation_txs", "median_time_to_liquidate_s", "max_price_impact_bps", "over_liquidation_usd",
}

# How collateral taken from borrowers is found, per mechanism (see the module docstring).
PENALTY_RULES = {
    "fixed-fee": "seized",
    "private": "seized",
    "dutch-auction": "auction-sales",
    "english-auction": "auction-sales",
    "absorb": "absorbed",
    "soft": "soft",
}
DEFAULT_PENALTY_RULE = "seized-net"

# Protocol revenue components, per mechanism (see the module docstring).
REVENUE_COMPONENTS = ("liquidation-fee", "bid-share", "auction-penalty", "keeper-incentives",
                      "english-penalty", "absorb-reserves")
REVENUE_RULES = {
    "fixed-fee": ("liquidation-fee",),
    "private": ("liquidation-fee", "bid-share"),
    "dutch-auction": ("auction-penalty", "keeper-incentives"),
    "english-auction": ("english-penalty",),
    "absorb": ("absorb-reserves",),
    "soft": (),
}
DEFAULT_REVENUE_RULE = REVENUE_COMPONENTS

LIQUIDATION_TAG = "liquidation"
DEBT_CLOSING_EVENTS = ("LiquidationRepaid", "BadDebtWrittenOff")
DEFAULT_LIQUIDATION_THRESHOLD_BPS = 8500
OVER_LIQUIDATION_FLOOR_USD = 1e-6

# enrich_events: event -> (debt_usd field, collateral_weth field, usd_amount field); None: NaN.
# Fields that need the event's neighbours (dutch Take slice, AMM Swap direction, soft Exchange
# direction, absorb payments) are filled in enrich_events itself.
EVENT_AMOUNTS: dict[str, tuple[str | None, str | None, str | None]] = {
    # market
    "Deposit": (None, "amount", None),
    "Withdraw": (None, "amount", None),
    "Borrow": ("amount", None, None),
    "Repay": ("amount", None, "amount"),
    "CollateralSeized": (None, "amount", None),
    "LiquidationRepaid": ("amount", None, "amount"),
    "BadDebtWrittenOff": ("amount", None, None),
    "CollateralRestored": (None, "amount", None),
    "LiquiditySupplied": (None, None, "amount"),
    # fixed-fee / private
    "Liquidated": ("debtRepaid", "collateralSeized", "debtRepaid"),
    "RightGranted": (None, None, "bidUsd"),
    "BidPaid": (None, None, "bid"),
    # dutch auction
    "Bark": ("debt", "collateral", "tab"),
    "Kick": (None, "lot", "coin"),
    "Take": (None, None, "owe"),  # collateral_weth: the slice bought (from the auction's lots)
    "Redo": (None, "lot", "coin"),
    "Settle": ("debtWrittenOff", "collateralReturned", None),
    "PenaltyPaid": (None, None, "amount"),
    # english auction
    "Bite": ("debt", "lot", "tab"),
    "Tend": (None, "lot", "bid"),
    "Dent": (None, "lot", "bid"),
    "Deal": ("debtRepaid", "lot", "bid"),
    # absorb
    "AbsorbCollateral": (None, "collateralAbsorbed", "usdValue"),
    "AbsorbDebt": ("debtAbsorbed", None, None),  # usd_amount: reservesPaid + excessPaid
    "BuyCollateral": (None, "collateralAmount", "usdAmount"),
    # soft
    "Exchange": (None, None, None),  # by direction
    "HardLiquidation": ("debtRepaid", "collateralOut", "usdOut"),
    "PositionBanded": (None, "collateral", None),
    "PositionUnbanded": (None, "collateral", "usd"),
    "PositionDebtUpdated": ("debt", None, None),
    # AMM, flash lender, oracle
    "Swap": (None, None, None),  # by direction
    "Sync": (None, "reserve0", "reserve1"),
    "FlashLoan": (None, None, "amount"),
    "AnswerUpdated": (None, None, "current"),
}


class AccountingError(RuntimeError):
    """The run's debt does not add up (or a liquidation touched a position never at risk)."""


# ----------------------------------------------------------------------------- parsing helpers

def _int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    return int(str(value))


def _addr(value: Any) -> str:
    return str(value or "").lower()


def _usd(wad: int | float) -> float:
    return float(wad) / WAD


def _wad_from_float(x: float) -> int:
    return int(Decimal(repr(float(x))) * WAD)


Key = tuple[int, int, int]  # (block, tx_index, log_index)


@dataclass
class _Event:
    key: Key
    block: int
    timestamp: int
    seconds: float
    contract: str
    name: str
    owner: str  # lower-case position address ("" if none)
    keeper: str  # agent label of the transaction's sender
    strategy: str
    args: dict


def _parse_events(events: pd.DataFrame | None) -> list[_Event]:
    if events is None or len(events) == 0:
        return []
    n = len(events)

    def col(name, default):
        return events[name].tolist() if name in events else [default] * n

    block, tx, log = col("block", 0), col("tx_index", 0), col("log_index", 0)
    ts, secs = col("timestamp", 0), col("seconds", math.nan)
    contract, name, position = col("contract", ""), col("event", ""), col("position", "")
    keeper, strategy, raw_args = col("keeper", ""), col("strategy", ""), col("args", "{}")
    out = []
    for i in range(n):
        raw = raw_args[i]
        args = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
        owner = position[i] or args.get("owner") or args.get("borrower") or ""
        out.append(_Event(key=(int(block[i]), int(tx[i]), int(log[i])), block=int(block[i]),
                          timestamp=int(ts[i]), seconds=float(secs[i]), contract=str(contract[i]),
                          name=str(name[i]), owner=_addr(owner), keeper=str(keeper[i]),
                          strategy=str(strategy[i]), args=args))
    out.sort(key=lambda e: e.key)
    return out


# ----------------------------------------------------------------------------- oracle prices

class _OraclePrices:
    """Oracle price (WAD) in force at any event: recorded rounds, else the block-start price."""

    def __init__(self, events: list[_Event], blocks: pd.DataFrame | None, delay_seconds: int):
        rounds = [e for e in events if e.contract == "oracle" and e.name == "AnswerUpdated"]
        self.keys = [e.key for e in rounds]
        self.updated = [_int(e.args.get("updatedAt", e.timestamp)) for e in rounds]
        self.answers = [_int(e.args["current"]) for e in rounds]
        self.delay = int(delay_seconds)
        self.block_price: dict[int, int] = {}
        self.block_time: dict[int, int] = {}
        if blocks is not None and len(blocks):
            for b, p, t in zip(blocks["block"], blocks["oracle_price_usd"], blocks["timestamp"]):
                self.block_price[int(b)] = _wad_from_float(p)
                self.block_time[int(b)] = int(t)

    def at(self, key: Key, timestamp: int) -> int:
        # Rounds emitted before `key` and in force at `timestamp` form a prefix (updatedAt is
        # non-decreasing in emission order): take its last element.
        n = bisect.bisect_left(self.keys, key)
        m = bisect.bisect_right(self.updated, timestamp - self.delay)
        i = min(n, m) - 1
        if i >= 0:
            return self.answers[i]
        block = key[0]
        if block in self.block_price:
            return self.block_price[block]
        earlier = [b for b in self.block_price if b <= block]
        if earlier:
            return self.block_price[max(earlier)]
        raise AccountingError(f"no oracle price known at block {block}")

    def of(self, e: _Event) -> int:
        return self.at(e.key, e.timestamp)

    def final(self, events: list[_Event]) -> int:
        if self.block_time:
            last = max(self.block_time)
            return self.at((last, 1 << 62, 0), self.block_time[last])
        if events:
            return self.at((events[-1].block, 1 << 62, 0), events[-1].timestamp)
        raise AccountingError("no oracle price known at the end of the run")


# ----------------------------------------------------------------------------- AMM swaps

@dataclass
class _Swap:
    key: Key
    keeper: str
    strategy: str
    amount_in: int
    amount_out: int
    token_in: str
    after: tuple[int, int]  # reserves (WETH, USD) after the swap (its own Sync)
    before: tuple[int, int] | None  # reserves before (the previous Sync), None for the first swap
    weth_in: bool | None = None

    @property
    def weth_amount(self) -> int:
        return self.amount_in if self.weth_in else self.amount_out

    @property
    def usd_amount(self) -> int:
        return self.amount_out if self.weth_in else self.amount_in


def _amm_swaps(events: list[_Event]) -> list[_Swap]:
    """Every AMM Swap with its direction and the reserves around it. A swap's Sync is logged
    just before its Swap, in the same transaction; the reserves before it are those of the
    previous Sync (every reserve change emits one). WETH went in when reserve0 rose. A swap
    before any earlier Sync is resolved by the WETH token address learned from the others, else
    by the direction under which the constant product did not fall (fees only ever raise it)."""
    weth_token: str | None = None
    prev: tuple[int, int] | None = None
    last_sync: tuple[Key, tuple[int, int], tuple[int, int] | None] | None = None
    swaps: list[_Swap] = []
    for e in events:
        if e.contract != "amm":
            continue
        if e.name == "Sync":
            reserves = (_int(e.args["reserve0"]), _int(e.args["reserve1"]))
            last_sync = (e.key, reserves, prev)
            prev = reserves
        elif e.name == "Swap":
            if last_sync is None or last_sync[0][:2] != e.key[:2]:
                raise AccountingError(f"AMM Swap at {e.key} without its Sync")
            s = _Swap(e.key, e.keeper, e.strategy, _int(e.args["amountIn"]), _int(e.args["amountOut"]),
                      _addr(e.args.get("tokenIn")), after=last_sync[1], before=last_sync[2])
            last_sync = None
            if s.before is not None:
                s.weth_in = s.after[0] > s.before[0]
                if s.weth_in:
                    weth_token = s.token_in
            swaps.append(s)
    for s in swaps:
        if s.before is not None:
            continue
        r0, r1 = s.after
        if weth_token is not None:
            s.weth_in = s.token_in == weth_token
        else:
            k_after = r0 * r1
            a_ok = r0 >= s.amount_in and (r0 - s.amount_in) * (r1 + s.amount_out) <= k_after
            b_ok = r1 >= s.amount_in and (r0 + s.amount_out) * (r1 - s.amount_in) <= k_after
            s.weth_in = a_ok if a_ok != b_ok else None
        if s.weth_in is True:
            s.before = (r0 - s.amount_in, r1 + s.amount_out)
        elif s.weth_in is False:
            s.before = (r0 + s.amount_out, r1 - s.amount_in)
    return swaps


# ----------------------------------------------------------------------------- dutch lots

def _dutch_slices(events: list[_Event], strict: bool = True) -> dict[Key, int]:
    """WETH bought in each dutch Take: the auction's lot before (Kick/Redo/previous Take, or Bark)
    minus the lot after."""
    lots: dict[int, int] = {}
    slices: dict[Key, int] = {}
    for e in events:
        if e.contract != "mechanism":
            continue
        if e.name in ("Kick", "Redo"):
            lots[_int(e.args["id"])] = _int(e.args["lot"])
        elif e.name == "Bark":
            lots.setdefault(_int(e.args["id"]), _int(e.args["collateral"]))
        elif e.name == "Take":
            auction = _int(e.args["id"])
            if auction not in lots:
                if not strict:
                    continue
                raise AccountingError(f"dutch Take at {e.key} for auction {auction} that never started")
            after = _int(e.args["lot"])
            slices[e.key] = lots[auction] - after
            lots[auction] = after
    return slices


# ----------------------------------------------------------------------------- enrich_events

def enrich_events(events: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``events`` with numeric columns parsed from ``args`` (NaN when not applicable):
    ``debt_usd`` (position debt the event borrows, repays, writes off or auctions),
    ``collateral_weth`` (WETH moved or at stake) and ``usd_amount`` (USD paid or received; for
    ``AnswerUpdated`` the answer, for ``Sync`` the USD reserve). Swaps and soft exchanges are
    split by direction (WETH side in collateral_weth, USD side in usd_amount), a dutch ``Take``'s
    collateral_weth is the slice bought, ``AbsorbDebt``'s usd_amount is reservesPaid +
    excessPaid. An empty ``position`` is filled from an event's ``borrower`` argument (absorb)."""
    out = events.copy()
    n = len(out)
    debt = np.full(n, np.nan)
    coll = np.full(n, np.nan)
    usd = np.full(n, np.nan)
    if n == 0:
        out["debt_usd"], out["collateral_weth"], out["usd_amount"] = debt, coll, usd
        return out
    parsed = _parse_events(out)
    by_key = {e.key: e for e in parsed}
    slices = _dutch_slices(parsed, strict=False)
    try:
        swaps = {s.key: s for s in _amm_swaps(parsed)}
    except AccountingError:
        swaps = {}
    keys = list(zip(out["block"].astype(int), out["tx_index"].astype(int), out["log_index"].astype(int)))
    positions = out["position"].tolist() if "position" in out else [""] * n
    for i, key in enumerate(keys):
        e = by_key[key]
        a = e.args
        if not positions[i] and a.get("borrower"):
            positions[i] = str(a["borrower"])
        fields = EVENT_AMOUNTS.get(e.name)
        if fields is not None and e.contract in ("market", "mechanism", "amm", "oracle", "flash-lender"):
            for arr, f in zip((debt, coll, usd), fields):
                if f is not None and f in a:
                    arr[i] = _usd(_int(a[f]))
        if e.name == "Take" and key in slices:
            coll[i] = _usd(slices[key])
        elif e.name == "AbsorbDebt":
            usd[i] = _usd(_int(a.get("reservesPaid", 0)) + _int(a.get("excessPaid", 0)))
        elif e.name == "Exchange":
            amount_in, amount_out = _usd(_int(a["amountIn"])), _usd(_int(a["amountOut"]))
            if a.get("buyCollateral"):
                usd[i], coll[i] = amount_in, amount_out
            else:
                coll[i], usd[i] = amount_in, amount_out
        elif e.name == "Swap" and key in swaps and swaps[key].weth_in is not None:
            coll[i], usd[i] = _usd(swaps[key].weth_amount), _usd(swaps[key].usd_amount)
    if "position" in out:
        out["position"] = positions
    out["debt_usd"], out["collateral_weth"], out["usd_amount"] = debt, coll, usd
    return out


# ----------------------------------------------------------------------------- the accounting

@dataclass
class _Position:
    owner: str
    block: int
    seconds: float
    debt_wad: int
    collateral_weth: float
    final_debt_wad: int
    borrowed_after: int = 0
    repaid_by_borrower: int = 0
    repaid_by_liquidation: int = 0
    bad_debt: int = 0
    first_closing: _Event | None = None
    events: list[_Event] = field(default_factory=list)


@dataclass
class _Taken:
    """Something taken from a borrower: WETH at an oracle price plus USD (negative: credited)."""
    owner: str
    key: Key
    weth: int
    price_wad: int
    usd: int = 0

    @property
    def value_wad(self) -> int:
        return self.weth * self.price_wad // WAD + self.usd


@dataclass
class _Accounts:
    positions: dict[str, _Position]
    events: list[_Event]
    prices: _OraclePrices
    mechanism: str
    lt_bps: int

    @property
    def at_risk_wad(self) -> int:
        return sum(p.debt_wad + p.borrowed_after for p in self.positions.values())

    @property
    def recovered_wad(self) -> int:
        return sum(p.repaid_by_borrower + p.repaid_by_liquidation for p in self.positions.values())

    @property
    def bad_wad(self) -> int:
        return sum(p.bad_debt for p in self.positions.values())

    @property
    def open_wad(self) -> int:
        return sum(p.final_debt_wad for p in self.positions.values())


def _scenario_numbers(result) -> tuple[int, int]:
    sc = getattr(result, "scenario", None)
    lt = getattr(getattr(sc, "lending", None), "liquidation_threshold_bps", DEFAULT_LIQUIDATION_THRESHOLD_BPS)
    delay = getattr(getattr(sc, "oracle", None), "delay_seconds", 0)
    return int(lt), int(delay)


def _accounts(result) -> _Accounts:
    tables = result.tables
    events = _parse_events(tables.get("events"))
    lt_bps, delay = _scenario_numbers(result)
    prices = _OraclePrices(events, tables.get("blocks"), delay)
    pos_table = tables.get("positions")
    positions: dict[str, _Position] = {}
    known: set[str] = set()
    if pos_table is not None and len(pos_table):
        for row in pos_table.to_dict("records"):
            owner = _addr(row["position"])
            known.add(owner)
            if not bool(row["at_risk"]):
                continue
            positions[owner] = _Position(
                owner=owner, block=int(row["at_risk_block"]), seconds=float(row["at_risk_seconds"]),
                debt_wad=_int(row["at_risk_debt_usd_wad"]),
                collateral_weth=float(row.get("at_risk_collateral_weth", math.nan)),
                final_debt_wad=_int(row["final_debt_usd_wad"]))
    for e in events:
        if e.contract != "market":
            p = positions.get(e.owner)
            if p is not None and e.block >= p.block:
                p.events.append(e)
            continue
        if e.name in DEBT_CLOSING_EVENTS:
            p = positions.get(e.owner)
            if p is None:
                why = "never at risk" if e.owner in known else "not in the positions table"
                raise AccountingError(f"{e.name} at {e.key} for position {e.owner}, {why}: "
                                      f"amount {_int(e.args['amount'])}")
            if e.block < p.block:
                raise AccountingError(f"{e.name} at {e.key} for position {e.owner} before its "
                                      f"at_risk_block {p.block}: amount {_int(e.args['amount'])}")
        p = positions.get(e.owner)
        if p is None or e.block < p.block:
            continue
        p.events.append(e)
        amount = _int(e.args.get("amount", 0))
        if e.name == "Borrow":
            p.borrowed_after += amount
        elif e.name == "Repay":
            p.repaid_by_borrower += amount
        elif e.name == "LiquidationRepaid":
            p.repaid_by_liquidation += amount
        elif e.name == "BadDebtWrittenOff":
            p.bad_debt += amount
        if e.name in DEBT_CLOSING_EVENTS and p.first_closing is None:
            p.first_closing = e
    acc = _Accounts(positions, events, prices, result.mechanism, lt_bps)
    at_risk, recovered, bad, open_ = acc.at_risk_wad, acc.recovered_wad, acc.bad_wad, acc.open_wad
    if at_risk != recovered + bad + open_:
        raise AccountingError(
            f"{result.mechanism} seed {getattr(result, 'seed', '?')}: debt at risk {at_risk} != recovered "
            f"{recovered} + bad debt {bad} + open {open_} (= {recovered + bad + open_}; "
            f"difference {at_risk - recovered - bad - open_} wei)")
    return acc


def _taken(acc: _Accounts) -> list[_Taken]:
    """Everything taken from at-risk borrowers, per PENALTY_RULES."""
    rule = PENALTY_RULES.get(acc.mechanism, DEFAULT_PENALTY_RULE)
    price = acc.prices.of
    out: list[_Taken] = []
    slices = _dutch_slices(acc.events) if rule == "auction-sales" else {}
    for p in acc.positions.values():
        for e in p.events:
            a = e.args
            if rule in ("seized", "seized-net") and e.contract == "market" and e.name == "CollateralSeized":
                out.append(_Taken(p.owner, e.key, _int(a["amount"]), price(e)))
            elif rule == "seized-net" and e.contract == "market" and e.name == "CollateralRestored":
                out.append(_Taken(p.owner, e.key, -_int(a["amount"]), price(e)))
            elif rule == "auction-sales" and e.contract == "mechanism" and e.name == "Take":
                out.append(_Taken(p.owner, e.key, slices[e.key], price(e)))
            elif rule == "auction-sales" and e.contract == "mechanism" and e.name == "Deal":
                out.append(_Taken(p.owner, e.key, _int(a["lot"]), price(e)))
            elif rule == "absorbed" and e.contract == "mechanism" and e.name == "AbsorbCollateral":
                # usdValue is collateral x the oracle price the contract read: exact.
                out.append(_Taken(p.owner, e.key, 0, price(e), _int(a["usdValue"])))
            elif rule == "absorbed" and e.contract == "mechanism" and e.name == "AbsorbDebt":
                out.append(_Taken(p.owner, e.key, 0, price(e), -_int(a["excessPaid"])))
            elif rule == "soft" and e.contract == "mechanism" and e.name == "HardLiquidation":
                out.append(_Taken(p.owner, e.key, _int(a["collateralOut"]), price(e), _int(a["usdOut"])))
    return out


def _soft_conversion_loss_wad(acc: _Accounts) -> int:
    loss = 0
    for e in acc.events:
        if e.contract == "mechanism" and e.name == "Exchange":
            a_in, a_out = _int(e.args["amountIn"]), _int(e.args["amountOut"])
            p = acc.prices.of(e)
            if e.args.get("buyCollateral"):  # trader paid USD, took WETH out of the bands
                loss += a_out * p // WAD - a_in
            else:  # trader paid WETH, took USD out
                loss += a_out - a_in * p // WAD
    return loss


def _revenue_wad(acc: _Accounts) -> dict[str, int]:
    components = REVENUE_RULES.get(acc.mechanism, DEFAULT_REVENUE_RULE)
    parts = {c: 0 for c in components}
    absorbed = sold = 0
    for e in acc.events:
        if e.contract != "mechanism":
            continue
        a = e.args
        if e.name == "Liquidated" and "liquidation-fee" in parts:
            parts["liquidation-fee"] += _int(a["protocolFee"]) * acc.prices.of(e) // WAD
        elif e.name == "BidPaid" and "bid-share" in parts:
            parts["bid-share"] += _int(a["protocolAmount"])
        elif e.name == "PenaltyPaid" and "auction-penalty" in parts:
            parts["auction-penalty"] += _int(a["amount"])
        elif e.name in ("Kick", "Redo") and "keeper-incentives" in parts:
            parts["keeper-incentives"] -= _int(a["coin"])
        elif e.name == "Deal" and "english-penalty" in parts:
            parts["english-penalty"] += _int(a["penalty"])
        elif "absorb-reserves" in parts:
            if e.name == "BuyCollateral":
                parts["absorb-reserves"] += _int(a["usdAmount"])
                sold += _int(a["collateralAmount"])
            elif e.name == "AbsorbDebt":
                parts["absorb-reserves"] -= _int(a["reservesPaid"]) + _int(a["excessPaid"])
            elif e.name == "AbsorbCollateral":
                absorbed += _int(a["collateralAbsorbed"])
    if "absorb-reserves" in parts and absorbed != sold:
        parts["absorb-reserves"] += (absorbed - sold) * acc.prices.final(acc.events) // WAD
    return parts


def _over_liquidation(acc: _Accounts, taken: list[_Taken]) -> float:
    lt = acc.lt_bps / 10_000
    soft = PENALTY_RULES.get(acc.mechanism, DEFAULT_PENALTY_RULE) == "soft"
    total = 0.0
    by_owner: dict[str, list[_Taken]] = {}
    for t in taken:
        by_owner.setdefault(t.owner, []).append(t)
    for p in acc.positions.values():
        first = p.first_closing
        if first is None:
            continue
        block = first.block
        start = (block, first.key[1], -1)  # the liquidating transaction's start
        debt = p.debt_wad
        weth = p.collateral_weth * WAD
        for e in p.events:
            if e.key >= start:
                break
            if e.contract == "market" and e.name == "Borrow":
                debt += _int(e.args["amount"])
            elif e.contract == "market" and e.name == "Repay":
                debt -= _int(e.args["amount"])
            elif e.contract == "market" and e.name == "Deposit":
                weth += _int(e.args["amount"])
            elif e.contract == "market" and e.name == "Withdraw":
                weth -= _int(e.args["amount"])
        for t in by_owner.get(p.owner, []):
            if t.key < start:
                weth -= t.weth
        repaid = sum(_int(e.args["amount"]) for e in p.events
                     if e.block == block and e.key >= start and e.contract == "market"
                     and e.name == "LiquidationRepaid")
        in_block = [t for t in by_owner.get(p.owner, []) if t.key[0] == block and t.key >= start]
        value_taken = sum(t.value_wad for t in in_block)
        if repaid <= 0 or value_taken <= 0:
            continue
        price = acc.prices.of(first)
        collateral_value = value_taken if soft else weth * price / WAD
        k = value_taken / repaid
        d = debt / WAD
        cp = collateral_value / WAD
        if 1 - k * lt > 0:
            r_star = max(0.0, (d - cp * lt) / (1 - k * lt))
        else:
            r_star = d
        over = max(0.0, repaid / WAD - r_star) * k
        if over > OVER_LIQUIDATION_FLOOR_USD:  # below: float noise when r* == repaid
            total += over
    return total


NOT_KEEPER_STRATEGIES = ("arbitrageur", "borrower", "oracle")


def _max_price_impact_bps(events: list[_Event], keepers: set[str] | None) -> float:
    """Keepers: the agents table's kind == "keeper"; without it, senders whose strategy is not
    arbitrageur / borrower / oracle."""
    best = 0.0
    for s in _amm_swaps(events):
        if not s.weth_in or s.before is None:
            continue
        if keepers is not None:
            if s.keeper not in keepers:
                continue
        elif s.strategy in NOT_KEEPER_STRATEGIES or s.keeper in NOT_KEEPER_STRATEGIES:
            continue
        (b0, b1), (a0, a1) = s.before, s.after
        if b0 <= 0 or a0 <= 0:
            continue
        before, after = b1 / b0, a1 / a0
        best = max(best, (before - after) / before * 10_000)
    return best


def _details(result) -> tuple[dict, dict]:
    acc = _accounts(result)
    tables = result.tables
    txs = tables.get("txs")
    agents = tables.get("agents")
    events = acc.events

    at_risk, recovered, bad, open_ = acc.at_risk_wad, acc.recovered_wad, acc.bad_wad, acc.open_wad
    by_liquidation = sum(p.repaid_by_liquidation for p in acc.positions.values())
    taken = _taken(acc)
    taken_value = sum(t.value_wad for t in taken)
    soft_loss = _soft_conversion_loss_wad(acc) if PENALTY_RULES.get(acc.mechanism) == "soft" else 0
    penalty = taken_value - by_liquidation + soft_loss
    revenue_parts = _revenue_wad(acc)

    if txs is not None and len(txs):
        liq = txs[txs["tag"] == LIQUIDATION_TAG]
        mev = float(liq["priority_fee_usd"].sum())
        if "builder_payment_usd" in liq:
            mev += float(liq["builder_payment_usd"].sum())
        gas = float(liq["gas_cost_usd"].sum())
        failed = int((liq["status"] == 0).sum())
    else:
        mev = gas = 0.0
        failed = 0

    keepers: set[str] | None = None
    keeper_profit = 0.0
    if agents is not None and len(agents):
        kmask = agents["kind"] == "keeper"
        keeper_profit = float(agents.loc[kmask, "pnl_usd"].sum())
        keepers = set(agents.loc[kmask, "agent"])

    closing_txs = {e.key[:2] for e in events if e.contract == "market" and e.name in DEBT_CLOSING_EVENTS}
    delays = [p.first_closing.seconds - p.seconds for p in acc.positions.values() if p.first_closing is not None]
    median_delay = float(np.median(delays)) if delays else math.nan

    metrics = {
        "debt_at_risk_usd": _usd(at_risk),
        "debt_recovered_usd": _usd(recovered),
        "bad_debt_usd": _usd(bad),
        "debt_open_usd": _usd(open_),
        "recovery_efficiency": (recovered / at_risk) if at_risk else math.nan,
        "borrower_penalty_usd": _usd(penalty),
        "keeper_profit_usd": keeper_profit,
        "mev_leaked_usd": mev,
        "protocol_revenue_usd": _usd(sum(revenue_parts.values())),
        "gas_spent_usd": gas,
        "liquidations": len(closing_txs),
        "failed_liquidation_txs": failed,
        "median_time_to_liquidate_s": median_delay,
        "max_price_impact_bps": _max_price_impact_bps(events, keepers),
        "over_liquidation_usd": _over_liquidation(acc, taken),
    }
    operator = sum(_int(e.args["operatorAmount"]) for e in events
                   if e.contract == "mechanism" and e.name == "BidPaid")
    details = {
        "debt_at_risk_wad": at_risk,
        "debt_recovered_wad": recovered,
        "bad_debt_wad": bad,
        "debt_open_wad": open_,
        "debt_at_risk_at_detection_usd": _usd(sum(p.debt_wad for p in acc.positions.values())),
        "debt_borrowed_after_at_risk_usd": _usd(sum(p.borrowed_after for p in acc.positions.values())),
        "debt_repaid_by_liquidation_usd": _usd(by_liquidation),
        "debt_repaid_by_borrowers_usd": _usd(sum(p.repaid_by_borrower for p in acc.positions.values())),
        "collateral_taken_value_usd": _usd(taken_value),
        "soft_conversion_loss_usd": _usd(soft_loss),
        "auction_operator_usd": _usd(operator),
        "positions_at_risk": len(acc.positions),
        "positions_liquidated": sum(1 for p in acc.positions.values() if p.first_closing is not None),
        "penalty_rule": PENALTY_RULES.get(acc.mechanism, DEFAULT_PENALTY_RULE),
        **{f"revenue_{k.replace('-', '_')}_usd": _usd(v) for k, v in revenue_parts.items()},
    }
    return metrics, details


def compute_metrics(result: "RunResult") -> dict:
    """The metrics of one run, keys exactly METRIC_COLUMNS (floats in USD, ints for counts, NaN
    where undefined). Raises AccountingError when the debt does not add up."""
    metrics, _ = _details(result)
    return {c: metrics[c] for c in METRIC_COLUMNS}


def metric_details(result: "RunResult") -> dict:
    """Extras behind the metrics: exact WAD totals of the identity, recovered debt split by who
    repaid, the value taken from borrowers, soft conversion loss, revenue by component, the
    private auction operator's share, and position counts."""
    return _details(result)[1]


__all__ = [
    "METRIC_COLUMNS", "HEADLINE_METRICS", "HIGHER_IS_BETTER", "LOWER_IS_BETTER", "PENALTY_RULES",
    "REVENUE_RULES", "AccountingError", "compute_metrics", "metric_details", "enrich_events",
]
