"""Liquidation mechanisms: the interface and the entry-point registry (group ``sandbox.mechanisms``)."""

from sandbox.plugins import Registry, UnknownPlugin

from sandbox.legs import Leg, Valuer, amount_of, legs

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


__all__ = ["AuctionState", "Call", "Leg", "LiquidationMechanism", "MECHANISMS", "MechanismParams",
           "Opportunity", "OrderFlowAuction", "UnknownPlugin", "Valuer", "amount_of", "get_mechanism", "legs"]
