"""Fixed-fee liquidation of perpetual positions (contract ``PerpFixedFeeLiquidator``): the keeper
closes part of an account below maintenance margin through the venue and is paid a fixed share
of the closed notional out of the account's margin (Perpetual Protocol v1's keeper liquidation
in the fixed-spread shape of Aave's): 25% partial closes while health is above 0.4 and the
position is worth at least $2,000, all of it otherwise; 1.25% to the keeper, 1% to the insurance
fund; no remainder below $1,000. A flat account left with negative margin goes through the
market's shortfall settlement (insurance fund, auto-deleveraging, bad debt). The keeper needs no
capital: the venue is the counterparty. The close size mirrors the contract to the wei."""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar

from sandbox.chain import Address
from sandbox.legs import legs
from sandbox.mechanisms.accounting import LedgerEvent
from sandbox.mechanisms.base import Call, Opportunity
from sandbox.mechanisms.fixed_fee import FixedFeeMechanism
from sandbox.perp import math as pm
from sandbox.perp.params import PerpFixedFeeParams
from sandbox.units import BPS, WAD

from .base import PerpLiquidationMechanism


def close_cap(size: int, mark: int, health_wad: int, params: PerpFixedFeeParams) -> int:
    """Most the close factor allows (``_closeCap``): the whole position when it is worth less than
    ``full_close_below_usd`` or its health is at or below ``full_close_health_bps``."""
    s = abs(size)
    large = s * mark // WAD >= int(params.full_close_below_usd * WAD)
    far = health_wad <= params.full_close_health_bps * (WAD // BPS)
    return s * params.close_factor_bps // BPS if large and not far else s


def close_size(size: int, mark: int, health_wad: int, params: PerpFixedFeeParams, limit: int | None = None) -> int:
    """The largest close the contract accepts now (at most ``limit``): the cap, cut to leave
    exactly the dust when a partial close would leave less; 0 when none."""
    s = abs(size)
    x = close_cap(size, mark, health_wad, params)
    if limit is not None:
        x = min(x, limit)
    dust = int(params.dust_usd * WAD)
    if 0 < x < s and (s - x) * mark // WAD < dust:
        keep = pm.div_up(dust * WAD, mark)
        while (keep * mark) // WAD < dust:
            keep += 1
        x = s - keep
    return max(0, x)


FFP = TypeVar("FFP", bound=PerpFixedFeeParams)


class PerpFixedFeeMechanism(PerpLiquidationMechanism[FFP]):
    name = FixedFeeMechanism.name
    Params = PerpFixedFeeParams
    contract_name = "PerpFixedFeeLiquidator"
    liquidation_functions = frozenset({"liquidate"})
    description = ("Perp v1 keeper liquidation: close 25% of the position through the venue while health > 0.4 "
                   "(all of it below that or under $2,000), 1.25% of the closed notional to the keeper and 1% to "
                   "the insurance fund.")
    event_amounts = {"Liquidated": ("badDebt", "size", "quote")}

    @classmethod
    def protocol_revenue(cls, events: Sequence[LedgerEvent], oracle_price: Callable[[LedgerEvent], int],
                         final_price_wad: int) -> dict[str, int]:
        """The liquidation fees paid into the insurance fund (``Liquidated.insuranceFee``)."""
        return {"insurance-fee": cls.insurance_fees(e for e in events if e.name == "Liquidated")}

    # --- discovery -----------------------------------------------------------------------------
    def _action(self) -> str:
        return "liquidate"

    def _opportunity(self, state, p, action: str, size: int | None = None, **extra) -> Opportunity | None:
        x = close_size(p.size, state.mark_price, p.health_factor_wad, self.params, size)
        if x <= 0:
            return None
        quote, _, margin_after = self.close_fill(state, p, x)
        keeper_fee, insurance_fee = self.fees(quote, margin_after, self.params.keeper_fee_bps,
                                              self.params.insurance_fee_bps)
        deficit = max(0, -(margin_after - keeper_fee - insurance_fee)) if x == abs(p.size) else 0
        return Opportunity(
            mechanism=self.name, action=action, owner=p.owner, receives=legs(USD=keeper_fee),
            health_factor_wad=p.health_factor_wad, ref=extra.pop("ref", None), private=extra.pop("private", False), uncontested=extra.pop("uncontested", False),
            extra={"size": x, "position_size": p.size, "quote": quote, "insurance_fee": insurance_fee,
                   "deficit": deficit, "gas": self.gas_limit(state, deficit), **extra})

    def opportunities(self, owners: Sequence[Address]) -> list[Opportunity]:
        """Every liquidatable listed account, the close sized to the most the rules allow now."""
        candidates = self.candidates(owners)
        if not candidates:
            return []
        state = self.market.state()
        return [o for o in (self._opportunity(state, p, self._action()) for p in candidates) if o is not None]

    # --- actions -------------------------------------------------------------------------------
    def _function(self, action: str) -> str:
        if action != "liquidate":
            raise ValueError(f"{self.name} cannot encode action {action!r}")
        return "liquidate"

    def encode(self, opportunity: Opportunity, caller: Address, max_pay: int | None = None) -> Call:
        """``liquidate(account, size)``: nothing to pay (the venue takes the position), the fee
        received in USD."""
        fn = self._function(opportunity.action)
        x = opportunity.extra
        return Call(to=self.contract.address, data=self.contract.encode(fn, opportunity.owner, x["size"]),
                    gas=x["gas"], action=opportunity.action, owner=opportunity.owner, receives=opportunity.receives)


__all__ = ["PerpFixedFeeMechanism", "close_cap", "close_size"]
