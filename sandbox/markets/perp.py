"""The perpetual futures market plug-in: cross-margin USD accounts trading a WETH-USD perpetual
against a virtual AMM, marked to the oracle (or leaning on the venue), funded hourly, backstopped
by an insurance fund, auto-deleveraging and a bad-debt counter (``sandbox.perp`` deploys and
mirrors the contracts; its package docstring is the design note)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

from sandbox.legs import legs
from sandbox.perp.deploy import deploy_perp_market
from sandbox.perp.market import PerpBook, PerpPositionView, PerpRisk, PerpRunMarket
from sandbox.units import WAD

from .base import MarketKind, PositionLegs

if TYPE_CHECKING:
    from sandbox.chain import Address, Chain
    from sandbox.scenarios import Scenario

PERP_METRICS = ("insurance_fund_drawdown_usd", "adl_covered_usd", "adl_volume_usd", "funding_paid_usd",
                "liquidation_slippage_usd", "liquidation_slippage_bps")


class PerpMarket(MarketKind):
    """Perpetual futures: a margin account is liquidatable when its equity (margin + unrealised
    PnL at the mark − funding due) falls below maintenance margin; traders open leveraged longs
    and shorts on a virtual AMM, an arbitrageur trades its premium back to the index, an oracle
    updater feeds the index (and, with vol margin on, the margin fractions).

    A position's "debt" in the common tables is its open notional (the USD cost basis): at risk
    is the basis of accounts at risk, recovered what liquidations and closes took off it, bad
    debt what the market wrote off, open the basis still held at the end, split by whether
    equity at the market price covers it."""

    name: ClassVar[str] = "perp"
    role_labels: ClassVar[tuple[str, ...]] = ("deployer", "oracle", "treasury")
    agent_kinds: ClassVar[tuple[str, ...]] = ("oracle-updater", "perp-arbitrageur", "trader")
    sections: ClassVar[tuple[str, ...]] = ("perp", "traders")
    metric_groups: ClassVar[tuple[tuple[str, tuple[str, ...]], ...]] = (
        ("perpetuals: backstops, funding, slippage (USD)", PERP_METRICS),)
    group_labels: ClassVar[dict[str, str]] = {
        "lenders (USD)": "the market: open notional at risk (USD)",
        "borrowers (USD)": "traders (USD)",
    }
    # the events table's (debt, collateral, USD) columns for the market's, venue's and oracle's
    # events (``sandbox.metrics.enrich_events``): debt is open notional, collateral WETH of position
    event_amounts: ClassVar[dict[str, tuple[str | None, str | None, str | None]]] = {
        "Deposit": (None, None, "amount"), "Withdraw": (None, None, "amount"),
        "PositionChanged": ("openNotional", "sizeDelta", "quote"), "FundingPaid": (None, None, "amount"),
        "MarginPaid": (None, None, "amount"), "InsuranceFeeCharged": (None, None, "amount"),
        "InsuranceDrawn": (None, None, "amount"), "InsuranceFunded": (None, None, "amount"),
        "AutoDeleveraged": (None, "size", "amount"), "BadDebtRecorded": ("amount", None, "amount"),
        "FundingSettled": (None, None, "paid"), "Swap": (None, "baseDelta", "quote"),
        "AnswerUpdated": (None, None, "current"),
    }

    @classmethod
    def deploy(cls, chain: "Chain", scenario: "Scenario") -> PerpRunMarket:
        return PerpRunMarket(deploy_perp_market(chain, scenario.perp_params()))

    @classmethod
    def example_scenario(cls) -> "Scenario":
        """The built-in ``perp-crash`` in 30 blocks of 36 s, 8 traders and three keepers (PGA,
        back-runner, flash): 2,000 to 1,500 USD in the first 15 minutes, then held."""
        from sandbox.scenarios import load_scenario

        sc = load_scenario("perp-crash")
        return replace(sc, name="perp-example", blocks=30, traders=replace(sc.traders, count=8),
                       keepers=tuple(k for k in sc.keepers if k.strategy in ("pga", "backrunner", "flash")),
                       price=replace(sc.price, knots=((0.0, 2000.0), (900.0, 1500.0)), noise_volatility_per_year=0.0),
                       settle_max_seconds=900)

    @classmethod
    def population(cls, scenario: "Scenario") -> str:
        return f"{scenario.traders.count} traders"

    @classmethod
    def check_scenario(cls, scenario: "Scenario") -> None:
        """Traders must be able to open their leverage (below the maximum the initial margin in
        force at the start allows, with room for the venue's slippage), and every account that
        can hold a position must fit the market's list of open accounts."""
        from sandbox.perp import math as pm
        from sandbox.perp.params import bps_wad
        from sandbox.units import to_wad

        params = scenario.perp_params()
        imf = params.imf_wad
        if params.vol_margin:
            _, imf = pm.vol_fractions(params.initial_variance_wad, to_wad(params.vol_multiplier),
                                      params.vol_horizon_updates, bps_wad(params.vol_mmf_floor_bps),
                                      bps_wad(params.vol_mmf_cap_bps), params.imf_wad, params.mmf_wad)
        most = WAD / imf
        if scenario.traders.leverage_max > most * 0.98:
            raise ValueError(f"traders.leverage_max: {scenario.traders.leverage_max:g} is above what initial margin "
                             f"allows with room for slippage ({most * 0.98:.2f}×: initial margin {imf / WAD:.2%} at "
                             f"the start)")
        accounts = scenario.traders.count + (1 if scenario.arbitrageur.enabled else 0) + sum(
            k.count for k in scenario.keepers)
        if accounts > scenario.perp.max_open_accounts:
            raise ValueError(f"traders.count: {scenario.traders.count} traders, the arbitrageur and "
                             f"{sum(k.count for k in scenario.keepers)} keepers may hold {accounts} positions, above "
                             f"perp.max_open_accounts ({scenario.perp.max_open_accounts})")

    @classmethod
    def position_legs(cls, market: PerpRunMarket, view: PerpPositionView) -> PositionLegs:
        """A long is WETH held against the USD basis it owes (margin net of funding due beside
        it); a short is USD held (its basis and margin) against the WETH it owes."""
        margin = view.margin - view.funding_owed
        if view.size >= 0:
            collateral = legs(**{market.collateral_asset: view.size, market.numeraire: margin})
            debt = legs(**{market.numeraire: view.open_notional})
        else:
            collateral = legs(**{market.numeraire: view.open_notional + margin})
            debt = legs(**{market.collateral_asset: -view.size})
        return PositionLegs(owner=view.owner, collateral=collateral, debt=debt,
                            health_wad=view.health_factor_wad, locked=view.locked)

    @classmethod
    def contract_roles(cls, market: PerpRunMarket) -> dict["Address", str]:
        return {market.market.address: "market", market.oracle.address: "oracle", market.venue.address: "venue"}

    @classmethod
    def follow(cls, market: PerpRunMarket, mechanism: Any, owners: Sequence["Address"]) -> PerpBook:
        mechanism.follow(owners)
        book = PerpBook(market, owners)
        market.attach_book(book)
        return book

    @classmethod
    def conformance_driver(cls, chain: "Chain", mechanism_cls: Any) -> Any:
        from sandbox.testing.perp import PerpDriver

        return PerpDriver(chain, mechanism_cls)

    # --- what a run records and measures --------------------------------------------------------
    @classmethod
    def risk_rule(cls, scenario: "Scenario") -> PerpRisk:
        return PerpRisk()

    @classmethod
    def metrics(cls, result: Any) -> tuple[dict, dict]:
        from sandbox.perp.metrics import perp_metrics

        return perp_metrics(result)

    @classmethod
    def position_row(cls, agent: Any, final: PerpPositionView, path_end: PerpPositionView | None,
                     at_risk: dict | None, safe: dict | None) -> dict:
        """The trader, what it opened, the account at the end (margin net of funding due, size,
        open notional as the position's debt; exact WAD columns beside the floats), at the end of
        the path, and when it first became at risk."""
        p = final
        return {
            "trader": agent.label, "side": "long" if agent.size_wei > 0 else "short",
            "initial_margin_usd": agent.margin_wei / WAD, "initial_size_weth": agent.size_wei / WAD,
            "initial_leverage": agent.leverage,
            **_account_columns("final", p),
            "final_locked": p.locked,
            "final_health_factor": min(p.health_factor_wad / WAD, 1e9),
            **_account_columns("path_end", path_end),
            **_at_risk_columns(at_risk, safe),
        }


def _account_columns(prefix: str, p: PerpPositionView | None) -> dict:
    names = ("margin_usd", "size_weth", "debt_usd")
    if p is None:
        return {k: v for n in names for k, v in ((f"{prefix}_{n}", float("nan")), (f"{prefix}_{n}_wad", ""))}
    values = (p.margin - p.funding_owed, p.size, p.open_notional)
    return {k: v for n, x in zip(names, values) for k, v in ((f"{prefix}_{n}", x / WAD), (f"{prefix}_{n}_wad", str(x)))}


def _at_risk_columns(first: dict | None, safe: dict | None) -> dict:
    wads = ("debt_usd", "size_weth", "margin_usd", "equity_usd")
    if first is None:
        out: dict = {"at_risk": False, "at_risk_block": -1, "at_risk_seconds": float("nan")}
        for n in wads:
            out[f"at_risk_{n}"], out[f"at_risk_{n}_wad"] = 0.0, "0"
        return {**out, "at_risk_oracle_price_usd": float("nan"), "at_risk_reference_price_usd": float("nan"),
                "at_risk_detected_by": "", "safe_block": -1, "safe_seconds": float("nan")}
    safe = safe or {"safe_block": -1, "safe_seconds": float("nan")}
    out = {"at_risk": True, "at_risk_block": first["at_risk_block"], "at_risk_detected_by": first["at_risk_detected_by"],
           "at_risk_seconds": float(first["at_risk_seconds"])}
    for n in wads:
        x = first[f"at_risk_{n}_wad"]
        out[f"at_risk_{n}"], out[f"at_risk_{n}_wad"] = x / WAD, str(x)
    return {**out, "at_risk_oracle_price_usd": first["at_risk_oracle_price_wad"] / WAD,
            "at_risk_reference_price_usd": first["at_risk_reference_price_wad"] / WAD,
            "safe_block": int(safe["safe_block"]), "safe_seconds": float(safe["safe_seconds"])}


__all__ = ["PERP_METRICS", "PerpMarket"]
