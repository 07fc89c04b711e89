"""The opportunist: bids the least the contract accepts on a lot nobody else bids on.

What won Black Thursday's zero-bid auctions (12 March 2020: ~$8.3M of ETH for 0 DAI, one
bidder took 62,890 ETH): while fee-capped keepers could not get a transaction in, a bidder
that could bid the smallest bid flip's ``tend`` accepts on auctions without a bid, and with a
10-minute bid duration nobody came to outbid it before the lot was its.

On a ``standing_bid`` opportunity with no live rival bid (no current leader, ``beneficiary``
None, and no other sender's bid pending on it) it sends the mechanism's own call, which bids
the minimum the contract accepts now (English ``tend``: the opening bid, 0 here, as any bid
> 0 at Maker's flip), never the jump bid other keepers make (``raise_bid``), and only then: it
never bids on a lot someone else bid on, so it never outbids anyone. Everything else it
treats as the naive keeper does (at its gas policy's fixed tip): it starts auctions (``bite``),
``deal``s the lots it won (uncontested), takes other mechanisms' profitable opportunities and
sells its inventory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.agents.base import BlockView
from sandbox.mechanisms import Call, Opportunity

from .base import Keeper, KeeperParams

if TYPE_CHECKING:
    from sandbox.agents.context import AgentContext


class OpportunistKeeper(Keeper):
    name = "opportunist"
    Params = KeeperParams
    description = ("Bids the least the contract accepts on standing-bid lots nobody bids on (what won "
                   "at 0 DAI on 12 March 2020), never on a lot someone else bid on; otherwise naive.")

    @staticmethod
    def unled(opp: Opportunity) -> bool:
        """True for anything but a standing bid on a lot that already has a leader."""
        return not opp.standing_bid or opp.beneficiary is None

    def step(self, view: BlockView, ctx: "AgentContext") -> None:
        self.liquidate_public(view, ctx, [o for o in view.opportunities if self.unled(o)])
        self.sell_inventory(view, ctx)

    def size(self, ctx: "AgentContext", opp: Opportunity, budget: int) -> Call | None:
        """A standing bid is the mechanism's own call (its minimum acceptable bid), never raised;
        other calls are sized as every keeper sizes them."""
        if not opp.standing_bid:
            return super().size(ctx, opp, budget)
        try:
            call = self.encode(ctx, opp, budget if self.uses_capital else None)
        except ValueError:
            return None  # even the least bid is more than the capital left
        if self.uses_capital and self.capital_needed(ctx, call) > budget:
            return None
        return call
