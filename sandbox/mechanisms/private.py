"""Private liquidation: an order-flow (OEV-style) auction on top of fixed-fee terms
(contract ``PrivateLiquidator``).

After each oracle round the right to liquidate first is sold off-chain in a sealed-bid auction
(``run_auction``); the auctioneer records the winner on-chain (``grant_call``), and the winner's
``liquidateWithBid`` pays the bid in the same transaction: ``protocol_share_bps`` of it to the
treasury, the rest to the auction operator. During the exclusive window of
``open_delay_seconds`` after the round comes into force nobody else can liquidate; after it,
plain ``liquidate`` is open to everyone at fixed-fee terms.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping, Sequence

import numpy as np

from sandbox.chain import Account, Address, Contract, deploy, execute
from sandbox.units import BPS

from .accounting import LedgerEvent
from .base import AuctionState, Call, Opportunity
from .fixed_fee import FixedFeeMechanism, FixedFeeParams

if TYPE_CHECKING:
    from sandbox.market import Market

GRANT_GAS = 120_000
LIQUIDATE_WITH_BID_GAS = 380_000  # measured: ~250k with a write-off and the bid


@dataclass(frozen=True)
class PrivateAuctionParams(FixedFeeParams):
    """Fixed-fee terms plus the auction: API3-like 80% of the bid to the protocol, one-block window."""

    protocol_share_bps: int = 8000
    open_delay_seconds: int = 12  # the winner's exclusive window after the round comes into force

    def validate(self) -> None:
        super().validate()
        if not 0 <= self.protocol_share_bps <= BPS:
            raise ValueError(f"protocol_share_bps must be in [0, 10000], got {self.protocol_share_bps}")
        if self.open_delay_seconds <= 0:
            raise ValueError(f"open_delay_seconds must be > 0 (with no exclusive window there is nothing "
                             f"to auction), got {self.open_delay_seconds}")


def bid_split(bid: int, params: PrivateAuctionParams) -> tuple[int, int]:
    """(protocol amount, operator amount) of a winning bid, as the contract rounds it."""
    protocol = bid * params.protocol_share_bps // BPS
    return protocol, bid - protocol


class OrderFlowWindow:
    """The order-flow auction's calls and reads, shared by ``PrivateAuctionMechanism`` and its
    perp variant (both contracts expose ``grant``, ``auctionState``, ``liquidate`` and
    ``liquidateWithBid``): the sealed-bid auction, the grant, the window in force, and which
    action an opportunity carries inside and after it."""

    name: ClassVar[str]
    contract: Contract
    market: Any

    # --- auction -------------------------------------------------------------------------
    @staticmethod
    def run_auction(bids: Mapping[Address, int], rng: np.random.Generator) -> tuple[Address, int] | None:
        """Sealed-bid auction: the highest bid wins (first price); ties are broken by ``rng``.

        None when nobody bids. Bidders are sorted before the draw, so the result depends on the
        bids and the generator only, not on the dict's insertion order.
        """
        if not bids:
            return None
        for bidder, bid in bids.items():
            if bid < 0:
                raise ValueError(f"negative bid {bid} from {bidder}")
        best = max(bids.values())
        tied = sorted(a for a, b in bids.items() if b == best)
        winner = tied[int(rng.integers(len(tied)))] if len(tied) > 1 else tied[0]
        return winner, best

    def grant_call(self, round_id: int, winner: Address, bid: int) -> Call:
        """The auctioneer's ``grant`` for the oracle round in force (send as ``self.auctioneer``)."""
        return Call(to=self.contract.address, data=self.contract.encode("grant", round_id, winner, bid),
                    gas=GRANT_GAS, action="grant", owner=winner)

    def auction_state(self) -> AuctionState:
        """The auction of the round in force now (as of the latest block)."""
        return self.auction_state_at(None)

    def auction_state_at(self, timestamp: int | None) -> AuctionState:
        """The auction of the round in force at ``timestamp`` (a block not built yet: with an
        oracle delay, a round comes into force by the passing of time)."""
        round_id, start, end, winner, bid, paid = self.contract.call("auctionState", timestamp=timestamp)
        return AuctionState(round_id=round_id, window_start=start, window_end=end,
                            winner=None if int(winner, 16) == 0 else winner, bid=bid, paid=paid)

    def window_terms(self, timestamp: int | None) -> tuple[str, bool, int, dict[str, Any]]:
        """(action, exclusive, round id, extra) for opportunities judged at ``timestamp`` (default
        the next block's second): "liquidate-with-bid" for the round's winner inside the exclusive
        window (extra names the winner, bid and whether it is paid), plain "liquidate" after."""
        auction = self.auction_state()
        now = self.market.chain.timestamp + 1 if timestamp is None else timestamp
        exclusive = auction.exclusive(now)
        extra: dict[str, Any] = {"round_id": auction.round_id, "window_end": auction.window_end}
        if exclusive:
            extra.update(winner=auction.winner, bid=auction.bid, bid_paid=auction.paid)
        return ("liquidate-with-bid" if exclusive else "liquidate"), exclusive, auction.round_id, extra

    def _function(self, action: str) -> str:
        if action == "liquidate":
            return "liquidate"
        if action == "liquidate-with-bid":
            return "liquidateWithBid"
        raise ValueError(f"{self.name} cannot encode action {action!r}")


class PrivateAuctionMechanism(OrderFlowWindow, FixedFeeMechanism[PrivateAuctionParams]):
    name = "private"
    Params = PrivateAuctionParams
    contract_name = "PrivateLiquidator"
    liquidation_functions = frozenset({"liquidate", "liquidateWithBid"})
    default_rank = 4
    markets = ("lending", "perp")
    variants = {"perp": "sandbox.mechanisms.perp.private:PerpPrivateMechanism"}
    position_neutral_events = frozenset({"BidPaid", "RightGranted"})
    description = ("Order-flow auction: the right to liquidate right after each oracle update is "
                   "sold in a sealed-bid auction (80% of the bid to the protocol); fixed-fee terms, "
                   "open to everyone after a one-block delay.")

    event_amounts = {**FixedFeeMechanism.event_amounts, "RightGranted": (None, None, "bidUsd"),
                     "BidPaid": (None, None, "bid")}

    # --- accounting rules (collateral taken: fixed-fee's) -------------------------------------
    @classmethod
    def protocol_revenue(cls, events: Sequence[LedgerEvent], oracle_price: Callable[[LedgerEvent], int],
                         final_price_wad: int) -> dict[str, int]:
        """Fixed-fee's liquidation fee, plus the protocol's share of the winning bids
        (``BidPaid.protocolAmount``)."""
        return {**super().protocol_revenue(events, oracle_price, final_price_wad),
                "bid-share": sum(e.int("protocolAmount") for e in events if e.name == "BidPaid")}

    @classmethod
    def accounting_details(cls, events: Sequence[LedgerEvent]) -> dict[str, int]:
        """The auction operator's share of the bids (``BidPaid.operatorAmount``): neither the
        protocol's revenue nor builders' MEV."""
        return {"auction_operator": sum(e.int("operatorAmount") for e in events if e.name == "BidPaid")}

    def __init__(self, market: "Market", params: PrivateAuctionParams, contract: Contract,
                 auctioneer: Account | None = None, operator: Address | None = None):
        super().__init__(market, params, contract)
        self.auctioneer: Account = auctioneer or market.deployer
        self.operator: Address = operator or self.auctioneer.address

    @classmethod
    def deploy(cls, market: "Market", params: PrivateAuctionParams | None = None, *,
               auctioneer: Account | None = None,
               operator: Address | None = None) -> "PrivateAuctionMechanism":
        """Deploy with ``auctioneer`` (default market.deployer) and ``operator`` payee
        (default the auctioneer's address)."""
        params = cls.checked_params(params)
        auctioneer = auctioneer or market.deployer
        operator = operator or auctioneer.address
        args = (market.lending.address, *params.contract_args(), auctioneer.address, operator,
                params.protocol_share_bps, params.open_delay_seconds)
        (contract,) = deploy(market.chain, market.deployer, [(cls.contract_name, args)])
        execute(market.chain, [market.lending.tx(market.deployer, "installMechanism", contract.address)])
        return cls(market, params, contract, auctioneer=auctioneer, operator=operator)

    @classmethod
    def check_scenario(cls, scenario, params: PrivateAuctionParams) -> None:
        """The exclusive window must hold a block: with an oracle delay of d seconds and blocks
        every b seconds, the first block after a round comes into force is (−d mod b) seconds
        later, so the window must be longer than that, or no winner could ever act."""
        delay, block = scenario.oracle.delay_seconds, scenario.block_time_seconds
        gap = -delay % block
        if params.open_delay_seconds <= gap:
            raise ValueError(
                f"mechanisms.{cls.name}.open_delay_seconds: {params.open_delay_seconds} s leaves no block in "
                f"the exclusive window (oracle.delay_seconds {delay} with block_time_seconds {block} puts "
                f"the first block {gap} s after a round comes into force); make it > {gap}")

    def order_flow(self) -> "PrivateAuctionMechanism":
        """This mechanism is its own order-flow auction (``run_auction``, ``grant_call``,
        ``auction_state_at``, ``auctioneer``)."""
        return self

    # --- discovery -----------------------------------------------------------------------
    def opportunities(self, owners: Sequence[Address], timestamp: int | None = None) -> list[Opportunity]:
        """Liquidatable positions; during the exclusive window (judged at ``timestamp``, default
        the next block's second) the action is "liquidate-with-bid" for the round's winner only
        (``extra['winner']``, None before the grant), afterwards plain "liquidate"."""
        positions = [p for p in self.market.positions(owners) if p.is_liquidatable]
        if not positions:
            return []
        action, exclusive, round_id, extra = self.window_terms(timestamp)
        price = self.market.price()
        out = []
        for p in positions:
            opp = self._opportunity(p, price, action, ref=round_id, private=exclusive, uncontested=exclusive,
                                     **extra)  # in the window only its winner may send it
            if opp is not None:
                out.append(opp)
        return out

    def encode(self, opportunity: Opportunity, caller: Address,
               max_pay: int | None = None) -> Call:
        """``liquidate`` or, for the round's winner, ``liquidateWithBid`` (the bid is pulled
        from the caller in USD on its first liquidation of the round, on top of the repayment)."""
        call = super().encode(opportunity, caller, max_pay)
        if opportunity.action == "liquidate-with-bid":
            return dataclasses.replace(call, gas=LIQUIDATE_WITH_BID_GAS)
        return call
