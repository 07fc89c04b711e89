"""``Opportunity.uncontested``: a call whose result no rival can take (whoever sends it, the
same thing happens, or only one sender may) is flagged so keepers send it at their base tip.

Each mechanism's own opportunities are read through ``mechanism.opportunities(owners)`` at the
stage where the call is open: English bite / deal / tick, Compound absorb and the private
window's winner call are uncontested; an English bid, a Dutch bark or take, a fixed-fee
liquidation, Compound's buyCollateral and the private mechanism's public call after the window
are not. Position: 10 WETH against 15,300 USD (HF 1.111 at $2,000, < 1 at $1,750).
"""

from __future__ import annotations

import pytest

from sandbox.chain import execute
from sandbox.market.actions import fund_requests, open_positions, set_price
from sandbox.mechanisms import get_mechanism
from sandbox.units import to_wad

CRASH = to_wad(1750)
KEEPER_USD = to_wad(1_000_000)


def crashed(market, borrowers, keepers, name, count=1):
    """``name`` deployed, ``count`` positions opened and made liquidatable, keepers funded."""
    mech = get_mechanism(name).deploy(market)
    open_positions(market, [(b, to_wad(10), to_wad(15_300)) for b in borrowers[:count]])
    execute(market.chain, [r for k in keepers for r in fund_requests(market, k, usd_wei=KEEPER_USD,
                                                                       approve=[mech.spender])])
    set_price(market, CRASH)
    return mech, [b.address for b in borrowers[:count]]


def flags(mech, owners) -> dict[str, bool]:
    return {o.action: o.uncontested for o in mech.opportunities(owners)}


def send(market, mech, keeper, opp):
    execute(market.chain, [mech.encode(opp, keeper.address).request(keeper)])


def test_english_bite_deal_and_tick_are_uncontested_and_a_bid_is_not(market, borrowers, keepers):
    mech, owners = crashed(market, borrowers, keepers, "english-auction", count=2)
    opps = mech.opportunities(owners)
    assert [(o.action, o.uncontested) for o in opps] == [("bite", True), ("bite", True)]
    for o in opps:
        send(market, mech, keepers[0], o)
    bids = mech.opportunities(owners)
    assert [(o.action, o.uncontested) for o in bids] == [("tend", False), ("tend", False)]
    send(market, mech, keepers[0], bids[0])  # a bid on the first lot only
    p = mech.params
    execute(market.chain, [], timestamp=market.chain.timestamp + p.ttl_seconds + 1)
    assert {(o.ref, o.action, o.uncontested) for o in mech.opportunities(owners)} == \
        {(bids[0].ref, "deal", True), (bids[1].ref, "tend", False)}
    execute(market.chain, [], timestamp=market.chain.timestamp + p.tau_seconds)
    assert {(o.ref, o.action, o.uncontested) for o in mech.opportunities(owners)} == \
        {(bids[0].ref, "deal", True), (bids[1].ref, "tick", True)}  # no bid by the end: restart it


def test_absorb_is_uncontested_and_buying_its_collateral_is_not(market, borrowers, keepers):
    mech, owners = crashed(market, borrowers, keepers, "absorb")
    (absorb,) = mech.opportunities(owners)
    assert (absorb.action, absorb.uncontested) == ("absorb", True)
    send(market, mech, keepers[0], absorb)
    buys = [o for o in mech.opportunities(owners) if o.action != "absorb"]
    assert buys and not any(o.uncontested for o in buys)


def test_the_private_windows_winner_call_is_uncontested_and_the_public_call_after_it_is_not(
        market, borrowers, keepers):
    mech, owners = crashed(market, borrowers, keepers, "private")
    (opp,) = mech.opportunities(owners)
    assert (opp.action, opp.private, opp.uncontested) == ("liquidate-with-bid", True, True)
    after = market.chain.timestamp + mech.params.open_delay_seconds
    (opp,) = mech.opportunities(owners, timestamp=after)
    assert (opp.action, opp.private, opp.uncontested) == ("liquidate", False, False)


def test_a_fixed_fee_liquidation_is_contested(market, borrowers, keepers):
    mech, owners = crashed(market, borrowers, keepers, "fixed-fee")
    assert flags(mech, owners) == {"liquidate": False}


def test_a_dutch_bark_and_take_are_contested(market, borrowers, keepers):
    mech, owners = crashed(market, borrowers, keepers, "dutch-auction")
    (bark,) = mech.opportunities(owners)
    assert (bark.action, bark.uncontested) == ("bark", False)  # its caller is paid the tip and chip
    send(market, mech, keepers[0], bark)
    execute(market.chain, [], timestamp=market.chain.timestamp + 600)
    takes = mech.opportunities(owners)
    assert takes and all(o.action == "take" and not o.uncontested for o in takes)


# soft is left out: a plain position crashed at once gives it nothing to do (its set-up is in test_soft.py)
LENDING = ["fixed-fee", "dutch-auction", "private", "english-auction", "absorb"]


@pytest.mark.parametrize("name", LENDING)
def test_an_uncontested_public_call_pays_its_caller_nothing_a_rival_could_take(name, market, borrowers, keepers):
    """The rule behind the flag, asked through the interface only: an uncontested public call
    moves nothing to its caller (a winner's claim it settles goes to the winner whoever calls);
    checked on the first opportunities and on those the first call leaves open."""
    mech, owners = crashed(market, borrowers, keepers, name)
    opps = mech.opportunities(owners)
    assert opps, f"{name}: nothing to do on a crashed position"
    public = [o for o in opps if not o.private]
    if public:  # its effect, not its success, is what opens the next calls (a soft band may refuse)
        call = mech.encode(public[0], keepers[0].address)
        execute(market.chain, [call.request(keepers[0])], require_success=False)
    for o in opps + mech.opportunities(owners):
        if o.uncontested and not o.private:
            assert not o.receives, f"{name} {o.action}: uncontested yet it pays its caller {o.receives}"
