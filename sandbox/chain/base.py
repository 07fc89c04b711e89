"""The chain interface: exactly what a simulation needs from an EVM, and nothing else.

A backend executes blocks whose transaction order the caller chooses. Every simulation talks
to the chain through this interface, so another backend (a faster EVM, a forked node) can be
dropped in and checked against the same conformance tests.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Protocol, Sequence, runtime_checkable

from .types import Account, Address, BlockResult, SignedTx, TxRequest


@runtime_checkable
class Chain(Protocol):
    chain_id: int
    accounts: tuple[Account, ...]

    def account(self, label: str) -> Account:
        """The account labelled ``label`` (KeyError naming it if there is none)."""

    # --- reading -----------------------------------------------------------------------
    @property
    def block_number(self) -> int:
        """Number of the latest executed block."""

    @property
    def timestamp(self) -> int:
        """Timestamp of the latest executed block."""

    @property
    def next_base_fee(self) -> int:
        """Base fee per gas of the next block (EIP-1559, from the latest block's gas use)."""

    @property
    def gas_limit(self) -> int: ...

    def balance(self, address: Address) -> int:
        """Ether balance in wei."""

    def nonce(self, address: Address) -> int: ...

    def code(self, address: Address) -> bytes: ...

    def call(self, to: Address, data: bytes, sender: Address | None = None,
             value: int = 0, gas: int = 30_000_000, timestamp: int | None = None) -> bytes:
        """Read-only call on the latest state, under the latest block's header (or at
        ``timestamp``, to ask what a time-dependent view will say later); CallReverted on revert."""

    # --- writing -----------------------------------------------------------------------
    def sign(self, request: TxRequest) -> SignedTx:
        """Sign ``request`` with its sender's key (nonce from chain state when not given)."""

    def execute_block(self, transactions: Sequence[SignedTx], timestamp: int,
                      coinbase: Address | None = None, background_gas: int = 0) -> BlockResult:
        """Execute one block holding ``transactions`` in exactly this order.

        ``background_gas`` is virtual demand: it takes block space and moves the base fee
        (EIP-1559) but is not executed (see ``sandbox.chain.gasmarket``).

        Reverting transactions are included and pay gas. An invalid transaction raises
        InvalidTransaction naming it, and the chain is left unchanged (no partial block).
        """

    def register_abi(self, address: Address, abi: Any) -> None:
        """Decode logs and revert reasons of ``address`` with ``abi``."""

    # --- state control -----------------------------------------------------------------
    def snapshot(self) -> Any:
        """An id of the current state: the head block's hash (so equal to the head's
        ``BlockResult.hash``; callers compare ids to tell whether the head moved)."""

    def revert(self, snapshot_id: Any) -> None:
        """Make the block ``snapshot_id`` names the head again, with its state."""

    # --- escape hatch ------------------------------------------------------------------
    @property
    def web3(self) -> Any:
        """A ``web3.Web3`` handle on the same chain, for users' own experiments."""


@contextmanager
def anchor(chain: Chain) -> Iterator[Chain]:
    """Run a block of code against ``chain`` and roll every change back afterwards."""
    snap = chain.snapshot()
    try:
        yield chain
    finally:
        chain.revert(snap)
