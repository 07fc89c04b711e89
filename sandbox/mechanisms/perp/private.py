"""Private (order-flow auction) liquidation of perpetual positions (contract
``PerpPrivateLiquidator``): the lending ``private`` mechanism's auction on top of the perp
fixed-fee terms. After each oracle round the right to liquidate first is sold off the public
mempool in a sealed-bid auction; the winner's ``liquidateWithBid`` pays its bid (80% to the
protocol's treasury, the rest to the auction operator) in USD from its wallet; after the one-block
exclusive window anyone may ``liquidate`` at fixed-fee terms."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable, Sequence

from sandbox.chain import Account, Address, Contract
from sandbox.mechanisms.accounting import LedgerEvent
from sandbox.mechanisms.base import Call, Opportunity
from sandbox.mechanisms.private import OrderFlowWindow, PrivateAuctionMechanism
from sandbox.perp.params import PerpPrivateParams

from .fixed_fee import PerpFixedFeeMechanism

if TYPE_CHECKING:
    from sandbox.perp.market import PerpRunMarket

BID_GAS = 120_000  # pulling and splitting the bid on the round's first liquidation


class PerpPrivateMechanism(OrderFlowWindow, PerpFixedFeeMechanism[PerpPrivateParams]):
    name = PrivateAuctionMechanism.name
    Params = PerpPrivateParams
    contract_name = "PerpPrivateLiquidator"
    liquidation_functions = frozenset({"liquidate", "liquidateWithBid"})
    position_neutral_events = frozenset({"BidPaid", "RightGranted"})
    description = ("Order-flow auction on perps: the right to liquidate right after each oracle update is sold in a "
                   "sealed-bid auction (80% of the bid to the protocol); fixed-fee terms, open to everyone after "
                   "one block.")
    event_amounts = {**PerpFixedFeeMechanism.event_amounts, "RightGranted": (None, None, "bidUsd"),
                     "BidPaid": (None, None, "bid")}

    params: PerpPrivateParams

    @classmethod
    def protocol_revenue(cls, events: Sequence[LedgerEvent], oracle_price: Callable[[LedgerEvent], int],
                         final_price_wad: int) -> dict[str, int]:
        """Fixed-fee's insurance fees plus the protocol's share of the winning bids."""
        return {**super().protocol_revenue(events, oracle_price, final_price_wad),
                "bid-share": sum(e.int("protocolAmount") for e in events if e.name == "BidPaid")}

    @classmethod
    def accounting_details(cls, events: Sequence[LedgerEvent]) -> dict[str, int]:
        return PrivateAuctionMechanism.accounting_details(events)

    @classmethod
    def check_scenario(cls, scenario, params) -> None:
        """The lending private mechanism's rule: the exclusive window must hold a block."""
        PrivateAuctionMechanism.check_scenario(scenario, params)

    @classmethod
    def constructor_args(cls, market: "PerpRunMarket", params: PerpPrivateParams) -> tuple:
        auctioneer = market.deployer
        return (market.market.address, params.constructor_params(), auctioneer.address, auctioneer.address,
                params.protocol_share_bps, params.open_delay_seconds)

    def __init__(self, market: "PerpRunMarket", params: PerpPrivateParams, contract: Contract):
        super().__init__(market, params, contract)
        self.auctioneer: Account = market.deployer
        self.operator: Address = self.auctioneer.address

    def order_flow(self) -> "PerpPrivateMechanism":
        return self

    # --- discovery -----------------------------------------------------------------------------
    def opportunities(self, owners: Sequence[Address], timestamp: int | None = None) -> list[Opportunity]:
        """Liquidatable accounts; during the exclusive window (judged at ``timestamp``, default the
        next block's second) "liquidate-with-bid" for the round's winner only, afterwards plain
        "liquidate"."""
        candidates = self.candidates(owners)
        if not candidates:
            return []
        action, exclusive, round_id, extra = self.window_terms(timestamp)
        state = self.market.state()
        out = []
        for p in candidates:
            opp = self._opportunity(state, p, action, ref=round_id, private=exclusive, uncontested=exclusive,
                                     **extra)  # in the window only its winner may send it
            if opp is not None:
                out.append(opp)
        return out

    def encode(self, opportunity: Opportunity, caller: Address, max_pay: int | None = None) -> Call:
        call = super().encode(opportunity, caller, max_pay)
        if opportunity.action == "liquidate-with-bid":
            return dataclasses.replace(call, gas=call.gas + BID_GAS)
        return call


__all__ = ["PerpPrivateMechanism"]
