"""Fixed-fee ("fixed spread") liquidation, as in Aave v3 (contract ``FixedFeeLiquidator``).

A keeper repays part of an unhealthy position's debt and receives collateral worth the
repayment plus a fixed bonus at the oracle price. ``quote_liquidation`` mirrors the contract's
integer arithmetic exactly, so tests and keepers can predict every wei.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence, TypeVar

from sandbox.chain import Address
from sandbox.legs import legs
from sandbox.units import BPS, WAD

from .accounting import LedgerEvent, Taken
from .base import Call, LiquidationMechanism, MechanismParams, Opportunity

if TYPE_CHECKING:
    from sandbox.market import Market

LIQUIDATE_GAS = 300_000  # measured: ~170k, ~215k with a write-off
# A liquidation that takes all the collateral asks to repay up to this much more than its quote:
# the call executes under the next block's price, and a round coming into force in between (an
# oracle delay, or an update landing first in the same block) may raise it; the contract then
# takes the whole collateral and repays only what it is worth (as Aave keepers pass
# type(uint256).max), where the exact quote would leave a sliver of collateral and revert
# (DustRemaining). 10% covers any single round in the built-in scenarios.
SEIZE_ALL_ROOM_BPS = 1000


@dataclass(frozen=True)
class FixedFeeParams(MechanismParams):
    """Aave v3.3 defaults: 50% close factor above HF 0.95 for positions whose debt and
    collateral are each worth at least $2,000 (100% otherwise), 5% bonus, 10% of it to the
    protocol, $1,000 dust rule."""

    close_factor_bps: int = 5000
    full_close_health_factor_bps: int = 9500
    bonus_bps: int = 500
    protocol_fee_bps: int = 1000
    dust_usd: int = 1000
    full_close_below_usd: int = 2000  # Aave v3.3 MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD

    def validate(self) -> None:
        if not 0 < self.close_factor_bps <= BPS:
            raise ValueError(f"close_factor_bps must be in (0, 10000], got {self.close_factor_bps}")
        if not 0 <= self.full_close_health_factor_bps <= BPS:
            raise ValueError("full_close_health_factor_bps must be in [0, 10000], got "
                             f"{self.full_close_health_factor_bps}")
        if not 0 <= self.bonus_bps <= BPS:
            raise ValueError(f"bonus_bps must be in [0, 10000], got {self.bonus_bps}")
        if not 0 <= self.protocol_fee_bps <= BPS:
            raise ValueError(f"protocol_fee_bps must be in [0, 10000], got {self.protocol_fee_bps}")
        if self.dust_usd < 0:
            raise ValueError(f"dust_usd must be >= 0, got {self.dust_usd}")
        if self.full_close_below_usd < 0:
            raise ValueError(f"full_close_below_usd must be >= 0, got {self.full_close_below_usd}")

    @property
    def dust_wad(self) -> int:
        return int(self.dust_usd) * WAD

    @property
    def full_close_below_wad(self) -> int:
        return int(self.full_close_below_usd) * WAD

    @property
    def full_close_health_factor_wad(self) -> int:
        return self.full_close_health_factor_bps * (WAD // BPS)

    def contract_args(self) -> tuple:
        """FixedFeeLiquidator's constructor arguments after the market address."""
        return (self.close_factor_bps, self.full_close_health_factor_bps, self.bonus_bps,
                self.protocol_fee_bps, self.dust_wad, self.full_close_below_wad)


@dataclass(frozen=True)
class LiquidationQuote:
    """What one fixed-fee liquidation does, in WAD integers (as the contract computes it)."""

    debt_repaid: int
    collateral_seized: int  # total WETH leaving the position
    protocol_fee: int  # WETH of it to the treasury
    bad_debt: int  # debt written off (collateral exhausted)
    debt_left: int
    collateral_left: int
    leaves_dust: bool  # True: the contract reverts with DustRemaining

    @property
    def keeper_collateral(self) -> int:
        """WETH the liquidator receives (seized net of the protocol fee)."""
        return self.collateral_seized - self.protocol_fee


def close_factor_cap(collateral: int, debt: int, price_wad: int, health_factor_wad: int,
                     params: FixedFeeParams) -> int:
    """Most debt one liquidation may repay: the close factor while HF is above the full-close
    HF and both debt and collateral value are at least ``full_close_below_usd``; all of it
    otherwise (Aave v3.3, so a small position can always be closed at once)."""
    threshold = params.full_close_below_wad
    large = debt >= threshold and collateral * price_wad // WAD >= threshold
    if health_factor_wad > params.full_close_health_factor_wad and large:
        return debt * params.close_factor_bps // BPS
    return debt


def quote_liquidation(collateral: int, debt: int, price_wad: int, params: FixedFeeParams,
                      debt_to_cover: int, health_factor_wad: int | None = None) -> LiquidationQuote:
    """Mirror of FixedFeeLiquidator's terms for a request of ``debt_to_cover``.

    With ``health_factor_wad`` the close factor caps the request, as on-chain; without it the
    request is taken as already within the close factor.
    """
    repaid = debt_to_cover if health_factor_wad is None else min(
        debt_to_cover, close_factor_cap(collateral, debt, price_wad, health_factor_wad, params))
    repaid = min(repaid, debt)
    factor = BPS + params.bonus_bps
    seized = repaid * factor * WAD // (BPS * price_wad)
    leaves_dust = False
    if seized >= collateral:
        seized = collateral
        num, den = collateral * price_wad * BPS, WAD * factor
        repaid = min(repaid, -(-num // den))
    elif repaid != debt:
        debt_left = debt - repaid
        value_left = (collateral - seized) * price_wad // WAD
        leaves_dust = debt_left < params.dust_wad or value_left < params.dust_wad
    fee = (seized - seized * BPS // factor) * params.protocol_fee_bps // BPS if seized else 0
    bad = debt - repaid if seized == collateral and repaid != debt else 0
    return LiquidationQuote(debt_repaid=repaid, collateral_seized=seized, protocol_fee=fee,
                            bad_debt=bad, debt_left=debt - repaid - bad,
                            collateral_left=collateral - seized, leaves_dust=leaves_dust)


def max_liquidation(collateral: int, debt: int, price_wad: int, health_factor_wad: int,
                    params: FixedFeeParams, limit: int | None = None) -> LiquidationQuote | None:
    """The largest liquidation (repaying at most ``limit``) that the contract accepts now.

    Starts from the close-factor cap; when that would leave dust, shrinks the repayment until
    at least the dust threshold of both debt and collateral value remains. None when nothing
    is possible (e.g. the whole position is below the dust threshold and cannot be closed).
    """
    want = close_factor_cap(collateral, debt, price_wad, health_factor_wad, params)
    if limit is not None:
        want = min(want, limit)
    if want <= 0:
        return None
    q = quote_liquidation(collateral, debt, price_wad, params, want)
    if not q.leaves_dust:
        return q if q.debt_repaid > 0 or q.bad_debt > 0 else None
    # Partial liquidation leaving dust: keep dust of debt and dust of collateral value.
    factor = BPS + params.bonus_bps
    by_debt = debt - params.dust_wad
    # (collateral - seized) * price / WAD >= dust  with  seized ~ r * factor / (BPS * price)
    value = collateral * price_wad // WAD
    by_collateral = (value - params.dust_wad) * BPS // factor
    r = min(want, by_debt, by_collateral)
    for _ in range(8):  # integer rounding: step down a few wei if needed
        if r <= 0:
            return None
        q = quote_liquidation(collateral, debt, price_wad, params, r)
        if not q.leaves_dust:
            return q
        r -= max(1, r // 10**12)
    return None


FP = TypeVar("FP", bound=FixedFeeParams)  # fixed-fee's parameters, or a refinement's (private's)


class FixedFeeMechanism(LiquidationMechanism[FP]):
    name = "fixed-fee"
    Params = FixedFeeParams
    contract_name = "FixedFeeLiquidator"
    liquidation_functions = frozenset({"liquidate"})
    default_rank = 1
    markets = ("lending", "perp")
    variants = {"perp": "sandbox.mechanisms.perp.fixed_fee:PerpFixedFeeMechanism"}
    description = ("Aave-v3-style fixed bonus: repay up to the close factor, receive collateral at "
                   "oracle price plus a 5% bonus, 10% of the bonus to the treasury.")

    event_amounts = {"Liquidated": ("debtRepaid", "collateralSeized", "debtRepaid")}

    # --- accounting rules --------------------------------------------------------------------
    @classmethod
    def collateral_taken(cls, events: Sequence[LedgerEvent]) -> list[tuple[LedgerEvent, Taken]]:
        """Every ``CollateralSeized`` of the position: to the liquidator and, the fee, to the treasury."""
        return [(e, Taken(e.int("amount"))) for e in events
                if e.contract == "market" and e.name == "CollateralSeized"]

    @classmethod
    def protocol_revenue(cls, events: Sequence[LedgerEvent], oracle_price: Callable[[LedgerEvent], int],
                         final_price_wad: int) -> dict[str, int]:
        """The liquidation fee: ``Liquidated.protocolFee`` WETH at the oracle price."""
        return {"liquidation-fee": sum(e.int("protocolFee") * oracle_price(e) // WAD for e in events
                                       if e.name == "Liquidated")}

    @classmethod
    def constructor_args(cls, market: "Market", params: FP) -> tuple:
        return (market.lending.address, *params.contract_args())

    # --- discovery -----------------------------------------------------------------------
    def _action(self) -> str:
        return "liquidate"

    def _opportunity(self, position, price: int, action: str, **extra) -> Opportunity | None:
        q = max_liquidation(position.collateral, position.debt, price, position.health_factor_wad,
                            self.params)
        if q is None or q.debt_repaid == 0:
            return None
        m = self.market
        return Opportunity(
            mechanism=self.name, action=action, owner=position.owner,
            pays=legs(**{m.numeraire: q.debt_repaid}), receives=legs(**{m.collateral_asset: q.keeper_collateral}),
            health_factor_wad=position.health_factor_wad, ref=extra.pop("ref", None),
            private=extra.pop("private", False), uncontested=extra.pop("uncontested", False),
            extra={"price": price, "collateral": position.collateral, "debt": position.debt,
                   "collateral_seized": q.collateral_seized, "protocol_fee": q.protocol_fee,
                   "bad_debt": q.bad_debt, **extra})

    def opportunities(self, owners: Sequence[Address]) -> list[Opportunity]:
        """Every liquidatable listed position, sized to the largest repayment allowed now."""
        positions = [p for p in self.market.positions(owners) if p.is_liquidatable]
        if not positions:
            return []
        price = self.market.price()
        out = []
        for p in positions:
            opp = self._opportunity(p, price, self._action())
            if opp is not None:
                out.append(opp)
        return out

    # --- actions -------------------------------------------------------------------------
    def quote(self, opportunity: Opportunity, max_pay: int | None = None) -> LiquidationQuote | None:
        """The liquidation ``encode`` would request for at most ``max_pay``."""
        x = opportunity.extra
        full = opportunity.paid(self.market.numeraire)
        limit = full if max_pay is None else min(full, max_pay)
        health_factor_wad = opportunity.health_factor_wad
        assert health_factor_wad is not None, "fixed-fee opportunities carry the position's health factor"
        return max_liquidation(x["collateral"], x["debt"], x["price"], health_factor_wad,
                               self.params, limit=limit)

    def _function(self, action: str) -> str:
        if action != "liquidate":
            raise ValueError(f"{self.name} cannot encode action {action!r}")
        return "liquidate"

    def encode(self, opportunity: Opportunity, caller: Address,
               max_pay: int | None = None) -> Call:
        """``liquidate(owner, amount)`` sized to ``max_pay`` (shrunk further if the
        smaller amount would leave dust; with room when it takes all the collateral, ``requested_repayment``)."""
        fn = self._function(opportunity.action)
        q = self.quote(opportunity, max_pay)
        if q is None:
            raise ValueError(f"no liquidation of {opportunity.owner} fits max_pay={max_pay}"
                             " (the dust rule or an empty opportunity)")
        m = self.market
        return Call(to=self.contract.address,
                    data=self.contract.encode(fn, opportunity.owner, self.requested_repayment(opportunity, q, max_pay)),
                    gas=LIQUIDATE_GAS, action=opportunity.action, owner=opportunity.owner,
                    pays=legs(**{m.numeraire: q.debt_repaid}),
                    receives=legs(**{m.collateral_asset: q.keeper_collateral}))

    @staticmethod
    def requested_repayment(opportunity: Opportunity, q: LiquidationQuote, max_pay: int | None) -> int:
        """The repayment to ask for: the quote's, or when it takes all the collateral up to
        ``SEIZE_ALL_ROOM_BPS`` more (within ``max_pay``): the legs stay the quote's, what is
        expected at the head's price."""
        if q.collateral_seized != opportunity.extra["collateral"]:
            return q.debt_repaid
        room = q.debt_repaid * (BPS + SEIZE_ALL_ROOM_BPS) // BPS
        return room if max_pay is None else max(q.debt_repaid, min(room, max_pay))
