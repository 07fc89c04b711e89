"""Each perp liquidation mechanism's rules, with the accounting identity and USD conservation
checked around every block. The standard victim: 10 WETH long, $2,300 margin, entry ~$2,001,
liquidatable below ~$1,868; at $1,850 its equity (~$790) is under MM ($925) but positive."""

from __future__ import annotations

import pytest

from sandbox.perp import (
    PerpDutchAuctionParams,
    PerpSoftParams,
    deploy_mechanism,
)
from sandbox.perp.actions import deposit_tx, set_index_price, trade_tx
from sandbox.perp.math import dutch_factor, dutch_price, fees, soft_slice
from sandbox.perp.params import bps_wad
from sandbox.units import BPS, WAD, to_wad

from conftest import Checked, events, fund, move_venue_to, open_position


def _world(make_perp, traders, name, params=None, **perp_overrides):
    perp = make_perp(**perp_overrides)
    mech = deploy_mechanism(perp, name, params)
    checked = Checked(perp, extra=[mech.contract.address])
    open_position(checked, traders[1], to_wad(50_000), -to_wad(10))  # the other side
    open_position(checked, traders[0], to_wad(2300), to_wad(10))
    return perp, mech, checked


def _revert(block):
    return block.receipts[0].revert_reason


# ------------------------------------------------------------------------ fixed fee

@pytest.fixture
def fixed(make_perp, traders):
    return _world(make_perp, traders, "fixed-fee")


def test_fixed_fee_refuses_healthy_accounts_and_self_liquidation(fixed, traders, keepers):
    perp, mech, checked = fixed
    block = checked.send([mech.tx(keepers[0], "liquidate", traders[0].address, to_wad(1))], require_success=False)
    assert _revert(block) == f"HealthyAccount(account={traders[0].address.lower()})"
    set_index_price(perp, to_wad(1850))
    block = checked.send([mech.tx(traders[0], "liquidate", traders[0].address, to_wad(1))], require_success=False)
    assert _revert(block) == "SelfLiquidation()"


def test_fixed_fee_closes_a_quarter_and_pays_the_keeper_its_share_of_notional(fixed, traders, keepers):
    perp, mech, checked = fixed
    set_index_price(perp, to_wad(1850))
    v = perp.account(traders[0].address)
    assert v.liquidatable and v.health_wad > to_wad("0.4")
    assert mech.contract.call("maxClose", traders[0].address) == to_wad("2.5")
    k0 = perp.usd.call("balanceOf", keepers[0].address)
    block = checked.send([mech.tx(keepers[0], "liquidate", traders[0].address, to_wad(10))])
    (ev,) = events(block, "Liquidated")
    assert ev["account"] == traders[0].address and ev["size"] == to_wad("2.5")
    margin_after_close = to_wad(2300) + ev["realisedPnl"]
    assert (ev["keeperFee"], ev["insuranceFee"]) == fees(ev["quote"], margin_after_close, 125, 100)
    assert ev["keeperFee"] == ev["quote"] * 125 // BPS  # 1.25% of the closed notional
    assert perp.usd.call("balanceOf", keepers[0].address) - k0 == ev["keeperFee"]
    assert perp.raw(traders[0].address)[1] == to_wad("7.5")


def test_fixed_fee_closes_everything_far_under_maintenance(fixed, traders, keepers):
    perp, mech, checked = fixed
    set_index_price(perp, to_wad(1790))  # equity ~ $190 of $895 MM: health 0.21 < 0.4
    block = checked.send([mech.tx(keepers[0], "liquidate", traders[0].address, to_wad(10))])
    assert events(block, "Liquidated")[0]["size"] == to_wad(10) and perp.raw(traders[0].address)[1] == 0


def test_fixed_fee_never_leaves_a_position_below_dust(make_perp, traders, keepers):
    perp = make_perp()
    mech = deploy_mechanism(perp, "fixed-fee")
    checked = Checked(perp, extra=[mech.contract.address])
    open_position(checked, traders[1], to_wad(50_000), -to_wad(1))
    open_position(checked, traders[0], to_wad(161), to_wad("0.7"))  # $1,400 < $2,000: full close allowed
    set_index_price(perp, to_wad(1850))
    block = checked.send([mech.tx(keepers[0], "liquidate", traders[0].address, to_wad("0.3"))], require_success=False)
    assert _revert(block).startswith("DustRemaining(")  # 0.4 WETH × $1,850 = $740 < $1,000
    checked.send([mech.tx(keepers[0], "liquidate", traders[0].address, to_wad("0.7"))])
    assert perp.raw(traders[0].address)[1] == 0


# ------------------------------------------------------------------------ dutch auction

@pytest.fixture
def dutch(make_perp, traders):
    perp, mech, checked = _world(make_perp, traders, "dutch-auction")
    fund(perp, [traders[2]], to_wad(100_000))
    checked.send([deposit_tx(perp, traders[2], to_wad(100_000))])
    return perp, mech, checked


def test_bark_locks_the_account_and_pays_tip_plus_chip(dutch, traders, keepers):
    perp, mech, checked = dutch
    set_index_price(perp, to_wad(1850))
    k0 = perp.usd.call("balanceOf", keepers[1].address)
    block = checked.send([mech.tx(keepers[0], "bark", traders[0].address, keepers[1].address)])
    (bark,) = events(block, "Bark")
    (kick,) = events(block, "Kick")
    notional = to_wad(10) * to_wad(1850) // WAD
    assert bark["account"] == traders[0].address and bark["notional"] == notional
    assert kick["coin"] == to_wad(50) + notional * bps_wad(10) // WAD  # tip $50 + 0.1%
    assert perp.usd.call("balanceOf", keepers[1].address) - k0 == kick["coin"]
    assert kick["top"] == to_wad(1850) * (WAD + bps_wad(200)) // WAD  # mark × (1 + 2%) for a long
    assert perp.raw(traders[0].address)[3]  # locked
    block = checked.send([trade_tx(perp, traders[0], -to_wad(1))], require_success=False)
    assert _revert(block) == f"AccountLocked(account={traders[0].address.lower()})"


def test_bark_refuses_healthy_self_and_dust(dutch, traders, keepers, make_perp):
    perp, mech, checked = dutch
    block = checked.send([mech.tx(keepers[0], "bark", traders[0].address, keepers[0].address)], require_success=False)
    assert _revert(block) == f"HealthyAccount(account={traders[0].address.lower()})"
    set_index_price(perp, to_wad(1850))
    block = checked.send([mech.tx(traders[0], "bark", traders[0].address, keepers[0].address)], require_success=False)
    assert _revert(block) == "SelfLiquidation()"
    set_index_price(perp, to_wad(2000))
    open_position(checked, traders[3], to_wad(450), to_wad(2))
    set_index_price(perp, to_wad(1800))  # liquidatable, but $3,600 is below the $5,000 dust
    block = checked.send([mech.tx(keepers[0], "bark", traders[3].address, keepers[0].address)], require_success=False)
    assert _revert(block).startswith("Dust(")


def test_auction_price_after_k_steps_follows_the_stairstep_and_take_transfers_at_it(dutch, traders, keepers):
    perp, mech, checked = dutch
    p = mech.params
    set_index_price(perp, to_wad(1850))
    checked.send([mech.tx(keepers[0], "bark", traders[0].address, keepers[0].address)])
    tic = perp.chain.timestamp
    k = 5
    factor = dutch_factor(k * p.step_seconds, bps_wad(p.buf_bps), 0, p.cut_ray, p.step_seconds, p.tau_seconds)
    price = dutch_price(True, to_wad(1850), factor)
    assert mech.contract.call("getStatus", 1, timestamp=tic + k * p.step_seconds) == (False, price)
    assert abs(price - to_wad(1850) * 102 * 99**5 // 100**6) <= 2  # mark × 1.02 × 0.99^5
    margin0, _, on0, _ = perp.raw(traders[0].address)
    block = checked.send([mech.tx(traders[2], "take", 1, to_wad(4), price)], timestamp=tic + k * p.step_seconds)
    (take,) = events(block, "Take")
    assert (take["slice"], take["price"], take["lot"]) == (to_wad(4), price, to_wad(6))
    assert perp.raw(traders[2].address)[1:3] == (to_wad(4), to_wad(4) * price // WAD)  # taker's entry = price
    (pc,) = [e for e in events(block, "PositionChanged") if e["account"] == traders[0].address]
    assert pc["realisedPnl"] == to_wad(4) * price // WAD - on0 * 4 // 10  # realised at the auction price
    assert take["penalty"] == (to_wad(4) * price // WAD) * 100 // BPS  # 1% to the insurance fund


def test_take_needs_the_takers_margin_and_a_long_limit_above_the_price(dutch, traders, keepers):
    perp, mech, checked = dutch
    set_index_price(perp, to_wad(1850))
    checked.send([mech.tx(keepers[0], "bark", traders[0].address, keepers[0].address)])
    block = checked.send([mech.tx(keepers[0], "take", 1, to_wad(10), 0)], require_success=False)
    assert _revert(block).startswith("InsufficientMargin(")  # the keeper has no margin
    block = checked.send([mech.tx(traders[2], "take", 1, to_wad(10), to_wad(1800))], require_success=False)
    assert _revert(block).startswith("TooExpensive(")


def test_partial_take_leaves_at_least_dust_and_the_last_take_unlocks(dutch, traders, keepers):
    perp, mech, checked = dutch
    set_index_price(perp, to_wad(1850))
    checked.send([mech.tx(keepers[0], "bark", traders[0].address, keepers[0].address)])
    tic = perp.chain.timestamp
    block = checked.send([mech.tx(traders[2], "take", 1, to_wad(9), 0)], timestamp=tic + 270)
    (take,) = events(block, "Take")
    keep = -(-to_wad(5000) * WAD // take["price"])  # ceil(dust / price)
    assert take["lot"] == keep and take["slice"] == to_wad(10) - keep
    block = checked.send([mech.tx(traders[2], "take", 1, to_wad(10), 0)], timestamp=tic + 280)
    (settle,) = events(block, "Settle")
    assert settle["account"] == traders[0].address and not perp.raw(traders[0].address)[3]
    assert perp.raw(traders[0].address)[1] == 0 and perp.raw(traders[2].address)[1] == to_wad(10)


def test_redo_when_too_old_restarts_from_the_mark_and_pays_the_keeper(dutch, traders, keepers):
    perp, mech, checked = dutch
    set_index_price(perp, to_wad(1850))
    checked.send([mech.tx(keepers[0], "bark", traders[0].address, keepers[0].address)])
    tic = perp.chain.timestamp
    later = tic + mech.params.tail_seconds + 1
    block = checked.send([mech.tx(keepers[1], "redo", 1, keepers[1].address)], timestamp=tic + 60,
                         require_success=False)
    assert _revert(block) == "CannotRedo()"
    block = checked.send([mech.tx(traders[2], "take", 1, to_wad(1), 0)], timestamp=later, require_success=False)
    assert _revert(block) == "NeedsRedo()"
    set_index_price(perp, to_wad(1800))
    block = checked.send([mech.tx(keepers[1], "redo", 1, keepers[1].address)])
    (redo,) = events(block, "Redo")
    assert redo["top"] == to_wad(1800) * 102 // 100 and redo["account"] == traders[0].address
    assert redo["coin"] == to_wad(50) + to_wad(18_000) * bps_wad(10) // WAD


def test_redo_when_too_cheap(make_perp, traders, keepers):
    perp, mech, checked = _world(make_perp, traders, "dutch-auction", PerpDutchAuctionParams(cusp_bps=9700))
    set_index_price(perp, to_wad(1850))
    checked.send([mech.tx(keepers[0], "bark", traders[0].address, keepers[0].address)])
    tic = perp.chain.timestamp
    # 0.99^3 = 0.9703 >= 0.97, 0.99^4 = 0.9606 < 0.97
    assert mech.contract.call("getStatus", 1, timestamp=tic + 3 * 90)[0] is False
    assert mech.contract.call("getStatus", 1, timestamp=tic + 4 * 90)[0] is True


# ------------------------------------------------------------------------ soft

@pytest.fixture
def soft(make_perp, traders):
    return _world(make_perp, traders, "soft")


def test_trim_closes_the_least_slice_that_restores_mm_with_buffer(soft, traders, keepers):
    perp, mech, checked = soft
    set_index_price(perp, to_wad(1855))
    v = perp.account(traders[0].address)
    p = mech.params
    expected = soft_slice(v.equity, v.size, perp.mark_price(), perp.state().mmf, p.buffer_bps, p.max_slice_bps,
                          p.keeper_fee_bps + p.insurance_fee_bps, to_wad(p.dust_usd))
    assert mech.contract.call("sliceFor", v.equity, v.size, perp.mark_price(), perp.state().mmf) == expected
    assert expected < to_wad("2.5")  # within the 25% cap
    block = checked.send([mech.tx(keepers[0], "trim", traders[0].address)])
    (ev,) = events(block, "Trimmed")
    assert ev["account"] == traders[0].address and ev["size"] == expected
    assert ev["keeperFee"] == ev["quote"] * 50 // BPS
    after = perp.account(traders[0].address)
    assert not after.liquidatable and after.size == to_wad(10) - expected  # trimmed, not closed


def test_trim_takes_at_most_a_quarter_per_block(soft, traders, keepers, arber):
    perp, mech, checked = soft
    set_index_price(perp, to_wad(1750))  # equity < 0: the cap binds
    move_venue_to(checked, arber, to_wad(1750))
    block = checked.send([mech.tx(keepers[0], "trim", traders[0].address),
                          mech.tx(keepers[1], "trim", traders[0].address)], require_success=False)
    assert events(block, "Trimmed")[0]["size"] == to_wad("2.5")
    assert block.receipts[1].revert_reason.startswith("AlreadyTrimmed(")
    checked.send([mech.tx(keepers[1], "trim", traders[0].address)])  # next block: another slice
    assert perp.raw(traders[0].address)[1] == to_wad(10) - to_wad("2.5") - to_wad("1.875")


def test_trim_refuses_healthy_accounts_and_self(soft, traders, keepers):
    perp, mech, checked = soft
    block = checked.send([mech.tx(keepers[0], "trim", traders[0].address)], require_success=False)
    assert _revert(block) == f"HealthyAccount(account={traders[0].address.lower()})"
    set_index_price(perp, to_wad(1850))
    block = checked.send([mech.tx(traders[0], "trim", traders[0].address)], require_success=False)
    assert _revert(block) == "SelfLiquidation()"


def test_soft_params_validate():
    with pytest.raises(ValueError, match="max_slice_bps"):
        PerpSoftParams(max_slice_bps=0)


# ------------------------------------------------------------------------ private

@pytest.fixture
def private(make_perp, traders, chain):
    perp, mech, checked = _world(make_perp, traders, "private")
    return perp, mech, checked


def test_the_auction_winner_liquidates_first_and_pays_its_bid(private, traders, keepers, chain):
    perp, mech, checked = private
    fund(perp, keepers, to_wad(10_000), approve=[mech.contract.address])
    set_index_price(perp, to_wad(1850))
    (round_id, start, end, winner, _, _) = mech.contract.call("auctionState")
    assert winner == "0x" + "0" * 40 and end == start + 12
    block = checked.send([mech.tx(keepers[1], "liquidate", traders[0].address, to_wad(10))], require_success=False)
    assert _revert(block) == f"ExclusiveWindow(roundId={round_id}, opensAt={end})"
    auctioneer = mech.auctioneer
    treasury0 = perp.usd.call("balanceOf", perp.treasury.address)
    operator0 = perp.usd.call("balanceOf", mech.operator.address)
    block = checked.send([mech.tx(auctioneer, "grant", round_id, keepers[0].address, to_wad(100)),
                          mech.tx(keepers[1], "liquidateWithBid", traders[0].address, to_wad(10)),
                          mech.tx(keepers[0], "liquidateWithBid", traders[0].address, to_wad(10))],
                         require_success=False)
    assert block.receipts[1].revert_reason == f"NotWinner(roundId={round_id})"
    assert block.receipts[2].succeeded and mech.contract.call("auctionState")[5]  # paid, once per round
    (paid,) = events(block, "BidPaid")
    assert (paid["protocolAmount"], paid["operatorAmount"]) == (to_wad(80), to_wad(20))
    assert perp.usd.call("balanceOf", perp.treasury.address) - treasury0 == to_wad(80)
    assert perp.usd.call("balanceOf", mech.operator.address) - operator0 == to_wad(20)
    assert events(block, "Liquidated")[0]["keeper"] == keepers[0].address


def test_after_the_window_anyone_liquidates_at_fixed_fee_terms(private, traders, keepers):
    perp, mech, checked = private
    set_index_price(perp, to_wad(1850))
    end = mech.contract.call("auctionState")[2]
    block = checked.send([mech.tx(keepers[1], "liquidate", traders[0].address, to_wad(10))], timestamp=end)
    assert events(block, "Liquidated")[0]["keeper"] == keepers[1].address
    block = checked.send([mech.tx(keepers[1], "liquidateWithBid", traders[0].address, to_wad(1))],
                         require_success=False)
    assert _revert(block).startswith("WindowClosed(")
