"""Metrics of one run on the perpetual market: the same columns as the lending market's
(``sandbox.metrics.METRIC_COLUMNS``) with a margin account's meaning, then the perp market's own
(insurance fund, ADL, funding, liquidation-price slippage). Every number is a sum over rows of the
run's tables, exact WAD integers where an identity is checked.

Words used below
----------------
- *At risk* (``sandbox.perp.market.PerpRisk``, one rule for every mechanism): equity below
  maintenance margin, at the mark in force (the market's own rule: liquidatable) or at the
  reference price (under water at the market price), judged at each block's start, or from the
  block in which a mechanism acts on the account first. ``B`` is the block it first was.
- *Debt* of an account: its open notional, the USD cost basis of its position (a long borrowed
  it from the venue; a short received it and owes the WETH back). A fill that reduces a position
  takes basis off it (pro rata), one that grows it adds basis: basis moves only with fills
  (``PositionChanged``), never with the price, so the sums below are exact.
- *Liquidating fill*: a ``PositionChanged`` of kind close (1, through the venue) or transfer (2,
  an auction take) that reduces an account (the mechanism's primitives).

Outcomes (exact WAD integers)
-----------------------------
- ``debt_at_risk_usd`` = Σ over at-risk accounts of the open notional at the start of B
  (``at_risk_debt_usd_wad``) + basis added after B (trades that grew the position).
- ``bad_debt_usd`` = Σ ``BadDebtRecorded`` of at-risk accounts after B: the deficit of a flat
  account that neither the insurance fund nor auto-deleveraging covered.
- ``debt_recovered_usd`` = basis taken off at-risk accounts after B (liquidations, the trader's
  own closes, ADL) − their bad debt: closed, and the market was made whole for it (by the
  account's margin, the insurance fund — ``InsuranceDrawn`` — or deleveraged counterparties —
  ``AutoDeleveraged``, both shown in their own rows).
- Open at the end: basis ON still held, against the account's equity E at the final reference
  price (margin net of funding due + unrealised PnL there): ``shortfall_usd`` = Σ min(ON,
  max(0, −E)) (the part negative equity eats), ``debt_open_covered_usd`` = Σ ON − that.
- Identity, checked in exact integers on every call: at risk = recovered + bad + covered open +
  shortfall; the basis replayed from the fills must equal the basis read at the end (else
  ``AccountingError``), and every insurance draw, deleveraging, bad debt and liquidating fill must
  belong to an account at risk by then. ``*_at_path_end`` the same at the end of the price path.

Traders, keepers, protocol
--------------------------
- ``borrower_loss_usd``: what liquidations took from traders beyond closing at the market price:
  the fees taken from their margin (the mechanism's ``collateral_taken``: keeper fees, insurance
  fees, auction penalties) + the slippage of liquidating fills against the reference price (a
  long sold below it, a short bought back above it, an auction's discount; negative when a fill
  beat it). As on lending, a deficit the market absorbed is not netted off (the value taken is
  counted whether or not the trader's margin covered it). ``borrower_penalty_oracle_usd``: the
  same against the index in force at each fill.
- ``borrower_loss_vs_hold_usd`` ("loss vs holding"): Σ over at-risk accounts of what being
  liquidated cost the trader against holding the position untouched, both as equity at the
  path-end reference price P (``sandbox.metrics.loss_vs_hold_wad``: each floored at zero, a
  trader can walk away from negative equity). Left: the account at the end of the run (margin
  net of funding due + unrealised PnL of what is still open). Held: the position just before its
  first liquidating fill (from the at-risk snapshot and its fills), with the end margin less what
  the liquidation did to it: the PnL its liquidating and deleveraging fills realised, the fees it
  took (the mechanism's ``collateral_taken``), the deficit covered (``InsuranceDrawn``,
  ``BadDebtRecorded``, ``AutoDeleveraged.amount`` to the bankrupt account). The trader's own
  deposits, withdrawals and funding stay in both (funding as it was paid: the held position's own
  funding is not replayed). Why: the market-price loss values each fill at its block's price and
  misses a position closed at the bottom of a path that came back. Counterparties that were
  deleveraged are not counted.
- ``wrongful_liquidations``: transactions with a liquidating fill of an account safe at the
  reference price at its block's start (``position_health_ref`` >= 1); the value taken in them.
- ``keeper_profit_usd``, ``mev_leaked_usd``, ``gas_spent_usd``, ``failed_liquidation_txs``: as on
  lending (keepers' ledgers value their margin accounts as equity at the final reference price).
- ``protocol_revenue_usd``: the mechanism's ``protocol_revenue`` (fees into the insurance fund,
  auction penalties less keeper incentives, bid shares).
- ``liquidations``: distinct landed transactions with a liquidating fill or a shortfall settled;
  ``soft_conversions`` 0 (no bands). Times as on lending (to the first liquidating fill).
- ``max_price_impact_bps``: the largest venue price move caused by one swap in a keeper's
  transaction (the venue's reserves before a swap follow from its own ``Swap``).
- ``over_liquidation_usd`` (approximation): in each liquidated account's first liquidated block,
  the notional closed beyond the least close x* that restores equity ≥ MM at the index with no
  slippage, x* = (MMF·|q|·P − E) / (P·(MMF − f)) (f the block's fee fraction; the whole position
  when E ≤ 0 or MMF ≤ f), times P.

The perp market's own rows
--------------------------
- ``insurance_fund_drawdown_usd`` = Σ ``InsuranceDrawn``; ``adl_covered_usd`` = Σ
  ``AutoDeleveraged.amount``; ``adl_volume_usd`` = Σ size × bankruptcy price of deleveraged
  positions; ``funding_paid_usd`` = Σ positive ``FundingPaid`` (what payers paid; receivers got
  it less the insurance fund's rounding dust); ``liquidation_slippage_usd`` = Σ slippage of
  liquidating fills against the index in force at the fill (the price the market marks to: the
  venue's impact of a close, an auction's discount) and ``liquidation_slippage_bps`` the same
  over their notional at that index.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sandbox.mechanisms import get_mechanism
from sandbox.metrics import (
    AccountingError,
    Outcome,
    _addr,
    _int,
    _is_keeper,
    _keepers,
    _liquidating_txs,
    _median_or_nan,
    _OraclePrices,
    _parse_events,
    _ReferencePrices,
    _usd,
    _usd_sum,
    _wad_column,
    loss_vs_hold_wad,
    path_end_price,
    unliquidatable_metrics,
)
from sandbox.units import BPS, WAD

from . import math as pm

CLOSE, TRANSFER, ADL = 1, 2, 3
DEFICIT_EVENTS = ("InsuranceDrawn", "BadDebtRecorded")


@dataclass
class _Fill:
    key: tuple
    block: int
    seconds: float
    size: int  # WETH taken off the position (> 0)
    quote: int  # USD the venue or the taker paid (a long) or was paid (a short)
    long: bool
    health_ref: float
    keeper: str


@dataclass
class _Account:
    owner: str
    block: int
    seconds: float
    on: int  # open notional at the start of B
    size: int
    margin: int
    final: tuple[int, int, int]  # (margin net of funding due, size, ON)
    path_end: tuple[int, int, int] | None
    safe_seconds: float
    added: int = 0
    removed: int = 0
    insurance: int = 0
    adl: int = 0
    bad: int = 0
    fills: list[_Fill] = field(default_factory=list)
    events: list = field(default_factory=list)
    replay: tuple[int, int] = (0, 0)  # (size, ON) replayed from the fills


def _account(row: dict) -> _Account:
    final = tuple(_wad_column(row, f"final_{n}_wad") for n in ("margin_usd", "size_weth", "debt_usd"))
    path = tuple(_wad_column(row, f"path_end_{n}_wad") for n in ("margin_usd", "size_weth", "debt_usd"))
    safe = row.get("safe_seconds", math.nan)
    if None in final:
        raise AccountingError(f"account {row['position']}: no final state in the positions table")
    a = _Account(owner=_addr(row["position"]), block=int(row["at_risk_block"]), seconds=float(row["at_risk_seconds"]),
                 on=_int(row["at_risk_debt_usd_wad"]), size=_int(row["at_risk_size_weth_wad"]),
                 margin=_int(row["at_risk_margin_usd_wad"]), final=final,  # type: ignore[arg-type]
                 path_end=None if None in path else path,  # type: ignore[arg-type]
                 safe_seconds=math.nan if safe is None or int(row.get("safe_block", -1)) < 0 else float(safe))
    a.replay = (a.size, a.on)
    return a


def _equity(margin: int, size: int, on: int, price: int) -> int:
    return margin + pm.unrealised_pnl(size, on, price)


def _split(on: int, equity: int) -> tuple[int, int]:
    short = min(on, max(0, -equity))
    return on - short, short


class _Run:
    """The run's events folded per at-risk account."""

    def __init__(self, result):
        tables = result.tables
        self.result = result
        self.events = _parse_events(tables.get("events"))
        sc = getattr(result, "scenario", None)
        delay = getattr(getattr(sc, "oracle", None), "delay_seconds", 0)
        self.prices = _OraclePrices(self.events, tables.get("blocks"), delay)
        self.refs = _ReferencePrices(tables.get("blocks"))
        self.rules = get_mechanism(result.mechanism).variant_for("perp")
        self.run = f"{result.mechanism} seed {getattr(result, 'seed', '?')}"
        pos = tables.get("positions")
        self.accounts: dict[str, _Account] = {}
        self.known: set[str] = set()
        if pos is not None and len(pos):
            for row in pos.to_dict("records"):
                self.known.add(_addr(row["position"]))
                if bool(row["at_risk"]):
                    a = _account(row)
                    self.accounts[a.owner] = a
        self._fold()

    def _owner_at_risk(self, owner: str, e, what: str) -> _Account:
        a = self.accounts.get(owner)
        if a is None:
            if owner in self.known:
                raise AccountingError(f"{what} at {e.key} for account {owner}, never at risk")
            raise AccountingError(f"{what} at {e.key} for account {owner}, not in the positions table")
        if e.block < a.block:
            raise AccountingError(f"{what} at {e.key} for account {owner} before its at_risk_block {a.block}")
        return a

    def _fold(self) -> None:
        for e in self.events:
            if e.contract != "market":
                a = self.accounts.get(e.owner)
                if a is not None and e.block >= a.block:
                    a.events.append(e)
                continue
            name, args = e.name, e.args
            if name == "PositionChanged":
                owner = _addr(args.get("account"))
                kind = int(args.get("kind", 0))
                size_after, on_after = _int(args["size"]), _int(args["openNotional"])
                a = self.accounts.get(owner)
                reduces = kind in (CLOSE, TRANSFER) and _int(args["sizeDelta"]) != 0 and \
                    (size_after == 0 or abs(size_after) < abs(size_after - _int(args["sizeDelta"])))
                if reduces and owner in self.known:
                    a = self._owner_at_risk(owner, e, "liquidating fill")
                if a is None or e.block < a.block:
                    continue
                a.events.append(e)
                size0, on0 = a.replay
                if size0 != 0 and size_after != 0 and (size0 > 0) != (size_after > 0):
                    a.removed += on0
                    a.added += on_after
                elif abs(size_after) <= abs(size0):
                    a.removed += on0 - on_after
                else:
                    a.added += on_after - on0
                if size_after - _int(args["sizeDelta"]) != size0:
                    raise AccountingError(f"{self.run}: account {owner}'s fill at {e.key} starts from size "
                                          f"{size_after - _int(args['sizeDelta'])}, the replay has {size0}")
                a.replay = (size_after, on_after)
                if reduces:
                    a.fills.append(_Fill(e.key, e.block, e.seconds, abs(_int(args["sizeDelta"])), _int(args["quote"]),
                                         size0 > 0, e.health_ref, e.keeper))
            elif name in DEFICIT_EVENTS:
                a = self._owner_at_risk(_addr(args.get("account")), e, name)
                a.events.append(e)
                if name == "InsuranceDrawn":
                    a.insurance += _int(args["amount"])
                else:
                    a.bad += _int(args["amount"])
            elif name == "AutoDeleveraged":
                a = self._owner_at_risk(_addr(args.get("bankrupt")), e, name)
                a.events.append(e)
                a.adl += _int(args["amount"])
            else:
                a = self.accounts.get(e.owner)
                if a is not None and e.block >= a.block:
                    a.events.append(e)
        for a in self.accounts.values():
            if a.replay != (a.final[1], a.final[2]):
                raise AccountingError(f"{self.run}: account {a.owner}'s fills replay to (size, basis) {a.replay}, "
                                      f"the final read is {(a.final[1], a.final[2])}")

    # --- outcomes -------------------------------------------------------------------------------
    def outcome(self) -> Outcome:
        price = self.refs.final if self.accounts else 0
        covered = short = 0
        for a in self.accounts.values():
            c, s = _split(a.final[2], _equity(a.final[0], a.final[1], a.final[2], price))
            covered += c
            short += s
        accounts = self.accounts.values()
        bad = sum(a.bad for a in accounts)
        return Outcome(sum(a.on + a.added for a in accounts), sum(a.removed for a in accounts) - bad, bad,
                       covered, short).check(self.run)

    def path_end_outcome(self) -> Outcome | None:
        end = self.refs.path_end_block
        if end is None:
            return None
        price = self.refs.at(end)
        at_risk = removed = bad = covered = short = 0
        for a in self.accounts.values():
            if a.block > end:
                continue
            if a.path_end is None:
                return None
            at_risk += a.on
            size, on = a.size, a.on
            for e in a.events:
                if e.block > end or e.contract != "market":
                    continue
                if e.name == "BadDebtRecorded":
                    bad += _int(e.args["amount"])
                elif e.name == "PositionChanged":
                    size_after, on_after = _int(e.args["size"]), _int(e.args["openNotional"])
                    if size != 0 and size_after != 0 and (size > 0) != (size_after > 0):
                        removed += on
                        at_risk += on_after
                    elif abs(size_after) <= abs(size):
                        removed += on - on_after
                    else:
                        at_risk += on_after - on
                    size, on = size_after, on_after
            if (size, on) != (a.path_end[1], a.path_end[2]):
                raise AccountingError(f"{self.run}: account {a.owner}'s fills of the path replay to {(size, on)}, "
                                      f"the read at the end of the path is {(a.path_end[1], a.path_end[2])}")
            c, s = _split(on, _equity(a.path_end[0], size, on, price))
            covered += c
            short += s
        return Outcome(at_risk, removed - bad, bad, covered, short).check(f"{self.run} at the end of the price path")


def _loss_vs_hold(run: _Run) -> tuple[int, int]:
    """(Σ loss vs holding over at-risk accounts, accounts a liquidation acted on): the module
    docstring's ``borrower_loss_vs_hold_usd``, exact WAD at the path-end reference price."""
    if not run.accounts:
        return 0, 0
    price = path_end_price(run.refs)
    total = touched = 0
    for a in run.accounts.values():
        first = a.fills[0].key if a.fills else None
        size, on = a.size, a.on
        effect = -sum(t.usd for _, t in run.rules.collateral_taken(a.events))
        acted = effect != 0
        for e in a.events:
            if e.contract != "market":
                continue
            if e.name == "PositionChanged" and _addr(e.args.get("account")) == a.owner:
                if first is None or e.key < first:  # the position as it was before the liquidation
                    size, on = _int(e.args["size"]), _int(e.args["openNotional"])
                if int(e.args.get("kind", 0)) in (CLOSE, TRANSFER, ADL):
                    effect += _int(e.args["realisedPnl"])
                    acted = True
            elif e.name in DEFICIT_EVENTS and _addr(e.args.get("account")) == a.owner:
                effect += _int(e.args["amount"])
                acted = True
            elif e.name == "AutoDeleveraged" and _addr(e.args.get("bankrupt")) == a.owner:
                effect += _int(e.args["amount"])
                acted = True
        if not acted:
            continue
        margin, final_size, final_on = a.final
        total += loss_vs_hold_wad(_equity(margin - effect, size, on, price),
                                  _equity(margin, final_size, final_on, price))
        touched += 1
    return total, touched


def _slippage(fill: _Fill, price: int) -> int:
    """What the fill cost the account against closing at ``price``: a long sold below it, a short
    bought back above it (negative when it did better)."""
    at_price = fill.size * price // WAD
    return at_price - fill.quote if fill.long else fill.quote - at_price


def _swap_impact_bps(events, keepers) -> float:
    """Largest venue price move (bps) of one Swap in a keeper's transaction; the reserves before
    a swap follow from its own event (base before = after + baseDelta; quote before = after ∓ quote)."""
    best = 0.0
    for e in events:
        if e.contract != "venue" or e.name != "Swap" or not _is_keeper(e.keeper, e.strategy, keepers):
            continue
        delta, amount = _int(e.args["baseDelta"]), _int(e.args["quote"])
        base1, quote1 = _int(e.args["baseReserve"]), _int(e.args["quoteReserve"])
        base0 = base1 + delta
        quote0 = quote1 - amount if delta > 0 else quote1 + amount
        if base0 <= 0 or base1 <= 0 or quote0 <= 0:
            continue
        before, after = quote0 / base0, quote1 / base1
        best = max(best, abs(after - before) / before * 10_000)
    return best


def _over_liquidation(run: _Run) -> float:
    """See the module docstring; margin replayed from the account's market events."""
    mmf = run.result.scenario.perp.maintenance_margin_bps / BPS if getattr(run.result, "scenario", None) else 0.05
    vol = [(e.key, _int(e.args["mmf"])) for e in run.events if e.contract == "market" and e.name == "VolatilityUpdated"]
    total = 0.0
    for a in run.accounts.values():
        if not a.fills:
            continue
        first = a.fills[0]
        start = (first.block, first.key[1], -1)
        margin, size, on = a.margin, a.size, a.on
        for e in a.events:
            if e.key >= start:
                break
            if e.contract != "market":
                continue
            amount = _int(e.args.get("amount", 0)) if "amount" in e.args else 0
            if e.name == "Deposit" or e.name == "InsuranceDrawn" or e.name == "BadDebtRecorded":
                margin += amount
            elif e.name in ("Withdraw", "FundingPaid", "MarginPaid", "InsuranceFeeCharged"):
                margin -= amount
            elif e.name == "PositionChanged":
                margin += _int(e.args["realisedPnl"])
                size, on = _int(e.args["size"]), _int(e.args["openNotional"])
        price = run.prices.of(next(e for e in a.events if e.key == first.key))
        m = next((v for k, v in reversed(vol) if k < first.key), None)
        m = m / WAD if m is not None else mmf
        in_block = [f for f in a.fills if f.block == first.block]
        closed = sum(f.size for f in in_block)
        quote = sum(f.quote for f in in_block)
        fees = sum(_int(e.args["amount"]) for e in a.events if e.block == first.block and e.key >= start
                   and e.contract == "market" and e.name in ("MarginPaid", "InsuranceFeeCharged"))
        f = fees / quote if quote else 0.0
        p = price / WAD
        q = abs(size) / WAD
        equity = _equity(margin, size, on, price) / WAD
        x_star = q if equity <= 0 or m <= f else max(0.0, (m * q * p - equity) / (p * (m - f)))
        over = max(0.0, closed / WAD - x_star) * p
        if over > 1e-6:
            total += over
    return total


def perp_metrics(result) -> tuple[dict, dict]:
    run = _Run(result)
    tables = result.tables
    fin = run.outcome()
    path = run.path_end_outcome()
    accounts = list(run.accounts.values())
    keepers = _keepers(tables.get("agents"))

    fees_taken = {a.owner: sum(t.usd for _, t in run.rules.collateral_taken(a.events)) for a in accounts}
    fills = [(a, f) for a in accounts for f in a.fills]
    slip_ref = sum(_slippage(f, run.refs.at(f.block)) for _, f in fills)
    fill_event = {e.key: e for e in run.events}
    slip_oracle = sum(_slippage(f, run.prices.of(fill_event[f.key])) for _, f in fills)
    notional_ref = sum(f.size * run.refs.at(f.block) // WAD for _, f in fills)
    notional_oracle = sum(f.size * run.prices.of(fill_event[f.key]) // WAD for _, f in fills)
    fees_total = sum(fees_taken.values())
    vs_hold, touched = _loss_vs_hold(run)

    wrongful_txs = {(a.owner, f.key[:2]) for a, f in fills if f.health_ref >= 1}
    wrongful_value = sum(_slippage(f, run.refs.at(f.block)) for a, f in fills if (a.owner, f.key[:2]) in wrongful_txs)
    wrongful_value += sum(t.usd for a in accounts for e, t in run.rules.collateral_taken(a.events)
                          if (a.owner, e.key[:2]) in wrongful_txs)

    liq = _liquidating_txs(tables.get("txs"), run.rules.conversion_actions)
    agents = tables.get("agents")
    keeper_ledgers = float(agents.loc[agents["kind"] == "keeper", "pnl_usd"].sum()) if keepers is not None else 0.0
    mech_events = [e for e in run.events if e.contract == "mechanism"]
    revenue = run.rules.protocol_revenue(mech_events, run.prices.of, run.prices.final(run.events))

    closing = {f.key[:2] for _, f in fills} | {e.key[:2] for a in accounts for e in a.events
                                               if e.contract == "market" and e.name in DEFICIT_EVENTS}
    to_liquidate = [a.fills[0].seconds - a.seconds for a in accounts if a.fills]
    to_safety = [a.safe_seconds - a.seconds if math.isfinite(a.safe_seconds) else math.inf for a in accounts]
    pos = tables.get("positions")
    safety_recorded = pos is not None and "safe_seconds" in pos

    market_events = [e for e in run.events if e.contract == "market"]
    drawn = sum(_int(e.args["amount"]) for e in market_events if e.name == "InsuranceDrawn")
    adl = [e for e in market_events if e.name == "AutoDeleveraged"]
    funding = sum(max(0, _int(e.args["amount"])) for e in market_events if e.name == "FundingPaid")

    metrics: dict[str, Any] = {
        **fin.metrics(),
        "borrower_loss_usd": _usd(fees_total + slip_ref),
        "borrower_loss_vs_hold_usd": _usd(vs_hold),
        "borrower_penalty_oracle_usd": _usd(fees_total + slip_oracle),
        "wrongful_liquidations": len({key for _, key in wrongful_txs}),
        "wrongful_liquidation_value_usd": _usd(wrongful_value),
        "keeper_profit_usd": keeper_ledgers,
        "mev_leaked_usd": _usd_sum(liq, "priority_fee_usd", "builder_payment_usd"),
        "gas_spent_usd": _usd_sum(liq, "gas_cost_usd"),
        "protocol_revenue_usd": _usd(sum(revenue.values())),
        "liquidations": len(closing),
        "soft_conversions": 0,
        "failed_liquidation_txs": int((liq["status"] == 0).sum()),
        "median_time_to_liquidate_s": _median_or_nan(to_liquidate),
        "median_time_to_safety_s": _median_or_nan(to_safety) if safety_recorded else math.nan,
        "max_price_impact_bps": _swap_impact_bps(run.events, keepers),
        "over_liquidation_usd": _over_liquidation(run),
        **unliquidatable_metrics(pos),
        **Outcome.path_end_metrics(path),
        "insurance_fund_drawdown_usd": _usd(drawn),
        "adl_covered_usd": _usd(sum(_int(e.args["amount"]) for e in adl)),
        "adl_volume_usd": _usd(sum(_int(e.args["size"]) * _int(e.args["bankruptcyPrice"]) // WAD for e in adl)),
        "funding_paid_usd": _usd(funding),
        "liquidation_slippage_usd": _usd(slip_oracle),
        "liquidation_slippage_bps": (slip_oracle / notional_oracle * BPS) if notional_oracle else math.nan,
    }
    details = {
        "outcome_wad": fin,
        "outcome_at_path_end_wad": path,
        "debt_at_risk_at_detection_usd": _usd(sum(a.on for a in accounts)),
        "debt_added_after_at_risk_usd": _usd(sum(a.added for a in accounts)),
        "debt_closed_usd": _usd(sum(a.removed for a in accounts)),
        "deficits_from_insurance_usd": _usd(sum(a.insurance for a in accounts)),
        "deficits_from_adl_usd": _usd(sum(a.adl for a in accounts)),
        "fees_taken_usd": _usd(fees_total),
        "liquidated_notional_reference_usd": _usd(notional_ref),
        "keeper_ledgers_usd": keeper_ledgers,
        "positions_at_risk": len(accounts),
        "positions_liquidated": sum(1 for a in accounts if a.fills),
        "positions_moved_vs_hold": touched,
        "positions_never_safe": sum(1 for t in to_safety if math.isinf(t)),
        "positions_short": sum(1 for a in accounts if _split(a.final[2], _equity(
            a.final[0], a.final[1], a.final[2], run.refs.final))[1] > 0),
        **{f"revenue_{k.replace('-', '_')}_usd": _usd(v) for k, v in revenue.items()},
        **{f"{k}_usd": _usd(v) for k, v in run.rules.accounting_details(mech_events).items()},
    }
    return metrics, details


__all__ = ["perp_metrics"]
