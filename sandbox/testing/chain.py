"""The rules every chain backend must follow, written once and run against each backend.

Subclass ``ChainConformance`` in a test module and give it a ``chain_factory`` fixture: a
callable taking ``seed``, ``accounts`` and optionally ``gas_limit`` and returning a fresh chain
of your backend (and closing it at teardown)::

    import pytest
    from sandbox.testing.chain import ChainConformance
    from my_backend import MyChain

    @pytest.fixture
    def chain_factory():
        chains = []
        def make(**kwargs):
            chains.append(MyChain(**kwargs))
            return chains[-1]
        yield make
        for chain in chains:
            chain.close()

    class TestMyChain(ChainConformance):
        pass

Some rules compare the backend with the reference (``PyEVMChain``) on the same requests:
transaction hashes, receipts, gas and decoded logs must be equal; block hashes may differ.
"""

from __future__ import annotations

import dataclasses

import pytest

from sandbox.chain import (
    CallReverted,
    InvalidTransaction,
    PyEVMChain,
    SignedTx,
    TxRequest,
    anchor,
    creation_tx,
    deploy,
    execute,
)

SENDERS = [f"sender-{i}" for i in range(4)]
LABELS = ["deployer", "other", *SENDERS]
COINBASE = "0x000000000000000000000000000000000000c0DE"
TOKEN_UNIT = 10**18
TRANSFER_GAS = 100_000
# Creation code whose runtime is the single byte 0xfe (INVALID): any call to it halts.
INVALID_RUNTIME_INITCODE = bytes.fromhex("60fe5f5360015ff3")


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
    """Everything a rejected block must leave untouched (read through the interface and web3)."""
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


def expected_next_base_fee(base_fee: int, gas_used: int, gas_limit: int) -> int:
    """EIP-1559: move towards the target (half the limit) by at most 1/8 per block."""
    target = gas_limit // 2
    if gas_used == target:
        return base_fee
    if gas_used > target:
        return base_fee + max(base_fee * (gas_used - target) // target // 8, 1)
    return base_fee - base_fee * (target - gas_used) // target // 8


def scripted_history(chain) -> list:
    """Deploy, mint, a block with a revert and an out-of-gas halt, an oracle round, a gap, a
    block with background gas; returns every BlockResult."""
    deployer = chain.account("deployer")
    blocks = []
    tok, oracle = deploy(chain, deployer, [("Token", ("Test", "TST")),
                                           ("PriceOracle", (deployer.address, 60, "t"))])
    blocks.append(execute(chain, [tok.tx(deployer, "mint", chain.account(s).address, 1000 * TOKEN_UNIT)
                                  for s in SENDERS]))
    txs, _ = round_robin_block(chain, tok, n=12, revert_at=5)
    txs.append(transfer(chain, tok, "other", chain.nonce(chain.account("other").address), 1, gas=25_000))
    blocks.append(chain.execute_block(txs, timestamp=chain.timestamp + 12, coinbase=COINBASE))
    blocks.append(execute(chain, [oracle.tx(deployer, "submit", 1234)], timestamp=chain.timestamp + 12))
    blocks.append(execute(chain, [], timestamp=chain.timestamp + 3600))
    sender = chain.account("sender-0")
    blocks.append(chain.execute_block(
        [chain.sign(tok.tx(sender, "approve", COINBASE, 5, nonce=chain.nonce(sender.address)))],
        timestamp=chain.timestamp + 12, background_gas=20_000_000))
    blocks.append(execute(chain, [], timestamp=chain.timestamp + 12))
    return blocks


def without_hashes(block) -> dict:
    """A block as a comparable dict, less its hash (backends build different headers)."""
    fields = dataclasses.asdict(block)
    del fields["hash"]
    return fields


class ChainConformance:
    """The chain interface's rules; needs a ``chain_factory`` fixture (see the module doc)."""

    @pytest.fixture
    def chain(self, chain_factory):
        return chain_factory(seed=7, accounts=LABELS)

    @pytest.fixture
    def token(self, chain):
        """A Token with 1000 units minted to each sender."""
        deployer = chain.account("deployer")
        (tok,) = deploy(chain, deployer, [("Token", ("Test", "TST"))])
        execute(chain, [tok.tx(deployer, "mint", chain.account(s).address, 1000 * TOKEN_UNIT)
                        for s in SENDERS])
        return tok

    # --- ordering, reverts and gas -------------------------------------------------------

    def test_block_executes_transactions_in_exactly_the_given_order(self, chain, token):
        txs, amounts = round_robin_block(chain, token, n=52)
        block = chain.execute_block(txs, timestamp=chain.timestamp + 12)

        assert [r.index for r in block.receipts] == list(range(52))
        assert [r.tx_hash for r in block.receipts] == [t.hash for t in txs]
        assert all(r.succeeded for r in block.receipts)
        transfers = [log for log in block.logs if log.name == "Transfer"]
        assert [log.args["value"] for log in transfers] == amounts
        assert [log.args["from"] for log in transfers] == [t.sender for t in txs]
        assert [log.log_index for log in block.logs] == list(range(len(block.logs)))
        for s in SENDERS:
            assert chain.nonce(chain.account(s).address) == 13

    def test_one_senders_transactions_run_in_nonce_order_within_a_block(self, chain, token):
        nonce = chain.nonce(chain.account("sender-3").address)
        txs = [transfer(chain, token, "sender-3", nonce + i, 100 + i) for i in range(30)]
        block = chain.execute_block(txs, timestamp=chain.timestamp + 12)
        assert [log.args["value"] for log in block.logs] == [100 + i for i in range(30)]
        assert chain.nonce(chain.account("sender-3").address) == nonce + 30

    def test_reverting_transaction_is_included_with_its_reason_and_pays_gas(self, chain, token):
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

    def test_a_transaction_out_of_gas_is_included_uses_all_its_gas_and_says_so(self, chain, token):
        tx = transfer(chain, token, "sender-0", chain.nonce(chain.account("sender-0").address), 1,
                      gas=25_000)
        block = chain.execute_block([tx], timestamp=chain.timestamp + 12)
        (receipt,) = block.receipts
        assert receipt.status == 0 and receipt.gas_used == 25_000
        assert receipt.revert_reason == "OutOfGas"

    def test_a_halt_on_an_invalid_opcode_is_named_the_same_way_everywhere(self, chain):
        deployer = chain.account("deployer")
        block = execute(chain, [TxRequest(sender=deployer, to=None, data=INVALID_RUNTIME_INITCODE, gas=100_000)])
        target = block.receipts[0].contract_address
        assert chain.code(target) == b"\xfe"
        hit = execute(chain, [TxRequest(sender=deployer, to=target, gas=50_000)], require_success=False)
        assert hit.receipts[0].revert_reason == "InvalidInstruction"
        with pytest.raises(CallReverted, match="InvalidInstruction"):
            chain.call(target, b"")

    def test_priority_fees_go_to_the_coinbase(self, chain, token):
        txs, _ = round_robin_block(chain, token, n=8)
        assert chain.balance(COINBASE) == 0
        block = chain.execute_block(txs, timestamp=chain.timestamp + 12, coinbase=COINBASE)
        tips = sum(r.priority_fee_paid_wei for r in block.receipts)
        assert tips > 0
        assert chain.balance(COINBASE) == tips
        assert block.coinbase == COINBASE

    # --- invalid transactions: rejected whole, chain unchanged ---------------------------

    @staticmethod
    def _bad_nonce(chain, token):
        return transfer(chain, token, "sender-2", chain.nonce(chain.account("sender-2").address) + 1, 5)

    @staticmethod
    def _no_balance_for_gas(chain, token):
        # 500k gas at 10^22 wei/gas is far beyond the genesis balance of 10^27 wei
        return transfer(chain, token, "sender-2", chain.nonce(chain.account("sender-2").address), 5,
                        gas=500_000, max_fee_per_gas=10**22)

    @staticmethod
    def _max_fee_below_base_fee(chain, token):
        return transfer(chain, token, "sender-2", chain.nonce(chain.account("sender-2").address), 5,
                        max_fee_per_gas=chain.next_base_fee - 1, max_priority_fee_per_gas=0)

    @staticmethod
    def _tip_above_max_fee(chain, token):
        return transfer(chain, token, "sender-2", chain.nonce(chain.account("sender-2").address), 5,
                        max_fee_per_gas=10**11, max_priority_fee_per_gas=10**11 + 1)

    @staticmethod
    def _gas_below_the_calldata_floor(chain, token):
        # 68 bytes of calldata, mostly zeros: under 22,000 gas of intrinsic cost, but EIP-7623's
        # floor (10 gas per token, 4 tokens per non-zero byte) asks for more
        return transfer(chain, token, "sender-2", chain.nonce(chain.account("sender-2").address), 0,
                        gas=22_000)

    @staticmethod
    def _signed_by_wrong_key(chain, token):
        good = transfer(chain, token, "other", chain.nonce(chain.account("sender-2").address), 5)
        return dataclasses.replace(good, sender=chain.account("sender-2").address)

    @pytest.mark.parametrize("make_bad, reason", [
        ("_bad_nonce", "nonce"),
        ("_no_balance_for_gas", "insufficient balance"),
        ("_max_fee_below_base_fee", "base fee"),
        ("_tip_above_max_fee", "priority fee"),
        ("_gas_below_the_calldata_floor", "intrinsic gas"),
        ("_signed_by_wrong_key", "signed by"),
    ], ids=["bad-nonce", "insufficient-balance-for-gas", "max-fee-below-base-fee", "tip-above-max-fee",
            "gas-below-calldata-floor", "wrong-key"])
    def test_invalid_transaction_raises_naming_it_and_leaves_the_chain_unchanged(self, chain, token,
                                                                                  make_bad, reason):
        good = [transfer(chain, token, "sender-0", chain.nonce(chain.account("sender-0").address), 11),
                transfer(chain, token, "sender-1", chain.nonce(chain.account("sender-1").address), 12)]
        bad = getattr(self, make_bad)(chain, token)
        before = state_fingerprint(chain, token)

        with pytest.raises(InvalidTransaction) as info:
            chain.execute_block([*good, bad], timestamp=chain.timestamp + 12)

        message = str(info.value)
        assert "transaction 2" in message
        assert bad.sender in message
        assert f"nonce {bad.nonce}" in message
        assert reason in message
        assert "\n" not in message
        assert state_fingerprint(chain, token) == before

        # the same valid transactions still make a block afterwards
        block = chain.execute_block(good, timestamp=chain.timestamp + 12)
        assert block.number == before["block_number"] + 1
        assert all(r.succeeded for r in block.receipts)
        assert token.call("balanceOf", chain.account("other").address) == 23

    def test_a_transaction_not_signed_by_this_backend_is_refused(self, chain, token):
        good = transfer(chain, token, "sender-0", chain.nonce(chain.account("sender-0").address), 1)
        foreign = dataclasses.replace(good, raw=object())
        with pytest.raises(InvalidTransaction, match="transaction 0"):
            chain.execute_block([foreign], timestamp=chain.timestamp + 12)

    def test_block_timestamp_must_increase(self, chain, token):
        tx = transfer(chain, token, "sender-0", chain.nonce(chain.account("sender-0").address), 1)
        before = state_fingerprint(chain, token)
        with pytest.raises(InvalidTransaction, match="timestamp"):
            chain.execute_block([tx], timestamp=chain.timestamp)
        assert state_fingerprint(chain, token) == before

    # --- snapshots ------------------------------------------------------------------------

    def test_revert_to_snapshot_restores_balances_nonces_and_block_number(self, chain, token):
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

    def test_a_snapshot_can_be_reverted_to_more_than_once(self, chain, token):
        before = state_fingerprint(chain, token)
        snap = chain.snapshot()
        for _ in range(2):
            txs, _ = round_robin_block(chain, token, n=4)
            chain.execute_block(txs, timestamp=chain.timestamp + 12, background_gas=25_000_000)
            chain.revert(snap)
            assert state_fingerprint(chain, token) == before

    def test_a_snapshot_names_the_head_block(self, chain, token):
        """Callers (the position book, the mechanisms' mirrors) compare snapshot ids with block
        hashes to tell whether the head moved."""
        first = chain.snapshot()
        assert chain.snapshot() == first == bytes(chain.web3.eth.get_block("latest")["hash"])
        block = execute(chain, [], timestamp=chain.timestamp + 12)
        assert chain.snapshot() == block.hash != first
        chain.revert(first)
        assert chain.snapshot() == first

    def test_anchor_rolls_back_everything_done_inside_it(self, chain, token):
        before = state_fingerprint(chain, token)
        with anchor(chain) as inner:
            txs, _ = round_robin_block(inner, token, n=8)
            inner.execute_block(txs, timestamp=inner.timestamp + 12)
            middle = state_fingerprint(chain, token)
            with anchor(chain):
                execute(chain, [token.tx(chain.account("sender-0"), "transfer", COINBASE, 3)])
            assert state_fingerprint(chain, token) == middle != before
        assert state_fingerprint(chain, token) == before

    def test_anchor_rolls_back_when_the_body_raises(self, chain, token):
        before = state_fingerprint(chain, token)
        with pytest.raises(RuntimeError):
            with anchor(chain):
                execute(chain, [token.tx(chain.account("sender-0"), "transfer",
                                         chain.account("other").address, 3)])
                raise RuntimeError("boom")
        assert state_fingerprint(chain, token) == before

    # --- EIP-1559 and background gas --------------------------------------------------------

    def test_base_fee_follows_eip1559(self, chain_factory):
        n = 40  # plain ether transfers use exactly 21000 gas: 40 of them fill the block exactly
        chain = chain_factory(seed=3, accounts=["a", "b"], gas_limit=21_000 * n)
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

    def test_token_transfers_above_target_raise_the_base_fee(self, chain_factory):
        chain = chain_factory(seed=4, accounts=LABELS, gas_limit=2_000_000)
        deployer = chain.account("deployer")
        (tok,) = deploy(chain, deployer, [("Token", ("Test", "TST"))])
        execute(chain, [tok.tx(deployer, "mint", chain.account(s).address, 10**24) for s in SENDERS])
        nonces = {s: chain.nonce(chain.account(s).address) for s in SENDERS}
        txs = []
        for i in range(32):  # each to a fresh recipient: a new storage slot, about 50k gas
            label = SENDERS[i % 4]
            txs.append(transfer(chain, tok, label, nonces[label], 1 + i, to=f"0x{i + 1:040x}", gas=60_000))
            nonces[label] += 1
        base = chain.next_base_fee
        block = chain.execute_block(txs, timestamp=chain.timestamp + 12)
        assert all(r.succeeded for r in block.receipts)
        assert block.gas_used > block.gas_limit // 2
        assert chain.next_base_fee == expected_next_base_fee(base, block.gas_used, block.gas_limit)
        assert chain.next_base_fee > base

    def test_background_gas_takes_block_room_and_counts_for_the_base_fee(self, chain_factory):
        chain = chain_factory(seed=3, accounts=["a", "b"], gas_limit=1_000_000)
        a, b = chain.account("a"), chain.account("b")
        base = chain.next_base_fee
        tx = chain.sign(TxRequest(sender=a, to=b.address, value=1, gas=21_000, nonce=0))
        block = chain.execute_block([tx], timestamp=chain.timestamp + 12, background_gas=900_000)
        assert block.gas_used == 21_000 and block.background_gas == 900_000
        assert chain.next_base_fee == expected_next_base_fee(base, 921_000, 1_000_000)
        assert chain.next_base_fee > base
        after_full = chain.next_base_fee
        execute(chain, [], timestamp=chain.timestamp + 12)  # no background: the fee falls again
        assert chain.next_base_fee == expected_next_base_fee(after_full, 0, 1_000_000)
        too_big = chain.sign(TxRequest(sender=a, to=b.address, value=1, gas=21_000, nonce=1))
        with pytest.raises(InvalidTransaction, match="transaction 0"):
            chain.execute_block([too_big], timestamp=chain.timestamp + 12, background_gas=990_000)
        assert chain.nonce(a.address) == 1

    def test_the_genesis_and_base_fees_equal_the_reference_backends(self, chain_factory):
        chain = chain_factory(seed=5, accounts=["a"])
        reference = PyEVMChain(seed=5, accounts=["a"])
        assert (chain.chain_id, chain.block_number, chain.timestamp, chain.gas_limit, chain.next_base_fee) == (
            reference.chain_id, reference.block_number, reference.timestamp, reference.gas_limit,
            reference.next_base_fee)
        address = chain.account("a").address
        assert chain.balance(address) == reference.balance(address) and chain.nonce(address) == 0
        for background in (30_000_000, 30_000_000, 0, 15_000_000, 7_000_000):
            ours = chain.execute_block([], chain.timestamp + 12, background_gas=background)
            theirs = reference.execute_block([], reference.timestamp + 12, background_gas=background)
            assert (ours.base_fee_per_gas, ours.background_gas) == (theirs.base_fee_per_gas, theirs.background_gas)
            assert chain.next_base_fee == reference.next_base_fee

    # --- determinism and agreement with the reference backend --------------------------------

    def test_accounts_are_derived_deterministically_from_the_seed(self, chain_factory):
        same_a = chain_factory(seed=11, accounts=["x", "y", "z"])
        same_b = PyEVMChain(seed=11, accounts=["x", "y", "z"])
        other = chain_factory(seed=12, accounts=["x", "y", "z"])
        addresses = [a.address for a in same_a.accounts]
        assert addresses == [a.address for a in same_b.accounts]
        assert len(set(addresses)) == 3
        assert not set(addresses) & {a.address for a in other.accounts}
        assert same_a.account("y").private_key == same_b.account("y").private_key

    def test_signed_transactions_hash_as_on_the_reference_backend(self, chain_factory):
        chain = chain_factory(seed=2, accounts=["a", "b"])
        reference = PyEVMChain(seed=2, accounts=["a", "b"])
        a, b = chain.account("a"), chain.account("b")
        for request in [TxRequest(sender=a, to=b.address, value=10**18, gas=21_000, nonce=0),
                        TxRequest(sender=a, to=None, data=b"\x60\x00" * 40, gas=300_000, nonce=7),
                        TxRequest(sender=a, to=b.address, data=b"\x00" * 70, nonce=128,
                                  max_fee_per_gas=10**13, max_priority_fee_per_gas=0)]:
            ours, theirs = chain.sign(request), reference.sign(request)
            assert ours.hash == theirs.hash
            assert dataclasses.replace(ours, raw=None) == dataclasses.replace(theirs, raw=None)

    def test_receipts_gas_and_logs_equal_the_reference_backends(self, chain_factory):
        ours = scripted_history(chain_factory(seed=5, accounts=LABELS))
        theirs = scripted_history(PyEVMChain(seed=5, accounts=LABELS))
        assert [without_hashes(b) for b in ours] == [without_hashes(b) for b in theirs]
        assert any(r.revert_reason == "OutOfGas" for b in ours for r in b.receipts)

    def test_transactions_see_the_block_timestamp_they_are_executed_in(self, chain):
        deployer = chain.account("deployer")
        (oracle,) = deploy(chain, deployer, [("PriceOracle", (deployer.address, 0, "t"))])
        block = execute(chain, [oracle.tx(deployer, "submit", 1234)], timestamp=chain.timestamp + 12)
        (event,) = block.receipts[0].events("AnswerUpdated")
        assert event.args["updatedAt"] == block.timestamp == chain.timestamp
        assert oracle.call("latestRoundData")[3] == block.timestamp

    def test_calls_see_the_latest_block_or_the_timestamp_asked_for(self, chain, token):
        deployer = chain.account("deployer")
        (lens, oracle) = deploy(chain, deployer, [("Lens", ()), ("PriceOracle", (deployer.address, 0, "t"))])
        (market,) = deploy(chain, deployer, [("LendingMarket", (token.address, token.address,
                                                                oracle.address, 8 * 10**17,
                                                                85 * 10**16, deployer.address, 0))])
        view = lens.call("marketState", market.address)  # reports block.timestamp and block.number
        assert (view["timestamp"], view["blockNumber"]) == (chain.timestamp, chain.block_number)
        later = lens.call("marketState", market.address, timestamp=chain.timestamp + 3600)
        assert (later["timestamp"], later["blockNumber"]) == (chain.timestamp + 3600, chain.block_number)
        assert lens.call("marketState", market.address)["timestamp"] == chain.timestamp

    # --- reading through the interface and through web3 ----------------------------------------

    def test_web3_sees_the_same_blocks_balances_and_contract_state(self, chain, token):
        txs, _ = round_robin_block(chain, token, n=8)
        block = chain.execute_block(txs, timestamp=chain.timestamp + 12)
        w3 = chain.web3
        assert w3.eth.block_number == chain.block_number == block.number
        latest = w3.eth.get_block("latest")
        assert bytes(latest["hash"]) == block.hash
        assert latest["timestamp"] == block.timestamp
        assert latest["baseFeePerGas"] == block.base_fee_per_gas
        assert [bytes(h) for h in latest["transactions"]] == [t.hash for t in txs]
        for account in chain.accounts:
            assert w3.eth.get_balance(account.address) == chain.balance(account.address)
            assert w3.eth.get_transaction_count(account.address) == chain.nonce(account.address)
        handle = w3.eth.contract(address=token.address, abi=_token_abi())
        for label in ["other", *SENDERS]:
            address = chain.account(label).address
            assert handle.functions.balanceOf(address).call() == token.call("balanceOf", address)
        assert handle.functions.totalSupply().call() == token.call("totalSupply") == 4000 * TOKEN_UNIT

    def test_decoded_addresses_are_checksummed_like_account_addresses(self, chain, token):
        """Addresses in event args and call results compare equal to Account.address (EIP-55)."""
        sender = chain.account("sender-0")
        block = execute(chain, [token.tx(sender, "transfer", chain.account("other").address, 1)])
        (log,) = block.receipts[0].events("Transfer")
        assert log.args["from"] == sender.address
        assert log.args["to"] == chain.account("other").address
        assert log.address == token.address
        assert token.call("minter") == chain.account("deployer").address

    def test_reverting_call_raises_call_reverted_with_the_decoded_reason(self, chain, token):
        poor = chain.account("other").address
        with pytest.raises(CallReverted) as info:
            token.call("transfer", chain.account("deployer").address, 1, sender=poor)
        assert info.value.reason == "InsufficientBalance()"
        with pytest.raises(CallReverted, match=r"NotMinter\(\)"):
            token.call("mint", poor, 1, sender=poor)
        # a call changes nothing
        assert token.call("balanceOf", poor) == 0

    def test_contract_creation_receipt_has_the_contract_address(self, chain):
        deployer = chain.account("deployer")
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


def _token_abi():
    from sandbox.contracts import load_artifact

    return [dict(item) for item in load_artifact("Token").abi]
