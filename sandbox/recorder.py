"""Turns a run's blocks into tidy tables: blocks/prices, transactions, events, positions.

Everything recorded comes from chain receipts and batched reads, tagged with who sent each
transaction, so every number a report prints can be traced back to a block and a log.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sandbox import risk
from sandbox.chain.builder import ProducedBlock
from sandbox.units import GWEI, WAD

# Events worth keeping: everything the market, the mechanism and its helpers emit, plus AMM swaps
# (price impact) and flash loans. Token transfers are derivable and too numerous.
SKIP_EVENTS = {"Transfer", "Approval"}
LIQUIDATION_MARKERS = risk.LIQUIDATION_MARKERS  # the lending market's (``risk.LendingRisk``)


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**53:
        return str(value)  # keep exact integers in JSON
    return value


@dataclass
class Recorder:
    """Collects rows during one run; ``tables()`` returns DataFrames with stable column order.

    At-risk detection, time to safety and the health numbers follow ``sandbox.risk`` (one rule
    for every mechanism), from the positions the block view already read in one batched call; a
    market other than lending passes its own rule (``MarketKind.risk_rule``) as ``rule``."""

    mechanism: str
    seed: int
    contract_names: dict[str, str]  # address -> role ("market", "mechanism", "amm", ...)
    strategies: dict[str, str]  # agent label -> strategy
    liquidation_threshold_bps: int = 8500
    rule: Any = None  # the market's at-risk rule; None: the lending market's (``risk.LendingRisk``)
    blocks: list[dict] = field(default_factory=list)
    txs: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    first_at_risk: dict[str, dict] = field(default_factory=dict)  # position -> when first at risk
    first_safe: dict[str, dict] = field(default_factory=dict)  # position -> when first covered after
    _block_start: dict = field(default_factory=dict)  # position -> its view at this block's start
    _block_health: dict = field(default_factory=dict)  # position -> health at the reference price
    _block_stats: dict = field(default_factory=dict)  # this block's health distribution
    _view: object = None

    def __post_init__(self):
        if self.rule is None:
            self.rule = risk.LendingRisk(self.liquidation_threshold_bps)

    def _risk(self, p, price_wad: int) -> bool:
        return self.rule.at_risk_at(p, price_wad)

    def observe_positions(self, view, elapsed_seconds: int) -> None:
        """At the start of block ``view.number``: positions at risk for the first time (at the
        oracle price in force or at the block's reference price, ``sandbox.risk``); positions
        at risk earlier that are now safe at both prices were covered in the previous block;
        and the block's health distribution at the reference price."""
        self._view = view
        self._block_start = {p.owner: p for p in view.positions}
        ref, rule = view.reference_price_wad, self.rule
        healths, below_oracle, below_ref, with_debt = {}, 0, 0, 0
        for p in view.positions:
            healths[p.owner] = rule.health(p, ref)
            if not rule.exposed(p):
                continue
            with_debt += 1
            by_oracle, by_ref = rule.at_risk_in_force(p, view.market), self._risk(p, ref)
            below_oracle += by_oracle
            below_ref += by_ref
            if p.owner not in self.first_at_risk and (by_oracle or by_ref):
                how = "oracle+reference" if by_oracle and by_ref else "oracle" if by_oracle else "reference"
                self._mark(p, view, elapsed_seconds, how)
        self._block_health = healths
        previous = self.blocks[-1] if self.blocks else None
        if previous is not None:
            for owner, first in self.first_at_risk.items():
                if owner in self.first_safe or first["at_risk_block"] >= view.number:
                    continue
                p = self._block_start.get(owner)
                if p is not None and not rule.at_risk_in_force(p, view.market) and not self._risk(p, ref):
                    self.first_safe[owner] = {"safe_block": previous["block"], "safe_seconds": previous["seconds"]}
        values = np.array(list(healths.values()), dtype=float)
        finite = values[np.isfinite(values)]
        q = np.quantile(finite, [0.1, 0.5, 0.9]) if len(finite) else [math.nan] * 3
        self._block_stats = {
            "positions_with_debt": with_debt,
            "health_below_1_oracle": below_oracle,
            "health_below_1_reference": below_ref,
            "health_ref_min": float(finite.min()) if len(finite) else math.nan,
            "health_ref_p10": float(q[0]), "health_ref_p50": float(q[1]), "health_ref_p90": float(q[2]),
        }

    def observe_end(self, positions, oracle_price_wad: int, reference_price_wad: int, state=None) -> None:
        """After the last block: positions at risk and never covered whose final state is safe
        at both prices were covered in the last block (``state``: the market's, for its rule of
        the price in force; without it the oracle price is used)."""
        if not self.blocks:
            return
        last = self.blocks[-1]
        for p in positions:
            in_force = self.rule.at_risk_in_force(p, state) if state is not None else self._risk(p, oracle_price_wad)
            if p.owner in self.first_at_risk and p.owner not in self.first_safe \
                    and not in_force and not self._risk(p, reference_price_wad):
                self.first_safe[p.owner] = {"safe_block": last["block"], "safe_seconds": last["seconds"]}

    def _mark(self, p, view, elapsed_seconds: int, how: str) -> None:
        self.first_at_risk[p.owner] = {
            "position": p.owner,
            "at_risk_block": view.number,
            "at_risk_seconds": elapsed_seconds,
            **self.rule.snapshot(p),
            "at_risk_oracle_price_wad": view.market.price,
            "at_risk_reference_price_wad": view.reference_price_wad,
            # "oracle" / "reference" / "oracle+reference": at risk at that price at a block's start;
            # "event": a mechanism liquidated it first, inside the block (e.g. a back-run)
            "at_risk_detected_by": how,
        }

    def _mark_from_events(self, block_logs, elapsed_seconds: int) -> None:
        """A liquidation inside the block that made a position liquidatable (e.g. right after
        the oracle update) is never seen at a block start: its first liquidation event marks
        it, with the debt it had at the start of that block."""
        for owner in self.rule.liquidated_in(block_logs, self.contract_names):
            p = self._block_start.get(owner)
            if p is not None and owner not in self.first_at_risk:
                self._mark(p, self._view, elapsed_seconds, "event")

    def record(self, produced: ProducedBlock, elapsed_seconds: int, reference_price_wad: int,
               oracle_price_wad: int, amm_reserves: tuple[int, int], phase: str = "path") -> None:
        """One block's rows; ``phase`` is "path" (the price path) or "settle" (after it, price held)."""
        result = produced.result
        if self._view is not None:
            self._mark_from_events(result.logs, elapsed_seconds)
        weth, usd = amm_reserves
        self.blocks.append({
            "block": result.number,
            "timestamp": result.timestamp,
            "seconds": elapsed_seconds,
            "phase": phase,
            "reference_price_usd": reference_price_wad / WAD,
            "reference_price_wad": str(reference_price_wad),
            "oracle_price_usd": oracle_price_wad / WAD,
            "oracle_price_wad": str(oracle_price_wad),
            "amm_price_usd": (usd / weth) if weth else float("nan"),
            "base_fee_gwei": result.base_fee_per_gas / GWEI,
            "gas_used": result.gas_used,
            "background_gas": result.background_gas,
            "transactions": len(result.receipts),
            **self._block_stats,
        })
        for pending, receipt in produced.entries():
            meta = pending.meta or {}
            self.txs.append({
                "block": result.number,
                "timestamp": result.timestamp,
                "phase": phase,
                "tx_index": receipt.index,
                "tx_hash": "0x" + receipt.tx_hash.hex(),
                "agent": pending.agent,
                "strategy": self.strategies.get(pending.agent, pending.agent),
                "tag": pending.tag,
                "action": meta.get("action", ""),
                "position": meta.get("owner", ""),
                "private": bool(pending.private),
                "status": receipt.status,
                "gas_used": receipt.gas_used,
                "effective_gas_price_gwei": receipt.effective_gas_price / GWEI,
                "priority_fee_usd": receipt.priority_fee_paid_wei * reference_price_wad // WAD / WAD,
                "gas_cost_usd": receipt.fee_paid_wei * reference_price_wad // WAD / WAD,
                "builder_payment_usd": produced.builder_payment_wei(receipt) * reference_price_wad // WAD / WAD,
                "revert_reason": receipt.revert_reason or "",
            })
            for log in receipt.logs:
                if log.name in SKIP_EVENTS or log.address not in self.contract_names:
                    continue
                args = log.args
                self.events.append({
                    "block": result.number,
                    "timestamp": result.timestamp,
                    "seconds": elapsed_seconds,
                    "phase": phase,
                    "mechanism": self.mechanism,
                    "tx_index": receipt.index,
                    "log_index": log.log_index,
                    "contract": self.contract_names[log.address],
                    "address": log.address,
                    "event": log.name,
                    "position": str(self.rule.position_of(args) or ""),
                    "keeper": pending.agent,
                    "strategy": self.strategies.get(pending.agent, pending.agent),
                    "reference_price_usd": reference_price_wad / WAD,
                    # the named position's health at the reference price at this block's start
                    "position_health_ref": self._block_health.get(self.rule.position_of(args), math.nan),
                    "args": json.dumps(_jsonable(args), sort_keys=True),
                })

    def tables(self) -> dict[str, pd.DataFrame]:
        blocks = pd.DataFrame(self.blocks)
        txs = pd.DataFrame(self.txs)
        events = pd.DataFrame(self.events, columns=[
            "block", "timestamp", "seconds", "phase", "mechanism", "tx_index", "log_index", "contract",
            "address", "event", "position", "keeper", "strategy", "reference_price_usd", "position_health_ref",
            "args"])
        for df in (blocks, txs):
            df.insert(0, "mechanism", self.mechanism)
            df.insert(1, "seed", self.seed)
        events.insert(0, "seed", self.seed)
        events.insert(0, "mechanism", events.pop("mechanism"))
        return {"blocks": blocks, "txs": txs, "events": events}
