"""Volatility-based margin: the oracle role folds each round into an EWMA of squared log
returns (RiskMetrics λ = 0.94); MMF = clamp(k σ √h, floor, cap) rises with realised volatility
between its floor and cap, IMF keeps the IM/MM ratio; integer ln mirrored exactly."""

from __future__ import annotations

from decimal import Decimal, getcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.chain import deploy, execute
from sandbox.perp.actions import set_index_price
from sandbox.perp.math import ewma_variance, ln_wad, vol_fractions
from sandbox.perp.params import bps_wad
from sandbox.units import WAD, to_wad

from conftest import Checked, open_position


@pytest.fixture
def perp(make_perp):
    return make_perp(vol_margin=True)


def _fractions(perp, variance):
    p = perp.params
    return vol_fractions(variance, to_wad(p.vol_multiplier), p.vol_horizon_updates, bps_wad(p.vol_mmf_floor_bps),
                         bps_wad(p.vol_mmf_cap_bps), p.imf_wad, p.mmf_wad)


def test_margin_rises_with_realised_volatility_between_floor_and_cap(perp):
    variance = perp.params.initial_variance_wad
    assert (perp.market.call("mmf"), perp.market.call("imf")) == _fractions(perp, variance)
    prev, mmfs = to_wad(2000), []
    path = [2001, 2000, 2002, 2001] + [2040, 2000, 2040, 2000] + [3000, 1500, 3000, 1500, 3000]
    for price in map(to_wad, path):
        block = set_index_price(perp, price, update_volatility=True)
        (ev,) = [log.args for log in block.logs if log.name == "VolatilityUpdated"]
        r, variance = ewma_variance(variance, prev, price, bps_wad(perp.params.vol_lambda_bps))
        assert (ev["logReturn"], ev["variance"]) == (r, variance)
        on_chain = (perp.market.call("mmf"), perp.market.call("imf"))
        assert (ev["mmf"], ev["imf"]) == _fractions(perp, variance) == on_chain
        assert ev["imf"] == ev["mmf"] * 2  # IM/MM of the defaults: 10% / 5%
        mmfs.append(ev["mmf"])
        prev = price
    calm, stressed, wild = mmfs[3], mmfs[7], mmfs[-1]
    assert calm == bps_wad(500)  # quiet: the floor (5%)
    assert bps_wad(500) < stressed < bps_wad(2500)  # 2% moves: in between
    assert wild == bps_wad(2500)  # halving and doubling: the cap (25%)


def test_higher_margin_makes_an_account_liquidatable_without_a_price_change(perp, traders):
    checked = Checked(perp)
    open_position(checked, traders[0], to_wad(2600), to_wad(10))
    assert not perp.account(traders[0].address).liquidatable
    for price in (2400, 2000, 2400, 2000):
        set_index_price(perp, to_wad(price), update_volatility=True)
    assert perp.market.call("mmf") > bps_wad(1000)
    assert perp.account(traders[0].address).liquidatable


def test_only_the_oracle_role_updates_once_per_round(perp, traders):
    set_index_price(perp, to_wad(2010))
    block = execute(perp.chain, [perp.market.tx(traders[0], "updateVolatility")], require_success=False)
    assert block.receipts[0].revert_reason == "NotOracle()"
    execute(perp.chain, [perp.market.tx(perp.oracle_updater, "updateVolatility")])
    block = execute(perp.chain, [perp.market.tx(perp.oracle_updater, "updateVolatility")], require_success=False)
    assert block.receipts[0].revert_reason.startswith("NoNewRound(")


def test_vol_margin_off_refuses_updates(make_perp):
    perp = make_perp()
    block = execute(perp.chain, [perp.market.tx(perp.oracle_updater, "updateVolatility")], require_success=False)
    assert block.receipts[0].revert_reason == "VolatilityMarginOff()"


# ----------------------------------------------------------------- ln and sqrt mirrors

@pytest.fixture(scope="module")
def harness():
    from sandbox.chain import PyEVMChain
    chain = PyEVMChain(seed=1, accounts=["deployer"])
    (h,) = deploy(chain, chain.accounts[0], [("PerpMathHarness", ())])
    return h


def _ln_exact(x: int) -> Decimal:
    getcontext().prec = 60
    return (Decimal(x) / Decimal(WAD)).ln()


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=WAD // 10**6, max_value=WAD * 10**6))
def test_ln_matches_the_contract_and_is_within_1e_16_of_ln(harness, x):
    got = ln_wad(x)
    assert harness.call("lnWad", x) == got
    assert abs(Decimal(got) / WAD - _ln_exact(x)) < Decimal("1e-16")


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=2**200))
def test_sqrt_is_the_exact_floor(harness, x):
    from math import isqrt
    assert harness.call("sqrt", x) == isqrt(x)
