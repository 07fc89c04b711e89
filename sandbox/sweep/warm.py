"""A worker's chain kept between runs: deployed once, reverted to the same state for each run.

Opening a chain and deploying the market (tokens, oracle, lending market, AMM, flash lender,
lens) is the part of a run's set-up that depends only on the backend, the seed (accounts are
derived from it), the account labels and the market parameters. ``WarmChains`` keeps the last
such chain of its worker with a snapshot taken right after the deployment; the next run with the
same key gets the chain reverted to that snapshot, with the chain's ABI registrations as they
were then, and a fresh ``Market`` handle (no position book attached). Nothing of the previous
run survives: its blocks, state, nonces and decoders are all rolled back, which the sweep tests
check by comparing a run's tables after other runs with the same run on a fresh worker.

A run that fails gives its chain back ``discard``-ed (closed, never lent again). A chain is
replaced after ``MAX_USES`` runs: py-evm keeps the blocks a revert abandons, so a chain reused
forever would grow. A backend whose chain lacks what the rollback needs (a snapshot, a revert,
the ABI registrations) gets a fresh chain per run, exactly as without ``WarmChains``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

MAX_USES = 50


@dataclass
class _Warm:
    key: tuple
    chain: Any
    market: Any
    snapshot: Any
    abis: dict
    uses: int = 0
    lent: bool = False


def _registrations(chain: Any) -> dict | None:
    """The chain's ABI registrations by address (both built-in backends keep them in an
    ``AbiBook``), or None when there is no such book to restore."""
    book = getattr(chain, "_abis", None)
    found = getattr(book, "_abis", None)
    return found if isinstance(found, dict) else None


@dataclass
class WarmChains:
    """One warm chain per worker (``Simulation(chains=...)`` lends and takes it back)."""

    max_uses: int = MAX_USES
    _warm: _Warm | None = None
    stats: dict = field(default_factory=lambda: {"opened": 0, "reused": 0})

    def acquire(self, backend: str, seed: int, labels: Sequence[str], market_key: Any,
                deploy: Callable[[Any], Any]) -> tuple[Any, Any]:
        """(chain, market) for a run: the kept chain reverted to its snapshot when the key matches
        and it has uses left, else a new chain with ``deploy(chain)``'s market (kept for next
        time). ``market_key`` stands for everything the deployment depends on."""
        from sandbox.chain import open_chain

        key = (backend, int(seed), tuple(labels), market_key)
        warm = self._warm
        if warm is not None and warm.key == key and not warm.lent and warm.uses < self.max_uses:
            warm.chain.revert(warm.snapshot)
            book = _registrations(warm.chain)
            assert book is not None  # a chain is kept only when it has one (below)
            book.clear()
            book.update(warm.abis)
            warm.uses += 1
            warm.lent = True
            self.stats["reused"] += 1
            return warm.chain, dataclasses.replace(warm.market, reads=type(warm.market.reads)())
        self.close()
        chain = open_chain(backend, seed=seed, accounts=list(labels))
        market = deploy(chain)
        self.stats["opened"] += 1
        book = _registrations(chain)
        if book is None or not callable(getattr(chain, "snapshot", None)) or not callable(getattr(chain, "revert", None)):
            return chain, market  # not kept: released by closing it
        self._warm = _Warm(key=key, chain=chain, market=dataclasses.replace(market, reads=type(market.reads)()),
                           snapshot=chain.snapshot(),
                           abis=dict(book), uses=1, lent=True)
        return chain, market

    def release(self, chain: Any) -> None:
        """A run is over: the kept chain waits for the next run; any other chain is closed."""
        if self._warm is not None and self._warm.chain is chain:
            self._warm.lent = False
        else:
            _close(chain)

    def discard(self, chain: Any) -> None:
        """A run failed on ``chain``: close it and never lend it again."""
        if self._warm is not None and self._warm.chain is chain:
            self._warm = None
        _close(chain)

    def close(self) -> None:
        """Close the kept chain (a node backend's process stops)."""
        warm, self._warm = self._warm, None
        if warm is not None:
            _close(warm.chain)


def _close(chain: Any) -> None:
    close = getattr(chain, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            close()


__all__ = ["MAX_USES", "WarmChains"]
