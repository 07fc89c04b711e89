"""Scenarios on the perpetual market: the [perp] and [traders] sections, checked in one place and
refused where meaningless; mechanisms chosen by name and market; the trader population; the at-risk
rule on a margin account; what `liqsandbox list` says about perps."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from click.testing import CliRunner

from sandbox.agents.perp_arbitrageur import base_at_price
from sandbox.agents.traders import draw_traders, open_sizes
from sandbox.cli import main
from sandbox.mechanisms import MECHANISMS
from sandbox.perp import PerpParams
from sandbox.perp import math as pm
from sandbox.perp.market import PerpPositionView, PerpRisk
from sandbox.scenarios import (
    PerpSpec,
    ScenarioError,
    TraderSpec,
    check_mechanisms_serve,
    load_scenario,
    parse_scenario,
)
from sandbox.units import WAD, to_wad

PERP = 'name = "p"\nmarket = "perp"\n'


def test_the_perp_sections_defaults_are_the_markets_sourced_ones():
    spec, params = PerpSpec(), PerpParams()
    for f in dataclasses.fields(spec):
        assert getattr(spec, f.name) == getattr(params, f.name), f.name
    sc = load_scenario("perp-crash")
    p = sc.perp_params()
    assert (p.initial_price_usd, p.oracle_delay_seconds) == (sc.price.start_price_usd, sc.oracle.delay_seconds)


@pytest.mark.parametrize("text, expected", [
    (PERP + "[borrowers]\ncount = 3\n", r"^borrowers: only the 'lending' market reads this section, and this "
                                        r"scenario's market is 'perp'"),
    (PERP + "[lending]\nmax_ltv_bps = 7000\n", r"^lending: only the 'lending' market"),
    ('name = "l"\n[perp]\nvenue_depth_weth = 5.0\n', r"^perp: only the 'perp' market reads this section, and this "
                                                     r"scenario's market is 'lending'"),
    ('name = "l"\n[traders]\ncount = 5\n', r"^traders: only the 'perp' market"),
    (PERP + "[traders]\nleverage_max = 12.0\n", r"^traders.leverage_max: 12 is above what initial margin allows"),
    (PERP + "[perp]\nmaintenance_margin_bps = 1500\n", r"^perp: need 0 < maintenance_margin_bps < initial_margin_bps"),
    (PERP + "[perp]\nmax_open_accounts = 20\n[traders]\ncount = 19\n", r"^traders.count: 19 traders, the arbitrageur"),
    (PERP + "[traders]\ncount = 100000\n", r"^traders.count: 100,000 is above the highest value"),
    (PERP + "[perp]\nvenue_depth_weth = 1e12\n", r"^perp.venue_depth_weth: 1e\+12 is above the highest value"),
    (PERP + "[traders]\nlong_share = 1.5\n", r"^traders.long_share: must be within \[0, 1\]"),
    (PERP + "[mechanisms.fixed-fee]\nbonus_bps = 600\n", r"^mechanisms.fixed-fee.bonus_bps: unknown field"),
    ('name = "l"\n[mechanisms.fixed-fee]\nkeeper_fee_bps = 600\n', r"^mechanisms.fixed-fee.keeper_fee_bps: unknown field"),
])
def test_perp_and_lending_sections_are_refused_where_meaningless(text, expected):
    with pytest.raises(ScenarioError, match=expected):
        parse_scenario(text)


def test_mechanism_overrides_are_checked_against_the_variant_of_the_scenarios_market():
    sc = parse_scenario(PERP + "[mechanisms.fixed-fee]\nkeeper_fee_bps = 200\n")
    params = check_mechanisms_serve(sc, ["fixed-fee"])["fixed-fee"]
    assert type(params).__name__ == "PerpFixedFeeParams" and params.keeper_fee_bps == 200


@pytest.mark.parametrize("name", ["english-auction", "absorb"])
def test_a_mechanism_without_a_perp_variant_is_refused_with_its_reason(name):
    with pytest.raises(ScenarioError, match=rf"^market: {name} does not run on the 'perp' market \(it runs on: "
                                            r"lending\): \w+"):
        check_mechanisms_serve(load_scenario("perp-crash"), [name])


def test_variants_belong_to_their_mechanism_and_are_not_inherited():
    for name in ("fixed-fee", "dutch-auction", "soft", "private"):
        cls = MECHANISMS.load(name)
        variant = cls.variant_for("perp")
        assert variant.name == name and variant.markets == ("perp",) and variant is not cls
        assert variant.__module__.startswith("sandbox.mechanisms.perp.")

    class GenerousBonus(MECHANISMS.load("fixed-fee")):  # a plug-in built on a built-in
        pass

    assert GenerousBonus.markets == ("lending",) and GenerousBonus.variants == {}
    with pytest.raises(ValueError, match="does not run on the 'perp' market"):
        GenerousBonus.variant_for("perp")


def test_list_says_where_each_mechanism_runs_and_why_not():
    out = CliRunner().invoke(main, ["list", "mechanisms"]).output
    assert "english-auction [markets: lending] [not on perp]" in out
    assert "fixed-fee [markets: lending, perp]" in out
    assert "  not on perp: tend raises a bid" in out
    assert "  on perp — Perp v1 keeper liquidation" in out and "    keeper_fee_bps" in out
    markets = CliRunner().invoke(main, ["list", "markets"]).output
    assert "perp — Perpetual futures" in markets and "trader" in markets


# ------------------------------------------------------------------------ the population

def test_traders_are_drawn_from_the_seed_with_the_spec_long_share_and_leverage():
    spec = TraderSpec(count=400, leverage_min=2.0, leverage_max=5.0, long_share=0.7)
    a = draw_traders(spec, np.random.default_rng(3), to_wad(2000))
    assert a == draw_traders(spec, np.random.default_rng(3), to_wad(2000))
    longs = sum(1 for _, size, _ in a if size > 0)
    assert 0.62 < longs / len(a) < 0.78
    for margin, size, lev in a:
        assert 2.0 <= lev <= 5.0
        assert abs(abs(size) * 2000 - margin * lev) <= margin * lev * 1e-5 + WAD * 2000


@pytest.mark.parametrize("repeg", [True, False])
def test_every_opening_meets_initial_margin_after_its_fill_and_at_the_index(repeg):
    params = PerpParams(venue_depth_weth=500.0, mark_weight_bps=5_000)
    index = to_wad(2000)
    venue = pm.VenueState.initial(to_wad(params.venue_depth_weth), index)
    draws = draw_traders(TraderSpec(count=60, margin_usd_median=20_000, leverage_max=9.5), np.random.default_rng(1),
                         index)
    opened = open_sizes(draws, params, venue, index, params.imf_wad, repeg=repeg)
    for (margin, drawn, _), (size, back) in zip(draws, opened):
        assert abs(size) <= abs(drawn) and (size == 0 or (size > 0) == (drawn > 0))
        if size:
            after, quote = venue.after(size)
            for mark in (pm.mark_price(index, after.price, 5 * 10**17, 5 * 10**16), index):
                assert margin + pm.unrealised_pnl(size, quote, mark) >= pm.requirement(size, mark, params.imf_wad)
            venue = after.after(back)[0] if back else after
        if repeg:
            assert abs(venue.base - base_at_price(venue.k, index)) <= 1
    assert any(size != drawn for (_, drawn, _), (size, _) in zip(draws, opened))  # some had to be cut


# ------------------------------------------------------------------------ the at-risk rule

def _view(margin, size, on, mark, liquidatable=False, funding=0):
    mm = pm.requirement(size, mark, 5 * 10**16)
    eq = pm.equity(margin, size, on, mark, funding)
    return PerpPositionView(owner="0x1", margin=margin, size=size, open_notional=on, funding_owed=funding, equity=eq,
                            maintenance_margin=mm, initial_margin=2 * mm, health_factor_wad=eq * WAD // mm if mm else 2**255 - 1,
                            locked=False, liquidatable=liquidatable, mark_price=mark, mmf=5 * 10**16)


def test_a_margin_account_is_at_risk_below_maintenance_at_a_price_and_its_health_says_so():
    rule = PerpRisk()
    long = _view(to_wad(2300), to_wad(10), to_wad(20_000), to_wad(2000))
    boundary = pm.liquidation_price_wad(to_wad(10), to_wad(20_000), to_wad(2300), 5 * 10**16)
    assert rule.at_risk_at(long, boundary) and not rule.at_risk_at(long, boundary + 1)
    assert rule.health(long, boundary) < 1 <= rule.health(long, boundary + 1)
    short = _view(to_wad(2300), -to_wad(10), to_wad(20_000), to_wad(2000))
    boundary = pm.liquidation_price_wad(-to_wad(10), to_wad(20_000), to_wad(2300), 5 * 10**16)
    assert rule.at_risk_at(short, boundary) and not rule.at_risk_at(short, boundary - 1)
    assert rule.health(_view(to_wad(5), 0, 0, to_wad(2000)), to_wad(1)) == float("inf")
    # funding due counts against equity
    assert rule.at_risk_at(_view(to_wad(2300), to_wad(10), to_wad(20_000), to_wad(2000), funding=to_wad(1500)),
                           to_wad(1900))
    assert rule.covered_and_shortfall(to_wad(100), -to_wad(30)) == (to_wad(70), to_wad(30))
    assert rule.covered_and_shortfall(to_wad(100), -to_wad(300)) == (0, to_wad(100))


def test_the_readme_perp_example_loads_with_every_field_it_names():
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    text = re.search(r'```toml\n(market = "perp".*?)```', readme, re.S).group(1)
    sc = parse_scenario('name = "readme-perp"\n' + text)
    assert sc.market == "perp" and sc.traders.count == 60 and sc.perp.venue_depth_weth == 10_000.0
    assert check_mechanisms_serve(sc, ["fixed-fee"])["fixed-fee"].keeper_fee_bps == 150
