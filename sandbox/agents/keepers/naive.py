"""The naive keeper: a fixed tip from its gas policy, every profitable opportunity, publicly."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.agents.base import BlockView

from .base import Keeper, KeeperParams

if TYPE_CHECKING:
    from sandbox.agents.context import AgentContext


class NaiveKeeper(Keeper):
    name = "naive"
    Params = KeeperParams
    description = ("Sends every opportunity that is profitable after gas to the public mempool at "
                   "its gas policy's fixed tip; never re-bids.")

    def step(self, view: BlockView, ctx: "AgentContext") -> None:
        self.liquidate_public(view, ctx, view.opportunities)
        self.sell_inventory(view, ctx)
