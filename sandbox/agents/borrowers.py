"""Borrowers: the population drawn from the run's seed, and the agents that defend their positions.

``draw_population`` (``sandbox.scenarios.population``, where the scenario's dust check uses it
too) turns a ``BorrowerSpec`` into integer (collateral, debt) pairs: collateral
sizes are lognormal (median ``collateral_weth_median``, log-stdev ``collateral_weth_sigma``),
target loan-to-value uniform in [``ltv_min_bps``, ``ltv_max_bps``] and never above the market's
max LTV. A ``Borrower`` opens its position at set-up with a reserve (one top-up's worth of WETH
and one repayment's worth of USD) and, while its health factor is below
``react_below_health_factor``, reacts with probability ``reaction_probability`` per block by
depositing ``top_up_fraction`` of its collateral or repaying as much of its debt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sandbox.chain import Account
from sandbox.market.actions import fund_requests, open_position_requests
from sandbox.scenarios.population import MICRO_WAD, draw_population
from sandbox.scenarios.schema import BorrowerSpec
from sandbox.units import to_wad

from .base import Agent, BlockView, GasPolicy

if TYPE_CHECKING:
    from sandbox.chain.builder import ProducedBlock
    from sandbox.scenarios import Scenario

    from .context import AgentContext
    from .kinds import RunSetup

# deposit/repay run the mechanism's position hook (soft: re-spreading over bands, ~700k gas)
REACTION_GAS = 1_000_000


class Borrower(Agent):
    """One position's owner; defends it (top-up or repay) when its health factor gets low."""

    kind = "borrower"
    holds_position = True

    def __init__(self, account: Account, rng: np.random.Generator, collateral_wei: int, debt_wei: int,
                 spec: BorrowerSpec | None = None, gas: GasPolicy | None = None):
        super().__init__(account, rng, gas)
        self.spec = spec or BorrowerSpec()
        self.collateral_wei = int(collateral_wei)
        self.debt_wei = int(debt_wei)
        frac_ppm = int(round(self.spec.top_up_fraction * 1_000_000))
        self.top_up_wei = self.collateral_wei * frac_ppm // 1_000_000
        self.repay_wei = self.debt_wei * frac_ppm // 1_000_000
        # what is left of the set-up reserve (a reverted reaction gives it back)
        self.reserve_weth = 0
        self.reserve_usd = 0
        self.react_below_wad = int(round(self.spec.react_below_health_factor * 1e6)) * MICRO_WAD
        self.reactions: list[tuple[int, str, int]] = []  # (block, "top-up" | "repay", amount)

    @classmethod
    def labels(cls, scenario: "Scenario") -> list[str]:
        return [f"borrower-{i}" for i in range(scenario.borrowers.count)]

    @classmethod
    def populate(cls, run: "RunSetup") -> list[Agent]:
        """``[borrowers] count`` position owners drawn by ``draw_population`` from the run's
        population generator; the market lends enough for all of them (``ensure_liquidity``)."""
        sc = run.scenario
        population = draw_population(sc.borrowers, run.population_rng, run.start_price_wad,
                                     sc.lending.max_ltv_bps, to_wad(sc.lending.min_borrow_usd))
        run.market.ensure_liquidity(sum(debt for _, debt in population))
        return [cls(run.chain.account(label), run.rng_for(label), collateral, debt, sc.borrowers)
                for label, (collateral, debt) in zip(cls.labels(sc), population, strict=True)]

    def setup(self, ctx: "AgentContext") -> list:
        """Open the position and mint the reserve: top_up_fraction × collateral in WETH and
        × debt in USD (the market approvals come with the opening)."""
        market = ctx.market
        self.reserve_weth, self.reserve_usd = self.top_up_wei, self.repay_wei
        return (open_position_requests(market, self.account, self.collateral_wei, self.debt_wei)
                + fund_requests(market, self.account, usd_wei=self.reserve_usd, weth_wei=self.reserve_weth))

    def position(self, view: BlockView):
        return view.position_of(self.account.address)

    def _has_pending(self, ctx: "AgentContext") -> bool:
        me = self.account.address
        return any(p.sender == me for p in ctx.mempool.pending()) or any(
            p.sender == me for b in ctx.mempool.bundles() for p in b.txs)

    def step(self, view: BlockView, ctx: "AgentContext") -> None:
        pos = self.position(view)
        if pos is None or pos.debt == 0 or pos.locked:
            return
        if pos.health_factor_wad >= self.react_below_wad:
            return
        if self._has_pending(ctx):
            return
        if not self.rng.random() < self.spec.reaction_probability:
            return
        options = []
        if self.reserve_weth > 0 and self.top_up_wei > 0:
            options.append("top-up")
        if self.reserve_usd > 0 and self.repay_wei > 0:
            options.append("repay")
        if not options:
            return
        # the choice is always drawn, so the generator's stream does not depend on the reserve
        pick = int(self.rng.integers(2))
        action = options[pick % len(options)] if len(options) == 2 else options[0]
        lending = ctx.market.lending
        if action == "top-up":
            amount = min(self.top_up_wei, self.reserve_weth)
            self.reserve_weth -= amount
            request = lending.tx(self.account, "deposit", amount, gas=REACTION_GAS)
        else:
            amount = min(self.repay_wei, self.reserve_usd, pos.debt)
            self.reserve_usd -= amount
            request = lending.tx(self.account, "repay", amount, gas=REACTION_GAS)
        ctx.submit(self, request, tag="borrower", meta={"action": action, "amount": amount,
                                                        "owner": self.account.address})
        self.reactions.append((view.number, action, amount))

    def still_active(self, view: BlockView, ctx: "AgentContext") -> bool:
        """A reaction in flight, or its open, unlocked position below ``react_below_health_factor``
        with a reserve left to defend it (``step`` may react in any later block)."""
        if self._has_pending(ctx):
            return True
        pos = self.position(view)
        if pos is None or pos.debt == 0 or pos.locked or pos.health_factor_wad >= self.react_below_wad:
            return False
        return (self.reserve_weth > 0 and self.top_up_wei > 0) or (self.reserve_usd > 0 and self.repay_wei > 0)

    def on_block(self, produced: "ProducedBlock", ctx: "AgentContext") -> None:
        for pending, receipt in produced.by_agent(self.label):
            self.ledger.record_receipt(receipt, ctx.reference_price_wad, produced.builder_payment_wei(receipt))
            if pending.tag == "borrower" and not receipt.succeeded:
                amount = pending.meta.get("amount", 0)
                if pending.meta.get("action") == "top-up":
                    self.reserve_weth += amount
                else:
                    self.reserve_usd += amount
