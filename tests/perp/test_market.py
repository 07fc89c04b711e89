"""The perpetual market's own rules: margin, the venue, the mark, liquidation and bankruptcy
prices, the primitives' access control. Defaults: IMF 10%, MMF 5%, index $2,000, mark = index."""

from __future__ import annotations

from fractions import Fraction

import pytest

from sandbox.chain import anchor, execute
from sandbox.perp import PerpParams, deploy_mechanism
from sandbox.perp.actions import deposit_tx, set_index_price, trade_tx, withdraw_tx
from sandbox.perp.math import (
    VenueState,
    bankruptcy_price_wad,
    is_liquidatable,
    isolated_liquidation_price,
    liquidation_price_wad,
    requirement,
    unrealised_pnl,
)
from sandbox.units import WAD, to_wad

from conftest import Checked, events, fund, open_position


def test_params_are_validated_with_the_field_named():
    with pytest.raises(ValueError, match="maintenance_margin_bps"):
        PerpParams(maintenance_margin_bps=1000, initial_margin_bps=1000)
    with pytest.raises(ValueError, match="mark_weight_bps"):
        PerpParams(mark_weight_bps=10_001)
    with pytest.raises(ValueError, match="vol_mmf_floor_bps"):
        PerpParams(vol_margin=True, vol_mmf_floor_bps=3000, vol_mmf_cap_bps=2000)


def test_every_fill_trades_the_venue_at_its_constant_product_quote(perp, checked, traders):
    venue = VenueState(perp.venue.call("baseReserve"), perp.venue.call("quoteReserve"), perp.venue.call("k"))
    block = open_position(checked, traders[0], to_wad(5000), to_wad(7))
    (ev,) = events(block, "PositionChanged")
    venue, cost = venue.after(to_wad(7))
    assert ev["quote"] == cost and ev["size"] == to_wad(7) and ev["openNotional"] == cost
    assert perp.venue.call("quoteReserve") == venue.quote and perp.state().traded_price == venue.price
    assert venue.price > to_wad(2000)  # buying moved the traded price above the index
    block = checked.send([trade_tx(perp, traders[0], -to_wad(3))])
    (ev,) = events(block, "PositionChanged")
    venue, proceeds = venue.after(-to_wad(3))
    basis = cost * 3 // 7
    assert ev["quote"] == proceeds and ev["realisedPnl"] == proceeds - basis


def test_opening_needs_initial_margin_after_the_trade(perp, checked, traders):
    t = traders[0]
    fund(perp, [t], to_wad(1000))
    checked.send([deposit_tx(perp, t, to_wad(1000))])
    block = checked.send([trade_tx(perp, t, to_wad("5.1"))], require_success=False)
    assert block.receipts[0].revert_reason.startswith("InsufficientMargin(")
    checked.send([trade_tx(perp, t, to_wad("4.9"))])
    v = perp.account(t.address)
    assert v.equity >= v.initial_margin


def test_reducing_is_allowed_below_initial_margin_but_increasing_is_not(perp, checked, traders):
    t = traders[0]
    open_position(checked, t, to_wad(1000), to_wad("4.9"))
    set_index_price(perp, to_wad(1900))  # equity ~ 1000 - 490 - slippage: between MM and IM
    v = perp.account(t.address)
    assert v.maintenance_margin <= v.equity < v.initial_margin
    block = checked.send([trade_tx(perp, t, to_wad("0.1"))], require_success=False)
    assert block.receipts[0].revert_reason.startswith("InsufficientMargin(")
    checked.send([trade_tx(perp, t, -to_wad(1))])
    assert perp.raw(t.address)[1] == to_wad("3.9")


def test_withdrawal_keeps_initial_margin_and_flat_accounts_withdraw_everything(perp, checked, traders):
    t = traders[0]
    open_position(checked, t, to_wad(3000), to_wad(10))
    v = perp.account(t.address)
    free = v.equity - v.initial_margin
    block = checked.send([withdraw_tx(perp, t, free + 1)], require_success=False)
    assert block.receipts[0].revert_reason.startswith("InsufficientMargin(")
    checked.send([withdraw_tx(perp, t, free)])
    checked.send([trade_tx(perp, t, -to_wad(10))])
    margin = perp.raw(t.address)[0]
    before = perp.usd.call("balanceOf", t.address)
    checked.send([withdraw_tx(perp, t, margin)])
    assert perp.usd.call("balanceOf", t.address) - before == margin and perp.raw(t.address)[0] == 0


def test_price_limit_bounds_the_average_fill(perp, checked, traders):
    t = traders[0]
    fund(perp, [t], to_wad(10_000))
    checked.send([deposit_tx(perp, t, to_wad(10_000))])
    cost = perp.venue.call("quote", to_wad(10))
    avg = cost * WAD // to_wad(10)
    block = checked.send([trade_tx(perp, t, to_wad(10), avg - 1)], require_success=False)
    assert block.receipts[0].revert_reason.startswith("PriceLimit(")
    checked.send([trade_tx(perp, t, to_wad(10), avg + 1)])


def test_snapshot_reports_entry_pnl_equity_and_margins_as_the_mirror_computes(perp, checked, traders):
    open_position(checked, traders[0], to_wad(4000), to_wad(12))
    open_position(checked, traders[1], to_wad(4000), -to_wad(9))
    set_index_price(perp, to_wad("1987.654321"))
    mark = perp.mark_price()
    for t in traders[:2]:
        margin, size, on, _ = perp.raw(t.address)
        v = perp.account(t.address)
        assert v.entry_price == on * WAD // abs(size)
        assert v.unrealised_pnl == unrealised_pnl(size, on, mark)
        assert v.equity == margin + v.unrealised_pnl
        assert v.maintenance_margin == requirement(size, mark, perp.params.mmf_wad)
        assert v.initial_margin == requirement(size, mark, perp.params.imf_wad)
        assert v.health_wad == v.equity * WAD // v.maintenance_margin
    s = perp.state()
    assert (s.long_open_interest, s.short_open_interest) == (to_wad(12), to_wad(9))


def _at_max_leverage(perp, checked, trader, size):
    """Open ``size``, move the index to the entry so mark = entry, then withdraw down to exactly
    initial margin: margin = IM − uPnL (uPnL is a rounding wei or two)."""
    open_position(checked, trader, to_wad(100_000), size)
    _, _, on, _ = perp.raw(trader.address)
    entry = on * WAD // abs(size)
    set_index_price(perp, entry)
    v = perp.account(trader.address)
    checked.send([withdraw_tx(perp, trader, v.equity - v.initial_margin)])
    assert perp.account(trader.address).equity == perp.account(trader.address).initial_margin
    return entry


@pytest.mark.parametrize("long", [True, False], ids=["long", "short"])
def test_liquidation_price_at_max_leverage_is_entry_times_1_minus_imf_over_1_minus_mmf(perp, checked, traders, long):
    size = to_wad(10) if long else -to_wad(10)
    entry = _at_max_leverage(perp, checked, traders[0], size)
    margin, _, on, _ = perp.raw(traders[0].address)
    p = liquidation_price_wad(size, on, margin, perp.params.mmf_wad)
    formula = isolated_liquidation_price(Fraction(entry, WAD), Fraction(1, 10), Fraction(1, 20), long)
    assert abs(Fraction(p, WAD) - formula) < Fraction(1, 10**9)  # E(1 − 10%)/(1 − 5%): 0.947 E for a long
    step = 1 if long else -1  # the healthy side of the boundary
    with anchor(perp.chain):
        set_index_price(perp, p)
        assert perp.market.call("isLiquidatable", traders[0].address)
        set_index_price(perp, p + step)
        assert not perp.market.call("isLiquidatable", traders[0].address)
    assert is_liquidatable(margin, size, on, p, perp.params.mmf_wad)
    assert not is_liquidatable(margin, size, on, p + step, perp.params.mmf_wad)


def test_bankruptcy_price_is_where_equity_is_zero(perp, checked, traders):
    open_position(checked, traders[0], to_wad(2100), to_wad(10))
    margin, size, on, _ = perp.raw(traders[0].address)
    bp = bankruptcy_price_wad(size, on, margin)
    assert unrealised_pnl(size, on, bp) + margin <= 0 < unrealised_pnl(size, on, bp + 1) + margin
    assert bp == (on - margin) * WAD // size  # long: E − m/q


def test_primitives_are_for_the_installed_mechanism_only(perp, checked, traders):
    open_position(checked, traders[0], to_wad(2000), to_wad(1))
    t = traders[0].address
    for fn, args in [("closePosition", (t, 1)), ("transferPosition", (t, traders[1].address, 1, 1)),
                     ("payFromMargin", (t, t, 1)), ("chargeInsuranceFee", (t, 1)), ("setLocked", (t, True)),
                     ("settleShortfall", (t,))]:
        block = execute(perp.chain, [perp.market.tx(traders[1], fn, *args)], require_success=False)
        assert block.receipts[0].revert_reason == "NotMechanism()", fn
    deploy_mechanism(perp, "fixed-fee")
    block = execute(perp.chain, [perp.market.tx(perp.deployer, "installMechanism", t)], require_success=False)
    assert block.receipts[0].revert_reason == "MechanismAlreadyInstalled()"


def test_open_accounts_are_bounded_so_funding_and_adl_loops_are_bounded(make_perp, traders):
    perp = make_perp(max_open_accounts=2)
    checked = Checked(perp)
    open_position(checked, traders[0], to_wad(1000), to_wad(1))
    open_position(checked, traders[1], to_wad(1000), -to_wad(1))
    fund(perp, [traders[2]], to_wad(1000))
    block = checked.send([deposit_tx(perp, traders[2], to_wad(1000)), trade_tx(perp, traders[2], to_wad(1))],
                         require_success=False)
    assert block.receipts[1].revert_reason == "TooManyAccounts()"
    checked.send([trade_tx(perp, traders[0], -to_wad(1))])  # a closed position frees its slot
    checked.send([trade_tx(perp, traders[2], to_wad(1))])
    assert perp.state().open_accounts == 2
