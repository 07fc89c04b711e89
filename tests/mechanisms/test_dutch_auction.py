"""Dutch auction (MakerDAO Liquidations 2.0: dog.sol / clip.sol / abaci.sol): each test is named
after the rule it checks.

Reference numbers (ETH-A): chop 1.13, buf 1.20, tail 8,400 s (140 min), cusp 0.40, tip 300,
chip 0.1%, stairstep-exponential 0.99 every 90 s; the price reaches 1.0 × oracle after ~19 steps
(~28.5 min) and the cusp after ~92 steps (~138 min). Market: price $2,000, liquidation threshold
85%, max LTV 80%. Dust here is $5,000, so chost = 5,000 × 1.13 = 5,650.
"""

from __future__ import annotations

import math

import pytest
from eth_abi import encode as abi_encode

from sandbox.chain import deploy, execute
from sandbox.market.actions import fund_requests, open_positions, set_price
from sandbox.mechanisms import get_mechanism
from sandbox.mechanisms.dutch_auction import (
    DutchAuctionMechanism,
    DutchAuctionParams,
    exponential_price,
    linear_price,
    quote_take,
    rpow,
    stairstep_price,
)
from sandbox.testing.accounting import Checked, liquidation_flows
from sandbox.units import RAY, WAD, to_wad

KEEPER_USD = to_wad(1_000_000)
COLLATERAL = to_wad(10)
DEBT = to_wad(16_000)  # 80% LTV at $2,000
CRASH_PRICE = to_wad(1_800)  # HF = 10 × 1800 × 0.85 / 16000 = 0.956
TIP = to_wad(300)
DUST = 5_000.0  # these tests run with 5,000 of dust so that chost = 5,650 (the default is 2,500)
CHOST = to_wad(5_650)


@pytest.fixture
def mech(market):
    return DutchAuctionMechanism.deploy(market, DutchAuctionParams(dust_usd=DUST))


@pytest.fixture
def funded(market, mech, keepers):
    """Keepers 0-2 hold USD; keeper-3 holds none (for the flash take). All approve the contract."""
    reqs = []
    for i, k in enumerate(keepers):
        reqs += fund_requests(market, k, usd_wei=KEEPER_USD if i < 3 else 0, approve=[mech.spender])
    execute(market.chain, reqs)
    return keepers


@pytest.fixture
def checked(market, mech, borrowers, keepers, funded):
    return Checked(market, mech, borrowers, keepers)


def open_and_crash(market, borrower, collateral=COLLATERAL, debt=DEBT, price=CRASH_PRICE):
    open_positions(market, [(borrower, collateral, debt)])
    set_price(market, price)
    assert market.lending.call("isLiquidatable", borrower.address)


def bark(checked, mech, owner, keeper):
    block = checked.send([mech.contract.tx(keeper, "bark", owner.address, keeper.address, gas=500_000)])
    return block, block.receipts[0].events("Kick")[0].args


def take_req(mech, keeper, auction_id, amt, max_price, who=None, data=b""):
    return mech.contract.tx(keeper, "take", auction_id, amt, max_price, (who or keeper.address), data,
                            gas=450_000)


def redo_req(mech, keeper, auction_id):
    return mech.contract.tx(keeper, "redo", auction_id, keeper.address, gas=150_000)


def status(mech, auction_id):
    needs_redo, price, lot, tab = mech.contract.call("getStatus", auction_id)
    return {"needs_redo": needs_redo, "price": price, "lot": lot, "tab": tab}


def position(market, owner):
    col, debt, hf, locked = market.lending.call("positionOf", owner.address)
    return {"collateral": col, "debt": debt, "hf": hf, "locked": locked}


def reverted(block, name):
    r = block.receipts[0]
    assert not r.succeeded, f"expected {name}, but the transaction succeeded"
    assert name in (r.revert_reason or ""), r.revert_reason
    return True


# ------------------------------------------------------------------ price curves

@pytest.mark.parametrize("k", [0, 1, 2, 5, 10, 19, 50, 92, 150])
def test_stairstep_price_after_k_steps_is_top_times_0_99_pow_k(mech, k):
    top = to_wad(2_160)
    cut = 99 * RAY // 100
    expected = top * 0.99**k
    for elapsed in (k * 90, k * 90 + 89):  # constant within a step
        mirror = stairstep_price(top, elapsed, cut, 90)
        assert mirror == pytest.approx(expected, rel=1e-12)
        assert mech.contract.call("priceAt", top, elapsed) == mirror
    assert stairstep_price(top, k * 90 + 90, cut, 90) < stairstep_price(top, k * 90, cut, 90)


def test_rpow_is_exponentiation_by_squaring_with_half_up_rounding():
    assert rpow(RAY, 1000) == RAY
    assert rpow(0, 5) == 0 and rpow(0, 0) == RAY
    assert rpow(2 * RAY, 10) == 1024 * RAY
    assert rpow(99 * RAY // 100, 92) == pytest.approx(0.99**92 * RAY, rel=1e-15)


def test_eth_a_price_reaches_oracle_after_19_steps_and_cusp_after_92_steps(mech):
    p = DutchAuctionParams()
    oracle = to_wad(1_800)
    top = oracle * p.buf_wad // WAD
    # 1.2 × 0.99^18 = 1.003 > 1 and 1.2 × 0.99^19 = 0.993 < 1: about 19 steps = 1,710 s = 28.5 min
    assert p.price(top, 18 * 90) > oracle >= p.price(top, 19 * 90)
    assert mech.contract.call("priceAt", top, 19 * 90) == p.price(top, 19 * 90)
    # 0.99^91 = 0.4007 >= cusp 0.40 > 0.99^92 = 0.3967: reset needed after 92 steps = 138 min < tail
    assert not p.needs_redo(top, 91 * 90 + 89)
    assert p.needs_redo(top, 92 * 90)
    assert 92 * 90 < p.tail_seconds


def test_linear_curve_is_top_times_remaining_over_tau(market):
    p = DutchAuctionParams(curve="linear", tau_seconds=7200)
    (c,) = deploy(market.chain, market.deployer,
                  [("DutchAuctionLiquidator", (market.lending.address, *p.contract_args()))])
    top = to_wad(2_400)
    for t, frac in [(0, 1.0), (1800, 0.75), (3600, 0.5), (7199, 1 / 7200), (7200, 0.0), (9000, 0.0)]:
        assert linear_price(top, t, 7200) == pytest.approx(top * frac, rel=1e-12, abs=1)
        assert c.call("priceAt", top, t) == p.price(top, t) == linear_price(top, t, 7200)
    assert p.needs_redo(top, 7200)  # price zero


def test_exponential_curve_decays_0_99_per_90_seconds_continuously(market):
    p = DutchAuctionParams(curve="exponential")
    assert rpow(p.cut_ray, 90) == pytest.approx(0.99 * RAY, rel=1e-20)
    (c,) = deploy(market.chain, market.deployer,
                  [("DutchAuctionLiquidator", (market.lending.address, *p.contract_args()))])
    top = to_wad(2_160)
    for t in (1, 45, 90, 1710, 8280):
        mirror = exponential_price(top, t, p.cut_ray)
        assert mirror == pytest.approx(top * 0.99 ** (t / 90), rel=1e-12)
        assert c.call("priceAt", top, t) == mirror
    # unlike the stairstep, it moves within a step
    assert exponential_price(top, 45, p.cut_ray) < top
    explicit = DutchAuctionParams(curve="exponential", exp_cut_per_second_ray=999 * RAY // 1000)
    assert explicit.cut_ray == 999 * RAY // 1000


def test_params_default_to_eth_a_numbers_and_validate():
    p = DutchAuctionParams()
    assert (p.chop_bps, p.penalty_bps, p.buf_bps, p.tail_seconds, p.cusp_bps) == (11300, 1300, 12000, 8400, 4000)
    assert (p.tip_wad, p.chip_wad, p.step_seconds, p.cut_bps) == (TIP, WAD // 1000, 90, 9900)
    assert (p.dust_wad, p.chost_wad) == (to_wad(2_500), to_wad(2_825))
    for bad in [{"chop_bps": 9999}, {"cusp_bps": 10000}, {"curve": "cubic"}, {"step_seconds": 0},
                {"cut_bps": 0}, {"tip_usd": -1}, {"hole_usd": 0}]:
        with pytest.raises(ValueError, match=next(iter(bad))):
            DutchAuctionParams(**bad)


# ------------------------------------------------------------------ bark

def test_barking_a_healthy_position_reverts(market, mech, checked, borrowers, keepers):
    open_positions(market, [(borrowers[0], COLLATERAL, DEBT)])
    block = checked.send([mech.contract.tx(keepers[0], "bark", borrowers[0].address, keepers[0].address,
                                           gas=500_000)], require_success=False)
    assert reverted(block, "HealthyPosition")
    assert position(market, borrowers[0])["collateral"] == COLLATERAL
    assert mech.contract.call("count") == 0


def test_bark_refuses_a_position_whose_debt_is_below_dust(market, mech, checked, borrowers, keepers):
    """Maker's dog refuses to bark below dust, so tip + chip is never paid on dust. Regression:
    five 0.001-WETH positions used to take 5 x 300 USD of rewards from the reserve. The market
    refuses to open such a position now, so this one predates the dust (lifted, then restored)."""
    lending, admin = market.lending, market.deployer
    execute(market.chain, [lending.tx(admin, "setMechanismDust", 0)])
    open_positions(market, [(borrowers[0], to_wad("0.001"), to_wad("1.6"))])
    execute(market.chain, [lending.tx(admin, "setMechanismDust", to_wad(DUST))])
    set_price(market, CRASH_PRICE)
    reserve = mech.contract.call("reserve")
    block = checked.send([mech.contract.tx(keepers[0], "bark", borrowers[0].address, keepers[0].address,
                                           gas=500_000)], require_success=False)
    assert reverted(block, "Dust")
    assert mech.contract.call("reserve") == reserve  # no reward left the reserve
    assert mech.opportunities([borrowers[0].address]) == []  # nothing is offered to keepers


def test_bark_accepts_a_position_whose_debt_is_exactly_dust(market, mech, checked, borrowers, keepers):
    open_positions(market, [(borrowers[0], to_wad(4), to_wad(DUST))])  # HF at 1,800: 1.22
    set_price(market, to_wad(1_400))  # HF = 4 x 1400 x 0.85 / 5000 = 0.952
    (opp,) = mech.opportunities([borrowers[0].address])
    assert opp.action == "bark"
    _, kick = bark(checked, mech, borrowers[0], keepers[0])
    assert kick["tab"] == to_wad(DUST) * 113 // 100


def test_keeper_reward_on_bark_is_tip_plus_chip_times_tab(market, mech, checked, borrowers, keepers):
    b, k = borrowers[0], keepers[0]
    open_and_crash(market, b)
    usd_before = market.usd.call("balanceOf", k.address)
    block, kick = bark(checked, mech, b, k)
    tab = DEBT * 113 // 100  # 18,080
    (ev,) = block.receipts[0].events("Bark")
    assert (ev.args["collateral"], ev.args["debt"], ev.args["tab"]) == (COLLATERAL, DEBT, tab)
    assert kick["tab"] == tab and kick["lot"] == COLLATERAL
    assert kick["top"] == CRASH_PRICE * 12 // 10  # oracle × buf = 2,160
    assert kick["coin"] == TIP + tab // 1000 == to_wad(318.08)
    assert market.usd.call("balanceOf", k.address) - usd_before == kick["coin"]
    # the collateral sits in the auction, the position is locked, and its health still sees it
    pos = position(market, b)
    assert pos["collateral"] == 0 and pos["locked"] and pos["debt"] == DEBT
    assert mech.contract.call("heldCollateral", b.address) == (COLLATERAL, 0)
    assert pos["hf"] == COLLATERAL * 1800 * 85 // 100 * WAD // DEBT
    # a second bark of the same position is refused
    again = checked.send([mech.contract.tx(k, "bark", b.address, k.address, gas=500_000)], require_success=False)
    assert reverted(again, "AuctionActive")


def test_bark_beyond_hole_reverts(market, borrowers, keepers):
    mech = DutchAuctionMechanism.deploy(market, DutchAuctionParams(hole_usd=20_000))
    checked = Checked(market, mech, borrowers, keepers)
    open_and_crash(market, borrowers[0])
    open_positions(market, [(borrowers[1], to_wad(2), to_wad(2_800))])
    set_price(market, to_wad(1_500))
    bark(checked, mech, borrowers[0], keepers[0])  # tab 18,080 fits under 20,000
    block = checked.send([mech.contract.tx(keepers[0], "bark", borrowers[1].address, keepers[0].address,
                                           gas=500_000)], require_success=False)
    assert reverted(block, "LiquidationLimitHit")  # 18,080 + 3,164 > 20,000
    assert mech.contract.call("dirt") == DEBT * 113 // 100


# ------------------------------------------------------------------ take

def test_take_above_max_price_reverts(market, mech, checked, borrowers, keepers):
    open_and_crash(market, borrowers[0])
    _, kick = bark(checked, mech, borrowers[0], keepers[0])
    price = kick["top"]
    block = checked.send([take_req(mech, keepers[1], 1, COLLATERAL, price - 1)], require_success=False)
    assert reverted(block, "TooExpensive")
    assert status(mech, 1)["lot"] == COLLATERAL


def test_take_needs_no_reset_and_redo_only_after_cusp(market, mech, checked, borrowers, keepers):
    open_and_crash(market, borrowers[0])
    _, kick = bark(checked, mech, borrowers[0], keepers[0])
    t0 = market.chain.timestamp
    assert reverted(checked.send([redo_req(mech, keepers[1], 1)], require_success=False), "CannotRedo")
    # 91 steps: price/top = 0.4007 >= cusp, still takeable and not resettable
    assert reverted(checked.send([redo_req(mech, keepers[1], 1)], timestamp=t0 + 91 * 90,
                                 require_success=False), "CannotRedo")
    assert not status(mech, 1)["needs_redo"]
    # 92 steps (138 min): below cusp, before tail
    execute(market.chain, [], timestamp=t0 + 92 * 90)
    st = status(mech, 1)
    assert st["needs_redo"] and st["price"] == stairstep_price(kick["top"], 92 * 90, 99 * RAY // 100, 90)
    block = checked.send([take_req(mech, keepers[1], 1, COLLATERAL, kick["top"])],
                         timestamp=t0 + 92 * 90 + 1, require_success=False)
    assert reverted(block, "NeedsRedo")
    # redo re-prices from the oracle now in force (dropped to 1,500) and pays tip + chip
    set_price(market, to_wad(1_500))
    usd_before = market.usd.call("balanceOf", keepers[2].address)
    block = checked.send([redo_req(mech, keepers[2], 1)])
    (ev,) = block.receipts[0].events("Redo")
    tab = DEBT * 113 // 100
    assert ev.args["top"] == to_wad(1_800) and ev.args["coin"] == TIP + tab // 1000
    assert market.usd.call("balanceOf", keepers[2].address) - usd_before == ev.args["coin"]
    st = status(mech, 1)
    assert not st["needs_redo"] and st["price"] == to_wad(1_800)
    # and now a take goes through at the new price
    block = checked.send([take_req(mech, keepers[1], 1, COLLATERAL, to_wad(1_800))])
    assert block.receipts[0].events("Take")[0].args["price"] == to_wad(1_800)


def test_redo_needed_after_tail_even_above_cusp(market, borrowers, keepers):
    mech = DutchAuctionMechanism.deploy(market, DutchAuctionParams(cusp_bps=1000))  # cusp after ~230 steps
    execute(market.chain, fund_requests(market, keepers[0], usd_wei=KEEPER_USD, approve=[mech.spender]))
    checked = Checked(market, mech, borrowers, keepers)
    open_and_crash(market, borrowers[0])
    bark(checked, mech, borrowers[0], keepers[0])
    t0 = market.chain.timestamp
    execute(market.chain, [], timestamp=t0 + 8400)
    assert not status(mech, 1)["needs_redo"]  # now - tic == tail is still fine
    execute(market.chain, [], timestamp=t0 + 8401)
    assert status(mech, 1)["needs_redo"]
    block = checked.send([redo_req(mech, keepers[0], 1)])
    assert block.receipts[0].events("Redo")[0].args["coin"] > 0


def test_redo_pays_tip_and_chip_only_when_not_dust(market, mech, checked, borrowers, keepers):
    # (an auction cannot start below dust: bark refuses it, see test_bark_refuses_...)
    # an auction whose lot is worth less than chost at the oracle is dust
    open_positions(market, [(borrowers[1], to_wad(10), to_wad(14_000))])
    set_price(market, to_wad(1_500))  # HF = 10 × 1500 × 0.85 / 14000 = 0.91
    bark(checked, mech, borrowers[1], keepers[0])
    execute(market.chain, [], timestamp=market.chain.timestamp + 92 * 90)
    set_price(market, to_wad(500))  # lot × price = 5,000 < 5,650
    block = checked.send([redo_req(mech, keepers[1], 1)])
    assert block.receipts[0].events("Redo")[0].args["coin"] == 0
    set_price(market, to_wad(600))  # 6,000 >= 5,650 and tab 15,820 >= chost: paid
    execute(market.chain, [], timestamp=market.chain.timestamp + 92 * 90)
    block = checked.send([redo_req(mech, keepers[1], 1)])
    assert block.receipts[0].events("Redo")[0].args["coin"] == TIP + to_wad(14_000) * 113 // 100 // 1000


def test_partial_take_leaving_less_than_chost_is_cut_to_leave_exactly_chost(market, mech, checked,
                                                                           borrowers, keepers):
    open_and_crash(market, borrowers[0])
    _, kick = bark(checked, mech, borrowers[0], keepers[0])
    price, tab = kick["top"], kick["tab"]  # 2,160 and 18,080
    # a partial take that leaves at least chost goes through unchanged
    block = checked.send([take_req(mech, keepers[1], 1, to_wad(1), price)])
    assert block.receipts[0].events("Take")[0].args["owe"] == price  # 1 WETH x 2,160
    tab -= price  # 15,920
    lot = COLLATERAL - WAD
    # 6 WETH x 2,160 = 12,960 would leave 2,960 < chost: the take is cut to leave exactly chost
    amt = to_wad(6)
    block = checked.send([take_req(mech, keepers[1], 1, amt, price)])
    (ev,) = block.receipts[0].events("Take")
    assert ev.args["owe"] == tab - CHOST and ev.args["tab"] == CHOST
    q = quote_take(lot, tab, amt, price, CHOST)
    assert (ev.args["owe"], ev.args["lot"]) == (q.owe, q.lot_left)
    assert q.slice == (tab - CHOST) * WAD // price < amt
    assert market.weth.call("balanceOf", keepers[1].address) == WAD + q.slice
    # now tab == chost: no partial take is possible any more, only the whole lot or tab
    block = checked.send([take_req(mech, keepers[1], 1, WAD // 10, price)], require_success=False)
    assert reverted(block, "Chost")
    assert status(mech, 1)["tab"] == CHOST


def test_partial_take_when_tab_is_at_most_chost_reverts(market, mech, checked, borrowers, keepers):
    open_positions(market, [(borrowers[0], to_wad(4), to_wad(DUST))])  # tab 5,650 == chost
    set_price(market, to_wad(1_400))  # HF 0.952
    _, kick = bark(checked, mech, borrowers[0], keepers[0])
    price = kick["top"]
    block = checked.send([take_req(mech, keepers[1], 1, to_wad(1), price)], require_success=False)
    assert reverted(block, "Chost")
    assert quote_take(to_wad(4), kick["tab"], to_wad(1), price, CHOST) is None
    # taking the whole lot (or the whole tab) is always allowed
    block = checked.send([take_req(mech, keepers[1], 1, to_wad(4), price)])
    assert block.receipts[0].events("Take")[0].args["tab"] == 0


def test_leftover_collateral_returns_to_owner_when_tab_is_covered(market, mech, checked, borrowers, keepers):
    b = borrowers[0]
    open_and_crash(market, b)
    _, kick = bark(checked, mech, b, keepers[0])
    t = market.chain.timestamp + 10 * 90
    price = stairstep_price(kick["top"], 10 * 90, 99 * RAY // 100, 90)  # 2,160 × 0.99^10
    treasury_before = market.usd.call("balanceOf", market.treasury.address)
    block = checked.send([take_req(mech, keepers[1], 1, COLLATERAL, price)], timestamp=t)
    (ev,) = block.receipts[0].events("Take")
    tab = DEBT * 113 // 100
    slice_ = tab * WAD // price
    assert ev.args["price"] == price and ev.args["owe"] == tab and ev.args["tab"] == 0
    assert ev.args["lot"] == COLLATERAL - slice_ > 0
    pos = position(market, b)
    assert pos == {"collateral": COLLATERAL - slice_, "debt": 0, "hf": 2**256 - 1, "locked": False}
    assert market.weth.call("balanceOf", keepers[1].address) == slice_
    # debt repaid first, the penalty (13% of the debt) to the treasury
    assert liquidation_flows([block], market) == {"repaid": DEBT, "written_off": 0}
    assert market.usd.call("balanceOf", market.treasury.address) - treasury_before == tab - DEBT
    (settle,) = block.receipts[0].events("Settle")
    assert settle.args["collateralReturned"] == COLLATERAL - slice_ and settle.args["debtWrittenOff"] == 0
    assert mech.contract.call("count") == 0 and mech.contract.call("dirt") == 0
    assert market.weth.call("balanceOf", mech.contract.address) == 0


def test_lot_exhausted_with_tab_left_writes_off_bad_debt(market, mech, checked, borrowers, keepers):
    b = borrowers[0]
    open_and_crash(market, b)
    _, kick = bark(checked, mech, b, keepers[0])
    t = market.chain.timestamp + 80 * 90
    price = stairstep_price(kick["top"], 80 * 90, 99 * RAY // 100, 90)  # ~967: lot worth < debt
    owe = -(-COLLATERAL * price // WAD)
    assert owe < DEBT
    treasury_before = market.usd.call("balanceOf", market.treasury.address)
    block = checked.send([take_req(mech, keepers[1], 1, COLLATERAL, price)], timestamp=t)
    (ev,) = block.receipts[0].events("Take")
    assert ev.args["owe"] == owe and ev.args["lot"] == 0 and ev.args["tab"] == DEBT * 113 // 100 - owe
    assert liquidation_flows([block], market) == {"repaid": owe, "written_off": DEBT - owe}
    assert market.lending.call("badDebt") == DEBT - owe
    assert position(market, b) == {"collateral": 0, "debt": 0, "hf": 2**256 - 1, "locked": False}
    assert market.usd.call("balanceOf", market.treasury.address) == treasury_before  # no penalty raised
    assert mech.contract.call("count") == 0 and mech.contract.call("dirt") == 0


def test_flash_take_through_the_callback_needs_no_capital(market, mech, borrowers, keepers, funded):
    b, k = borrowers[0], keepers[3]
    assert market.usd.call("balanceOf", k.address) == 0
    (callee,) = deploy(market.chain, market.deployer, [("DutchTakeTestCallee", (
        mech.contract.address, market.amm.address, market.weth.address, market.usd.address))])
    checked = Checked(market, mech, borrowers, keepers, extra=[callee.address])
    open_and_crash(market, b)
    _, kick = bark(checked, mech, borrowers[0], keepers[0])
    t = market.chain.timestamp + 19 * 90
    price = stairstep_price(kick["top"], 19 * 90, 99 * RAY // 100, 90)  # ~1,785 < AMM ~2,000
    data = abi_encode(["address", "uint256"], [k.address, 0])
    block = checked.send([take_req(mech, k, 1, COLLATERAL, price, who=callee.address, data=data)], timestamp=t)
    r = block.receipts[0]
    (flash,) = r.events("FlashTake")
    (ev,) = r.events("Take")
    assert ev.args["owe"] == flash.args["owe"] and flash.args["slice"] == COLLATERAL - ev.args["lot"]
    assert flash.args["profit"] > 0
    assert market.usd.call("balanceOf", k.address) == flash.args["profit"]
    assert market.weth.call("balanceOf", callee.address) == 0
    assert market.usd.call("balanceOf", callee.address) == 0
    assert position(market, b)["debt"] == 0
    # without the callback the same capital-less keeper cannot pay
    open_and_crash(market, borrowers[1], debt=to_wad(13_000), price=to_wad(1_500))
    bark(checked, mech, borrowers[1], keepers[0])
    block = checked.send([take_req(mech, k, 2, COLLATERAL, to_wad(10_000))], require_success=False)
    assert reverted(block, "InsufficientBalance")


# ------------------------------------------------------------------ through the Python module

def test_end_to_end_bark_wait_take_through_the_module(market, mech, borrowers, keepers, funded):
    b, k = borrowers[0], keepers[0]
    checked = Checked(market, mech, borrowers, keepers)
    open_positions(market, [(b, COLLATERAL, DEBT), (borrowers[1], COLLATERAL, to_wad(10_000))])
    owners = [b.address, borrowers[1].address]
    assert mech.opportunities(owners) == []
    set_price(market, CRASH_PRICE)
    (opp,) = mech.opportunities(owners)
    assert opp.action == "bark" and opp.owner.lower() == b.address.lower()
    assert opp.received("USD") == TIP + DEBT * 113 // 100 // 1000 and opp.paid("USD") == 0
    checked.send([mech.encode(opp, k.address).request(k)])
    # 19 steps later the price is below the oracle's
    checked.send([], timestamp=market.chain.timestamp + 19 * 90)
    (opp,) = mech.opportunities(owners)
    assert opp.action == "take" and opp.ref == 1
    assert opp.extra["price"] == stairstep_price(to_wad(2_160), 19 * 90, 99 * RAY // 100, 90) < CRASH_PRICE
    # 10 WETH x ~1,785 < tab 18,080: the whole lot is for sale, and it more than covers the debt
    assert opp.paid("USD") == -(-COLLATERAL * opp.extra["price"] // WAD) < DEBT * 113 // 100
    assert opp.received("WETH") == COLLATERAL
    # a partial take sized to the keeper's budget, then the rest
    call = mech.encode(opp, keepers[1].address, max_pay=to_wad(5_000))
    assert call.paid("USD") <= to_wad(5_000)
    block = checked.send([call.request(keepers[1])])
    assert block.receipts[0].events("Take")[0].args["owe"] == call.paid("USD")
    (opp,) = mech.opportunities(owners)
    block = checked.send([mech.encode(opp, k.address).request(k)])
    (ev,) = block.receipts[0].events("Take")
    assert ev.args["lot"] == 0 and ev.args["owe"] == opp.paid("USD")
    # debt fully repaid, part of the penalty collected, nothing written off, position released
    assert position(market, b) == {"collateral": 0, "debt": 0, "hf": 2**256 - 1, "locked": False}
    assert market.lending.call("badDebt") == 0
    assert mech.opportunities(owners) == []


def test_module_offers_redo_with_reward_when_the_auction_is_stale(market, mech, checked, borrowers, keepers):
    open_and_crash(market, borrowers[0])
    bark(checked, mech, borrowers[0], keepers[0])
    checked.send([], timestamp=market.chain.timestamp + 92 * 90)
    (opp,) = mech.opportunities([borrowers[0].address])
    assert opp.action == "redo" and opp.received("USD") == TIP + DEBT * 113 // 100 // 1000
    block = checked.send([mech.encode(opp, keepers[1].address).request(keepers[1])])
    assert block.receipts[0].events("Redo")[0].args["coin"] == opp.received("USD")
    (opp,) = mech.opportunities([borrowers[0].address])
    assert opp.action == "take"
    assert math.isclose(opp.extra["price"], 1.2 * 1800 * WAD, rel_tol=1e-15)


def test_keeper_rewards_are_paid_from_the_incentive_reserve_and_capped_by_it(market, borrowers, keepers):
    mech = DutchAuctionMechanism.deploy(market, DutchAuctionParams(incentive_reserve_usd=100))
    assert get_mechanism("dutch-auction") is DutchAuctionMechanism
    assert mech.contract.call("reserve") == to_wad(100)
    checked = Checked(market, mech, borrowers, keepers)
    open_and_crash(market, borrowers[0])
    (opp,) = mech.opportunities([borrowers[0].address])
    assert opp.received("USD") == to_wad(100)  # tip + chip = 318.08, capped by what is left
    _, kick = bark(checked, mech, borrowers[0], keepers[0])
    assert kick["coin"] == to_wad(100)
    assert market.usd.call("balanceOf", keepers[0].address) == to_wad(100)
    assert mech.contract.call("reserve") == 0
