"""The perp arbitrageur: trades the venue's premium back toward the index, through its own margin
account.

The venue is an x·y = k virtual AMM, so the base reserve at which its price equals the index p is
sqrt(k / p) (``PerpVenue``'s quote reserve is ceil(k / base)). Each block, when the traded price
is more than ``min_edge_bps`` from the index in force, the arbitrageur buys (venue below the
index) or sells the base that brings the price to the index, capped at ``capital_usd_per_block``
of notional and at what its margin carries (initial margin after the trade, with a tenth to
spare; a reducing trade is never capped by margin), with a price limit of the index: it never
trades past it. Its margin is ``MARGIN_BLOCKS`` blocks' capital, deposited at set-up before the
traders open; it trades the venue back to the index after each opening (``sandbox.agents.
traders.open_sizes``: their net demand is the premium it absorbs, so in a vAMM the arbitrageur
ends up holding the traders' net imbalance, paid by funding and the premium's convergence), and
once more after the set-up. One trade is in flight at a time; a
stuck one is re-sent at higher fees (same size, same limit).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from sandbox.chain import Account
from sandbox.perp import math as pm
from sandbox.perp.actions import deposit_tx, fund_requests, trade_tx
from sandbox.scenarios.schema import ArbitrageurSpec
from sandbox.units import BPS, WAD

from .arbitrageur import ArbitrageurAgent
from .base import BlockView, GasPolicy

if TYPE_CHECKING:
    from sandbox.perp.market import PerpRunMarket

    from .context import AgentContext

MARGIN_BLOCKS = 5  # margin deposited: this many blocks' capital
TRADE_GAS_USED = 200_000  # what a trade costs without a funding settlement (measured ~120k)
IM_HEADROOM_BPS = 9_000  # a growing trade keeps the initial margin within 90% of equity


def _perp(ctx: "AgentContext") -> "PerpRunMarket":
    """The run's market handle: a perpetual market's (this agent kind runs only there)."""
    return ctx.market  # type: ignore[return-value]


def base_at_price(k: int, price_wad: int) -> int:
    """The venue's base reserve at which its price (quote / base) is ``price_wad``."""
    return math.isqrt(k * WAD // price_wad)


class PerpArbitrageur(ArbitrageurAgent):
    """Trades the perp venue toward the index, bounded per block and by its margin."""

    def __init__(self, account: Account, rng: np.random.Generator, spec: ArbitrageurSpec | None = None,
                 gas: GasPolicy | None = None):
        super().__init__(account, rng, spec, gas)
        self.trades: list[dict] = []

    def setup(self, ctx: "AgentContext") -> list:
        """Deposit ``MARGIN_BLOCKS`` × capital as margin."""
        perp = _perp(ctx).perp
        margin = self.capital_wad * MARGIN_BLOCKS
        return [*fund_requests(perp, self.account, margin), deposit_tx(perp, self.account, margin)]

    def after_setup(self, ctx: "AgentContext") -> list:
        """The traders have opened: trade what is left of the premium back to the index."""
        market = _perp(ctx)
        s = market.state()
        delta = self.delta(market.venue_k, s.base_reserve, s.index_price)
        if delta == 0:
            return []
        return [trade_tx(market.perp, self.account, delta, s.index_price)]

    def delta(self, k: int, base: int, index_wad: int) -> int:
        """Base to buy (> 0) or sell that takes the venue to ``index_wad``."""
        return base - base_at_price(k, index_wad)

    def step(self, view: BlockView, ctx: "AgentContext") -> None:
        if not self.spec.enabled or any(p.sender == self.account.address for p in ctx.mempool.pending()):
            return
        market = _perp(ctx)
        state: Any = view.market  # the perp market's PerpState
        index = state.index_price
        base, quote = view.amm_reserves
        traded = quote * WAD // base
        if abs(traded - index) * BPS < self.spec.min_edge_bps * index:
            return
        delta = self.delta(market.venue_k, base, index)
        cap = self.capital_wad * WAD // index  # the notional bound, in base
        if abs(delta) > cap:
            delta = cap if delta > 0 else -cap
        margin, size, on, _ = market.perp.raw(self.account.address)
        if delta != 0 and (size == 0 or (size > 0) == (delta > 0)):  # the trade grows the position
            equity = margin + pm.unrealised_pnl(size, on, state.mark_price)  # funding due aside
            room = equity * IM_HEADROOM_BPS // BPS
            most = max(0, room * WAD // max(1, state.imf) * WAD // index) - abs(size)
            if most <= 0:
                return
            if abs(delta) > most:
                delta = most if delta > 0 else -most
        if delta == 0:
            return
        venue = pm.VenueState(base, quote, market.venue_k)
        _, amount = venue.after(delta)
        gain = abs(delta) * index // WAD - amount if delta > 0 else amount - abs(delta) * index // WAD
        if gain <= view.gas_cost_usd_wad(TRADE_GAS_USED, self.tip_wei):
            return
        ctx.submit(self, trade_tx(market.perp, self.account, delta, index), tag="arbitrage", tip_wei=self.tip_wei,
                   meta={"action": "arbitrage", "size": delta, "price_limit": index, "expected_gain": gain})
        self.trades.append({"block": view.number, "size": delta, "quote": amount, "index": index})


__all__ = ["PerpArbitrageur", "base_at_price"]
