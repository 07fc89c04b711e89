"""Legs: amounts of one asset changing hands, and how keepers value them.

A leaf module (nothing of the sandbox imported): markets say what their assets are worth
(``Valuer``), mechanisms say which legs an action moves (``sandbox.mechanisms.Opportunity``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence


@dataclass(frozen=True)
class Leg:
    """An amount of one asset changing hands (WAD, > 0); ``asset`` is its symbol in the market
    (the lending market's "USD" and "WETH")."""

    asset: str
    amount: int


def legs(**amounts: int) -> tuple[Leg, ...]:
    """Legs from keyword amounts in the order given, zeros left out: ``legs(USD=x, WETH=y)``."""
    return tuple(Leg(asset, int(amount)) for asset, amount in amounts.items() if amount)


def amount_of(of: Sequence[Leg], asset: str) -> int:
    """The total amount of ``asset`` in ``of``."""
    return sum(leg.amount for leg in of if leg.asset == asset)


class Valuer(Protocol):
    """What a keeper's proceeds are worth now, in the market's numeraire (its market supplies
    it: e.g. collateral sold on the AMM). Planning several actions moves the venue: ``take``
    records a sale so later valuations see the price they would get."""

    def value(self, of: Sequence[Leg]) -> int:
        """Numeraire (WAD) that selling ``of`` would yield now."""

    def amount_for(self, asset: str, value: int) -> int | None:
        """The least amount of ``asset`` whose sale yields ``value``, None if none does."""

    def take(self, of: Sequence[Leg]) -> None:
        """Record the sale of ``of``."""
