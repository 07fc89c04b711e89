"""A position book that follows the chain's events instead of re-reading every position.

A lens read of every position costs milliseconds per position in py-evm, every block. The
book reads positions through the lens once, then after each block re-reads (in one batched
lens call) only the positions named by that block's market and mechanism events; health
factors are recomputed in Python with the exact integer formula of ``LendingMarket`` at the
oracle price in force. A mechanism event that names no position (e.g. a soft-liquidation band
trade, which moves every banded position) makes the book re-read everything, unless the
mechanism declares that event position-neutral.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Sequence

from sandbox.chain import Address, BlockResult
from sandbox.market.deploy import lens_batches

from .math import health_factor_wad

if TYPE_CHECKING:
    from .deploy import Market, PositionView

_VERSIONS = itertools.count(1)  # never reused, so a version names one content of the book
VIEW_CACHE_SIZE = 4

@dataclass(frozen=True)
class _Raw:
    collateral: int
    held_collateral: int
    held_debt_asset: int
    debt: int
    locked: bool


class PositionBook:
    def __init__(self, market: "Market", owners: Sequence[Address], watched: Iterable[Address],
                 neutral_events: Iterable[str] = (), held_source=None):
        self.market = market
        # A mechanism that mirrors the collateral it holds (LiquidationMechanism.held_collateral_of):
        # then a trade that moves every banded position costs no EVM read at all.
        self.held_source = held_source
        self.owners = tuple(owners)
        self.watched = frozenset(watched)  # contracts whose events can change a position
        self.neutral_events = frozenset(neutral_events)
        self.liquidation_threshold_wad = market.lending.call("liquidationThresholdWad")
        self._raw: dict[Address, _Raw] = {}
        self._synced: bytes | None = None
        self._price: tuple[bytes, int] | None = None
        self._version = 0
        # (version, price, owners) -> views: observing a block, finding opportunities and the
        # what-ifs of a block all ask for the same thousand views
        self._views: dict[tuple, tuple["PositionView", ...]] = {}
        self._last_views: dict[Address, tuple[_Raw, int, "PositionView"]] = {}  # owner -> (raw, price, view)
        self.lens_reads = 0  # positions read through the lens (for benchmarks)
        self.refresh(self.owners)

    # --- syncing ---------------------------------------------------------------------------
    def _mirrored_held(self, owners: Sequence[Address]) -> list[tuple[int, int]] | None:
        return self.held_source.held_collateral_of(owners) if self.held_source is not None else None

    def refresh(self, owners: Sequence[Address], held_all: bool = False) -> None:
        """Re-read ``owners`` (lens calls of ``LENS_BATCH``); with ``held_all``, every owner's mechanism-held
        collateral changed too (taken from the mechanism's mirror when it has one)."""
        held = self._mirrored_held(self.owners) if (held_all or owners) else None
        if held_all and held is None:
            owners = self.owners  # no mirror: everything must be read through the lens
        if owners:
            if held is not None:
                for batch in lens_batches(owners):
                    collateral, debt, locked = self.market.lens.call("accounts", self.market.lending.address, batch)
                    for owner, c, d, lk in zip(batch, collateral, debt, locked, strict=True):
                        prev = self._raw.get(owner)
                        self._raw[owner] = _Raw(c, prev.held_collateral if prev else 0,
                                                prev.held_debt_asset if prev else 0, d, lk)
            else:
                for v in self.market.read_positions(owners):
                    self._raw[v.owner] = _Raw(v.collateral, v.held_collateral, v.held_debt_asset,
                                              v.debt, v.locked)
            self.lens_reads += len(owners)
        if held is not None:
            for owner, (weth, usd) in zip(self.owners, held, strict=True):
                r = self._raw[owner]
                self._raw[owner] = _Raw(r.collateral, weth, usd, r.debt, r.locked)
        self._synced = self.market.chain.snapshot()
        self._version = next(_VERSIONS)

    def dirty_owners(self, block: BlockResult) -> tuple[list[Address], bool]:
        """Owners a block's events named, and whether some event may have moved every position."""
        touched: set[Address] = set()
        everyone = False
        for log in block.logs:
            if log.address not in self.watched or log.name in self.neutral_events:
                continue
            owner = log.args.get("owner") if log.name else None
            if owner is None:
                everyone = True
            else:
                touched.add(owner)
        return sorted(touched), everyone

    def apply_block(self, block: BlockResult) -> None:
        """Bring the book to the state after ``block`` (which must be the chain's new head).

        With a held-collateral mirror, call the mechanism's ``observe_block`` first."""
        dirty, everyone = self.dirty_owners(block)
        self.refresh(dirty, held_all=everyone)

    def in_sync(self) -> bool:
        return self._synced == self.market.chain.snapshot()

    def state(self) -> tuple:
        return dict(self._raw), self._synced, self._version

    def restore(self, state: tuple) -> None:
        self._raw, self._synced, self._version = dict(state[0]), state[1], state[2]

    # --- reading -----------------------------------------------------------------------------
    def price(self) -> int:
        head = self.market.chain.snapshot()
        if self._price is None or self._price[0] != head:
            self._price = (head, self.market.oracle.call("price"))
        return self._price[1]

    def views(self, owners: Sequence[Address]) -> list["PositionView"]:
        """The listed positions at the oracle price; built once per content of the book and
        price (views are frozen, so callers share them)."""
        price = self.price()
        key = (self._version, price, tuple(owners))
        cached = self._views.get(key)
        if cached is None:
            if len(self._views) >= VIEW_CACHE_SIZE:
                self._views.clear()
            cached = self._views[key] = tuple(self._build_views(key[2], price))
        return list(cached)

    def _build_views(self, owners: Sequence[Address], price: int) -> list["PositionView"]:
        """Views of ``owners``; a position whose raw state and price did not change since its
        last view keeps that view (a block re-reads a handful of positions, not all)."""
        from .deploy import PositionView

        out = []
        last = self._last_views
        for owner in owners:
            r = self._raw[owner]
            seen = last.get(owner)
            if seen is not None and seen[1] == price and (seen[0] is r or seen[0] == r):
                out.append(seen[2])
                continue
            hf = health_factor_wad(r.collateral, r.debt, price, self.liquidation_threshold_wad,
                                   r.held_collateral, r.held_debt_asset)
            view = PositionView(owner=owner, collateral=r.collateral, held_collateral=r.held_collateral,
                                held_debt_asset=r.held_debt_asset, debt=r.debt,
                                health_factor_wad=hf, locked=r.locked)
            last[owner] = (r, price, view)
            out.append(view)
        return out

    def covers(self, owners: Sequence[Address]) -> bool:
        return self.in_sync() and all(o in self._raw for o in owners)

