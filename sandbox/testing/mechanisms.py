"""The conformance suite every liquidation mechanism passes, built-in or plug-in, on every market
it declares (``LiquidationMechanism.markets``; its variant there, ``variant_for``).

A small driver (the market's ``MarketKind.conformance_driver``) plays the part of every keeper at
once: it opens positions (one slightly unhealthy after a price fall, one deep under water), then
repeatedly takes the first public opportunity the mechanism offers (trading what it quotes
arbitrageurs first, letting time pass when only a later action is possible) until nothing is left
to do. Around every block it checks the market's accounting (on lending the debt identity and
token conservation, ``sandbox.testing.accounting.Checked``; on the perp market its cash identity
and USD conservation), and that the event-following mirror agrees with full reads.
"""

from __future__ import annotations

from typing import Any, ClassVar

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


class BaseDriver:
    """What the suite asks of a market's driver: ``mech``, ``owners``, ``keeper``, ``blocks``,
    ``open_positions``, ``fall`` / ``crash`` / ``recover`` (the price), ``send``, ``wait``,
    ``arbitrage``, ``position_state`` (what a reverted action must leave unchanged),
    ``owner_balances`` and ``full_reads_of_held`` (positions' mechanism-held collateral read
    through the market, or None)."""

    mech: Any
    owners: list
    keeper: Any
    chain: Any
    market: Any

    def set_price(self, price_wad: int) -> None:
        """Make ``price_wad`` the price in force (the market's oracle or mark)."""
        raise NotImplementedError

    def send(self, requests: list, require_success: bool = True, timestamp: int | None = None) -> Any:
        """Run ``requests`` as one block (at ``timestamp``); the block's result."""
        raise NotImplementedError

    def fall(self) -> None:
        self.set_price(FALL)

    def crash(self) -> None:
        self.set_price(CRASH)

    def recover(self) -> None:
        self.set_price(START)

    def wait(self) -> None:
        self.send([], timestamp=self.chain.timestamp + WAIT_SECONDS)

    def arbitrage(self) -> bool:
        return False

    def full_reads_of_held(self):
        return None

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


class Driver(BaseDriver):
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

    def arbitrage(self) -> bool:
        """Trade what the mechanism quotes toward the oracle price (soft liquidation's bands)."""
        if not self.mech.offers_arbitrage:
            return False
        call = self.mech.arbitrage_call(self.market.price(), FUNDS_USD // 10, self.arb.address)
        if call is None:
            return False
        block = self.send([call.request(self.arb)], require_success=False)
        return block.receipts[0].succeeded

    def position_state(self) -> list:
        return [p.debt for p in self.market.positions(self.owners)]

    def opened_state(self) -> list:
        return [d for _, d in POSITIONS]

    def owner_balances(self) -> dict:
        return {a: self.market.usd.call("balanceOf", a) for a in self.owners}

    def any_locked(self) -> bool:
        return any(p.locked for p in self.market.positions(self.owners))

    def full_reads_of_held(self):
        return [(p.held_collateral, p.held_debt_asset) for p in self.market.read_positions(self.owners)]


class MechanismConformance:
    """Subclass with ``mechanism`` set to an entry-point name (or override the
    ``conformance_mechanism`` fixture, e.g. parametrized over the registry); ``market`` names the
    market to run it on (default: the first it declares), or override ``conformance_market``."""

    mechanism: ClassVar[str | None] = None
    market: ClassVar[str | None] = None

    @pytest.fixture
    def conformance_mechanism(self) -> str:
        if self.mechanism is None:
            pytest.skip("set MechanismConformance.mechanism in the subclass")
        return self.mechanism

    @pytest.fixture
    def conformance_market(self, conformance_mechanism) -> str:
        from sandbox.mechanisms import MECHANISMS

        return self.market or MECHANISMS.load(conformance_mechanism).markets[0]

    @pytest.fixture
    def driver(self, sandbox_chain, conformance_mechanism, conformance_market) -> BaseDriver:
        from sandbox.markets import MARKETS
        from sandbox.mechanisms import MECHANISMS

        cls = MECHANISMS.load(conformance_mechanism).variant_for(conformance_market)
        try:
            return MARKETS.load(conformance_market).conformance_driver(sandbox_chain, cls)
        except NotImplementedError as exc:
            pytest.skip(str(exc))

    def test_declares_functions_and_events_its_contract_has(self, driver):
        abi = driver.mech.contract.abi
        functions = {f.name for f in abi.functions.values()}
        events = {e.name for e in abi.events.values()}
        assert driver.mech.liquidation_functions, "liquidation_functions is empty"
        assert driver.mech.liquidation_functions <= functions
        assert driver.mech.bookkeeping_events <= events
        assert driver.mech.position_neutral_events <= events
        assert set(driver.mech.event_amounts) <= events

    def test_a_healthy_position_offers_nothing_and_every_action_on_it_reverts(self, driver):
        driver.open_positions()
        driver.fall()
        while not driver.public_opportunities():  # e.g. an exclusive window first
            driver.wait()
        calls = [driver.mech.encode(o, driver.keeper.address) for o in driver.public_opportunities()]
        driver.recover()  # healthy again
        assert driver.mech.opportunities(driver.owners) == []
        before = driver.owner_balances()
        for call in calls:
            block = driver.send([call.request(driver.keeper)], require_success=False)
            assert not block.receipts[0].succeeded, f"{call.action} on a healthy position succeeded"
        assert driver.owner_balances() == before
        assert driver.position_state() == driver.opened_state()

    def test_every_action_keeps_the_debt_identity_and_conserves_tokens(self, driver):
        driver.open_positions()
        driver.fall()
        driver.drive()
        driver.crash()
        driver.drive()
        assert driver.mech.unfinished(driver.owners, driver.market.price()) == 0
        assert not driver.any_locked(), "a position is still locked after its liquidation ended"
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
                assert list(mirrored[1]) == driver.full_reads_of_held()

        driver.fall()
        compare()
        driver.drive(on_block=compare)
        driver.crash()
        driver.drive(on_block=compare)


__all__ = ["BaseDriver", "Driver", "MechanismConformance"]
