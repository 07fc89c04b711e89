"""Attacks on every perpetual-market liquidation mechanism (issue #15, item 7): each forbidden
attack reverts with the mechanism's own error and moves nothing — no USD balance, no account
(margin, size, cost basis, lock), no market total (insurance fund, bad debt, venue, open interest)
and no auction state changes. Rules that limit rather than refuse (the close factor, the trim
cap) are checked to the wei.

The world: trader-1 short 10 WETH on $50,000 of margin, trader-0 long 10 WETH on $2,300 (entry
~$2,001, liquidatable below ~$1,868; at $1,850 under maintenance with positive equity), trader-2
holds $100,000 of margin to take auctions with."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from sandbox.chain import InvalidTransaction, execute, open_chain
from sandbox.perp import PerpParams, deploy_mechanism, deploy_perp_market
from sandbox.perp.actions import deposit_tx, fund_requests, trade_tx
from sandbox.testing import fastest_backend
from sandbox.units import to_wad

pytestmark = pytest.mark.adversarial

ACCOUNTS = ["deployer", "oracle", "treasury", "trader-0", "trader-1", "trader-2", "keeper", "attacker"]
FALL = to_wad(1850)
CLOCK = {"price", "needsRedo"}  # auction fields that move with time alone, not with an action
BIG = to_wad(10**6)


@dataclass
class PerpWorld:
    name: str
    chain: object
    perp: object
    mech: object
    seen: list = field(default_factory=list)

    def __getattr__(self, label):
        chain = self.__dict__.get("chain")
        if chain is not None and label.replace("_", "-") in ACCOUNTS:
            return chain.account(label.replace("_", "-"))
        raise AttributeError(label)

    @property
    def c(self):
        return self.mech.contract

    def send(self, *requests, timestamp=None):
        return execute(self.chain, list(requests), timestamp=timestamp, require_success=False)

    def ok(self, *requests, timestamp=None):
        block = self.send(*requests, timestamp=timestamp)
        assert all(r.succeeded for r in block.receipts), [r.revert_reason for r in block.receipts]
        return block

    def set_price(self, price):
        self.ok(self.perp.oracle.tx(self.perp.oracle_updater, "submit", price))

    def funds(self) -> dict:
        p = self.perp
        parties = [a.address for a in self.chain.accounts] + [p.market.address, self.c.address]
        s = p.state()
        totals = (s.base_reserve, s.quote_reserve, s.long_open_interest, s.short_open_interest,
                  s.long_open_notional, s.short_open_notional, s.insurance_fund, s.bad_debt, s.venue_balance,
                  s.long_funding_index, s.short_funding_index, s.last_funding_time)
        return {"usd": {a: p.usd.call("balanceOf", a) for a in parties},
                "accounts": {a.address: p.raw(a.address) for a in self.chain.accounts},
                "market": totals, "mechanism": self.mechanism_state()}

    def mechanism_state(self):
        if self.name == "dutch-auction":
            return (self.c.call("kicks"), tuple(tuple(sorted((k, v) for k, v in a.items() if k not in CLOCK))
                                                 for a in self.c.call("activeAuctions")))
        if self.name == "private":
            return tuple(self.c.call("auctionState"))
        if self.name == "soft":
            return self.c.call("lastTrimBlock", self.trader_0.address)
        return ()

    def refused(self, attack: str, request, expected: str, timestamp=None) -> str:
        before = self.funds()
        receipt = self.send(request, timestamp=timestamp).receipts[0]
        assert not receipt.succeeded, f"perp {self.name}: {attack} succeeded"
        assert receipt.revert_reason.startswith(expected), (attack, receipt.revert_reason)
        assert self.funds() == before, f"perp {self.name}: {attack} reverted but moved funds"
        self.seen.append((f"perp {self.name}", attack, receipt.revert_reason))
        return receipt.revert_reason


_BUILT: dict[str, tuple[PerpWorld, object]] = {}  # mechanism -> (its world, the set-up snapshot)


def _backend() -> str:
    return fastest_backend()


@pytest.fixture(scope="module", autouse=True)
def _worlds_stopped():
    """The worlds this module built stop with it (no idle node for the rest of the session)."""
    yield
    for w, _ in _BUILT.values():
        close = getattr(w.chain, "close", None)
        if close is not None:
            close()
    _BUILT.clear()


def build_perp_world(name: str) -> PerpWorld:
    """Built once per mechanism (on anvil when it is installed); every call rolls the chain back
    to the set-up."""
    if name in _BUILT:
        w, snapshot = _BUILT[name]
        w.chain.revert(snapshot)
        w.seen = []
        return w
    chain = open_chain(_backend(), seed=99, accounts=ACCOUNTS)
    perp = deploy_perp_market(chain, PerpParams())
    mech = deploy_mechanism(perp, name)
    w = PerpWorld(name=name, chain=chain, perp=perp, mech=mech)
    requests = []
    for label, margin in (("trader-1", 50_000), ("trader-0", 2_300), ("trader-2", 100_000), ("keeper", 10_000),
                          ("attacker", 10_000)):
        requests += fund_requests(perp, chain.account(label), to_wad(margin), approve=[mech.contract.address])
    execute(chain, requests)
    w.ok(deposit_tx(perp, w.trader_1, to_wad(50_000)), trade_tx(perp, w.trader_1, -to_wad(10)))
    w.ok(deposit_tx(perp, w.trader_0, to_wad(2_300)), trade_tx(perp, w.trader_0, to_wad(10)))
    w.ok(deposit_tx(perp, w.trader_2, to_wad(100_000)))
    _BUILT[name] = (w, chain.snapshot())
    return w


@pytest.fixture
def world(request, suite_report):
    w = build_perp_world(request.param)
    yield w
    suite_report["attacks"].extend(w.seen)


PERP = ["fixed-fee", "dutch-auction", "soft", "private"]


def worlds(*names):
    return pytest.mark.parametrize("world", names, indirect=True)


def first_action(w, sender, account):
    if w.name == "dutch-auction":
        return w.mech.tx(sender, "bark", account, sender.address)
    if w.name == "soft":
        return w.mech.tx(sender, "trim", account)
    return w.mech.tx(sender, "liquidate", account, BIG)


def open_window(w):
    end = w.c.call("auctionState")[2]
    w.ok(timestamp=end)


@worlds(*PERP)
def test_liquidating_a_healthy_account_reverts_and_moves_nothing(world):
    w = world
    w.set_price(FALL)  # trader-0 is liquidatable, trader-1 (short, profitable) is not
    if w.name == "private":
        open_window(w)
    w.refused("liquidate a healthy account", first_action(w, w.keeper, w.trader_1.address), "HealthyAccount(")


@worlds(*PERP)
def test_liquidating_ones_own_account_reverts(world):
    w = world
    w.set_price(FALL)
    if w.name == "private":
        round_id = w.c.call("auctionState")[0]
        w.ok(w.mech.tx(w.mech.auctioneer, "grant", round_id, w.trader_0.address, 0))
        w.refused("liquidate one's own account with the bid",
                  w.mech.tx(w.trader_0, "liquidateWithBid", w.trader_0.address, BIG), "SelfLiquidation()")
        open_window(w)
    w.refused("liquidate one's own account", first_action(w, w.trader_0, w.trader_0.address), "SelfLiquidation()")


@worlds("fixed-fee")
def test_asking_for_more_than_the_close_factor_closes_exactly_the_close_factor(world):
    w = world
    w.set_price(FALL)
    cap = w.c.call("maxClose", w.trader_0.address)
    assert cap == to_wad(10) * w.mech.params.close_factor_bps // 10_000
    block = w.ok(w.mech.tx(w.keeper, "liquidate", w.trader_0.address, BIG))
    (ev,) = [log.args for log in block.logs if log.name == "Liquidated"]
    assert ev["size"] == cap and w.perp.raw(w.trader_0.address)[1] == to_wad(10) - cap


@worlds("soft")
def test_a_second_trim_in_the_same_block_reverts_and_a_trim_takes_at_most_its_cap(world):
    w = world
    w.set_price(to_wad(1750))  # equity below zero: the 25% cap binds
    block = w.ok(w.mech.tx(w.keeper, "trim", w.trader_0.address))
    (ev,) = [log.args for log in block.logs if log.name == "Trimmed"]
    assert ev["size"] == to_wad(10) * w.mech.params.max_slice_bps // 10_000
    # the same block: only one trim per account; the next block may trim again
    before = w.funds()
    block = w.send(w.mech.tx(w.keeper, "trim", w.trader_0.address), w.mech.tx(w.attacker, "trim", w.trader_0.address))
    assert block.receipts[0].succeeded and block.receipts[1].revert_reason.startswith("AlreadyTrimmed(")
    assert w.funds() != before
    w.seen.append(("perp soft", "trim twice in a block", block.receipts[1].revert_reason))


@worlds("dutch-auction")
def test_taking_below_the_price_or_from_an_auction_needing_a_reset_reverts(world):
    w = world
    p = w.mech.params
    w.set_price(FALL)
    w.ok(first_action(w, w.keeper, w.trader_0.address))
    (sale,) = w.c.call("activeAuctions")
    w.refused("take below the auction's price", w.mech.tx(w.trader_2, "take", sale["id"], to_wad(1), sale["price"] - 1),
              "TooExpensive(")
    w.refused("reset an auction that needs none", w.mech.tx(w.keeper, "redo", sale["id"], w.keeper.address),
              "CannotRedo()")
    w.refused("take from the owner's own auction", w.mech.tx(w.trader_0, "take", sale["id"], to_wad(1), 0),
              "AccountLocked(")
    w.refused("take from an auction needing a reset", w.mech.tx(w.trader_2, "take", sale["id"], to_wad(1), 0),
              "NeedsRedo()", timestamp=w.chain.timestamp + p.tail_seconds + 1)
    w.refused("take nothing", w.mech.tx(w.trader_2, "take", 99, to_wad(1), 0), "NotRunningAuction()")


@worlds("dutch-auction")
def test_barking_dust_and_leaving_dust_in_an_auction_reverts(world):
    w = world
    p = w.mech.params
    w.ok(*fund_requests(w.perp, w.attacker, 0), deposit_tx(w.perp, w.attacker, to_wad(450)),
         trade_tx(w.perp, w.attacker, to_wad(2)))  # $4,000 of position: below the $5,000 dust
    w.set_price(to_wad(1800))
    assert w.perp.account(w.attacker.address).liquidatable
    w.refused("bark an account worth less than dust", first_action(w, w.keeper, w.attacker.address), "Dust(")
    w.ok(first_action(w, w.keeper, w.trader_0.address))
    (sale,) = [s for s in w.c.call("activeAuctions") if s["account"] == w.trader_0.address]
    at = w.chain.timestamp + 270
    block = w.ok(w.mech.tx(w.trader_2, "take", sale["id"], to_wad(9), 0), timestamp=at)  # cut to leave dust
    (take,) = [log.args for log in block.logs if log.name == "Take"]
    assert take["lot"] * take["price"] // 10**18 >= to_wad(p.dust_usd)
    w.refused("leave dust in an auction", w.mech.tx(w.trader_2, "take", sale["id"], take["lot"] // 10, 0), "Chost()")


@worlds("private")
def test_the_private_auction_cannot_be_won_without_paying(world):
    w = world
    w.set_price(FALL)
    round_id = w.c.call("auctionState")[0]
    w.refused("liquidate publicly inside the winner's window",
              w.mech.tx(w.keeper, "liquidate", w.trader_0.address, BIG), "ExclusiveWindow(")
    w.refused("grant oneself the round", w.mech.tx(w.attacker, "grant", round_id, w.attacker.address, 0),
              "NotAuctioneer()")
    w.ok(w.mech.tx(w.mech.auctioneer, "grant", round_id, w.attacker.address, to_wad(20_000)))
    w.refused("liquidate with the bid as someone else than the winner",
              w.mech.tx(w.keeper, "liquidateWithBid", w.trader_0.address, BIG), "NotWinner(")
    w.refused("grant the round twice", w.mech.tx(w.mech.auctioneer, "grant", round_id, w.keeper.address, 0),
              "AlreadyGranted(")
    w.refused("win without the USD for the bid", w.mech.tx(w.attacker, "liquidateWithBid", w.trader_0.address, BIG),
              "InsufficientBalance()")
    assert w.c.call("auctionState")[5] is False
    w.refused("use the grant after the window closed",
              w.mech.tx(w.attacker, "liquidateWithBid", w.trader_0.address, BIG), "WindowClosed(",
              timestamp=w.c.call("auctionState")[2])


MARKET_PRIMITIVES = [("closePosition", lambda w: (w.trader_0.address, 1)),
                     ("transferPosition", lambda w: (w.trader_0.address, w.attacker.address, 1, 1)),
                     ("payFromMargin", lambda w: (w.trader_1.address, w.attacker.address, 1)),
                     ("chargeInsuranceFee", lambda w: (w.trader_1.address, 1)),
                     ("setLocked", lambda w: (w.trader_0.address, True)),
                     ("settleShortfall", lambda w: (w.trader_0.address,))]


@worlds(*PERP)
def test_only_the_installed_mechanism_reaches_the_market_primitives(world):
    w = world
    m = w.perp.market
    for fn, args in MARKET_PRIMITIVES:
        w.refused(f"call the market's {fn}", m.tx(w.attacker, fn, *args(w), gas=2_000_000), "NotMechanism()")
    w.refused("install a second mechanism", m.tx(w.perp.deployer, "installMechanism", w.attacker.address),
              "MechanismAlreadyInstalled()")


@worlds(*PERP)
def test_replaying_a_landed_liquidation_is_refused(world):
    w = world
    w.set_price(to_wad(1700))  # far under: one action takes the position (or starts its auction)
    if w.name == "private":
        open_window(w)
    request = first_action(w, w.keeper, w.trader_0.address)
    signed = w.chain.sign(request)
    assert w.chain.execute_block([signed], w.chain.timestamp + 12).receipts[0].succeeded
    before, head = w.funds(), w.chain.snapshot()
    with pytest.raises(InvalidTransaction):
        w.chain.execute_block([signed], w.chain.timestamp + 12)
    assert w.chain.snapshot() == head and w.funds() == before
    w.seen.append((f"perp {w.name}", "replay the signed liquidation", "InvalidTransaction"))
    again = {"dutch-auction": "AuctionActive()", "soft": "HealthyAccount(", "fixed-fee": "HealthyAccount(",
             "private": "HealthyAccount("}[w.name]
    if w.name == "soft":  # a trim takes a quarter: trim until the account is healthy again
        while w.perp.account(w.trader_0.address).liquidatable:
            w.ok(request)
    w.refused("send the same liquidation again", request, again)
