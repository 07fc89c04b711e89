"""Market plug-ins (entry-point group ``sandbox.markets``): what a run is assembled around.

Built-in: ``lending``. A scenario picks one with ``market = "…"``; every mechanism says which
markets it runs on (``LiquidationMechanism.markets``).
"""

from sandbox.plugins import Registry, UnknownPlugin

from .base import MarketKind, PositionLegs

MARKETS: Registry[MarketKind] = Registry("sandbox.markets", "market", MarketKind,
                                         check=lambda cls: cls.missing_rules())


def get_market(name: str) -> type[MarketKind]:
    return MARKETS.load(name)


__all__ = ["MARKETS", "MarketKind", "PositionLegs", "UnknownPlugin", "get_market"]
