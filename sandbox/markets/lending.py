"""The lending market plug-in: WETH collateral, USD debt, an oracle, a constant-product AMM
and a flash lender (``sandbox.market`` deploys and reads the contracts)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Sequence

from sandbox.legs import legs
from sandbox.market import Market, PositionView, deploy_market
from sandbox.market.book import PositionBook

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


__all__ = ["LendingMarket"]
