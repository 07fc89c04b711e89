"""What the perp variants of the mechanisms share: deployment on the perpetual market (installed
as its one liquidator, like the lending mechanisms on ``LendingMarket``), the accounts they may
act on, the venue fill a close would get, gas limits that cover a funding settlement or
auto-deleveraging inside a liquidation, and the accounting rule for what a liquidation takes from
a trader (the fees out of its margin; the rest of its loss is the fill's slippage, which the
perp metrics measure on the market's own events).

Each variant is the mechanism of the same name on another market (``LiquidationMechanism.
variant_for``): the lending class declares it in ``variants``; its contract is under
``contracts/perp/mechanisms/`` and its parameters (with sources) in ``sandbox.perp.params``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Sequence, TypeVar

from sandbox.chain import Address
from sandbox.mechanisms.accounting import LedgerEvent, Taken
from sandbox.mechanisms.base import LiquidationMechanism, MechanismParams
from sandbox.perp import math as pm
from sandbox.units import BPS, WAD

if TYPE_CHECKING:
    from sandbox.perp.deploy import PerpState
    from sandbox.perp.market import PerpPositionView, PerpRunMarket

# Gas limits (keepers count the limit as the cost, so they are measured, with room): a
# liquidation alone (~180k on perp-crash, ~210k settling a shortfall), and what a funding
# settlement (two loops over the open accounts: ~14k each) or auto-deleveraging (a ranking over
# them and a venue close per counterparty) adds when it may run inside it.
BASE_GAS = 260_000
FUNDING_GAS_PER_ACCOUNT = 20_000
SHORTFALL_GAS = 150_000  # settling a flat account's negative margin from the insurance fund
ADL_GAS_PER_ACCOUNT = 10_000
ADL_GAS_PER_CLOSE = 130_000
FUNDING_SLACK_SECONDS = 120  # a settlement due this soon may run inside the next block's call

FEE_EVENTS = ("MarginPaid", "InsuranceFeeCharged")


PP = TypeVar("PP", bound=MechanismParams)


class PerpLiquidationMechanism(LiquidationMechanism[PP, "PerpRunMarket"]):
    """Base of the perp variants: ``market`` is a ``sandbox.perp.market.PerpRunMarket``."""

    markets: ClassVar[tuple[str, ...]] = ("perp",)

    # --- accounting rules ----------------------------------------------------------------------
    @classmethod
    def collateral_taken(cls, events: Sequence[LedgerEvent]) -> list[tuple[LedgerEvent, Taken]]:
        """What a liquidation took out of the trader's margin: the caller's fee (``MarginPaid``)
        and the fee to the insurance fund (``InsuranceFeeCharged``, an auction's penalty too),
        in USD."""
        return [(e, Taken(0, e.int("amount"))) for e in events
                if e.contract == "market" and e.name in FEE_EVENTS]

    @classmethod
    def insurance_fees(cls, events: Iterable[LedgerEvent]) -> int:
        """Liquidation fees paid into the insurance fund (the protocol's), from the mechanism's
        own events (``insuranceFee``)."""
        return sum(e.int("insuranceFee") for e in events if "insuranceFee" in e.args)

    # --- set-up ----------------------------------------------------------------------------------
    @classmethod
    def constructor_args(cls, market: "PerpRunMarket", params: Any) -> tuple:
        return (market.liquidated_contract.address, params.constructor_params())

    # --- reads -----------------------------------------------------------------------------------
    def candidates(self, owners: Sequence[Address]) -> list["PerpPositionView"]:
        """Listed accounts below maintenance margin at the mark, with a position, not locked."""
        return [p for p in self.market.positions(owners) if p.liquidatable and not p.locked and p.size != 0]

    def funding_due(self, state: "PerpState") -> bool:
        return state.last_funding_time + self.market.params.funding_interval_seconds <= \
            state.timestamp + FUNDING_SLACK_SECONDS

    def gas_limit(self, state: "PerpState", deficit: int = 0, base: int = BASE_GAS) -> int:
        """A liquidation's gas limit (``base`` for the action alone): more when funding may settle
        inside it, or when the deficit it may leave exceeds the insurance fund (auto-deleveraging
        runs)."""
        gas = base
        n = max(1, state.open_accounts)
        if self.funding_due(state):
            gas += FUNDING_GAS_PER_ACCOUNT * n
        if deficit > 0:
            gas += SHORTFALL_GAS
        if deficit > state.insurance_fund:
            gas += ADL_GAS_PER_ACCOUNT * n + ADL_GAS_PER_CLOSE * min(n, 6)
        return gas

    def close_fill(self, state: "PerpState", p: "PerpPositionView", size: int) -> tuple[int, int, int]:
        """(quote, realised PnL, margin after) of closing ``size`` of ``p`` through the venue now
        (a long sells, a short buys back; the basis taken pro rata, as the contract does)."""
        venue = pm.VenueState(state.base_reserve, state.quote_reserve, self.market.venue_k)
        s = abs(p.size)
        if p.size > 0:
            _, quote = venue.after(-size)
        else:
            quote = venue.after(size)[1] if size < venue.base else 2**128
        basis = p.open_notional if size == s else p.open_notional * size // s
        pnl = quote - basis if p.size > 0 else basis - quote
        return quote, pnl, p.margin - p.funding_owed + pnl

    @staticmethod
    def fees(notional: int, margin_after: int, keeper_bps: int, insurance_bps: int) -> tuple[int, int]:
        return pm.fees(notional, margin_after, keeper_bps, insurance_bps)

    @staticmethod
    def notional(size: int, price: int) -> int:
        return abs(size) * price // WAD

    @staticmethod
    def bps_of(amount: int, bps: int) -> int:
        return amount * bps // BPS


__all__ = ["PerpLiquidationMechanism"]
