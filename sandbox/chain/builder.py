"""Block production: turn the mempool into an ordered, always-valid block.

A block is assembled in this order of claims on its space:

1. private bundles, in submission order, at the top of the block; a bundle that back-runs a
   transaction (``after``) is held back and placed right after its target when the target
   makes it into the block (at the top otherwise, when its senders are not in the block yet);
2. public transactions by policy: ``"priority-fee"`` (highest effective tip at this block's
   base fee first, ties broken by a seeded random permutation, each sender in nonce order,
   only a sender's next executable transaction competing, as in geth's price-and-nonce heap)
   or ``"fifo"`` (submission order, each sender in nonce order);
3. background demand (virtual gas, ``sandbox.chain.gasmarket``) paying ``tip_wei``: public
   transactions tipping strictly more get space first, then the background gas takes what it
   wants of the rest, then the remaining public transactions fill what is left.

A transaction is only taken when it is executable at its position (next nonce of its sender,
max fee >= base fee, balance covering gas * max fee + value, counting what the sender already
spends in the block) and fits the gas limit by its gas limit; everything else waits in the
pool. The result is checked once more against those rules before execution, so the chain
never sees an invalid transaction. Nothing here reads a clock or global state: the order is a
function of the chain, the pool and the builder's ``numpy`` generator.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .base import Chain
from .mempool import Bundle, Mempool, PendingTx
from .types import Address, BlockResult, Receipt

POLICIES = ("priority-fee", "fifo")


@dataclass(frozen=True)
class BackgroundDemand:
    """Other users' demand for block space: ``gas_per_block`` of virtual gas tipping ``tip_wei``."""

    gas_per_block: int
    tip_wei: int

    def __post_init__(self) -> None:
        for name in ("gas_per_block", "tip_wei"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


@dataclass(frozen=True)
class BuiltBlock:
    """The builder's choice for the next block: ordered transactions plus background gas."""

    txs: tuple[PendingTx, ...]
    background_gas: int
    base_fee: int
    gas_limit: int

    @property
    def signed(self) -> list:
        return [p.tx for p in self.txs]

    @property
    def gas(self) -> int:
        """Sum of the transactions' gas limits (what the block reserves for them)."""
        return sum(p.tx.gas for p in self.txs)


@dataclass(frozen=True)
class ProducedBlock:
    """An executed block; ``txs[i]`` is who sent ``result.receipts[i]`` and why."""

    result: BlockResult
    txs: tuple[PendingTx, ...]
    dropped: tuple[PendingTx, ...] = ()  # stale transactions the pool dropped afterwards

    @property
    def number(self) -> int:
        return self.result.number

    @property
    def receipts(self) -> tuple[Receipt, ...]:
        return self.result.receipts

    @property
    def background_gas(self) -> int:
        return self.result.background_gas

    def sent(self, receipt: Receipt | int) -> PendingTx:
        """The pending transaction behind a receipt (or a receipt index)."""
        return self.txs[receipt if isinstance(receipt, int) else receipt.index]

    def entries(self) -> list[tuple[PendingTx, Receipt]]:
        return list(zip(self.txs, self.result.receipts))

    def by_tag(self, tag: str) -> list[tuple[PendingTx, Receipt]]:
        return [(p, r) for p, r in self.entries() if p.tag == tag]

    def by_agent(self, agent: str) -> list[tuple[PendingTx, Receipt]]:
        return [(p, r) for p, r in self.entries() if p.agent == agent]


class _BlockState:
    """Per-sender nonce and spendable balance inside the block being built, and gas used."""

    def __init__(self, chain: Chain, base_fee: int):
        self.chain = chain
        self.base_fee = base_fee
        self.nonces: dict[Address, int] = {}
        self.spendable: dict[Address, int] = {}
        self.gas_used = 0

    def nonce(self, sender: Address) -> int:
        if sender not in self.nonces:
            self.nonces[sender] = self.chain.nonce(sender)
        return self.nonces[sender]

    def balance(self, sender: Address) -> int:
        if sender not in self.spendable:
            self.spendable[sender] = self.chain.balance(sender)
        return self.spendable[sender]

    def try_take(self, txs: Sequence[PendingTx], room: int) -> bool:
        """Take ``txs`` in order if all are executable and fit in ``room`` gas; else nothing."""
        nonces: dict[Address, int] = {}
        spend: dict[Address, int] = {}
        gas = 0
        for p in txs:
            tx = p.tx
            expected = nonces.get(tx.sender, self.nonce(tx.sender))
            left = spend.get(tx.sender, self.balance(tx.sender))
            cost = tx.gas * tx.max_fee_per_gas + tx.value
            gas += tx.gas
            if (tx.nonce != expected or tx.max_fee_per_gas < self.base_fee or left < cost
                    or self.gas_used + gas > room):
                return False
            nonces[tx.sender] = expected + 1
            spend[tx.sender] = left - cost
        self.nonces.update(nonces)
        self.spendable.update(spend)
        self.gas_used += gas
        return True


class BlockBuilder:
    """Orders the pool into blocks by ``policy``; ``rng`` breaks ties between equal tips."""

    def __init__(self, policy: str = "priority-fee", rng: np.random.Generator | int | None = None):
        if policy not in POLICIES:
            raise ValueError(f"unknown block-building policy {policy!r} (known: {', '.join(POLICIES)})")
        self.policy = policy
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng or 0)

    # --- building ------------------------------------------------------------------------
    def build(self, chain: Chain, mempool: Mempool,
              background: BackgroundDemand | None = None) -> BuiltBlock:
        base_fee = chain.next_base_fee
        limit = chain.gas_limit
        state = _BlockState(chain, base_fee)
        public = mempool.pending()
        bundles = mempool.bundles()

        # Targets a back-running bundle can follow: anything that may land in this block.
        candidates = {p.hash for p in public} | {h for b in bundles for h in b.hashes}
        top: list[Bundle] = []
        waiting: dict[bytes, list[Bundle]] = {}
        for b in bundles:
            if b.after is not None and b.after in candidates and b.after not in b.hashes:
                waiting.setdefault(b.after, []).append(b)
            else:
                top.append(b)

        head: list[PendingTx] = []  # top-of-block bundles
        body: list[PendingTx] = []  # everything placed after them, in order

        def attach(unit: Sequence[PendingTx], out: list[PendingTx], room: int) -> list[PendingTx]:
            """Place the bundles back-running anything in ``unit`` right after it; return them."""
            taken: list[PendingTx] = []
            for p in unit:
                for b in waiting.pop(p.hash, []):
                    if state.try_take(b.txs, room):
                        out.extend(b.txs)
                        taken.extend(b.txs)
                        taken.extend(attach(b.txs, out, room))
            return taken

        # 1. private bundles at the top
        for b in top:
            if state.try_take(b.txs, limit):
                head.extend(b.txs)
                attach(b.txs, head, limit)

        # 2-3. public transactions around the background demand
        queues = self._queues(public)
        key = self._key(public, base_fee)
        if background is not None and background.gas_per_block > 0:
            tip = background.tip_wei
            self._fill(queues, state, key, limit, body, attach,
                       eligible=lambda p: p.effective_tip(base_fee) > tip)
            background_gas = min(background.gas_per_block, limit - state.gas_used)
        else:
            background_gas = 0
        room = limit - background_gas
        self._fill(queues, state, key, room, body, attach, eligible=lambda p: True)

        # Back-running bundles whose target stayed out go to the top (after the other bundles),
        # provided their senders have nothing in the body (so the nonces checked are right).
        in_block = {p.sender for p in body}
        late: list[PendingTx] = []
        leftovers = sorted((b for bs in waiting.values() for b in bs), key=lambda b: b.seq)
        waiting.clear()
        for b in leftovers:
            if in_block.intersection(p.sender for p in b.txs):
                continue
            if state.try_take(b.txs, room):
                late.extend(b.txs)

        order = self._validated(chain, head + late + body, base_fee, room)
        return BuiltBlock(txs=tuple(order), background_gas=background_gas, base_fee=base_fee,
                          gas_limit=limit)

    def _queues(self, public: list[PendingTx]) -> dict[Address, dict[int, PendingTx]]:
        queues: dict[Address, dict[int, PendingTx]] = {}
        for p in public:
            queues.setdefault(p.sender, {})[p.nonce] = p
        return queues

    def _key(self, public: list[PendingTx], base_fee: int) -> Callable[[PendingTx], tuple]:
        if self.policy == "fifo":
            return lambda p: (p.seq,)
        permutation = self.rng.permutation(len(public))
        rank = {p.hash: int(r) for p, r in zip(public, permutation)}
        return lambda p: (-p.effective_tip(base_fee), rank[p.hash])

    def _fill(self, queues: dict[Address, dict[int, PendingTx]], state: _BlockState,
              key: Callable[[PendingTx], tuple], room: int, out: list[PendingTx],
              attach: Callable, eligible: Callable[[PendingTx], bool]) -> None:
        """Greedy heap over each sender's next transaction (geth's price-and-nonce order)."""
        heap: list[tuple[tuple, int, PendingTx]] = []
        queued: dict[Address, PendingTx] = {}  # each sender's entry in the heap

        def push(sender: Address) -> None:
            p = queues.get(sender, {}).get(state.nonce(sender))
            if p is not None and eligible(p) and queued.get(sender) is not p:
                queued[sender] = p
                heapq.heappush(heap, (key(p), p.seq, p))

        for sender in queues:
            push(sender)
        while heap:
            _, _, p = heapq.heappop(heap)
            if queued.get(p.sender) is not p:
                continue  # superseded entry
            del queued[p.sender]
            if p.nonce != state.nonce(p.sender):  # a bundle used this nonce meanwhile
                push(p.sender)
                continue
            if not state.try_take((p,), room):
                continue  # not executable or too big: the sender waits for the next block
            del queues[p.sender][p.nonce]
            out.append(p)
            for q in [p, *attach((p,), out, room)]:
                push(q.sender)

    @staticmethod
    def _validated(chain: Chain, order: list[PendingTx], base_fee: int, room: int) -> list[PendingTx]:
        """The execution rules once more, in final order; drop violators (bundles whole)."""
        order = list(order)
        while True:
            state = _BlockState(chain, base_fee)
            bad = next((p for p in order if not state.try_take((p,), room)), None)
            if bad is None:
                return order
            if bad.bundle is not None:
                order = [q for q in order if q.bundle != bad.bundle]
            else:
                order = [q for q in order if q is not bad]

    # --- producing -----------------------------------------------------------------------
    def produce(self, chain: Chain, mempool: Mempool, timestamp: int,
                background: BackgroundDemand | None = None,
                coinbase: Address | None = None) -> ProducedBlock:
        """Build, execute, and clear the pool of what landed and what went stale."""
        built = self.build(chain, mempool, background)
        result = chain.execute_block(built.signed, timestamp, coinbase=coinbase,
                                     background_gas=built.background_gas)
        mempool.remove_included(p.hash for p in built.txs)
        dropped = mempool.drop_stale(chain)
        return ProducedBlock(result=result, txs=built.txs, dropped=tuple(dropped))

