"""The one at-risk rule (sandbox.risk) and how the recorder applies it block by block, on
hand-built positions: collateral counts wherever it sits, USD held offsets debt one for one,
the oracle or the reference price may put a position at risk first, and a position is covered
in the first block whose end state is safe at both prices."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sandbox import risk
from sandbox.market import PositionView, health_factor_wad
from sandbox.recorder import Recorder
from sandbox.units import WAD

LT = 8500


def usd(x: float) -> int:
    return int(round(x * 10**6)) * 10**12


def position(owner="0xa", collateral=1.0, held_collateral=0.0, held_usd=0.0, debt=1000.0) -> PositionView:
    return PositionView(owner=owner, collateral=usd(collateral), held_collateral=usd(held_collateral),
                        held_debt_asset=usd(held_usd), debt=usd(debt), health_factor_wad=0, locked=False)


def test_at_risk_is_collateral_times_threshold_below_debt():
    # 1 WETH at 1,176.47 x 0.85 = 999.9995 < 1,000; at 1,176.48 it covers the debt
    assert risk.at_risk(usd(1), 0, usd(1000), usd(1176.47), LT)
    assert not risk.at_risk(usd(1), 0, usd(1000), usd(1176.48), LT)


def test_without_usd_held_the_rule_is_exactly_the_markets_health_factor_below_one():
    lt_wad = LT * WAD // 10_000
    for price in (1176.4705, 1176.4706, 1176.47058823, 1176.47058824, 900.0, 2000.0):
        hf = health_factor_wad(usd(1), usd(1000), usd(price), lt_wad)
        assert risk.at_risk(usd(1), 0, usd(1000), usd(price), LT) == (hf < WAD), price


def test_usd_held_offsets_debt_one_for_one_without_the_threshold():
    # soft bands fully converted: 0 WETH and 1,090 USD against 1,000 of debt. The market's health
    # factor applies 85% to the USD (0.93): "liquidatable"; under the common rule it is safe.
    lt_wad = LT * WAD // 10_000
    assert health_factor_wad(0, usd(1000), usd(1500), lt_wad, 0, usd(1090)) < WAD
    assert not risk.at_risk(0, usd(1090), usd(1000), usd(1500), LT)
    assert risk.at_risk(0, usd(999), usd(1000), usd(1500), LT)
    assert risk.health(0, usd(1090), usd(1000), usd(1500), LT) == pytest.approx(1.09)


def test_collateral_counts_wherever_it_sits():
    # 0.5 WETH in the market + 0.5 in bands (or an auction lot) is 1 WETH
    split = risk.health(usd(0.5) + usd(0.5), 0, usd(1000), usd(2000), LT)
    assert split == risk.health(usd(1), 0, usd(1000), usd(2000), LT) == pytest.approx(1.7)


def test_health_is_below_one_exactly_when_at_risk_and_infinite_without_debt():
    for price in (1176.47, 1176.4705, 1176.4706, 1176.48):
        h = risk.health(usd(1), 0, usd(1000), usd(price), LT)
        assert (h < 1) == risk.at_risk(usd(1), 0, usd(1000), usd(price), LT)
    assert risk.health(usd(1), 0, 0, usd(1), LT) == float("inf")


def test_covered_and_shortfall_split_owed_debt_by_collateral_value_without_threshold():
    # 1,000 owed against 0.5 WETH at 1,800 + 50 USD = 950: 950 covered, 50 short
    assert risk.covered_and_shortfall(usd(1000), usd(0.5), usd(50), usd(1800)) == (usd(950), usd(50))
    assert risk.covered_and_shortfall(usd(1000), usd(1), 0, usd(1800)) == (usd(1000), 0)


# ------------------------------------------------------------------------------ the recorder


def view(number: int, oracle: float, reference: float, *positions: PositionView):
    return SimpleNamespace(number=number, market=SimpleNamespace(price=usd(oracle)),
                           reference_price_wad=usd(reference), positions=positions)


def block_row(recorder: Recorder, number: int, seconds: int) -> None:
    """What ``record`` appends, reduced to what at-risk tracking reads."""
    recorder.blocks.append({"block": number, "seconds": seconds, **recorder._block_stats})


def recorder() -> Recorder:
    return Recorder(mechanism="m", seed=0, contract_names={}, strategies={}, liquidation_threshold_bps=LT)


def test_a_faulty_oracle_puts_a_position_at_risk_that_the_market_price_says_is_safe():
    r = recorder()
    r.observe_positions(view(5, 1100, 1500, position(debt=1000)), 60)  # oracle 1,100, market 1,500
    first = r.first_at_risk["0xa"]
    assert (first["at_risk_block"], first["at_risk_detected_by"]) == (5, "oracle")
    assert r._block_stats["health_below_1_oracle"] == 1 and r._block_stats["health_below_1_reference"] == 0


def test_under_water_at_the_reference_price_is_at_risk_before_the_oracle_catches_up():
    r = recorder()
    r.observe_positions(view(5, 1500, 1100, position(debt=1000)), 60)  # oracle 1,500, market 1,100
    assert r.first_at_risk["0xa"]["at_risk_detected_by"] == "reference"


def test_a_position_is_covered_in_the_block_whose_end_state_is_safe_at_both_prices():
    r = recorder()
    r.observe_positions(view(5, 1100, 1100, position(debt=1000)), 60)  # at risk
    block_row(r, 5, 60)
    # partly converted, still at risk (0.4 x 1,100 x 0.85 + 500 = 874 < 1,000)
    r.observe_positions(view(6, 1100, 1100, position(collateral=0.4, held_usd=500, debt=1000)), 72)
    block_row(r, 6, 72)
    assert "0xa" not in r.first_safe
    # converted into the debt asset during block 7: covered at its end, seen at block 8's start
    r.observe_positions(view(7, 1100, 1100, position(collateral=0.4, held_usd=500, debt=1000)), 84)
    block_row(r, 7, 84)
    r.observe_positions(view(8, 1100, 1100, position(collateral=0, held_usd=1010, debt=1000)), 96)
    assert r.first_safe["0xa"] == {"safe_block": 7, "safe_seconds": 84}


def test_a_position_never_covered_before_the_end_is_covered_in_the_last_block_if_its_final_state_is_safe():
    r = recorder()
    r.observe_positions(view(5, 1100, 1100, position(debt=1000)), 60)
    block_row(r, 5, 60)
    r.observe_end([position(debt=0)], usd(1100), usd(1100))
    assert r.first_safe["0xa"] == {"safe_block": 5, "safe_seconds": 60}
    r2 = recorder()
    r2.observe_positions(view(5, 1100, 1100, position(debt=1000)), 60)
    block_row(r2, 5, 60)
    r2.observe_end([position(debt=1000)], usd(1100), usd(1100))
    assert "0xa" not in r2.first_safe


def test_the_block_health_distribution_is_at_the_reference_price_over_positions_with_debt():
    r = recorder()
    r.observe_positions(view(5, 2000, 2000, position("0xa", debt=1000), position("0xb", debt=0),
                             position("0xc", collateral=2, debt=1000)), 60)
    stats = r._block_stats
    assert stats["positions_with_debt"] == 2
    assert stats["health_ref_min"] == pytest.approx(1.7)
    assert stats["health_ref_p50"] == pytest.approx((1.7 + 3.4) / 2)
