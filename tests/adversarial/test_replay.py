"""Replaying a signed transaction, on every chain backend: a transaction whose nonce is spent, or
one signed for another chain (EIP-155 replay protection), is refused before anything runs and the
chain stays exactly as it was."""

from __future__ import annotations

import pytest
from replay_tools import foreign_signed

from sandbox.chain import CHAIN_BACKENDS, InvalidTransaction, TxRequest, open_chain
from sandbox.chain.anvil import AnvilNotFound, find_anvil

pytestmark = pytest.mark.adversarial


def _backends():
    out = []
    for name in CHAIN_BACKENDS.names():
        marks = []
        if name == "anvil":
            try:
                find_anvil()
            except AnvilNotFound as exc:
                marks = [pytest.mark.skip(reason=f"anvil backend unavailable here: {exc}")]
        out.append(pytest.param(name, marks=marks))
    return out


@pytest.fixture(params=_backends())
def chain(request):
    c = open_chain(request.param, seed=5, accounts=["alice", "bob"])
    yield c
    close = getattr(c, "close", None)
    if close is not None:
        close()


def _refused(chain, signed, why: str) -> None:
    head, balances = chain.snapshot(), [chain.balance(a.address) for a in chain.accounts]
    with pytest.raises(InvalidTransaction, match=why):
        chain.execute_block([signed], chain.timestamp + 12)
    assert chain.snapshot() == head
    assert [chain.balance(a.address) for a in chain.accounts] == balances


@pytest.mark.parametrize("other_chain_id", [0, 1, 31338])
def test_a_transaction_signed_for_another_chain_is_refused(chain, other_chain_id):
    alice, bob = chain.account("alice"), chain.account("bob")
    assert other_chain_id != chain.chain_id
    request = TxRequest(sender=alice, to=bob.address, value=10**18, gas=21_000)
    _refused(chain, foreign_signed(chain, request, other_chain_id), "chain id")
    # the same transfer signed for this chain goes through
    block = chain.execute_block([chain.sign(request)], chain.timestamp + 12)
    assert block.receipts[0].succeeded


def test_a_landed_transaction_cannot_land_again(chain):
    alice, bob = chain.account("alice"), chain.account("bob")
    signed = chain.sign(TxRequest(sender=alice, to=bob.address, value=10**18, gas=21_000))
    assert chain.execute_block([signed], chain.timestamp + 12).receipts[0].succeeded
    _refused(chain, signed, "nonce")
