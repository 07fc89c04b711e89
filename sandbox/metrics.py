"""Metrics of one run (one mechanism, one seed), computed from its chain events and batched reads.

Every number below is a sum over rows of ``RunResult.tables`` — market and mechanism events
(``events``, amounts as exact WAD integers in ``args``), transactions (``txs``), the block table
(``blocks``), the end-of-run and end-of-path position reads (``positions``) and the agents'
ledgers (``agents``) — so each can be traced back to a block, a transaction and a log.

Words used below
----------------
- *At risk* (``sandbox.risk``, one rule for every mechanism): collateral × liquidation threshold
  < debt, counting collateral wherever it sits (market, bands, auction lot) and collateral held
  in the debt asset one for one against debt. A position is at risk from the first block in
  which that holds at the oracle price in force or at the reference (market) price, judged at
  the block's start, or in which a mechanism liquidates it first (its own rule fired: a back-run
  inside the block that made it liquidatable, LLAMMA's health). ``positions.at_risk``; ``B`` is
  its ``at_risk_block``; "after B" means events in blocks >= B.
- *Covered* (time to safety): the first block after B whose end state is at risk at neither
  price (``positions.safe_block``, judged at the next block's start, or on the final read).
- *Oracle price at an event*: the answer in force when the event was emitted: the newest
  ``AnswerUpdated`` round emitted earlier in the run (earlier block, or earlier in the same block)
  whose ``updatedAt + oracle.delay_seconds`` is at most the event's block timestamp; before the
  first recorded round, the block's ``oracle_price_usd``.
- *Reference price at an event*: its block's ``reference_price_wad`` (the market price; held at
  the path's last value during the settle phase). *Final* reference price: the last block's;
  *path-end*: the last block whose ``phase`` is "path".
- *Liquidating transactions*: tag "liquidation" (keepers' liquidations, bids and bundle
  payments) plus conversions (``txs.action`` in the mechanism's ``conversion_actions``: under
  soft, the arbitrageur's soft-liquidate / de-liquidate trades against the bands), landed or
  reverted.
- *The mechanism's rules*: everything that depends on what a mechanism's events mean is asked
  of the mechanism's class (``sandbox.mechanisms.LiquidationMechanism``: ``collateral_taken``,
  ``protocol_revenue``, ``conversion``, ``conversion_actions``, ``event_amounts``,
  ``liquidation_takes_all``), never looked up by its name; each rule's docstring says what it
  counts. A plug-in without them is refused when it is loaded.

Debt outcomes (exact WAD integers)
----------------------------------
- ``debt_at_risk_usd`` = Σ over at-risk positions of (debt at the start of B,
  ``at_risk_debt_usd_wad``) + (``Borrow`` amounts of that position after B).
- ``debt_recovered_usd`` = Σ after B of ``LiquidationRepaid`` amounts (keeper, auction or
  protocol reserves paid) + the borrower's own ``Repay`` amounts.
- ``bad_debt_usd`` = Σ ``BadDebtWrittenOff`` amounts of at-risk positions after B.
- Debt still owed at the end, D = ``final_debt_usd_wad``, against collateral worth
  C = ``final_collateral_weth_wad`` × final reference price + ``final_held_usd_wad``:
  ``debt_open_covered_usd`` = Σ min(D, C) (owed, but the collateral covers it: healthy leftovers
  of partial liquidations, debt backed by stablecoin in soft bands) and ``shortfall_usd`` =
  Σ max(0, D − C) (insolvent debt nobody liquidated or wrote off).
- Identity, checked in exact integers on every call: at risk = recovered + bad + covered open +
  shortfall; otherwise ``AccountingError`` with the numbers. Every ``LiquidationRepaid`` /
  ``BadDebtWrittenOff`` must belong to an at-risk position, in a block >= its B.
- ``lender_loss_usd`` = bad debt + shortfall. ``recovery_efficiency`` = recovered / at risk.
- ``*_at_path_end``: the same split when the price path ended, before the settle phase:
  positions at risk by then, events of blocks in the path, D and C from the ``path_end_*``
  columns at the path-end reference price; the same identity is checked.

Borrowers
---------
Value taken from at-risk borrowers (the mechanism's ``collateral_taken``: e.g. fixed-fee: every
market ``CollateralSeized``; auctions: only what was sold; absorb: the collateral at the oracle
value the contract read, less the excess credited back) − their debt repaid by liquidation
(``LiquidationRepaid``), plus the conversion loss of collateral the mechanism holds for positions
(soft's bands: Σ over its ``conversion`` events of value of what the trader took out − value of
what it put in; pool-wide, negative when traders overpay):

- ``borrower_loss_usd``: valued at the reference price (what borrowers really lost, "loss at the
  market price": the value transferred at the time of each liquidation).
- ``borrower_penalty_oracle_usd``: valued at the oracle price at each event (what the protocol
  sees; under a faulty oracle the two differ).
- ``borrower_loss_vs_hold_usd`` ("loss vs holding"): Σ over at-risk positions of what being
  liquidated cost against holding the position untouched, both valued at the path-end reference
  price P. Held: the position at the start of B (``at_risk_*``: WETH wherever it sat, USD held,
  debt) plus its owner's own ``Deposit`` / ``Withdraw`` / ``Borrow`` / ``Repay`` after B; left:
  its state at the end of the run (``final_*``: collateral in the market, collateral and USD the
  mechanism holds for it — so auction leftovers put back and soft's bands count — minus debt),
  plus the USD a liquidation credited to the owner outside the market (the negative USD of the
  mechanism's ``collateral_taken``, e.g. absorb's excess). Per position, ``loss_vs_hold_wad``:
  max(0, held value) − max(0, value left) − returned, both floored at zero because a borrower can
  walk away from a position worth less than its debt. Why: ``borrower_loss_usd`` values each
  liquidation at that block's price, so it misses collateral sold low that the price later gives
  back (soft's bands sold down and bought back higher leave less WETH against the same debt;
  fixed-fee's sale at the bottom); this row charges it at the price the path ended at. A position
  nothing acted on has held = left, so it adds 0. The final state is valued at the path-end price
  (during the settle phase the reference price stays at the path's last value), so auctions that
  finish while settling are counted at what they sold for. Conversions before B are outside it,
  as every "after B" figure. ``metric_details``' ``positions_moved_vs_hold`` counts the positions
  whose state moved other than by their owner.
- ``wrongful_liquidations``: liquidating transactions (those counted by ``liquidations``, band
  conversions aside) on a position that was safe at the reference price at its block's start
  (``events.position_health_ref`` >= 1); ``wrongful_liquidation_value_usd``: the value taken in
  them, at the reference price.

Keepers, builders, protocol
---------------------------
- ``keeper_profit_usd`` = Σ ``agents.pnl_usd`` of agents of kind "keeper" (token P&L marked at
  the final reference price, minus gas and bundle payments) + the band conversions of agents
  that are not keepers (the arbitrageur under soft: Σ over their ``Exchange`` events of value
  taken out − value put in at the reference price, minus the gas of their conversion
  transactions): everyone who liquidates or converts.
- ``mev_leaked_usd`` = Σ ``txs.priority_fee_usd`` + Σ ``txs.builder_payment_usd`` of liquidating
  transactions (the private auction operator's share of bids is not included: see
  ``metric_details``' ``auction_operator_usd``); ``gas_spent_usd`` = Σ their ``gas_cost_usd``;
  ``failed_liquidation_txs`` = those with status 0.
- ``protocol_revenue_usd``: the mechanism's ``protocol_revenue`` over its events (e.g. fixed-fee:
  Σ ``Liquidated.protocolFee`` at the oracle price; dutch-auction: penalties received minus the
  keeper rewards paid from the protocol's reserve; soft: 0, the swap fee stays in the bands).

Counts and timing
-----------------
- ``liquidations`` = distinct landed transactions that emitted a ``LiquidationRepaid`` or
  ``BadDebtWrittenOff`` (a dutch ``bark`` or english ``bite`` alone is not one; the take or deal
  that repays is) + conversions into the debt asset (``soft_conversions``: landed transactions
  whose conversion took collateral out of the mechanism's hold, i.e. converted it into the debt
  asset; de-liquidations back into collateral are not counted).
- ``median_time_to_liquidate_s`` = median over liquidated at-risk positions of (seconds of the
  block of the first ``LiquidationRepaid``/``BadDebtWrittenOff`` − ``at_risk_seconds``); 0 for a
  same-block back-run; NaN when nothing was liquidated.
- ``median_time_to_safety_s`` = median over at-risk positions of (``safe_seconds`` −
  ``at_risk_seconds``), a position never covered counting as +∞ (so the median is +∞, "never",
  when half of them stayed at risk); NaN when nothing was at risk.
- ``max_price_impact_bps`` = the largest AMM price drop caused by one ``Swap`` that sent WETH into
  the AMM in a transaction sent by a keeper (keeper contracts included): AMM price
  reserve1/reserve0 from the ``Sync`` before the swap versus its own ``Sync``, in bps.
- ``over_liquidation_usd`` (approximation) = Σ over liquidated at-risk positions, for the
  liquidations in the position's first liquidated block: with D the debt and C·p the collateral
  value just before them (replayed from the at-risk snapshot and the position's events; for a
  mechanism whose liquidation takes all, ``liquidation_takes_all``, what it took), p the oracle
  price, LT the market's threshold, repaid the debt repaid in that block and k = (oracle value
  taken in that block) / repaid, the repayment restoring HF = 1 is
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

from sandbox import risk
from sandbox.mechanisms import LiquidationMechanism, get_mechanism
from sandbox.mechanisms.accounting import Conversion, Key, LedgerEvent
from sandbox.units import WAD

if TYPE_CHECKING:  # pragma: no cover
    from sandbox.simulation import RunResult

# Outcomes when the price path ended (before the settle phase), beside the final ones.
PATH_END_METRICS = [
    "debt_at_risk_at_path_end_usd", "debt_recovered_at_path_end_usd", "debt_open_covered_at_path_end_usd",
    "shortfall_at_path_end_usd", "bad_debt_at_path_end_usd",
]
# The comparison table: groups of rows as a researcher reads them.
HEADLINE_GROUPS: list[tuple[str, list[str]]] = [
    ("lenders (USD)", ["debt_at_risk_usd", "debt_recovered_usd", "debt_open_covered_usd", "shortfall_usd",
                       "bad_debt_usd", "lender_loss_usd", "unliquidatable_positions", "unliquidatable_debt_usd"]),
    ("borrowers (USD)", ["borrower_loss_usd", "borrower_loss_vs_hold_usd", "borrower_penalty_oracle_usd",
                         "wrongful_liquidations"]),
    ("keepers and builders (USD)", ["keeper_profit_usd", "mev_leaked_usd", "gas_spent_usd"]),
    ("protocol (USD)", ["protocol_revenue_usd"]),
    ("timing", ["liquidations", "median_time_to_liquidate_s", "median_time_to_safety_s"]),
    ("at the end of the price path, before settling (USD)", [
        "debt_recovered_at_path_end_usd", "debt_open_covered_at_path_end_usd", "shortfall_at_path_end_usd",
        "bad_debt_at_path_end_usd"]),
]
HEADLINE_METRICS = [c for _, cols in HEADLINE_GROUPS for c in cols]
METRIC_COLUMNS = [
    "debt_at_risk_usd", "debt_recovered_usd", "debt_open_covered_usd", "shortfall_usd", "bad_debt_usd",
    "lender_loss_usd", "recovery_efficiency",
    "borrower_loss_usd", "borrower_loss_vs_hold_usd", "borrower_penalty_oracle_usd", "wrongful_liquidations",
    "wrongful_liquidation_value_usd", "keeper_profit_usd", "mev_leaked_usd", "gas_spent_usd", "protocol_revenue_usd",
    "liquidations", "soft_conversions", "failed_liquidation_txs", "median_time_to_liquidate_s",
    "median_time_to_safety_s", "max_price_impact_bps", "over_liquidation_usd",
    "unliquidatable_positions", "unliquidatable_debt_usd",
    *PATH_END_METRICS,
]
# Directions for the best marker; outcome splits (at risk, covered open, recovered), keeper
# profit and counts have none: more or less of them is not better by itself.
HIGHER_IS_BETTER = {"recovery_efficiency", "protocol_revenue_usd"}
LOWER_IS_BETTER = {
    "shortfall_usd", "bad_debt_usd", "lender_loss_usd", "borrower_loss_usd", "borrower_loss_vs_hold_usd",
    "borrower_penalty_oracle_usd",
    "wrongful_liquidations", "wrongful_liquidation_value_usd", "mev_leaked_usd", "gas_spent_usd",
    "failed_liquidation_txs", "median_time_to_liquidate_s", "median_time_to_safety_s", "max_price_impact_bps",
    "over_liquidation_usd", "shortfall_at_path_end_usd", "bad_debt_at_path_end_usd",
    "unliquidatable_positions", "unliquidatable_debt_usd",
}


LIQUIDATION_TAG = "liquidation"
DEBT_CLOSING_EVENTS = ("LiquidationRepaid", "BadDebtWrittenOff")
DEFAULT_LIQUIDATION_THRESHOLD_BPS = 8500
OVER_LIQUIDATION_FLOOR_USD = 1e-6

# enrich_events: market-level event -> (debt_usd field, collateral_weth field, usd_amount field)
# (None: NaN); the mechanism's own events come from its ``event_amounts`` and
# ``event_amount_overrides``; an AMM Swap's direction is filled in enrich_events itself.
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
    # AMM, flash lender, oracle
    "Swap": (None, None, None),  # by direction
    "Sync": (None, "reserve0", "reserve1"),
    "FlashLoan": (None, None, "amount"),
    "AnswerUpdated": (None, None, "current"),
}
MARKET_CONTRACTS = ("market", "amm", "oracle", "flash-lender")


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


_Event = LedgerEvent  # an event row of the run, exact integers in ``args``


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
    health = col("position_health_ref", math.nan)
    out = []
    for i in range(n):
        raw = raw_args[i]
        args = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
        owner = position[i] or args.get("owner") or args.get("borrower") or ""
        out.append(_Event(key=(int(block[i]), int(tx[i]), int(log[i])), block=int(block[i]),
                          timestamp=int(ts[i]), seconds=float(secs[i]), contract=str(contract[i]),
                          name=str(name[i]), owner=_addr(owner), keeper=str(keeper[i]),
                          strategy=str(strategy[i]), args=args,
                          health_ref=math.nan if health[i] is None else float(health[i])))
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
            for b, p, t in zip(blocks["block"], blocks["oracle_price_usd"], blocks["timestamp"], strict=True):
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


class _ReferencePrices:
    """Reference price (WAD) of each block (exact ``reference_price_wad``, else the float column),
    the final one and the one when the price path ended."""

    def __init__(self, blocks: pd.DataFrame | None):
        self.by_block: dict[int, int] = {}
        self.path_end_block: int | None = None
        if blocks is None or not len(blocks) or "reference_price_usd" not in blocks:
            return
        exact = blocks["reference_price_wad"].tolist() if "reference_price_wad" in blocks else None
        for i, (b, p) in enumerate(zip(blocks["block"], blocks["reference_price_usd"], strict=True)):
            self.by_block[int(b)] = _int(exact[i]) if exact is not None else _wad_from_float(p)
        phases = blocks["phase"].tolist() if "phase" in blocks else ["path"] * len(blocks)
        path = [int(b) for b, ph in zip(blocks["block"], phases, strict=True) if ph == "path"]
        self.path_end_block = max(path) if path else None

    def at(self, block: int) -> int:
        if block in self.by_block:
            return self.by_block[block]
        earlier = [b for b in self.by_block if b <= block]
        if not earlier:
            raise AccountingError(f"no reference price known at block {block}")
        return self.by_block[max(earlier)]

    @property
    def final(self) -> int:
        if not self.by_block:
            raise AccountingError("no reference price known at the end of the run")
        return self.by_block[max(self.by_block)]


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

# ----------------------------------------------------------------------------- enrich_events

def enrich_events(events: pd.DataFrame, market: str = "lending") -> pd.DataFrame:
    """A copy of ``events`` with numeric columns parsed from ``args`` (NaN when not applicable):
    ``debt_usd`` (position debt the event borrows, repays, writes off or auctions),
    ``collateral_weth`` (WETH moved or at stake) and ``usd_amount`` (USD paid or received; for
    ``AnswerUpdated`` the answer, for ``Sync`` the USD reserve). AMM swaps are split by direction
    (WETH side in collateral_weth, USD side in usd_amount); a mechanism's own events as its
    ``event_amounts`` and ``event_amount_overrides`` say (the mechanism of each row, from its
    ``mechanism`` column). An empty ``position`` is filled from an event's ``borrower`` argument."""
    runs = [c for c in ("mechanism", "seed") if c in events]
    if runs and len(events) and events.groupby(runs, sort=False).ngroups > 1:
        # a table of several runs: (block, tx, log) keys repeat across runs, so each run alone
        parts = [_enrich_run(group, market) for _, group in events.groupby(runs, sort=False)]
        return pd.concat(parts).loc[events.index]
    return _enrich_run(events, market)


def _enrich_run(events: pd.DataFrame, market: str = "lending") -> pd.DataFrame:
    """``enrich_events`` for the events of one run."""
    out = events.copy()
    n = len(out)
    debt = np.full(n, np.nan)
    coll = np.full(n, np.nan)
    usd = np.full(n, np.nan)
    if n == 0:
        out["debt_usd"], out["collateral_weth"], out["usd_amount"] = debt, coll, usd
        return out
    names = out["mechanism"].tolist() if "mechanism" in out else [""] * n
    rules = {name: get_mechanism(name).variant_for(market) for name in dict.fromkeys(names) if name}
    from sandbox.markets import get_market

    market_amounts = getattr(get_market(market), "event_amounts", None) or EVENT_AMOUNTS
    overrides: dict[tuple[str, Key], tuple] = {}
    for name, cls in rules.items():
        rows = out[out["mechanism"] == name]
        mine = [e for e in _parse_events(rows) if e.contract == "mechanism"]
        overrides.update({(name, k): v for k, v in cls.event_amount_overrides(mine).items()})
    parsed = _parse_events(out)
    by_key = {e.key: e for e in parsed}
    try:
        swaps = {s.key: s for s in _amm_swaps(parsed)}
    except AccountingError:
        swaps = {}
    keys = list(zip(out["block"].astype(int), out["tx_index"].astype(int), out["log_index"].astype(int), strict=True))
    positions = out["position"].tolist() if "position" in out else [""] * n
    for i, key in enumerate(keys):
        e = by_key[key]
        a = e.args
        if not positions[i] and a.get("borrower"):
            positions[i] = str(a["borrower"])
        if e.contract == "mechanism":
            mechanism_cls = rules.get(names[i])
            fields = mechanism_cls.event_amounts.get(e.name) if mechanism_cls is not None else None
        else:
            fields = market_amounts.get(e.name) if (e.contract in MARKET_CONTRACTS or market_amounts
                                                    is not EVENT_AMOUNTS) else None
        if fields is not None:
            for arr, f in zip((debt, coll, usd), fields, strict=True):
                if f is not None and f in a:
                    arr[i] = _usd(_int(a[f]))
        for arr, v in zip((debt, coll, usd), overrides.get((names[i], key), ()), strict=False):  # () if none
            if v is not None:
                arr[i] = _usd(v)
        if e.name == "Swap" and key in swaps and swaps[key].weth_in is not None:
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
    collateral_wad: int  # WETH (market, bands, lot) at the start of B, exact
    held_wad: int  # USD held for it by the mechanism at the start of B
    final: tuple[int, int, int]  # (debt, WETH, USD held) at the end of the run
    path_end: tuple[int, int, int] | None  # the same when the price path ended (None: not recorded)
    safe_seconds: float  # when it was covered; NaN: never (or not recorded)
    borrowed_after: int = 0
    repaid_by_borrower: int = 0
    repaid_by_liquidation: int = 0
    bad_debt: int = 0
    first_closing: _Event | None = None
    events: list[_Event] = field(default_factory=list)


@dataclass
class _Taken:
    """Something taken from a borrower: WETH (valued at the oracle and at the reference price)
    plus USD (negative: credited back); ``oracle_exact`` replaces the oracle value when the
    contract reported it."""
    owner: str
    key: Key
    weth: int
    price_wad: int
    ref_wad: int
    usd: int = 0
    oracle_exact: int | None = None

    @property
    def value_wad(self) -> int:
        """At the oracle price."""
        if self.oracle_exact is not None:
            return self.oracle_exact + self.usd
        return self.weth * self.price_wad // WAD + self.usd

    @property
    def value_ref_wad(self) -> int:
        """At the reference price."""
        return self.weth * self.ref_wad // WAD + self.usd


@dataclass(frozen=True)
class Outcome:
    """Where the debt at risk went (exact WAD): recovered + bad + covered open + shortfall."""

    at_risk: int
    recovered: int
    bad: int
    covered: int
    shortfall: int

    def check(self, what: str) -> "Outcome":
        total = self.recovered + self.bad + self.covered + self.shortfall
        if self.at_risk != total:
            raise AccountingError(
                f"{what}: debt at risk {self.at_risk} != recovered {self.recovered} + bad debt {self.bad} + "
                f"covered open {self.covered} + shortfall {self.shortfall} (= {total}; difference "
                f"{self.at_risk - total} wei)")
        return self

    def metrics(self) -> dict[str, float]:
        """The identity's summary columns (USD) at the end of the run; every market's the same."""
        return {
            "debt_at_risk_usd": _usd(self.at_risk),
            "debt_recovered_usd": _usd(self.recovered),
            "debt_open_covered_usd": _usd(self.covered),
            "shortfall_usd": _usd(self.shortfall),
            "bad_debt_usd": _usd(self.bad),
            "lender_loss_usd": _usd(self.bad + self.shortfall),
            "recovery_efficiency": (self.recovered / self.at_risk) if self.at_risk else math.nan,
        }

    @staticmethod
    def path_end_metrics(path: "Outcome | None") -> dict[str, float]:
        """The identity's columns at the end of the price path (NaN for a run without one)."""
        def usd(amount: str) -> float:
            return _usd(getattr(path, amount)) if path else math.nan

        return {
            "debt_at_risk_at_path_end_usd": usd("at_risk"),
            "debt_recovered_at_path_end_usd": usd("recovered"),
            "debt_open_covered_at_path_end_usd": usd("covered"),
            "shortfall_at_path_end_usd": usd("shortfall"),
            "bad_debt_at_path_end_usd": usd("bad"),
        }


def outcome(at_risk: int, recovered: int, bad: int, owed: list[tuple[int, int, int]], price_wad: int,
            what: str) -> Outcome:
    """The debt identity for positions still owing ``owed`` = [(debt, WETH, USD held)], their
    collateral valued at ``price_wad``; raises ``AccountingError`` when it does not add up."""
    covered = shortfall = 0
    for debt, weth, usd in owed:
        c, s = risk.covered_and_shortfall(debt, weth, usd, price_wad)
        covered += c
        shortfall += s
    return Outcome(at_risk, recovered, bad, covered, shortfall).check(what)


@dataclass
class _Accounts:
    positions: dict[str, _Position]
    events: list[_Event]
    prices: _OraclePrices
    refs: _ReferencePrices
    mechanism: str
    lt_bps: int
    final: Outcome
    path_end: Outcome | None
    rules: type[LiquidationMechanism]  # the mechanism's accounting rules

    @property
    def mechanism_events(self) -> list[LedgerEvent]:
        return [e for e in self.events if e.contract == "mechanism"]


def _scenario_numbers(result) -> tuple[int, int]:
    sc = getattr(result, "scenario", None)
    lt = getattr(getattr(sc, "lending", None), "liquidation_threshold_bps", DEFAULT_LIQUIDATION_THRESHOLD_BPS)
    delay = getattr(getattr(sc, "oracle", None), "delay_seconds", 0)
    return int(lt), int(delay)


def _wad_column(row: dict, name: str) -> int | None:
    """An exact WAD column (string), else its float sibling without ``_wad``; None if neither."""
    raw = row.get(name)
    if raw is not None and raw != "" and not (isinstance(raw, float) and math.isnan(raw)):
        return _int(raw)
    approx = row.get(name[:-len("_wad")])
    if approx is None or (isinstance(approx, float) and math.isnan(approx)):
        return None
    return _wad_from_float(approx)


def _position(row: dict) -> _Position:
    owner = _addr(row["position"])
    final_debt = _int(row["final_debt_usd_wad"])
    final_collateral = _wad_column(row, "final_collateral_weth_wad")
    final_held = _wad_column(row, "final_held_usd_wad") or 0
    if final_collateral is None:
        raise AccountingError(f"position {owner}: no final collateral in the positions table")
    path_debt = _wad_column(row, "path_end_debt_usd_wad")
    path_collateral = _wad_column(row, "path_end_collateral_weth_wad")
    path_held = _wad_column(row, "path_end_held_usd_wad") or 0
    path_end = (None if path_debt is None or path_collateral is None
                else (path_debt, path_collateral, path_held))
    safe = row.get("safe_seconds", math.nan)
    return _Position(
        owner=owner, block=int(row["at_risk_block"]), seconds=float(row["at_risk_seconds"]),
        debt_wad=_int(row["at_risk_debt_usd_wad"]), collateral_weth=float(row.get("at_risk_collateral_weth", math.nan)),
        collateral_wad=_wad_column(row, "at_risk_collateral_weth_wad") or 0,
        held_wad=_wad_column(row, "at_risk_held_usd_wad") or 0,
        final=(final_debt, final_collateral, final_held), path_end=path_end,
        safe_seconds=math.nan if safe is None or int(row.get("safe_block", -1)) < 0 else float(safe))


def _accounts(result) -> _Accounts:
    tables = result.tables
    events = _parse_events(tables.get("events"))
    lt_bps, delay = _scenario_numbers(result)
    prices = _OraclePrices(events, tables.get("blocks"), delay)
    refs = _ReferencePrices(tables.get("blocks"))
    pos_table = tables.get("positions")
    positions: dict[str, _Position] = {}
    known: set[str] = set()
    if pos_table is not None and len(pos_table):
        for row in pos_table.to_dict("records"):
            known.add(_addr(row["position"]))
            if bool(row["at_risk"]):
                position = _position(row)
                positions[position.owner] = position
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
    run = f"{result.mechanism} seed {getattr(result, 'seed', '?')}"
    ps = positions.values()
    final = outcome(sum(p.debt_wad + p.borrowed_after for p in ps),
                    sum(p.repaid_by_borrower + p.repaid_by_liquidation for p in ps),
                    sum(p.bad_debt for p in ps), [p.final for p in ps], refs.final if ps else 0, run)
    return _Accounts(positions, events, prices, refs, result.mechanism, lt_bps, final,
                     _path_end_outcome(positions, refs, run), get_mechanism(result.mechanism))


def _path_end_outcome(positions: dict[str, _Position], refs: _ReferencePrices, run: str) -> Outcome | None:
    """The identity when the price path ended: positions at risk by then, their market events in
    path blocks, what they owed and held then (None when the path end was not recorded)."""
    end = refs.path_end_block
    if end is None:
        return None
    at_risk = recovered = bad = 0
    owed = []
    for p in positions.values():
        if p.block > end:
            continue
        if p.path_end is None:
            return None
        at_risk += p.debt_wad
        for e in p.events:
            if e.contract != "market" or e.block > end:
                continue
            amount = _int(e.args.get("amount", 0))
            if e.name == "Borrow":
                at_risk += amount
            elif e.name in ("Repay", "LiquidationRepaid"):
                recovered += amount
            elif e.name == "BadDebtWrittenOff":
                bad += amount
        owed.append(p.path_end)
    return outcome(at_risk, recovered, bad, owed, refs.at(end), f"{run} at the end of the price path")


def _taken(acc: _Accounts) -> list[_Taken]:
    """Everything taken from at-risk borrowers, by the mechanism's ``collateral_taken``."""
    out: list[_Taken] = []
    for p in acc.positions.values():
        for e, t in acc.rules.collateral_taken(p.events):
            out.append(_Taken(p.owner, e.key, t.weth, acc.prices.of(e), acc.refs.at(e.block), t.usd,
                              t.oracle_value))
    return out


def _conversions(acc: _Accounts) -> list[tuple[LedgerEvent, Conversion]]:
    """The mechanism's conversions of collateral it holds (soft's band exchanges)."""
    out = []
    for e in acc.mechanism_events:
        c = acc.rules.conversion(e)
        if c is not None:
            out.append((e, c))
    return out


def _revenue_wad(acc: _Accounts) -> dict[str, int]:
    return acc.rules.protocol_revenue(acc.mechanism_events, acc.prices.of, acc.prices.final(acc.events))


def _over_liquidation(acc: _Accounts, taken: list[_Taken]) -> float:
    lt = acc.lt_bps / 10_000
    takes_all = acc.rules.liquidation_takes_all
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
        collateral_value = value_taken if takes_all else weth * price / WAD
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


def loss_vs_hold_wad(held_value_wad: int, value_left_wad: int, returned_wad: int = 0) -> int:
    """What liquidation cost one position against holding it untouched, both net values (collateral
    minus debt) at the same price: max(0, held) − max(0, left) − what was returned to the owner
    outside the position. Both floored at zero: a borrower can walk away from negative equity."""
    return max(0, held_value_wad) - max(0, value_left_wad) - returned_wad


def path_end_price(refs: _ReferencePrices) -> int:
    """The reference price when the price path ended (the final one for a run without phases)."""
    return refs.at(refs.path_end_block) if refs.path_end_block is not None else refs.final


def _loss_vs_hold(acc: _Accounts) -> tuple[int, int]:
    """(Σ loss vs holding over at-risk positions, positions moved other than by their owner): the
    module docstring's ``borrower_loss_vs_hold_usd``, exact WAD at the path-end reference price."""
    if not acc.positions:
        return 0, 0
    price = path_end_price(acc.refs)
    total = moved = 0
    for p in acc.positions.values():
        weth, debt = p.collateral_wad, p.debt_wad
        for e in p.events:  # the owner's own flows after B, applied to the untouched position too
            if e.contract != "market":
                continue
            amount = _int(e.args.get("amount", 0))
            if e.name == "Deposit":
                weth += amount
            elif e.name == "Withdraw":
                weth -= amount
            elif e.name == "Borrow":
                debt += amount
            elif e.name == "Repay":
                debt -= amount
        final_debt, final_weth, final_usd = p.final
        returned = -sum(min(0, t.usd) for _, t in acc.rules.collateral_taken(p.events))
        total += loss_vs_hold_wad(risk.collateral_value_wad(weth, p.held_wad, price) - debt,
                                  risk.collateral_value_wad(final_weth, final_usd, price) - final_debt, returned)
        moved += (weth, p.held_wad, debt) != (final_weth, final_usd, final_debt) or returned != 0
    return total, moved


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




def _keepers(agents: pd.DataFrame | None) -> set[str] | None:
    """Agent labels of kind "keeper" (None without an agents table)."""
    if agents is None or not len(agents):
        return None
    return set(agents.loc[agents["kind"] == "keeper", "agent"])


def _is_keeper(label: str, strategy: str, keepers: set[str] | None) -> bool:
    if keepers is not None:
        return label in keepers
    return strategy not in NOT_KEEPER_STRATEGIES and label not in NOT_KEEPER_STRATEGIES


def _liquidating_txs(txs: pd.DataFrame | None, conversion_actions: frozenset[str]) -> pd.DataFrame:
    """Liquidation transactions and conversions (``conversion_actions``), landed or reverted."""
    if txs is None or not len(txs):
        return pd.DataFrame(columns=["agent", "strategy", "tag", "action", "status", "priority_fee_usd",
                                     "gas_cost_usd", "builder_payment_usd"])
    actions = txs["action"] if "action" in txs else pd.Series("", index=txs.index)
    return txs[(txs["tag"] == LIQUIDATION_TAG) | actions.isin(conversion_actions)]


def _usd_sum(df: pd.DataFrame, *columns: str) -> float:
    return float(sum(df[c].sum() for c in columns if c in df))


def _median_or_nan(values: list[float]) -> float:
    return float(np.median(values)) if values else math.nan


def _market_kind(result):
    from sandbox.markets import get_market

    return get_market(getattr(getattr(result, "scenario", None), "market", "lending") or "lending")


def _details(result) -> tuple[dict, dict]:
    """(metrics, details) of one run, by the rules of its market (``MarketKind.metrics``)."""
    return _market_kind(result).metrics(result)


def lending_metrics(result) -> tuple[dict, dict]:
    """(metrics, details) of a run on the lending market: the rules of this module's docstring."""
    acc = _accounts(result)
    tables = result.tables
    events = acc.events
    positions = acc.positions.values()
    keepers = _keepers(tables.get("agents"))
    fin = acc.final

    # borrowers: value taken - debt repaid by liquidation (+ soft: conversion loss), two prices
    by_liquidation = sum(p.repaid_by_liquidation for p in positions)
    taken = _taken(acc)
    conversions = _conversions(acc)
    conv_loss_oracle = sum(c.gain_wad(acc.prices.of(e)) for e, c in conversions)
    conv_loss_ref = sum(c.gain_wad(acc.refs.at(e.block)) for e, c in conversions)
    taken_oracle = sum(t.value_wad for t in taken)
    taken_ref = sum(t.value_ref_wad for t in taken)
    penalty_oracle = taken_oracle - by_liquidation + conv_loss_oracle
    loss_ref = taken_ref - by_liquidation + conv_loss_ref
    vs_hold, moved_vs_hold = _loss_vs_hold(acc)

    # wrongful: liquidating transactions on a position safe at the reference price at block start
    wrongful: set[tuple[str, tuple[int, int]]] = {
        (p.owner, e.key[:2]) for p in positions for e in p.events
        if e.contract == "market" and e.name in DEBT_CLOSING_EVENTS and e.health_ref >= 1}
    wrongful_value = sum(t.value_ref_wad for t in taken if (t.owner, t.key[:2]) in wrongful)

    # keepers and builders: every agent that liquidates or converts
    liq = _liquidating_txs(tables.get("txs"), acc.rules.conversion_actions)
    mev = _usd_sum(liq, "priority_fee_usd", "builder_payment_usd")
    gas = _usd_sum(liq, "gas_cost_usd")
    failed = int((liq["status"] == 0).sum())
    agents = tables.get("agents")
    keeper_ledgers = float(agents.loc[agents["kind"] == "keeper", "pnl_usd"].sum()) if keepers is not None else 0.0
    converter_gain = sum(c.gain_wad(acc.refs.at(e.block)) for e, c in conversions
                         if not _is_keeper(e.keeper, e.strategy, keepers))
    conv_txs = liq[liq["action"].isin(acc.rules.conversion_actions)] if len(liq) else liq
    conv_txs = conv_txs[[not _is_keeper(a, s, keepers) for a, s in zip(conv_txs["agent"], conv_txs.get(
        "strategy", conv_txs["agent"]), strict=True)]] if len(conv_txs) else conv_txs
    converter_costs = _usd_sum(conv_txs, "gas_cost_usd", "builder_payment_usd")
    converter_profit = _usd(converter_gain) - converter_costs
    revenue_parts = _revenue_wad(acc)

    # counts and timing
    closing_txs = {e.key[:2] for e in events if e.contract == "market" and e.name in DEBT_CLOSING_EVENTS}
    soft_conversions = {e.key[:2] for e, c in conversions if c.collateral_out}
    to_liquidate = [p.first_closing.seconds - p.seconds for p in positions if p.first_closing is not None]
    to_safety = [p.safe_seconds - p.seconds if math.isfinite(p.safe_seconds) else math.inf for p in positions]
    pos_table = tables.get("positions")
    safety_recorded = pos_table is not None and "safe_seconds" in pos_table

    path = acc.path_end
    metrics = {
        **fin.metrics(),
        "borrower_loss_usd": _usd(loss_ref),
        "borrower_loss_vs_hold_usd": _usd(vs_hold),
        "borrower_penalty_oracle_usd": _usd(penalty_oracle),
        "wrongful_liquidations": len({key for _, key in wrongful}),
        "wrongful_liquidation_value_usd": _usd(wrongful_value),
        "keeper_profit_usd": keeper_ledgers + converter_profit,
        "mev_leaked_usd": mev,
        "gas_spent_usd": gas,
        "protocol_revenue_usd": _usd(sum(revenue_parts.values())),
        "liquidations": len(closing_txs | soft_conversions),
        "soft_conversions": len(soft_conversions),
        "failed_liquidation_txs": failed,
        "median_time_to_liquidate_s": _median_or_nan(to_liquidate),
        "median_time_to_safety_s": _median_or_nan(to_safety) if safety_recorded else math.nan,
        "max_price_impact_bps": _max_price_impact_bps(events, keepers),
        "over_liquidation_usd": _over_liquidation(acc, taken),
        **unliquidatable_metrics(pos_table),
        **Outcome.path_end_metrics(path),
    }
    details = {
        "outcome_wad": fin,
        "outcome_at_path_end_wad": path,
        "debt_at_risk_at_detection_usd": _usd(sum(p.debt_wad for p in positions)),
        "debt_borrowed_after_at_risk_usd": _usd(sum(p.borrowed_after for p in positions)),
        "debt_repaid_by_liquidation_usd": _usd(by_liquidation),
        "debt_repaid_by_borrowers_usd": _usd(sum(p.repaid_by_borrower for p in positions)),
        "collateral_taken_oracle_usd": _usd(taken_oracle),
        "collateral_taken_reference_usd": _usd(taken_ref),
        "soft_conversion_loss_oracle_usd": _usd(conv_loss_oracle),
        "soft_conversion_loss_reference_usd": _usd(conv_loss_ref),
        "soft_deconversions": len({e.key[:2] for e, c in conversions if not c.collateral_out}),
        "keeper_ledgers_usd": keeper_ledgers,
        "converter_profit_usd": converter_profit,
        "converter_costs_usd": converter_costs,
        "positions_at_risk": len(acc.positions),
        "positions_liquidated": sum(1 for p in positions if p.first_closing is not None),
        "positions_moved_vs_hold": moved_vs_hold,
        "positions_never_safe": sum(1 for t in to_safety if math.isinf(t)),
        "positions_short": sum(1 for p in positions
                               if risk.covered_and_shortfall(*p.final, acc.refs.final)[1] > 0),
        **{f"revenue_{k.replace('-', '_')}_usd": _usd(v) for k, v in revenue_parts.items()},
        **{f"{k}_usd": _usd(v) for k, v in acc.rules.accounting_details(acc.mechanism_events).items()},
    }
    return metrics, details


def unliquidatable_metrics(positions: pd.DataFrame | None) -> dict[str, float | int]:
    """``unliquidatable_positions``: positions at risk at the end of the run that no agent would
    act on at any later block before the settle phase's cap (the positions table's
    ``unliquidatable``, set by the simulation from the mechanism's prospects and the agents'
    rules); ``unliquidatable_debt_usd``: Σ their ``final_debt_usd_wad``."""
    if positions is None or "unliquidatable" not in positions or not len(positions):
        return {"unliquidatable_positions": 0, "unliquidatable_debt_usd": 0.0}
    stuck = positions[positions["unliquidatable"].astype(bool)]
    return {"unliquidatable_positions": int(len(stuck)),
            "unliquidatable_debt_usd": _usd(sum(_int(d) for d in stuck["final_debt_usd_wad"]))}


def market_metric_columns(market: str) -> list[str]:
    """The columns a run on ``market`` adds after ``METRIC_COLUMNS`` (its ``metric_groups``)."""
    from sandbox.markets import get_market

    return [c for _, cols in get_market(market).metric_groups for c in cols]


def headline_groups(columns) -> list[tuple[str, list[str]]]:
    """The comparison table's groups for a summary with ``columns``: ``HEADLINE_GROUPS``, then the
    groups of every registered market whose columns the summary holds (a perp comparison's
    insurance fund, ADL, funding and slippage rows)."""
    from sandbox.markets import MARKETS

    present = set(columns)
    groups = [(g, list(cols)) for g, cols in HEADLINE_GROUPS]
    for name in MARKETS.names():
        try:
            kind = MARKETS.load(name)
        except Exception:  # noqa: BLE001 - a broken plug-in must not break the table
            continue
        own = [(group, [c for c in cols if c in present]) for group, cols in kind.metric_groups]
        own = [(group, cols) for group, cols in own if cols]
        if own:  # the table is this market's: its titles and its own rows
            groups = [(kind.group_labels.get(g, g), cols) for g, cols in groups] + own
    return groups


def compute_metrics(result: "RunResult") -> dict:
    """The metrics of one run, keys METRIC_COLUMNS then the columns its market adds (none on
    lending; floats in USD, ints for counts, NaN where undefined). Raises AccountingError when
    the debt does not add up, at the end of the run or at the end of the price path."""
    kind = _market_kind(result)
    metrics, _ = kind.metrics(result)
    return {c: metrics[c] for c in [*METRIC_COLUMNS, *(c for _, cols in kind.metric_groups for c in cols)]}


def metric_details(result: "RunResult") -> dict:
    """Extras behind the metrics: the exact WAD outcomes (final and at the path end, ``Outcome``),
    recovered debt split by who repaid, the value taken from borrowers at both prices, soft
    conversion losses, liquidators' P&L split, revenue by component, the private auction
    operator's share, and position counts."""
    return _details(result)[1]


__all__ = [
    "HEADLINE_GROUPS", "HEADLINE_METRICS", "HIGHER_IS_BETTER", "LOWER_IS_BETTER", "METRIC_COLUMNS",
    "PATH_END_METRICS", "AccountingError", "Outcome", "compute_metrics",
    "enrich_events", "headline_groups", "lending_metrics", "loss_vs_hold_wad", "market_metric_columns",
    "metric_details", "outcome", "path_end_price", "unliquidatable_metrics",
]
