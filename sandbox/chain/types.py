"""Value types shared by every chain backend: accounts, transactions, receipts, blocks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eth_keys import keys
from eth_utils import keccak, to_checksum_address

from sandbox.errors import SandboxError

Address = str  # EIP-55 checksummed hex, the form eth-abi decodes and web3 expects


@dataclass(frozen=True)
class Account:
    """An externally owned account whose key is derived from the run's seed."""

    label: str
    private_key: bytes = field(repr=False)
    address: Address

    @classmethod
    def derive(cls, seed: int, label: str) -> "Account":
        """Deterministic key for (seed, label): same seed, same accounts, on every machine."""
        secret = keccak(b"liquidation-sandbox/account/" + str(seed).encode() + b"/" + label.encode())
        key = keys.PrivateKey(secret)
        return cls(label=label, private_key=secret,
                   address=to_checksum_address(key.public_key.to_canonical_address()))


@dataclass(frozen=True)
class TxRequest:
    """An unsigned EIP-1559 transaction; the chain signs it with the sender's key."""

    sender: Account
    to: Address | None
    data: bytes = b""
    value: int = 0
    gas: int = 500_000
    max_fee_per_gas: int = 100 * 10**9
    max_priority_fee_per_gas: int = 10**9
    nonce: int | None = None  # None: the chain fills in the sender's next nonce on-chain


@dataclass(frozen=True)
class SignedTx:
    """A signed transaction ready for a block; ``raw`` is the backend's own object."""

    hash: bytes
    sender: Address
    nonce: int
    to: Address | None
    value: int
    data: bytes
    gas: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    raw: Any = field(repr=False, compare=False)

    def effective_tip(self, base_fee: int) -> int:
        """Priority fee per gas actually paid at ``base_fee`` (EIP-1559)."""
        return max(0, min(self.max_priority_fee_per_gas, self.max_fee_per_gas - base_fee))


@dataclass(frozen=True)
class DecodedLog:
    """One emitted event; ``name``/``args`` are empty when no known ABI matches it."""

    address: Address
    name: str
    args: dict
    log_index: int
    topics: tuple[bytes, ...] = field(repr=False)
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Receipt:
    tx_hash: bytes
    block_number: int
    index: int  # position of the transaction in its block
    sender: Address
    to: Address | None
    status: int  # 1 success, 0 reverted (reverted transactions are included and pay gas)
    gas_used: int
    effective_gas_price: int
    base_fee_per_gas: int
    logs: tuple[DecodedLog, ...]
    revert_reason: str | None = None
    contract_address: Address | None = None
    return_data: bytes = field(default=b"", repr=False)

    @property
    def succeeded(self) -> bool:
        return self.status == 1

    @property
    def fee_paid_wei(self) -> int:
        return self.gas_used * self.effective_gas_price

    @property
    def priority_fee_paid_wei(self) -> int:
        return self.gas_used * (self.effective_gas_price - self.base_fee_per_gas)

    def events(self, name: str) -> list[DecodedLog]:
        return [log for log in self.logs if log.name == name]


@dataclass(frozen=True)
class BlockResult:
    number: int
    timestamp: int
    base_fee_per_gas: int
    gas_used: int  # executed gas only
    gas_limit: int
    coinbase: Address
    hash: bytes
    receipts: tuple[Receipt, ...]
    background_gas: int = 0  # virtual demand counted by the base fee, not executed

    @property
    def logs(self) -> list[DecodedLog]:
        return [log for r in self.receipts for log in r.logs]


class ChainError(SandboxError):
    """Base for errors raised by a chain backend."""


class InvalidTransaction(ChainError):
    """A transaction cannot be included (bad nonce, signature or balance); nothing was executed."""


class CallReverted(ChainError):
    """A read-only call reverted."""

    def __init__(self, reason: str | None):
        super().__init__(reason or "execution reverted")
        self.reason = reason
