"""Private (order-flow auction) liquidation: each test is named after the rule it checks.

The right to liquidate right after an oracle update is sold in a sealed-bid auction; the winner
pays its bid in the liquidation transaction, 80% to the protocol (API3's dApp share) and 20% to
the auction operator; after one block (12 s) liquidation opens to everyone at fixed-fee terms.
"""

from __future__ import annotations

import numpy as np
import pytest

from sandbox.chain import execute
from sandbox.market.actions import fund_requests, open_positions, set_price
from sandbox.mechanisms import get_mechanism
from sandbox.mechanisms.fixed_fee import FixedFeeParams, quote_liquidation
from sandbox.mechanisms.private import PrivateAuctionMechanism, PrivateAuctionParams, bid_split
from sandbox.testing.accounting import Checked
from sandbox.units import to_wad

KEEPER_USD = to_wad(1_000_000)
BID = to_wad(1234)
UPDATE_PRICE = to_wad(1750)


@pytest.fixture
def operator(chain):
    return chain.account("arbitrageur")


@pytest.fixture
def mech(market, operator):
    return PrivateAuctionMechanism.deploy(market, operator=operator.address)


@pytest.fixture
def funded(market, mech, keepers):
    execute(market.chain, [r for k in keepers for r in fund_requests(market, k, usd_wei=KEEPER_USD,
                                                                       approve=[mech.spender])])
    return keepers


@pytest.fixture
def victim(market, borrowers):
    """10 WETH against 15,300 USD: HF 1.111 at $2,000, 0.972 at $1,750 (close factor 50%)."""
    b = borrowers[0]
    open_positions(market, [(b, to_wad(10), to_wad(15_300))])
    return b


def send_checked(market, mech, borrowers, keepers, operator, requests, timestamp=None):
    """Execute one block (reverts allowed); assert debt identity and token conservation around it."""
    return Checked(market, mech, borrowers, keepers, extra=[operator.address]).send(
        requests, timestamp=timestamp, require_success=False)


def update_grant_liquidate(market, mech, winner, owner, amount, bid=BID, price=UPDATE_PRICE):
    """The three transactions of a private liquidation, in block order."""
    round_id = market.oracle.call("latestRound") + 1
    return round_id, [
        market.oracle.tx(market.oracle_updater, "submit", price),
        mech.grant_call(round_id, winner.address, bid).request(mech.auctioneer),
        mech.contract.tx(winner, "liquidateWithBid", owner.address, amount, gas=500_000),
    ]


def usd(market, account):
    return market.usd.call("balanceOf", account if isinstance(account, str) else account.address)


# ------------------------------------------------------------------ registry and params

def test_entry_point_and_defaults():
    assert get_mechanism("private") is PrivateAuctionMechanism
    p = PrivateAuctionParams()
    assert isinstance(p, FixedFeeParams)
    assert (p.protocol_share_bps, p.open_delay_seconds, p.bonus_bps) == (8000, 12, 500)
    with pytest.raises(ValueError, match="protocol_share_bps"):
        PrivateAuctionParams(protocol_share_bps=10_001)


def test_mechanism_is_private_and_defaults_auctioneer_to_the_deployer(market, mech, operator):
    assert mech.is_private
    assert mech.auctioneer == market.deployer
    assert mech.contract.call("auctioneer").lower() == market.deployer.address.lower()
    assert mech.contract.call("operator").lower() == operator.address.lower()


# ---------------------------------------------------------------------------- auction

def test_sealed_bid_auction_highest_bid_wins():
    bids = {"0x" + "1" * 40: 10, "0x" + "2" * 40: 30, "0x" + "3" * 40: 20}
    assert PrivateAuctionMechanism.run_auction(bids, np.random.default_rng(0)) == ("0x" + "2" * 40, 30)
    assert PrivateAuctionMechanism.run_auction({}, np.random.default_rng(0)) is None


def test_sealed_bid_auction_ties_are_broken_by_the_generator():
    a, b, c = ("0x" + d * 40 for d in "abc")
    bids = {a: 50, b: 50, c: 10}
    winners = {PrivateAuctionMechanism.run_auction(bids, np.random.default_rng(s))[0] for s in range(20)}
    assert winners == {a, b}
    # same seed, same winner, whatever the order the bids were collected in
    reordered = {c: 10, b: 50, a: 50}
    for seed in range(5):
        assert (PrivateAuctionMechanism.run_auction(bids, np.random.default_rng(seed))
                == PrivateAuctionMechanism.run_auction(reordered, np.random.default_rng(seed)))


def test_grant_is_for_the_current_round_and_auctioneer_only(market, mech, funded):
    current = market.oracle.call("latestRound")
    set_price(market, to_wad(1990))
    block = execute(market.chain, [
        mech.grant_call(current, funded[0].address, BID).request(mech.auctioneer),  # stale round
        mech.grant_call(current + 1, funded[0].address, BID).request(funded[0]),  # not the auctioneer
        mech.grant_call(current + 1, funded[0].address, BID).request(mech.auctioneer),
        mech.grant_call(current + 1, funded[1].address, BID).request(mech.auctioneer),  # second grant
    ], require_success=False)
    reasons = [r.revert_reason for r in block.receipts]
    assert reasons == [f"WrongRound(current={current + 1}, given={current})", "NotAuctioneer()", None,
                       f"AlreadyGranted(roundId={current + 1})"]
    (ev,) = block.receipts[2].events("RightGranted")
    assert ev.args["winner"].lower() == funded[0].address.lower() and ev.args["bidUsd"] == BID


# --------------------------------------------------------------------------- payments

def test_private_auction_payment_split_is_80_percent_treasury_20_percent_operator(
        market, mech, funded, borrowers, victim, operator):
    winner = funded[0]
    t0, o0, w0 = usd(market, market.treasury), usd(market, operator), usd(market, winner)
    round_id, txs = update_grant_liquidate(market, mech, winner, victim, to_wad(1000))
    block = send_checked(market, mech, borrowers, funded, operator, txs)
    assert all(r.succeeded for r in block.receipts)
    protocol, op = bid_split(BID, mech.params)
    assert (protocol, op) == (to_wad("987.2"), to_wad("246.8"))
    assert usd(market, market.treasury) - t0 == protocol
    assert usd(market, operator) - o0 == op
    assert w0 - usd(market, winner) == to_wad(1000) + BID  # repayment plus the bid
    (paid,) = block.receipts[2].events("BidPaid")
    assert paid.args == {"roundId": round_id, "winner": paid.args["winner"], "bid": BID,
                         "protocolAmount": protocol, "operatorAmount": op}
    assert paid.args["winner"].lower() == winner.address.lower()


def test_bid_is_paid_once_per_round(market, mech, funded, borrowers, victim, operator):
    winner = funded[0]
    _, txs = update_grant_liquidate(market, mech, winner, victim, to_wad(1000))
    send_checked(market, mech, borrowers, funded, operator, txs)
    o0, w0 = usd(market, operator), usd(market, winner)
    block = send_checked(market, mech, borrowers, funded, operator, [
        mech.contract.tx(winner, "liquidateWithBid", victim.address, to_wad(500), gas=500_000)])
    r = block.receipts[0]
    assert r.succeeded and r.events("BidPaid") == []
    assert usd(market, operator) == o0 and w0 - usd(market, winner) == to_wad(500)


# ------------------------------------------------------------------ ordering and window

def test_block_runs_update_then_grant_then_winner_liquidation_and_excludes_others(
        market, mech, funded, borrowers, victim, operator):
    winner, rival = funded[0], funded[1]
    _, txs = update_grant_liquidate(market, mech, winner, victim, to_wad(2000))
    rival_tx = mech.contract.tx(rival, "liquidate", victim.address, to_wad(2000), gas=500_000)
    eth0 = market.chain.balance(rival.address)
    block = send_checked(market, mech, borrowers, funded, operator, [*txs, rival_tx])
    update, grant, liq, other = block.receipts
    assert [r.index for r in block.receipts] == [0, 1, 2, 3]
    assert update.succeeded and grant.succeeded and liq.succeeded
    names = [log.name for log in block.logs
             if log.name in ("AnswerUpdated", "RightGranted", "Liquidated", "BidPaid")]
    assert names == ["AnswerUpdated", "RightGranted", "Liquidated", "BidPaid"]
    idx = {log.name: log.log_index for log in block.logs}
    assert idx["AnswerUpdated"] < idx["RightGranted"] < idx["Liquidated"] < idx["BidPaid"]
    # the rival's public liquidation in the window reverts and still pays gas
    assert not other.succeeded and other.revert_reason.startswith("ExclusiveWindow(")
    assert other.gas_used > 21_000 and eth0 - market.chain.balance(rival.address) == other.fee_paid_wei > 0


def test_non_winner_cannot_use_liquidate_with_bid(market, mech, funded, borrowers, victim, operator):
    _, txs = update_grant_liquidate(market, mech, funded[0], victim, to_wad(1000))
    txs[2] = mech.contract.tx(funded[1], "liquidateWithBid", victim.address, to_wad(1000), gas=500_000)
    block = send_checked(market, mech, borrowers, funded, operator, txs)
    assert block.receipts[2].revert_reason.startswith("NotWinner(")


def test_nobody_liquidates_in_the_window_then_anyone_may_at_fixed_fee_terms(
        market, mech, funded, borrowers, victim, operator):
    set_price(market, to_wad(1750))  # no auction winner this round
    updated = market.chain.timestamp
    keeper = funded[2]

    def req():
        return mech.contract.tx(keeper, "liquidate", victim.address, to_wad(3500), gas=500_000)

    block = send_checked(market, mech, borrowers, funded, operator, [req()],
                         timestamp=updated + mech.params.open_delay_seconds - 1)
    r = block.receipts[0]
    assert r.revert_reason == f"ExclusiveWindow(roundId={market.oracle.call('latestRound')}, opensAt={updated + 12})"
    col, debt, hf, _ = market.lending.call("positionOf", victim.address)
    q = quote_liquidation(col, debt, to_wad(1750), mech.params, to_wad(3500), health_factor_wad=hf)
    w0, t0 = market.weth.call("balanceOf", keeper.address), usd(market, market.treasury)
    block = send_checked(market, mech, borrowers, funded, operator, [req()],
                         timestamp=updated + mech.params.open_delay_seconds)
    (ev,) = block.receipts[0].events("Liquidated")
    assert ev.args["collateralSeized"] == to_wad("2.1") == q.collateral_seized  # 3,500 * 1.05 / 1,750
    assert ev.args["protocolFee"] == to_wad("0.01")
    assert market.weth.call("balanceOf", keeper.address) - w0 == to_wad("2.09")
    assert block.receipts[0].events("BidPaid") == [] and usd(market, market.treasury) == t0
    # and the winner's exclusive entry point is closed after the window
    block = execute(market.chain, [mech.contract.tx(keeper, "liquidateWithBid", victim.address, 1, gas=500_000)],
                    require_success=False)
    assert block.receipts[0].revert_reason.startswith("WindowClosed(")


def test_liquidating_a_healthy_position_reverts(market, mech, funded, borrowers, victim, operator):
    # with the right granted, in the window
    _, txs = update_grant_liquidate(market, mech, funded[0], victim, to_wad(1000), price=to_wad(1990))
    block = send_checked(market, mech, borrowers, funded, operator, txs)
    assert block.receipts[2].revert_reason == "HealthyPosition()"
    assert usd(market, mech.operator) == 0  # the failed transaction paid no bid
    # and publicly after the window
    block = send_checked(market, mech, borrowers, funded, operator,
                         [mech.contract.tx(funded[1], "liquidate", victim.address, to_wad(1000), gas=500_000)],
                         timestamp=market.chain.timestamp + 20)
    assert block.receipts[0].revert_reason == "HealthyPosition()"


# ------------------------------------------------------------------------- end to end

def test_end_to_end_auction_grant_and_winner_liquidation_through_the_module(
        market, mech, funded, borrowers, victim, operator):
    set_price(market, to_wad(1750))
    owners = [b.address for b in borrowers]
    (opp,) = mech.opportunities(owners)
    assert opp.action == "liquidate-with-bid" and opp.extra["winner"] is None
    assert opp.paid("USD") == to_wad(7650)
    rng = np.random.default_rng(7)
    bids = {funded[0].address: to_wad(50), funded[1].address: to_wad(120), funded[2].address: to_wad(80)}
    winner_address, bid = mech.run_auction(bids, rng)
    winner = next(k for k in funded if k.address == winner_address)
    assert winner is funded[1] and bid == to_wad(120)
    state = mech.auction_state()
    grant = mech.grant_call(state.round_id, winner.address, bid)
    send_checked(market, mech, borrowers, funded, operator, [grant.request(mech.auctioneer)])
    (opp,) = mech.opportunities(owners)
    assert opp.extra["winner"].lower() == winner.address.lower() and opp.ref == state.round_id
    call = mech.encode(opp, winner.address)
    w0, u0, t0 = (market.weth.call("balanceOf", winner.address), usd(market, winner),
                  usd(market, market.treasury))
    block = send_checked(market, mech, borrowers, funded, operator, [call.request(winner)])
    assert block.receipts[0].succeeded
    assert market.weth.call("balanceOf", winner.address) - w0 == call.received("WETH")
    assert u0 - usd(market, winner) == call.paid("USD") + bid
    assert usd(market, market.treasury) - t0 == to_wad(96)  # 80% of 120
    assert mech.auction_state().paid
