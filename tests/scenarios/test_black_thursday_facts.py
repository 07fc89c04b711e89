"""Black Thursday (scenarios/black-thursday.toml) stages what happened to Maker on 12 March 2020.

Published (shared/reference/events.md): 36% of flip auctions cleared at zero bids, ~5.67M DAI of
bad debt came from them, keepers whose gas was capped failed to bid. The sandbox's English
auction, with flip's settings of the day (ttl 10 min, tau 6 h, beg 3%) and an opportunist that
bids the least the contract accepts on lots nobody bids on, should show the same shape: a fair
share of lots won at under 10% of market, bad debt above the Dutch auction's (whose falling
price needs no bidder to stay awake), and that bad debt in the lots won for (almost) nothing.

Lots are valued at the reference (market) price of their deal's block, as the metrics value
collateral (``sandbox.metrics``). Measured on anvil, seed 0 (seeds 1 and 2 in brackets):
- reduced (240 blocks, 30 borrowers): 7/24 lots (29%) under 10% of market [3/24, 5/26], all
  zero bids; bad debt English $240,533 vs Dutch $37,010 [60,459 vs 40,288; 61,348 vs 12,214].
- full size: 26/58 lots (44.8%) under 10% [26/59 44.1%, 21/58 36.2%], all zero bids; bad debt
  English $541,727 vs Dutch $57,864 [520,677 vs 101,761; 352,942 vs 45,031]; the debt in lots
  bid under 10% of it is $524,109, 97% of the English bad debt.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from sandbox.mechanisms.english_auction import EnglishAuctionMechanism as English
from sandbox.metrics import _parse_events, _ReferencePrices, compute_metrics, metric_details
from sandbox.scenarios.loader import load_scenario
from sandbox.simulation import Simulation
from sandbox.testing import fastest_backend

SEED = 0  # the compare command's first seed
ZERO = "0x" + "00" * 20


def runs(scenario) -> dict:
    return {m: Simulation(scenario, m, seed=SEED, backend=fastest_backend()).run()
            for m in ("english-auction", "dutch-auction")}


def lots(result) -> tuple[int, int, int]:
    """(lots won under 10% of market, lots won, lots won at a zero bid) of an English run."""
    events = _parse_events(result.tables.get("events"))
    refs = _ReferencePrices(result.tables.get("blocks"))
    low, count, _, _ = English.lots_won_below(events, lambda e: refs.at(e.block))
    zero = sum(1 for e in events if e.contract == "mechanism" and e.name == "Deal" and e.int("bid") == 0
               and str(e.args["winner"]).lower() != ZERO)
    return low, count, zero


def bad_debt(result) -> float:
    return compute_metrics(result)["bad_debt_usd"]


@pytest.fixture(scope="module")
def reduced():
    """The day's first 8 hours (240 blocks of 120 s: cliff 1 at 4-6 h, its gas spike and its
    liquidation wave) with 30 borrowers: ~3 s a mechanism on anvil."""
    sc = load_scenario("black-thursday")
    return runs(replace(sc, blocks=240, borrowers=replace(sc.borrowers, count=30)))


def test_a_fair_share_of_english_lots_are_won_at_under_10pct_of_market_in_the_reduced_run(reduced):
    low, count, zero = lots(reduced["english-auction"])
    assert count >= 10, f"only {count} lots dealt"
    assert low * 10 >= count, f"{low}/{count} lots won under 10% of market"  # at least a tenth of them
    assert zero == low  # and those are the zero bids, as on the day


def test_english_bad_debt_is_above_the_dutch_auctions_in_the_reduced_run(reduced):
    english, dutch = bad_debt(reduced["english-auction"]), bad_debt(reduced["dutch-auction"])
    assert english > dutch, f"English {english:,.0f} vs Dutch {dutch:,.0f}"


@pytest.mark.slow
def test_the_full_run_stages_black_thursdays_published_facts():
    """Published: 36% of flip auctions cleared at zero bids, and the bad debt (~5.67M DAI) came
    from them. Band for the share of lots won under 10% of market: 30-60% (the 36% of the day
    and the 36-45% measured on seeds 0-2); English bad debt at least twice Dutch's (measured
    9x on seed 0); the debt in lots bid under 10% of it at least 80% of that bad debt."""
    full = runs(load_scenario("black-thursday"))
    english = full["english-auction"]
    low, count, zero = lots(english)
    assert 0.30 <= low / count <= 0.60, f"{low}/{count} lots won under 10% of market"
    assert zero == low
    english_bad, dutch_bad = bad_debt(english), bad_debt(full["dutch-auction"])
    assert english_bad >= 2 * dutch_bad, f"English {english_bad:,.0f} vs Dutch {dutch_bad:,.0f}"
    details = metric_details(english)
    assert details["english_debt_in_lots_bid_below_10pct_usd"] >= 0.8 * english_bad
