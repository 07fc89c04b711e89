"""The chain backend's rules: ordered blocks, reverts that pay, atomic rejection, EIP-1559,
determinism, snapshots and the web3 escape hatch, all checked on PyEVMChain."""

from __future__ import annotations

import dataclasses

import pytest
from eth_utils import to_checksum_address

from sandbox.chain import (
    CallReverted,
    InvalidTransaction,
    PyEVMChain,
    SignedTx,
    TxRequest,
    anchor,
    deploy,
    execute,
)

SENDERS = [f"sender-{i}" for i in range(4)]
LABELS = ["deployer", "other", *SENDERS]
COINBASE = "0x000000000000000000000000000000000000c0DE"
TOKEN_UNIT = 10**18
TRANSFER_GAS = 100_000


@pytest.fixture
def chain() -> PyEVMChain:
    return PyEVMChain(seed=7, accounts=LABELS)


@pytest.fixture
def token(chain):
    """A Token with 1000 units minted to each sender."""
    deployer = chain.account("deployer")
    (tok,) = deploy(chain, deployer, [("Token", ("Test", "TST"))])
    execute(chain, [tok.tx(deployer, "mint", chain.account(s).address, 1000 * TOKEN_UNIT)
                    for s in SENDERS])
    return tok


def transfer(chain, token, sender_label: str, nonce: int, amount: int, to: str | None = None,
             **fields) -> SignedTx:
    sender = chain.account(sender_label)
    return chain.sign(token.tx(sender, "transfer", to or chain.account("other").address, amount,
                               nonce=nonce, gas=fields.pop("gas", TRANSFER_GAS), **fields))


def round_robin_block(chain, token, n: int = 52, revert_at: int | None = None):
    """``n`` transfers, senders in turn, explicit consecutive nonces, unique amounts.

    The transaction at ``revert_at`` transfers more than its sender holds and reverts.
    """
    nonces = {s: chain.nonce(chain.account(s).address) for s in SENDERS}
    txs, amounts = [], []
    for i in range(n):
        label = SENDERS[i % len(SENDERS)]
        amount = 10**6 * TOKEN_UNIT if i == revert_at else (i + 1) * 1000 + 7
        txs.append(transfer(chain, token, label, nonces[label], amount))
        nonces[label] += 1
        amounts.append(amount)
    return txs, amounts


def state_fingerprint(chain, token) -> dict:
    """Everything a rejected block must leave untouched."""
    addresses = [a.address for a in chain.accounts]
    latest = chain.web3.eth.get_block("latest")
    return {
        "block_number": chain.block_number,
        "timestamp": chain.timestamp,
        "state_root": bytes(latest["stateRoot"]),
        "block_hash": bytes(latest["hash"]),
        "next_base_fee": chain.next_base_fee,
        "eth": {a: chain.balance(a) for a in addresses},
        "nonces": {a: chain.nonce(a) for a in addresses},
        "tokens": {a: token.call("balanceOf", a) for a in addresses},
    }


# --- ordering, reverts and gas -----------------------------------------------------------

def test_block_executes_transactions_in_exactly_the_given_order(chain, token):
    txs, amounts = round_robin_block(chain, token, n=52)
    block = chain.execute_block(txs, timestamp=chain.timestamp + 12)

    assert [r.index for r in block.receipts] == list(range(52))
    assert [r.tx_hash for r in block.receipts] == [t.hash for t in txs]
    assert all(r.succeeded for r in block.receipts)
    transfers = [log for log in block.logs if log.name == "Transfer"]
    assert [log.args["value"] for log in transfers] == amounts
    assert [to_checksum_address(log.args["from"]) for log in transfers] == [t.sender for t in txs]
    assert [log.log_index for log in block.logs] == list(range(len(block.logs)))
    for s in SENDERS:
        assert chain.nonce(chain.account(s).address) == 13


def test_reverting_transaction_is_included_with_its_reason_and_pays_gas(chain, token):
    revert_at = 21  # sender-1's sixth transaction in this block
    txs, amounts = round_robin_block(chain, token, n=52, revert_at=revert_at)
    before = {s: chain.balance(chain.account(s).address) for s in SENDERS}
    block = chain.execute_block(txs, timestamp=chain.timestamp + 12, coinbase=COINBASE)

    failed = block.receipts[revert_at]
    assert failed.status == 0 and not failed.succeeded
    assert failed.revert_reason == "InsufficientBalance()"
    assert failed.logs == ()
    assert failed.gas_used > 21_000
    assert [r.index for r in block.receipts if not r.succeeded] == [revert_at]
    # later transactions of the same sender still ran (its nonce advanced past the revert)
    assert chain.nonce(chain.account("sender-1").address) == 13
    transfers = [log.args["value"] for log in block.logs if log.name == "Transfer"]
    assert transfers == [a for i, a in enumerate(amounts) if i != revert_at]

    assert block.gas_used == sum(r.gas_used for r in block.receipts)
    for s in SENDERS:
        address = chain.account(s).address
        fees = sum(r.fee_paid_wei for r in block.receipts if r.sender == address)
        assert before[s] - chain.balance(address) == fees
    assert failed.fee_paid_wei == failed.gas_used * (block.base_fee_per_gas + 10**9)
    assert failed.effective_gas_price == block.base_fee_per_gas + txs[revert_at].effective_tip(
        block.base_fee_per_gas)


def test_priority_fees_go_to_the_coinbase(chain, token):
    txs, _ = round_robin_block(chain, token, n=8)
    assert chain.balance(COINBASE) == 0
    block = chain.execute_block(txs, timestamp=chain.timestamp + 12, coinbase=COINBASE)
    tips = sum(r.priority_fee_paid_wei for r in block.receipts)
    assert tips > 0
    assert chain.balance(COINBASE) == tips
    assert block.coinbase == COINBASE


# --- invalid transactions: rejected whole, chain unchanged -------------------------------

def _bad_nonce(chain, token):
    return transfer(chain, token, "sender-2", chain.nonce(chain.account("sender-2").address) + 1, 5)


def _no_balance_for_gas(chain, token):
    # 500k gas at 10^22 wei/gas is far beyond the genesis balance of 10^27 wei
    return transfer(chain, token, "sender-2", chain.nonce(chain.account("sender-2").address), 5,
                    gas=500_000, max_fee_per_gas=10**22)


def _max_fee_below_base_fee(chain, token):
    return transfer(chain, token, "sender-2", chain.nonce(chain.account("sender-2").address), 5,
                    max_fee_per_gas=chain.next_base_fee - 1, max_priority_fee_per_gas=0)


def _signed_by_wrong_key(chain, token):
    good = transfer(chain, token, "other", chain.nonce(chain.account("sender-2").address), 5)
    return dataclasses.replace(good, sender=chain.account("sender-2").address)


@pytest.mark.parametrize("make_bad, reason", [
    (_bad_nonce, "nonce"),
    (_no_balance_for_gas, "insufficient balance"),
    (_max_fee_below_base_fee, "base fee"),
    (_signed_by_wrong_key, "signed by"),
], ids=["bad-nonce", "insufficient-balance-for-gas", "max-fee-below-base-fee", "wrong-key"])
def test_invalid_transaction_raises_naming_it_and_leaves_the_chain_unchanged(chain, token, make_bad,
                                                                              reason):
    good = [transfer(chain, token, "sender-0", chain.nonce(chain.account("sender-0").address), 11),
            transfer(chain, token, "sender-1", chain.nonce(chain.account("sender-1").address), 12)]
    bad = make_bad(chain, token)
    before = state_fingerprint(chain, token)

    with pytest.raises(InvalidTransaction) as info:
        chain.execute_block([*good, bad], timestamp=chain.timestamp + 12)

    message = str(info.value)
    assert "transaction 2" in message
    assert bad.sender in message
    assert f"nonce {bad.nonce}" in message
    assert reason in message
    assert state_fingerprint(chain, token) == before

    # the same valid transactions still make a block afterwards
    block = chain.execute_block(good, timestamp=chain.timestamp + 12)
    assert block.number == before["block_number"] + 1
    assert all(r.succeeded for r in block.receipts)
    assert token.call("balanceOf", chain.account("other").address) == 23


def test_block_timestamp_must_increase(chain, token):
    tx = transfer(chain, token, "sender-0", chain.nonce(chain.account("sender-0").address), 1)
    before = state_fingerprint(chain, token)
    with pytest.raises(InvalidTransaction, match="timestamp"):
        chain.execute_block([tx], timestamp=chain.timestamp)
    assert state_fingerprint(chain, token) == before


# --- snapshots ----------------------------------------------------------------------------

def test_revert_to_snapshot_restores_balances_nonces_and_block_number(chain, token):
    before = state_fingerprint(chain, token)
    snap = chain.snapshot()
    txs, _ = round_robin_block(chain, token, n=8)
    chain.execute_block(txs, timestamp=chain.timestamp + 12)
    execute(chain, [], timestamp=chain.timestamp + 12)
    assert chain.block_number == before["block_number"] + 2
    assert state_fingerprint(chain, token) != before

    chain.revert(snap)
    assert state_fingerprint(chain, token) == before
    # the chain goes on from the snapshot: the same nonces are valid again
    block = chain.execute_block(txs, timestamp=chain.timestamp + 12)
    assert block.number == before["block_number"] + 1
    assert all(r.succeeded for r in block.receipts)


def test_anchor_rolls_back_everything_done_inside_it(chain, token):
    before = state_fingerprint(chain, token)
    with anchor(chain) as inner:
        txs, _ = round_robin_block(inner, token, n=8)
        inner.execute_block(txs, timestamp=inner.timestamp + 12)
        assert state_fingerprint(chain, token) != before
    assert state_fingerprint(chain, token) == before


def test_anchor_rolls_back_when_the_body_raises(chain, token):
    before = state_fingerprint(chain, token)
    with pytest.raises(RuntimeError):
        with anchor(chain):
            execute(chain, [token.tx(chain.account("sender-0"), "transfer",
                                     chain.account("other").address, 3)])
            raise RuntimeError("boom")
    assert state_fingerprint(chain, token) == before


# --- EIP-1559 -----------------------------------------------------------------------------

def expected_next_base_fee(base_fee: int, gas_used: int, gas_limit: int) -> int:
    """EIP-1559: move towards the target (half the limit) by at most 1/8 per block."""
    target = gas_limit // 2
    if gas_used == target:
        return base_fee
    if gas_used > target:
        return base_fee + max(base_fee * (gas_used - target) // target // 8, 1)
    return base_fee - base_fee * (target - gas_used) // target // 8


def test_base_fee_follows_eip1559():
    n = 40  # plain ether transfers use exactly 21000 gas: 40 of them fill the block exactly
    chain = PyEVMChain(seed=3, accounts=["a", "b"], gas_limit=21_000 * n)
    a, b = chain.account("a"), chain.account("b")

    def ether_transfers(count):
        start = chain.nonce(a.address)
        return [chain.sign(TxRequest(sender=a, to=b.address, value=1, gas=21_000,
                                     max_fee_per_gas=10**12, nonce=start + i))
                for i in range(count)]

    fees = []
    for count in (n, n, 30, 0, n // 2, 5):  # full, full, above target, empty, at target, below
        base = chain.next_base_fee
        block = chain.execute_block(ether_transfers(count), timestamp=chain.timestamp + 12)
        assert block.base_fee_per_gas == base
        assert block.gas_used == 21_000 * count
        assert chain.next_base_fee == expected_next_base_fee(base, block.gas_used, block.gas_limit)
        fees.append((count, base, chain.next_base_fee))

    for count, base, nxt in fees:
        if count == n:
            assert nxt == base + base // 8  # a full block raises the base fee by 12.5%
        elif count == 0:
            assert nxt == base - base // 8  # an empty block lowers it by 12.5%
        elif count == n // 2:
            assert nxt == base
        elif count > n // 2:
            assert base < nxt < base + base // 8
        else:
            assert base - base // 8 < nxt < base


def test_token_transfers_above_target_raise_the_base_fee():
    chain = PyEVMChain(seed=4, accounts=LABELS, gas_limit=2_000_000)
    deployer = chain.account("deployer")
    (tok,) = deploy(chain, deployer, [("Token", ("Test", "TST"))])
    execute(chain, [tok.tx(deployer, "mint", chain.account(s).address, 10**24) for s in SENDERS])
    nonces = {s: chain.nonce(chain.account(s).address) for s in SENDERS}
    txs = []
    for i in range(32):  # each to a fresh recipient: a new storage slot, about 50k gas
        label = SENDERS[i % 4]
        txs.append(transfer(chain, tok, label, nonces[label], 1 + i, to=f"0x{i + 1:040x}",
                            gas=60_000))
        nonces[label] += 1
    base = chain.next_base_fee
    block = chain.execute_block(txs, timestamp=chain.timestamp + 12)
    assert all(r.succeeded for r in block.receipts)
    assert block.gas_used > block.gas_limit // 2
    assert chain.next_base_fee == expected_next_base_fee(base, block.gas_used, block.gas_limit)
    assert chain.next_base_fee > base


def test_background_gas_takes_block_room_and_counts_for_the_base_fee():
    chain = PyEVMChain(seed=3, accounts=["a", "b"], gas_limit=1_000_000)
    a, b = chain.account("a"), chain.account("b")
    base = chain.next_base_fee
    tx = chain.sign(TxRequest(sender=a, to=b.address, value=1, gas=21_000, nonce=0))
    block = chain.execute_block([tx], timestamp=chain.timestamp + 12, background_gas=900_000)
    assert block.gas_used == 21_000 and block.background_gas == 900_000
    assert chain.next_base_fee == expected_next_base_fee(base, 921_000, 1_000_000)
    assert chain.next_base_fee > base
    too_big = chain.sign(TxRequest(sender=a, to=b.address, value=1, gas=21_000, nonce=1))
    with pytest.raises(InvalidTransaction, match="transaction 0"):
        chain.execute_block([too_big], timestamp=chain.timestamp + 12, background_gas=990_000)
    assert chain.nonce(a.address) == 1


# --- determinism ----------------------------------------------------------------------------

def test_accounts_are_derived_deterministically_from_the_seed():
    same_a = PyEVMChain(seed=11, accounts=["x", "y", "z"])
    same_b = PyEVMChain(seed=11, accounts=["x", "y", "z"])
    other = PyEVMChain(seed=12, accounts=["x", "y", "z"])
    addresses = [a.address for a in same_a.accounts]
    assert addresses == [a.address for a in same_b.accounts]
    assert len(set(addresses)) == 3
    assert not set(addresses) & {a.address for a in other.accounts}
    assert same_a.account("y").private_key == same_b.account("y").private_key


def _scripted_history(seed: int) -> list[bytes]:
    """Deploy, mint, a block with a revert, an oracle round (stores block.timestamp), a gap."""
    chain = PyEVMChain(seed=seed, accounts=LABELS)
    deployer = chain.account("deployer")
    tok, oracle = deploy(chain, deployer, [("Token", ("Test", "TST")),
                                           ("PriceOracle", (deployer.address, 60, "t"))])
    execute(chain, [tok.tx(deployer, "mint", chain.account(s).address, 1000 * TOKEN_UNIT)
                    for s in SENDERS])
    txs, _ = round_robin_block(chain, tok, n=12, revert_at=5)
    chain.execute_block(txs, timestamp=chain.timestamp + 12, coinbase=COINBASE)
    execute(chain, [oracle.tx(deployer, "submit", 1234)], timestamp=chain.timestamp + 12)
    execute(chain, [], timestamp=chain.timestamp + 3600)
    return [bytes(chain.web3.eth.get_block(n)["hash"]) for n in range(chain.block_number + 1)]


def fake_wall_clock(monkeypatch, now: int) -> None:
    """py-evm's idea of "now" (it stamps pending headers with it)."""
    monkeypatch.setattr("eth._utils.headers.eth_now", lambda: now)


def test_same_seed_and_transactions_give_identical_block_hashes(monkeypatch):
    fake_wall_clock(monkeypatch, 1_800_000_000)
    first = _scripted_history(5)
    fake_wall_clock(monkeypatch, 1_900_000_000)  # a later run on another day
    second = _scripted_history(5)
    assert len(first) == 6
    assert first == second
    assert _scripted_history(6)[1:] != first[1:]


def test_transactions_see_the_block_timestamp_they_are_executed_in(chain, monkeypatch):
    fake_wall_clock(monkeypatch, 1_900_000_000)
    deployer = chain.account("deployer")
    (oracle,) = deploy(chain, deployer, [("PriceOracle", (deployer.address, 0, "t"))])
    block = execute(chain, [oracle.tx(deployer, "submit", 1234)], timestamp=chain.timestamp + 12)
    (event,) = block.receipts[0].events("AnswerUpdated")
    assert event.args["updatedAt"] == block.timestamp == chain.timestamp
    assert oracle.call("latestRoundData")[3] == block.timestamp


def test_calls_see_the_latest_block_not_the_wall_clock(chain, token, monkeypatch):
    """Views are deterministic: block.timestamp/number inside a call come from the chain."""
    fake_wall_clock(monkeypatch, 1_900_000_000)
    deployer = chain.account("deployer")
    (lens, oracle) = deploy(chain, deployer, [("Lens", ()),
                                              ("PriceOracle", (deployer.address, 0, "t"))])
    (market,) = deploy(chain, deployer, [("LendingMarket", (token.address, token.address,
                                                            oracle.address, 8 * 10**17,
                                                            85 * 10**16, deployer.address, 0))])
    view = lens.call("marketState", market.address)  # reports block.timestamp and block.number
    assert view["timestamp"] == chain.timestamp
    assert view["blockNumber"] == chain.block_number


# --- reading through the interface and through web3 -------------------------------------------

def test_web3_sees_the_same_blocks_balances_and_contract_state(chain, token):
    txs, _ = round_robin_block(chain, token, n=8)
    block = chain.execute_block(txs, timestamp=chain.timestamp + 12)
    w3 = chain.web3
    assert w3.eth.block_number == chain.block_number == block.number
    latest = w3.eth.get_block("latest")
    assert bytes(latest["hash"]) == block.hash
    assert latest["timestamp"] == block.timestamp
    assert len(latest["transactions"]) == 8
    for account in chain.accounts:
        assert w3.eth.get_balance(account.address) == chain.balance(account.address)
        assert w3.eth.get_transaction_count(account.address) == chain.nonce(account.address)
    handle = w3.eth.contract(address=token.address, abi=_token_abi())
    for label in ["other", *SENDERS]:
        address = chain.account(label).address
        assert handle.functions.balanceOf(address).call() == token.call("balanceOf", address)
    assert handle.functions.totalSupply().call() == token.call("totalSupply") == 4000 * TOKEN_UNIT


def _token_abi():
    from sandbox.contracts import load_artifact

    return [dict(item) for item in load_artifact("Token").abi]


def test_decoded_addresses_are_checksummed_like_account_addresses(chain, token):
    """Addresses in event args and call results compare equal to Account.address (EIP-55)."""
    sender = chain.account("sender-0")
    block = execute(chain, [token.tx(sender, "transfer", chain.account("other").address, 1)])
    (log,) = block.receipts[0].events("Transfer")
    assert log.args["from"] == sender.address
    assert log.args["to"] == chain.account("other").address
    assert token.call("minter") == chain.account("deployer").address


def test_reverting_call_raises_call_reverted_with_the_decoded_reason(chain, token):
    poor = chain.account("other").address
    with pytest.raises(CallReverted) as info:
        token.call("transfer", chain.account("deployer").address, 1, sender=poor)
    assert info.value.reason == "InsufficientBalance()"
    with pytest.raises(CallReverted, match=r"NotMinter\(\)"):
        token.call("mint", poor, 1, sender=poor)
    # a call changes nothing
    assert token.call("balanceOf", poor) == 0


def test_contract_creation_receipt_has_the_contract_address(chain):
    deployer = chain.account("deployer")
    from sandbox.chain import creation_tx

    block = execute(chain, [creation_tx(deployer, "Token", "A", "A"),
                            creation_tx(deployer, "Token", "B", "B")])
    created = [r.contract_address for r in block.receipts]
    assert None not in created and len(set(created)) == 2
    for address in created:
        assert len(chain.code(address)) > 0
    assert block.receipts[0].to is None
    # a plain call has no contract address
    call_block = execute(chain, [TxRequest(sender=deployer, to=created[0], data=b"", gas=50_000)],
                         require_success=False)
    assert call_block.receipts[0].contract_address is None
