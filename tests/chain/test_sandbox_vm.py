"""The one-pass trie builder is the sandbox VM's own: a sandbox chain builds and checks its blocks'
tries with it (same roots and nodes as py-evm's), and py-evm's modules and VMs are left as they are."""

from __future__ import annotations

import eth.db.chain
import eth.db.trie
import eth.vm.base
import pytest
from eth.vm.base import VM
from eth.vm.forks.prague import PragueVM
from eth_utils import ValidationError

from sandbox.chain import PyEVMChain, deploy, execute
from sandbox.chain.ordered_trie import make_trie_root_and_nodes
from sandbox.chain.vm import SandboxVM
from sandbox.testing.chain import COINBASE, LABELS, SENDERS, TOKEN_UNIT, round_robin_block

PYEVM_TRIE = eth.db.trie.make_trie_root_and_nodes


@pytest.fixture
def chain_and_block(monkeypatch):
    """A sandbox chain and its latest block: 40 token transfers (logs in the receipts, one
    revert), mined while py-evm's module-level trie function refuses to be called and the
    sandbox VM's builder is counted."""
    chain = PyEVMChain(seed=3, accounts=LABELS)
    deployer = chain.account("deployer")
    (token,) = deploy(chain, deployer, [("Token", ("Test", "TST"))])
    execute(chain, [token.tx(deployer, "mint", chain.account(s).address, 1000 * TOKEN_UNIT) for s in SENDERS])
    txs, _ = round_robin_block(chain, token, n=40, revert_at=7)

    built: list[int] = []

    def counted(items):
        built.append(len(items))
        return make_trie_root_and_nodes(items)

    def refused(items):
        raise AssertionError("py-evm's module-level trie function was called on a sandbox chain")

    monkeypatch.setattr(SandboxVM, "trie_root_and_nodes", staticmethod(counted))
    monkeypatch.setattr(eth.vm.base, "make_trie_root_and_nodes", refused)
    result = chain.execute_block(txs, timestamp=chain.timestamp + 12, coinbase=COINBASE)
    monkeypatch.undo()
    assert [r.status for r in result.receipts].count(0) == 1
    # the transaction and receipt tries when the block is built, the transaction trie when it is checked
    assert built == [40, 40, 40]
    block = chain._chain.get_canonical_block_by_number(result.number)
    return chain, block


def test_a_sandbox_block_has_py_evms_roots_and_nodes(chain_and_block):
    chain, block = chain_and_block
    receipts = block.get_receipts(chain._chain.chaindb)
    assert len(block.transactions) == len(receipts) == 40
    for items, root in ((block.transactions, block.header.transaction_root),
                        (receipts, block.header.receipt_root)):
        ours, pyevm = make_trie_root_and_nodes(items), PYEVM_TRIE(items)
        assert ours == pyevm
        assert ours[0] == root
        assert all(chain._chain.chaindb.db[key] == node for key, node in ours[1].items())  # stored


def test_the_sandbox_vm_checks_the_transaction_root_with_its_builder(chain_and_block):
    chain, block = chain_and_block
    vm = chain._chain.get_vm(block.header)
    assert isinstance(vm, SandboxVM)
    vm.validate_block(block)
    wrong = block.copy(header=block.header.copy(transaction_root=PYEVM_TRIE(block.transactions[:-1])[0]))
    with pytest.raises(ValidationError, match="transaction_root"):
        vm.validate_block(wrong)


def test_py_evm_itself_is_left_as_it_is(chain_and_block):
    # importing sandbox and running a sandbox chain changed none of py-evm's module functions
    assert eth.vm.base.make_trie_root_and_nodes is PYEVM_TRIE
    assert eth.db.chain.make_trie_root_and_nodes is PYEVM_TRIE
    assert PYEVM_TRIE.__module__ == "eth.db.trie"
    # nor py-evm's VM classes: the builder and the methods using it are the sandbox VM's own
    assert not hasattr(PragueVM, "trie_root_and_nodes")
    assert PragueVM.set_block_transactions_and_withdrawals is VM.set_block_transactions_and_withdrawals
    assert SandboxVM.trie_root_and_nodes is make_trie_root_and_nodes
