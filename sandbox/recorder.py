"""Turns a run's blocks into tidy tables: blocks/prices, transactions, events, positions.

Everything recorded comes from chain receipts and batched reads, tagged with who sent each
transaction, so every number a report prints can be traced back to a block and a log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from sandbox.chain.builder import ProducedBlock
from sandbox.units import GWEI, WAD

# Events worth keeping: everything the market, the mechanism and its helpers emit, plus AMM swaps
# (price impact) and flash loans. Token transfers are derivable and too numerous.
SKIP_EVENTS = {"Transfer", "Approval"}
# Market events that only a liquidation produces (a lock is set only when an auction starts).
LIQUIDATION_MARKERS = {"LiquidationRepaid", "BadDebtWrittenOff", "LockChanged"}


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
    """Collects rows during one run; ``tables()`` returns DataFrames with stable column order."""

    mechanism: str
    seed: int
    contract_names: dict[str, str]  # address -> role ("market", "mechanism", "amm", ...)
    strategies: dict[str, str]  # agent label -> strategy
    blocks: list[dict] = field(default_factory=list)
    txs: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    first_at_risk: dict[str, dict] = field(default_factory=dict)  # position -> when first at risk
    _block_start: dict = field(default_factory=dict)  # position -> its view at this block's start
    _view: object = None

    def observe_positions(self, view, elapsed_seconds: int) -> None:
        """At the start of block ``view.number``: note positions the market reports liquidatable
        (HF < 1) for the first time; the block "at risk" is the first that began so."""
        self._view = view
        self._block_start = {p.owner: p for p in view.positions}
        for p in view.positions:
            if p.owner not in self.first_at_risk and p.is_liquidatable:
                self._mark(p, view, elapsed_seconds, "view")

    def _mark(self, p, view, elapsed_seconds: int, how: str) -> None:
        self.first_at_risk[p.owner] = {
            "position": p.owner,
            "at_risk_block": view.number,
            "at_risk_seconds": elapsed_seconds,
            "at_risk_debt_usd_wad": p.debt,
            "at_risk_collateral_weth_wad": p.collateral + p.held_collateral,
            "at_risk_held_usd_wad": p.held_debt_asset,
            "at_risk_oracle_price_wad": view.market.price,
            "at_risk_detected_by": how,  # "view": HF < 1 at a block start; "event": liquidated
        }                                # within the block that made it liquidatable (a back-run)

    def _mark_from_events(self, block_logs, elapsed_seconds: int) -> None:
        """A liquidation inside the block that made a position liquidatable (e.g. right after
        the oracle update) is never seen at a block start: its first liquidation event marks
        it, with the debt it had at the start of that block."""
        for log in block_logs:
            if log.name in LIQUIDATION_MARKERS and (log.name != "LockChanged" or log.args.get("isLocked")):
                owner = log.args.get("owner")
                p = self._block_start.get(owner)
                if p is not None and owner not in self.first_at_risk:
                    self._mark(p, self._view, elapsed_seconds, "event")

    def record(self, produced: ProducedBlock, elapsed_seconds: int, reference_price_wad: int,
               oracle_price_wad: int, amm_reserves: tuple[int, int], phase: str = "path") -> None:
        """One block's rows; ``phase`` is "path" (the price path) or "settle" (after it, price held)."""
        result = produced.result
        if self._view is not None:
            self._mark_from_events([l for l in result.logs if self.contract_names.get(l.address) == "market"],
                                   elapsed_seconds)
        weth, usd = amm_reserves
        self.blocks.append({
            "block": result.number,
            "timestamp": result.timestamp,
            "seconds": elapsed_seconds,
            "phase": phase,
            "reference_price_usd": reference_price_wad / WAD,
            "oracle_price_usd": oracle_price_wad / WAD,
            "oracle_price_wad": str(oracle_price_wad),
            "amm_price_usd": (usd / weth) if weth else float("nan"),
            "base_fee_gwei": result.base_fee_per_gas / GWEI,
            "gas_used": result.gas_used,
            "background_gas": result.background_gas,
            "transactions": len(result.receipts),
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
                    "position": str(args.get("owner", args.get("borrower", ""))),
                    "keeper": pending.agent,
                    "strategy": self.strategies.get(pending.agent, pending.agent),
                    "reference_price_usd": reference_price_wad / WAD,
                    "args": json.dumps(_jsonable(args), sort_keys=True),
                })

    def tables(self) -> dict[str, pd.DataFrame]:
        blocks = pd.DataFrame(self.blocks)
        txs = pd.DataFrame(self.txs)
        events = pd.DataFrame(self.events, columns=[
            "block", "timestamp", "seconds", "phase", "mechanism", "tx_index", "log_index", "contract",
            "address", "event", "position", "keeper", "strategy", "reference_price_usd", "args"])
        for df in (blocks, txs):
            df.insert(0, "mechanism", self.mechanism)
            df.insert(1, "seed", self.seed)
        events.insert(0, "seed", self.seed)
        events.insert(0, "mechanism", events.pop("mechanism"))
        return {"blocks": blocks, "txs": txs, "events": events}
