"""Contract handles: an address plus its ABI, bound to one chain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from eth_abi import encode as abi_encode

from sandbox.contracts import Artifact, load_artifact

from .abi import ContractABI
from .base import Chain
from .types import Account, Address, BlockResult, ChainError, Receipt, TxRequest


@dataclass(frozen=True)
class Contract:
    chain: Chain
    address: Address
    abi: ContractABI
    name: str = ""

    def encode(self, fn: str, *args: Any) -> bytes:
        return self.abi.encode(fn, *args)

    def call(self, fn: str, *args: Any, sender: Address | None = None, timestamp: int | None = None) -> Any:
        """Read-only call against the latest block (or at ``timestamp``), decoded."""
        function = self.abi.function(fn)
        data = function.encode(*args)
        if timestamp is None:
            return function.decode_output(self.chain.call(self.address, data, sender))
        return function.decode_output(self.chain.call(self.address, data, sender, timestamp=timestamp))

    def tx(self, sender: Account, fn: str, *args: Any, **fields: Any) -> TxRequest:
        """An unsigned transaction calling ``fn``; ``fields`` override gas, fees, nonce, value."""
        return TxRequest(sender=sender, to=self.address, data=self.encode(fn, *args), **fields)


class TransactionFailed(ChainError):
    """A set-up transaction reverted; the message carries the decoded reason."""


def creation_gas(initcode: bytes) -> int:
    """A safe gas limit for a creation: calldata, code deposit (200/byte) and constructor work."""
    return 400_000 + 260 * len(initcode)


def creation_tx(sender: Account, name: "str | Artifact", *args: Any, gas: int | None = None,
                **fields: Any) -> TxRequest:
    artifact = load_artifact(name)
    ctor = next((item for item in artifact.abi if item.get("type") == "constructor"), None)
    types = [i["type"] for i in ctor["inputs"]] if ctor else []
    if len(types) != len(args):
        raise TypeError(f"{name} constructor takes {len(types)} arguments, got {len(args)}")
    initcode = artifact.bytecode + abi_encode(types, args)
    return TxRequest(sender=sender, to=None, data=initcode, gas=gas or creation_gas(initcode), **fields)


def execute(chain: Chain, requests: Sequence[TxRequest], timestamp: int | None = None,
            require_success: bool = True) -> BlockResult:
    """Sign ``requests`` (consecutive nonces per sender) and execute them as one block.

    For set-up and tests; simulations go through the block builder instead.
    """
    return execute_all(chain, requests, timestamp, require_success, max_blocks=1)[0]


def execute_all(chain: Chain, requests: Sequence[TxRequest], timestamp: int | None = None,
                require_success: bool = True, max_blocks: int | None = None) -> list[BlockResult]:
    """Like ``execute``, but spreads ``requests`` over as many blocks as the gas limit needs."""
    blocks: list[list[TxRequest]] = [[]]
    used = 0
    for req in requests:
        if blocks[-1] and used + req.gas > chain.gas_limit:
            blocks.append([])
            used = 0
        blocks[-1].append(req)
        used += req.gas
    if max_blocks is not None and len(blocks) > max_blocks:
        raise ValueError(f"{len(requests)} transactions need {len(blocks)} blocks (gas limit {chain.gas_limit})")
    results = []
    for i, chunk in enumerate(blocks):
        ts = (timestamp if timestamp is not None else chain.timestamp + 1) if i == 0 else chain.timestamp + 1
        results.append(_execute_one(chain, chunk, ts, require_success))
    return results


def _execute_one(chain: Chain, requests: Sequence[TxRequest], timestamp: int,
                 require_success: bool) -> BlockResult:
    next_nonce: dict[Address, int] = {}
    signed = []
    for req in requests:
        nonce = req.nonce
        if nonce is None:
            nonce = next_nonce.get(req.sender.address, chain.nonce(req.sender.address))
            req = TxRequest(**{**req.__dict__, "nonce": nonce})
        next_nonce[req.sender.address] = nonce + 1
        signed.append(chain.sign(req))
    block = chain.execute_block(signed, timestamp)
    if require_success:
        failed = [r for r in block.receipts if not r.succeeded]
        if failed:
            r = failed[0]
            raise TransactionFailed(f"transaction {r.index} to {r.to} reverted: {r.revert_reason}")
    return block


def deploy(chain: Chain, sender: Account, contracts: Sequence[tuple["str | Artifact", Sequence[Any]]],
           timestamp: int | None = None) -> list[Contract]:
    """Deploy several contracts in one block, in order; return their handles."""
    block = execute(chain, [creation_tx(sender, name, *args) for name, args in contracts], timestamp)
    handles = []
    for (name, _), receipt in zip(contracts, block.receipts, strict=True):
        assert receipt.contract_address is not None  # execute() raised if a creation reverted
        handles.append(at(chain, name, receipt.contract_address))
    return handles


def at(chain: Chain, name: "str | Artifact", address: Address) -> Contract:
    """A handle on an existing contract of the compiled type ``name`` (or a given artifact)."""
    artifact = load_artifact(name)
    abi = ContractABI(artifact.abi)
    chain.register_abi(address, abi)
    return Contract(chain=chain, address=address, abi=abi, name=artifact.name)


def receipt_events(receipt: Receipt, name: str) -> list[dict]:
    return [log.args for log in receipt.logs if log.name == name]
