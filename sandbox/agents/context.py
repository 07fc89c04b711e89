"""The agent-facing side of one run: observe the chain, submit, replace, bundle, simulate.

One ``AgentContext`` exists per run; it holds that run's chain, market, mechanism, mempool and
builder, so runs share nothing and can execute side by side in one process or many.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Hashable, Iterable, Iterator, Sequence

from sandbox.chain import Address, Chain, ChainError, SignedTx, TxRequest
from sandbox.chain.mempool import Bundle, Mempool, PendingTx
from sandbox.market import Market
from sandbox.mechanisms import LiquidationMechanism, Opportunity

from .base import BlockView

if TYPE_CHECKING:
    from .base import Agent


class AgentContext:
    def __init__(self, chain: Chain, market: Market, mechanism: LiquidationMechanism,
                 mempool: Mempool, owners: Sequence[Address], block_time_seconds: int = 12,
                 coinbase: Address | None = None):
        self.chain = chain
        self.market = market
        self.mechanism = mechanism
        self.mempool = mempool
        self.owners = tuple(owners)
        self.block_time_seconds = block_time_seconds
        self.coinbase = coinbase  # the block builder's address: bundles pay their bids to it
        self.agents: list["Agent"] = []  # every agent of the run (the order-flow auction asks them)
        self.block_number = chain.block_number + 1  # the block being built
        self.timestamp = chain.timestamp + block_time_seconds
        self.reference_price_wad = market.price()
        self.elapsed_seconds = 0
        self.view: BlockView | None = None
        # what-if results of this block: (head, time, tx hashes) -> (opportunities, error)
        self._what_ifs: dict[tuple, tuple[Opportunity, ...] | ChainError] = {}  # the list, or why none

    # --- time ----------------------------------------------------------------------------
    def begin_block(self, number: int, timestamp: int, reference_price_wad: int,
                    elapsed_seconds: int = 0) -> BlockView:
        """Start block ``number``; ``elapsed_seconds`` is its time since the run began."""
        self.block_number = number
        self.timestamp = timestamp
        self.reference_price_wad = reference_price_wad
        self.elapsed_seconds = elapsed_seconds
        self._what_ifs.clear()
        self.view = self.observe()
        return self.view

    # --- observing -------------------------------------------------------------------------
    def observe(self) -> BlockView:
        """Chain state as of the latest block, in a handful of batched calls (one round trip
        where the backend takes several reads at once)."""
        market = self.market
        market.prefetch_view()
        _, answer, updated_at = market.oracle.call("latestSubmitted")
        return BlockView(
            number=self.block_number,
            timestamp=self.timestamp,
            reference_price_wad=self.reference_price_wad,
            base_fee=self.chain.next_base_fee,
            market=market.state(),
            positions=tuple(market.positions(self.owners)),
            opportunities=tuple(self.mechanism.opportunities(self.owners)),
            amm_reserves=market.venue_reserves(),
            oracle_submitted_price_wad=int(answer),
            oracle_submitted_at=int(updated_at),
            pending=tuple(self.mempool.pending()),
            elapsed_seconds=self.elapsed_seconds,
        )

    def with_pending(self, view: BlockView) -> BlockView:
        """The same view with the public mempool as it is now (for phase-2 reactions)."""
        from dataclasses import replace

        return replace(view, pending=tuple(self.mempool.pending()))

    # --- submitting ------------------------------------------------------------------------
    def next_nonce(self, address: Address) -> int:
        """The sender's next nonce: on-chain nonce, or one past its highest pending one."""
        nonce = self.chain.nonce(address)
        for pending in self.mempool.pending():
            if pending.sender == address and pending.nonce >= nonce:
                nonce = pending.nonce + 1
        for bundle in self.mempool.bundles():
            for pending in bundle.txs:
                if pending.sender == address and pending.nonce >= nonce:
                    nonce = pending.nonce + 1
        return nonce

    def sign(self, agent: "Agent", request: TxRequest, tip_wei: int | None = None,
             nonce: int | None = None) -> SignedTx:
        """Sign with fees from the agent's gas policy at the next base fee (``tip_wei``
        overrides the policy's tip); the request's own fee fields are not used."""
        max_fee, tip = agent.gas.fees(self.chain.next_base_fee, tip_wei)
        fields = dict(request.__dict__, max_fee_per_gas=max_fee, max_priority_fee_per_gas=tip)
        fields["nonce"] = self.next_nonce(agent.account.address) if nonce is None else nonce
        return self.chain.sign(TxRequest(**fields))

    def submit(self, agent: "Agent", request: TxRequest, tag: str, tip_wei: int | None = None,
               meta: dict | None = None) -> PendingTx:
        """Send a transaction to the public mempool."""
        return self.mempool.submit(self.sign(agent, request, tip_wei), agent=agent.label, tag=tag,
                                   meta=meta)

    def replace(self, agent: "Agent", pending: PendingTx, tip_wei: int, max_fee_wei: int) -> PendingTx:
        """Re-send ``pending`` (same nonce) with higher fees: a gas-auction re-bid."""
        tx = pending.tx
        request = TxRequest(sender=agent.account, to=tx.to, data=tx.data, value=tx.value, gas=tx.gas,
                            max_fee_per_gas=max_fee_wei, max_priority_fee_per_gas=tip_wei,
                            nonce=tx.nonce)
        return self.mempool.submit(self.chain.sign(request), agent=agent.label, tag=pending.tag,
                                   meta=pending.meta)

    def submit_bundle(self, agent: "Agent", signed: Sequence[SignedTx], tag: str,
                      after: bytes | None = None, meta: dict | None = None,
                      labels: Sequence[tuple[str, str, dict]] | None = None,
                      targets: Iterable[Hashable] = (), may_revert: Iterable[bytes] = ()) -> Bundle:
        """Send transactions privately for the next block, placed at the top or right after
        the ``after`` hash; ``labels`` attributes each transaction to its own (agent, tag,
        meta); ``targets`` and ``may_revert`` as in ``Mempool.submit_bundle``."""
        return self.mempool.submit_bundle(list(signed), agent=agent.label, tag=tag, after=after,
                                          meta=meta, labels=labels, targets=targets,
                                          may_revert=may_revert)

    def sign_sequence(self, agent: "Agent", requests: Sequence[TxRequest],
                      tip_wei: int | None = None) -> list[SignedTx]:
        """Sign several requests of one agent with consecutive nonces (for a bundle)."""
        first = self.next_nonce(agent.account.address)
        return [self.sign(agent, r, tip_wei, nonce=first + i) for i, r in enumerate(requests)]

    # --- what-if -----------------------------------------------------------------------------
    @contextmanager
    def hypothetically(self, signed: Sequence[SignedTx]) -> Iterator[None]:
        """Execute ``signed`` in a scratch block at this block's time, then roll it back.

        Searchers simulate pending transactions before acting on them (e.g. a back-runner
        checks which positions a pending oracle update makes liquidatable).
        """
        snap = self.chain.snapshot()
        book = self.market.reads.book
        saved = (book.state() if book is not None else None, self.mechanism.follow_state())
        try:
            block = self.chain.execute_block(list(signed), timestamp=self.timestamp)
            self.mechanism.observe_block(block)
            if book is not None:
                book.apply_block(block)
            yield
        finally:
            self.chain.revert(snap)
            self.mechanism.restore_follow_state(saved[1])
            if book is not None:
                book.restore(saved[0])

    def what_if_opportunities(self, signed: Sequence[SignedTx]) -> list[Opportunity]:
        """The mechanism's opportunities on every owner once ``signed`` has run in a scratch
        block at this block's time (``hypothetically``). Simulated once per head, time and
        transactions and shared: each keeper asking gets exactly the list its own simulation
        would give (the same state, read the same way), and a ChainError (the transactions
        cannot run) is raised to each alike."""
        key = (self.chain.snapshot(), self.timestamp, tuple(tx.hash for tx in signed))
        entry = self._what_ifs.get(key)
        if entry is None:
            try:
                with self.hypothetically(signed):
                    entry = tuple(self.mechanism.opportunities(self.owners))
            except ChainError as exc:
                entry = exc
            self._what_ifs[key] = entry
        if isinstance(entry, ChainError):
            raise entry
        return list(entry)
