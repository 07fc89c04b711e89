"""The core contracts' rules: health factor and LTV, AMM pricing, the lens, the oracle, the
mechanism-only primitives, the flash lender and the token."""

from __future__ import annotations

import pytest

from sandbox.chain import CallReverted, deploy, execute
from sandbox.market import MarketParams, amm_amount_out, deploy_market, health_factor_wad
from sandbox.market.actions import MAX_UINT, fund_requests, open_positions, set_price
from sandbox.units import WAD, to_wad

PRICES = [2000, 1700, 1500, 1234.5678, 900]


def reverted(chain, request) -> str:
    """Execute ``request`` alone; assert it reverted and return the decoded reason."""
    block = execute(chain, [request], require_success=False)
    receipt = block.receipts[0]
    assert receipt.status == 0, f"expected a revert, got success with {[log.name for log in receipt.logs]}"
    return receipt.revert_reason


def succeeded(chain, requests):
    return execute(chain, requests)


def market_invariants(market, owners) -> None:
    """WETH balance == totalCollateral, USD balance == liquidity, sum of debts == totalDebt."""
    lending = market.lending
    assert market.weth.call("balanceOf", lending.address) == lending.call("totalCollateral")
    assert market.usd.call("balanceOf", lending.address) == lending.call("liquidity")
    assert sum(lending.call("debtOf", o) for o in owners) == lending.call("totalDebt")


# --- health factor and LTV ------------------------------------------------------------------

POSITIONS = [  # (collateral WETH, debt USD)
    ("10", "8000"),
    ("3.5", "5000"),
    ("1", "1275"),  # HF exactly 1 at 1500
    ("0.123456789", "17.5"),
    ("42", "66000"),
]


@pytest.fixture
def opened(market, borrowers):
    # one position for each of the first len(POSITIONS) borrowers
    rows = [(b, to_wad(c), to_wad(d)) for b, (c, d) in zip(borrowers, POSITIONS, strict=False)]
    open_positions(market, rows)
    return rows


def test_health_factor_matches_the_python_mirror_at_every_price(market, opened):
    threshold = market.lending.call("liquidationThresholdWad")
    assert threshold == 85 * WAD // 100
    checked = 0
    for price in PRICES:
        price_wad = to_wad(price)
        set_price(market, price_wad)
        assert market.price() == price_wad
        for borrower, collateral, debt in opened:
            hf = market.lending.call("healthFactor", borrower.address)
            assert hf == health_factor_wad(collateral, debt, price_wad, threshold)
            assert market.lending.call("isLiquidatable", borrower.address) == (hf < WAD)
            checked += 1
    assert checked == len(PRICES) * len(POSITIONS)


def test_is_liquidatable_flips_exactly_when_health_factor_drops_below_one(market, opened):
    owner = opened[2][0].address  # 1 WETH against 1275 USD: HF = price * 0.85 / 1275
    set_price(market, to_wad(1500))
    assert market.lending.call("healthFactor", owner) == WAD
    assert market.lending.call("isLiquidatable", owner) is False
    set_price(market, to_wad(1500) - 1)
    assert market.lending.call("healthFactor", owner) == WAD - 1
    assert market.lending.call("isLiquidatable", owner) is True
    set_price(market, to_wad(1500))
    assert market.lending.call("isLiquidatable", owner) is False


def test_position_without_debt_has_max_health_and_is_never_liquidatable(market, borrowers):
    open_positions(market, [(borrowers[0], to_wad(1), 0)])
    set_price(market, 1)
    assert market.lending.call("healthFactor", borrowers[0].address) == MAX_UINT
    assert market.lending.call("isLiquidatable", borrowers[0].address) is False


def test_borrowing_beyond_max_ltv_reverts_undercollateralized(market, borrowers):
    alice = borrowers[0]
    collateral = to_wad(2)  # worth 4000 USD at 2000: max debt 3200
    open_positions(market, [(alice, collateral, to_wad(3000))])
    max_debt = collateral * market.price() // WAD * market.lending.call("maxLtvWad") // WAD
    assert max_debt == to_wad(3200)
    reason = reverted(market.chain, market.lending.tx(alice, "borrow", max_debt - to_wad(3000) + 1))
    assert reason == "Undercollateralized()"
    succeeded(market.chain, [market.lending.tx(alice, "borrow", max_debt - to_wad(3000))])
    assert market.lending.call("debtOf", alice.address) == max_debt
    assert reverted(market.chain, market.lending.tx(alice, "withdraw", 1)) == "Undercollateralized()"
    market_invariants(market, [alice.address])


def test_opening_beyond_max_ltv_reverts(market, borrowers):
    bob = borrowers[1]
    execute(market.chain, fund_requests(market, bob, weth_wei=to_wad(1)) + [
        market.weth.tx(bob, "approve", market.lending.address, MAX_UINT)])
    assert reverted(market.chain, market.lending.tx(bob, "open", to_wad(1), to_wad(1600) + 1)) == \
        "Undercollateralized()"


def test_a_borrow_that_leaves_debt_below_the_minimum_reverts(chain, borrowers):
    """``min_borrow_usd``: no position may owe less than the minimum (Maker's vat dust)."""
    market = deploy_market(chain, MarketParams(min_borrow_usd=2_500))
    assert market.lending.call("minBorrow") == to_wad(2_500)
    alice, bob = borrowers[0], borrowers[1]
    execute(market.chain, fund_requests(market, alice, weth_wei=to_wad(2)) + [
        market.weth.tx(alice, "approve", market.lending.address, MAX_UINT)])
    reason = reverted(market.chain, market.lending.tx(alice, "open", to_wad(2), to_wad(2_499)))
    assert reason == f"BelowMinimumBorrow(debt={to_wad(2_499)}, minimum={to_wad(2_500)})"
    succeeded(market.chain, [market.lending.tx(alice, "open", to_wad(2), to_wad(2_500))])
    succeeded(market.chain, [market.lending.tx(alice, "borrow", 1)])  # above the minimum: fine
    open_positions(market, [(bob, to_wad(1), 0)])  # collateral without debt is not a borrow
    assert market.lending.call("debtOf", bob.address) == 0
    market_invariants(market, [alice.address, bob.address])


def test_the_market_refuses_a_borrow_or_repayment_leaving_debt_below_the_mechanisms_dust(chain, borrowers):
    """The installed mechanism's dust (set by the admin) binds like the market's own minimum, and
    the larger of the two wins: no position may owe in (0, minDebt) after a borrow or a repayment
    (Maker's vat), so none exists that the mechanism could never liquidate."""
    market = deploy_market(chain, MarketParams(min_borrow_usd=1_000))
    lending, alice = market.lending, borrowers[0]
    assert reverted(chain, lending.tx(alice, "setMechanismDust", to_wad(2_500))) == "NotAdmin()"
    block = succeeded(chain, [lending.tx(market.deployer, "setMechanismDust", to_wad(2_500))])
    assert block.receipts[0].events("MechanismDustSet")[0].args["dust"] == to_wad(2_500)
    assert lending.call("minDebt") == to_wad(2_500)  # the larger of 1,000 and 2,500
    execute(chain, fund_requests(market, alice, weth_wei=to_wad(4), usd_wei=to_wad(10_000)) + [
        market.weth.tx(alice, "approve", lending.address, MAX_UINT),
        market.usd.tx(alice, "approve", lending.address, MAX_UINT)])
    assert reverted(chain, lending.tx(alice, "open", to_wad(4), to_wad(2_499))) == \
        f"BelowMinimumBorrow(debt={to_wad(2_499)}, minimum={to_wad(2_500)})"
    succeeded(chain, [lending.tx(alice, "open", to_wad(4), to_wad(3_000))])  # at or above the dust: opens
    assert reverted(chain, lending.tx(alice, "repay", to_wad(501))) == \
        f"BelowMinimumBorrow(debt={to_wad(2_499)}, minimum={to_wad(2_500)})"
    succeeded(chain, [lending.tx(alice, "repay", to_wad(500))])  # down to exactly the dust
    succeeded(chain, [lending.tx(alice, "repay", to_wad(2_500))])  # or to nothing
    assert lending.call("debtOf", alice.address) == 0
    succeeded(chain, [lending.tx(market.deployer, "setMechanismDust", 0)])
    assert lending.call("minDebt") == to_wad(1_000)  # the market's own minimum again
    market_invariants(market, [alice.address])


# --- AMM ------------------------------------------------------------------------------------

def swap(market, amm, trader, weth_in, min_out=0):
    return amm.tx(trader, "swapExactIn", market.weth.address, weth_in, min_out, trader.address)


def test_swap_output_equals_the_mirror_and_the_fee_stays_in_the_pool(market, keepers):
    trader = keepers[0]
    amount = to_wad(25)
    execute(market.chain, fund_requests(market, trader, weth_wei=amount * 2, approve=[market.amm.address]))
    r0, r1 = market.amm.call("getReserves")
    expected = amm_amount_out(amount, r0, r1, 30)
    assert market.amm.call("getAmountOut", market.weth.address, amount) == expected
    block = execute(market.chain, [swap(market, market.amm, trader, amount)])
    (event,) = block.receipts[0].events("Swap")
    assert event.args["amountOut"] == expected
    assert market.usd.call("balanceOf", trader.address) == expected
    s0, s1 = market.amm.call("getReserves")
    assert (s0, s1) == (r0 + amount, r1 - expected)
    assert s0 * s1 > r0 * r1  # the fee stays in the pool: k grows
    # tokens held match the tracked reserves
    assert market.weth.call("balanceOf", market.amm.address) == s0
    assert market.usd.call("balanceOf", market.amm.address) == s1
    # selling USD back uses the same formula the other way round
    usd_in = expected // 2
    back = amm_amount_out(usd_in, s1, s0, 30)
    execute(market.chain, [market.amm.tx(trader, "swapExactIn", market.usd.address, usd_in, back,
                                         trader.address)])
    assert market.amm.call("getReserves") == (s0 - back, s1 + usd_in)


def test_zero_fee_pool_pays_more_and_keeps_k_while_fee_pool_grows_k(market, keepers):
    chain, deployer, trader = market.chain, market.deployer, keepers[1]
    (free,) = deploy(chain, deployer, [("ConstantProductAMM", (market.weth.address, market.usd.address, 0))])
    r0, r1 = market.amm.call("getReserves")
    execute(chain, fund_requests(market, deployer, weth_wei=r0, usd_wei=r1, approve=[free.address])
            + [free.tx(deployer, "addLiquidity", r0, r1)])
    amount = to_wad(100)
    execute(chain, fund_requests(market, trader, weth_wei=2 * amount,
                                 approve=[market.amm.address, free.address]))
    out_fee = amm_amount_out(amount, r0, r1, 30)
    out_free = amm_amount_out(amount, r0, r1, 0)
    execute(chain, [swap(market, market.amm, trader, amount), swap(market, free, trader, amount)])
    assert market.usd.call("balanceOf", trader.address) == out_fee + out_free
    assert out_free > out_fee
    # 30 bps of the input, valued at the post-trade marginal price, is what the fee pool keeps
    assert out_free - out_fee == pytest.approx(amount * 30 // 10_000 * (r1 - out_free) / (r0 + amount),
                                               rel=2e-3)
    f0, f1 = free.call("getReserves")
    k = r0 * r1
    assert k <= f0 * f1 < k + (r0 + amount)  # only rounding (down, in the pool's favour)
    p0, p1 = market.amm.call("getReserves")
    assert p0 * p1 - k > (f0 * f1 - k) * 1000


def test_swap_below_the_minimum_output_reverts_slippage_exceeded(market, keepers):
    trader = keepers[0]
    amount = to_wad(3)
    execute(market.chain, fund_requests(market, trader, weth_wei=amount, approve=[market.amm.address]))
    quote = market.amm.call("getAmountOut", market.weth.address, amount)
    before = market.amm.call("getReserves")
    assert reverted(market.chain, swap(market, market.amm, trader, amount, quote + 1)) == "SlippageExceeded()"
    assert market.amm.call("getReserves") == before
    execute(market.chain, [swap(market, market.amm, trader, amount, quote)])
    assert market.usd.call("balanceOf", trader.address) == quote


# --- lens -----------------------------------------------------------------------------------

def test_lens_positions_equal_per_position_reads(market, opened, borrowers, keepers):
    set_price(market, to_wad(1400))
    owners = [b.address for b in borrowers] + [keepers[0].address]  # includes empty positions
    views = market.positions(owners)
    assert len(views) == len(owners)
    for owner, view in zip(owners, views, strict=True):
        collateral, debt, hf, locked = market.lending.call("positionOf", owner)
        assert view.owner.lower() == owner.lower()
        assert (view.collateral, view.debt, view.health_factor_wad, view.locked) == (collateral, debt, hf, locked)
        assert (view.held_collateral, view.held_debt_asset) == (0, 0)
        assert view.is_liquidatable == market.lending.call("isLiquidatable", owner)
    assert sum(v.is_liquidatable for v in views) >= 1  # the 1275-USD position at 1400
    state = market.state()
    assert state.total_debt == sum(d for _, _, d in opened) == market.lending.call("totalDebt")
    assert state.total_collateral == sum(c for _, c, _ in opened)
    assert state.price == to_wad(1400)
    liquidatable = market.lens.call("liquidatable", market.lending.address, owners)
    assert [a.lower() for a in liquidatable] == [v.owner.lower() for v in views if v.is_liquidatable]


# --- oracle -----------------------------------------------------------------------------------

def test_latest_round_data_has_the_aggregator_shape(market):
    set_price(market, to_wad(1888))
    block_ts = market.chain.timestamp
    round_id, answer, started_at, updated_at, answered_in = market.oracle.call("latestRoundData")
    assert round_id == market.oracle.call("latestRound") == 2  # round 1 was the deployment price
    assert answer == to_wad(1888)
    assert started_at == updated_at == block_ts
    assert answered_in == round_id
    assert market.oracle.call("decimals") == 18
    assert market.oracle.call("getRoundData", 1)[1] == to_wad(2000)
    with pytest.raises(CallReverted, match=r"UnknownRound\(\)"):
        market.oracle.call("getRoundData", 3)


def test_only_the_updater_can_submit_a_price(market, keepers):
    assert reverted(market.chain, market.oracle.tx(keepers[0], "submit", to_wad(1))) == "NotUpdater()"
    assert reverted(market.chain, market.oracle.tx(market.deployer, "submit", to_wad(1))) == "NotUpdater()"
    assert market.price() == to_wad(2000)


@pytest.mark.parametrize("answer", [0, -1, -to_wad(2000)])
def test_non_positive_price_reverts(market, answer):
    assert reverted(market.chain, market.oracle.tx(market.oracle_updater, "submit", answer)) == \
        "NonPositivePrice()"
    assert market.oracle.call("latestRound") == 1


def test_delayed_oracle_keeps_the_price_from_delay_seconds_ago_in_force(chain):
    market = deploy_market(chain, MarketParams(oracle_delay_seconds=3600))
    assert market.price() == to_wad(2000)
    t0 = chain.timestamp + 1
    set_price(market, to_wad(1500), timestamp=t0)
    set_price(market, to_wad(1000), timestamp=t0 + 1800)
    execute(chain, [], timestamp=t0 + 3599)
    assert market.price() == to_wad(2000)  # neither submission is an hour old yet
    assert market.oracle.call("latestSubmitted")[1] == to_wad(1000)
    execute(chain, [], timestamp=t0 + 3600)
    assert market.price() == to_wad(1500)
    assert market.oracle.call("latestRoundData")[0] == 2
    execute(chain, [], timestamp=t0 + 1800 + 3599)
    assert market.price() == to_wad(1500)
    execute(chain, [], timestamp=t0 + 1800 + 3600)
    assert market.price() == to_wad(1000)


def test_delayed_price_in_force_is_what_the_market_uses_inside_transactions(chain, borrowers):
    """Same rule as above, observed inside a transaction rather than through a call."""
    market = deploy_market(chain, MarketParams(oracle_delay_seconds=3600))
    alice = borrowers[0]
    execute(chain, fund_requests(market, alice, weth_wei=to_wad(1)) + [
        market.weth.tx(alice, "approve", market.lending.address, MAX_UINT)])
    t0 = chain.timestamp + 1
    set_price(market, to_wad(1000), timestamp=t0)  # pending; 2000 still in force
    block = execute(chain, [market.lending.tx(alice, "open", to_wad(1), to_wad(1600))],
                    timestamp=t0 + 3599, require_success=False)
    assert block.receipts[0].succeeded  # 1600 = 80% of 2000
    block = execute(chain, [market.lending.tx(alice, "borrow", 1)], timestamp=t0 + 3600,
                    require_success=False)
    assert block.receipts[0].revert_reason == "Undercollateralized()"


# --- mechanism-only primitives ----------------------------------------------------------------

PRIMITIVES = [
    ("seizeCollateral", lambda owner, who: (owner, 1, who)),
    ("repayOnBehalf", lambda owner, who: (owner, 1, who)),
    ("writeOff", lambda owner, who: (owner, 1)),
    ("restoreCollateral", lambda owner, who: (owner, 1, who)),
    ("setLocked", lambda owner, who: (owner, True)),
]


@pytest.mark.parametrize("fn, args", PRIMITIVES, ids=[p[0] for p in PRIMITIVES])
def test_mechanism_primitives_revert_for_anyone_else(market, borrowers, keepers, fn, args):
    owner = borrowers[0]
    open_positions(market, [(owner, to_wad(10), to_wad(8000))])
    outsider = keepers[1]
    for caller in (outsider, owner, market.deployer):  # nobody before a mechanism is installed
        assert reverted(market.chain, market.lending.tx(caller, fn, *args(owner.address, caller.address))) \
            == "NotMechanism()"
    execute(market.chain, [market.lending.tx(market.deployer, "installMechanism", keepers[0].address)])
    for caller in (outsider, owner, market.deployer):
        assert reverted(market.chain, market.lending.tx(caller, fn, *args(owner.address, caller.address))) \
            == "NotMechanism()"


def test_install_mechanism_is_admin_only_and_happens_once(market, keepers):
    lending = market.lending
    assert reverted(market.chain, lending.tx(keepers[0], "installMechanism", keepers[0].address)) == "NotAdmin()"
    zero = "0x" + "00" * 20
    assert reverted(market.chain, lending.tx(market.deployer, "installMechanism", zero)) == "ZeroAddress()"
    block = execute(market.chain, [lending.tx(market.deployer, "installMechanism", keepers[0].address)])
    (event,) = block.receipts[0].events("MechanismInstalled")
    assert event.args["mechanism"].lower() == keepers[0].address.lower()
    assert lending.call("mechanism").lower() == keepers[0].address.lower()
    assert reverted(market.chain, lending.tx(market.deployer, "installMechanism", keepers[1].address)) == \
        "MechanismAlreadyInstalled()"


def test_mechanism_primitives_move_tokens_and_keep_the_market_invariants(market, borrowers, keepers):
    chain, lending = market.chain, market.lending
    owner, other, mech = borrowers[0], borrowers[1], keepers[0]
    open_positions(market, [(owner, to_wad(10), to_wad(8000)), (other, to_wad(5), to_wad(1000))])
    owners = [owner.address, other.address]
    # a plain account plays the mechanism (borrower actions would call its hook, so none below)
    execute(chain, [lending.tx(market.deployer, "installMechanism", mech.address)]
            + fund_requests(market, mech, usd_wei=to_wad(5000)) + [
                market.usd.tx(mech, "approve", lending.address, MAX_UINT),
                market.weth.tx(mech, "approve", lending.address, MAX_UINT)])
    market_invariants(market, owners)

    block = execute(chain, [lending.tx(mech, "seizeCollateral", owner.address, to_wad(3), mech.address)])
    (event,) = block.receipts[0].events("CollateralSeized")
    assert event.args["amount"] == to_wad(3)
    assert lending.call("collateralOf", owner.address) == to_wad(7)
    assert market.weth.call("balanceOf", mech.address) == to_wad(3)
    market_invariants(market, owners)

    liquidity = lending.call("liquidity")
    block = execute(chain, [lending.tx(mech, "repayOnBehalf", owner.address, to_wad(2000), mech.address)])
    (event,) = block.receipts[0].events("LiquidationRepaid")
    assert event.args["amount"] == to_wad(2000)
    assert lending.call("debtOf", owner.address) == to_wad(6000)
    assert lending.call("liquidity") == liquidity + to_wad(2000)
    assert market.usd.call("balanceOf", mech.address) == to_wad(3000)
    market_invariants(market, owners)

    block = execute(chain, [lending.tx(mech, "writeOff", owner.address, to_wad(1000))])
    (event,) = block.receipts[0].events("BadDebtWrittenOff")
    assert event.args["amount"] == to_wad(1000)
    assert lending.call("badDebt") == to_wad(1000)
    assert lending.call("debtOf", owner.address) == to_wad(5000)
    execute(chain, [lending.tx(mech, "writeOff", other.address, to_wad(250))])
    assert lending.call("badDebt") == to_wad(1250)
    market_invariants(market, owners)

    block = execute(chain, [lending.tx(mech, "restoreCollateral", owner.address, to_wad(1), mech.address)])
    (event,) = block.receipts[0].events("CollateralRestored")
    assert event.args["amount"] == to_wad(1)
    assert lending.call("collateralOf", owner.address) == to_wad(8)
    assert market.weth.call("balanceOf", mech.address) == to_wad(2)
    market_invariants(market, owners)

    block = execute(chain, [lending.tx(mech, "setLocked", owner.address, True)])
    (event,) = block.receipts[0].events("LockChanged")
    assert event.args["isLocked"] is True
    assert lending.call("locked", owner.address) is True
    assert reverted(chain, lending.tx(owner, "repay", 1)) == "PositionLocked()"
    execute(chain, [lending.tx(mech, "setLocked", owner.address, False)])
    assert lending.call("locked", owner.address) is False

    # limits: never more than the position holds or owes
    assert reverted(chain, lending.tx(mech, "seizeCollateral", owner.address, to_wad(8) + 1, mech.address)) \
        == "InsufficientCollateral()"
    assert reverted(chain, lending.tx(mech, "repayOnBehalf", owner.address, to_wad(5000) + 1, mech.address)) \
        == "RepayExceedsDebt()"
    assert reverted(chain, lending.tx(mech, "writeOff", owner.address, to_wad(5000) + 1)) == "RepayExceedsDebt()"
    market_invariants(market, owners)


# --- flash lender -------------------------------------------------------------------------------

def test_flash_loan_to_an_account_without_code_reverts(market, keepers):
    flash = market.flash
    before = market.usd.call("balanceOf", flash.address)
    assert before == flash.call("maxFlashLoan") == to_wad(100_000_000)
    block = execute(market.chain, [flash.tx(keepers[0], "flashLoan", keepers[0].address, to_wad(1000), b"")],
                    require_success=False)
    assert block.receipts[0].status == 0
    assert market.usd.call("balanceOf", flash.address) == before
    assert market.usd.call("balanceOf", keepers[0].address) == 0
    assert flash.call("feesEarned") == 0
    assert reverted(market.chain, flash.tx(keepers[0], "flashLoan", keepers[0].address, before + 1, b"")) \
        == "ExceedsMaxLoan()"


@pytest.mark.parametrize("amount, fee", [
    (0, 0), (1, 1), (1999, 1), (2000, 1), (2001, 2), (10_000, 5), (10_001, 6),
    (to_wad(1_000_000), to_wad(500)), (to_wad(1_000_000) + 1, to_wad(500) + 1),
])
def test_flash_fee_is_five_bps_rounded_up(market, amount, fee):
    assert market.flash.call("feeBps") == 5
    assert market.flash.call("flashFee", amount) == fee


# --- token --------------------------------------------------------------------------------------

def test_only_the_minter_can_mint(market, keepers):
    for token in (market.weth, market.usd):
        supply = token.call("totalSupply")
        assert reverted(market.chain, token.tx(keepers[0], "mint", keepers[0].address, 1)) == "NotMinter()"
        assert token.call("totalSupply") == supply
        execute(market.chain, [token.tx(market.deployer, "mint", keepers[0].address, 7)])
        assert token.call("totalSupply") == supply + 7
        assert token.call("balanceOf", keepers[0].address) == 7


def test_transfers_conserve_supply(market, keepers):
    usd = market.usd
    a, b, c = keepers[:3]
    execute(market.chain, fund_requests(market, a, usd_wei=to_wad(100)))
    supply = usd.call("totalSupply")
    parties = [a.address, b.address, c.address]
    total = sum(usd.call("balanceOf", p) for p in parties)
    execute(market.chain, [
        usd.tx(a, "transfer", b.address, to_wad(30)),
        usd.tx(b, "approve", c.address, to_wad(10)),
        usd.tx(c, "transferFrom", b.address, c.address, to_wad(10)),
        usd.tx(a, "transfer", a.address, to_wad(5)),  # self-transfer
    ])
    assert [usd.call("balanceOf", p) for p in parties] == [to_wad(70), to_wad(20), to_wad(10)]
    assert sum(usd.call("balanceOf", p) for p in parties) == total
    assert usd.call("totalSupply") == supply
    assert usd.call("allowance", b.address, c.address) == 0
    assert reverted(market.chain, usd.tx(c, "transferFrom", b.address, c.address, 1)) == "InsufficientAllowance()"
    assert reverted(market.chain, usd.tx(c, "transfer", a.address, to_wad(10) + 1)) == "InsufficientBalance()"
    assert usd.call("totalSupply") == supply
