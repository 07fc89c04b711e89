"""Back-running keeper: liquidates in the same block, right after a pending oracle update.

In the reaction phase it looks for a public pending oracle update (tag "oracle-update", or a
call of the oracle's ``submit``), executes it hypothetically (``ctx.what_if_opportunities``,
shared with every other keeper asking) to list the opportunities it creates, and sends the
profitable liquidations as a private bundle placed right after the update
(``ctx.submit_bundle(..., after=update.hash)``), paying the block builder a share of the expected
profit (``Keeper.send_bundle``): other back-runners bid for the same positions, and only the
best bid lands. A bundle is valid for one block, so while the update stays pending it bids
again each block. In phase 1 it also takes whatever is already open, like the naive keeper.
Under the private mechanism it takes part in the order-flow auction through the generic
``Keeper.private_bid``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.agents.base import BlockView
from sandbox.chain import ChainError
from sandbox.chain.mempool import PendingTx

from .base import Keeper, KeeperParams

if TYPE_CHECKING:
    from sandbox.agents.context import AgentContext


class BackrunnerKeeper(Keeper):
    name = "backrunner"
    Params = KeeperParams
    description = ("Simulates pending oracle updates and bundles the liquidations they open right "
                   "after them in the same block.")

    def step(self, view: BlockView, ctx: "AgentContext") -> None:
        self.liquidate_public(view, ctx, view.opportunities)
        self.sell_inventory(view, ctx)

    def is_oracle_update(self, ctx: "AgentContext", pending: PendingTx) -> bool:
        oracle = ctx.market.oracle
        if pending.tag == "oracle-update":
            return True
        return ((pending.tx.to or "").lower() == oracle.address.lower()
                and bytes(pending.tx.data[:4]) == oracle.abi.function("submit").selector)

    def react(self, view: BlockView, ctx: "AgentContext") -> None:
        live = {b.after for b in ctx.mempool.bundles() if b.agent == self.label}  # already bid on
        for update in ctx.mempool.pending():
            if update.hash in live or not self.is_oracle_update(ctx, update):
                continue
            try:
                opps = ctx.what_if_opportunities([update.tx])
            except ChainError:
                continue  # not executable on its own (nonce gap, fees): nothing to learn
            plans = self.plan(view, ctx, opps)
            if plans:
                self.send_bundle(view, ctx, plans, after=update.hash)
