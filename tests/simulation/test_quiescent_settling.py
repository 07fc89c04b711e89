"""Settling ends when nothing can happen: once no agent would act on any open position at any
later block before the cap (the mechanism's prospects, the agents' own rules), the settle
phase stops, says why in the run's manifest, and counts the positions left unliquidatable."""

from __future__ import annotations

import dataclasses

from sandbox.markets import get_market
from sandbox.metrics import compute_metrics
from sandbox.results import run_entry
from sandbox.runs import RunRecord
from sandbox.simulation import Simulation


def _dutch_auctions_nobody_can_take():
    """The lending example crash, Dutch auctions whose price never falls (cut 1.0) and whose
    redo comes only after ten days: every auction's take costs 1.2 × the oracle price forever."""
    sc = get_market("lending").example_scenario()
    return dataclasses.replace(sc, settle_max_seconds=4 * 3600, mechanisms={
        "dutch-auction": {"cut_bps": 10000, "tail_seconds": 10 * 86400, "curve": "stairstep-exponential"}})


def test_a_dutch_auction_nobody_can_take_before_the_cap_ends_the_settle_phase_at_once():
    sc = _dutch_auctions_nobody_can_take()
    result = Simulation(sc, "dutch-auction", seed=0).run()
    cap_blocks = sc.settle_max_seconds // sc.block_time_seconds
    assert result.settle_reason.startswith("quiescent:"), result.settle_reason
    assert result.settle_blocks < cap_blocks // 2
    positions = result.tables["positions"]
    stuck = positions[positions["unliquidatable"]]
    assert len(stuck) >= 1 and all(stuck["final_locked"])  # in an auction nobody takes
    metrics = compute_metrics(result)
    assert metrics["unliquidatable_positions"] == len(stuck)
    assert metrics["unliquidatable_debt_usd"] == sum(int(d) for d in stuck["final_debt_usd_wad"]) / 1e18


def test_the_manifest_entry_says_why_settling_ended():
    record = RunRecord(mechanism="dutch-auction", seed=0, mechanism_params={}, tables={}, metrics={},
                       transactions=1, blocks=2, wall_seconds=0.1, settle_blocks=1,
                       settle_reason="cap: settle_max_seconds (3600 s) reached")
    assert run_entry(record)["settle_reason"] == "cap: settle_max_seconds (3600 s) reached"


def test_a_run_that_settles_by_itself_says_so_and_leaves_nothing_unliquidatable():
    sc = get_market("lending").example_scenario()
    result = Simulation(sc, "fixed-fee", seed=0).run()
    assert result.settle_reason.split(":")[0] in ("settled", "idle")
    assert compute_metrics(result)["unliquidatable_positions"] == sum(result.tables["positions"]["unliquidatable"])
