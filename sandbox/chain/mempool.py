"""The transaction pool the agents submit to: a public mempool plus a private bundle channel.

Public transactions are visible to every agent through ``Mempool.pending()`` (sender, target,
calldata, fees: exactly what a searcher watching the p2p mempool sees). A pending transaction
can be replaced by one with the same sender and nonce only when both its fee caps rise by at
least 12.5% (geth's default price bump), which is what a priority gas auction is made of.

Private bundles (Flashbots-style order flow, OEV auctions) never appear in ``pending()``. A
bundle lands whole or not at all, at the top of the block or right after the transaction it
back-runs (``after``). Like a bundle sent to a relay, it is valid for the next block only
(``valid_blocks``, default 1; ``None`` keeps it until it lands), declares the positions it
acts on (``targets``: bundles sharing one conflict, and only the best-paying lands) and which
of its transactions may revert (``may_revert``; any other revert voids the whole bundle, which
then pays nothing). Ordering and the bundle auction are the builder's job
(``sandbox.chain.builder``); the pool only stores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable, Iterable, Sequence

from .base import Chain
from .types import Address, ChainError, SignedTx

PRICE_BUMP_NUM, PRICE_BUMP_DEN = 9, 8  # a replacement needs both fee caps >= 112.5% of the old


class ReplacementUnderpriced(ChainError):
    """A transaction reuses a pending (sender, nonce) without raising both fee caps by 12.5%."""


@dataclass(frozen=True)
class PendingTx:
    """A submitted transaction and who sent it, for ordering and for reading results."""

    tx: SignedTx
    agent: str  # label of the submitting agent
    tag: str  # what it is for: "liquidation", "oracle-update", "arbitrage", "borrower", ...
    seen_block: int  # latest block number when it was submitted
    seq: int  # global submission counter of its pool (fifo order and stable tie-breaks)
    meta: dict = field(default_factory=dict, compare=False, repr=False)
    private: bool = False  # sent through the bundle channel, never visible in pending()
    after: bytes | None = None  # private only: hash of the transaction this bundle back-runs
    bundle: int | None = None  # private only: ``seq`` of its bundle (bundles land whole)

    @property
    def hash(self) -> bytes:
        return self.tx.hash

    @property
    def sender(self) -> Address:
        return self.tx.sender

    @property
    def nonce(self) -> int:
        return self.tx.nonce

    def effective_tip(self, base_fee: int) -> int:
        return self.tx.effective_tip(base_fee)


@dataclass(frozen=True)
class Bundle:
    """Private transactions that land together, in this order, or not at all."""

    txs: tuple[PendingTx, ...]
    agent: str
    tag: str
    after: bytes | None
    seq: int  # submission counter of its first transaction
    targets: frozenset = frozenset()  # what it acts on: bundles sharing a target conflict
    may_revert: frozenset[bytes] = frozenset()  # hashes allowed to revert without voiding it
    max_block: int | None = None  # last block it may land in (None: until it lands)

    @property
    def hashes(self) -> tuple[bytes, ...]:
        return tuple(p.hash for p in self.txs)

    @property
    def conflict_keys(self) -> frozenset:
        """Declared targets plus each (sender, nonce) it uses: two bundles sharing a key
        cannot both land."""
        return self.targets | frozenset((p.sender, p.nonce) for p in self.txs)

    @property
    def gas(self) -> int:
        return sum(p.tx.gas for p in self.txs)


class Mempool:
    """Public pending transactions keyed by (sender, nonce), plus private bundles.

    ``chain`` (optional) only supplies the block number recorded as ``seen_block``; without
    it, the number of the last block the pool was told about (``drop_stale``) is used.
    """

    def __init__(self, chain: Chain | None = None):
        self._chain = chain
        self._head = 0
        self._seq = 0
        self._public: dict[tuple[Address, int], PendingTx] = {}
        self._ordered: tuple[PendingTx, ...] | None = None  # pending() until the pool changes
        self._bundles: list[Bundle] = []
        self.evicted: list[tuple[PendingTx, str]] = []  # (transaction, "replaced" | "stale")

    # --- submitting ----------------------------------------------------------------------
    def _block(self) -> int:
        return self._chain.block_number if self._chain is not None else self._head

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq - 1

    def submit(self, tx: SignedTx, agent: str, tag: str, meta: dict | None = None) -> PendingTx:
        """Add ``tx`` to the public pool, replacing a pending one with its sender and nonce."""
        key = (tx.sender, tx.nonce)
        old = self._public.get(key)
        if old is not None:
            if old.hash == tx.hash:
                raise ReplacementUnderpriced(
                    f"transaction {tx.hash.hex()[:10]}… (sender {tx.sender}, nonce {tx.nonce}) "
                    f"is already pending")
            old_tx = old.tx
            if not (tx.max_fee_per_gas * PRICE_BUMP_DEN >= old_tx.max_fee_per_gas * PRICE_BUMP_NUM
                    and tx.max_priority_fee_per_gas * PRICE_BUMP_DEN
                    >= old_tx.max_priority_fee_per_gas * PRICE_BUMP_NUM):
                raise ReplacementUnderpriced(
                    f"replacement {tx.hash.hex()[:10]}… of {old.hash.hex()[:10]}… (sender {tx.sender}, "
                    f"nonce {tx.nonce}) underpriced: max fee {tx.max_fee_per_gas} and priority fee "
                    f"{tx.max_priority_fee_per_gas} must both be >= 112.5% of "
                    f"{old_tx.max_fee_per_gas} and {old_tx.max_priority_fee_per_gas}")
            self.evicted.append((old, "replaced"))
        pending = PendingTx(tx=tx, agent=agent, tag=tag, seen_block=self._block(),
                            seq=self._next_seq(), meta=dict(meta or {}))
        self._public[key] = pending
        self._ordered = None
        return pending

    def submit_bundle(self, txs: Sequence[SignedTx], agent: str, tag: str,
                      after: bytes | None = None, meta: dict | None = None,
                      labels: Sequence[tuple[str, str, dict]] | None = None,
                      targets: Iterable[Hashable] = (), may_revert: Iterable[bytes] = (),
                      valid_blocks: int | None = 1) -> Bundle:
        """Send ``txs`` privately: they land together, at the top or right after ``after``.

        ``labels`` gives each transaction its own (agent, tag, meta) when a bundle carries
        several parties' transactions (an order-flow auction's update, grant and winner's
        liquidation); by default all carry the submitter's ``agent``/``tag``/``meta``.
        ``targets`` names what the bundle acts on (e.g. positions), ``may_revert`` the hashes
        that may revert, ``valid_blocks`` how many blocks it may wait (None: until it lands).
        """
        if valid_blocks is not None and valid_blocks < 1:
            raise ValueError(f"valid_blocks must be >= 1 or None, got {valid_blocks}")
        if not txs:
            raise ValueError("a bundle needs at least one transaction")
        if labels is not None and len(labels) != len(txs):
            raise ValueError(f"a bundle of {len(txs)} transactions got {len(labels)} labels")
        labels = labels or [(agent, tag, meta or {})] * len(txs)
        block, first = self._block(), self._seq
        pend = tuple(PendingTx(tx=tx, agent=a, tag=t, seen_block=block, seq=self._next_seq(),
                               meta=dict(m or {}), private=True, after=after, bundle=first)
                     for tx, (a, t, m) in zip(txs, labels, strict=True))
        unknown = set(may_revert) - {p.hash for p in pend}
        if unknown:
            raise ValueError("may_revert names transactions that are not in the bundle")
        bundle = Bundle(txs=pend, agent=agent, tag=tag, after=after, seq=pend[0].seq,
                        targets=frozenset(targets), may_revert=frozenset(may_revert),
                        max_block=None if valid_blocks is None else block + valid_blocks)
        self._bundles.append(bundle)
        return bundle

    # --- reading -------------------------------------------------------------------------
    def pending(self) -> list[PendingTx]:
        """The public pool in submission order: what every agent can see (sorted once per
        change of the pool: every agent reads it several times a block)."""
        if self._ordered is None:
            self._ordered = tuple(sorted(self._public.values(), key=lambda p: p.seq))
        return list(self._ordered)

    def bundles(self) -> list[Bundle]:
        """Private bundles in submission order (the builder's view, not the agents')."""
        return list(self._bundles)

    def get(self, sender: Address, nonce: int) -> PendingTx | None:
        return self._public.get((sender, nonce))

    def __len__(self) -> int:
        return len(self._public) + sum(len(b.txs) for b in self._bundles)

    def __contains__(self, tx_hash: object) -> bool:
        return any(p.hash == tx_hash for p in self._public.values()) or any(
            tx_hash in b.hashes for b in self._bundles)

    # --- housekeeping --------------------------------------------------------------------
    def remove_included(self, hashes: Iterable[bytes]) -> None:
        """Forget transactions that landed (a bundle goes as soon as one of its own did)."""
        done = set(hashes)
        self._public = {k: p for k, p in self._public.items() if p.hash not in done}
        self._ordered = None
        self._bundles = [b for b in self._bundles if not done.intersection(b.hashes)]

    def discard_bundles(self, bundles: Iterable[Bundle]) -> None:
        """Remove bundles that lost the builder's auction or would revert (they pay nothing)."""
        gone = {b.seq for b in bundles}
        self._bundles = [b for b in self._bundles if b.seq not in gone]

    def expire_bundles(self, block_number: int) -> list[Bundle]:
        """Drop bundles whose last block is ``block_number`` or earlier; return them."""
        expired = [b for b in self._bundles if b.max_block is not None and b.max_block <= block_number]
        self.discard_bundles(expired)
        return expired

    def drop_stale(self, chain: Chain) -> list[PendingTx]:
        """Drop transactions whose nonce the chain has already used (and bundles holding one)."""
        self._head = chain.block_number
        prefetch = getattr(chain, "prefetch_accounts", None)  # one round trip on a node
        if prefetch is not None and (self._public or self._bundles):
            prefetch([p.sender for p in self._public.values()] + [p.sender for b in self._bundles for p in b.txs])
        nonces: dict[Address, int] = {}

        def used(p: PendingTx) -> bool:
            if p.sender not in nonces:
                nonces[p.sender] = chain.nonce(p.sender)
            return p.nonce < nonces[p.sender]

        dropped = [p for p in self.pending() if used(p)]
        for p in dropped:
            del self._public[(p.sender, p.nonce)]
        self._ordered = None
        keep = []
        for b in self._bundles:
            if any(used(p) for p in b.txs):
                dropped.extend(b.txs)
            else:
                keep.append(b)
        self._bundles = keep
        self.evicted.extend((p, "stale") for p in dropped)
        return dropped
