"""The limits are what a run can execute: a scenario at the edges of every range sets up and
runs on every mechanism (or is refused up front by the mechanism that cannot serve it), with
the accounting checked, instead of reverting or overflowing mid-run."""

from __future__ import annotations

import dataclasses

import pytest

from sandbox.mechanisms import MECHANISMS
from sandbox.metrics import compute_metrics
from sandbox.scenarios import LIMITS, ScenarioError, check_mechanisms_serve, load_scenario
from sandbox.simulation import Simulation


def _edge(side: str):
    """The crash scenario, shrunk, with prices, amounts, liquidity, gas and capital at one edge."""
    i = 0 if side == "lowest" else 1
    price = LIMITS["price.start_price_usd"][i]
    base = load_scenario("crash")
    r = dataclasses.replace
    return r(base, blocks=8, block_time_seconds=90,
             price=r(base.price, knots=((0.0, price), (600.0, max(price * 0.6, LIMITS["price.floor_price_usd"][0]))),
                     start_price_usd=price, floor_price_usd=LIMITS["price.floor_price_usd"][0]),
             borrowers=r(base.borrowers, count=3, collateral_weth_median=LIMITS["borrowers.collateral_weth_median"][i],
                         collateral_weth_sigma=LIMITS["borrowers.collateral_weth_sigma"][1]),
             amm=r(base.amm, liquidity_weth=LIMITS["amm.liquidity_weth"][i]),
             gas=r(base.gas, base_fee_gwei=[1e-9, 1e6][i], background_tip_gwei=LIMITS["gas.background_tip_gwei"][i]),
             arbitrageur=r(base.arbitrageur, capital_usd_per_block=[1.0, 1e15][i]),
             keepers=tuple(r(k, capital_usd=0.0 if k.strategy == "flash" else [1.0, 1e15][i]) for k in base.keepers))


@pytest.mark.parametrize("side", ["lowest", "highest"])
@pytest.mark.parametrize("mechanism", MECHANISMS.names())
def test_a_scenario_at_the_edge_of_the_limits_runs_or_is_refused_up_front(mechanism, side):
    scenario = _edge(side)
    try:
        check_mechanisms_serve(scenario, [mechanism])
    except ScenarioError as e:
        # soft's bands cannot hold 1e12-USD positions, nor the billions of WETH a $2,500 minimum
        # loan needs at 1e-6 USD: said before running
        assert mechanism == "soft" and "above what soft's bands hold" in str(e)
        return
    result = Simulation(scenario, mechanism, seed=0).run()
    compute_metrics(result)  # raises if the debt does not add up
    assert result.blocks - result.settle_blocks == 8 and len(result.tables["positions"]) == 3
