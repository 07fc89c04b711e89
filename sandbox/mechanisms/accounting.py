"""What a mechanism's events mean for the metrics: the types its accounting rules speak.

Every mechanism declares, on its class, how its events translate into the run's accounting
(``LiquidationMechanism.collateral_taken``, ``protocol_revenue``, ``event_amounts``,
``conversion``): ``sandbox.metrics`` asks the mechanism, never looks it up by name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

Key = tuple[int, int, int]  # (block, transaction index, log index): chain order


@dataclass
class LedgerEvent:
    """One event of a run as the metrics read it (from the run's ``events`` table): amounts in
    ``args`` are exact integers; ``contract`` is the emitter's role ("market", "mechanism",
    "amm", "oracle", ...); ``owner`` the lower-case position it names ("" if none)."""

    key: Key
    block: int
    timestamp: int
    seconds: float
    contract: str
    name: str
    owner: str
    keeper: str  # agent label of the transaction's sender
    strategy: str
    args: dict[str, Any] = field(default_factory=dict)
    health_ref: float = math.nan  # the position's health at the reference price at the block's start

    def int(self, name: str) -> int:
        """Argument ``name`` as an exact integer (JSON keeps large ones as strings)."""
        value = self.args[name]
        return int(value) if isinstance(value, (bool, int)) else int(str(value))


@dataclass(frozen=True)
class Taken:
    """Value an event took from a position's owner: ``weth`` of collateral (valued by the
    metrics at the event's oracle and reference prices), ``usd`` of the debt asset (negative:
    credited back to the owner) and, when the contract reported the oracle value of that
    collateral itself, ``oracle_value`` (used instead of the metrics' own valuation)."""

    weth: int
    usd: int = 0
    oracle_value: int | None = None


@dataclass(frozen=True)
class Conversion:
    """A trade of a third party against collateral the mechanism holds for positions (soft
    liquidation's bands): it paid ``amount_in`` and took ``amount_out``; ``collateral_out`` True
    when it paid the debt asset and took collateral (the positions' collateral was converted into
    the debt asset: a liquidating move), False the other way round."""

    collateral_out: bool
    amount_in: int
    amount_out: int

    def gain_wad(self, price_wad: int) -> int:
        """What the trader gained at ``price_wad`` (the positions lost as much)."""
        if self.collateral_out:
            return self.amount_out * price_wad // 10**18 - self.amount_in
        return self.amount_out - self.amount_in * price_wad // 10**18


__all__ = ["Conversion", "Key", "LedgerEvent", "Taken"]
