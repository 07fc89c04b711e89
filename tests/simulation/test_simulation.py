"""The block loop: reproducible, faithful to the chain, every agent type on every mechanism."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sandbox.agents.keepers import KEEPERS
from sandbox.mechanisms import MECHANISMS
from sandbox.scenarios import load_scenario
from sandbox.scenarios.loader import parse_scenario
from sandbox.simulation import Simulation
from sandbox.units import WAD

ALL_MECHANISMS = MECHANISMS.names()

EVERY_AGENT = '''
name = "every-agent"
blocks = 200
block_time_seconds = 24
[price]
model = "path"
knots = [[0, 2000], [1800, 1300], [3000, 1500], [4800, 1450]]
noise_volatility_per_year = 0.3
[gas]
base_fee_gwei = 10
spikes = [[1200, 1800, 2.0]]
[lending]
min_borrow_usd = 2500.0  # the Dutch auction's dust: no position it could never liquidate
[borrowers]
count = 12
collateral_weth_median = 8
reaction_probability = 0.2
[[keepers]]
strategy = "naive"
[[keepers]]
strategy = "pga"
[[keepers]]
strategy = "frontrunner"
[[keepers]]
strategy = "backrunner"
[[keepers]]
strategy = "flash"
[[keepers]]
strategy = "opportunist"
[mechanisms.english-auction]
ttl_seconds = 1800  # bids stand 30 min (3 h on mainnet): the settle phase stays short
'''

CASCADE = '''
name = "cascade"
blocks = 40
block_time_seconds = 12
[price]
model = "path"
knots = [[0, 2000], [120, 1640], [480, 1640]]
[oracle]
deviation_bps = 50
amm_weight = 1.0
[amm]
liquidity_weth = 400
[borrowers]
count = 12
collateral_weth_median = 30
collateral_weth_sigma = 0.3
ltv_min_bps = 6600
ltv_max_bps = 7900
[arbitrageur]
capital_usd_per_block = 20000
[[keepers]]
strategy = "flash"
'''


def small_crash(blocks: int = 60, borrowers: int = 10):
    sc = load_scenario("crash")
    return replace(sc, blocks=blocks, borrowers=replace(sc.borrowers, count=borrowers))


def test_same_scenario_and_seed_give_identical_tables():
    sc = small_crash(blocks=50)
    a = Simulation(sc, "fixed-fee", seed=7).run().tables
    b = Simulation(sc, "fixed-fee", seed=7).run().tables
    for name in a:
        pd_a, pd_b = a[name], b[name]
        assert pd_a.equals(pd_b), name
    c = Simulation(sc, "fixed-fee", seed=8).run().tables
    assert not a["blocks"]["reference_price_usd"].equals(c["blocks"]["reference_price_usd"])


def test_every_mechanism_faces_the_same_market_for_a_seed():
    sc = small_crash(blocks=5)
    prices = {m: Simulation(sc, m, seed=3).prices_wad for m in ("fixed-fee", "soft")}
    assert prices["fixed-fee"] == prices["soft"]


@pytest.mark.parametrize("mechanism", MECHANISMS.names())
def test_following_events_gives_the_same_run_as_reading_every_contract(mechanism):
    sc = small_crash(blocks=60, borrowers=8)
    fast = Simulation(sc, mechanism, seed=2).run().tables
    slow = Simulation(sc, mechanism, seed=2, follow_events=False).run().tables
    assert fast["txs"]["status"].sum() > 0
    for name in fast:
        assert fast[name].equals(slow[name]), name


def _market_invariants(sim: Simulation) -> None:
    market = sim.market
    lending = market.lending
    owners = sim.owners
    debts = sum(lending.call("debtOf", o) for o in owners)
    assert debts == lending.call("totalDebt")
    assert market.weth.call("balanceOf", lending.address) == lending.call("totalCollateral")
    assert market.usd.call("balanceOf", lending.address) == lending.call("liquidity")


@pytest.mark.parametrize("mechanism", ALL_MECHANISMS)
def test_a_few_hundred_blocks_with_every_agent_type_run_on_every_mechanism(mechanism):
    sc = parse_scenario(EVERY_AGENT, source="test")
    sim = Simulation(sc, mechanism, seed=11)
    sim.setup()
    supply = (sim.market.weth.call("totalSupply"), sim.market.usd.call("totalSupply"))
    result = sim.run()
    agents = result.tables["agents"]
    assert set(agents["kind"]) == {"borrower", "oracle", "arbitrageur", "keeper"}
    assert set(agents.loc[agents["kind"] == "keeper", "strategy"]) == set(KEEPERS.names())
    txs = result.tables["txs"]
    assert {"oracle-update", "arbitrage", "liquidation"} <= set(txs["tag"])
    blocks = result.tables["blocks"]
    assert result.blocks == 200 + result.settle_blocks == len(blocks)
    assert list(blocks["phase"]) == ["path"] * 200 + ["settle"] * result.settle_blocks
    # the settle phase (price held at its last value) finished every liquidation started
    assert result.settle_blocks * sc.block_time_seconds < sc.settle_max_seconds
    assert sim.mechanism.unfinished(sim.owners, sim.prices_wad[-1]) == 0
    assert not any(p.locked for p in sim.market.positions(sim.owners))
    # Tokens are only minted at set-up: supplies are conserved through the run.
    assert (sim.market.weth.call("totalSupply"), sim.market.usd.call("totalSupply")) == supply
    _market_invariants(sim)


def test_a_liquidation_dump_on_the_amm_cascades_into_a_further_liquidation():
    """With a DEX-fed oracle, selling seized collateral moves the AMM, the oracle follows it, and
    a position that was still healthy at the reference price becomes liquidatable."""
    sc = parse_scenario(CASCADE, source="test")
    result = Simulation(sc, "fixed-fee", seed=1).run()
    blocks = result.tables["blocks"].set_index("block")
    positions = result.tables["positions"]
    assert blocks["amm_price_usd"].min() < 0.9 * blocks["reference_price_usd"].min()
    lt = sc.lending.liquidation_threshold_bps / 10_000
    at_risk = positions[positions["at_risk"]]
    reference_hf = (at_risk["at_risk_collateral_weth"]
                    * at_risk["at_risk_block"].map(blocks["reference_price_usd"]) * lt
                    / at_risk["at_risk_debt_usd"])
    cascaded = at_risk[reference_hf >= 1.0]
    assert len(cascaded) >= 1
    events = result.tables["events"]
    liquidated = set(events.loc[events["event"] == "LiquidationRepaid", "position"])
    assert set(cascaded["position"]) & liquidated


def test_without_the_amm_in_the_oracle_no_position_healthy_at_the_reference_is_liquidated():
    sc = parse_scenario(CASCADE.replace("amm_weight = 1.0", "amm_weight = 0.0"), source="test")
    result = Simulation(sc, "fixed-fee", seed=1).run()
    blocks = result.tables["blocks"].set_index("block")
    at_risk = result.tables["positions"].query("at_risk")
    lt = sc.lending.liquidation_threshold_bps / 10_000
    reference_hf = (at_risk["at_risk_collateral_weth"]
                    * at_risk["at_risk_block"].map(blocks["reference_price_usd"]) * lt
                    / at_risk["at_risk_debt_usd"])
    assert (reference_hf < 1.0 + 1e-9).all()


def test_keeper_ledgers_match_their_receipts():
    sc = small_crash(blocks=60)
    result = Simulation(sc, "fixed-fee", seed=4).run()
    txs, agents = result.tables["txs"], result.tables["agents"].set_index("agent")
    for agent, group in txs.groupby("agent"):
        if agent not in agents.index:
            continue
        assert agents.loc[agent, "txs_sent"] == len(group)
        assert agents.loc[agent, "txs_reverted"] == int((group["status"] == 0).sum())
        assert agents.loc[agent, "gas_spent_usd"] == pytest.approx(group["gas_cost_usd"].sum(), rel=1e-9, abs=1e-6)


def test_positions_first_at_risk_carry_the_debt_they_had_then():
    sc = small_crash(blocks=80)
    result = Simulation(sc, "dutch-auction", seed=5).run()
    at_risk = result.tables["positions"].query("at_risk")
    assert len(at_risk) > 0
    for _, row in at_risk.iterrows():
        assert int(row["at_risk_debt_usd_wad"]) > 0
        assert int(row["at_risk_debt_usd_wad"]) / WAD == pytest.approx(row["at_risk_debt_usd"], rel=1e-12)
        assert row["at_risk_detected_by"] in {"oracle", "reference", "oracle+reference", "event"}
