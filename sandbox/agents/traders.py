"""Traders of the perpetual market: the population drawn from the run's seed, and the agents that
hold the positions (and may defend them by adding margin).

``draw_traders`` turns a ``TraderSpec`` into integer (margin, size) pairs: margins lognormal
(median ``margin_usd_median``, log-stdev ``margin_usd_sigma``), leverage uniform in
[``leverage_min``, ``leverage_max``], long with probability ``long_share``; size = margin ×
leverage / price. They are drawn in that order (margins, leverages, sides), so the table depends
only on the spec and the generator. Each trader opens at set-up, one after the other, on the
venue (an x·y = k virtual AMM whose price every fill moves): ``open_sizes`` replays those fills
exactly (``sandbox.perp.math.VenueState``) and trims a size until the account meets initial
margin at the mark after its own fill (as the contract requires, so no opening reverts) and at
the index; after each opening the perp arbitrageur trades the venue back to the index (a market
maker absorbing the traders' net demand), so every trader opens at the index plus its own
slippage, whatever the order.

A ``Trader`` whose health (equity / maintenance margin at the mark, the market's own number) is
below ``add_margin_below_health`` may, with ``add_margin_probability`` per block, deposit
``add_margin_fraction`` of its initial margin from a reserve of one such top-up minted at set-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from sandbox.chain import Account
from sandbox.perp import math as pm
from sandbox.perp.actions import deposit_tx, fund_requests, trade_tx
from sandbox.perp.params import bps_wad
from sandbox.scenarios.schema import TraderSpec
from sandbox.units import WAD, to_wad

from .base import Agent, BlockView, GasPolicy

if TYPE_CHECKING:
    from sandbox.chain.builder import ProducedBlock
    from sandbox.perp.params import PerpParams
    from sandbox.scenarios import Scenario

    from .context import AgentContext
    from .kinds import RunSetup

DEPOSIT_GAS = 200_000
MICRO_WAD = 10**12  # margins drawn in floats are rounded to 1e-6 USD before scaling to WAD
SHRINK_STEPS = 200  # an opening that would miss initial margin is cut by 1% at a time, at most this often


def draw_traders(spec: TraderSpec, rng: np.random.Generator, start_price_wad: int) -> list[tuple[int, int, float]]:
    """``spec.count`` (margin_wei, size_wei, leverage) triples drawn from ``rng``; size signed
    (long > 0), |size| = margin × leverage / price rounded down."""
    if start_price_wad <= 0:
        raise ValueError(f"start_price_wad must be > 0, got {start_price_wad}")
    n = spec.count
    margins = rng.lognormal(mean=float(np.log(spec.margin_usd_median)), sigma=float(spec.margin_usd_sigma), size=n)
    leverages = rng.uniform(spec.leverage_min, spec.leverage_max, size=n)
    longs = rng.random(size=n) < spec.long_share
    out = []
    for m, lev, long in zip(margins, leverages, longs):
        margin = max(1, int(round(float(m) * 1e6))) * MICRO_WAD
        lev_ppm = int(round(float(lev) * 1e6))
        size = margin * lev_ppm // 1_000_000 * WAD // start_price_wad
        out.append((margin, size if long else -size, float(lev)))
    return out


def open_sizes(draws: list[tuple[int, int, float]], params: "PerpParams", venue: pm.VenueState,
               index_wad: int, imf_wad: int, repeg: bool = True,
               maker_room_wad: int | None = None) -> list[tuple[int, int]]:
    """(size, re-peg) of each draw, in order, on ``venue`` at ``index_wad``.

    The size is the drawn one, cut 1% at a time while the account would miss initial margin at
    the mark after its own fill or at the index (where the arbitrageur takes the venue back:
    the premium a fill paid is then lost). With ``repeg`` the arbitrageur trades the venue back
    to the index after every opening (the re-peg, in base: its own size change), as a market
    maker quoting around the index absorbs the traders' net demand, while its position's
    notional stays within ``maker_room_wad`` (its margin's reach); without it the venue drifts
    with the openings."""
    from .perp_arbitrageur import base_at_price

    weight, cap = bps_wad(params.mark_weight_bps), bps_wad(params.max_mark_premium_bps)
    index_mark = pm.mark_price(index_wad, index_wad, weight, cap)
    out = []
    maker = 0
    for margin, size, _ in draws:
        for _ in range(SHRINK_STEPS):
            if size == 0:
                break
            after, quote = venue.after(size)
            mark = pm.mark_price(index_wad, after.price, weight, cap)
            ok = all(margin + pm.unrealised_pnl(size, quote, m) >= pm.requirement(size, m, imf_wad)
                     for m in (mark, index_mark))
            if ok:
                break
            size = size * 99 // 100
        else:
            size = 0
        back = 0
        if size:
            venue = venue.after(size)[0]
            if repeg:
                back = venue.base - base_at_price(venue.k, index_wad)
                if back and (maker_room_wad is None or abs(maker + back) * index_wad // WAD <= maker_room_wad):
                    venue = venue.after(back)[0]
                    maker += back
                else:
                    back = 0
        out.append((size, back))
    return out


class Trader(Agent):
    """One margin account's owner: opens a leveraged long or short at set-up and may add margin
    when it gets close to liquidation."""

    kind = "trader"
    holds_position = True

    def __init__(self, account: Account, rng: np.random.Generator, margin_wei: int, size_wei: int,
                 leverage: float, spec: TraderSpec | None = None, gas: GasPolicy | None = None,
                 maker: Account | None = None, repeg_wei: int = 0):
        super().__init__(account, rng, gas)
        self.maker = maker  # the arbitrageur, who trades the venue back to the index after the opening
        self.repeg_wei = int(repeg_wei)
        self.spec = spec or TraderSpec()
        self.margin_wei = int(margin_wei)
        self.size_wei = int(size_wei)
        self.leverage = float(leverage)
        frac_ppm = int(round(self.spec.add_margin_fraction * 1_000_000))
        self.top_up_wei = self.margin_wei * frac_ppm // 1_000_000
        self.reserve_usd = 0
        self.below_wad = int(round(self.spec.add_margin_below_health * 1e6)) * MICRO_WAD
        self.reactions: list[tuple[int, str, int]] = []  # (block, "add-margin", amount)

    @classmethod
    def labels(cls, scenario: "Scenario") -> list[str]:
        return [f"trader-{i}" for i in range(scenario.traders.count)]

    @classmethod
    def populate(cls, run: "RunSetup") -> list[Agent]:
        """``[traders] count`` accounts drawn by ``draw_traders`` from the run's population
        generator, their sizes fitted to the venue by ``open_sizes`` (a trader whose margin cannot
        open anything holds margin only)."""
        from .perp_arbitrageur import IM_HEADROOM_BPS, MARGIN_BLOCKS

        sc = run.scenario
        market = run.market
        draws = draw_traders(sc.traders, run.population_rng, run.start_price_wad)
        state = market.state()
        venue = pm.VenueState(state.base_reserve, state.quote_reserve, market.venue_k)
        arb = sc.arbitrageur
        room = to_wad(arb.capital_usd_per_block) * MARGIN_BLOCKS * IM_HEADROOM_BPS // 10_000 * WAD // state.imf
        opened = open_sizes(draws, market.params, venue, state.index_price, state.imf, repeg=arb.enabled,
                            maker_room_wad=room)
        maker = run.chain.account("arbitrageur")
        return [cls(run.chain.account(label), run.rng_for(label), margin, size, lev, sc.traders,
                    maker=maker if back else None, repeg_wei=back)
                for label, (margin, _, lev), (size, back) in zip(cls.labels(sc), draws, opened)]

    def setup(self, ctx: "AgentContext") -> list:
        """Mint the margin and one top-up's reserve, deposit the margin, open the position; then
        the arbitrageur's re-peg of the venue (its margin is deposited before the traders')."""
        perp = ctx.market.perp  # type: ignore[attr-defined]  # a perpetual market's handle
        self.reserve_usd = self.top_up_wei
        requests = fund_requests(perp, self.account, self.margin_wei + self.reserve_usd)
        requests.append(deposit_tx(perp, self.account, self.margin_wei))
        if self.size_wei:
            requests.append(trade_tx(perp, self.account, self.size_wei))
        if self.maker is not None and self.repeg_wei:
            requests.append(trade_tx(perp, self.maker, self.repeg_wei))
        return requests

    def _has_pending(self, ctx: "AgentContext") -> bool:
        me = self.account.address
        return any(p.sender == me for p in ctx.mempool.pending()) or any(
            p.sender == me for b in ctx.mempool.bundles() for p in b.txs)

    def step(self, view: BlockView, ctx: "AgentContext") -> None:
        pos: Any = view.position_of(self.account.address)  # a PerpPositionView
        if pos is None or pos.size == 0 or pos.locked or pos.health_factor_wad >= self.below_wad:
            return
        if self._has_pending(ctx) or not self.rng.random() < self.spec.add_margin_probability:
            return
        amount = min(self.top_up_wei, self.reserve_usd)
        if amount <= 0:
            return
        self.reserve_usd -= amount
        ctx.submit(self, deposit_tx(ctx.market.perp, self.account, amount), tag="trader",  # type: ignore[attr-defined]
                   meta={"action": "add-margin", "amount": amount, "owner": self.account.address})
        self.reactions.append((view.number, "add-margin", amount))

    def still_active(self, view: BlockView, ctx: "AgentContext") -> bool:
        """A deposit in flight, or its open, unlocked account below its margin-call health with
        a reserve left (``step`` may add margin in any later block)."""
        if self._has_pending(ctx):
            return True
        pos: Any = view.position_of(self.account.address)
        if pos is None or pos.size == 0 or pos.locked or pos.health_factor_wad >= self.below_wad:
            return False
        return min(self.top_up_wei, self.reserve_usd) > 0

    def on_block(self, produced: "ProducedBlock", ctx: "AgentContext") -> None:
        for pending, receipt in produced.by_agent(self.label):
            self.ledger.record_receipt(receipt, ctx.reference_price_wad, produced.builder_payment_wei(receipt))
            if pending.tag == "trader" and not receipt.succeeded:
                self.reserve_usd += pending.meta.get("amount", 0)


__all__ = ["Trader", "draw_traders", "open_sizes"]
