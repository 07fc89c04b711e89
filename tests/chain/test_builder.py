"""Block production: public mempool, ordering policies, replacement, private bundles, background gas.

Every transaction is an ERC-20 transfer of a unique amount to a sink, so the executed order is
read from the block's Transfer events, independently of the builder's own bookkeeping.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from sandbox.chain import ChainError, PyEVMChain, deploy, execute
from sandbox.chain.builder import BackgroundDemand, BlockBuilder
from sandbox.chain.mempool import Mempool, ReplacementUnderpriced

GWEI = 10**9
SINK = "0x000000000000000000000000000000000000dEaD"
GAS = 100_000


class Env:
    def __init__(self, senders: list[str], seed: int = 11):
        self.chain = PyEVMChain(seed=seed, accounts=["deployer", *senders])
        deployer = self.chain.account("deployer")
        (self.token,) = deploy(self.chain, deployer, [("Token", ("T", "T"))])
        execute(self.chain, [self.token.tx(deployer, "mint", self.chain.account(s).address, 10**30)
                             for s in senders])
        self.pool = Mempool(self.chain)

    def acct(self, label: str):
        return self.chain.account(label)

    def transfer(self, label: str, amount: int, nonce: int, tip: int,
                 max_fee: int = 100 * GWEI, gas: int = GAS):
        """A transfer tipping ``tip`` capped at ``max_fee`` (EIP-1559 forbids a tip above the max fee)."""
        return self.chain.sign(self.token.tx(
            self.acct(label), "transfer", SINK, amount, nonce=nonce, gas=gas,
            max_fee_per_gas=max_fee, max_priority_fee_per_gas=min(tip, max_fee)))

    def produce(self, builder: BlockBuilder, background: BackgroundDemand | None = None):
        return builder.produce(self.chain, self.pool, self.chain.timestamp + 12, background)


def amounts(produced) -> list[int]:
    """Transferred amounts in executed order (the order of Transfer events in the block)."""
    assert all(r.succeeded for r in produced.receipts)
    return [log.args["value"] for log in produced.result.logs if log.name == "Transfer"]


def pending_hashes(pool: Mempool) -> set[bytes]:
    return {p.hash for p in pool.pending()}


# --- ordering ---------------------------------------------------------------------------------

def test_priority_fee_orders_by_effective_tip_with_each_sender_in_nonce_order():
    senders = [f"s{i}" for i in range(10)]
    env = Env(senders)
    rng = np.random.default_rng(5)
    base_fee = env.chain.next_base_fee
    txs = {}
    order = [(s, n) for s in senders for n in range(6)]
    rng.shuffle(order)  # submitted out of nonce order too
    for k, (s, n) in enumerate(order):
        amount = 1000 + k
        tip = int(rng.integers(1, 40)) * GWEI // 4
        max_fee = 100 * GWEI
        if k % 9 == 0:  # capped by max fee: effective tip is far below the priority fee
            max_fee = base_fee + tip // 10
        tx = env.transfer(s, amount, n, tip, max_fee=max_fee)
        txs[amount] = tx
        env.pool.submit(tx, agent=s, tag="borrower")
    assert len(env.pool) == 60

    produced = env.produce(BlockBuilder(rng=np.random.default_rng(1)))
    landed = amounts(produced)
    assert sorted(landed) == sorted(txs)
    assert len(env.pool) == 0

    # Replay: each landed tx is its sender's next nonce and tips at least every other sender's next.
    remaining = {a: tx for a, tx in txs.items()}
    next_nonce = {env.acct(s).address: 0 for s in senders}
    tip = lambda tx: tx.effective_tip(base_fee)  # noqa: E731
    for amount in landed:
        tx = remaining.pop(amount)
        assert tx.nonce == next_nonce[tx.sender]
        heads = [t for t in remaining.values() if t.nonce == next_nonce[t.sender]]
        assert all(tip(tx) >= tip(h) for h in heads), amount
        next_nonce[tx.sender] += 1
    # the capped transactions really were ordered by effective, not nominal, tip
    assert any(tip(t) < t.max_priority_fee_per_gas for t in txs.values())


def test_fifo_keeps_submission_order_with_each_sender_in_nonce_order():
    env = Env(["a", "b", "c"])
    expected = []
    for k in range(12):
        s = "abc"[k % 3]
        amount = 500 + k
        # later submissions tip more: a priority-fee builder would reverse this order
        env.pool.submit(env.transfer(s, amount, k // 3, tip=(k + 1) * GWEI), agent=s, tag="x")
        expected.append(amount)
    produced = env.produce(BlockBuilder("fifo"))
    assert amounts(produced) == expected
    # and the priority-fee policy would not have kept it (so this test can fail)
    env2 = Env(["a", "b", "c"])
    for k in range(12):
        s = "abc"[k % 3]
        env2.pool.submit(env2.transfer(s, 500 + k, k // 3, tip=(k + 1) * GWEI), agent=s, tag="x")
    assert amounts(env2.produce(BlockBuilder())) != expected


def test_fifo_puts_a_senders_later_nonce_after_its_earlier_one_even_if_submitted_first():
    env = Env(["a", "b"])
    env.pool.submit(env.transfer("a", 11, 1, GWEI), agent="a", tag="x")
    env.pool.submit(env.transfer("b", 20, 0, GWEI), agent="b", tag="x")
    env.pool.submit(env.transfer("a", 10, 0, GWEI), agent="a", tag="x")
    assert amounts(env.produce(BlockBuilder("fifo"))) == [20, 10, 11]


def test_unknown_policy_is_rejected_by_name():
    with pytest.raises(ValueError, match="lowest-fee"):
        BlockBuilder("lowest-fee")


def test_same_rng_seed_gives_the_same_order_for_tied_tips():
    senders = [f"s{i}" for i in range(20)]

    def run(seed: int) -> list[int]:
        env = Env(senders)
        for i, s in enumerate(senders):
            env.pool.submit(env.transfer(s, 100 + i, 0, tip=2 * GWEI), agent=s, tag="tie")
        return amounts(env.produce(BlockBuilder(rng=np.random.default_rng(seed))))

    first, again, other = run(42), run(42), run(43)
    assert first == again
    assert sorted(first) == list(range(100, 120))
    assert first != other
    assert first != sorted(first)  # ties are shuffled, not left in submission order


# --- replacement --------------------------------------------------------------------------------

def test_replacement_with_both_fees_12_5_percent_higher_replaces_and_only_it_lands():
    env = Env(["a"])
    old = env.transfer("a", 1, 0, tip=2 * GWEI, max_fee=80 * GWEI)
    new = env.transfer("a", 2, 0, tip=2 * GWEI * 9 // 8, max_fee=80 * GWEI * 9 // 8)  # exactly +12.5%
    env.pool.submit(old, agent="a", tag="liquidation")
    env.pool.submit(new, agent="a", tag="liquidation")
    assert pending_hashes(env.pool) == {new.hash}
    assert (env.pool.evicted[0][0].hash, env.pool.evicted[0][1]) == (old.hash, "replaced")
    produced = env.produce(BlockBuilder())
    assert amounts(produced) == [2]
    assert old.hash not in {r.tx_hash for r in produced.receipts}


def test_replacement_with_a_10_percent_bump_raises_replacement_underpriced():
    env = Env(["a"])
    old = env.transfer("a", 1, 0, tip=2 * GWEI, max_fee=80 * GWEI)
    env.pool.submit(old, agent="a", tag="liquidation")
    bump10 = env.transfer("a", 2, 0, tip=2 * GWEI * 11 // 10, max_fee=80 * GWEI * 11 // 10)
    with pytest.raises(ReplacementUnderpriced, match=bump10.hash.hex()[:10]):
        env.pool.submit(bump10, agent="a", tag="liquidation")
    tip_only = env.transfer("a", 3, 0, tip=4 * GWEI, max_fee=80 * GWEI)  # max fee not raised
    with pytest.raises(ReplacementUnderpriced):
        env.pool.submit(tip_only, agent="a", tag="liquidation")
    assert issubclass(ReplacementUnderpriced, ChainError)
    assert pending_hashes(env.pool) == {old.hash}
    assert amounts(env.produce(BlockBuilder())) == [1]


def test_priority_gas_auction_rebids_the_higher_tip_lands_first():
    env = Env(["alice", "bob"])
    bids = [("alice", 10, 2.0), ("bob", 20, 2.3), ("alice", 11, 2.6), ("bob", 21, 3.0),
            ("alice", 12, 3.4), ("bob", 22, 3.9)]
    for label, amount, tip_gwei in bids:
        tip = int(tip_gwei * GWEI)
        env.pool.submit(env.transfer(label, amount, 0, tip=tip, max_fee=40 * tip),
                        agent=label, tag="liquidation")
    assert len(env.pool.pending()) == 2
    produced = env.produce(BlockBuilder())
    assert amounts(produced) == [22, 12]
    assert [p.agent for p in produced.txs] == ["bob", "alice"]
    assert [reason for _, reason in env.pool.evicted] == ["replaced"] * 4


# --- private bundles ---------------------------------------------------------------------------

def test_private_bundle_is_invisible_and_lands_right_after_the_oracle_update():
    env = Env(["oracle", "keeper", "searcher", "p1", "p2", "p3"])
    pool = env.pool
    pool.submit(env.transfer("p1", 1, 0, tip=10 * GWEI), agent="p1", tag="arbitrage")
    update = pool.submit(env.transfer("oracle", 2, 0, tip=5 * GWEI), agent="oracle",
                         tag="oracle-update")
    pool.submit(env.transfer("p2", 4, 0, tip=3 * GWEI), agent="p2", tag="borrower")
    pool.submit(env.transfer("p3", 5, 0, tip=2 * GWEI), agent="p3", tag="borrower")
    backrun = env.transfer("keeper", 3, 0, tip=1)  # tips far less than p2 and p3
    pool.submit_bundle([backrun], agent="keeper", tag="liquidation", after=update.hash)
    top = env.transfer("searcher", 7, 0, tip=1)
    pool.submit_bundle([top], agent="searcher", tag="arbitrage")

    visible = pending_hashes(pool)
    assert backrun.hash not in visible and top.hash not in visible
    assert len(visible) == 4 and len(pool) == 6

    produced = env.produce(BlockBuilder())
    assert amounts(produced) == [7, 1, 2, 3, 4, 5]
    keeper_tx = produced.sent(3)
    assert (keeper_tx.agent, keeper_tx.tag, keeper_tx.private) == ("keeper", "liquidation", True)
    assert produced.by_tag("oracle-update")[0][0].private is False
    assert len(pool) == 0


def test_bundles_chain_after_each_other_and_a_senders_later_public_tx_follows_its_bundle():
    env = Env(["oracle", "keeper", "searcher", "p1"])
    pool = env.pool
    update = pool.submit(env.transfer("oracle", 2, 0, tip=5 * GWEI), agent="oracle",
                         tag="oracle-update")
    pool.submit(env.transfer("p1", 9, 0, tip=GWEI), agent="p1", tag="borrower")
    pool.submit(env.transfer("keeper", 4, 1, tip=20 * GWEI), agent="keeper", tag="arbitrage")
    liquidation = env.transfer("keeper", 3, 0, tip=0)
    pool.submit_bundle([liquidation], agent="keeper", tag="liquidation", after=update.hash)
    pool.submit_bundle([env.transfer("searcher", 7, 0, tip=0)], agent="searcher", tag="arbitrage",
                       after=liquidation.hash)
    produced = env.produce(BlockBuilder())
    assert amounts(produced) == [2, 3, 7, 4, 9]
    assert [p.private for p in produced.txs] == [False, True, True, False, False]


def test_bundle_whose_target_stays_out_lands_at_the_top():
    env = Env(["oracle", "keeper", "p1"])
    base_fee = env.chain.next_base_fee
    stuck = env.pool.submit(env.transfer("oracle", 1, 0, tip=GWEI, max_fee=base_fee - 1),
                            agent="oracle", tag="oracle-update")
    env.pool.submit(env.transfer("p1", 2, 0, tip=5 * GWEI), agent="p1", tag="x")
    env.pool.submit_bundle([env.transfer("keeper", 3, 0, tip=0)], agent="keeper",
                           tag="liquidation", after=stuck.hash)
    produced = env.produce(BlockBuilder())
    assert amounts(produced) == [3, 2]
    assert pending_hashes(env.pool) == {stuck.hash}


def test_bundle_lands_whole_or_not_at_all():
    env = Env(["keeper"])
    base_fee = env.chain.next_base_fee
    good = env.transfer("keeper", 1, 0, tip=GWEI)
    bad = env.transfer("keeper", 2, 1, tip=GWEI, max_fee=base_fee - 1)  # not executable yet
    env.pool.submit_bundle([good, bad], agent="keeper", tag="liquidation", valid_blocks=2)
    produced = env.produce(BlockBuilder())
    assert produced.receipts == ()
    assert len(env.pool) == 2  # waits; the next (emptier) block's lower base fee admits it
    assert amounts(env.produce(BlockBuilder())) == [1, 2]


def test_a_bundle_is_valid_for_the_next_block_only_by_default():
    env = Env(["keeper"])
    base_fee = env.chain.next_base_fee
    bundle = env.pool.submit_bundle([env.transfer("keeper", 1, 0, tip=GWEI, max_fee=base_fee - 1)],
                                    agent="keeper", tag="liquidation")
    produced = env.produce(BlockBuilder())
    assert produced.receipts == () and produced.expired_bundles == (bundle,)
    assert len(env.pool) == 0


# --- the bundle auction ---------------------------------------------------------------------------

class AuctionEnv(Env):
    """Two searchers back-running one oracle update for the same position; the builder is
    ``coinbase`` and is paid by a plain ether transfer at the end of each bundle."""

    def __init__(self):
        super().__init__(["oracle", "s1", "s2", "builder"])
        self.coinbase = self.acct("builder").address
        self.update = self.pool.submit(self.transfer("oracle", 1, 0, tip=GWEI), agent="oracle",
                                       tag="oracle-update")

    def payment(self, label: str, nonce: int, wei: int):
        from sandbox.chain import TxRequest

        return self.chain.sign(TxRequest(sender=self.acct(label), to=self.coinbase, value=wei, gas=21_000,
                                         nonce=nonce, max_fee_per_gas=100 * GWEI, max_priority_fee_per_gas=0))

    def backrun(self, label: str, amount: int, pay_wei: int, target="position-A", extra=()):
        txs = [self.transfer(label, amount, 0, tip=0), *extra, self.payment(label, 1 + len(extra), pay_wei)]
        return self.pool.submit_bundle(txs, agent=label, tag="liquidation", after=self.update.hash,
                                       targets=[target])

    def produce_paid(self):
        return BlockBuilder().produce(self.chain, self.pool, self.chain.timestamp + 12, coinbase=self.coinbase)


def test_of_two_backruns_on_one_position_the_higher_bid_lands_and_pays_the_other_pays_nothing():
    env = AuctionEnv()
    balances = {s: env.chain.balance(env.acct(s).address) for s in ("s1", "s2", "builder")}
    low = env.backrun("s1", 10, pay_wei=3 * 10**15)
    env.backrun("s2", 20, pay_wei=5 * 10**15)
    produced = env.produce_paid()
    assert amounts(produced) == [1, 20]  # the update, then the winner's back-run
    assert produced.lost_bundles == (low,)
    assert env.chain.balance(env.acct("s1").address) == balances["s1"]  # no gas, no payment
    assert env.chain.nonce(env.acct("s1").address) == 0
    paid = balances["s2"] - env.chain.balance(env.acct("s2").address)
    fees = sum(r.fee_paid_wei for r in produced.receipts if r.sender == env.acct("s2").address)
    assert paid == 5 * 10**15 + fees
    builder_gain = env.chain.balance(env.acct("builder").address) - balances["builder"]
    tips = sum(r.priority_fee_paid_wei for r in produced.receipts)
    assert builder_gain == 5 * 10**15 + tips
    assert len(env.pool) == 0  # the loser is gone, not waiting for the next block


def test_bundles_on_different_positions_both_land_highest_bid_first():
    env = AuctionEnv()
    env.backrun("s1", 10, pay_wei=3 * 10**15, target="position-A")
    env.backrun("s2", 20, pay_wei=5 * 10**15, target="position-B")
    produced = env.produce_paid()
    assert amounts(produced) == [1, 20, 10]
    assert produced.lost_bundles == ()


def test_a_bundle_that_would_revert_is_dropped_unpaid_and_the_next_best_bid_lands():
    env = AuctionEnv()
    balance = env.chain.balance(env.acct("s2").address)
    overdraw = env.chain.sign(env.token.tx(env.acct("s2"), "transfer", SINK, 10**31, nonce=1, gas=GAS,
                                           max_fee_per_gas=100 * GWEI, max_priority_fee_per_gas=0))
    bad = env.backrun("s2", 20, pay_wei=9 * 10**15, extra=[overdraw])  # reverts: balance too low
    good = env.backrun("s1", 10, pay_wei=3 * 10**15)
    produced = env.produce_paid()
    assert produced.reverted_bundles == (bad,) and produced.lost_bundles == ()
    assert amounts(produced) == [1, 10]
    assert env.chain.balance(env.acct("s2").address) == balance  # reverted bundle paid nothing
    assert good.hashes[-1] in {r.tx_hash for r in produced.receipts}


def test_a_transaction_the_bundle_allows_to_revert_does_not_void_it():
    env = AuctionEnv()
    overdraw = env.chain.sign(env.token.tx(env.acct("s1"), "transfer", SINK, 10**31, nonce=0, gas=GAS,
                                           max_fee_per_gas=100 * GWEI, max_priority_fee_per_gas=0))
    pay = env.payment("s1", 1, 10**15)
    env.pool.submit_bundle([overdraw, pay], agent="s1", tag="liquidation", may_revert=[overdraw.hash])
    produced = env.produce_paid()
    assert [r.succeeded for r in produced.receipts] == [False, True, True]


# --- fees and space -----------------------------------------------------------------------------

def test_tx_below_the_base_fee_waits_and_lands_once_the_base_fee_falls():
    env = Env(["a"])
    base_fee = env.chain.next_base_fee
    tx = env.transfer("a", 9, 0, tip=GWEI, max_fee=base_fee - 1)
    env.pool.submit(tx, agent="a", tag="borrower")
    builder = BlockBuilder()
    first = env.produce(builder)
    assert first.receipts == () and pending_hashes(env.pool) == {tx.hash}
    assert env.chain.next_base_fee <= tx.max_fee_per_gas  # the empty block lowered it
    second = env.produce(builder)
    assert amounts(second) == [9] and len(env.pool) == 0


def test_gas_limit_is_respected_and_what_does_not_fit_waits_for_the_next_block():
    senders = [f"s{i}" for i in range(7)]
    env = Env(senders)
    limit = env.chain.gas_limit
    assert limit == 30_000_000
    for i in range(5):  # 5 x 5M at high tips
        env.pool.submit(env.transfer(f"s{i}", 10 + i, 0, tip=(20 + i) * GWEI, gas=5_000_000),
                        agent=f"s{i}", tag="x")
    env.pool.submit(env.transfer("s5", 50, 0, tip=10 * GWEI, gas=8_000_000), agent="s5", tag="x")
    env.pool.submit(env.transfer("s6", 60, 0, tip=5 * GWEI, gas=4_000_000), agent="s6", tag="x")
    builder = BlockBuilder()
    first = env.produce(builder)
    assert amounts(first) == [14, 13, 12, 11, 10, 60]  # 8M does not fit in 5M; 4M does
    assert sum(p.tx.gas for p in first.txs) <= limit
    assert [p.tx.gas for p in env.pool.pending()] == [8_000_000]
    assert amounts(env.produce(builder)) == [50]


def test_background_demand_takes_space_a_tx_tipping_below_it_waits_one_above_lands():
    env = Env(["low", "high", "capped"])
    limit = env.chain.gas_limit
    background = BackgroundDemand(gas_per_block=limit, tip_wei=3 * GWEI)
    base_fee = env.chain.next_base_fee
    low = env.transfer("low", 1, 0, tip=2 * GWEI)
    high = env.transfer("high", 2, 0, tip=4 * GWEI)
    capped = env.transfer("capped", 3, 0, tip=4 * GWEI, max_fee=base_fee + GWEI)  # effective 1 gwei
    for label, tx in (("low", low), ("high", high), ("capped", capped)):
        env.pool.submit(tx, agent=label, tag="x")
    builder = BlockBuilder()
    first = env.produce(builder, background)
    assert amounts(first) == [2]
    assert first.background_gas == limit - high.gas
    assert pending_hashes(env.pool) == {low.hash, capped.hash}
    second = env.produce(builder, background)  # still full: still waiting
    assert second.receipts == () and second.background_gas == limit
    # background wanting only part of the block leaves room for the low tipper after it
    third = env.produce(builder, BackgroundDemand(gas_per_block=limit - GAS, tip_wei=3 * GWEI))
    assert amounts(third) == [1]
    assert third.background_gas == limit - GAS


def test_sustained_full_background_demand_raises_the_base_fee_12_5_percent_per_block():
    env = Env([])
    background = BackgroundDemand(gas_per_block=env.chain.gas_limit, tip_wei=GWEI)
    builder = BlockBuilder()
    fees = [env.produce(builder, background).result.base_fee_per_gas for _ in range(5)]
    fees.append(env.chain.next_base_fee)
    for before, after in pairwise(fees):
        assert after == before + before // 8
    assert fees[-1] / fees[0] == pytest.approx(1.125**5, rel=1e-6)
    # a half-full background keeps it where it is
    half = BackgroundDemand(gas_per_block=env.chain.gas_limit // 2, tip_wei=GWEI)
    steady = env.chain.next_base_fee
    env.produce(builder, half)
    assert env.chain.next_base_fee == steady


def test_background_demand_validates_its_fields():
    with pytest.raises(ValueError, match="gas_per_block"):
        BackgroundDemand(gas_per_block=-1, tip_wei=0)
    with pytest.raises(ValueError, match="tip_wei"):
        BackgroundDemand(gas_per_block=1, tip_wei=1.5)


# --- stale nonces --------------------------------------------------------------------------------

def test_stale_nonce_tx_is_dropped_not_executed_and_never_invalid():
    env = Env(["a", "b", "c"])
    stale = env.transfer("a", 1, 0, tip=9 * GWEI)
    execute(env.chain, [env.token.tx(env.acct("a"), "transfer", SINK, 99, nonce=0)])  # nonce 0 used
    env.pool.submit(stale, agent="a", tag="liquidation")
    gap = env.transfer("c", 5, 3, tip=GWEI)  # nonce gap: waits, is not stale
    env.pool.submit(gap, agent="c", tag="x")
    # replacement race lost to a private bundle with the same (sender, nonce)
    loser = env.transfer("b", 2, 0, tip=9 * GWEI)
    winner = env.transfer("b", 3, 0, tip=1)
    env.pool.submit(loser, agent="b", tag="liquidation")
    env.pool.submit_bundle([winner], agent="b", tag="liquidation")
    produced = env.produce(BlockBuilder())  # must not raise InvalidTransaction
    assert amounts(produced) == [3]
    assert {p.hash for p in produced.dropped} == {stale.hash, loser.hash}
    assert pending_hashes(env.pool) == {gap.hash}
    assert sorted(reason for _, reason in env.pool.evicted) == ["stale", "stale"]


@pytest.mark.parametrize("policy", ["priority-fee", "fifo"])
def test_random_pools_never_produce_an_invalid_block(policy):
    """Stale and future nonces, sub-base-fee caps, unaffordable values, huge gas limits,
    bundles with and without targets, random background demand: every block executes."""
    for seed in range(6):
        rng = np.random.default_rng(seed)
        senders = [f"s{i}" for i in range(6)]
        env = Env(senders)
        builder = BlockBuilder(policy, rng=np.random.default_rng(seed))
        amount = landed = 0
        for _ in range(6):
            for _ in range(int(rng.integers(0, 20))):
                s = senders[int(rng.integers(len(senders)))]
                nonce = max(0, env.chain.nonce(env.acct(s).address) + int(rng.integers(-1, 4)))
                tip = int(rng.integers(0, 10)) * GWEI // 2
                max_fee = int(rng.choice([env.chain.next_base_fee // 2,
                                          env.chain.next_base_fee + tip, 100 * GWEI]))
                amount += 1
                tx = env.chain.sign(env.token.tx(
                    env.acct(s), "transfer", SINK, amount, nonce=nonce,
                    gas=int(rng.choice([60_000, 100_000, 3_000_000, 9_000_000])),
                    max_fee_per_gas=max_fee, max_priority_fee_per_gas=min(tip, max_fee),
                    value=int(rng.choice([0, 0, 0, 10**27]))))  # 10**27 wei: unaffordable
                r = rng.random()
                if r < 0.7:
                    try:
                        env.pool.submit(tx, agent=s, tag="x")
                    except ReplacementUnderpriced:
                        pass
                else:
                    public = env.pool.pending()
                    after = public[int(rng.integers(len(public)))].hash if public and r < 0.85 else None
                    env.pool.submit_bundle([tx], agent=s, tag="b", after=after)
            background = None if rng.random() < 0.5 else BackgroundDemand(
                int(rng.integers(0, env.chain.gas_limit + 1)), int(rng.integers(0, 5)) * GWEI)
            produced = env.produce(builder, background)
            assert sum(p.tx.gas for p in produced.txs) + produced.background_gas <= env.chain.gas_limit
            assert [r.tx_hash for r in produced.receipts] == [p.hash for p in produced.txs]
            landed += len(produced.receipts)
        assert landed > 0
