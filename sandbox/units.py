"""Fixed-point units shared by contracts and Python: WAD (1e18) amounts and prices, basis points."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

WAD = 10**18
RAY = 10**27
BPS = 10_000
GWEI = 10**9


def to_wad(x: float | int | str | Decimal) -> int:
    """A human amount or price as a WAD integer, rounded to the nearest unit."""
    return int((Decimal(str(x)) * WAD).to_integral_value(rounding=ROUND_HALF_EVEN))


def from_wad(x: int) -> float:
    return x / WAD


def wmul(a: int, b: int) -> int:
    """a·b / WAD rounded down, as WadMath.wmul on-chain."""
    return a * b // WAD


def wdiv(a: int, b: int) -> int:
    """a·WAD / b rounded down, as WadMath.wdiv on-chain."""
    return a * WAD // b


def bps_to_wad(bps: int) -> int:
    return bps * WAD // BPS
