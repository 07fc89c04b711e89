"""The oracle updater: pushes the reference price on deviation or heartbeat (Chainlink-style).

Public flow: the update is an ordinary mempool transaction (tag "oracle-update"), visible to
every agent in ``view.pending``, so keepers can back-run it. A still-pending update is replaced
(same nonce, both fee caps +12.5% or more) with the price observed now when the price has moved
a further ``deviation_bps`` away from the pending answer, or when it is stuck (priced out by the
base fee, or passed over for ``GasPolicy.reprice_after_blocks`` blocks: ``Agent.reprice_stuck``);
otherwise it is left alone.

Faults (``OracleSpec.faults``): during a window the updater reports the observed price times
the window's multiplier (a broken, manipulated or stale source) while the market's reference
price stays right; the deviation rule then pushes the wrong price on-chain, and back again when
the window ends.

Private flow (``ctx.mechanism.is_private``, an OEV-style order-flow auction): the signed update
never enters the public mempool. What is sold is an ``OrderFlowLot``: the right to liquidate
first once the new round is in force. Every other agent in ``ctx.agents`` that overrides
``private_bid`` is shown the lot (simulate ``lot.txs`` with ``ctx.hypothetically``) and may
return a sealed ``PrivateBid``; ``mechanism.run_auction`` picks the winner with this agent's
generator. Without an oracle delay ONE bundle is sent: [update, auctioneer's ``grant`` for the
new round, the winner's calls signed with the winner's own gas policy] (the winner's calls may
revert without holding the update back). With no bids the update goes alone; liquidation then
opens to everyone after ``open_delay_seconds``.

With an in-force delay (``OracleSpec.delay_seconds`` > 0, OSM-style) the update is bundled alone
and its round comes into force ``delay_seconds`` later, by the passing of time; its next price
is public meanwhile (``latestSubmitted``), which is exactly what the auction sells: in the first
block in which the round is in force (and its exclusive window open), the lot is auctioned
(``lot.txs`` empty) and [grant, winner's calls] go as a bundle at the top of that block.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from sandbox.chain import Account, SignedTx, TxRequest
from sandbox.chain.mempool import PendingTx
from sandbox.mechanisms import OrderFlowAuction
from sandbox.scenarios.schema import OracleSpec
from sandbox.units import BPS, GWEI, WAD

from .base import Agent, BlockView, GasPolicy, OrderFlowLot, PrivateBid

if TYPE_CHECKING:
    from .context import AgentContext
    from .kinds import RunSetup

SUBMIT_GAS = 120_000  # measured ~75k (new round storage + event)


class OracleUpdater(Agent):
    """Submits ``oracle.submit(reference)`` when the reference moved ``deviation_bps`` from the
    newest submitted answer or ``heartbeat_seconds`` passed since it."""

    kind = "oracle"
    reprices_stuck = True

    def __init__(self, account: Account, rng: np.random.Generator, spec: OracleSpec | None = None,
                 gas: GasPolicy | None = None):
        spec = spec or OracleSpec()
        super().__init__(account, rng, gas or GasPolicy(tip_gwei=spec.tip_gwei))
        self.spec = spec
        self.deviation_bps = spec.deviation_bps
        self.heartbeat_seconds = spec.heartbeat_seconds
        self.auctions: list[dict] = []  # private flow: one record per auction held
        self._sold: set[int] = set()  # rounds already auctioned (delayed oracle)

    @classmethod
    def populate(cls, run: "RunSetup") -> list[Agent]:
        """The market's one oracle updater, on its oracle role's account (``[oracle]``)."""
        return [cls(run.market.oracle_updater, run.rng_for("oracle"), run.scenario.oracle)]

    @property
    def tip_wei(self) -> int:
        return int(self.gas.tip_gwei * GWEI)

    # --- rules ---------------------------------------------------------------------------
    def deviates(self, price_wad: int, from_wad: int) -> bool:
        """|price − from| / from ≥ deviation_bps."""
        return abs(price_wad - from_wad) * BPS >= self.deviation_bps * from_wad

    def observed_price(self, view: BlockView) -> int:
        """The price this oracle reports: the reference price, blended with the AMM spot price
        by ``amm_weight`` (a DEX-fed oracle, so selling seized collateral on the AMM can move
        the oracle and cascade into further liquidations), times the fault multiplier in force
        at ``view.elapsed_seconds`` (``OracleSpec.faults``)."""
        weight = self.spec.amm_weight
        weth, usd = view.amm_reserves
        price = view.reference_price_wad
        if weight and weth:
            spot = usd * WAD // weth
            w = round(weight * BPS)
            price = (price * (BPS - w) + spot * w) // BPS
        if self.spec.faults:
            mult = self.spec.fault_multiplier(view.elapsed_seconds)
            if mult != 1.0:
                price = price * round(mult * 1_000_000) // 1_000_000
        return max(price, 1)

    def due(self, view: BlockView) -> bool:
        return (self.deviates(self.observed_price(view), view.oracle_submitted_price_wad)
                or view.timestamp - view.oracle_submitted_at >= self.heartbeat_seconds)

    def still_active(self, view: BlockView, ctx: "AgentContext") -> bool:
        """An update in flight, a fault window still to come, or an answer (submitted, or in
        force) other than the price it observes: a push or the heartbeat will still change the
        price the market uses. Once both equal it, heartbeats re-submit the same answer."""
        if self._bundle_pending(ctx) or any(end > view.elapsed_seconds for _, end, _ in self.spec.faults):
            return True
        observed = self.observed_price(view)
        return view.oracle_submitted_price_wad != observed or view.oracle_price_wad != observed

    def _request(self, ctx: "AgentContext", price_wad: int) -> TxRequest:
        return ctx.market.oracle.tx(self.account, "submit", price_wad, gas=SUBMIT_GAS)

    # --- block ---------------------------------------------------------------------------
    def step(self, view: BlockView, ctx: "AgentContext") -> None:
        if ctx.mechanism.is_private:
            self._step_private(view, ctx)
        else:
            self._step_public(view, ctx)
        self._follow_up(ctx)

    def _follow_up(self, ctx: "AgentContext") -> None:
        """What the oracle role owes the market once a round is in force (``oracle_followups``
        of the market's handle: the perp market's vol margin folds each round in); public
        transactions, one at a time."""
        followups = getattr(ctx.market, "oracle_followups", None)
        if followups is None:
            return
        me = self.account.address
        if any(p.sender == me and p.tag == "oracle-followup" for p in ctx.mempool.pending()):
            return
        for request in followups(self.account):
            ctx.submit(self, request, tag="oracle-followup", tip_wei=self.tip_wei, meta={"action": "oracle-followup"})

    def _own_pending(self, ctx: "AgentContext") -> PendingTx | None:
        me = self.account.address
        mine = [p for p in ctx.mempool.pending() if p.sender == me and p.tag == "oracle-update"]
        return mine[-1] if mine else None

    def _step_public(self, view: BlockView, ctx: "AgentContext") -> None:
        price = self.observed_price(view)
        pending = self._own_pending(ctx)
        if pending is not None:
            old_price = pending.meta.get("price_wad")
            moved = old_price is not None and price != old_price and self.deviates(price, old_price)
            if moved:
                fees = self.gas.replacement_fees(view.base_fee, pending.tx.max_fee_per_gas,
                                                 pending.tx.max_priority_fee_per_gas)
                if fees is not None:
                    self._send(ctx, price, pending.nonce, *fees)
            return  # a stuck update is re-priced by ``reprice_stuck``
        if self.due(view):
            ctx.submit(self, self._request(ctx, price), tag="oracle-update", tip_wei=self.tip_wei,
                       meta={"price_wad": price})

    def _send(self, ctx: "AgentContext", price: int, nonce: int, max_fee_wei: int,
              tip_wei: int) -> PendingTx:
        """Replace the pending update of ``nonce`` with ``price`` at these fees."""
        request = dataclasses.replace(self._request(ctx, price), nonce=nonce, max_fee_per_gas=max_fee_wei,
                                      max_priority_fee_per_gas=tip_wei)
        return ctx.mempool.submit(ctx.chain.sign(request), agent=self.label, tag="oracle-update",
                                  meta={"price_wad": price})

    def reprice(self, view: BlockView, ctx: "AgentContext", pending: PendingTx, max_fee_wei: int,
                tip_wei: int) -> PendingTx | None:
        """A stuck update goes again at higher fees, with the price observed now (a follow-up
        goes again as it is)."""
        if pending.tag != "oracle-update":
            return ctx.replace(self, pending, tip_wei, max_fee_wei)
        return self._send(ctx, self.observed_price(view), pending.nonce, max_fee_wei, tip_wei)

    # --- private order flow ----------------------------------------------------------------
    def _bundle_pending(self, ctx: "AgentContext") -> bool:
        me = self.account.address
        return any(p.sender == me for b in ctx.mempool.bundles() for p in b.txs) or any(
            p.sender == me for p in ctx.mempool.pending())

    def collect_bids(self, view: BlockView, ctx: "AgentContext", lot: OrderFlowLot) -> dict[str, PrivateBid]:
        """Sealed bids of every agent that overrides ``private_bid`` (bidder address -> bid)."""
        bids: dict[str, PrivateBid] = {}
        for agent in ctx.agents:
            if agent is self or type(agent).private_bid is Agent.private_bid:
                continue
            bid = agent.private_bid(view, ctx, lot)
            if bid is None or bid.bid_usd_wad < 0 or not bid.calls:
                continue
            bids[agent.account.address] = bid
        return bids

    def _step_private(self, view: BlockView, ctx: "AgentContext") -> None:
        delayed = ctx.market.params.oracle_delay_seconds > 0
        if delayed:
            self._auction_round_coming_into_force(view, ctx)
        if self._bundle_pending(ctx) or not self.due(view):
            return
        price = self.observed_price(view)
        round_id = int(ctx.market.oracle.call("latestRound")) + 1
        signed = ctx.sign(self, self._request(ctx, price), tip_wei=self.tip_wei)
        meta = {"price_wad": price, "round_id": round_id}
        txs: list[SignedTx] = [signed]
        labels: list[tuple[str, str, dict]] = [(self.label, "oracle-update", meta)]
        may_revert: list[bytes] = []
        if not delayed:  # the round is in force in its own block: sell it with the update
            sold = self._auction(view, ctx, OrderFlowLot(round_id=round_id, price_wad=price, txs=(signed,)))
            txs += sold[0]
            labels += sold[1]
            may_revert += sold[2]
        ctx.submit_bundle(self, txs, tag="oracle-update", labels=labels, may_revert=may_revert)

    def _auction_round_coming_into_force(self, view: BlockView, ctx: "AgentContext") -> None:
        """OSM-style delay: the round that comes into force in this block (its next price has
        been public since it was submitted) is sold now, in a bundle of the auctioneer's grant
        and the winner's calls at the top of the block; once per round, while its exclusive
        window is open."""
        auction = ctx.mechanism.order_flow()
        if auction is None or any(b.agent == self.label and b.tag == "auction-grant"
                                  for b in ctx.mempool.bundles()):
            return
        state = auction.auction_state_at(ctx.timestamp)
        if state.round_id == 0 or state.round_id in self._sold or state.winner is not None \
                or not state.exclusive(ctx.timestamp):
            return
        self._sold.add(state.round_id)
        price = int(ctx.market.oracle.call("getRoundData", state.round_id)[1])
        txs, labels, may_revert = self._auction(view, ctx, OrderFlowLot(round_id=state.round_id,
                                                                        price_wad=price, txs=()))
        if txs:
            ctx.submit_bundle(self, txs, tag="auction-grant", labels=labels, may_revert=may_revert)

    def _auction(self, view: BlockView, ctx: "AgentContext",
                 lot: OrderFlowLot) -> tuple[list[SignedTx], list[tuple[str, str, dict]], list[bytes]]:
        """Sell ``lot``: (transactions, labels, hashes that may revert) to bundle after the
        update: the auctioneer's grant and the winner's calls (which may revert without
        holding back the oracle); nothing when nobody bids."""
        record = {"block": view.number, "round_id": lot.round_id, "price_wad": lot.price_wad, "bids": {},
                  "winner": None, "bid": 0}
        self.auctions.append(record)
        auction = ctx.mechanism.order_flow()
        if auction is None:
            return [], [], []
        bids = self.collect_bids(view, ctx, lot)
        record["bids"] = {a: b.bid_usd_wad for a, b in bids.items()}
        result = auction.run_auction({a: b.bid_usd_wad for a, b in bids.items()}, self.rng)
        if result is None:
            return [], [], []
        winner, amount = result
        bid = bids[winner]
        record.update(winner=winner, bid=amount)
        auctioneer = auction.auctioneer
        txs = [self._grant(ctx, auction, lot.round_id, winner, amount)]
        labels = [(auctioneer.label, "auction-grant", {"round_id": lot.round_id, "winner": winner, "bid": amount})]
        agent = next(a for a in ctx.agents if a.account.address == winner)
        calls = ctx.sign_sequence(agent, [c.request(agent.account) for c in bid.calls])
        for c in bid.calls:
            labels.append((agent.label, "liquidation",
                           {"action": c.action, "owner": c.owner, "mechanism": ctx.mechanism.name,
                            "round_id": lot.round_id, "bid": amount}))
        return txs + calls, labels, [t.hash for t in calls]

    def _grant(self, ctx: "AgentContext", auction: OrderFlowAuction, round_id: int, winner: str,
               amount: int) -> SignedTx:
        auctioneer = auction.auctioneer
        max_fee, tip = self.gas.fees(ctx.chain.next_base_fee, self.tip_wei)
        request = auction.grant_call(round_id, winner, amount).request(
            auctioneer, nonce=ctx.next_nonce(auctioneer.address), max_fee_per_gas=max_fee,
            max_priority_fee_per_gas=tip)
        return ctx.chain.sign(request)
