"""Agent kinds a market asks for (entry-point group ``sandbox.agents``).

A market plug-in names the kinds of agents its runs need (the lending market: an oracle
updater, an arbitrageur, borrowers); the simulation loads each kind from this registry and asks
it for its accounts (``labels``) and then its agents (``populate``). Keepers are not a kind:
the scenario lists them, and ``sandbox.keepers`` loads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from sandbox.plugins import Registry

from .base import Agent

if TYPE_CHECKING:
    from sandbox.chain import Chain
    from sandbox.scenarios import Scenario


@dataclass
class RunSetup:
    """What a kind needs to create its agents: the run's scenario, chain, deployed market, its
    reference price at the start, one generator per agent label (``rng_for``) and the shared
    generator that draws the population (the same for every mechanism at a given seed)."""

    scenario: "Scenario"
    chain: "Chain"
    market: Any
    start_price_wad: int
    rng_for: Callable[[str], np.random.Generator]
    population_rng: np.random.Generator


def _check_kind(cls: type) -> list[str]:
    """A kind must say which accounts it uses and how it creates its agents."""
    return [name for name in ("labels", "populate") if not callable(getattr(cls, name, None))]


AGENT_KINDS: Registry[Agent] = Registry("sandbox.agents", "agent kind", Agent, check=_check_kind)


__all__ = ["AGENT_KINDS", "RunSetup"]
