"""The chain layer: one typed interface, its eth-tester/py-evm implementation, contract handles."""

from .base import Chain, anchor
from .contract import Contract, TransactionFailed, at, creation_tx, deploy, execute, execute_all
from .pyevm import PyEVMChain
from .types import (
    Account,
    Address,
    BlockResult,
    CallReverted,
    ChainError,
    DecodedLog,
    InvalidTransaction,
    Receipt,
    SignedTx,
    TxRequest,
)

BACKENDS = {"eth-tester": PyEVMChain}


def open_chain(backend: str = "eth-tester", **kwargs) -> Chain:
    """A fresh chain on the named backend."""
    try:
        cls = BACKENDS[backend]
    except KeyError:
        raise ValueError(f"unknown backend {backend!r} (known: {', '.join(sorted(BACKENDS))})") from None
    return cls(**kwargs)


__all__ = [
    "Account", "Address", "BACKENDS", "BlockResult", "CallReverted", "Chain", "ChainError",
    "Contract", "DecodedLog", "InvalidTransaction", "PyEVMChain", "Receipt", "SignedTx",
    "TransactionFailed", "TxRequest", "anchor", "at", "creation_tx", "deploy", "execute", "execute_all",
    "open_chain",
]
