"""The conformance suite every liquidation mechanism passes, built-in or plug-in.

A small driver plays the part of every keeper at once: it opens positions (one slightly
unhealthy after a price fall, one deep under water), then repeatedly takes the first public
opportunity the mechanism offers (trading what it quotes arbitrageurs first, letting time pass
when only a later action is possible) until nothing is left to do. Around every block it checks
the debt identity and token conservation (``sandbox.testing.accounting.Checked``), and that the
event-following mirror agrees with full reads.
"""

from __future__ import annotations

from typing import ClassVar

import pytest

from sandbox.units import to_wad

from .accounting import Checked

FUNDS_USD = to_wad(10_000_000)
FUNDS_WETH = to_wad(10_000)
START = to_wad(2_000)
# (collateral WETH, debt USD): HF 1.133 at $2,000 (LTV 75%) and 1.076 (LTV 79%)
POSITIONS = [(to_wad(10), to_wad(15_000)), (to_wad(6), to_wad(9_480))]
FALL = to_wad(1_650)  # the first position's HF falls to 0.935: liquidatable, not under water
CRASH = to_wad(1_100)  # the second one's collateral is worth less than its debt
WAIT_SECONDS = 900  # when only a later action is possible, let this much time pass
MAX_ROUNDS = 120


class Driver:
    """One mechanism deployed on a fresh lending market, with funded keepers and arbitrageur."""

    def __init__(self, chain, market, mechanism_cls, params=None):
        from sandbox.chain import execute
        from sandbox.market.actions import fund_requests

        self.chain, self.market = chain, market
        self.mech = mechanism_cls.deploy(market, params)
        self.borrowers = [chain.account(f"borrower-{i}") for i in range(len(POSITIONS))]
        self.keeper, self.arb = chain.account("keeper-0"), chain.account("arbitrageur")
        self.owners = [b.address for b in self.borrowers]
        spenders = list(dict.fromkeys([self.mech.spender, market.amm.address]))
        execute(chain, [r for a in (self.keeper, self.arb)
                        for r in fund_requests(market, a, usd_wei=FUNDS_USD, weth_wei=FUNDS_WETH, approve=spenders)])
        self.checked = Checked(market, self.mech, self.borrowers, [self.keeper],
                               extra=[self.arb.address, market.deployer.address])
        self.blocks = []

    def open_positions(self) -> None:
        from sandbox.market.actions import open_positions

        open_positions(self.market, [(b, c, d) for b, (c, d) in zip(self.borrowers, POSITIONS, strict=True)])

    def set_price(self, price_wad: int) -> None:
        self.send([self.market.oracle.tx(self.market.oracle_updater, "submit", price_wad)])

    def send(self, requests, require_success=True, timestamp=None):
        """One checked block; the mechanism's mirror follows it."""
        block = self.checked.send(requests, timestamp=timestamp, require_success=require_success)
        self.mech.observe_block(block)
        self.blocks.append(block)
        return block

    def wait(self) -> None:
        self.send([], timestamp=self.chain.timestamp + WAIT_SECONDS)

    def arbitrage(self) -> bool:
        """Trade what the mechanism quotes toward the oracle price (soft liquidation's bands)."""
        if not self.mech.offers_arbitrage:
            return False
        call = self.mech.arbitrage_call(self.market.price(), FUNDS_USD // 10, self.arb.address)
        if call is None:
            return False
        block = self.send([call.request(self.arb)], require_success=False)
        return block.receipts[0].succeeded

    def public_opportunities(self):
        """Opportunities open to anyone, except outbidding the driver's own standing bids."""
        me = self.keeper.address.lower()
        return [o for o in self.mech.opportunities(self.owners) if not o.private
                and not (o.standing_bid and (o.beneficiary or "").lower() == me)]

    def drive(self, on_block=None) -> int:
        """Take the first public opportunity each round until none is left and nothing is
        unfinished; returns the number of actions taken. Every encoded call must succeed."""
        actions = 0
        for _ in range(MAX_ROUNDS):
            traded = self.arbitrage()
            opps = self.public_opportunities()
            if not opps:
                unfinished = self.mech.unfinished(self.owners, self.market.price())
                if not traded and not unfinished and not self.mech.opportunities(self.owners):
                    return actions
                self.wait()
            else:
                call = self.mech.encode(opps[0], self.keeper.address)
                block = self.send([call.request(self.keeper)], require_success=False)
                receipt = block.receipts[0]
                assert receipt.succeeded, f"{opps[0].action} reverted: {receipt.revert_reason}"
                actions += 1
            if on_block is not None:
                on_block()
        raise AssertionError(f"still something to do after {MAX_ROUNDS} rounds")


class MechanismConformance:
    """Subclass with ``mechanism`` set to an entry-point name (or override the
    ``conformance_mechanism`` fixture, e.g. parametrized over the registry)."""

    mechanism: ClassVar[str | None] = None

    @pytest.fixture
    def conformance_mechanism(self) -> str:
        if self.mechanism is None:
            pytest.skip("set MechanismConformance.mechanism in the subclass")
        return self.mechanism

    @pytest.fixture
    def driver(self, sandbox_chain, sandbox_market, conformance_mechanism) -> Driver:
        from sandbox.mechanisms import MECHANISMS

        return Driver(sandbox_chain, sandbox_market, MECHANISMS.load(conformance_mechanism))

    def test_declares_functions_and_events_its_contract_has(self, driver):
        abi = driver.mech.contract.abi
        functions = {f.name for f in abi.functions.values()}
        events = {e.name for e in abi.events.values()}
        assert driver.mech.liquidation_functions, "liquidation_functions is empty"
        assert driver.mech.liquidation_functions <= functions
        assert driver.mech.bookkeeping_events <= events
        assert driver.mech.position_neutral_events <= events

    def test_a_healthy_position_offers_nothing_and_every_action_on_it_reverts(self, driver):
        driver.open_positions()
        driver.set_price(FALL)
        while not driver.public_opportunities():  # e.g. an exclusive window first
            driver.wait()
        calls = [driver.mech.encode(o, driver.keeper.address) for o in driver.public_opportunities()]
        driver.set_price(START)  # healthy again
        assert driver.mech.opportunities(driver.owners) == []
        before = {a: driver.market.usd.call("balanceOf", a) for a in driver.owners}
        for call in calls:
            block = driver.send([call.request(driver.keeper)], require_success=False)
            assert not block.receipts[0].succeeded, f"{call.action} on a healthy position succeeded"
        assert {a: driver.market.usd.call("balanceOf", a) for a in driver.owners} == before
        assert [p.debt for p in driver.market.positions(driver.owners)] == [d for _, d in POSITIONS]

    def test_every_action_keeps_the_debt_identity_and_conserves_tokens(self, driver):
        driver.open_positions()
        driver.set_price(FALL)
        driver.drive()
        driver.set_price(CRASH)
        driver.drive()
        assert driver.mech.unfinished(driver.owners, driver.market.price()) == 0
        assert not any(p.locked for p in driver.market.positions(driver.owners)), \
            "a position is still locked after its liquidation ended"
        assert len(driver.blocks) > 3

    def test_the_event_following_mirror_equals_full_reads(self, driver):
        driver.open_positions()
        driver.mech.follow(driver.owners)

        def compare() -> None:
            mirrored = (driver.mech.opportunities(driver.owners), driver.mech.held_collateral_of(driver.owners))
            with driver.mech.unfollowed():
                read = (driver.mech.opportunities(driver.owners), driver.mech.held_collateral_of(driver.owners))
            assert mirrored[0] == read[0]
            if mirrored[1] is not None:  # a mechanism without a mirror reads through the lens
                lens = [(p.held_collateral, p.held_debt_asset)
                        for p in driver.market.read_positions(driver.owners)]
                assert list(mirrored[1]) == lens

        driver.set_price(FALL)
        compare()
        driver.drive(on_block=compare)
        driver.set_price(CRASH)
        driver.drive(on_block=compare)


__all__ = ["Driver", "MechanismConformance"]
