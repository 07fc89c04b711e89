"""The arbitrageur: keeps the AMM (and any venue the mechanism quotes, soft liquidation's bands)
at the reference price.

Each block it compares the AMM's spot price (``view.amm_reserves``) with the reference price and,
when they differ by more than ``min_edge_bps``, swaps toward the reference with the exact input
that brings the pool's spot price to it (closed form below), capped at ``capital_usd_per_block``
(so a large dump of seized collateral takes several blocks to absorb) and at its inventory.
When that full trade would not pay for itself after gas, it falls back to the profit-maximising
size (pool pushed only to the reference price net of the fee); when neither pays, it waits.
Every swap carries a ``minAmountOut`` floor: the quoted output less ``slippage_bps`` and never
below break-even at the reference price. One trade is in flight at a time; when it is stuck
(priced out by the base fee, or passed over for ``GasPolicy.reprice_after_blocks`` blocks) it
is replaced, at fees raised by the replacement rule, by a trade sized on the state seen now
(the old one's size and floor are stale), or cancelled by a self-transfer when no trade on its
venue pays any more: a stuck arbitrage must never freeze the pool.

Closed form (this AMM keeps the whole input, fee included, in its reserves; γ = 1 − fee):
buying WETH with USD amount x from reserves (r0 WETH, r1 USD): out = γx·r0/(r1 + γx), so
r0' = r0·r1/(r1 + γx) and the new spot (r1 + x)/r0' = p gives
    γx² + r1(1 + γ)x + r1² − p·r0·r1 = 0.
Selling y WETH: (r0 + y)(r0 + γy) = r0·r1/p, i.e. γy² + r0(1 + γ)y + r0² − r0·r1/p = 0.
Both are solved in integers (γ = (10000 − fee_bps)/10000, ``math.isqrt``), rounded down.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import numpy as np
from eth_abi import decode as abi_decode

from sandbox.chain import Account, TxRequest
from sandbox.chain.mempool import PendingTx
from sandbox.market.actions import fund_requests
from sandbox.market.math import amm_amount_out
from sandbox.scenarios.schema import ArbitrageurSpec
from sandbox.units import BPS, GWEI, WAD, to_wad

from .base import Agent, BlockView, GasPolicy

if TYPE_CHECKING:
    from sandbox.chain.builder import ProducedBlock
    from sandbox.scenarios import Scenario

    from .context import AgentContext
    from .kinds import RunSetup

SWAP_GAS = 200_000  # gas limit of a swapExactIn
SWAP_GAS_USED = 90_000  # what one costs (measured ~75k), for the profitability check
INVENTORY_BLOCKS = 5  # set-up inventory: this many blocks' capital in USD and as much in WETH


def amm_input_to_price(r0: int, r1: int, price_wad: int, fee_bps: int) -> tuple[bool, int]:
    """(buy_weth, amount_in) moving a pool (r0 WETH, r1 USD) to spot ``price_wad``.

    ``buy_weth`` True: pay ``amount_in`` USD for WETH (the pool is below the price); False: sell
    ``amount_in`` WETH. Zero when the pool is already at the price.
    """
    g = BPS - fee_bps
    if r0 == 0 or r1 == 0 or price_wad <= 0:
        return True, 0
    spot_below = r1 * WAD < price_wad * r0
    if spot_below:
        b = r1 * (BPS + g)
        c = BPS * (r1 * r1 - price_wad * r0 * r1 // WAD)
    else:
        b = r0 * (BPS + g)
        c = BPS * (r0 * r0 - r0 * r1 * WAD // price_wad)
    if c >= 0:
        return spot_below, 0
    root = math.isqrt(b * b - 4 * g * c)
    return spot_below, max(0, (root - b) // (2 * g))


def spot_price_wad(reserves: tuple[int, int]) -> int:
    r0, r1 = reserves
    return r1 * WAD // r0 if r0 else 0


class ArbitrageurAgent(Agent):
    """What every market's arbitrageur shares: the ``[arbitrageur]`` spec (capital per block,
    tip), its one account, time-critical transactions, and the agent kind's hooks."""

    kind = "arbitrageur"
    reprices_stuck = True

    def __init__(self, account: Account, rng: np.random.Generator, spec: ArbitrageurSpec | None = None,
                 gas: GasPolicy | None = None):
        spec = spec or ArbitrageurSpec()
        super().__init__(account, rng, gas or GasPolicy(tip_gwei=spec.tip_gwei))
        self.spec = spec
        self.capital_wad = to_wad(spec.capital_usd_per_block)

    @classmethod
    def labels(cls, scenario: "Scenario") -> list[str]:
        return ["arbitrageur"]  # held even when disabled, so other accounts do not move

    @classmethod
    def populate(cls, run: "RunSetup") -> list[Agent]:
        """One arbitrageur when ``[arbitrageur] enabled``."""
        spec = run.scenario.arbitrageur
        return [cls(run.chain.account("arbitrageur"), run.rng_for("arbitrageur"), spec)] if spec.enabled else []

    @property
    def tip_wei(self) -> int:
        return int(self.gas.tip_gwei * GWEI)


class Arbitrageur(ArbitrageurAgent):
    """Trades the AMM (and soft-liquidation bands) toward the reference price, bounded per block."""

    def __init__(self, account: Account, rng: np.random.Generator, spec: ArbitrageurSpec | None = None,
                 gas: GasPolicy | None = None, slippage_bps: int = 50,
                 inventory_blocks: int = INVENTORY_BLOCKS):
        super().__init__(account, rng, spec, gas)
        self.slippage_bps = slippage_bps
        self.inventory_blocks = inventory_blocks
        self.inventory_usd = 0
        self.inventory_weth = 0
        self.trades: list[dict] = []  # what it sent: block, venue, direction, amount in, expected out
        self._slot: tuple[int, int, int] | None = None  # (nonce, max fee, tip) of a replacement

    # --- set-up --------------------------------------------------------------------------
    def setup(self, ctx: "AgentContext") -> list:
        """Inventory worth ``inventory_blocks`` × capital in USD and as much in WETH (at the
        start price); approvals to the AMM and, when the mechanism quotes trades
        (``offers_arbitrage``), to the mechanism."""
        if not self.spec.enabled:
            return []
        market = ctx.market
        price = ctx.reference_price_wad or market.price()
        self.inventory_usd = self.capital_wad * self.inventory_blocks
        self.inventory_weth = self.inventory_usd * WAD // price
        approve = [market.amm.address]
        if ctx.mechanism.offers_arbitrage:
            approve.append(ctx.mechanism.spender)
        return fund_requests(market, self.account, usd_wei=self.inventory_usd,
                             weth_wei=self.inventory_weth, approve=approve)

    # --- block ---------------------------------------------------------------------------
    def step(self, view: BlockView, ctx: "AgentContext") -> None:
        if not self.spec.enabled:
            return
        me = self.account.address
        if any(p.sender == me for p in ctx.mempool.pending()):
            return  # one trade in flight at a time
        budget = self.capital_wad
        budget -= self._trade_amm(view, ctx, budget)
        if ctx.mechanism.offers_arbitrage and budget > 0:
            self._trade_mechanism(view, ctx, budget)

    def _profit(self, buy: bool, amount_in: int, out: int, price: int) -> int:
        """USD (WAD) gained at the reference price, before gas."""
        return out * price // WAD - amount_in if buy else out - amount_in * price // WAD

    def _size_amm(self, view: BlockView, target: int, budget: int, fee_bps: int) -> tuple[bool, int, int]:
        r0, r1 = view.amm_reserves
        price = view.reference_price_wad
        buy, amount = amm_input_to_price(r0, r1, target, fee_bps)
        if buy:
            amount = min(amount, budget, self.inventory_usd)
            out = amm_amount_out(amount, r1, r0, fee_bps) if amount else 0
        else:
            amount = min(amount, budget * WAD // price, self.inventory_weth)
            out = amm_amount_out(amount, r0, r1, fee_bps) if amount else 0
        return buy, amount, out

    def _amm_order(self, view: BlockView, ctx: "AgentContext", budget: int) -> tuple[bool, int, int] | None:
        """(buy WETH, amount in, quoted out) of the AMM swap that pays now, None when none does."""
        r0, r1 = view.amm_reserves
        price = view.reference_price_wad
        if r0 == 0 or r1 == 0 or budget <= 0:
            return None
        spot = r1 * WAD // r0
        if abs(spot - price) * BPS <= self.spec.min_edge_bps * price:
            return None
        fee_bps = ctx.market.params.amm_fee_bps
        gas_usd = view.gas_cost_usd_wad(SWAP_GAS_USED, self.tip_wei)
        gamma_target = (price * (BPS - fee_bps) // BPS if spot < price
                        else price * BPS // (BPS - fee_bps))
        for target in (price, gamma_target):  # full correction first, profit-maximising size next
            buy, amount, out = self._size_amm(view, target, budget, fee_bps)
            if buy != (spot < price) or amount == 0 or out == 0:
                continue
            if self._profit(buy, amount, out, price) - gas_usd > 0:
                return buy, amount, out
        return None

    def _trade_amm(self, view: BlockView, ctx: "AgentContext", budget: int) -> int:
        """Submit the AMM swap, if any pays; returns the USD value of its input."""
        order = self._amm_order(view, ctx, budget)
        if order is None:
            return 0
        buy, amount, out = order
        price = view.reference_price_wad
        # floor: the quote less slippage, and never worse than break-even at the reference price
        breakeven = amount * WAD // price if buy else amount * price // WAD
        floor = max(out * (BPS - self.slippage_bps) // BPS, breakeven)
        market = ctx.market
        token_in = market.usd.address if buy else market.weth.address
        request = market.amm.tx(self.account, "swapExactIn", token_in, amount, floor, self.account.address,
                                gas=SWAP_GAS)
        self._submit(ctx, request, {"venue": "amm", "buy_weth": buy, "amount_in": amount, "expected_out": out})
        self.trades.append({"block": view.number, "venue": "amm", "buy_weth": buy, "amount_in": amount,
                            "expected_out": out, "min_out": floor})
        return amount if buy else amount * price // WAD

    def _mechanism_order(self, view: BlockView, ctx: "AgentContext", budget: int) -> tuple | None:
        """(call, buy WETH, amount in, quoted out) of the mechanism's trade toward the reference
        (its ``arbitrage_call``) when it pays after gas now; None otherwise."""
        price = view.reference_price_wad
        max_usd = min(budget, self.inventory_usd, self.inventory_weth * price // WAD)
        if max_usd <= 0:
            return None
        call = ctx.mechanism.arbitrage_call(price, max_usd, self.account.address)
        if call is None:
            return None
        buy, used, out, _ = abi_decode(["bool", "uint256", "uint256", "address"], call.data[4:])
        if buy and used > self.inventory_usd or not buy and used > self.inventory_weth:
            return None
        # the call's gas is a limit sized with margin; two thirds of it is a fair estimate
        gas_usd = view.gas_cost_usd_wad(call.gas * 2 // 3, self.tip_wei)
        if self._profit(buy, used, out, price) - gas_usd <= 0:
            return None
        return call, buy, used, out

    def _trade_mechanism(self, view: BlockView, ctx: "AgentContext", budget: int) -> None:
        """Trade what the mechanism quotes toward the reference (its ``arbitrage_call``: soft
        liquidation converts band collateral)."""
        order = self._mechanism_order(view, ctx, budget)
        if order is None:
            return
        call, buy, used, out = order
        self._submit(ctx, call.request(self.account),
                     {"venue": "mechanism", "action": call.action, "buy_weth": buy, "amount_in": used,
                      "expected_out": out, "mechanism": ctx.mechanism.name})
        self.trades.append({"block": view.number, "venue": "mechanism", "buy_weth": buy, "amount_in": used,
                            "expected_out": out, "min_out": out})

    def still_active(self, view: BlockView, ctx: "AgentContext") -> bool:
        """A trade in flight, or one that pays now on the AMM or the mechanism's venue: with the
        price held, an edge that does not pay now does not pay later."""
        if not self.spec.enabled:
            return False
        if any(p.sender == self.account.address for p in ctx.mempool.pending()):
            return True
        if self._amm_order(view, ctx, self.capital_wad) is not None:
            return True
        return ctx.mechanism.offers_arbitrage and self._mechanism_order(view, ctx, self.capital_wad) is not None

    # --- sending and re-pricing -------------------------------------------------------------
    def _submit(self, ctx: "AgentContext", request: TxRequest, meta: dict) -> PendingTx:
        """Send a trade: a new transaction, or the replacement ``reprice`` is making."""
        if self._slot is None:
            return ctx.submit(self, request, tag="arbitrage", tip_wei=self.tip_wei, meta=meta)
        nonce, max_fee, tip = self._slot
        self._slot = None
        signed = ctx.chain.sign(dataclasses.replace(request, nonce=nonce, max_fee_per_gas=max_fee,
                                                    max_priority_fee_per_gas=tip))
        return ctx.mempool.submit(signed, agent=self.label, tag="arbitrage", meta={**meta, "replaced": True})

    def reprice(self, view: BlockView, ctx: "AgentContext", pending: PendingTx, max_fee_wei: int,
                tip_wei: int) -> PendingTx | None:
        """Replace a stuck trade by one sized now on the same venue, or cancel it (a zero-value
        self-transfer) when no trade there pays any more."""
        self._slot = (pending.nonce, max_fee_wei, tip_wei)
        try:
            if pending.meta.get("venue") == "mechanism":
                self._trade_mechanism(view, ctx, self.capital_wad)
            else:
                self._trade_amm(view, ctx, self.capital_wad)
            if self._slot is None:
                return ctx.mempool.get(self.account.address, pending.nonce)
            cancel = TxRequest(sender=self.account, to=self.account.address, gas=21_000)
            return self._submit(ctx, cancel, {"venue": "cancel"})
        finally:
            self._slot = None

    def on_block(self, produced: "ProducedBlock", ctx: "AgentContext") -> None:
        """Ledger, and the inventory from the token transfers of its own transactions."""
        me = self.account.address.lower()
        weth, usd = ctx.market.weth.address.lower(), ctx.market.usd.address.lower()
        for _pending, receipt in produced.by_agent(self.label):
            self.ledger.record_receipt(receipt, ctx.reference_price_wad, produced.builder_payment_wei(receipt))
            for log in receipt.logs:
                if log.name != "Transfer" or log.address.lower() not in (weth, usd):
                    continue
                value = int(log.args["value"])
                delta = (value if log.args["to"].lower() == me else 0) - (
                    value if log.args["from"].lower() == me else 0)
                if log.address.lower() == weth:
                    self.inventory_weth += delta
                else:
                    self.inventory_usd += delta
