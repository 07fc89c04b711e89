"""English auction (MakerDAO Liquidations 1.2: cat.bite + flip.tend / dent / deal / tick): each
test is named after the rule it checks.

Reference numbers (ETH-A flipper, March 2020): chop 1.13, beg 1.05, ttl 3 h, tau 2 days.
Market: price $2,000, liquidation threshold 85%, max LTV 80%. The position: 10 WETH against
16,000 USD, liquidatable at $1,800 (HF 0.956); tab = 16,000 × 1.13 = 18,080.
"""

from __future__ import annotations

import pytest

from sandbox.chain import execute
from sandbox.market.actions import fund_requests, open_positions, set_price
from sandbox.mechanisms.english_auction import (
    EnglishAuctionMechanism,
    EnglishAuctionParams,
    max_next_lot,
    min_next_bid,
    quote_deal,
)
from sandbox.testing.accounting import Checked, liquidation_flows
from sandbox.units import WAD, to_wad

from test_dutch_auction import position, reverted

KEEPER_USD = to_wad(1_000_000)
COLLATERAL = to_wad(10)
DEBT = to_wad(16_000)
CRASH_PRICE = to_wad(1_800)
TAB = to_wad(18_080)
TTL = 10_800
TAU = 172_800
MAX_UINT = 2**256 - 1


@pytest.fixture
def mech(market):
    return EnglishAuctionMechanism.deploy(market)


@pytest.fixture
def checked(market, mech, borrowers, keepers):
    execute(market.chain, [r for k in keepers
                           for r in fund_requests(market, k, usd_wei=KEEPER_USD, approve=[mech.spender])])
    return Checked(market, mech, borrowers, keepers)


def open_and_crash(market, borrower, collateral=COLLATERAL, debt=DEBT, price=CRASH_PRICE):
    open_positions(market, [(borrower, collateral, debt)])
    set_price(market, price)
    assert market.lending.call("isLiquidatable", borrower.address)


def bite(checked, mech, owner, keeper, timestamp=None):
    block = checked.send([mech.contract.tx(keeper, "bite", owner.address, gas=350_000)], timestamp=timestamp)
    return block.receipts[0].events("Bite")[0].args


def tend(mech, keeper, lot, bid, auction_id=1):
    return mech.contract.tx(keeper, "tend", auction_id, lot, bid, gas=150_000)


def dent(mech, keeper, lot, bid, auction_id=1):
    return mech.contract.tx(keeper, "dent", auction_id, lot, bid, gas=150_000)


def deal(mech, keeper, auction_id=1):
    return mech.contract.tx(keeper, "deal", auction_id, gas=300_000)


def auction(mech, auction_id=1):
    a = mech.contract.call("auctions", auction_id)
    return dict(zip(("usr", "tic", "end", "guy", "pos", "bid", "lot", "tab", "debt", "ret"), a, strict=True))


def usd(market, who):
    return market.usd.call("balanceOf", who.address if hasattr(who, "address") else who)


# ------------------------------------------------------------------------------ params

def test_params_default_to_eth_a_flipper_numbers_and_validate():
    p = EnglishAuctionParams()
    assert (p.chop_bps, p.beg_bps, p.ttl_seconds, p.tau_seconds) == (11300, 10500, 10800, 172800)
    assert p.contract_args() == (to_wad("1.13"), to_wad("1.05"), TTL, TAU, to_wad(250))
    with pytest.raises(ValueError, match="dust_usd"):
        EnglishAuctionParams(dust_usd=-1)
    with pytest.raises(ValueError, match="beg_bps"):
        EnglishAuctionParams(beg_bps=9999)
    with pytest.raises(ValueError, match="ttl_seconds"):
        p.replace(ttl_seconds=0)
    assert EnglishAuctionMechanism.name == "english-auction"
    assert EnglishAuctionMechanism.contract_name == "EnglishAuctionLiquidator"


def test_bidding_rule_mirrors_beg_and_tab():
    beg = to_wad("1.05")
    assert min_next_bid(0, TAB, beg, has_bidder=False) == 0  # the opening bid may be zero
    assert min_next_bid(0, TAB, beg, has_bidder=True) == 1  # then strictly higher
    assert min_next_bid(to_wad(10_000), TAB, beg, True) == to_wad(10_500)
    assert min_next_bid(to_wad(17_500), TAB, beg, True) == TAB  # 18,375 > tab: tab itself
    assert max_next_lot(to_wad(10), beg) == to_wad(10) * WAD // beg  # 9.5238...
    assert quote_deal(to_wad(12_000), DEBT, COLLATERAL, 0).bad_debt == to_wad(4_000)


# ------------------------------------------------------------------------------- bite

def test_biting_a_healthy_position_reverts(market, mech, checked, borrowers, keepers):
    open_positions(market, [(borrowers[0], COLLATERAL, DEBT)])  # HF 1.0625 at $2,000
    block = checked.send([mech.contract.tx(keepers[0], "bite", borrowers[0].address, gas=350_000)],
                         require_success=False)
    assert reverted(block, "HealthyPosition()")
    assert position(market, borrowers[0])["collateral"] == COLLATERAL
    assert mech.opportunities([borrowers[0].address]) == []


def test_bite_seizes_all_collateral_locks_and_kicks_tab_debt_times_chop(market, mech, checked, borrowers,
                                                                        keepers):
    b = borrowers[0]
    open_and_crash(market, b)
    hf_before = market.lending.call("healthFactor", b.address)
    k_usd = usd(market, keepers[0])
    ev = bite(checked, mech, b, keepers[0])
    t = market.chain.timestamp
    assert (ev["lot"], ev["debt"], ev["tab"], ev["end"]) == (COLLATERAL, DEBT, TAB, t + TAU)
    a = auction(mech)
    assert (a["bid"], a["tic"], a["guy"]) == (0, 0, "0x" + "00" * 20)
    assert usd(market, keepers[0]) == k_usd  # keeper-free bite: no reward
    pos = position(market, b)
    assert pos["collateral"] == 0 and pos["debt"] == DEBT and pos["locked"]
    # the lot is held for the owner, so the market's health factor still sees it
    assert tuple(mech.contract.call("heldCollateral", b.address)) == (COLLATERAL, 0)
    assert market.lending.call("healthFactor", b.address) == hf_before
    assert market.weth.call("balanceOf", mech.contract.address) == COLLATERAL
    block = checked.send([mech.contract.tx(keepers[1], "bite", b.address, gas=350_000)],
                         require_success=False)
    assert reverted(block, "AuctionActive()")


# ------------------------------------------------------------------------------- tend

def test_tend_bid_less_than_5_percent_above_the_last_reverts(market, mech, checked, borrowers, keepers):
    open_and_crash(market, borrowers[0])
    bite(checked, mech, borrowers[0], keepers[0])
    checked.send([tend(mech, keepers[0], COLLATERAL, to_wad(10_000))])
    for req, err in [
        (tend(mech, keepers[1], COLLATERAL, to_wad(10_500) - 1), "InsufficientIncrease()"),
        (tend(mech, keepers[1], COLLATERAL, to_wad(10_000)), "BidNotHigher()"),
        (tend(mech, keepers[1], COLLATERAL, TAB + 1), "HigherThanTab()"),
        (tend(mech, keepers[1], COLLATERAL - 1, to_wad(11_000)), "LotNotMatching()"),
        (dent(mech, keepers[1], to_wad(9), to_wad(10_500)), "TendPhase()"),
    ]:
        assert reverted(checked.send([req], require_success=False), err)
    block = checked.send([tend(mech, keepers[1], COLLATERAL, to_wad(10_500))])  # exactly 5% more
    assert block.receipts[0].events("Tend")[0].args["bid"] == to_wad(10_500)


def test_outbid_bidder_is_refunded_by_the_new_bidder(market, mech, checked, borrowers, keepers):
    open_and_crash(market, borrowers[0])
    bite(checked, mech, borrowers[0], keepers[0])
    k0, k1 = keepers[0], keepers[1]
    checked.send([tend(mech, k0, COLLATERAL, to_wad(10_000))])
    assert usd(market, k0) == KEEPER_USD - to_wad(10_000)
    assert usd(market, mech.contract.address) == to_wad(10_000)
    block = checked.send([tend(mech, k1, COLLATERAL, to_wad(12_000))])
    (ev,) = block.receipts[0].events("Tend")
    assert (ev.args["previousBidder"].lower(), ev.args["refund"]) == (k0.address.lower(), to_wad(10_000))
    assert usd(market, k0) == KEEPER_USD  # made whole
    assert usd(market, k1) == KEEPER_USD - to_wad(12_000)
    assert usd(market, mech.contract.address) == to_wad(12_000)
    # the high bidder raising its own bid pays only the increase
    checked.send([tend(mech, k1, COLLATERAL, to_wad(12_600))])
    assert usd(market, k1) == KEEPER_USD - to_wad(12_600)
    assert auction(mech)["guy"].lower() == k1.address.lower()


def test_each_bid_resets_the_deadline_to_now_plus_ttl(market, mech, checked, borrowers, keepers):
    open_and_crash(market, borrowers[0])
    bite(checked, mech, borrowers[0], keepers[0])
    t1 = market.chain.timestamp + 100
    checked.send([tend(mech, keepers[0], COLLATERAL, to_wad(10_000))], timestamp=t1)
    assert auction(mech)["tic"] == t1 + TTL
    t2 = t1 + TTL - 1  # one second before the deadline a new bid extends it
    checked.send([tend(mech, keepers[1], COLLATERAL, to_wad(11_000))], timestamp=t2)
    assert auction(mech)["tic"] == t2 + TTL
    block = checked.send([deal(mech, keepers[0])], timestamp=t2 + TTL - 1, require_success=False)
    assert reverted(block, "NotFinished()")
    block = checked.send([tend(mech, keepers[0], COLLATERAL, to_wad(12_000))], timestamp=t2 + TTL,
                         require_success=False)
    assert reverted(block, "AuctionFinished()")  # the bid stood for ttl: the auction is over
    block = checked.send([deal(mech, keepers[0])])
    assert block.receipts[0].events("Deal")[0].args["winner"].lower() == keepers[1].address.lower()


def test_auction_end_is_capped_at_tau_after_bite_whatever_the_bids(market, mech, checked, borrowers, keepers):
    open_and_crash(market, borrowers[0])
    ev = bite(checked, mech, borrowers[0], keepers[0])
    end = ev["end"]
    checked.send([tend(mech, keepers[0], COLLATERAL, to_wad(10_000))], timestamp=end - 60)
    assert auction(mech)["tic"] == end - 60 + TTL > end  # the bid deadline lies beyond the end
    block = checked.send([tend(mech, keepers[1], COLLATERAL, to_wad(11_000))], timestamp=end,
                         require_success=False)
    assert reverted(block, "AuctionFinished()")
    (a,) = mech.auctions()
    assert a["dealable"] and not a["biddable"]
    block = checked.send([deal(mech, keepers[2])])
    assert block.receipts[0].events("Deal")[0].args["bid"] == to_wad(10_000)


# ------------------------------------------------------------------------------- dent

def test_tend_switches_to_dent_once_the_bid_reaches_tab(market, mech, checked, borrowers, keepers):
    open_and_crash(market, borrowers[0])
    bite(checked, mech, borrowers[0], keepers[0])
    k0, k1, k2 = keepers[:3]
    checked.send([tend(mech, k0, COLLATERAL, to_wad(17_500))])
    # 18,080 is less than 5% above 17,500 but equals tab: allowed, and it ends phase 1
    checked.send([tend(mech, k1, COLLATERAL, TAB)])
    (opp,) = mech.opportunities([borrowers[0].address])
    assert opp.action == "dent" and opp.paid("USD") == TAB
    assert opp.received("WETH") == COLLATERAL * WAD // to_wad("1.05")
    for req, err in [
        (tend(mech, k2, COLLATERAL, TAB), "DentPhase()"),
        (dent(mech, k2, to_wad("9.6"), TAB), "InsufficientDecrease()"),  # 9.6 × 1.05 > 10
        (dent(mech, k2, to_wad(9), TAB - 1), "BidNotMatching()"),
        (dent(mech, k2, COLLATERAL, TAB), "LotNotLower()"),
    ]:
        assert reverted(checked.send([req], require_success=False), err)
    k1_usd, k2_usd = usd(market, k1), usd(market, k2)
    block = checked.send([dent(mech, k2, to_wad("9.5"), TAB)])
    (ev,) = block.receipts[0].events("Dent")
    assert ev.args["previousBidder"].lower() == k1.address.lower() and ev.args["lot"] == to_wad("9.5")
    # the new bidder pays the whole bid to the previous one; nothing moves into the contract
    assert usd(market, k1) == k1_usd + TAB and usd(market, k2) == k2_usd - TAB
    assert usd(market, mech.contract.address) == TAB
    a = auction(mech)
    assert (a["lot"], a["ret"], a["bid"]) == (to_wad("9.5"), to_wad("0.5"), TAB)
    # the given-up collateral is still held for the owner until deal
    assert tuple(mech.contract.call("heldCollateral", borrowers[0].address)) == (COLLATERAL, 0)


def test_deal_after_dent_repays_debt_pays_penalty_and_returns_collateral(market, mech, checked, borrowers,
                                                                         keepers):
    b = borrowers[0]
    open_and_crash(market, b)
    bite(checked, mech, b, keepers[0])
    checked.send([tend(mech, keepers[0], COLLATERAL, TAB)])
    checked.send([dent(mech, keepers[1], to_wad(9), TAB)])
    treasury0 = usd(market, market.treasury)
    t = auction(mech)["tic"]
    block = checked.send([deal(mech, keepers[3])], timestamp=t)
    (ev,) = block.receipts[0].events("Deal")
    q = quote_deal(TAB, DEBT, to_wad(9), to_wad(1))
    assert (ev.args["debtRepaid"], ev.args["penalty"], ev.args["collateralReturned"], ev.args["badDebt"]) == (
        q.debt_repaid, q.penalty, q.collateral_returned, q.bad_debt) == (DEBT, TAB - DEBT, to_wad(1), 0)
    assert liquidation_flows([block], market) == {"repaid": DEBT, "written_off": 0}
    assert usd(market, market.treasury) - treasury0 == to_wad(2_080)
    assert market.weth.call("balanceOf", keepers[1].address) == to_wad(9)
    assert position(market, b) == {"collateral": to_wad(1), "debt": 0, "hf": MAX_UINT, "locked": False}
    assert mech.contract.call("count") == 0 and mech.auctions() == []
    assert market.weth.call("balanceOf", mech.contract.address) == 0
    assert usd(market, mech.contract.address) == 0


def test_deal_in_tend_phase_below_debt_writes_off_the_rest(market, mech, checked, borrowers, keepers):
    b = borrowers[0]
    open_and_crash(market, b)
    bite(checked, mech, b, keepers[0])
    checked.send([tend(mech, keepers[2], COLLATERAL, to_wad(12_000))])
    treasury0 = usd(market, market.treasury)
    block = checked.send([deal(mech, keepers[0])], timestamp=auction(mech)["tic"])
    assert liquidation_flows([block], market) == {"repaid": to_wad(12_000), "written_off": to_wad(4_000)}
    assert market.lending.call("badDebt") == to_wad(4_000)
    assert usd(market, market.treasury) == treasury0  # no penalty raised
    assert market.weth.call("balanceOf", keepers[2].address) == COLLATERAL
    assert position(market, b) == {"collateral": 0, "debt": 0, "hf": MAX_UINT, "locked": False}


def test_zero_bid_with_no_competition_wins_the_whole_lot_black_thursday(market, mech, checked, borrowers,
                                                                       keepers):
    b, k = borrowers[0], keepers[3]
    open_and_crash(market, b)
    bite(checked, mech, b, keepers[0])
    (opp,) = mech.opportunities([b.address])
    assert opp.action == "tend" and opp.paid("USD") == 0 and opp.received("WETH") == COLLATERAL
    k_usd = usd(market, k)
    checked.send([mech.encode(opp, k.address).request(k)])  # bid 0 DAI
    assert auction(mech)["guy"].lower() == k.address.lower() and auction(mech)["bid"] == 0
    # nobody else bids; 3 hours later the zero bid wins
    block = checked.send([deal(mech, keepers[0])], timestamp=market.chain.timestamp + TTL)
    (ev,) = block.receipts[0].events("Deal")
    assert (ev.args["bid"], ev.args["lot"], ev.args["debtRepaid"], ev.args["badDebt"]) == (
        0, COLLATERAL, 0, DEBT)
    assert liquidation_flows([block], market) == {"repaid": 0, "written_off": DEBT}
    assert market.lending.call("badDebt") == DEBT
    assert market.weth.call("balanceOf", k.address) == COLLATERAL and usd(market, k) == k_usd
    assert position(market, b) == {"collateral": 0, "debt": 0, "hf": MAX_UINT, "locked": False}


def test_tick_restarts_an_auction_that_ended_without_bids(market, mech, checked, borrowers, keepers):
    open_and_crash(market, borrowers[0])
    end = bite(checked, mech, borrowers[0], keepers[0])["end"]
    block = checked.send([mech.contract.tx(keepers[0], "tick", 1, gas=60_000)], timestamp=end - 1,
                         require_success=False)
    assert reverted(block, "NotFinished()")
    assert reverted(checked.send([tend(mech, keepers[0], COLLATERAL, to_wad(1))], timestamp=end,
                                 require_success=False), "AuctionFinished()")
    assert reverted(checked.send([deal(mech, keepers[0])], require_success=False), "NotFinished()")
    (opp,) = mech.opportunities([borrowers[0].address])
    assert opp.action == "tick"
    block = checked.send([mech.encode(opp, keepers[1].address).request(keepers[1])])
    t = market.chain.timestamp
    assert block.receipts[0].events("Tick")[0].args["end"] == t + TAU == auction(mech)["end"]
    checked.send([tend(mech, keepers[0], COLLATERAL, to_wad(1))])  # bidding is open again


# ------------------------------------------------------------------ through the Python module

def test_end_to_end_bite_tend_dent_deal_through_the_module(market, mech, checked, borrowers, keepers):
    b, other = borrowers[0], borrowers[1]
    k0, k1 = keepers[0], keepers[1]
    open_positions(market, [(b, COLLATERAL, DEBT), (other, COLLATERAL, to_wad(10_000))])
    owners = [b.address, other.address]
    assert mech.opportunities(owners) == []
    set_price(market, CRASH_PRICE)
    (opp,) = mech.opportunities(owners)
    assert opp.action == "bite" and opp.owner.lower() == b.address.lower() and opp.extra["tab"] == TAB
    checked.send([mech.encode(opp, k0.address).request(k0)])
    # a strategic opening bid, then minimum-increment bidding through encode
    checked.send([mech.tend_call(1, COLLATERAL, to_wad(17_000)).request(k0)])
    (opp,) = mech.opportunities(owners)
    assert opp.action == "tend" and opp.paid("USD") == to_wad(17_850)
    with pytest.raises(ValueError, match="max_pay"):
        mech.encode(opp, k1.address, max_pay=to_wad(17_000))
    checked.send([mech.encode(opp, k1.address, max_pay=to_wad(20_000)).request(k1)])
    (opp,) = mech.opportunities(owners)
    assert opp.action == "tend" and opp.paid("USD") == TAB  # 17,850 × 1.05 > tab
    checked.send([mech.encode(opp, k0.address).request(k0)])
    (opp,) = mech.opportunities(owners)
    assert opp.action == "dent" and opp.received("WETH") == max_next_lot(COLLATERAL, to_wad("1.05"))
    checked.send([mech.encode(opp, k1.address).request(k1)])
    assert mech.opportunities(owners)[0].action == "dent"
    checked.send([], timestamp=market.chain.timestamp + TTL)
    (opp,) = mech.opportunities(owners)
    assert opp.action == "deal"
    block = checked.send([mech.encode(opp, k0.address).request(k0)])
    lot = max_next_lot(COLLATERAL, to_wad("1.05"))
    assert liquidation_flows([block], market) == {"repaid": DEBT, "written_off": 0}
    assert market.weth.call("balanceOf", k1.address) == lot
    assert usd(market, k0) == KEEPER_USD and usd(market, k1) == KEEPER_USD - TAB
    assert position(market, b) == {"collateral": COLLATERAL - lot, "debt": 0, "hf": MAX_UINT, "locked": False}
    assert mech.opportunities(owners) == []
