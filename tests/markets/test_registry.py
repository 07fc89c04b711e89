"""Markets and agent kinds are plug-ins: scenarios name them, the registries load them, and a
mechanism runs only on the markets it declares."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sandbox.agents.kinds import AGENT_KINDS
from sandbox.markets import MARKETS, MarketKind
from sandbox.mechanisms import MECHANISMS
from sandbox.plugins import Registry, UnknownPlugin
from sandbox.scenarios import ScenarioError, check_mechanisms_serve, load_scenario, parse_scenario
from sandbox.simulation import account_labels


def test_lending_is_a_registered_market_and_the_default():
    assert "lending" in MARKETS.names()
    assert load_scenario("crash").market == "lending"


def test_a_scenario_naming_an_unknown_market_is_refused_with_the_known_ones():
    with pytest.raises(ScenarioError, match=r"^market: unknown market 'perpetual'.*known: .*lending"):
        parse_scenario('name = "x"\nmarket = "perpetual"\n')


def test_a_mechanism_is_refused_on_a_market_it_does_not_declare():
    sc = replace(load_scenario("crash"), market="elsewhere")
    with pytest.raises(ScenarioError, match=r"^market: fixed-fee does not run on the 'elsewhere' market"):
        check_mechanisms_serve(sc, ["fixed-fee"])


def test_every_mechanism_declares_markets_that_are_registered():
    for name, cls in MECHANISMS.all().items():
        assert cls.markets and set(cls.markets) <= set(MARKETS.names()), name


def test_run_accounts_come_from_the_market_roles_its_agent_kinds_and_the_keepers():
    sc = load_scenario("crash")
    labels = account_labels(sc)
    assert labels[:5] == ["deployer", "oracle", "treasury", "builder", "arbitrageur"]
    assert labels[5:5 + sc.borrowers.count] == [f"borrower-{i}" for i in range(sc.borrowers.count)]
    assert labels[5 + sc.borrowers.count:][0].startswith("keeper-")
    assert len(labels) == len(set(labels))


def test_an_agent_kind_without_labels_and_populate_is_refused(monkeypatch):
    class NoPopulate:
        pass

    registry = Registry("sandbox.agents", "agent kind", object, check=AGENT_KINDS.check)
    assert registry.check(NoPopulate) == ["labels", "populate"]


def test_a_market_lacking_a_required_rule_is_refused():
    class Half(MarketKind):
        name = "half"

    assert Half.missing_rules() == ["role_labels", "agent_kinds"]
    with pytest.raises(TypeError):  # deploy, position_legs, ... are abstract
        Half()


def test_unknown_market_names_suggest_close_ones():
    with pytest.raises(UnknownPlugin, match="did you mean 'lending'"):
        MARKETS.load("lendng")
