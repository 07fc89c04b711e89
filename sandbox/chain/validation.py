"""The rules a block must satisfy before any backend executes it, checked in one place.

Checking up front is what lets every backend promise "an invalid transaction raises
InvalidTransaction naming it, and the chain is left unchanged": nothing is sent to the EVM
until the whole block is known to be valid.
"""

from __future__ import annotations

from typing import Callable, Sequence

from .types import Address, InvalidTransaction, SignedTx

TX_GAS = 21_000
CREATE_GAS = 32_000
INITCODE_WORD_GAS = 2  # EIP-3860
FLOOR_GAS_PER_TOKEN = 10  # EIP-7623 (Prague): calldata floor, zero bytes 1 token, others 4


def intrinsic_gas(tx: SignedTx) -> int:
    """The least gas a transaction may carry (Prague): the intrinsic cost or the calldata floor."""
    zeros = tx.data.count(0)
    nonzeros = len(tx.data) - zeros
    gas = TX_GAS + 4 * zeros + 16 * nonzeros
    if tx.to is None:
        gas += CREATE_GAS + INITCODE_WORD_GAS * ((len(tx.data) + 31) // 32)
    return max(gas, TX_GAS + FLOOR_GAS_PER_TOKEN * (zeros + 4 * nonzeros))


def describe(index: int, tx: SignedTx) -> str:
    """How errors name a transaction: its position, hash prefix, sender and nonce."""
    return f"transaction {index} ({tx.hash.hex()[:10]}…, sender {tx.sender}, nonce {tx.nonce})"


def check_block(transactions: Sequence[SignedTx], timestamp: int, *, latest_timestamp: int,
                base_fee: int, gas_room: int, nonce: Callable[[Address], int],
                balance: Callable[[Address], int],
                signer: Callable[[SignedTx], Address]) -> None:
    """Raise InvalidTransaction for the first rule the block breaks.

    ``signer(tx)`` returns who signed ``tx`` (raising ValueError, e.g. "bad signature (…)",
    when it cannot tell);
    ``nonce``/``balance`` read the latest state. Per sender, nonces must be consecutive and the
    balance must cover every transaction's gas × max fee + value, in block order.
    """
    if timestamp <= latest_timestamp:
        raise InvalidTransaction(
            f"block timestamp {timestamp} is not after the latest block's {latest_timestamp}")
    total_gas = 0
    nonces: dict[Address, int] = {}
    spendable: dict[Address, int] = {}
    for i, tx in enumerate(transactions):
        name = describe(i, tx)
        try:
            signed_by = signer(tx)
        except ValueError as exc:
            raise InvalidTransaction(f"{name}: {exc}") from None
        if signed_by != tx.sender:
            raise InvalidTransaction(f"{name}: signed by {signed_by}, not its sender")
        expected = nonces.get(tx.sender)
        if expected is None:
            expected = nonce(tx.sender)
        if tx.nonce != expected:
            raise InvalidTransaction(f"{name}: bad nonce, expected {expected}")
        nonces[tx.sender] = expected + 1
        if tx.max_fee_per_gas < base_fee:
            raise InvalidTransaction(f"{name}: max fee {tx.max_fee_per_gas} below the base fee {base_fee}")
        if tx.max_priority_fee_per_gas > tx.max_fee_per_gas:
            raise InvalidTransaction(
                f"{name}: priority fee {tx.max_priority_fee_per_gas} above the max fee {tx.max_fee_per_gas}")
        least = intrinsic_gas(tx)
        if tx.gas < least:
            raise InvalidTransaction(f"{name}: gas {tx.gas} below the intrinsic gas {least}")
        cost = tx.gas * tx.max_fee_per_gas + tx.value
        left = spendable.get(tx.sender)
        if left is None:
            left = balance(tx.sender)
        if left < cost:
            raise InvalidTransaction(f"{name}: insufficient balance for gas and value ({left} < {cost} wei)")
        spendable[tx.sender] = left - cost
        total_gas += tx.gas
        if total_gas > gas_room:
            raise InvalidTransaction(
                f"{name}: the block's room of {gas_room} gas (limit less background) is exceeded")
