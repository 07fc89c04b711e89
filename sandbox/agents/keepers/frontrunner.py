"""Front-running keeper: copies other agents' pending public liquidations with a higher tip.

In the reaction phase it reads the public mempool (``ctx.mempool.pending()`` only: private
bundles are invisible, so under the private mechanism there is nothing to copy), decodes every
call to the mechanism contract whose selector is a liquidation action, re-encodes the same
action on the same owner/auction for itself (sized to its capital) and sends it with tip =
max(victim's effective tip + ``outbid_gwei``, victim's tip × ``outbid_factor_bps``) when that is
still profitable after gas. If a rival then matches its copy, it re-bids like a PGA keeper.
With ``initiate`` it also liquidates on its own in phase 1, like the naive keeper.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from sandbox.agents.base import BlockView
from sandbox.units import BPS, GWEI

from .base import Keeper, KeeperParams, ceil_div, target_key

if TYPE_CHECKING:
    from sandbox.agents.context import AgentContext
    from sandbox.mechanisms import Call


def constant_tip(tip: int) -> Callable[[Call, int], int]:
    """A ``tip_for`` that tips ``tip`` on every call (bound now, not to a loop variable)."""
    return lambda call, gross: tip


@dataclass(frozen=True)
class FrontrunnerParams(KeeperParams):
    outbid_gwei: float = 1.0  # tip at least the victim's effective tip plus this ...
    outbid_factor_bps: int = 11250  # ... and at least the victim's tip times this
    max_tip_gwei: float = 1000.0
    initiate: bool = False  # also liquidate on its own in phase 1 (fixed tip)

    def validate(self) -> None:
        super().validate()
        if self.outbid_gwei < 0:
            raise ValueError(f"outbid_gwei must be >= 0, got {self.outbid_gwei}")
        if self.outbid_factor_bps < BPS:
            raise ValueError(f"outbid_factor_bps must be >= 10000, got {self.outbid_factor_bps}")
        if self.max_tip_gwei < 0:
            raise ValueError(f"max_tip_gwei must be >= 0, got {self.max_tip_gwei}")

    @property
    def max_tip_wei(self) -> int:
        return int(self.max_tip_gwei * GWEI)


class FrontrunnerKeeper(Keeper):
    name = "frontrunner"
    Params = FrontrunnerParams
    description = ("Copies other agents' pending public liquidations with a higher tip (+1 gwei or "
                   "×1.125); sees nothing that travels in private bundles.")

    params: FrontrunnerParams

    def step(self, view: BlockView, ctx: "AgentContext") -> None:
        if self.params.initiate:
            self.liquidate_public(view, ctx, view.opportunities)
        self.sell_inventory(view, ctx)

    def copy_tip_wei(self, victim_tip: int) -> int:
        p = self.params
        return max(victim_tip + int(p.outbid_gwei * GWEI), ceil_div(victim_tip * p.outbid_factor_bps, BPS))

    def react(self, view: BlockView, ctx: "AgentContext") -> None:
        # Keep the copies already sent ahead of their victims.
        self.outbid_competitors(view, ctx, self.params.outbid_factor_bps, self.params.max_tip_wei)
        victims: dict[tuple, int] = {}
        opps_by_key = {}
        for pending in ctx.mempool.pending():  # public transactions only
            if pending.sender == self.address or pending.private:
                continue
            opp = self.matching_opportunity(ctx, view.opportunities, pending)
            if opp is None or opp.standing_bid or opp.uncontested:
                continue  # an English bid is outbid in the auction, not copied; a deal gives a copier nothing
            key = target_key(opp)
            tip = pending.effective_tip(view.base_fee)
            if tip >= victims.get(key, -1):
                victims[key] = tip
                opps_by_key[key] = opp
        for key, victim_tip in victims.items():
            if self.is_targeted(key):
                continue
            tip = self.copy_tip_wei(victim_tip)
            if tip > self.params.max_tip_wei:
                continue
            for plan in self.plan(view, ctx, [opps_by_key[key]], tip_for=constant_tip(tip),
                                  allow_unpaid=False):
                self.send(view, ctx, plan)
