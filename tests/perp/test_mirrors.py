"""Python mirrors compared with the contracts to the wei on random inputs."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.chain import PyEVMChain, anchor, deploy
from sandbox.perp import PerpParams, deploy_perp_market
from sandbox.perp.actions import set_index_price, settle_funding_tx
from sandbox.perp.math import (
    VenueState,
    funding_payments,
    is_liquidatable,
    liquidation_price_wad,
    mark_price,
    premium,
)
from sandbox.units import WAD, to_wad

from conftest import Checked, events, open_position

LABELS = ["deployer", "oracle", "treasury"] + [f"trader-{i}" for i in range(6)]
prices = st.integers(min_value=to_wad(1), max_value=to_wad(100_000))
fractions = st.integers(min_value=0, max_value=WAD)


@pytest.fixture(scope="module")
def world():
    """One chain for the module; each example runs inside a snapshot."""
    chain = PyEVMChain(seed=77, accounts=LABELS)
    perp = deploy_perp_market(chain, PerpParams(venue_depth_weth=1000))
    (harness,) = deploy(chain, chain.accounts[0], [("PerpMathHarness", ())])
    return chain, perp, harness


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prices, prices, fractions, fractions)
def test_mark_price_and_premium(world, index, traded, weight, max_premium):
    _, _, harness = world
    expected = mark_price(index, traded, weight, max_premium)
    assert harness.call("markPrice", index, traded, weight, max_premium) == expected
    assert harness.call("premium", traded, index) == premium(traded, index)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(min_value=-to_wad(50_000), max_value=to_wad(999)))
def test_venue_quotes(world, delta):
    _, perp, _ = world
    venue = VenueState(perp.venue.call("baseReserve"), perp.venue.call("quoteReserve"), perp.venue.call("k"))
    assert perp.venue.call("quote", delta) == venue.quote_for(delta)
    assert perp.venue.call("reservesAfter", delta) == (venue.after(delta)[0].base, venue.after(delta)[0].quote)


sizes = st.lists(st.integers(min_value=-to_wad(20), max_value=to_wad(20)).filter(lambda s: s != 0),
                 min_size=2, max_size=6)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes)
def test_funding_payments_of_random_books(world, book):
    chain, perp, _ = world
    traders = [chain.account(f"trader-{i}") for i in range(len(book))]
    with anchor(chain):
        checked = Checked(perp)
        t0 = perp.state().last_funding_time
        for t, size in zip(traders, book, strict=True):
            open_position(checked, t, to_wad(20_000), size)
        block = checked.send([settle_funding_tx(perp, chain.accounts[0])],
                             timestamp=max(t0 + 3600, chain.timestamp + 1))
        (ev,) = events(block, "FundingSettled")
        got = {e["account"]: e["amount"] for e in events(block, "FundingPaid")}
        expected = funding_payments(book, ev["markPrice"], ev["rate"])
        assert [got.get(t.address, 0) for t in traders] == list(expected.payments)
        assert sum(got.values()) == ev["dust"] == expected.dust


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(min_value=to_wad("0.5"), max_value=to_wad(20)), st.booleans(),
       st.integers(min_value=1100, max_value=3000))
def test_liquidation_boundary_of_random_positions(world, size, long, margin_bps):
    chain, perp, _ = world
    t = chain.account("trader-0")
    size = size if long else -size
    with anchor(chain):
        margin = size * 2000 * margin_bps // 10_000 if long else -size * 2000 * margin_bps // 10_000
        open_position(Checked(perp), t, margin, size)
        m, s, on, _ = perp.raw(t.address)
        p = liquidation_price_wad(s, on, m, perp.params.mmf_wad)
        step = 1 if long else -1
        set_index_price(perp, p)
        assert perp.market.call("isLiquidatable", t.address) and is_liquidatable(m, s, on, p, perp.params.mmf_wad)
        set_index_price(perp, p + step)
        assert not perp.market.call("isLiquidatable", t.address)
