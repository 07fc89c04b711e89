"""Market agents (borrowers, oracle updater, arbitrageur): each test is named after the rule it checks.

A small local harness runs the block protocol of the simulation: set-up requests, then per block
``begin_block`` -> every agent's ``reprice_stuck`` -> ``step`` -> ``with_pending`` -> every agent's ``react`` ->
``BlockBuilder.produce`` -> every agent's ``on_block``.
"""

from __future__ import annotations

import numpy as np
import pytest

from sandbox.agents.arbitrageur import Arbitrageur, amm_input_to_price, spot_price_wad
from sandbox.agents.base import Agent, GasPolicy, PrivateBid
from sandbox.agents.borrowers import Borrower, draw_population
from sandbox.agents.context import AgentContext
from sandbox.agents.oracle import OracleUpdater
from sandbox.chain import PyEVMChain, execute, execute_all
from sandbox.chain.builder import BlockBuilder
from sandbox.chain.mempool import Mempool
from sandbox.market import MarketParams, deploy_market
from sandbox.market.actions import MAX_UINT, fund_requests, set_price
from sandbox.mechanisms.fixed_fee import FixedFeeMechanism
from sandbox.mechanisms.private import PrivateAuctionMechanism, PrivateAuctionParams
from sandbox.mechanisms.soft import SoftLiquidationMechanism
from sandbox.scenarios.schema import ArbitrageurSpec, BorrowerSpec, OracleSpec
from sandbox.testing.accounting import assert_tokens_conserved, holdings
from sandbox.units import BPS, GWEI, WAD, to_wad

LABELS = ["deployer", "oracle", "treasury", *(f"borrower-{i}" for i in range(4)),
          *(f"keeper-{i}" for i in range(3)), "arbitrageur", "spy", "dumper"]


class Harness:
    """One run: chain, market, mechanism, pool, builder, context, agents."""

    def __init__(self, mech_cls=FixedFeeMechanism, params=None, seed=11, market_params=None):
        self.chain = PyEVMChain(seed=seed, accounts=LABELS)
        self.market = deploy_market(self.chain, market_params or MarketParams())
        self.mech = mech_cls.deploy(self.market, params)
        self.mempool = Mempool(self.chain)
        self.builder = BlockBuilder("priority-fee", np.random.default_rng(seed))
        self.agents: list[Agent] = []
        self.ctx: AgentContext | None = None
        self._t = 0

    def acct(self, label):
        return self.chain.account(label)

    def start(self, agents, owners=()):
        self.agents = list(agents)
        self.ctx = AgentContext(self.chain, self.market, self.mech, self.mempool, owners=list(owners))
        self.ctx.agents = self.agents
        requests = [r for a in self.agents for r in a.setup(self.ctx)]
        if requests:
            execute_all(self.chain, requests)
        return self.ctx

    def phases(self, price_wad, dt=12):
        """Both agent phases of the next block; returns the phase-2 view."""
        number, self._t = self.chain.block_number + 1, self.chain.timestamp + dt
        view = self.ctx.begin_block(number, self._t, price_wad)
        for a in self.agents:
            a.reprice_stuck(view, self.ctx)
        for a in self.agents:
            a.step(view, self.ctx)
        view2 = self.ctx.with_pending(view)
        for a in self.agents:
            a.react(view2, self.ctx)
        return view2

    def produce(self):
        produced = self.builder.produce(self.chain, self.mempool, self._t)
        for a in self.agents:
            a.on_block(produced, self.ctx)
        return produced

    def block(self, price_wad, dt=12):
        self.phases(price_wad, dt)
        return self.produce()

    def spot(self):
        return spot_price_wad(tuple(self.market.amm.call("getReserves")))


class Spy(Agent):
    """Records the public mempool it sees in phase 2 (what a back-runner would see)."""

    kind = "spy"

    def __init__(self, account):
        super().__init__(account, np.random.default_rng(0))
        self.seen = []

    def react(self, view, ctx):
        self.seen.append(view.pending)


class FakeKeeper(Agent):
    """Bids a fixed amount for the right to liquidate whatever the update makes liquidatable."""

    kind = "keeper"

    def __init__(self, account, bid_usd):
        super().__init__(account, np.random.default_rng(1))
        self.bid = to_wad(bid_usd)
        self.offered = []

    def setup(self, ctx):
        return fund_requests(ctx.market, self.account, usd_wei=to_wad(1_000_000), approve=[ctx.mechanism.spender])

    def private_bid(self, view, ctx, lot):
        self.offered.append(lot)
        with ctx.hypothetically(list(lot.txs)):
            opps = ctx.mechanism.opportunities(ctx.owners, timestamp=ctx.timestamp)
        calls = tuple(ctx.mechanism.encode(o, self.account.address) for o in opps
                      if o.action == "liquidate-with-bid")
        return PrivateBid(bidder=self, bid_usd_wad=self.bid, calls=calls) if calls else None


def health(h, account):
    return h.market.positions([account.address])[0].health_factor_wad


# ------------------------------------------------------------------------------- population

def test_population_is_drawn_deterministically_from_the_seed_with_ltv_range_respected():
    spec = BorrowerSpec(count=2000, collateral_weth_median=10.0, collateral_weth_sigma=1.0,
                        ltv_min_bps=6500, ltv_max_bps=7900)
    price = to_wad(2000)
    a = draw_population(spec, np.random.default_rng(1), price, 8000)
    b = draw_population(spec, np.random.default_rng(1), price, 8000)
    c = draw_population(spec, np.random.default_rng(2), price, 8000)
    assert a == b and a != c
    assert len(a) == 2000 and all(isinstance(x, int) and isinstance(d, int) for x, d in a)
    ltvs = [d / (x * price // WAD) for x, d in a]
    assert min(ltvs) >= 0.65 - 1e-12 and max(ltvs) <= 0.79
    assert max(ltvs) > 0.785 and min(ltvs) < 0.655  # the whole range is used
    # lognormal collateral: median ~10 WETH, sigma 1 (ln-space)
    sizes = np.array([x / WAD for x, _ in a])
    assert abs(np.median(sizes) / 10 - 1) < 0.1
    assert abs(np.std(np.log(sizes)) - 1.0) < 0.05
    # a target range above the market's max LTV is capped at it
    wide = BorrowerSpec(count=300, ltv_min_bps=7000, ltv_max_bps=9500)
    capped = draw_population(wide, np.random.default_rng(3), price, 8000)
    assert max(d / (x * price // WAD) for x, d in capped) <= 0.8


# ------------------------------------------------------------------------------- borrowers

def _borrower_run(probability, seeds=(0, 1, 2, 3)):
    h = Harness()
    spec = BorrowerSpec(count=4, react_below_health_factor=1.05, reaction_probability=probability,
                        top_up_fraction=0.25)
    collateral, debt = to_wad(10), to_wad(15_800)  # LTV 79%: HF 1.076 at $2,000, 1.044 at $1,940
    borrowers = [Borrower(h.acct(f"borrower-{i}"), np.random.default_rng(s), collateral, debt, spec)
                 for i, s in enumerate(seeds)]
    h.start(borrowers, owners=[b.account.address for b in borrowers])
    for b in borrowers:  # the reserve was minted with the position
        assert h.market.weth.call("balanceOf", b.account.address) == to_wad("2.5")
        assert h.market.usd.call("balanceOf", b.account.address) == debt + to_wad(3950)
    set_price(h.market, to_wad(1940))
    return h, borrowers


def test_borrower_below_threshold_with_certain_reaction_tops_up_or_repays_and_health_rises():
    h, borrowers = _borrower_run(1.0)
    before = {b.label: health(h, b.account) for b in borrowers}
    assert all(WAD < hf < to_wad("1.05") for hf in before.values())
    produced = h.block(to_wad(1940))
    sent = produced.by_tag("borrower")
    assert len(sent) == 4 and all(r.succeeded for _, r in sent)
    actions = set()
    for b in borrowers:
        (_, action, amount), = b.reactions
        actions.add(action)
        col = h.market.lending.call("collateralOf", b.account.address)
        owed = h.market.lending.call("debtOf", b.account.address)
        if action == "top-up":
            assert (col, owed, amount) == (to_wad("12.5"), to_wad(15_800), to_wad("2.5"))
        else:
            assert (col, owed, amount) == (to_wad(10), to_wad(11_850), to_wad(3950))
        assert health(h, b.account) > before[b.label]
        assert health(h, b.account) > to_wad("1.3")
    assert actions == {"top-up", "repay"}  # the choice is drawn from each borrower's generator
    # healthy again: nothing more to do
    assert not h.block(to_wad(1940)).by_tag("borrower")


def test_borrower_with_zero_reaction_probability_never_acts():
    h, borrowers = _borrower_run(0.0)
    before = [health(h, b.account) for b in borrowers]
    for _ in range(3):
        assert not h.block(to_wad(1940)).by_tag("borrower")
    assert [health(h, b.account) for b in borrowers] == before
    assert all(b.reactions == [] for b in borrowers)


# ------------------------------------------------------------------------------- oracle

def test_oracle_pushes_on_deviation_and_heartbeat_only_as_a_public_mempool_tx():
    h = Harness()
    updater = OracleUpdater(h.market.oracle_updater, np.random.default_rng(0),
                            OracleSpec(deviation_bps=50, heartbeat_seconds=3600))
    spy = Spy(h.acct("spy"))
    h.start([updater, spy])
    oracle = h.market.oracle
    # no deviation (49.5 bps) and no heartbeat: nothing
    for price in (to_wad(2000), to_wad("2009.9")):
        assert not h.block(price).by_tag("oracle-update")
    # 50 bps: pushed, visible to the other agents in phase 2 (so it can be back-run)
    view = h.phases(to_wad(2010))
    seen = [p for p in spy.seen[-1] if p.tag == "oracle-update"]
    assert len(seen) == 1 and seen[0].agent == updater.label and not seen[0].private
    assert seen[0].tx.data == oracle.encode("submit", to_wad(2010))
    assert view.pending == spy.seen[-1]
    produced = h.produce()
    (_, receipt), = produced.by_tag("oracle-update")
    assert receipt.succeeded and oracle.call("price") == to_wad(2010)
    assert updater.ledger.txs_sent == 1
    pushed_at = h.chain.timestamp
    # unchanged price: nothing until the heartbeat
    assert not h.block(to_wad(2010), dt=12).by_tag("oracle-update")
    assert not h.block(to_wad(2010), dt=3600 - 12 - 1).by_tag("oracle-update")
    assert h.chain.timestamp - pushed_at == 3599
    produced = h.block(to_wad(2010), dt=1)
    assert len(produced.by_tag("oracle-update")) == 1
    assert oracle.call("latestRound") == 3  # deploy + deviation + heartbeat


def test_pending_oracle_update_is_replaced_only_when_the_price_moves_further():
    h = Harness()
    updater = OracleUpdater(h.market.oracle_updater, np.random.default_rng(0), OracleSpec(deviation_bps=50))
    h.start([updater])
    h.phases(to_wad(2100))
    (first,) = h.mempool.pending()
    h.phases(to_wad(2105))  # 24 bps from the pending answer: left alone
    assert h.mempool.pending() == [first]
    h.phases(to_wad(2120))  # 95 bps further: same nonce, both fee caps +12.5%
    (second,) = h.mempool.pending()
    assert second.nonce == first.nonce and second.hash != first.hash
    assert second.tx.max_fee_per_gas * 8 >= first.tx.max_fee_per_gas * 9
    assert second.tx.max_priority_fee_per_gas * 8 >= first.tx.max_priority_fee_per_gas * 9
    h.produce()
    assert h.market.oracle.call("price") == to_wad(2120)
    assert h.market.oracle.call("latestRound") == 2


def test_an_oracle_fault_reports_the_reference_times_its_multiplier_then_returns_to_normal():
    """[oracle] faults = [[start_s, end_s, multiplier]]: the feed is wrong, the market is right."""
    h = Harness()
    spec = OracleSpec(deviation_bps=50, faults=((24.0, 48.0, 0.77),))
    updater = OracleUpdater(h.market.oracle_updater, np.random.default_rng(0), spec)
    h.start([updater])
    pushed = []
    for k in (1, 2, 3, 4, 5):
        number, h._t = h.chain.block_number + 1, h.chain.timestamp + 12
        view = h.ctx.begin_block(number, h._t, to_wad(2000), elapsed_seconds=12 * k)
        updater.reprice_stuck(view, h.ctx)
        updater.step(view, h.ctx)
        pushed.append(h.produce().by_tag("oracle-update"))
    assert [len(p) for p in pushed] == [0, 1, 0, 1, 0]  # into the fault at 24 s, out of it at 48 s
    assert [p[0][0].meta["price_wad"] for p in pushed if p] == [to_wad(1540), to_wad(2000)]
    assert h.market.oracle.call("price") == to_wad(2000)


def test_pending_oracle_update_priced_out_by_the_base_fee_is_replaced():
    h = Harness()
    updater = OracleUpdater(h.market.oracle_updater, np.random.default_rng(0), OracleSpec(deviation_bps=50))
    h.start([updater])
    h.phases(to_wad(2100))
    (first,) = h.mempool.pending()
    # full blocks of other users' demand push the base fee above the pending max fee
    while h.chain.next_base_fee <= first.tx.max_fee_per_gas:
        h.chain.execute_block([], h.chain.timestamp + 12, background_gas=h.chain.gas_limit)
    h.phases(to_wad(2100))
    (second,) = h.mempool.pending()
    assert second.nonce == first.nonce and second.tx.max_fee_per_gas > h.chain.next_base_fee
    assert h.produce().by_tag("oracle-update")[0][1].succeeded


def _private_run(bids_usd, delay_seconds=0):
    h = Harness(PrivateAuctionMechanism, market_params=MarketParams(oracle_delay_seconds=delay_seconds))
    victim = h.acct("borrower-0")
    # 10 WETH against 15,300 USD: HF 1.111 at $2,000, 0.972 at $1,750
    v = Borrower(victim, np.random.default_rng(5), to_wad(10), to_wad(15_300), BorrowerSpec())
    updater = OracleUpdater(h.market.oracle_updater, np.random.default_rng(0),
                            OracleSpec(delay_seconds=delay_seconds))
    keepers = [FakeKeeper(h.acct(f"keeper-{i}"), bid) for i, bid in enumerate(bids_usd)]
    spy = Spy(h.acct("spy"))
    h.start([v, updater, *keepers, spy], owners=[victim.address])
    return h, victim, updater, keepers, spy


def test_private_update_skips_the_mempool_and_lands_as_update_grant_winner_liquidation_bundle():
    h, victim, updater, keepers, spy = _private_run([100, 250, 40])
    treasury_before = h.market.usd.call("balanceOf", h.market.treasury.address)
    debt_before = h.market.lending.call("debtOf", victim.address)
    h.phases(to_wad(1750))
    # nothing public: a back-runner sees no update
    assert h.mempool.pending() == [] and all(p.tag != "oracle-update" for p in spy.seen[-1])
    assert all(len(k.offered) == 1 and k.offered[0].price_wad == to_wad(1750) for k in keepers)
    produced = h.produce()
    winner = keepers[1]
    tags = [(p.tag, p.agent) for p in produced.txs]
    assert tags == [("oracle-update", updater.label), ("auction-grant", "deployer"),
                    ("liquidation", winner.label)]
    assert all(r.succeeded for r in produced.receipts)
    assert produced.txs[2].meta["action"] == "liquidate-with-bid"
    assert h.market.oracle.call("price") == to_wad(1750)
    state = h.mech.auction_state()
    assert (state.winner, state.bid, state.paid) == (winner.account.address, to_wad(250), True)
    assert h.market.lending.call("debtOf", victim.address) < debt_before
    # the protocol got 80% of the bid (plus the liquidation's protocol fee in WETH, not USD)
    assert h.market.usd.call("balanceOf", h.market.treasury.address) - treasury_before == to_wad(200)
    # receipts are booked to whoever sent them
    assert winner.ledger.txs_sent == 1 and updater.ledger.txs_sent == 1
    assert keepers[0].ledger.txs_sent == 0
    assert updater.auctions[-1]["winner"] == winner.account.address


def test_private_update_without_bids_lands_alone_in_a_bundle():
    h, victim, updater, keepers, spy = _private_run([])
    h.phases(to_wad(1750))
    assert h.mempool.pending() == [] and len(h.mempool.bundles()) == 1
    produced = h.produce()
    assert [p.tag for p in produced.txs] == ["oracle-update"] and produced.txs[0].private
    assert h.market.oracle.call("price") == to_wad(1750)
    assert h.mech.auction_state().winner is None


def test_under_an_oracle_delay_the_round_is_auctioned_in_the_block_it_comes_into_force():
    """OSM-style delay: the next price is public an hour ahead, which is what the order-flow
    auction sells. Regression: no auction was ever held under a delay, and every public
    liquidation reverted during the exclusive windows (760 failed transactions in black-thursday)."""
    h, victim, updater, keepers, spy = _private_run([100, 250], delay_seconds=60)
    h.phases(to_wad(1750))
    assert all(k.offered == [] for k in keepers)  # nothing to sell yet: the round is not in force
    produced = h.produce()
    assert [p.tag for p in produced.txs] == ["oracle-update"] and produced.receipts[0].succeeded
    assert h.market.oracle.call("price") == to_wad(2000)  # still the old round in force
    for _ in range(4):  # 48 s: the round is still 12 s from coming into force
        h.block(to_wad(1750))
    assert all(k.offered == [] for k in keepers)
    h.phases(to_wad(1750), dt=12)  # the block at +60 s: the round comes into force
    assert [len(k.offered) for k in keepers] == [1, 1] and keepers[0].offered[0].txs == ()
    produced = h.produce()
    winner = keepers[1]
    assert [(p.tag, p.agent) for p in produced.txs] == [("auction-grant", "deployer"),
                                                       ("liquidation", winner.label)]
    assert all(r.succeeded for r in produced.receipts)
    assert produced.receipts[1].events("BidPaid")[0].args["bid"] == to_wad(250)
    assert h.market.oracle.call("price") == to_wad(1750)
    assert updater.auctions[-1]["winner"] == winner.account.address


def test_private_refuses_an_auction_with_no_exclusive_window():
    with pytest.raises(ValueError, match="open_delay_seconds must be > 0"):
        PrivateAuctionParams(open_delay_seconds=0)


def test_private_refuses_a_scenario_whose_exclusive_window_holds_no_block():
    from sandbox.scenarios import Scenario, ScenarioError
    from sandbox.simulation import check_scenario

    # rounds come into force 20 s before a block (delay 100, blocks every 120 s): 12 s is too short
    late = Scenario(name="t", block_time_seconds=120, oracle=OracleSpec(delay_seconds=100))
    with pytest.raises(ScenarioError, match=r"^mechanisms.private.open_delay_seconds: 12 s leaves no block"):
        check_scenario(late, "private")
    ok = Scenario(name="t", block_time_seconds=120, oracle=OracleSpec(delay_seconds=100),
                  mechanisms={"private": {"open_delay_seconds": 30}})
    assert check_scenario(ok, "private").open_delay_seconds == 30
    assert check_scenario(Scenario(name="t", block_time_seconds=120, oracle=OracleSpec(delay_seconds=3600)),
                          "private").open_delay_seconds == 12  # 3600 is a multiple of 120


# ------------------------------------------------------------------------------- arbitrageur

def _arb_run(capital_usd, min_edge_bps=10, mech_cls=FixedFeeMechanism):
    h = Harness(mech_cls)
    arb = Arbitrageur(h.acct("arbitrageur"), np.random.default_rng(0),
                      ArbitrageurSpec(capital_usd_per_block=capital_usd, min_edge_bps=min_edge_bps))
    return h, arb


def within_bps(a, b, bps):
    return abs(a - b) * BPS <= bps * b


def test_closed_form_input_moves_the_pool_to_the_price_after_the_fee():
    r0, r1, fee = to_wad(5000), to_wad(10_000_000), 30
    for target in (to_wad(2100), to_wad(1900), to_wad("2000.5"), to_wad(1000)):
        buy, x = amm_input_to_price(r0, r1, target, fee)
        assert buy == (target > to_wad(2000))
        scaled = x * (BPS - fee)
        if buy:
            out = scaled * r0 // (r1 * BPS + scaled)
            new = (r1 + x) * WAD // (r0 - out)
        else:
            out = scaled * r1 // (r0 * BPS + scaled)
            new = (r1 - out) * WAD // (r0 + x)
        assert abs(new - target) * 10**9 < target  # exact up to integer rounding
    assert amm_input_to_price(r0, r1, to_wad(2000), fee)[1] == 0


def test_arbitrageur_moves_amm_price_to_within_min_edge_when_capital_suffices():
    h, arb = _arb_run(2_000_000)
    h.start([arb])
    who = [arb.account.address, h.market.amm.address]
    before = holdings(h.market, who)
    usd0 = arb.inventory_usd
    produced = h.block(to_wad(2100))
    (pending, receipt), = produced.by_tag("arbitrage")
    assert receipt.succeeded and pending.meta["buy_weth"]
    assert within_bps(h.spot(), to_wad(2100), 10)
    assert_tokens_conserved(h.market, before, holdings(h.market, who))
    # inventory tracked from its own transfers
    weth, usd = holdings(h.market, [arb.account.address])[arb.account.address]
    assert (arb.inventory_weth, arb.inventory_usd) == (weth, usd) and usd < usd0
    # profitable at the reference price (before gas): more WETH value than USD paid
    assert (usd0 - usd) < (weth - before[arb.account.address][0]) * 2100
    # at the price: nothing more to do; a price inside the edge is left alone too
    assert not h.block(to_wad(2100)).by_tag("arbitrage")
    assert not h.block(to_wad("2101.5")).by_tag("arbitrage")
    # and the other way round: it sells WETH when the pool is above the reference
    produced = h.block(to_wad(1950))
    (pending, receipt), = produced.by_tag("arbitrage")
    assert receipt.succeeded and not pending.meta["buy_weth"]
    assert within_bps(h.spot(), to_wad(1950), 10)


def test_arbitrageur_with_capped_capital_moves_the_price_only_part_way_per_block():
    h, arb = _arb_run(50_000)
    h.start([arb])
    usd0 = arb.inventory_usd
    spots = [h.spot()]
    for _ in range(2):
        produced = h.block(to_wad(2100))
        (pending, receipt), = produced.by_tag("arbitrage")
        assert receipt.succeeded and pending.meta["amount_in"] == to_wad(50_000)
        spots.append(h.spot())
    assert spots[0] < spots[1] < spots[2] < to_wad(2100)
    assert not within_bps(spots[2], to_wad(2100), 10)
    assert usd0 - arb.inventory_usd == to_wad(100_000)


def _price_out(h, pending):
    """Full blocks of other users' demand until the base fee passes ``pending``'s max fee."""
    while h.chain.next_base_fee <= pending.tx.max_fee_per_gas:
        h.chain.execute_block([], h.chain.timestamp + 12, background_gas=h.chain.gas_limit)


def test_a_stuck_arbitrage_is_replaced_by_a_trade_sized_now_and_the_pool_follows_the_price():
    """Regression (black-thursday): a trade priced out by the base fee sat pending for hours
    while the AMM stayed at a stale price."""
    h, arb = _arb_run(2_000_000)
    h.start([arb])
    h.phases(to_wad(2100))
    (first,) = h.mempool.pending()
    _price_out(h, first)
    h.phases(to_wad(1900))  # the market moved the other way meanwhile
    (second,) = h.mempool.pending()
    assert second.nonce == first.nonce and second.tx.max_fee_per_gas >= h.chain.next_base_fee
    assert second.tx.max_fee_per_gas * 8 >= first.tx.max_fee_per_gas * 9  # the replacement rule
    assert second.meta["buy_weth"] is False  # sized on the state seen now: sell toward 1,900
    produced = h.produce()
    assert produced.by_tag("arbitrage")[0][1].succeeded
    assert within_bps(h.spot(), to_wad(1900), 10)


def test_a_stuck_arbitrage_with_nothing_left_to_trade_is_cancelled_to_free_its_nonce():
    h, arb = _arb_run(2_000_000)
    h.start([arb])
    h.phases(to_wad(2100))
    (first,) = h.mempool.pending()
    _price_out(h, first)
    h.phases(h.spot())  # the reference is back at the pool's price: no trade pays
    (cancel,) = h.mempool.pending()
    assert cancel.nonce == first.nonce and cancel.meta["venue"] == "cancel"
    assert cancel.tx.to == arb.account.address and cancel.tx.value == 0 and cancel.tx.gas == 21_000
    assert h.produce().by_tag("arbitrage")[0][1].succeeded


def test_a_pending_trade_passed_over_for_reprice_after_blocks_is_re_priced():
    h, arb = _arb_run(2_000_000)
    arb.gas = GasPolicy(tip_gwei=1.0, reprice_after_blocks=2)
    h.start([arb])
    h.phases(to_wad(2100))
    (first,) = h.mempool.pending()
    h.mempool.remove_included([first.hash])  # pretend builders ignored it: the block stays empty
    h.mempool.submit(first.tx, agent=first.agent, tag=first.tag, meta=first.meta)
    for _ in range(2):
        h.chain.execute_block([], h.chain.timestamp + 12)
    h.phases(to_wad(2100))
    (second,) = h.mempool.pending()
    assert second.nonce == first.nonce and second.hash != first.hash
    assert second.tx.max_priority_fee_per_gas * 8 >= first.tx.max_priority_fee_per_gas * 9


def test_a_gas_cap_stops_re_pricing_at_the_cap():
    policy = GasPolicy(tip_gwei=1.0, max_fee_cap_gwei=5.0)
    assert policy.replacement_fees(base_fee=10 * GWEI, old_max_fee=5 * GWEI, old_tip=GWEI) is None
    max_fee, tip = GasPolicy(tip_gwei=1.0).replacement_fees(10 * GWEI, 5 * GWEI, GWEI)
    assert (max_fee, tip) == (21_125_000_000, 1_125_000_000)  # tip +12.5%; max fee 2 x base + that tip


def test_collateral_dump_moves_the_amm_price_and_the_arbitrageur_restores_it_over_several_blocks():
    h, arb = _arb_run(300_000)
    h.start([arb])
    market, dumper = h.market, h.acct("dumper")
    # a keeper sells 500 WETH of seized collateral
    execute(h.chain, [market.weth.tx(market.deployer, "mint", dumper.address, to_wad(500)),
                      market.weth.tx(dumper, "approve", market.amm.address, MAX_UINT),
                      market.amm.tx(dumper, "swapExactIn", market.weth.address, to_wad(500), 0, dumper.address)])
    dumped = h.spot()
    assert dumped < to_wad(1700)
    spots, blocks = [dumped], 0
    while True:
        produced = h.block(to_wad(2000))
        trades = produced.by_tag("arbitrage")
        if not trades:
            break
        blocks += 1
        (pending, receipt), = trades
        assert receipt.succeeded and pending.meta["amount_in"] <= to_wad(300_000)
        spots.append(h.spot())
        assert spots[-1] > spots[-2]
        assert blocks < 10
    assert blocks >= 3  # bounded capital per block: the dump is absorbed over several blocks
    # restored up to the pool fee (30 bps): closing the rest would cost the arbitrageur more in
    # fees than it gains, so it stops there, as real arbitrage does
    assert spots[-1] < to_wad(2000) and within_bps(spots[-1], to_wad(2000), 30)
    assert not within_bps(spots[-2], to_wad(2000), 30)


def test_soft_arbitrageur_converts_band_collateral_when_the_price_falls():
    h, arb = _arb_run(2_000_000, mech_cls=SoftLiquidationMechanism)
    victim = h.acct("borrower-0")
    v = Borrower(victim, np.random.default_rng(5), to_wad(10), to_wad(16_000), BorrowerSpec())
    updater = OracleUpdater(h.market.oracle_updater, np.random.default_rng(0), OracleSpec())
    h.start([v, updater, arb], owners=[victim.address])
    mech = h.mech
    assert h.market.usd.call("allowance", arb.account.address, mech.spender) == MAX_UINT
    n1 = mech.contract.call("positions", victim.address)[2]
    bm = mech.math
    mid = (bm.p_up(n1) + bm.p_down(n1)) // 2  # the price falls into the top band
    held0 = mech.contract.call("heldCollateral", victim.address)
    assert held0 == (to_wad(10), 0)
    soft = []
    for _ in range(3):
        produced = h.block(mid)
        soft += [(p, r) for p, r in produced.by_tag("arbitrage") if p.meta["venue"] == "mechanism"]
    assert h.market.oracle.call("price") == mid
    assert soft and all(r.succeeded for _, r in soft)
    assert soft[0][0].meta["action"] == "soft-liquidate"
    weth_held, usd_held = mech.contract.call("heldCollateral", victim.address)
    assert weth_held < to_wad(10) and usd_held > 0
    assert within_bps(h.spot(), mid, 10)  # and the AMM followed the reference
    assert h.market.lending.call("debtOf", victim.address) == to_wad(16_000)


def test_private_auction_with_the_keeper_base_bids_sells_the_right_to_the_highest_bidder():
    keepers_base = pytest.importorskip("sandbox.agents.keepers.base")
    h = Harness(PrivateAuctionMechanism)
    victim = h.acct("borrower-0")
    v = Borrower(victim, np.random.default_rng(5), to_wad(10), to_wad(15_300), BorrowerSpec())
    updater = OracleUpdater(h.market.oracle_updater, np.random.default_rng(0), OracleSpec())
    shares = (5000, 9000)
    keepers = [keepers_base.Keeper(h.acct(f"keeper-{i}"), np.random.default_rng(i), capital_usd=1_000_000,
                                   params=keepers_base.KeeperParams(bid_share_bps=s))
               for i, s in enumerate(shares)]
    h.start([v, updater, *keepers], owners=[victim.address])
    h.phases(to_wad(1750))
    bids = updater.auctions[-1]["bids"]
    assert set(bids) == {k.account.address for k in keepers} and bids[keepers[1].account.address] > \
        bids[keepers[0].account.address] > 0
    produced = h.produce()
    assert [(p.tag, p.agent) for p in produced.txs][::2] == [("oracle-update", updater.label),
                                                              ("liquidation", keepers[1].label)]
    assert all(r.succeeded for r in produced.receipts)
    assert h.mech.auction_state().winner == keepers[1].account.address
    assert keepers[1].ledger.txs_sent == 1 and updater.ledger.txs_sent == 1
