"""Priority-gas-auction keeper (Daian et al., "Flash Boys 2.0").

It opens with a tip worth ``profit_share_bps`` of the expected profit (after the base fee),
capped at ``max_tip_gwei``; in the reaction phase, whenever another sender's public transaction
on the same target (same mechanism contract, function and owner/auction) tips as much or more,
it re-sends its own transaction (same nonce) with tip = max(own, rival) × ``rebid_factor_bps``
(≥ the mempool's 12.5% bump, max fee raised accordingly), as long as the liquidation stays
profitable after gas. Two PGA keepers on one target therefore escalate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sandbox.agents.base import BlockView
from sandbox.units import BPS, GWEI, WAD

from .base import Keeper, KeeperParams

if TYPE_CHECKING:
    from sandbox.agents.context import AgentContext


@dataclass(frozen=True)
class PgaParams(KeeperParams):
    profit_share_bps: int = 5000  # opening tip: this share of the profit after the base fee
    rebid_factor_bps: int = 11250  # each re-bid multiplies the tip by at least this
    max_tip_gwei: float = 5000.0  # never tip more than this

    def validate(self) -> None:
        super().validate()
        if not 0 <= self.profit_share_bps <= BPS:
            raise ValueError(f"profit_share_bps must be in [0, 10000], got {self.profit_share_bps}")
        if self.rebid_factor_bps < 11250:
            raise ValueError("rebid_factor_bps must be >= 11250 (the mempool's 12.5% replacement bump), "
                             f"got {self.rebid_factor_bps}")
        if self.max_tip_gwei < 0:
            raise ValueError(f"max_tip_gwei must be >= 0, got {self.max_tip_gwei}")

    @property
    def max_tip_wei(self) -> int:
        return int(self.max_tip_gwei * GWEI)


class PgaKeeper(Keeper):
    name = "pga"
    Params = PgaParams
    description = ("Priority gas auction: tips a share of the expected profit and re-bids ×1.125 "
                   "over any rival on the same target while still profitable.")

    params: PgaParams

    def opening_tip_wei(self, view: BlockView, gas: int, gross_usd: int) -> int | None:
        """``profit_share_bps`` of the profit after the base fee, per unit of gas, in wei."""
        after_base = gross_usd - view.gas_cost_usd_wad(gas, 0)
        if after_base <= 0 or view.reference_price_wad <= 0:
            return None
        tip = after_base * self.params.profit_share_bps * WAD // (BPS * gas * view.reference_price_wad)
        return max(self.policy_tip_wei, min(tip, self.params.max_tip_wei))

    def step(self, view: BlockView, ctx: "AgentContext") -> None:
        self.liquidate_public(view, ctx, view.opportunities,
                              tip_for=lambda call, gross: self.opening_tip_wei(view, call.gas, gross))
        self.sell_inventory(view, ctx)

    def react(self, view: BlockView, ctx: "AgentContext") -> None:
        self.outbid_competitors(view, ctx, self.params.rebid_factor_bps, self.params.max_tip_wei)
