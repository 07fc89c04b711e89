"""What a market plug-in provides: the interface the simulation assembles a run from.

A market deploys its contracts on a chain, names the roles and agent kinds its runs need,
installs the one liquidation mechanism, serves its positions through one generic view (owner,
collateral and debt legs per asset, health against the requirement) and says which of its
contracts play which role in the tables. The lending market (``sandbox.markets.lending``) is
the first; a third party registers another under the entry-point group ``sandbox.markets``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

from sandbox.legs import Leg

if TYPE_CHECKING:
    from sandbox.chain import Address, Chain
    from sandbox.scenarios import Scenario


@dataclass(frozen=True)
class PositionLegs:
    """A position in any market: what backs it and what it owes, per asset (WAD amounts), and
    its health as the market's own rule computes it (``health_wad`` < 1e18: liquidatable)."""

    owner: "Address"
    collateral: tuple[Leg, ...]
    debt: tuple[Leg, ...]
    health_wad: int
    locked: bool = False


class MarketKind(ABC):
    """A kind of market the sandbox can run (the class is the plug-in; runs use its class methods)."""

    #: the entry-point name (``market = "…"`` in a scenario)
    name: ClassVar[str]
    #: accounts the market's contracts are run by, labelled in this order on every run's chain
    role_labels: ClassVar[tuple[str, ...]]
    #: agent kinds (``sandbox.agents``) its runs need, created in this order
    agent_kinds: ClassVar[tuple[str, ...]]
    #: scenario sections only this market reads (refused in a scenario on another market)
    sections: ClassVar[tuple[str, ...]] = ()
    #: rows the comparison table adds for this market's own metrics (``metrics``' extra columns)
    metric_groups: ClassVar[tuple[tuple[str, tuple[str, ...]], ...]] = ()
    #: the comparison table's group titles as this market names who is affected (e.g. traders
    #: for borrowers); applied to a table that holds this market's own rows
    group_labels: ClassVar[dict[str, str]] = {}

    @classmethod
    def missing_rules(cls) -> list[str]:
        """The required class attributes this market does not define (it is refused if any)."""
        return [attr for attr in ("name", "role_labels", "agent_kinds") if not hasattr(cls, attr)]

    @classmethod
    @abstractmethod
    def deploy(cls, chain: "Chain", scenario: "Scenario") -> Any:
        """Deploy and seed the market's contracts for ``scenario``; returns the market handle
        mechanisms install on and agents trade through (``numeraire``, ``collateral_asset``,
        ``valuer``, ``positions``, ``state``, ``price``)."""

    @classmethod
    @abstractmethod
    def position_legs(cls, market: Any, view: Any) -> PositionLegs:
        """One of the market's position views (``market.positions``) as legs per asset."""

    @classmethod
    @abstractmethod
    def contract_roles(cls, market: Any) -> dict["Address", str]:
        """The market's contracts by address, named by role for the tables (``market``, ``oracle`` …)."""

    @classmethod
    @abstractmethod
    def example_scenario(cls) -> "Scenario":
        """A small scenario on this market that puts positions at risk within a few dozen
        blocks (the conformance suite runs it; a quick way to try the market)."""

    @classmethod
    def owners(cls, agents: Sequence[Any]) -> list["Address"]:
        """The addresses whose positions the run follows: agents that hold a position (``holds_position``)."""
        return [a.account.address for a in agents if getattr(a, "holds_position", False)]

    @classmethod
    @abstractmethod
    def follow(cls, market: Any, mechanism: Any, owners: Sequence["Address"]) -> Any:
        """Start following ``owners``' positions from events (a book the market's reads are
        served from); returns the book, whose ``apply_block`` the run calls after each block."""

    # --- what a run records and measures on this market --------------------------------------
    @classmethod
    @abstractmethod
    def risk_rule(cls, scenario: "Scenario") -> Any:
        """The one at-risk rule on this market's position views, for the run's recorder (see
        ``sandbox.risk.LendingRisk``): ``exposed``, ``at_risk_at``, ``at_risk_in_force``,
        ``health``, ``snapshot``, ``position_of`` (event arguments) and ``liquidated_in`` (logs)."""

    @classmethod
    @abstractmethod
    def position_row(cls, agent: Any, final: Any, path_end: Any, at_risk: dict | None,
                     safe: dict | None) -> dict:
        """The positions table's columns (after mechanism, seed and position) for ``agent``'s
        position: as it started, at the end of the path (``path_end`` view, None if not read), at
        the end, and when it first became at risk (``at_risk``: the recorder's record, None if
        never; ``safe``: when it was covered after, None if never)."""

    @classmethod
    @abstractmethod
    def metrics(cls, result: Any) -> tuple[dict, dict]:
        """(metrics, details) of one run (``sandbox.metrics.compute_metrics`` asks the run's
        market): every column of ``sandbox.metrics.METRIC_COLUMNS`` with this market's meaning,
        then the columns of ``metric_groups``; raises ``AccountingError`` when its identity fails."""

    @classmethod
    def conformance_driver(cls, chain: "Chain", mechanism_cls: Any) -> Any:
        """A driver of the mechanism conformance suite on this market (``sandbox.testing.
        mechanisms.BaseDriver``): ``mechanism_cls`` (the mechanism's variant here) deployed on
        a fresh market on ``chain``. A market without one is skipped by the suite."""
        raise NotImplementedError(f"the {cls.name} market has no mechanism conformance driver")

    @classmethod
    def population(cls, scenario: "Scenario") -> str:
        """Who holds the run's positions, for headers ("40 borrowers")."""
        return "positions"

    @classmethod
    def check_scenario(cls, scenario: "Scenario") -> None:
        """Refuse a scenario this market cannot run (ValueError naming the field first); the
        loader calls it on every scenario on this market. Accepts everything by default."""
        return None


__all__ = ["MarketKind", "PositionLegs"]
