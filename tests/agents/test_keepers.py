"""Keeper strategies: each test is named after the behaviour it checks.

A small local harness runs the block protocol of the agent layer (begin_block -> reprice_stuck -> step ->
with_pending -> react -> produce -> on_block) on a fresh chain, market and mechanism.
Positions (reference numbers): 10 WETH against 15,300 USD has HF 1.111 at $2,000 and 0.9944 at
$1,790; a 50% fixed-fee liquidation at $1,790 (5% bonus, 10% of it to the treasury) makes it
healthy again (HF 1.096), so a second liquidation of it in the same block reverts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pytest

from sandbox.agents.base import GasPolicy, OrderFlowLot
from sandbox.agents.context import AgentContext
from sandbox.agents.keepers import KEEPERS, Keeper
from sandbox.agents.keepers.backrunner import BackrunnerKeeper
from sandbox.agents.keepers.base import KeeperParams
from sandbox.agents.keepers.flash import FlashKeeper, create_address
from sandbox.agents.keepers.frontrunner import FrontrunnerKeeper
from sandbox.agents.keepers.naive import NaiveKeeper
from sandbox.agents.keepers.pga import PgaKeeper, PgaParams
from sandbox.chain import ChainError, PyEVMChain, execute, execute_all
from sandbox.chain.builder import BackgroundDemand, BlockBuilder
from sandbox.chain.mempool import Mempool, PendingTx
from sandbox.market import MarketParams, deploy_market
from sandbox.market.actions import open_positions, set_price
from sandbox.mechanisms.dutch_auction import DutchAuctionMechanism
from sandbox.mechanisms.fixed_fee import FixedFeeMechanism
from sandbox.mechanisms.private import PrivateAuctionMechanism
from sandbox.scenarios.schema import KeeperSpec
from sandbox.units import GWEI, WAD, to_wad

ROLES = ["deployer", "oracle", "treasury", "builder"]
CRASH = to_wad(1790)
COLLATERAL, DEBT = to_wad(10), to_wad(15_300)


@dataclass
class OracleFeed:
    """Agent-like sender of oracle updates (what the oracle updater agent does)."""

    account: object
    gas: GasPolicy = GasPolicy(tip_gwei=1.0)

    @property
    def label(self) -> str:
        return self.account.label

    def update(self, ctx: AgentContext, price_wad: int) -> PendingTx:
        request = ctx.market.oracle.tx(self.account, "submit", price_wad, gas=100_000)
        return ctx.submit(self, request, tag="oracle-update")


class Harness:
    """One run: chain, market, mechanism, mempool, builder, context and agents."""

    def __init__(self, keepers: list[tuple[type[Keeper], dict]], mechanism=FixedFeeMechanism,
                 borrowers: int = 1, collateral: int = COLLATERAL, debt: int = DEBT, seed: int = 7):
        labels = [f"borrower-{i}" for i in range(borrowers)]
        klabels = [f"keeper-{i}" for i in range(len(keepers))]
        self.chain = PyEVMChain(seed=seed, accounts=ROLES + labels + klabels)
        self.market = deploy_market(self.chain, MarketParams())
        self.mech = mechanism.deploy(self.market)
        self.borrowers = [self.chain.account(label) for label in labels]
        open_positions(self.market, [(b, collateral, debt) for b in self.borrowers])
        self.mempool = Mempool(self.chain)
        self.builder = BlockBuilder("priority-fee", rng=np.random.default_rng(seed))
        self.coinbase = self.chain.account("builder").address
        self.ctx = AgentContext(self.chain, self.market, self.mech, self.mempool,
                                owners=[b.address for b in self.borrowers], coinbase=self.coinbase)
        self.keepers = []
        for i, (cls, kwargs) in enumerate(keepers):
            kwargs = dict(kwargs)
            kwargs.setdefault("gas", GasPolicy(tip_gwei=2.0))
            self.keepers.append(cls(self.chain.account(klabels[i]), np.random.default_rng(100 + i), **kwargs))
        self.ctx.agents = list(self.keepers)
        for k in self.keepers:
            execute_all(self.chain, k.setup(self.ctx))
        for k in self.keepers:
            k.after_setup(self.ctx)
        self.oracle = OracleFeed(self.market.oracle_updater)
        self.produced = []

    def block(self, price: int | None = None, dt: int = 12, background: int = 0,
              between=None):
        """One block; ``between(view)`` runs after phase 1 (e.g. to send an oracle update)."""
        ctx = self.ctx
        t = self.chain.timestamp + dt
        view = ctx.begin_block(self.chain.block_number + 1, t, price or self.market.price())
        for k in self.keepers:
            k.reprice_stuck(view, ctx)
        for k in self.keepers:
            k.step(view, ctx)
        if between is not None:
            between(view)
        view2 = ctx.with_pending(view)
        for k in self.keepers:
            k.react(view2, ctx)
        demand = BackgroundDemand(background, GWEI) if background else None
        produced = self.builder.produce(self.chain, self.mempool, t, background=demand,
                                        coinbase=self.coinbase)
        for k in self.keepers:
            k.on_block(produced, ctx)
        self.produced.append(produced)
        return produced

    def liquidations(self, produced=None):
        blocks = [produced] if produced is not None else self.produced
        return [(p, r) for b in blocks for p, r in b.entries() if p.tag == "liquidation"]


def move_price(h: Harness, price_wad: int) -> None:
    """The oracle submits ``price_wad`` and an outside trader brings the AMM to about that price
    (as the arbitrageur agent does), so keepers' AMM sales are worth the reference price."""
    set_price(h.market, price_wad)
    m = h.market
    weth_r, usd_r = m.amm.call("getReserves")
    target_weth = math.isqrt(weth_r * usd_r * WAD // price_wad)
    if target_weth > weth_r:
        amount, token, mint = target_weth - weth_r, m.weth, m.weth
    else:
        amount, token, mint = (usd_r - weth_r * usd_r // target_weth), m.usd, m.usd
    if amount > 0:
        execute(h.chain, [mint.tx(m.deployer, "mint", m.deployer.address, amount),
                          m.amm.tx(m.deployer, "swapExactIn", token.address, amount, 0, m.deployer.address)])


def usd(h: Harness, address: str) -> int:
    return h.market.usd.call("balanceOf", address)


# ------------------------------------------------------------------------------ parameters

def test_registry_group_and_params_from_spec_reject_unknown_names():
    assert KEEPERS.group == "sandbox.keepers" and KEEPERS.base is Keeper
    chain = PyEVMChain(seed=1, accounts=["k"])
    spec = KeeperSpec(strategy="pga", capital_usd=5000, tip_gwei=3.0, max_fee_cap_gwei=200,
                      params={"profit_share_bps": 7000})
    k = PgaKeeper.from_spec(chain.account("k"), np.random.default_rng(0), spec)
    assert k.params == PgaParams(profit_share_bps=7000) and k.capital_usd == 5000
    assert k.gas == GasPolicy(tip_gwei=3.0, max_fee_cap_gwei=200) and k.strategy == "pga"
    with pytest.raises(ValueError, match="bogus_bps"):
        PgaKeeper.from_spec(chain.account("k"), np.random.default_rng(0),
                            KeeperSpec(strategy="pga", params={"bogus_bps": 1}))
    with pytest.raises(ValueError, match="rebid_factor_bps"):
        PgaParams(rebid_factor_bps=11000)  # below the mempool's 12.5% bump
    with pytest.raises(ValueError, match="min_profit_usd"):
        KeeperParams(min_profit_usd=-1)
    flash = FlashKeeper.from_spec(chain.account("k"), np.random.default_rng(0), KeeperSpec(strategy="flash"))
    assert flash.capital_usd == 0 and flash.available_usd() == 0


def test_flash_contract_address_is_the_create_address():
    h = Harness([(FlashKeeper, {})])
    k = h.keepers[0]
    assert k.contract_address == create_address(k.address, 0)
    assert h.chain.code(k.contract_address) and k.deployed


# ------------------------------------------------------------------------------ public flow

def test_frontrunner_takes_the_naive_keepers_liquidation_and_the_naive_tx_reverts_paying_gas():
    h = Harness([(NaiveKeeper, {}), (FrontrunnerKeeper, {})])
    naive, front = h.keepers
    move_price(h, CRASH)
    produced = h.block()
    liqs = h.liquidations(produced)
    assert [p.agent for p, _ in liqs] == [front.label, naive.label]  # the copy tips more: first
    (fp, fr), (np_, nr) = liqs
    assert fr.succeeded and fr.events("Liquidated")[0].args["liquidator"] == front.address
    assert fp.effective_tip(fr.base_fee_per_gas) >= np_.effective_tip(nr.base_fee_per_gas) + GWEI
    assert not nr.succeeded and "HealthyPosition" in nr.revert_reason
    assert naive.ledger.txs_reverted == 1 and naive.ledger.gas_spent_wei == nr.fee_paid_wei > 0
    assert front.ledger.txs_sent == 1 and front.ledger.txs_reverted == 0
    assert front.weth_balance == fr.events("Liquidated")[0].args["collateralSeized"] - \
        fr.events("Liquidated")[0].args["protocolFee"]


def test_frontrunner_sees_nothing_to_copy_under_the_private_mechanism():
    h = Harness([(NaiveKeeper, {}), (FrontrunnerKeeper, {})], mechanism=PrivateAuctionMechanism)
    naive, front = h.keepers
    mech, ctx = h.mech, h.ctx
    bids = {}

    def oracle_updater(view):
        # As the oracle updater agent does: sign the update, ask keepers for sealed bids, run
        # the auction, and send [update, grant, winner's calls] as one private bundle.
        signed = ctx.sign(h.oracle, h.market.oracle.tx(h.oracle.account, "submit", CRASH, gas=100_000))
        round_id = h.market.oracle.call("latestRound") + 1
        lot = OrderFlowLot(round_id=round_id, price_wad=CRASH, txs=(signed,))
        for k in h.keepers:
            bid = k.private_bid(view, ctx, lot)
            if bid is not None:
                bids[k.address] = bid
        winner, amount = mech.run_auction({a: b.bid_usd_wad for a, b in bids.items()},
                                          np.random.default_rng(0))
        bid = bids[winner]
        auctioneer = OracleFeed(mech.auctioneer)
        grant = ctx.sign(auctioneer, mech.grant_call(round_id, winner, amount).request(mech.auctioneer))
        calls = ctx.sign_sequence(bid.bidder, [c.request(bid.bidder.account) for c in bid.calls])
        ctx.submit_bundle(h.oracle, [signed, grant, *calls], tag="oracle-update")
        assert not [p for p in ctx.mempool.pending() if p.tag == "liquidation"]

    produced = h.block(between=oracle_updater)
    assert set(bids) == {naive.address, front.address}  # both bid (generic private_bid)
    assert len(produced.receipts) == 3 and all(r.succeeded for r in produced.receipts)
    liq = produced.receipts[2]
    assert liq.events("BidPaid") and liq.sender in bids
    copies = [p for p in produced.txs if p.agent == front.label and p.tag == "liquidation"]
    assert copies == [] and not [p for p in h.mempool.pending()]
    # The winner's ledger holds the gas of its call even though the bundle was the updater's.
    winner = naive if liq.sender == naive.address else front
    assert winner.ledger.txs_sent == 1 and winner.ledger.gas_spent_wei == liq.fee_paid_wei


def test_two_pga_keepers_escalate_tips_by_at_least_12_5_percent_per_round():
    h = Harness([(PgaKeeper, {"params": PgaParams(profit_share_bps=3000)})] * 2)
    a, b = h.keepers
    move_price(h, CRASH)
    first_tips = {}
    orig_send = Keeper.send

    def spy(self, view, ctx, plan):
        pending = orig_send(self, view, ctx, plan)
        first_tips[self.label] = pending.tx.max_priority_fee_per_gas
        return pending

    Keeper.send = spy
    try:
        produced = h.block()
    finally:
        Keeper.send = orig_send
    assert len(first_tips) == 2 and len(set(first_tips.values())) == 1  # same opening bid
    first = next(iter(first_tips.values()))
    replaced = [old for old, why in h.mempool.evicted if why == "replaced"]
    assert len(replaced) >= 2  # each keeper re-bid at least once
    # each replacement tips >= 112.5% of the transaction it replaced
    chain_of = {}
    for old in replaced:
        chain_of.setdefault(old.sender, []).append(old.tx.max_priority_fee_per_gas)
    for p in produced.txs:
        chain_of.setdefault(p.sender, []).append(p.tx.max_priority_fee_per_gas)
    for tips in chain_of.values():
        assert all(new * 8 >= old * 9 for old, new in pairwise(tips))
    liqs = h.liquidations(produced)
    assert len(liqs) == 2
    (wp, wr), (lp, lr) = liqs
    assert wr.succeeded and not lr.succeeded  # the loser still lands, reverts and pays gas
    assert wp.tx.max_priority_fee_per_gas > lp.tx.max_priority_fee_per_gas > first
    assert wr.effective_gas_price - wr.base_fee_per_gas > first
    # the winning tip stays within the profit: the winner made money after gas
    winner = a if wp.agent == a.label else b
    ev = wr.events("Liquidated")[0].args
    value = (ev["collateralSeized"] - ev["protocolFee"]) * CRASH // WAD - ev["debtRepaid"]
    assert value > wr.fee_paid_wei * CRASH // WAD
    assert winner.targets == {}


def test_backrunner_lands_right_after_the_oracle_update_in_the_same_block():
    h = Harness([(NaiveKeeper, {}), (BackrunnerKeeper, {})], borrowers=2)
    naive, back = h.keepers
    sent = []
    produced = h.block(between=lambda view: sent.append(h.oracle.update(h.ctx, CRASH)))
    update_index = next(r.index for p, r in produced.entries() if p.tag == "oracle-update")
    liqs = [(p, r) for p, r in h.liquidations(produced)]
    assert [p.agent for p, _ in liqs] == [back.label] * 3  # the naive saw nothing yet
    assert [r.index for _, r in liqs] == [update_index + 1, update_index + 2, update_index + 3]
    assert [p.meta["action"] for p, _ in liqs] == ["liquidate", "liquidate", "builder-payment"]
    assert all(r.succeeded for _, r in liqs) and all(p.private for p, _ in liqs)
    assert naive.ledger.txs_sent == 0
    assert h.market.price() == CRASH


def test_a_shared_what_if_gives_every_keeper_what_its_own_simulation_gives():
    """One simulation per update and block serves every keeper: the same opportunities a
    private ``hypothetically`` run finds, the chain and the book back at the head after it."""
    h = Harness([(NaiveKeeper, {}), (BackrunnerKeeper, {})], borrowers=2)
    ctx = h.ctx
    ctx.begin_block(h.chain.block_number + 1, h.chain.timestamp + 12, h.market.price())
    update = h.oracle.update(ctx, CRASH)
    head = h.chain.snapshot()
    with ctx.hypothetically([update.tx]):
        own = h.mech.opportunities(ctx.owners)
    shared = [ctx.what_if_opportunities([update.tx]) for _ in range(3)]
    assert own and all(s == own for s in shared)
    assert [o.extra for o in shared[0]] == [o.extra for o in own]
    assert h.chain.snapshot() == head and h.market.price() > CRASH  # the update did not land
    assert h.mech.opportunities(ctx.owners) == []
    request = h.market.oracle.tx(h.oracle.account, "submit", CRASH, gas=100_000)
    bad = ctx.sign(h.oracle, request, nonce=update.nonce + 5)  # a nonce gap: the same error for all
    errors = []
    for _ in range(2):
        with pytest.raises(ChainError) as caught:
            ctx.what_if_opportunities([bad])
        errors.append(type(caught.value))
    assert errors[0] is errors[1] and h.chain.snapshot() == head


def test_a_backrunner_pays_the_builder_its_bid_share_of_the_expected_profit():
    h = Harness([(BackrunnerKeeper, {})])
    (back,) = h.keepers
    builder_before = h.chain.balance(h.coinbase)
    produced = h.block(price=CRASH, between=lambda view: h.oracle.update(h.ctx, CRASH))
    (pay, receipt) = [(p, r) for p, r in h.liquidations(produced) if p.meta["action"] == "builder-payment"][0]
    (liq,) = [p for p, _ in h.liquidations(produced) if p.meta["action"] == "liquidate"]
    expected = liq.meta["expected_profit_usd"] - h.ctx.view.gas_cost_usd_wad(21_000, back.policy_tip_wei)
    assert pay.tx.value == expected * 9000 // 10_000 * WAD // CRASH  # 90% by default, in wei
    assert pay.tx.to == h.coinbase and receipt.succeeded
    tips = sum(r.priority_fee_paid_wei for r in produced.receipts)
    assert h.chain.balance(h.coinbase) - builder_before == pay.tx.value + tips
    assert back.ledger.builder_payments_usd == pay.tx.value * CRASH // WAD


def test_two_backrunners_on_one_position_the_higher_bid_lands_and_pays_the_other_pays_nothing():
    h = Harness([(BackrunnerKeeper, {"params": KeeperParams(bundle_bid_share_bps=6000)}),
                 (BackrunnerKeeper, {"params": KeeperParams(bundle_bid_share_bps=8000)})])
    low, high = h.keepers
    eth_before = {k.label: h.chain.balance(k.address) for k in h.keepers}
    produced = h.block(price=CRASH, between=lambda view: h.oracle.update(h.ctx, CRASH))
    assert {p.agent for p, _ in h.liquidations(produced)} == {high.label}
    assert [b.agent for b in produced.lost_bundles] == [low.label]
    assert h.chain.balance(low.address) == eth_before[low.label]  # no gas, no payment
    assert low.ledger.txs_sent == 0 and low.ledger.builder_payments_usd == 0
    assert high.ledger.builder_payments_usd > 0
    assert low.bundle_share_bps == 6500 and high.bundle_share_bps == 8000  # the loser bids more next time
    assert (low.bundles_lost, high.bundles_won) == (1, 1)


def test_a_keeper_that_won_an_english_auction_deals_it_and_receives_the_lot():
    """Regression: keepers skipped every action on an auction they led, deal included, and
    nobody else may deal it, so English auctions never settled (0 Deal events in black-thursday)."""
    from sandbox.mechanisms.english_auction import EnglishAuctionMechanism

    h = Harness([(NaiveKeeper, {})], mechanism=EnglishAuctionMechanism)
    (k,) = h.keepers
    move_price(h, CRASH)
    actions = []
    # bite; tend (a jump bid); nothing while the bid stands; ttl (3 h) passes; deal
    for dt in (12, 12, 12, 10_800, 12):
        produced = h.block(price=CRASH, dt=dt)
        actions.append([p.meta["action"] for p, r in h.liquidations(produced) if r.succeeded])
    assert actions == [["bite"], ["tend"], [], [], ["deal"]]
    (deal,) = [log.args for log in h.produced[-1].result.logs if log.name == "Deal"]
    assert deal["lot"] > 0 and k.weth_balance >= deal["lot"]
    assert h.mech.auctions() == []  # settled: nothing left in the auction house


# ------------------------------------------------------------------------------ gas

def test_a_stuck_liquidation_is_re_sent_at_higher_fees_while_it_stays_profitable():
    """Maker's keeper raises gas x1.125 when a transaction is stuck; ours re-prices one the
    base fee priced out (or left pending for ``reprice_after_blocks`` blocks)."""
    h = Harness([(NaiveKeeper, {})])
    (k,) = h.keepers
    move_price(h, CRASH)
    view = h.ctx.begin_block(h.chain.block_number + 1, h.chain.timestamp + 12, CRASH)
    k.step(view, h.ctx)
    (first,) = h.mempool.pending()
    while h.chain.next_base_fee <= first.tx.max_fee_per_gas:
        h.chain.execute_block([], h.chain.timestamp + 12, background_gas=h.chain.gas_limit)
    produced = h.block(price=CRASH)
    (pending, receipt), = h.liquidations(produced)
    assert pending.nonce == first.nonce and pending.hash != first.hash and receipt.succeeded
    assert pending.tx.max_priority_fee_per_gas * 8 >= first.tx.max_priority_fee_per_gas * 9
    assert k.targets == {}


def test_a_capped_keeper_cannot_re_price_above_its_cap_and_its_liquidation_stays_stuck():
    h = Harness([(NaiveKeeper, {"gas": GasPolicy(tip_gwei=2.0, max_fee_cap_gwei=60.0)})])
    (k,) = h.keepers
    move_price(h, CRASH)
    view = h.ctx.begin_block(h.chain.block_number + 1, h.chain.timestamp + 12, CRASH)
    k.step(view, h.ctx)
    (first,) = h.mempool.pending()
    assert first.tx.max_fee_per_gas < 60 * GWEI
    while h.chain.next_base_fee <= 60 * GWEI:
        h.chain.execute_block([], h.chain.timestamp + 12, background_gas=h.chain.gas_limit)
    full = h.chain.gas_limit  # other users keep blocks full: the base fee keeps rising
    assert h.liquidations(h.block(price=CRASH, background=full)) == []
    (at_cap,) = h.mempool.pending()  # re-priced once, up to the cap, and still priced out
    assert at_cap.nonce == first.nonce and at_cap.tx.max_fee_per_gas == 60 * GWEI
    assert h.liquidations(h.block(price=CRASH, background=full)) == []
    assert h.mempool.pending() == [at_cap]  # no room left under the cap: no further re-pricing


def test_keeper_abstains_during_a_gas_spike_and_liquidates_once_gas_falls():
    h = Harness([(NaiveKeeper, {})], collateral=to_wad(2), debt=to_wad(3060))
    (k,) = h.keepers
    move_price(h, CRASH)
    view = h.ctx.begin_block(h.chain.block_number + 1, h.chain.timestamp + 12, CRASH)
    (opp,) = view.opportunities
    gross = k.expected_profit_usd(view, h.ctx, opp, 0) + view.gas_cost_usd_wad(300_000, 0)
    breakeven = gross * WAD // (300_000 * CRASH) - k.policy_tip_wei  # base fee where profit = 0
    while h.chain.next_base_fee < 2 * breakeven:  # 12 March 2020: blocks full for a while
        h.chain.execute_block([], h.chain.timestamp + 12, background_gas=30_000_000)
    for _ in range(5):  # the spike holds: the keeper sends nothing
        produced = h.block(background=15_000_000)
        assert produced.receipts == () and k.ledger.txs_sent == 0
        assert produced.result.base_fee_per_gas > breakeven
    fees = []
    for _ in range(30):  # demand falls away: the base fee drops 12.5% a block
        produced = h.block()
        fees.append(produced.result.base_fee_per_gas)
        if produced.receipts:
            break
    (receipt,) = produced.receipts
    assert receipt.succeeded and receipt.events("Liquidated")
    assert fees[-1] < breakeven and all(f > breakeven * 0.8 for f in fees[:-3])
    ev = receipt.events("Liquidated")[0].args
    value = (ev["collateralSeized"] - ev["protocolFee"]) * CRASH // WAD - ev["debtRepaid"]
    assert value > receipt.fee_paid_wei * CRASH // WAD


# ------------------------------------------------------------------------------ flash

def test_flash_keeper_with_zero_usd_liquidates_fixed_fee_through_its_contract():
    h = Harness([(FlashKeeper, {})])
    (k,) = h.keepers
    assert usd(h, k.address) == 0 and usd(h, k.contract_address) == 0
    move_price(h, CRASH)
    produced = h.block()
    (receipt,) = produced.receipts
    assert receipt.succeeded and receipt.to == k.contract_address
    liq = receipt.events("Liquidated")[0].args
    assert liq["liquidator"] == k.contract_address
    flash = receipt.events("FlashLiquidation")[0].args
    assert flash["usdBorrowed"] == liq["debtRepaid"] and flash["profit"] > 0
    assert receipt.events("FlashLoan")
    profit_usd = usd(h, k.address)
    assert profit_usd == flash["profit"] > receipt.fee_paid_wei * CRASH // WAD  # covers its gas
    assert usd(h, k.contract_address) == 0
    assert h.market.weth.call("balanceOf", k.contract_address) == 0
    assert k.ledger.txs_sent == 1 and k.ledger.txs_reverted == 0


def test_flash_keeper_barks_then_takes_a_dutch_auction_with_zero_usd():
    h = Harness([(FlashKeeper, {})], mechanism=DutchAuctionMechanism)
    (k,) = h.keepers
    move_price(h, CRASH)
    produced = h.block()
    (bark,) = produced.receipts
    assert bark.succeeded and bark.events("Kick") and bark.sender == k.address
    assert usd(h, k.address) > 0  # tip + chip paid to the keeper's account
    reward = usd(h, k.address)
    # top = 1790 × 1.2 = 2148, ×0.99 every 90 s: the take pays once the price is below the AMM's.
    taken = None
    for _ in range(40):
        produced = h.block(dt=90)
        if produced.receipts:
            taken = produced.receipts[0]
            break
    assert taken is not None and taken.succeeded and taken.to == k.contract_address
    take = taken.events("Take")[0].args
    assert take["who"] == k.contract_address and take["price"] < CRASH
    flash = taken.events("FlashLiquidation")[0].args
    assert flash["usdBorrowed"] == take["owe"] and flash["profit"] > taken.fee_paid_wei * CRASH // WAD
    assert usd(h, k.address) == reward + flash["profit"]


# ------------------------------------------------------------------------------ never at a loss

@pytest.mark.parametrize("strategy", ["naive", "pga", "flash"])
def test_keepers_never_send_a_transaction_that_loses_money_at_the_gas_they_pay(strategy):
    """A crash through a gas spike: every transaction the keeper landed made more than the gas
    it paid (liquidations valued at the final price, flash profits in USD), inventory was sold,
    nothing reverted, and its P&L after gas is positive."""
    cls, kwargs = {
        "naive": (NaiveKeeper, {"capital_usd": 20_000.0, "params": KeeperParams(sell_per_block_weth=3.0)}),
        "pga": (PgaKeeper, {"capital_usd": 20_000.0, "params": PgaParams(sell_per_block_weth=3.0)}),
        "flash": (FlashKeeper, {}),
    }[strategy]
    h = Harness([(cls, kwargs)], borrowers=5, collateral=to_wad(4), debt=to_wad(6_000))
    (k,) = h.keepers
    last = to_wad(1650)
    for price, background in [(1850, 0), (1780, 30_000_000), (1780, 30_000_000), (1700, 0),
                              (1700, 0), (1650, 0), (1650, 0), (1650, 0), (1650, 0)]:
        move_price(h, to_wad(price))
        h.block(price=to_wad(price), background=background)
    sent = [(p, r) for b in h.produced for p, r in b.entries()]
    assert sent and {p.agent for p, _ in sent} == {k.label}
    assert k.ledger.txs_sent == len(sent) and k.ledger.txs_reverted == 0
    for p, r in sent:
        assert r.succeeded, r.revert_reason
        gas_usd = r.fee_paid_wei * to_wad(1850) // WAD  # ETH valued at the highest price of the run
        if r.events("FlashLiquidation"):
            assert r.events("FlashLiquidation")[0].args["profit"] > gas_usd
        elif r.events("Liquidated"):
            ev = r.events("Liquidated")[0].args
            received = ev["collateralSeized"] - ev["protocolFee"]
            assert received * last // WAD - ev["debtRepaid"] > gas_usd
            assert p.meta["expected_profit_usd"] >= to_wad(k.params.min_profit_usd)
        else:
            assert p.tag == "inventory-sale" and r.events("Swap")
    liquidated = sum(1 for _, r in sent if r.events("Liquidated"))
    assert liquidated >= 5  # every position, some twice
    if k.uses_capital:
        assert any(p.tag == "inventory-sale" for p, _ in sent)
        value = usd(h, k.address) + h.market.weth.call("balanceOf", k.address) * last // WAD
        assert value - to_wad(20_000) > k.ledger.gas_spent_usd
    else:
        assert usd(h, k.address) > k.ledger.gas_spent_usd
