"""The sandbox's py-evm virtual machine: Prague, with two changes that stay inside this class.

1. The base fee counts the parent block's virtual background gas (``sandbox.chain.gasmarket``).
2. A block's transaction and receipt tries are built in one pass (``sandbox.chain.ordered_trie``)
   instead of one insert at a time: same roots, same stored nodes, a fifth less time on a
   400-transaction block. py-evm calls its module-level ``make_trie_root_and_nodes`` from two
   VM methods; this class overrides those two (their bodies as in py-evm 0.12.1b1, the pinned
   version, with ``self.trie_root_and_nodes`` in its place), so py-evm's own modules and every
   other VM are untouched.

Only the py-evm backend imports this module (py-evm takes about a second to import).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import rlp
from eth._utils.db import get_parent_header
from eth.abc import BlockAPI, BlockHeaderAPI, ReceiptAPI, SignedTransactionAPI, WithdrawalAPI
from eth.constants import MAX_UNCLES
from eth.validation import validate_gas_limit, validate_length_lte
from eth.vm.forks.prague import PragueVM
from eth_hash.auto import keccak
from eth_typing import Hash32
from eth_utils import ValidationError

from .gasmarket import base_fee_after
from .ordered_trie import Encodable, make_trie_root_and_nodes

TrieBuilder = Callable[[Sequence[Encodable]], tuple[Hash32, dict[Hash32, bytes]]]


class SandboxVM(PragueVM):
    """Prague with a base fee that counts the parent's virtual background gas, building block
    tries with ``trie_root_and_nodes``."""

    #: root and nodes of the trie of an ordered list of encodable items (transactions, receipts,
    #: withdrawals); py-evm's ``eth.db.trie.make_trie_root_and_nodes`` gives the same result
    trie_root_and_nodes: TrieBuilder = staticmethod(make_trie_root_and_nodes)

    # py-evm's own annotations disagree here: the VM API returns BlockHeaderAPI, FrontierVM and
    # HomesteadVM declare BlockHeader, and PragueVM binds a staticmethod under its own type: ignore.
    # No signature satisfies all of them, hence the ignore (py-evm's typing, not this code).
    @staticmethod
    def create_header_from_parent(  # type: ignore[override]
            parent_header: BlockHeaderAPI | None, **header_params: Any) -> BlockHeaderAPI:
        header = PragueVM.create_header_from_parent(parent_header, **header_params)
        if parent_header is None:
            return header
        return header.copy(base_fee_per_gas=base_fee_after(parent_header))

    @classmethod
    def validate_gas(cls, header: BlockHeaderAPI, parent_header: BlockHeaderAPI) -> None:
        validate_gas_limit(header.gas_limit, parent_header.gas_limit)
        expected = base_fee_after(parent_header)
        if header.base_fee_per_gas != expected:
            raise ValidationError(
                f"Header has invalid base fee per gas (has {header.base_fee_per_gas}, expected {expected})")

    # --- block tries: py-evm's VM methods, with this VM's trie builder ---------------------------
    def set_block_transactions_and_withdrawals(
        self,
        base_block: BlockAPI,
        new_header: BlockHeaderAPI,
        transactions: Sequence[SignedTransactionAPI],
        receipts: Sequence[ReceiptAPI],
        withdrawals: Sequence[WithdrawalAPI] | None = None,
    ) -> BlockAPI:
        tx_root_hash, tx_kv_nodes = self.trie_root_and_nodes(transactions)
        self.chaindb.persist_trie_data_dict(tx_kv_nodes)

        receipt_root_hash, receipt_kv_nodes = self.trie_root_and_nodes(receipts)
        self.chaindb.persist_trie_data_dict(receipt_kv_nodes)

        block_fields: dict[str, object] = {"transactions": transactions}
        block_header_fields = {"transaction_root": tx_root_hash, "receipt_root": receipt_root_hash}

        if withdrawals:
            withdrawals_root_hash, withdrawal_kv_nodes = self.trie_root_and_nodes(withdrawals)
            self.chaindb.persist_trie_data_dict(withdrawal_kv_nodes)

            block_fields["withdrawals"] = withdrawals
            block_header_fields["withdrawals_root"] = withdrawals_root_hash

        block_fields["header"] = new_header.copy(**block_header_fields)

        return base_block.copy(**block_fields)

    def validate_block(self, block: BlockAPI) -> None:
        """``VM.validate_block`` then, as Cancun adds, ``validate_block_blobs``."""
        if not isinstance(block, self.get_block_class()):
            raise ValidationError(f"This vm ({self!r}) is not equipped to validate a block of type {block!r}")

        if block.is_genesis:
            validate_length_lte(block.header.extra_data, self.extra_data_max_bytes, title="BlockHeader.extra_data")
        else:
            parent_header = get_parent_header(block.header, self.chaindb)
            self.validate_header(block.header, parent_header)

        tx_root_hash, _ = self.trie_root_and_nodes(block.transactions)
        if tx_root_hash != block.header.transaction_root:
            raise ValidationError(
                f"Block's transaction_root ({block.header.transaction_root!r}) "
                f"does not match expected value: {tx_root_hash!r}"
            )

        if len(block.uncles) > MAX_UNCLES:
            raise ValidationError(f"Blocks may have a maximum of {MAX_UNCLES} uncles.  Found {len(block.uncles)}.")

        if not self.chaindb.exists(block.header.state_root):
            # If not in the db, check if the current state root matches.
            if not self.state.make_state_root() == block.header.state_root:
                raise ValidationError(
                    "`state_root` does not match or was not found in the db.\n"
                    f"- state_root: {block.header.state_root!r}"
                )

        local_uncle_hash = keccak(rlp.encode(block.uncles))
        if local_uncle_hash != block.header.uncles_hash:
            raise ValidationError(
                "`uncles_hash` and block `uncles` do not match.\n"
                f" - num_uncles       : {len(block.uncles)}\n"
                f" - block uncle_hash : {local_uncle_hash!r}\n"
                f" - header uncle_hash: {block.header.uncles_hash!r}"
            )

        self.validate_block_blobs(block)
