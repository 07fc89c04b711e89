"""Keeper strategies that compete for liquidations (entry-point group ``sandbox.keepers``).

Built-ins: ``naive`` (fixed tip), ``pga`` (priority gas auction: bids a share of the profit and
re-bids ×1.125 when outbid), ``frontrunner`` (copies others' pending liquidations with a higher
tip), ``backrunner`` (bundles its liquidations right after a pending oracle update) and
``flash`` (no capital: liquidates through its FlashLiquidator contract with a flash loan) and
``opportunist`` (bids the least the contract accepts on auction lots nobody else bids on, as the
zero bids of 12 March 2020; otherwise naive).
"""

from sandbox.plugins import Registry, UnknownPlugin

from .base import Keeper, KeeperParams, Plan, Target

KEEPERS: Registry[Keeper] = Registry("sandbox.keepers", "keeper strategy", Keeper)


def get_keeper(name: str) -> type[Keeper]:
    return KEEPERS.load(name)


__all__ = ["KEEPERS", "Keeper", "KeeperParams", "Plan", "Target", "UnknownPlugin", "get_keeper"]
