"""Liquidation mechanisms: the interface and the entry-point registry (group ``sandbox.mechanisms``)."""

from sandbox.legs import Leg, Valuer, amount_of, legs
from sandbox.plugins import Registry, UnknownPlugin

from .base import (
    AuctionState,
    Call,
    LiquidationMechanism,
    MechanismParams,
    Opportunity,
    OrderFlowAuction,
)

MECHANISMS: Registry[LiquidationMechanism] = Registry(
    "sandbox.mechanisms", "mechanism", LiquidationMechanism, check=lambda cls: cls.missing_rules())


def get_mechanism(name: str) -> type[LiquidationMechanism]:
    return MECHANISMS.load(name)


def default_mechanisms() -> list[str]:
    """The mechanisms compared when none is named: those with a ``default_rank``, in its order
    (a plug-in that cannot be loaded is left out)."""
    ranked = []
    for name in MECHANISMS.names():
        try:
            rank = MECHANISMS.load(name).own_default_rank()
        except Exception:  # noqa: BLE001 - someone else's broken package must not break compare
            continue
        if rank is not None:
            ranked.append((rank, name))
    return [name for _, name in sorted(ranked)]


__all__ = ["AuctionState", "Call", "Leg", "LiquidationMechanism", "MECHANISMS", "MechanismParams",
           "Opportunity", "OrderFlowAuction", "UnknownPlugin", "Valuer", "amount_of", "default_mechanisms",
           "get_mechanism", "legs"]
