"""The conformance suite for market plug-ins (``sandbox.markets``), run over every registered
market; subclass it in a third-party package with ``market = "my-market"``.

What every market must do: declare its roles and agent kinds (each one registered under
``sandbox.agents``); assemble a run of its ``example_scenario`` with every mechanism that says
it runs there; name deployed contracts in its roles; serve each position as legs that agree
with its own view (owner, amounts, health); put positions at risk in its example; and give the
same run whether positions are followed from events or read in full every block.
"""

from __future__ import annotations

from typing import ClassVar

import pytest


class MarketConformance:
    """Subclass with ``market`` set to an entry-point name (or override the
    ``conformance_market`` fixture, e.g. parametrized over the registry)."""

    market: ClassVar[str | None] = None

    @pytest.fixture
    def conformance_market(self) -> str:
        if self.market is None:
            pytest.skip("set MarketConformance.market in the subclass")
        return self.market

    @pytest.fixture
    def kind(self, conformance_market):
        from sandbox.markets import MARKETS

        return MARKETS.load(conformance_market)

    @pytest.fixture
    def mechanisms(self, conformance_market) -> list[str]:
        from sandbox.mechanisms import MECHANISMS

        names = [m for m in MECHANISMS.names() if conformance_market in MECHANISMS.load(m).markets]
        assert names, f"no registered mechanism runs on {conformance_market!r}"
        return names

    @pytest.fixture
    def assembled(self, kind, mechanisms, request):
        """A run of the market's example scenario set up with its first mechanism."""
        from sandbox.simulation import Simulation

        sim = Simulation(kind.example_scenario(), mechanisms[0], seed=0,
                         backend=request.config.getoption("--sandbox-backend")).setup()
        yield sim
        sim.close()

    def test_declares_its_roles_and_registered_agent_kinds(self, kind, conformance_market):
        from sandbox.agents.kinds import AGENT_KINDS

        assert kind.name == conformance_market
        assert kind.role_labels and len(set(kind.role_labels)) == len(kind.role_labels)
        for name in kind.agent_kinds:
            assert AGENT_KINDS.load(name) is not None  # refused with a message if not registered

    def test_example_scenario_is_on_this_market(self, kind, conformance_market):
        assert kind.example_scenario().market == conformance_market

    def test_roles_name_deployed_contracts(self, kind, assembled):
        roles = kind.contract_roles(assembled.market)
        assert roles and len(set(roles.values())) == len(roles)
        for address in roles:
            assert assembled.chain.code(address), f"{roles[address]} at {address} has no code"

    def test_positions_read_as_legs_that_agree_with_the_view(self, kind, assembled):
        market = assembled.market
        views = market.positions(assembled.owners)
        assert len(views) == len(assembled.owners) > 0
        for view in views:
            p = kind.position_legs(market, view)
            assert p.owner == view.owner
            assert all(leg.amount > 0 for leg in (*p.collateral, *p.debt))
            assert p.debt, "an opened position owes something"
            assert p.health_wad >= 10**18, "the example opens healthy positions"
            assert {leg.asset for leg in (*p.collateral, *p.debt)} <= {market.numeraire, market.collateral_asset}

    def test_every_mechanism_on_it_assembles_a_run(self, kind, mechanisms, request):
        from sandbox.simulation import Simulation

        for name in mechanisms:
            sim = Simulation(kind.example_scenario(), name, seed=0,
                             backend=request.config.getoption("--sandbox-backend")).setup()
            try:
                assert sim.mechanism.contract.address in sim._contract_roles()
            finally:
                sim.close()

    def test_following_events_gives_the_same_run_as_full_reads_and_puts_debt_at_risk(self, kind, mechanisms,
                                                                                         request):
        from sandbox.simulation import Simulation

        backend = request.config.getoption("--sandbox-backend")
        sc = kind.example_scenario()
        fast = Simulation(sc, mechanisms[0], seed=0, backend=backend).run().tables
        slow = Simulation(sc, mechanisms[0], seed=0, backend=backend, follow_events=False).run().tables
        for name in fast:
            assert fast[name].equals(slow[name]), name
        assert fast["positions"]["at_risk"].any(), "the example scenario puts no position at risk"


__all__ = ["MarketConformance"]
