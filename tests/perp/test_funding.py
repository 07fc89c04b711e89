"""Funding: the Binance-shaped rate from the premium TWAP, settled once per interval, payments
between longs and shorts summing to exactly zero with the rounding dust in the insurance fund."""

from __future__ import annotations

from sandbox.chain import execute
from sandbox.perp.actions import settle_funding_tx, trade_tx
from sandbox.perp.math import funding_payments, funding_rate, premium
from sandbox.perp.params import bps_wad
from sandbox.units import WAD, to_wad

from conftest import events, open_position

HOUR = 3600


def _settle(perp, checked, sender, at):
    block = checked.send([settle_funding_tx(perp, sender)], timestamp=at)
    (ev,) = events(block, "FundingSettled")
    paid = {e["account"]: e["amount"] for e in events(block, "FundingPaid")}
    return block, ev, paid


def _positions(perp, owners):
    return [perp.raw(o)[1] for o in owners]


def test_balanced_open_interest_pays_the_interest_rate_and_sums_to_zero(perp, checked, traders):
    t0 = perp.state().last_funding_time
    open_position(checked, traders[0], to_wad(5000), to_wad(10))
    open_position(checked, traders[1], to_wad(5000), -to_wad(10))
    assert perp.state().traded_price == to_wad(2000)  # the venue is back where it started: no premium
    owners = [t.address for t in traders[:2]]
    margins = [perp.raw(o)[0] for o in owners]
    _, ev, paid = _settle(perp, checked, traders[2], t0 + HOUR)
    # premium ~0 (a few seconds of the long alone): F = P + clamp(0.01%/8 − P, ±0.05%) = 0.00125%
    assert 0 <= ev["premiumTwap"] < bps_wad(1)
    assert ev["rate"] == bps_wad(0.125) and ev["intervals"] == 1
    expected = funding_payments(_positions(perp, owners), ev["markPrice"], ev["rate"])
    assert [paid[o] for o in owners] == list(expected.payments)
    assert paid[owners[0]] == to_wad("0.25")  # 10 WETH × $2,000 × 0.00125%
    assert sum(paid.values()) == ev["dust"] == 0
    assert [perp.raw(o)[0] for o in owners] == [m - p for m, p in zip(margins, expected.payments, strict=True)]


def test_unbalanced_open_interest_shares_the_payers_total_pro_rata_and_dust_goes_to_insurance(perp, checked, traders):
    t0 = perp.state().last_funding_time
    open_position(checked, traders[0], to_wad(5000), to_wad("13.333333333333333333"), timestamp=t0 + 600)
    open_position(checked, traders[1], to_wad(5000), to_wad(7))
    open_position(checked, traders[2], to_wad(5000), -to_wad("3.000000000000000001"))
    open_position(checked, traders[3], to_wad(5000), -to_wad("4.7"))
    owners = [t.address for t in traders[:4]]
    sampled = premium(perp.state().traded_price, perp.state().index_price)
    assert sampled > 0  # net long: the venue trades above the index
    fund_before = perp.state().insurance_fund
    block, ev, paid = _settle(perp, checked, traders[5], t0 + HOUR)
    # TWAP over [t0, t0 + 1h]: 0 until the first trade block, then each block's sampled premium
    assert 0 < ev["premiumTwap"] <= sampled
    assert ev["rate"] == funding_rate(ev["premiumTwap"], bps_wad(0.125), bps_wad(5), bps_wad(375))
    expected = funding_payments(_positions(perp, owners), ev["markPrice"], ev["rate"])
    assert [paid[o] for o in owners] == list(expected.payments)
    assert ev["paid"] == expected.paid and ev["received"] == expected.received
    assert sum(paid.values()) == ev["dust"] == perp.state().insurance_fund - fund_before
    assert paid[owners[0]] > 0 and paid[owners[2]] < 0  # longs pay, shorts receive
    # the two shorts receive all the longs pay, in proportion to their sizes (to the wei, floored)
    assert -paid[owners[2]] == ev["paid"] * to_wad("3.000000000000000001") // to_wad("7.700000000000000001")


def test_the_rate_is_clamped_around_the_interest_and_capped(perp):
    band, cap, r = bps_wad(5), bps_wad(375), bps_wad(0.125)
    assert funding_rate(0, r, band, cap) == r  # no premium: the interest
    assert funding_rate(bps_wad(3), r, band, cap) == r  # |r − P| within the band: P + (r − P) = r
    assert funding_rate(bps_wad(20), r, band, cap) == bps_wad(15)  # P + clamp(r − P) = 20 − 5
    assert funding_rate(bps_wad(1000), r, band, cap) == cap
    assert funding_rate(-bps_wad(1000), r, band, cap) == -cap
    harness = _harness(perp)
    for p in (0, bps_wad(3), bps_wad(20), bps_wad(1000), -bps_wad(1000), -bps_wad(7)):
        assert harness.call("fundingRate", p, r, band, cap) == funding_rate(p, r, band, cap)


def _harness(perp):
    from sandbox.chain import deploy
    (h,) = deploy(perp.chain, perp.deployer, [("PerpMathHarness", ())])
    return h


def test_settlement_is_refused_before_the_interval_and_runs_inside_the_first_action_after_it(perp, checked, traders):
    t0 = perp.state().last_funding_time
    open_position(checked, traders[0], to_wad(5000), to_wad(5))
    open_position(checked, traders[1], to_wad(5000), -to_wad(5))
    block = execute(perp.chain, [settle_funding_tx(perp, traders[2])], timestamp=t0 + HOUR - 1, require_success=False)
    assert block.receipts[0].revert_reason == f"FundingNotDue(nextFundingTime={t0 + HOUR})"
    owed = perp.account(traders[0].address).funding_owed  # the view includes funding due
    assert owed == 0
    execute(perp.chain, [], timestamp=t0 + HOUR)
    owed = perp.account(traders[0].address).funding_owed
    assert owed > 0
    block = checked.send([trade_tx(perp, traders[0], to_wad(1))], timestamp=t0 + HOUR + 12)
    assert events(block, "FundingSettled") and perp.state().last_funding_time == t0 + HOUR
    assert {e["account"]: e["amount"] for e in events(block, "FundingPaid")}[traders[0].address] == owed


def test_several_elapsed_intervals_settle_at_once_at_the_rate_times_intervals(perp, checked, traders):
    t0 = perp.state().last_funding_time
    open_position(checked, traders[0], to_wad(5000), to_wad(5))
    open_position(checked, traders[1], to_wad(5000), -to_wad(5))
    _, ev, _ = _settle(perp, checked, traders[2], t0 + 3 * HOUR + 100)
    assert ev["intervals"] == 3 and ev["rate"] == 3 * bps_wad(0.125)
    assert perp.state().last_funding_time == t0 + 3 * HOUR  # the schedule stays on the hour


def test_funding_indices_accumulate_per_side(perp, checked, traders):
    t0 = perp.state().last_funding_time
    open_position(checked, traders[0], to_wad(5000), to_wad(10))
    open_position(checked, traders[1], to_wad(5000), -to_wad(10))
    _, ev, _ = _settle(perp, checked, traders[2], t0 + HOUR)
    s = perp.state()
    assert s.long_funding_index == ev["markPrice"] * ev["rate"] // WAD  # paid per WETH long
    assert s.short_funding_index == -(ev["paid"] * WAD // to_wad(10))  # received per WETH short


def test_no_counterparty_no_funding(perp, checked, traders):
    t0 = perp.state().last_funding_time
    open_position(checked, traders[0], to_wad(5000), to_wad(10))
    _, ev, paid = _settle(perp, checked, traders[2], t0 + HOUR)
    assert ev["rate"] > 0 and ev["paid"] == 0 and paid == {}
