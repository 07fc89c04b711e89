"""Reference chain backend: eth-tester's py-evm chain, with blocks assembled by us.

eth-tester's own mining replays its pending queue first-in-first-out and rejects a second
transaction from one sender, so blocks are built here directly on py-evm's ``MiningChain``:
the caller's ordered list of signed transactions becomes one block via ``mine_all``. The
resulting blocks are ordinary chain history, visible to eth-tester and so to ``web3``.
"""

from __future__ import annotations

from typing import Any, Sequence

from eth.abc import SignedTransactionAPI
from eth.exceptions import Revert
from eth.vm.message import Message
from eth_keys import keys
from eth_tester.backends.pyevm.main import (
    GENESIS_PARENT_HASH,
    PyEVMBackend,
    get_default_genesis_params,
)
from eth_utils import ValidationError, keccak, to_canonical_address, to_checksum_address

from .abi import AbiBook, halt_reason
from .gasmarket import background_gas_of, encode_background_gas
from .genesis import (
    BLOCK_GAS_LIMIT,
    CHAIN_ID,
    GENESIS_BALANCE_WEI,
    GENESIS_TIMESTAMP,
    ZERO_ADDRESS,
    derive_accounts,
)
from .types import (
    Account,
    Address,
    BlockResult,
    CallReverted,
    InvalidTransaction,
    Receipt,
    SignedTx,
    TxRequest,
)
from .validation import check_block
from .vm import SandboxVM

__all__ = ["BLOCK_GAS_LIMIT", "GENESIS_BALANCE_WEI", "GENESIS_TIMESTAMP", "PyEVMChain", "ZERO_ADDRESS"]


class PyEVMChain:
    """The chain interface on eth-tester + py-evm. One instance is one independent chain."""

    backend_name = "eth-tester"

    def __init__(self, seed: int = 0, accounts: int | Sequence[str] = 16,
                 genesis_timestamp: int = GENESIS_TIMESTAMP,
                 gas_limit: int = BLOCK_GAS_LIMIT,
                 genesis_balance_wei: int = GENESIS_BALANCE_WEI):
        self.seed = seed
        self.accounts: tuple[Account, ...] = derive_accounts(seed, accounts)
        self._keys = {a.address: keys.PrivateKey(a.private_key) for a in self.accounts}
        genesis_state = {
            to_canonical_address(a.address): {"balance": genesis_balance_wei, "nonce": 0,
                                              "code": b"", "storage": {}}
            for a in self.accounts
        }
        params = get_default_genesis_params({"timestamp": genesis_timestamp, "gas_limit": gas_limit})
        self._backend = PyEVMBackend(genesis_parameters=params, genesis_state=genesis_state,
                                     vm_configuration=((0, SandboxVM),))
        self._backend.account_keys = tuple(self._keys.values())
        self.chain_id: int = self._backend.chain.chain_id
        assert self.chain_id == CHAIN_ID, "eth-tester changed its chain id; update genesis.CHAIN_ID"
        self._abis = AbiBook()
        # Hash -> sender of transactions this chain signed with its own keys: their signatures
        # need no second recovery in the pre-check (py-evm recovers the sender again anyway).
        self._signed_here: dict[bytes, Address] = {}
        self._vm_cache: Any = None
        self._web3: Any = None

    # --- accounts --------------------------------------------------------------------
    def account(self, label: str) -> Account:
        for a in self.accounts:
            if a.label == label:
                return a
        raise KeyError(f"no account labelled {label!r}")

    # --- reading -----------------------------------------------------------------------
    @property
    def _chain(self):
        return self._backend.chain

    def _vm(self, timestamp: int | None = None):
        """VM over the latest block's post-state, under that block's header (as eth_call on
        ``latest``), or under a copy at ``timestamp``; cached until the head changes."""
        if timestamp is not None:
            return self._chain.get_vm(self._head.copy(timestamp=timestamp))
        if self._vm_cache is None:
            self._vm_cache = self._chain.get_vm(self._head)
        return self._vm_cache

    @property
    def _head(self):
        return self._chain.get_canonical_head()

    @property
    def block_number(self) -> int:
        return self._head.block_number

    @property
    def timestamp(self) -> int:
        return self._head.timestamp

    @property
    def next_base_fee(self) -> int:
        return self._chain.header.base_fee_per_gas

    @property
    def gas_limit(self) -> int:
        return self._chain.header.gas_limit

    def balance(self, address: Address) -> int:
        return self._vm().state.get_balance(to_canonical_address(address))

    def nonce(self, address: Address) -> int:
        return self._vm().state.get_nonce(to_canonical_address(address))

    def code(self, address: Address) -> bytes:
        return self._vm().state.get_code(to_canonical_address(address))

    def call(self, to: Address, data: bytes, sender: Address | None = None,
             value: int = 0, gas: int = 30_000_000, timestamp: int | None = None) -> bytes:
        state = self._vm(timestamp).state
        to_b = to_canonical_address(to)
        origin = to_canonical_address(sender or ZERO_ADDRESS)
        message = Message(gas=gas, to=to_b, sender=origin, value=value, data=data,
                          code=state.get_code(to_b))
        context = state.get_transaction_context_class()(gas_price=0, origin=origin)
        snap = state.snapshot()
        try:
            computation = state.computation_class.apply_message(state, message, context)
        finally:
            state.revert(snap)
        if computation.is_error:
            raise CallReverted(self._revert_reason(to, computation))
        return computation.output

    # --- writing -----------------------------------------------------------------------
    def sign(self, request: TxRequest) -> SignedTx:
        nonce = self.nonce(request.sender.address) if request.nonce is None else request.nonce
        builder = self._vm().get_transaction_builder()
        unsigned = builder.new_unsigned_dynamic_fee_transaction(
            chain_id=self.chain_id,
            nonce=nonce,
            max_priority_fee_per_gas=request.max_priority_fee_per_gas,
            max_fee_per_gas=request.max_fee_per_gas,
            gas=request.gas,
            to=to_canonical_address(request.to) if request.to else b"",
            value=request.value,
            data=request.data,
            access_list=[],
        )
        raw = unsigned.as_signed_transaction(self._keys[request.sender.address])
        self._signed_here[raw.hash] = request.sender.address
        return SignedTx(hash=raw.hash, sender=request.sender.address, nonce=nonce, to=request.to,
                        value=request.value, data=request.data, gas=request.gas,
                        max_fee_per_gas=request.max_fee_per_gas,
                        max_priority_fee_per_gas=request.max_priority_fee_per_gas, raw=raw)

    def _signer(self, tx: SignedTx) -> Address:
        if not isinstance(tx.raw, SignedTransactionAPI):
            raise ValueError("not signed for this backend")
        # py-evm executes a valid signature whatever chain it was made for: refuse a transaction
        # signed for another chain (a cross-chain replay), as a node and the anvil backend do.
        chain_id = getattr(tx.raw, "chain_id", None)
        if chain_id != self.chain_id:
            raise ValueError(f"signed for chain id {chain_id}, not this chain's {self.chain_id}")
        signer = self._signed_here.get(tx.raw.hash)
        if signer is None:
            try:
                tx.raw.check_signature_validity()
                signer = to_checksum_address(tx.raw.sender)
            except ValidationError as exc:
                raise ValueError(f"bad signature ({exc})") from None
        return signer

    def _precheck(self, transactions: Sequence[SignedTx], timestamp: int, gas_room: int) -> None:
        check_block(transactions, timestamp, latest_timestamp=self.timestamp, base_fee=self.next_base_fee,
                    gas_room=gas_room, nonce=self.nonce, balance=self.balance, signer=self._signer)

    def execute_block(self, transactions: Sequence[SignedTx], timestamp: int,
                      coinbase: Address | None = None, background_gas: int = 0) -> BlockResult:
        if not 0 <= background_gas <= self.gas_limit:
            raise InvalidTransaction(f"background gas {background_gas} outside [0, {self.gas_limit}]")
        self._precheck(transactions, timestamp, self.gas_limit - background_gas)
        base_fee = self.next_base_fee
        coinbase = coinbase or ZERO_ADDRESS
        mix_hash = keccak(b"liquidation-sandbox/prevrandao/%d/%d" % (self.seed, self.block_number + 1))
        fields = dict(timestamp=timestamp, coinbase=to_canonical_address(coinbase), mix_hash=mix_hash,
                      extra_data=encode_background_gas(background_gas))
        pending = self._chain.header
        # mine_all only carries coinbase into the header it executes under; without this,
        # transactions would see the pending header's wall-clock timestamp.
        self._chain.header = pending.copy(**fields)
        try:
            result, receipts, computations = self._chain.mine_all([tx.raw for tx in transactions], **fields)
        except ValidationError as exc:
            self._chain.header = pending
            raise InvalidTransaction(f"block rejected: {exc}") from None
        except BaseException:
            self._chain.header = pending
            raise
        finally:
            self._vm_cache = None
        header = result.imported_block.header
        out = []
        previous_cumulative = 0
        log_index = 0
        for i, (tx, receipt, computation) in enumerate(zip(transactions, receipts, computations, strict=True)):
            gas_used = receipt.gas_used - previous_cumulative
            previous_cumulative = receipt.gas_used
            logs = []
            for log in receipt.logs:
                topics = tuple(t.to_bytes(32, "big") if isinstance(t, int) else bytes(t) for t in log.topics)
                logs.append(self._abis.decode_log(log.address, topics, log.data, log_index))
                log_index += 1
            created = None
            if tx.to is None and not computation.is_error:
                created = to_checksum_address(computation.msg.storage_address)
            out.append(Receipt(
                tx_hash=tx.hash, block_number=header.block_number, index=i, sender=tx.sender,
                to=tx.to, status=0 if computation.is_error else 1, gas_used=gas_used,
                effective_gas_price=base_fee + tx.effective_tip(base_fee),
                base_fee_per_gas=base_fee, logs=tuple(logs),
                revert_reason=self._revert_reason(tx.to, computation) if computation.is_error else None,
                contract_address=created,
                return_data=b"" if computation.is_error else computation.output,
            ))
        return BlockResult(number=header.block_number, timestamp=header.timestamp,
                           base_fee_per_gas=base_fee, gas_used=header.gas_used,
                           background_gas=background_gas_of(header),
                           gas_limit=header.gas_limit, coinbase=coinbase, hash=header.hash,
                           receipts=tuple(out))

    # --- decoding ------------------------------------------------------------------------
    def register_abi(self, address: Address, abi: Any) -> None:
        self._abis.register(address, abi)

    def _revert_reason(self, to: Address | None, computation) -> str:
        error = computation.error
        if isinstance(error, Revert):
            return self._abis.revert_reason(to, computation.output)
        return halt_reason(type(error).__name__)

    # --- state control -----------------------------------------------------------------
    def snapshot(self) -> bytes:
        return self._head.hash

    def revert(self, snapshot_id: bytes) -> None:
        chain = self._chain
        header = chain.get_block_header_by_hash(snapshot_id)
        chain.chaindb._set_as_canonical_chain_head(chain.chaindb.db, header, GENESIS_PARENT_HASH)
        chain.header = chain.create_header_from_parent(header)
        self._vm_cache = None

    def close(self) -> None:
        """Nothing to release (the chain lives in this process); here for symmetry with node backends."""

    # --- escape hatch ------------------------------------------------------------------
    @property
    def web3(self):
        """A web3 handle on this very chain (eth-tester provider over the same backend)."""
        if self._web3 is None:
            from eth_tester import EthereumTester
            from web3 import Web3
            from web3.providers.eth_tester import EthereumTesterProvider

            tester = EthereumTester(backend=self._backend)
            self._web3 = Web3(EthereumTesterProvider(tester))
        return self._web3
