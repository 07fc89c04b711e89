"""The chain layer: one typed interface, its backends (py-evm, anvil), contract handles.

Backends are plug-ins under the entry-point group ``sandbox.backends`` (``eth-tester`` and
``anvil`` are registered by this package), so a third-party package can add one.
"""

from collections.abc import Mapping

from sandbox.plugins import Registry

from .base import Chain, anchor
from .contract import Contract, TransactionFailed, at, creation_tx, deploy, execute, execute_all
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


def __getattr__(name: str):
    """``PyEVMChain`` is imported on first use: py-evm takes about a second to import, which a
    run on another backend (and each of its worker processes) need not pay."""
    if name == "PyEVMChain":
        from .pyevm import PyEVMChain

        return PyEVMChain
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Chain is a Protocol with data members (issubclass() refuses those): open_chain checks instances.
CHAIN_BACKENDS: Registry = Registry("sandbox.backends", "backend", object)


class _BackendMap(Mapping):
    """``BACKENDS[name]`` → backend class, read from the registry (kept for older callers)."""

    def __getitem__(self, name: str) -> type:
        if name not in CHAIN_BACKENDS.names():
            raise KeyError(name)
        return CHAIN_BACKENDS.load(name)

    def __iter__(self):
        return iter(CHAIN_BACKENDS.names())

    def __len__(self) -> int:
        return len(CHAIN_BACKENDS.names())


BACKENDS = _BackendMap()


# What a backend class must define: Chain's methods and properties (checked on the class, since
# isinstance() on the Protocol would evaluate properties such as ``web3``).
CHAIN_MEMBERS = tuple(name for name, value in vars(Chain).items()
                      if not name.startswith("_") and (callable(value) or isinstance(value, property)))


def open_chain(backend: str = "eth-tester", **kwargs) -> Chain:
    """A fresh chain on the named backend (UnknownPlugin, a LookupError, names the close ones)."""
    cls = CHAIN_BACKENDS.load(backend)
    missing = [name for name in CHAIN_MEMBERS if not hasattr(cls, name)]
    if missing:
        raise TypeError(f"backend {backend!r} ({cls.__name__}) lacks {', '.join(missing)} of sandbox.chain.Chain")
    return cls(**kwargs)


__all__ = [
    "Account", "Address", "BACKENDS", "BlockResult", "CHAIN_BACKENDS", "CallReverted", "Chain", "ChainError",
    "Contract", "DecodedLog", "InvalidTransaction", "PyEVMChain", "Receipt", "SignedTx",
    "TransactionFailed", "TxRequest", "anchor", "at", "creation_tx", "deploy", "execute", "execute_all",
    "open_chain",
]
