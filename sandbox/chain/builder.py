"""Block production: turn the mempool into an ordered, always-valid block.

A block is assembled in this order of claims on its space:

1. private bundles, sold in a sealed-bid auction as on Flashbots-style relays. A bundle's bid is
   what it pays the block's ``coinbase``: the value its transactions send to the coinbase (the
   searcher's payment) plus their priority fees (effective tip × gas limit). Bundles that
   conflict (a shared declared target, e.g. one position, or a shared sender and nonce) do not
   both land: the best bid wins (ties: earlier submission) and the losers are dropped from the
   pool without paying. Winners go at the top of the block, highest bid first; a bundle that
   back-runs a transaction (``after``) is placed right after its target when the target makes it
   into the block (highest bid first), at the top otherwise. After execution, a bundle with a
   reverted transaction it did not allow (``may_revert``) is removed and the block is built
   and executed again without it (revert protection): a failed bundle pays nothing;
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


def prefetch_accounts(chain: Chain, addresses: Sequence[Address]) -> None:
    """Read the nonces and balances of ``addresses`` in one go where the backend can (a node's
    round trips add up); nothing otherwise."""
    prefetch = getattr(chain, "prefetch_accounts", None)
    if prefetch is not None and addresses:
        prefetch(addresses)


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
    lost: tuple[Bundle, ...] = ()  # bundles outbid by a conflicting bundle (dropped, unpaid)

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
    lost_bundles: tuple[Bundle, ...] = ()  # outbid in the bundle auction: dropped, unpaid
    reverted_bundles: tuple[Bundle, ...] = ()  # would have reverted: dropped, unpaid
    expired_bundles: tuple[Bundle, ...] = ()  # their last block passed without them

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

    def builder_payment_wei(self, receipt: Receipt) -> int:
        """Ether a landed transaction sent straight to the block's coinbase (a bundle's bid)."""
        tx = self.txs[receipt.index].tx
        coinbase = self.result.coinbase.lower()
        return tx.value if receipt.succeeded and (tx.to or "").lower() == coinbase else 0

    def entries(self) -> list[tuple[PendingTx, Receipt]]:
        return list(zip(self.txs, self.result.receipts, strict=True))

    def by_tag(self, tag: str) -> list[tuple[PendingTx, Receipt]]:
        return [(p, r) for p, r in self.entries() if p.tag == tag]

    def by_agent(self, agent: str) -> list[tuple[PendingTx, Receipt]]:
        """The entries ``agent`` sent, in block order (an index built once per block: a
        thousand agents ask every block)."""
        index = self.__dict__.get("_by_agent")
        if index is None:
            index = {}
            for p, r in self.entries():
                index.setdefault(p.agent, []).append((p, r))
            object.__setattr__(self, "_by_agent", index)  # a cache, not a field
        return list(index.get(agent, ()))


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

    # --- the bundle auction ----------------------------------------------------------------
    @staticmethod
    def bundle_bid(bundle: Bundle, base_fee: int, coinbase: Address | None) -> int:
        """Wei ``bundle`` pays the coinbase if it lands: value sent to the coinbase plus
        priority fees (effective tip × gas limit, what the builder can count on up front)."""
        paid = sum(p.tx.value for p in bundle.txs
                   if coinbase is not None and (p.tx.to or "").lower() == coinbase.lower())
        return paid + sum(p.effective_tip(base_fee) * p.tx.gas for p in bundle.txs)

    def auction(self, bundles: Sequence[Bundle], base_fee: int,
                coinbase: Address | None) -> tuple[list[Bundle], list[Bundle]]:
        """(winners best bid first, losers): a bundle loses to a higher bid (ties: earlier
        submission) that shares one of its conflict keys."""
        ranked = sorted(bundles, key=lambda b: (-self.bundle_bid(b, base_fee, coinbase), b.seq))
        claimed: set = set()
        winners: list[Bundle] = []
        losers: list[Bundle] = []
        for b in ranked:
            keys = b.conflict_keys
            if claimed.intersection(keys):
                losers.append(b)
            else:
                claimed.update(keys)
                winners.append(b)
        return winners, losers

    # --- building ------------------------------------------------------------------------
    def build(self, chain: Chain, mempool: Mempool,
              background: BackgroundDemand | None = None, coinbase: Address | None = None,
              exclude: frozenset[int] = frozenset()) -> BuiltBlock:
        """The next block from the pool; bundles whose ``seq`` is in ``exclude`` are left out."""
        base_fee = chain.next_base_fee
        limit = chain.gas_limit
        state = _BlockState(chain, base_fee)
        public = mempool.pending()
        prefetch_accounts(chain, [p.sender for p in public] + [p.sender for b in mempool.bundles() for p in b.txs])
        bundles, lost = self.auction([b for b in mempool.bundles() if b.seq not in exclude],
                                     base_fee, coinbase)

        # Targets a back-running bundle can follow: anything that may land in this block.
        candidates = {p.hash for p in public} | {h for b in bundles for h in b.hashes}
        top: list[Bundle] = []
        waiting: dict[bytes, list[Bundle]] = {}
        for b in bundles:  # best bid first, so each list is too
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
        leftovers = [b for b in bundles if any(b in bs for bs in waiting.values())]  # best bid first
        waiting.clear()
        for b in leftovers:
            if in_block.intersection(p.sender for p in b.txs):
                continue
            if state.try_take(b.txs, room):
                late.extend(b.txs)

        order = self._validated(chain, head + late + body, base_fee, room)
        return BuiltBlock(txs=tuple(order), background_gas=background_gas, base_fee=base_fee,
                          gas_limit=limit, lost=tuple(lost))

    def _queues(self, public: list[PendingTx]) -> dict[Address, dict[int, PendingTx]]:
        queues: dict[Address, dict[int, PendingTx]] = {}
        for p in public:
            queues.setdefault(p.sender, {})[p.nonce] = p
        return queues

    def _key(self, public: list[PendingTx], base_fee: int) -> Callable[[PendingTx], tuple]:
        if self.policy == "fifo":
            return lambda p: (p.seq,)
        permutation = self.rng.permutation(len(public))
        rank = {p.hash: int(r) for p, r in zip(public, permutation, strict=True)}
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
        """Build and execute the next block with revert protection for bundles, then clear the
        pool of what landed, lost, reverted, expired or went stale."""
        by_seq = {b.seq: b for b in mempool.bundles()}
        excluded: set[int] = set()
        while True:
            built = self.build(chain, mempool, background, coinbase, frozenset(excluded))
            guarded = any(p.bundle is not None for p in built.txs)
            snap = chain.snapshot() if guarded else None
            result = chain.execute_block(built.signed, timestamp, coinbase=coinbase,
                                         background_gas=built.background_gas)
            failed = {p.bundle for p, r in zip(built.txs, result.receipts, strict=True)
                      if p.bundle is not None and not r.succeeded
                      and p.hash not in by_seq[p.bundle].may_revert}
            if not failed:
                break
            chain.revert(snap)  # a reverting bundle is dropped, and the block built again
            excluded |= failed
        reverted = tuple(by_seq[s] for s in sorted(excluded))
        mempool.discard_bundles(built.lost + reverted)
        mempool.remove_included(p.hash for p in built.txs)
        expired = mempool.expire_bundles(result.number)
        dropped = mempool.drop_stale(chain)
        return ProducedBlock(result=result, txs=built.txs, dropped=tuple(dropped),
                             lost_bundles=built.lost, reverted_bundles=reverted,
                             expired_bundles=tuple(expired))

