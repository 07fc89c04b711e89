"""The one definition of "at risk", the same for every mechanism.

A position holds ``weth`` (collateral wherever it sits: in the market, in soft-liquidation bands,
in an auction lot) and ``held_usd`` (collateral already in the debt asset: USD in bands, a bid
held for it) against ``debt``. At a price p (WAD) and the market's liquidation threshold LT:

    at risk at p   ⇔   floor(weth × p) × LT  <  debt − held_usd

i.e. collateral × LT < debt with USD held offsetting debt one for one (no threshold on it: it has
no price exposure). With no USD held this is exactly the market's own rule (health factor < 1;
same integer rounding), so for fixed-fee, auctions and absorb it is "liquidatable".

A position is *at risk* from the first block in which it is at risk at the oracle price in force
(what the market acts on) or at the reference price (what the collateral is really worth: "under
water"), whichever comes first, judged at each block's start; or, when a mechanism's own rule
fires first (a back-run inside the block that made the position liquidatable, LLAMMA's health
with its discount on USD in bands), from the block of its first liquidation. The mechanism's
own health rule decides what the mechanism does, never who counts as at risk.

A position is *safe* when it is at risk at neither price; *covered* (for time to safety) is the
first block after it became at risk whose end state is safe: debt repaid, collateral converted
into the debt asset, auctioned off, or the price came back.

``health_wad`` is the same rule as a number: (floor(weth × p) × LT + held_usd) / debt, which is
below 1 exactly when the position is at risk at p (stored rounded down, so the comparison with 1
stays exact in floats too).
"""

from __future__ import annotations

from sandbox.units import BPS, WAD

HEALTH_DIGITS = 10**9  # health numbers are stored rounded down to 1e-9
NO_DEBT_HEALTH = float("inf")


def collateral_value_wad(weth: int, held_usd: int, price_wad: int) -> int:
    """USD value (WAD) of collateral at ``price_wad``: WETH at the price, USD one for one."""
    return weth * price_wad // WAD + held_usd


def at_risk(weth: int, held_usd: int, debt: int, price_wad: int, lt_bps: int) -> bool:
    """Collateral × LT < debt at ``price_wad``, USD held offsetting debt one for one."""
    return (weth * price_wad // WAD) * lt_bps < (debt - held_usd) * BPS


def health(weth: int, held_usd: int, debt: int, price_wad: int, lt_bps: int) -> float:
    """(collateral × LT + USD held) / debt, rounded down to 1e-9: < 1 exactly when at risk;
    infinite without debt."""
    if debt <= 0:
        return NO_DEBT_HEALTH
    num = (weth * price_wad // WAD) * lt_bps + held_usd * BPS
    return (num * HEALTH_DIGITS // (debt * BPS)) / HEALTH_DIGITS


def covered_and_shortfall(debt: int, weth: int, held_usd: int, price_wad: int) -> tuple[int, int]:
    """Split owed ``debt`` by the collateral's value C at ``price_wad`` (no threshold):
    (min(debt, C), max(0, debt − C)) — the part backed by collateral and the part that is not."""
    value = collateral_value_wad(weth, held_usd, price_wad)
    covered = min(debt, value)
    return covered, debt - covered


# Market events that only a liquidation produces (a lock is set only when an auction starts).
LIQUIDATION_MARKERS = frozenset({"LiquidationRepaid", "BadDebtWrittenOff", "LockChanged"})


class LendingRisk:
    """The rule above on the lending market's position views, as the run's recorder asks every
    market for it (``MarketKind.risk_rule``): whether a position has exposure at all, whether it
    is at risk at a price and at the price in force, its health at a price, what to record when
    it first is, which event argument names the position, and which of a block's logs show a
    mechanism liquidating it."""

    position_args = ("owner", "borrower")

    def __init__(self, liquidation_threshold_bps: int):
        self.lt_bps = liquidation_threshold_bps

    def exposed(self, p) -> bool:
        return p.debt > 0

    def at_risk_at(self, p, price_wad: int) -> bool:
        return at_risk(p.collateral + p.held_collateral, p.held_debt_asset, p.debt, price_wad, self.lt_bps)

    def at_risk_in_force(self, p, state) -> bool:
        return self.at_risk_at(p, state.price)

    def health(self, p, price_wad: int) -> float:
        return health(p.collateral + p.held_collateral, p.held_debt_asset, p.debt, price_wad, self.lt_bps)

    def snapshot(self, p) -> dict:
        return {"at_risk_debt_usd_wad": p.debt, "at_risk_collateral_weth_wad": p.collateral + p.held_collateral,
                "at_risk_held_usd_wad": p.held_debt_asset}

    def position_of(self, args: dict):
        return args.get("owner", args.get("borrower", ""))

    def liquidated_in(self, logs, roles: dict) -> list:
        return [log.args.get("owner") for log in logs
                if roles.get(log.address) == "market" and log.name in LIQUIDATION_MARKERS
                and (log.name != "LockChanged" or log.args.get("isLocked"))]


__all__ = ["LendingRisk", "at_risk", "collateral_value_wad", "covered_and_shortfall", "health"]
