"""The lending market plug-in: WETH collateral, USD debt, an oracle, a constant-product AMM
and a flash lender (``sandbox.market`` deploys and reads the contracts)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Sequence

from sandbox.legs import legs
from sandbox.market import Market, PositionView, deploy_market
from sandbox.market.book import PositionBook
from sandbox.risk import LendingRisk
from sandbox.units import WAD

from .base import MarketKind, PositionLegs

if TYPE_CHECKING:
    from sandbox.chain import Address, Chain
    from sandbox.scenarios import Scenario


class LendingMarket(MarketKind):
    """Over-collateralised loans: a position is liquidatable when collateral × liquidation
    threshold at the oracle price is below its debt; borrowers open them, an oracle updater
    feeds the price, an arbitrageur keeps the AMM on the reference price."""

    name: ClassVar[str] = "lending"
    role_labels: ClassVar[tuple[str, ...]] = ("deployer", "oracle", "treasury")
    agent_kinds: ClassVar[tuple[str, ...]] = ("oracle-updater", "arbitrageur", "borrower")
    sections: ClassVar[tuple[str, ...]] = ("amm", "lending", "borrowers")

    @classmethod
    def deploy(cls, chain: "Chain", scenario: "Scenario") -> Market:
        return deploy_market(chain, scenario.market_params())

    @classmethod
    def example_scenario(cls) -> "Scenario":
        """The built-in ``crash`` in 40 blocks of 36 s and 8 borrowers: 2,000 to 1,300 USD in
        the first 20 minutes, then held."""
        from dataclasses import replace

        from sandbox.scenarios import load_scenario

        sc = load_scenario("crash")
        return replace(sc, name="lending-example", blocks=40, borrowers=replace(sc.borrowers, count=8),
                       price=replace(sc.price, knots=((0.0, 2000.0), (1200.0, 1300.0))),
                       settle_max_seconds=1_800)

    @classmethod
    def position_legs(cls, market: Market, view: PositionView) -> PositionLegs:
        """Collateral wherever it sits (the market, bands, an auction lot) and debt-asset
        holdings as collateral legs; the debt as the one debt leg."""
        return PositionLegs(
            owner=view.owner,
            collateral=legs(**{market.collateral_asset: view.collateral + view.held_collateral,
                               market.numeraire: view.held_debt_asset}),
            debt=legs(**{market.numeraire: view.debt}),
            health_wad=view.health_factor_wad, locked=view.locked)

    @classmethod
    def contract_roles(cls, market: Market) -> dict["Address", str]:
        return {market.lending.address: "market", market.oracle.address: "oracle", market.amm.address: "amm",
                market.flash.address: "flash-lender"}

    @classmethod
    def follow(cls, market: Market, mechanism: Any, owners: Sequence["Address"]) -> PositionBook:
        mechanism.follow(owners)
        book = PositionBook(market, owners, watched={market.lending.address, mechanism.contract.address},
                            neutral_events=mechanism.position_neutral_events, held_source=mechanism)
        market.attach_book(book)
        return book

    @classmethod
    def conformance_driver(cls, chain: "Chain", mechanism_cls: Any) -> Any:
        from sandbox.market import MarketParams
        from sandbox.testing.mechanisms import Driver

        return Driver(chain, deploy_market(chain, MarketParams()), mechanism_cls)

    # --- what a run records and measures --------------------------------------------------------
    @classmethod
    def risk_rule(cls, scenario: "Scenario") -> LendingRisk:
        return LendingRisk(scenario.lending.liquidation_threshold_bps)

    @classmethod
    def population(cls, scenario: "Scenario") -> str:
        return f"{scenario.borrowers.count} borrowers"

    @classmethod
    def metrics(cls, result: Any) -> tuple[dict, dict]:
        from sandbox.metrics import lending_metrics

        return lending_metrics(result)

    @classmethod
    def position_row(cls, agent: Any, final: PositionView, path_end: PositionView | None, at_risk: dict | None,
                     safe: dict | None) -> dict:
        """The borrower, what it opened, the position at the end (exact WAD columns beside the
        floats), at the end of the path, and when it first became at risk."""
        p = final
        return {
            "borrower": agent.label,
            "initial_collateral_weth": agent.collateral_wei / WAD, "initial_debt_usd": agent.debt_wei / WAD,
            "final_collateral_weth": (p.collateral + p.held_collateral) / WAD,
            "final_collateral_weth_wad": str(p.collateral + p.held_collateral),
            "final_held_usd": p.held_debt_asset / WAD,
            "final_held_usd_wad": str(p.held_debt_asset),
            "final_debt_usd": p.debt / WAD, "final_debt_usd_wad": str(p.debt),
            "final_locked": p.locked,
            "final_health_factor": min(p.health_factor_wad / WAD, 1e9),
            **_path_end_columns(path_end),
            **_at_risk_columns(at_risk, safe),
        }


def _path_end_columns(p: PositionView | None) -> dict:
    """The position when the price path ended (before the settle phase)."""
    if p is None:
        return {"path_end_collateral_weth": float("nan"), "path_end_collateral_weth_wad": "",
                "path_end_held_usd": float("nan"), "path_end_held_usd_wad": "",
                "path_end_debt_usd": float("nan"), "path_end_debt_usd_wad": ""}
    return {"path_end_collateral_weth": (p.collateral + p.held_collateral) / WAD,
            "path_end_collateral_weth_wad": str(p.collateral + p.held_collateral),
            "path_end_held_usd": p.held_debt_asset / WAD, "path_end_held_usd_wad": str(p.held_debt_asset),
            "path_end_debt_usd": p.debt / WAD, "path_end_debt_usd_wad": str(p.debt)}


def _at_risk_columns(first: dict | None, safe: dict | None) -> dict:
    """When the position first became at risk (``sandbox.risk``) and when it was covered."""
    if first is None:
        return {"at_risk": False, "at_risk_block": -1, "at_risk_seconds": float("nan"),
                "at_risk_debt_usd": 0.0, "at_risk_debt_usd_wad": "0",
                "at_risk_collateral_weth": 0.0, "at_risk_collateral_weth_wad": "0",
                "at_risk_held_usd": 0.0, "at_risk_held_usd_wad": "0",
                "at_risk_oracle_price_usd": float("nan"), "at_risk_reference_price_usd": float("nan"),
                "at_risk_detected_by": "", "safe_block": -1, "safe_seconds": float("nan")}
    safe = safe or {"safe_block": -1, "safe_seconds": float("nan")}
    return {"at_risk": True, "at_risk_block": first["at_risk_block"],
            "at_risk_detected_by": first["at_risk_detected_by"],
            "at_risk_seconds": float(first["at_risk_seconds"]),
            "at_risk_debt_usd": first["at_risk_debt_usd_wad"] / WAD,
            "at_risk_debt_usd_wad": str(first["at_risk_debt_usd_wad"]),
            "at_risk_collateral_weth": first["at_risk_collateral_weth_wad"] / WAD,
            "at_risk_collateral_weth_wad": str(first["at_risk_collateral_weth_wad"]),
            "at_risk_held_usd": first["at_risk_held_usd_wad"] / WAD,
            "at_risk_held_usd_wad": str(first["at_risk_held_usd_wad"]),
            "at_risk_oracle_price_usd": first["at_risk_oracle_price_wad"] / WAD,
            "at_risk_reference_price_usd": first["at_risk_reference_price_wad"] / WAD,
            "safe_block": int(safe["safe_block"]), "safe_seconds": float(safe["safe_seconds"])}


__all__ = ["LendingMarket"]
