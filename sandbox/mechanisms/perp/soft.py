"""Soft (gradual) liquidation of perpetual positions (contract ``PerpSoftLiquidator``): an account
below maintenance margin is trimmed back above it instead of being closed: anyone but its owner
may ``trim`` it once per block, closing through the venue the least slice that brings equity back
to MM × (1 + buffer) at the mark after the fees, at most 25% of the position a block (Perp v1's
partial liquidation size; Binance and dYdX reduce large positions in steps); 0.5% of the slice to
the caller. The lending ``soft`` (LLAMMA) converts collateral gradually in bands; on a perp the
gradual move is the position's own size. The slice mirrors ``sliceFor`` to the wei."""

from __future__ import annotations

from typing import Callable, Sequence

from sandbox.chain import Address
from sandbox.legs import legs
from sandbox.mechanisms.accounting import LedgerEvent
from sandbox.mechanisms.base import Call, Opportunity
from sandbox.mechanisms.soft import SoftLiquidationMechanism
from sandbox.perp import math as pm
from sandbox.perp.params import PerpSoftParams
from sandbox.units import WAD

from .base import PerpLiquidationMechanism


class PerpSoftMechanism(PerpLiquidationMechanism[PerpSoftParams]):
    name = SoftLiquidationMechanism.name
    Params = PerpSoftParams
    contract_name = "PerpSoftLiquidator"
    liquidation_functions = frozenset({"trim"})
    description = ("Gradual perp liquidation: trim the least slice that restores maintenance margin × 1.1, at most "
                   "25% of the position per block, 0.5% of the slice to the caller.")
    event_amounts = {"Trimmed": ("badDebt", "size", "quote")}

    params: PerpSoftParams

    @classmethod
    def protocol_revenue(cls, events: Sequence[LedgerEvent], oracle_price: Callable[[LedgerEvent], int],
                         final_price_wad: int) -> dict[str, int]:
        """The fees paid into the insurance fund (``Trimmed.insuranceFee``; none by default)."""
        return {"insurance-fee": cls.insurance_fees(e for e in events if e.name == "Trimmed")}

    def slice(self, state, p) -> int:
        params = self.params
        return pm.soft_slice(p.equity, p.size, state.mark_price, state.mmf, params.buffer_bps, params.max_slice_bps,
                             params.keeper_fee_bps + params.insurance_fee_bps, int(params.dust_usd * WAD))

    def opportunities(self, owners: Sequence[Address]) -> list[Opportunity]:
        """A trim of every liquidatable listed account, sized as the contract will size it."""
        candidates = self.candidates(owners)
        if not candidates:
            return []
        state = self.market.state()
        out = []
        for p in candidates:
            x = self.slice(state, p)
            quote, _, margin_after = self.close_fill(state, p, x)
            keeper_fee, insurance_fee = self.fees(quote, margin_after, self.params.keeper_fee_bps,
                                                  self.params.insurance_fee_bps)
            deficit = max(0, -(margin_after - keeper_fee - insurance_fee)) if x == abs(p.size) else 0
            out.append(Opportunity(
                mechanism=self.name, action="trim", owner=p.owner, receives=legs(USD=keeper_fee),
                health_factor_wad=p.health_factor_wad,
                extra={"size": x, "position_size": p.size, "quote": quote, "deficit": deficit,
                       "gas": self.gas_limit(state, deficit)}))
        return out

    def encode(self, opportunity: Opportunity, caller: Address, max_pay: int | None = None) -> Call:
        if opportunity.action != "trim":
            raise ValueError(f"{self.name} cannot encode action {opportunity.action!r}")
        return Call(to=self.contract.address, data=self.contract.encode("trim", opportunity.owner),
                    gas=opportunity.extra["gas"], action="trim", owner=opportunity.owner,
                    receives=opportunity.receives)


__all__ = ["PerpSoftMechanism"]
