"""The chain backend is an implementation detail: every built-in mechanism, run on the same
scenario and seed on every registered backend, writes the same results folder.

Nothing is excluded from the comparison: no table holds a block hash (the one header field
that differs between backends: anvil's headers carry a random prevrandao and no background-gas
tag), and the manifest, which names the backend and wall-clock times, is not a table.
"""

from __future__ import annotations

import pandas as pd
import pytest

from sandbox.chain import CHAIN_BACKENDS
from sandbox.chain.anvil import AnvilNotFound, find_anvil
from sandbox.compare import run_comparison
from sandbox.mechanisms import MECHANISMS
from sandbox.results import load, write_results
from sandbox.scenarios import parse_scenario

# 80 blocks of 24 s: a 35% fall in 20 minutes with a gas spike, a partial recovery, every keeper
# strategy and reacting borrowers, so that liquidations, reverts and replacements all happen.
SHORT_CRASH = '''
name = "backends-agree"
blocks = 80
block_time_seconds = 24
[price]
model = "path"
knots = [[0, 2000], [1200, 1300], [1920, 1450]]
noise_volatility_per_year = 0.3
[gas]
base_fee_gwei = 10
spikes = [[600, 1200, 2.0]]
[lending]
min_borrow_usd = 2500.0  # the Dutch auction's dust: no position it could never liquidate
[borrowers]
count = 8
collateral_weth_median = 8
ltv_min_bps = 7000
ltv_max_bps = 7900
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
'''
TABLES = ("events", "positions", "prices", "txs", "agents")


def _available(backend: str) -> bool:
    if backend != "anvil":
        return True
    try:
        find_anvil()
        return True
    except AnvilNotFound:
        return False


def test_every_mechanism_gives_identical_results_on_every_backend(tmp_path):
    backends = CHAIN_BACKENDS.names()
    if not all(_available(b) for b in backends):
        pytest.skip("anvil backend unavailable here (run `npm ci` in the clone)")
    scenario = parse_scenario(SHORT_CRASH, source="test")
    mechanisms = MECHANISMS.names()
    folders = {}
    for backend in backends:
        comparison = run_comparison(scenario, mechanisms, [3], backend=backend, jobs=2)
        folders[backend] = write_results(comparison, scenario, tmp_path / backend)

    reference = load(folders["eth-tester"])
    assert set(reference.txs["tag"]) >= {"liquidation", "oracle-update"}  # the run is not idle
    assert (reference.txs["status"] == 0).any()  # and some keepers lost races (reverts)
    assert_same_as_eth_tester(folders, reference)


def test_perp_runs_give_identical_results_on_every_backend(tmp_path):
    """The perp market's example (a 25% fall in 15 minutes, eight traders, three keepers) under a
    mechanism that closes through the venue and one that auctions positions to takers."""
    from sandbox.markets import get_market

    backends = CHAIN_BACKENDS.names()
    if not all(_available(b) for b in backends):
        pytest.skip("anvil backend unavailable here (run `npm ci` in the clone)")
    scenario = get_market("perp").example_scenario()
    folders = {b: write_results(run_comparison(scenario, ["fixed-fee", "dutch-auction"], [2], backend=b, jobs=2),
                                scenario, tmp_path / b) for b in backends}
    reference = load(folders["eth-tester"])
    assert (reference.summary()["liquidations"] > 0).all()
    assert_same_as_eth_tester(folders, reference)


def assert_same_as_eth_tester(folders: dict, reference) -> None:
    """Every backend's results folder holds eth-tester's summary bytes and tables, exactly."""
    for backend, folder in folders.items():
        assert (folder / "summary.csv").read_bytes() == (folders["eth-tester"] / "summary.csv").read_bytes(), backend
        other = load(folder)
        for name in TABLES:
            pd.testing.assert_frame_equal(getattr(other, name), getattr(reference, name), check_exact=True,
                                          obj=f"{name} on {backend}")
