"""The genesis every backend starts from, so the same seed gives the same chain on each of them."""

from __future__ import annotations

from typing import Sequence

from .types import Account

CHAIN_ID = 131_277_322_940_537  # eth-tester's chain id, kept by every backend
GENESIS_TIMESTAMP = 1_700_000_000  # fixed, so the same seed gives the same chain everywhere
GENESIS_BALANCE_WEI = 10**9 * 10**18
GENESIS_BASE_FEE = 10**9  # EIP-1559's initial base fee (py-evm's INITIAL_BASE_FEE; a test checks)
BLOCK_GAS_LIMIT = 30_000_000
HARDFORK = "prague"  # py-evm's PragueVM (sandbox.chain.vm.SandboxVM); anvil --hardfork
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


def derive_accounts(seed: int, accounts: int | Sequence[str]) -> tuple[Account, ...]:
    """The funded accounts of a chain: ``accounts`` labels (or that many ``account-i``), keys
    derived from the seed, so every backend funds the same addresses."""
    labels = [f"account-{i}" for i in range(accounts)] if isinstance(accounts, int) else list(accounts)
    if len(set(labels)) != len(labels):
        raise ValueError("account labels must be unique")
    return tuple(Account.derive(seed, label) for label in labels)
