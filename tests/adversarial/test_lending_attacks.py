"""Attacks on every lending liquidation mechanism (issue #15, item 7). Each attack that the rules
forbid must revert with the mechanism's own error and move nothing (``World.refused`` compares
every balance, position and the mechanism's state before and after). Where a rule limits an
action instead of refusing it (the close factor, a take larger than the lot), the test checks the
limit to the wei; where a reference design lets an owner act on its own position (Maker, Curve,
Compound), the test checks the owner gets exactly what anyone else would.

The world (``lending_world``): victim 10 WETH / $15,300, bystander 10 WETH / $5,000, price
$2,000; at $1,750 only the victim is liquidatable (HF 0.972), at $1,100 it is under water."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from lending_world import CRASH, FALL, VICTIM, build_world, close_worlds
from replay_tools import foreign_signed

from sandbox.chain import InvalidTransaction
from sandbox.units import WAD, to_wad

pytestmark = pytest.mark.adversarial


@pytest.fixture(scope="module", autouse=True)
def _worlds_stopped():
    """The worlds this module built stop with it (no idle node for the rest of the session)."""
    yield
    close_worlds()


MECHANISMS = ["fixed-fee", "private", "dutch-auction", "english-auction", "soft", "absorb"]
BIG = to_wad(10**9)


@pytest.fixture
def world(request, suite_report):
    w = build_world(request.param)
    yield w
    suite_report["attacks"].extend(w.seen)  # counted in the session's closing summary


def worlds(*names):
    return pytest.mark.parametrize("world", names, indirect=True)


def open_window(w) -> None:
    """Let the private auction's exclusive window of the round in force pass."""
    w.wait(w.mech.params.open_delay_seconds + 1)


GRANT_BID = to_wad(100)


def grant(w, winner, bid=GRANT_BID):
    """A new oracle round at the current price and its auction granted to ``winner``."""
    round_id = w.market.oracle.call("latestRound") + 1
    price = w.market.oracle.call("price")
    w.ok(w.market.oracle.tx(w.market.oracle_updater, "submit", price),
         w.mech.grant_call(round_id, winner, bid).request(w.mech.auctioneer))
    return round_id


def liquidation_request(w, sender, owner):
    """The mechanism's first liquidating action on ``owner``, as ``sender`` sends it."""
    c = w.c
    if w.name in ("fixed-fee", "private"):
        return c.tx(sender, "liquidate", owner, BIG, gas=600_000)
    if w.name == "dutch-auction":
        return c.tx(sender, "bark", owner, sender.address, gas=600_000)
    if w.name == "english-auction":
        return c.tx(sender, "bite", owner, gas=600_000)
    if w.name == "soft":
        return c.tx(sender, "liquidate", owner, 0, gas=2_000_000)
    return c.tx(sender, "absorb", sender.address, [owner], gas=600_000)


HEALTHY_REASON = {"fixed-fee": "HealthyPosition()", "private": "HealthyPosition()",
                  "dutch-auction": "HealthyPosition()", "english-auction": "HealthyPosition()",
                  "soft": "HealthyPosition()", "absorb": "NotLiquidatable()"}


# ----------------------------------------------------------------- a healthy position

@worlds(*MECHANISMS)
def test_liquidating_a_healthy_position_reverts_and_moves_nothing(world):
    w = world
    w.set_price(FALL)  # the victim is liquidatable, the bystander is not
    if w.name == "private":
        open_window(w)
    w.refused("liquidate a healthy position", liquidation_request(w, w.keeper, w.bystander.address),
              HEALTHY_REASON[w.name])
    if w.name == "private":  # the auction's winner has no more right over a healthy position
        grant(w, w.keeper.address)
        w.refused("liquidate a healthy position with the bid",
                  w.c.tx(w.keeper, "liquidateWithBid", w.bystander.address, BIG, gas=600_000), "HealthyPosition()")
    if w.name == "absorb":  # one healthy position makes the whole batch revert
        w.refused("absorb a batch holding a healthy position",
                  w.c.tx(w.keeper, "absorb", w.keeper.address, [w.victim.address, w.bystander.address],
                         gas=900_000), "NotLiquidatable()")


# ----------------------------------------------------------------- the close factor

@worlds("fixed-fee", "private")
def test_asking_for_more_than_the_close_factor_repays_exactly_the_close_factor(world):
    w = world
    w.set_price(FALL)
    if w.name == "private":
        open_window(w)
    cap = w.c.call("maxRepay", w.victim.address)
    assert cap == VICTIM[1] * w.mech.params.close_factor_bps // 10_000
    block = w.ok(w.c.tx(w.keeper, "liquidate", w.victim.address, VICTIM[1] * 2, gas=600_000))
    (ev,) = block.receipts[0].events("Liquidated")
    assert ev.args["debtRepaid"] == cap
    bonus = 10_000 + w.mech.params.bonus_bps
    assert ev.args["collateralSeized"] == cap * bonus * WAD // (10_000 * FALL)  # repaid × 1.05 / price
    assert w.market.read_positions([w.victim.address])[0].debt == VICTIM[1] - cap


@worlds("dutch-auction")
def test_a_take_larger_than_the_lot_buys_the_lot_and_raises_at_most_the_tab(world):
    w = world
    w.set_price(CRASH)
    w.ok(liquidation_request(w, w.keeper, w.victim.address))
    (sale,) = w.c.call("activeAuctions")
    w.wait(20 * w.mech.params.step_seconds)  # the price has fallen below the lot's worth of tab
    usd0 = w.market.usd.call("balanceOf", w.keeper.address)
    block = w.ok(w.c.tx(w.keeper, "take", sale["id"], sale["lot"] * 10, BIG, w.keeper.address, b"", gas=800_000))
    (take,) = block.receipts[0].events("Take")
    paid = usd0 - w.market.usd.call("balanceOf", w.keeper.address)
    assert take.args["lot"] == 0 or take.args["tab"] == 0  # the auction is over
    assert paid == take.args["owe"] <= sale["tab"]
    assert w.market.weth.call("balanceOf", w.keeper.address) - to_wad(10_000) <= sale["lot"]


# ----------------------------------------------------------------- auctions: reset, price

@worlds("dutch-auction")
def test_taking_below_the_price_or_from_an_auction_needing_a_reset_reverts(world):
    w = world
    p = w.mech.params
    w.set_price(FALL)
    w.ok(liquidation_request(w, w.keeper, w.victim.address))
    (sale,) = w.c.call("activeAuctions")
    w.refused("take below the auction's price",
              w.c.tx(w.keeper, "take", sale["id"], sale["lot"], sale["price"] - 1, w.keeper.address, b"",
                     gas=800_000), "TooExpensive()")
    w.refused("reset an auction that needs none", w.c.tx(w.keeper, "redo", sale["id"], w.keeper.address,
                                                           gas=300_000), "CannotRedo()")
    w.wait(p.tail_seconds + 1)
    assert w.c.call("getStatus", sale["id"])[0]  # needs a reset
    w.refused("take from an auction needing a reset",
              w.c.tx(w.keeper, "take", sale["id"], sale["lot"], BIG, w.keeper.address, b"", gas=800_000),
              "NeedsRedo()")
    w.refused("take from an auction that does not exist",
              w.c.tx(w.keeper, "take", 99, sale["lot"], BIG, w.keeper.address, b"", gas=800_000),
              "NotRunningAuction()")


@worlds("english-auction")
def test_bidding_too_little_too_late_or_dealing_too_early_reverts(world):
    w = world
    p = w.mech.params
    w.set_price(FALL)
    w.ok(liquidation_request(w, w.keeper, w.victim.address))
    (a,) = w.c.call("activeAuctions")
    lot, tab = a["lot"], a["tab"]
    w.refused("deal an auction without a bid", w.c.tx(w.keeper, "deal", a["id"], gas=600_000), "NotFinished()")
    w.ok(w.c.tx(w.keeper, "tend", a["id"], lot, to_wad(10_000), gas=300_000))
    w.refused("bid less than beg above the last",
              w.c.tx(w.rival, "tend", a["id"], lot, to_wad(10_001), gas=300_000), "InsufficientIncrease()")
    w.refused("bid on a lot other than the auction's",
              w.c.tx(w.rival, "tend", a["id"], lot - 1, to_wad(11_000), gas=300_000), "LotNotMatching()")
    w.refused("bid above the tab", w.c.tx(w.rival, "tend", a["id"], lot, tab + 1, gas=300_000), "HigherThanTab()")
    w.refused("dent while still in the tend phase",
              w.c.tx(w.rival, "dent", a["id"], lot // 2, to_wad(11_000), gas=300_000), "TendPhase()")
    w.refused("deal before the bid expired", w.c.tx(w.keeper, "deal", a["id"], gas=600_000), "NotFinished()")
    w.ok(w.c.tx(w.rival, "tend", a["id"], lot, tab, gas=300_000))  # dent phase from here
    w.refused("dent without giving up enough collateral",
              w.c.tx(w.keeper, "dent", a["id"], lot * 100 // 101, tab, gas=300_000), "InsufficientDecrease()")
    w.wait(p.ttl_seconds)
    w.refused("bid after the bid expired", w.c.tx(w.keeper, "dent", a["id"], lot // 2, tab, gas=300_000),
              "AuctionFinished()")
    w.refused("restart an auction before its end", w.c.tx(w.keeper, "tick", a["id"], gas=300_000), "NotFinished()")


@worlds("absorb")
def test_buying_absorbed_collateral_below_its_price_or_beyond_the_inventory_reverts(world):
    w = world
    w.set_price(FALL)
    w.ok(liquidation_request(w, w.keeper, w.victim.address))
    usd_in = to_wad(5_000)
    quote = w.c.call("quoteCollateral", usd_in)
    w.refused("buy below the store-front price",
              w.c.tx(w.keeper, "buyCollateral", quote + 1, usd_in, w.keeper.address, gas=300_000), "TooMuchSlippage()")
    w.refused("buy more than the inventory",
              w.c.tx(w.keeper, "buyCollateral", 0, to_wad(1_000_000), w.keeper.address, gas=300_000),
              "InsufficientInventory()")
    w.refused("buy nothing", w.c.tx(w.keeper, "buyCollateral", 0, 0, w.keeper.address, gas=300_000), "ZeroAmount()")


@worlds("soft")
def test_trading_with_the_bands_below_their_price_reverts(world):
    w = world
    w.set_price(FALL)  # inside the victim's bands: they sell WETH for USD
    usd_in = to_wad(1_000)
    out = w.c.call("getAmountOut", True, usd_in)
    assert out > 0
    w.refused("buy collateral below the bands' price",
              w.c.tx(w.keeper, "exchange", True, usd_in, out + 1, w.keeper.address, gas=2_000_000),
              "SlippageExceeded()")


@worlds("soft")
def test_a_round_trip_through_the_bands_never_pays(world):
    """Buying collateral from the bands and selling it straight back returns less USD than was
    paid (the fee stays in the bands): rounding gives a trader nothing, even in tiny trades."""
    w = world
    w.set_price(FALL)
    for usd_in in (to_wad(5_000), to_wad(1), 10**6, 7):
        usd0 = w.market.usd.call("balanceOf", w.keeper.address)
        weth0 = w.market.weth.call("balanceOf", w.keeper.address)
        w.ok(w.c.tx(w.keeper, "exchange", True, usd_in, 0, w.keeper.address, gas=2_000_000))
        got = w.market.weth.call("balanceOf", w.keeper.address) - weth0
        if got:
            w.ok(w.c.tx(w.keeper, "exchange", False, got, 0, w.keeper.address, gas=2_000_000))
        assert w.market.weth.call("balanceOf", w.keeper.address) == weth0
        assert w.market.usd.call("balanceOf", w.keeper.address) <= usd0, f"a round trip of {usd_in} wei paid"


# ----------------------------------------------------------------- re-entry

@worlds("dutch-auction")
def test_re_entering_the_auction_from_the_take_callback_reverts(world):
    w = world
    w.set_price(FALL)
    w.ok(liquidation_request(w, w.keeper, w.victim.address))
    (sale,) = w.c.call("activeAuctions")
    w.wait(20 * w.mech.params.step_seconds)
    (_, price, _, _) = w.c.call("getStatus", sale["id"])
    take = w.c.encode("take", sale["id"], sale["lot"] // 4, BIG, w.keeper.address, b"")
    for attack, data in [("re-enter take from the take callback", take),
                         ("re-enter redo from the take callback", w.c.encode("redo", sale["id"], w.attacker.address)),
                         ("re-enter bark from the take callback",
                          w.c.encode("bark", w.bystander.address, w.attacker.address))]:
        w.ok(w.prime(w.c, data))
        w.refused(attack, w.as_attacker(w.c, w.c.encode("take", sale["id"], sale["lot"] // 4, price,
                                                        w.reenterer.address, b"\x01")), "Reentrancy()")
    w.ok(w.prime("0x" + "00" * 20, b""))  # unprimed: the callback is the documented one, once
    w.ok(w.as_attacker(w.c, w.c.encode("take", sale["id"], sale["lot"] // 4, price, w.reenterer.address, b"\x01")))
    assert w.reenterer.call("callbacks") == 1


@worlds("dutch-auction")
def test_an_owner_cannot_touch_its_position_from_the_callback_of_its_own_auction(world):
    """The attacker's contract borrows like the victim, is barked, takes from its own auction
    with itself as the callee, and from the callback tries every borrower action: the position is
    locked for the whole auction."""
    w = world
    m = w.market
    w.ok(w.as_attacker(m.lending, m.lending.encode("open", *VICTIM), gas=1_000_000))
    w.set_price(FALL)
    w.ok(liquidation_request(w, w.keeper, w.reenterer.address))
    sale = next(s for s in w.c.call("activeAuctions") if s["owner"] == w.reenterer.address)
    w.wait(20 * w.mech.params.step_seconds)
    (_, price, _, _) = w.c.call("getStatus", sale["id"])
    for fn, args in [("repay", (to_wad(1),)), ("withdraw", (1,)), ("deposit", (to_wad(1),)),
                     ("borrow", (to_wad(1),)), ("open", (to_wad(1), to_wad(1)))]:
        w.ok(w.prime(m.lending, m.lending.encode(fn, *args)))
        w.refused(f"{fn} from the callback of the owner's own auction",
                  w.as_attacker(w.c, w.c.encode("take", sale["id"], sale["lot"] // 4, price, w.reenterer.address,
                                                b"\x01")), "PositionLocked()")


@worlds(*MECHANISMS)
def test_no_mechanism_hands_control_to_an_attacker_contract_that_liquidates_bids_or_is_paid(world):
    """The attacker's contract takes every role an action gives a caller-chosen address (caller,
    bidder, buyer, recipient, refunded bidder, credited borrower): no mechanism ever calls it, so
    there is no callback to re-enter through (the Dutch take's callback is tested above)."""
    w = world
    c, r = w.c, w.reenterer.address
    w.ok(w.prime(c, b"\x00"))  # any call would be answered with a (failing) re-entry
    if w.name in ("fixed-fee", "private"):
        w.set_price(FALL)
        if w.name == "private":
            grant(w, r)
            w.ok(w.as_attacker(c, c.encode("liquidateWithBid", w.victim.address, to_wad(1_000))))
            open_window(w)
        w.ok(w.as_attacker(c, c.encode("liquidate", w.victim.address, to_wad(1_000))))
    elif w.name == "dutch-auction":
        w.set_price(FALL)
        w.ok(w.as_attacker(c, c.encode("bark", w.victim.address, r)))
        (sale,) = c.call("activeAuctions")
        w.wait(20 * w.mech.params.step_seconds)
        w.ok(w.as_attacker(c, c.encode("take", sale["id"], sale["lot"] // 4, BIG, r, b"")))
    elif w.name == "english-auction":
        w.set_price(FALL)
        w.ok(w.as_attacker(c, c.encode("bite", w.victim.address)))
        (a,) = c.call("activeAuctions")
        w.ok(w.as_attacker(c, c.encode("tend", a["id"], a["lot"], to_wad(10_000))))
        w.ok(c.tx(w.keeper, "tend", a["id"], a["lot"], to_wad(11_000), gas=300_000))  # refunds the attacker
        w.ok(w.as_attacker(c, c.encode("tend", a["id"], a["lot"], a["tab"])))
        w.wait(w.mech.params.ttl_seconds)
        w.ok(w.as_attacker(c, c.encode("deal", a["id"])))
    elif w.name == "soft":
        w.set_price(FALL)
        w.ok(w.as_attacker(c, c.encode("exchange", True, to_wad(2_000), 0, r)))
        w.set_price(CRASH)
        w.ok(w.as_attacker(c, c.encode("liquidate", w.victim.address, 0)))
    else:  # absorb: the attacker is also a borrower credited more than its debt
        m = w.market
        w.ok(w.as_attacker(m.lending, m.lending.encode("open", to_wad(10), to_wad(14_000)), gas=1_000_000))
        w.set_price(to_wad(1600))  # HF 0.971 < 1, credit 0.93 × $16,000 > $14,000: excess paid to it
        usd0 = m.usd.call("balanceOf", r)
        w.ok(w.as_attacker(c, c.encode("absorb", r, [w.victim.address, r])))
        assert m.usd.call("balanceOf", r) > usd0  # it was paid the excess credit
        w.ok(w.as_attacker(c, c.encode("buyCollateral", 0, to_wad(1_000), r)))
    assert w.reenterer.call("callbacks") == 0


# ----------------------------------------------------------------- one's own position

@worlds("fixed-fee", "private")
def test_liquidating_ones_own_position_reverts(world):
    w = world
    w.set_price(FALL)
    if w.name == "private":
        grant(w, w.victim.address)
        w.refused("liquidate one's own position with the bid",
                  w.c.tx(w.victim, "liquidateWithBid", w.victim.address, BIG, gas=600_000), "SelfLiquidation()")
        open_window(w)
    w.refused("liquidate one's own position", w.c.tx(w.victim, "liquidate", w.victim.address, BIG, gas=600_000),
              "SelfLiquidation()")


def _outcome(w, actor, owner):
    """What ``actor`` starting the liquidation of ``owner`` does: the position after, and the
    change of the tokens the owner and the actor hold together (one account when they are one)."""
    m = w.market
    pair = {actor.address, owner}

    def held():
        return (sum(m.weth.call("balanceOf", a) for a in pair), sum(m.usd.call("balanceOf", a) for a in pair))

    before = held()
    w.ok(liquidation_request(w, actor, owner))
    after = held()
    p = m.read_positions([owner])[0]
    return (p.collateral, p.held_collateral, p.held_debt_asset, p.debt, p.locked), \
        (after[0] - before[0], after[1] - before[1])


@worlds("dutch-auction", "english-auction", "soft", "absorb")
def test_an_owner_starting_its_own_liquidation_gets_exactly_what_anyone_else_would(world):
    """Maker's bark/bite, Curve's liquidate and Compound's absorb accept any caller, the owner
    included (Curve even documents self-liquidation): the owner must not get better terms than a
    third party: the same position after, and the owner alone ends with what the owner and the
    third party end with together (same reward, payment or credit)."""
    w = world
    m = w.market
    price = CRASH if w.name == "soft" else FALL
    w.set_price(price)
    # the owner needs the same tokens a keeper has to pay with
    w.ok(m.usd.tx(m.deployer, "mint", w.victim.address, to_wad(1_000_000)),
         m.usd.tx(w.victim, "approve", w.mech.spender, 2**256 - 1))
    snap = w.chain.snapshot()
    by_keeper = _outcome(w, w.keeper, w.victim.address)
    w.chain.revert(snap)
    by_owner = _outcome(w, w.victim, w.victim.address)
    assert by_owner == by_keeper


# ----------------------------------------------------------------- the private auction

@worlds("private")
def test_the_private_auction_cannot_be_won_without_paying(world):
    w = world
    m, c = w.market, w.c
    w.set_price(FALL)
    round_id = grant(w, w.rival.address, bid=to_wad(5_000))
    w.refused("liquidate publicly inside the winner's window",
              c.tx(w.rival, "liquidate", w.victim.address, to_wad(1_000), gas=600_000), "ExclusiveWindow(")
    w.refused("liquidate with the bid as someone else than the winner",
              c.tx(w.keeper, "liquidateWithBid", w.victim.address, to_wad(1_000), gas=600_000), "NotWinner(")
    w.refused("grant oneself the round", w.mech.grant_call(round_id, w.keeper.address, 0).request(w.keeper),
              "NotAuctioneer()")
    w.refused("grant the round twice", w.mech.grant_call(round_id, w.keeper.address, 0).request(w.mech.auctioneer),
              "AlreadyGranted(")
    # the winner cannot pay the bid: the liquidation it paid for is undone with it
    w.ok(m.usd.tx(w.rival, "approve", c.address, to_wad(1_000)))
    w.refused("win without the USD for the bid",
              c.tx(w.rival, "liquidateWithBid", w.victim.address, to_wad(1_000), gas=600_000),
              "InsufficientAllowance()")
    assert c.call("auctionState")[5] is False  # the bid is still unpaid
    open_window(w)
    w.refused("use the grant after the window closed",
              c.tx(w.rival, "liquidateWithBid", w.victim.address, to_wad(1_000), gas=600_000), "WindowClosed(")
    grant(w, w.keeper.address)  # a new round: the old grant is worth nothing in it
    w.refused("use an old round's grant in a new round",
              c.tx(w.rival, "liquidateWithBid", w.victim.address, to_wad(1_000), gas=600_000), "NotWinner(")


# ----------------------------------------------------------------- replay

def _replay_refused(w, attack, signed) -> None:
    before, head = w.funds(), w.chain.snapshot()
    with pytest.raises(InvalidTransaction):
        w.chain.execute_block([signed], w.chain.timestamp + 12)
    assert w.chain.snapshot() == head and w.funds() == before, f"{w.name}: {attack} changed the chain"
    w.seen.append((w.name, attack, "InvalidTransaction"))


REPLAY_REASON = {"fixed-fee": "HealthyPosition()", "private": "HealthyPosition()",
                 "dutch-auction": "AuctionActive()", "english-auction": "AuctionActive()", "soft": "NoDebt()",
                 "absorb": "NotLiquidatable()"}


@worlds(*MECHANISMS)
def test_replaying_a_landed_liquidation_is_refused(world):
    """The signed transaction itself cannot land twice (its nonce is spent), nor on this chain when
    it was signed for another; the same call signed again finds nothing left to do."""
    w = world
    w.set_price(CRASH)  # the victim is under water: one action takes everything there is
    if w.name == "private":
        open_window(w)
    request = liquidation_request(w, w.keeper, w.victim.address)
    signed = w.chain.sign(request)
    block = w.chain.execute_block([signed], w.chain.timestamp + 12)
    w.mech.observe_block(block)
    assert block.receipts[0].succeeded, block.receipts[0].revert_reason
    _replay_refused(w, "replay the signed liquidation", signed)
    _replay_refused(w, "replay the liquidation signed for another chain", foreign_signed(w.chain, request))
    w.refused("send the same liquidation again", request, REPLAY_REASON[w.name])


@worlds("private")
def test_a_granted_round_cannot_be_granted_again_by_replaying_the_grant(world):
    w = world
    w.set_price(FALL)
    round_id = w.market.oracle.call("latestRound") + 1
    w.ok(w.market.oracle.tx(w.market.oracle_updater, "submit", FALL))
    grant_tx = w.chain.sign(w.mech.grant_call(round_id, w.keeper.address, 0).request(w.mech.auctioneer))
    w.mech.observe_block(w.chain.execute_block([grant_tx], w.chain.timestamp + 1))
    _replay_refused(w, "replay the signed grant", grant_tx)
    w.refused("send the grant again", w.mech.grant_call(round_id, w.rival.address, 0).request(w.mech.auctioneer),
              "AlreadyGranted(")


@worlds("english-auction")
def test_a_dealt_auction_cannot_be_dealt_again(world):
    w = world
    w.set_price(FALL)
    w.ok(liquidation_request(w, w.keeper, w.victim.address))
    (a,) = w.c.call("activeAuctions")
    w.ok(w.c.tx(w.keeper, "tend", a["id"], a["lot"], a["tab"], gas=300_000))
    w.wait(w.mech.params.ttl_seconds)
    w.ok(w.c.tx(w.keeper, "deal", a["id"], gas=600_000))
    w.refused("deal the auction again", w.c.tx(w.keeper, "deal", a["id"], gas=600_000), "NotRunningAuction()")


# ----------------------------------------------------------------- dust

@contextmanager
def dust_lifted(w):
    """The market's dust lifted (admin) inside the block and restored after it: the market
    refuses to let a position fall below the mechanism's dust, so the mechanism's own refusal
    is reached only by a position that was smaller before the dust was raised."""
    lending = w.market.lending
    dust = lending.call("mechanismDust")
    w.ok(lending.tx(w.market.deployer, "setMechanismDust", 0))
    try:
        yield
    finally:
        w.ok(lending.tx(w.market.deployer, "setMechanismDust", dust))


@worlds("dutch-auction")
def test_barking_dust_and_leaving_dust_in_an_auction_reverts(world):
    w = world
    m, p = w.market, w.mech.params
    dust = p.dust_wad
    w.ok(m.usd.tx(m.deployer, "mint", w.bystander.address, to_wad(1_000_000)))
    shrink = m.lending.tx(w.bystander, "repay", to_wad(5_000) - dust + 1, gas=600_000)  # debt: dust − 1 wei
    w.refused("repay down to dust", shrink, "BelowMinimumBorrow(")  # the market keeps it out
    with dust_lifted(w):  # a position left below a dust raised after it shrank, as Maker's vaults
        w.ok(shrink)
    w.set_price(to_wad(100))  # the bystander is liquidatable now, with dust debt
    assert m.read_positions([w.bystander.address])[0].is_liquidatable
    w.refused("bark a position whose debt is below dust", liquidation_request(w, w.keeper, w.bystander.address),
              "Dust(")
    w.set_price(FALL)
    w.ok(liquidation_request(w, w.keeper, w.victim.address))
    (sale,) = w.c.call("activeAuctions")
    w.wait(20 * p.step_seconds)
    # a take leaving less than chost of tab is cut to leave exactly chost; once the tab is at
    # most chost, a partial take is refused
    (_, price, _, _) = w.c.call("getStatus", sale["id"])
    owe_all_but_dust = sale["tab"] - p.chost_wad // 2
    w.ok(w.c.tx(w.keeper, "take", sale["id"], owe_all_but_dust * WAD // price, BIG, w.keeper.address, b"",
                gas=800_000))
    (left,) = w.c.call("activeAuctions")
    assert left["tab"] == p.chost_wad
    w.refused("leave dust in an auction", w.c.tx(w.keeper, "take", sale["id"], left["lot"] // 10, BIG,
                                                   w.keeper.address, b"", gas=800_000), "Chost()")


@worlds("fixed-fee", "private")
def test_a_liquidation_leaving_dust_reverts(world):
    w = world
    w.set_price(FALL)
    if w.name == "private":
        open_window(w)
    leave = to_wad(500)  # less than the $1,000 dust rule
    w.ok(w.c.tx(w.keeper, "liquidate", w.victim.address, BIG, gas=600_000))  # the close factor's half
    w.set_price(to_wad(1500))  # HF 0.90 < 0.95: the rest may be closed at once ...
    if w.name == "private":
        open_window(w)
    debt = w.market.read_positions([w.victim.address])[0].debt
    w.refused("leave dust debt", w.c.tx(w.keeper, "liquidate", w.victim.address, debt - leave, gas=600_000),
              "DustRemaining(")


@worlds("english-auction")
def test_kicking_dust_into_an_english_auction_reverts(world):
    w = world
    m = w.market
    w.ok(m.usd.tx(m.deployer, "mint", w.bystander.address, to_wad(1_000)))
    shrink = m.lending.tx(w.bystander, "repay", to_wad(5_000) - to_wad(10), gas=600_000)  # $10 of debt left
    w.refused("repay down to dust", shrink, "BelowMinimumBorrow(")  # the market keeps it out
    with dust_lifted(w):  # a position left below a dust raised after it shrank
        w.ok(shrink)
    w.ok(m.lending.tx(w.bystander, "withdraw", to_wad("9.99"), gas=600_000))  # 0.01 WETH against it
    w.set_price(to_wad(1000))  # $10 of collateral × 0.85 < $10 of debt
    assert m.read_positions([w.bystander.address])[0].is_liquidatable
    assert [o.action for o in w.mech.opportunities([w.bystander.address])] == []  # keepers are not offered it
    w.refused("kick a dust position into an auction", liquidation_request(w, w.keeper, w.bystander.address),
              "Dust(")
