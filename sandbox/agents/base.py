"""What an agent is: it observes a block view, submits signed transactions, and keeps a ledger.

Every block, agents see the chain as of the previous block plus the public mempool (a
``BlockView``) and act through an ``AgentContext``: public transactions, replacements (gas
auctions) and private bundles. Each agent owns a seeded random generator; nothing is global.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Sequence

import numpy as np

from sandbox.chain import Account, Receipt, SignedTx
from sandbox.chain.mempool import PRICE_BUMP_DEN, PRICE_BUMP_NUM, PendingTx
from sandbox.market import MarketView, PositionView
from sandbox.mechanisms import Opportunity
from sandbox.units import GWEI, WAD

if TYPE_CHECKING:
    from sandbox.chain.builder import ProducedBlock
    from sandbox.scenarios import Scenario

    from .context import AgentContext
    from .kinds import RunSetup


@dataclass(frozen=True)
class GasPolicy:
    """How an agent prices its transactions (EIP-1559).

    ``tip_gwei`` is the priority fee; the max fee is ``max_fee_multiplier`` × base fee + tip,
    never more than ``max_fee_cap_gwei`` (0 = no cap). A time-critical transaction still
    pending after ``reprice_after_blocks`` blocks, or priced out by the base fee, is re-sent
    with both fee caps raised by at least 12.5% (the mempool's replacement rule), as Maker's
    auction keeper does, up to the cap (``Agent.reprice_stuck``).
    """

    tip_gwei: float = 1.0
    max_fee_multiplier: float = 2.0
    max_fee_cap_gwei: float = 0.0
    reprice_after_blocks: int = 3

    def __post_init__(self):
        if self.reprice_after_blocks < 1:
            raise ValueError(f"reprice_after_blocks must be >= 1, got {self.reprice_after_blocks}")
        if self.tip_gwei < 0:
            raise ValueError(f"tip_gwei must be >= 0, got {self.tip_gwei}")
        if self.max_fee_multiplier < 1:
            raise ValueError(f"max_fee_multiplier must be >= 1, got {self.max_fee_multiplier}")
        if self.max_fee_cap_gwei < 0:
            raise ValueError(f"max_fee_cap_gwei must be >= 0, got {self.max_fee_cap_gwei}")

    def fees(self, base_fee: int, tip_wei: int | None = None) -> tuple[int, int]:
        """(max_fee_per_gas, max_priority_fee_per_gas) in wei for the next block."""
        tip = int(self.tip_gwei * GWEI) if tip_wei is None else tip_wei
        max_fee = int(base_fee * self.max_fee_multiplier) + tip
        if self.max_fee_cap_gwei:
            max_fee = min(max_fee, int(self.max_fee_cap_gwei * GWEI))
        return max_fee, min(tip, max_fee)

    def replacement_fees(self, base_fee: int, old_max_fee: int, old_tip: int,
                         tip_wei: int | None = None) -> tuple[int, int] | None:
        """(max fee, tip) for a replacement of a transaction sent at (``old_max_fee``,
        ``old_tip``): each at least 112.5% of the old one, the max fee covering ``base_fee`` ×
        multiplier + tip; None when the cap does not leave room for the bump."""
        tip = max(bump_fee(old_tip), int(self.tip_gwei * GWEI) if tip_wei is None else tip_wei)
        max_fee = max(bump_fee(old_max_fee), int(base_fee * self.max_fee_multiplier) + tip)
        if self.max_fee_cap_gwei:
            max_fee = min(max_fee, int(self.max_fee_cap_gwei * GWEI))
        tip = min(tip, max_fee)
        if max_fee < bump_fee(old_max_fee) or tip < bump_fee(old_tip):
            return None
        return max_fee, tip


def bump_fee(value: int) -> int:
    """The smallest fee a replacement may carry: 112.5% of ``value``, rounded up."""
    return -(-value * PRICE_BUMP_NUM // PRICE_BUMP_DEN)


@dataclass(frozen=True)
class BlockView:
    """What every agent sees before block ``number`` is built.

    Chain state is as of the previous block (read once per block, in batched calls); the
    reference price is the off-chain market price this block; ``pending`` is the public
    mempool at the moment the agent looks.
    """

    number: int
    timestamp: int
    reference_price_wad: int
    base_fee: int
    market: MarketView
    positions: tuple[PositionView, ...]
    opportunities: tuple[Opportunity, ...]
    amm_reserves: tuple[int, int]  # (WETH, USD)
    oracle_submitted_price_wad: int  # newest submitted answer (keepers can peek, as with OSM)
    oracle_submitted_at: int
    pending: tuple[PendingTx, ...] = ()
    elapsed_seconds: int = 0  # since the run's first block began (scenario time)

    @property
    def oracle_price_wad(self) -> int:
        """The price in force on-chain (what the market uses)."""
        return self.market.price

    def position_of(self, owner: str) -> PositionView | None:
        """``owner``'s position (any letter case; the first listed), None when not listed. The
        index is built once per view, so a thousand borrowers look themselves up in O(1)."""
        index = self.__dict__.get("_by_owner")
        if index is None:
            index = {}
            for p in self.positions:
                index.setdefault(p.owner.lower(), p)
            object.__setattr__(self, "_by_owner", index)  # a cache, not a field
        return index.get(owner.lower())

    def gas_cost_usd_wad(self, gas: int, tip_wei: int) -> int:
        """USD (WAD) cost of ``gas`` at the next base fee plus ``tip_wei``, ETH at the reference price."""
        return gas * (self.base_fee + tip_wei) * self.reference_price_wad // WAD


@dataclass
class Ledger:
    """An agent's P&L in USD (WAD), gas included; filled from its own receipts and balances."""

    gas_spent_wei: int = 0
    gas_spent_usd: int = 0  # at the reference price of the block that paid it
    priority_fees_usd: int = 0
    builder_payments_usd: int = 0  # ether sent to block builders for bundles (their bids)
    txs_sent: int = 0
    txs_reverted: int = 0
    start_usd: int = 0
    start_weth: int = 0
    end_usd: int = 0
    end_weth: int = 0
    end_price_wad: int = 0

    def record_receipt(self, receipt: Receipt, price_wad: int, builder_payment_wei: int = 0) -> None:
        self.txs_sent += 1
        self.txs_reverted += 0 if receipt.succeeded else 1
        self.gas_spent_wei += receipt.fee_paid_wei
        self.gas_spent_usd += receipt.fee_paid_wei * price_wad // WAD
        self.priority_fees_usd += receipt.priority_fee_paid_wei * price_wad // WAD
        self.builder_payments_usd += builder_payment_wei * price_wad // WAD

    @property
    def token_pnl_usd(self) -> int:
        """Change in USD plus change in WETH marked at the final reference price."""
        weth_delta = self.end_weth - self.start_weth
        return (self.end_usd - self.start_usd) + weth_delta * self.end_price_wad // WAD

    @property
    def pnl_usd(self) -> int:
        return self.token_pnl_usd - self.gas_spent_usd - self.builder_payments_usd


class Agent:
    """Base of borrowers, the oracle updater, the arbitrageur and keepers.

    Subclasses override any of the hooks; the defaults do nothing.
    """

    kind: ClassVar[str] = "agent"
    #: whether the agent owns a position the run follows (the market's owners); such an agent
    #: has ``collateral_wei`` and ``debt_wei``, what it opened its position with (WAD)
    holds_position: ClassVar[bool] = False
    collateral_wei: int
    debt_wei: int

    def __init__(self, account: Account, rng: np.random.Generator, gas: GasPolicy | None = None):
        self.account = account
        self.rng = rng
        self.gas = gas or GasPolicy()
        self.ledger = Ledger()

    @property
    def label(self) -> str:
        return self.account.label

    @property
    def strategy(self) -> str:
        """Name used in results tables (keepers: their strategy; others: their kind)."""
        return self.kind

    # --- a kind of agent a market asks for (``sandbox.agents.kinds``) -----------------------
    @classmethod
    def labels(cls, scenario: "Scenario") -> list[str]:
        """The account labels this kind's agents use in a run of ``scenario``."""
        return []

    @classmethod
    def populate(cls, run: "RunSetup") -> list["Agent"]:
        """This kind's agents for one run, on the accounts named by ``labels``."""
        return []

    def setup(self, ctx: "AgentContext") -> list:
        """Set-up transactions (funding by the deployer, approvals) run before block 1."""
        return []

    def after_setup(self, ctx: "AgentContext") -> list | None:
        """More set-up transactions, once everyone's set-up has run (e.g. a keeper contract's
        approvals of the mechanism)."""
        return []

    def step(self, view: BlockView, ctx: "AgentContext") -> None:
        """Phase 1 of a block: look at the view and submit transactions."""

    def react(self, view: BlockView, ctx: "AgentContext") -> None:
        """Phase 2: the public mempool now holds phase-1 submissions (front-/back-run, re-bid)."""

    def private_bid(self, view: BlockView, ctx: "AgentContext", lot: "OrderFlowLot") -> "PrivateBid | None":
        """A sealed bid for ``lot``: the right to liquidate first once its oracle round is in
        force (order-flow auction; simulate ``lot.txs`` first to see what it opens)."""
        return None

    # --- stuck transactions ----------------------------------------------------------------
    #: whether this agent's transactions are time-critical (re-priced when stuck)
    reprices_stuck: ClassVar[bool] = False

    def is_stuck(self, view: BlockView, pending: PendingTx) -> bool:
        """Priced out by the base fee, or passed over for ``reprice_after_blocks`` blocks."""
        waited = view.number - pending.seen_block - 1  # blocks it could have landed in
        return pending.tx.max_fee_per_gas < view.base_fee or waited >= self.gas.reprice_after_blocks

    def own_pending(self, ctx: "AgentContext") -> list[PendingTx]:
        """This agent's public pending transactions, in nonce order."""
        me = self.account.address
        return sorted((p for p in ctx.mempool.pending() if p.sender == me), key=lambda p: p.nonce)

    def reprice_stuck(self, view: BlockView, ctx: "AgentContext") -> list[PendingTx]:
        """Re-send each stuck public transaction (``is_stuck``) with fees raised by the
        replacement rule (``GasPolicy.replacement_fees``); ``reprice`` decides what to send.
        Does nothing for agents whose transactions are not time-critical."""
        if not self.reprices_stuck:
            return []
        out = []
        for pending in self.own_pending(ctx):
            if not self.is_stuck(view, pending):
                continue
            fees = self.gas.replacement_fees(view.base_fee, pending.tx.max_fee_per_gas,
                                             pending.tx.max_priority_fee_per_gas)
            if fees is None:
                continue  # the gas policy's cap leaves no room: it stays stuck
            new = self.reprice(view, ctx, pending, *fees)
            if new is not None:
                out.append(new)
        return out

    def reprice(self, view: BlockView, ctx: "AgentContext", pending: PendingTx, max_fee_wei: int,
                tip_wei: int) -> PendingTx | None:
        """The replacement of stuck ``pending`` at these fees (default: the same call)."""
        return ctx.replace(self, pending, tip_wei, max_fee_wei)

    def on_block(self, produced: "ProducedBlock", ctx: "AgentContext") -> None:
        """After the block: record own receipts in the ledger."""
        for _pending, receipt in produced.by_agent(self.label):
            self.ledger.record_receipt(receipt, ctx.reference_price_wad, produced.builder_payment_wei(receipt))

    # --- settling (the price held at its last value) -----------------------------------------
    def would_take(self, view: BlockView, ctx: "AgentContext",
                   prospects: Sequence[Opportunity]) -> list[Opportunity]:
        """The mechanism's ``prospects`` (actions as they stand at their best for a caller before
        the settle phase's cap) that this agent's own rule would send; the settle phase goes on
        while any agent would take one. None by default."""
        return []

    def still_active(self, view: BlockView, ctx: "AgentContext") -> bool:
        """Whether this agent may still send, by its own rule and with the price held, something
        that changes a position, the oracle or a venue (a defence, an update, a trade), or has
        such a transaction in flight. False by default."""
        return False


@dataclass(frozen=True)
class OrderFlowLot:
    """What an order-flow auction sells: the right to liquidate first in the block where
    oracle round ``round_id`` (at ``price_wad``) comes into force. ``txs`` run before that in
    the same bundle: the update itself when the round is in force as soon as it lands, nothing
    when an OSM-style delay brings it into force by the passing of time."""

    round_id: int
    price_wad: int
    txs: tuple[SignedTx, ...] = ()


@dataclass(frozen=True)
class PrivateBid:
    """A keeper's sealed bid: what it pays the protocol and the liquidation calls it will send."""

    bidder: "Agent"
    bid_usd_wad: int
    calls: tuple = field(default_factory=tuple)  # sandbox.mechanisms.Call, in order
