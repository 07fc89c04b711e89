"""When a liquidation leaves negative margin: the insurance fund (fed by liquidation fees and
funding dust) pays first, then auto-deleveraging closes profitable opposite positions in
BitMEX's ranking order at the bankruptcy price, and what neither covers is bad debt. And the
cascade a mark that leans on the venue makes possible."""

from __future__ import annotations

import pytest

from sandbox.perp import PerpDutchAuctionParams, PerpFixedFeeParams, deploy_mechanism
from sandbox.perp.actions import deposit_tx, set_index_price, trade_tx
from sandbox.perp.math import adl_score, bankruptcy_price_wad
from sandbox.units import WAD, to_wad

from conftest import Checked, events, fund, move_venue_to, open_position


def _bankrupt_long_among_shorts(make_perp, traders, arber, insurance_usd):
    """A 10× long and three shorts of different leverage; the index falls 15% and the
    arbitrageur takes the venue there, leaving the long below its bankruptcy price."""
    perp = make_perp(insurance_fund_usd=insurance_usd)
    mech = deploy_mechanism(perp, "fixed-fee")
    checked = Checked(perp, extra=[mech.contract.address])
    open_position(checked, traders[1], to_wad(5000), -to_wad(10))
    open_position(checked, traders[2], to_wad(20_000), -to_wad(10))
    open_position(checked, traders[3], to_wad(1100), -to_wad(5))
    open_position(checked, traders[0], to_wad(2300), to_wad(10))
    set_index_price(perp, to_wad(1700))
    move_venue_to(checked, arber, to_wad(1700))
    return perp, mech, checked


def test_liquidation_fees_go_into_the_insurance_fund(make_perp, traders, keepers, arber):
    perp, mech, checked = _bankrupt_long_among_shorts(make_perp, traders, arber, 1_000_000)
    set_index_price(perp, to_wad(1850))  # the long is liquidatable but solvent at 1,850
    move_venue_to(checked, arber, to_wad(1850))
    fund0 = perp.state().insurance_fund
    block = checked.send([mech.tx(keepers[0], "liquidate", traders[0].address, to_wad(10))])
    (ev,) = events(block, "Liquidated")
    assert ev["insuranceFee"] == ev["quote"] * 100 // 10_000 > 0
    assert perp.state().insurance_fund - fund0 == ev["insuranceFee"]
    assert events(block, "InsuranceFeeCharged") == [{"account": traders[0].address, "amount": ev["insuranceFee"]}]


def test_the_insurance_fund_covers_a_shortfall_first(make_perp, traders, keepers, arber):
    perp, mech, checked = _bankrupt_long_among_shorts(make_perp, traders, arber, 1_000_000)
    fund0 = perp.state().insurance_fund
    block = checked.send([mech.tx(keepers[0], "liquidate", traders[0].address, to_wad(10))])
    (drawn,) = events(block, "InsuranceDrawn")
    (close,) = events(block, "PositionChanged")
    margin_after_close = to_wad(2300) + close["realisedPnl"]  # no fee can be paid from a negative margin
    assert drawn == {"account": traders[0].address, "amount": -margin_after_close}
    assert fund0 - perp.state().insurance_fund == -margin_after_close
    assert perp.raw(traders[0].address)[0] == 0
    assert not events(block, "AutoDeleveraged") and perp.state().bad_debt == 0


def test_adl_closes_profitable_opposite_positions_by_pnl_times_leverage_at_the_bankruptcy_price(
        make_perp, traders, keepers, arber):
    perp, mech, checked = _bankrupt_long_among_shorts(make_perp, traders, arber, 0)
    mark = perp.mark_price()
    shorts = [t.address for t in traders[1:4]] + [arber.address]
    before = {o: perp.raw(o) for o in shorts}
    scores = {o: adl_score(r[1], r[2], r[0], mark) for o, r in before.items()}
    assert {o: perp.market.call("adlScore", o) for o in shorts} == scores
    ranking = sorted(shorts, key=lambda o: -scores[o])
    assert ranking[0] == traders[3].address  # the most levered short goes first
    margin, size, on, _ = perp.raw(traders[0].address)
    bp = bankruptcy_price_wad(size, on, margin)
    block = checked.send([mech.tx(keepers[0], "liquidate", traders[0].address, to_wad(10))])
    adl = events(block, "AutoDeleveraged")
    assert [e["counterparty"] for e in adl] == ranking[:len(adl)] and len(adl) >= 2
    assert all(e["bankrupt"] == traders[0].address and e["bankruptcyPrice"] == bp for e in adl)
    (close,) = [e for e in events(block, "PositionChanged") if e["account"] == traders[0].address]
    deficit = -(margin + close["realisedPnl"])
    assert sum(e["amount"] for e in adl) == deficit and perp.raw(traders[0].address)[0] == 0
    assert perp.state().bad_debt == 0
    # the first counterparty was closed whole, at the bankruptcy price: margin += ON − |q| × bp
    first = adl[0]["counterparty"]
    m0, s0, on0, _ = before[first]
    assert adl[0]["size"] == -s0 and perp.raw(first)[1] == 0
    assert perp.raw(first)[0] == m0 + on0 - (-s0) * bp // WAD


def test_bad_debt_is_what_neither_the_fund_nor_adl_covers(make_perp, traders, keepers):
    """A long with no profitable opposite position the venue can close at the bankruptcy price:
    a short exists but the venue (nobody arbitraged it down) buys back above that price."""
    perp = make_perp(insurance_fund_usd=100)
    mech = deploy_mechanism(perp, "dutch-auction", PerpDutchAuctionParams(dust_usd=1000))
    checked = Checked(perp, extra=[mech.contract.address])
    open_position(checked, traders[1], to_wad(5000), -to_wad(1))
    open_position(checked, traders[0], to_wad(2300), to_wad(10))
    open_position(checked, traders[2], to_wad(100_000), 0)  # the taker
    set_index_price(perp, to_wad(1700))  # the long is bankrupt at the mark; the venue still says ~2,000
    checked.send([mech.tx(keepers[0], "bark", traders[0].address, keepers[0].address)])
    t0 = perp.chain.timestamp
    block = checked.send([mech.tx(traders[2], "take", 1, to_wad(10), 0)], timestamp=t0 + 90 * 8)
    (take,) = events(block, "Take")
    assert take["price"] < to_wad(1700)
    (drawn,) = events(block, "InsuranceDrawn")
    assert drawn["amount"] == to_wad(100) and perp.state().insurance_fund == 0
    (adl,) = events(block, "AutoDeleveraged") or [None]  # the short's gap is zero: nothing closed
    assert adl is None
    (bad,) = events(block, "BadDebtRecorded")
    assert bad["account"] == traders[0].address and bad["amount"] > 0
    assert perp.state().bad_debt == bad["amount"] and perp.raw(traders[0].address)[0] == 0
    assert perp.raw(traders[1].address)[1] == -to_wad(1)  # the short kept its position


@pytest.mark.parametrize("mark_weight_bps", [10_000, 0], ids=["mark-leans-on-venue", "mark-is-index"])
def test_a_liquidation_on_a_thin_venue_cascades_through_the_mark(make_perp, traders, keepers, arber, mark_weight_bps):
    """Two longs with entries ~1,935; the index and venue fall to 1,850: only the thinner one is
    liquidatable. Its 10 WETH sale on a 300-WETH venue drops the traded price ~6%: with the mark
    on the venue the second long falls below maintenance too; with mark = index it does not."""
    perp = make_perp(mark_weight_bps=mark_weight_bps, max_mark_premium_bps=2000, venue_depth_weth=300)
    mech = deploy_mechanism(perp, "fixed-fee", PerpFixedFeeParams(close_factor_bps=10_000))
    checked = Checked(perp, extra=[mech.contract.address])
    fund(perp, [arber], to_wad(10_000_000))
    checked.send([deposit_tx(perp, arber, to_wad(10_000_000))])
    a, b = traders[0], traders[1]
    checked.send([trade_tx(perp, arber, -to_wad(10))])
    open_position(checked, a, to_wad(1400), to_wad(10))
    checked.send([trade_tx(perp, arber, -to_wad(10))])
    open_position(checked, b, to_wad(2400), to_wad(10))
    set_index_price(perp, to_wad(1850))
    move_venue_to(checked, arber, to_wad(1850))
    assert perp.account(a.address).liquidatable and not perp.account(b.address).liquidatable
    checked.send([mech.tx(keepers[0], "liquidate", a.address, to_wad(10))])
    s = perp.state()
    assert s.traded_price < to_wad(1750)
    assert perp.account(b.address).liquidatable == (mark_weight_bps > 0)
    assert s.mark_price == (s.traded_price if mark_weight_bps else to_wad(1850))
