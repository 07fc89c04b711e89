"""Agents acting on the chain block by block: borrowers, the oracle updater, the arbitrageur, keepers."""

from .base import Agent, BlockView, GasPolicy, Ledger, PrivateBid
from .context import AgentContext

__all__ = ["Agent", "AgentContext", "BlockView", "GasPolicy", "Ledger", "PrivateBid"]
