"""Uncontested calls and the opportunist keeper: each test is named after the rule it checks.

An ``uncontested`` call (the English ``deal`` of a keeper's own lot: the lot goes to the winner
whoever calls it) goes at the keeper's gas policy's base tip and is never re-bid, whatever the
strategy; before, a PGA keeper tipped 50% of the whole lot (up to 5,000 gwei) on its own deal.
The opportunist bids the least the contract accepts on a lot nobody bids on and never bids on a
lot someone else leads. Harness and position as in test_keepers.py (10 WETH against 15,300 USD,
crashed to $1,790); English defaults: ttl 3 h, tau 2 days, beg 5%.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from test_keepers import CRASH, Harness, move_price

from sandbox.agents.base import GasPolicy
from sandbox.agents.keepers import get_keeper
from sandbox.agents.keepers.naive import NaiveKeeper
from sandbox.agents.keepers.opportunist import OpportunistKeeper
from sandbox.agents.keepers.pga import PgaKeeper, PgaParams
from sandbox.mechanisms.dutch_auction import DutchAuctionMechanism
from sandbox.mechanisms.english_auction import EnglishAuctionMechanism
from sandbox.units import GWEI

BASE_TIP = 2 * GWEI  # the harness's gas policy: GasPolicy(tip_gwei=2.0)


@dataclass
class Rival:
    """Agent-like sender of one transaction (a bystander that also calls ``deal``)."""

    account: object
    gas: GasPolicy

    @property
    def label(self) -> str:
        return self.account.label


def spy_submissions(h: Harness) -> list[tuple[str, str, int]]:
    """Every public submission from now on, replacements included: (agent, action, tip wei)."""
    seen: list[tuple[str, str, int]] = []
    submit = h.mempool.submit

    def recording(tx, agent, tag, meta=None):
        seen.append((agent, (meta or {}).get("action", tag), tx.max_priority_fee_per_gas))
        return submit(tx, agent, tag, meta)

    h.mempool.submit = recording  # type: ignore[method-assign]
    return seen


def win_and_deal(h: Harness, between_deal=None) -> None:
    """bite; tend (a bid); nothing while it stands; ttl (3 h) passes; the winner deals."""
    move_price(h, CRASH)
    for dt in (12, 12, 12, 10_800):
        h.block(price=CRASH, dt=dt)
    h.block(price=CRASH, dt=12, between=between_deal)


def landed(h: Harness, action: str) -> list[tuple[str, int, bool]]:
    return [(p.agent, p.tx.max_priority_fee_per_gas, r.succeeded) for p, r in h.liquidations()
            if p.meta.get("action") == action]


@pytest.mark.parametrize("strategy", ["naive", "pga", "backrunner", "opportunist"])
def test_a_keeper_deals_the_lot_it_won_at_its_gas_policys_base_tip_in_one_transaction(strategy):
    h = Harness([(get_keeper(strategy), {})], mechanism=EnglishAuctionMechanism)
    (k,) = h.keepers
    sent = spy_submissions(h)
    win_and_deal(h)
    assert landed(h, "deal") == [(k.label, BASE_TIP, True)]
    assert [s for s in sent if s[1] == "deal"] == [(k.label, "deal", BASE_TIP)]
    assert h.mech.auctions() == []


def test_a_pga_keeper_never_re_bids_its_deal_when_a_rival_deal_tips_more():
    """A bystander's deal at 10 gwei in the mempool: the lot goes to the PGA keeper either way,
    so it keeps its one 2-gwei transaction (its old gas auction re-bid x1.125 over it). The
    keeper's profit share is tiny so even its old opening tip (~3.3 gwei) was below the rival's."""
    h = Harness([(PgaKeeper, {"params": PgaParams(profit_share_bps=1)})], mechanism=EnglishAuctionMechanism)
    (k,) = h.keepers
    rival = Rival(h.market.deployer, GasPolicy(tip_gwei=10.0))
    sent = spy_submissions(h)

    def rival_deal(view):
        (deal,) = [o for o in h.mech.opportunities(h.ctx.owners) if o.action == "deal"]
        h.ctx.submit(rival, h.mech.encode(deal, rival.account.address).request(rival.account),
                     tag="liquidation", meta={"action": "deal"})

    win_and_deal(h, between_deal=rival_deal)
    mine = [tip for agent, action, tip in sent if action == "deal" and agent == k.label]
    assert len(mine) == 1, f"re-bid: {mine}"
    assert mine == [BASE_TIP]
    assert h.mech.auctions() == [] and k.weth_balance > 0  # the lot is the keeper's all the same


def test_a_frontrunner_never_copies_another_keepers_deal():
    h = Harness([(NaiveKeeper, {}), (get_keeper("frontrunner"), {})], mechanism=EnglishAuctionMechanism)
    naive, front = h.keepers
    sent = spy_submissions(h)
    win_and_deal(h)
    assert [s for s in sent if s[1] == "deal"] == [(naive.label, "deal", BASE_TIP)]
    assert not [s for s in sent if s[0] == front.label]


# ------------------------------------------------------------------------------ opportunist

def bids(h: Harness) -> list[dict]:
    return [log.args for b in h.produced for log in b.result.logs if log.name in ("Tend", "Dent")]


def test_the_opportunist_bids_the_least_the_contract_accepts_on_a_lot_nobody_bid_on():
    """English ``tend`` on a lot with no bid: the opening bid, 0, where the naive keeper bids
    what the lot is worth to it."""
    h = Harness([(OpportunistKeeper, {})], mechanism=EnglishAuctionMechanism)
    (k,) = h.keepers
    move_price(h, CRASH)
    h.block(price=CRASH)  # bite
    (opp,) = h.mech.opportunities(h.ctx.owners)
    least = h.mech.encode(opp, k.address)  # the mechanism's own call: its minimum acceptable bid
    h.block(price=CRASH)
    ((action, tx),) = [(p.meta["action"], p.tx) for p, r in h.liquidations(h.produced[-1]) if r.succeeded]
    assert action == "tend" and tx.data == least.data
    (auction,) = h.mech.auctions()
    assert auction["bid"] == 0 and auction["guy"].lower() == k.address.lower()

    n = Harness([(NaiveKeeper, {})], mechanism=EnglishAuctionMechanism)
    move_price(n, CRASH)
    n.block(price=CRASH)
    n.block(price=CRASH)
    (naive_auction,) = n.mech.auctions()
    assert naive_auction["bid"] > 0  # the naive keeper's jump bid


def test_the_opportunist_never_bids_on_a_lot_someone_else_bid_on():
    """The naive keeper bites and bids first; the opportunist then sees a lot with a leader,
    through the whole bid duration, and sends nothing on it (nor the deal of a lot it did not win)."""
    h = Harness([(NaiveKeeper, {}), (OpportunistKeeper, {})], mechanism=EnglishAuctionMechanism)
    naive, opp_keeper = h.keepers
    move_price(h, CRASH)
    h.block(price=CRASH)  # bite (the naive keeper)
    h.block(price=CRASH)  # tend (the naive keeper)
    (auction,) = h.mech.auctions()
    assert auction["guy"].lower() == naive.address.lower()
    sent = spy_submissions(h)
    for dt in (12, 3_600, 3_600, 3_601, 12):
        h.block(price=CRASH, dt=dt)
    assert not [s for s in sent if s[0] == opp_keeper.label and s[1] in ("tend", "dent", "deal")]
    assert h.mech.auctions() == []  # the naive keeper dealt its lot


def test_the_opportunist_does_not_bid_against_a_rival_bid_still_pending():
    """Both see the same fresh auction in one block: the naive keeper's bid is sent first, so
    the opportunist (which acts after it) sends none on that lot."""
    h = Harness([(NaiveKeeper, {}), (OpportunistKeeper, {})], mechanism=EnglishAuctionMechanism)
    naive, opp_keeper = h.keepers
    move_price(h, CRASH)
    h.block(price=CRASH)  # bite
    sent = spy_submissions(h)
    h.block(price=CRASH)
    assert [s[0] for s in sent if s[1] == "tend"] == [naive.label]


def test_the_opportunist_acts_as_the_naive_keeper_outside_standing_bids():
    """A Dutch auction has no standing bid: the opportunist barks and takes exactly as the
    naive keeper does, block for block, at the same tip."""
    def run(cls):
        h = Harness([(cls, {})], mechanism=DutchAuctionMechanism)
        move_price(h, CRASH)
        for dt in (12, 12, 600, 600, 600, 600):
            h.block(price=CRASH, dt=dt)
        return [[(p.meta["action"], p.tx.max_priority_fee_per_gas, p.tx.data, r.succeeded)
                 for p, r in h.liquidations(b)] for b in h.produced]

    naive, opportunist = run(NaiveKeeper), run(OpportunistKeeper)
    assert any(naive) and opportunist == naive
