"""Liquidation mechanisms: the interface and the entry-point registry (group ``sandbox.mechanisms``)."""

from sandbox.plugins import Registry, UnknownPlugin

from .base import Call, LiquidationMechanism, MechanismParams, Opportunity

MECHANISMS: Registry[LiquidationMechanism] = Registry("sandbox.mechanisms", "mechanism", LiquidationMechanism)


def get_mechanism(name: str) -> type[LiquidationMechanism]:
    return MECHANISMS.load(name)


__all__ = ["Call", "LiquidationMechanism", "MECHANISMS", "MechanismParams", "Opportunity",
           "UnknownPlugin", "get_mechanism"]
