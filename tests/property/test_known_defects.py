"""Stale quotes, found by the stress property tests: a mechanism sizes its opportunities at the
oracle price in force at the head block, but the call executes in the next block, under the
price in force then. With an oracle delay a round already submitted (keepers can see it:
``latestSubmitted``) comes into force in between, so the price moves every block while the market
moves.

Fixed-fee (fixed): a liquidation taking all the collateral asked to repay exactly what buys it at
the old price; a little higher and less than all was seized, leaving dust (``DustRemaining``).
It now asks with room and the contract takes the whole collateral for what it is worth then.

Absorb (a known defect, pinned as a strict expected failure: once fixed the test passes, the
strict marker turns that into a failure, and the marker and the matching
``STALE_QUOTE_REVERTS`` excuse in ``tests/property/stress.py`` must go): keepers buy the whole
inventory with ``minAmount`` = the quote at the old price: higher and the quote is short
(``TooMuchSlippage``), lower and it is more than the inventory (``InsufficientInventory``). In
the stress examples the keepers' transactions reverted this way block after block (up to 12 in
one run)."""

from __future__ import annotations

import pytest

from sandbox.chain import execute, open_chain
from sandbox.market import MarketParams, deploy_market
from sandbox.market.actions import fund_requests, open_positions
from sandbox.mechanisms import get_mechanism
from sandbox.units import to_wad

pytestmark = pytest.mark.property

DELAY = 60
STALE = ("absorb sizes the whole-inventory buy at the price in force at the head block, not at the next "
         "block's (sandbox/mechanisms/absorb.py opportunities and encode, not changed here)")


def _world(name: str):
    chain = open_chain("eth-tester", seed=11, accounts=["deployer", "oracle", "treasury", "victim", "keeper"])
    market = deploy_market(chain, MarketParams(oracle_delay_seconds=DELAY))
    mech = get_mechanism(name).deploy(market)
    keeper, victim = chain.account("keeper"), chain.account("victim")
    execute(chain, fund_requests(market, keeper, usd_wei=to_wad(10_000_000), approve=[mech.spender]))
    open_positions(market, [(victim, to_wad(10), to_wad(15_300))])
    return chain, market, mech, keeper, victim


def _price_in_force(chain, market, price):
    """Submit ``price`` and let it come into force."""
    execute(chain, [market.oracle.tx(market.oracle_updater, "submit", price)])
    execute(chain, [], timestamp=chain.timestamp + DELAY)


def _next_round_then(chain, market, mech, keeper, call, price):
    """Submit ``price`` now; send ``call`` in the block where it comes into force."""
    execute(chain, [market.oracle.tx(market.oracle_updater, "submit", price)])
    block = execute(chain, [call.request(keeper)], timestamp=chain.timestamp + DELAY, require_success=False)
    return block.receipts[0]


@pytest.mark.parametrize("move", [101, 110], ids=["1% higher", "10% higher"])
def test_a_full_collateral_liquidation_still_lands_when_the_next_round_is_higher(move):
    chain, market, mech, keeper, victim = _world("fixed-fee")
    _price_in_force(chain, market, to_wad(1400))  # HF 0.78: every WETH can go, the debt cannot be covered
    (opp,) = mech.opportunities([victim.address])
    assert opp.received("WETH") >= to_wad(10) * 95 // 100  # (all of it, less the protocol fee)
    receipt = _next_round_then(chain, market, mech, keeper, mech.encode(opp, keeper.address),
                               to_wad(1400) * move // 100)
    assert receipt.succeeded, receipt.revert_reason  # it was DustRemaining(debtLeft=..., collateralValueLeft=...)
    (event,) = [log.args for log in receipt.logs if log.name == "Liquidated"]
    assert event["collateralSeized"] == to_wad(10)  # all of it, repaid at the new price
    assert event["debtRepaid"] > opp.paid("USD")


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=STALE)
@pytest.mark.parametrize("move", [101, 99], ids=["1% higher", "1% lower"])
def test_buying_the_absorbed_inventory_still_lands_when_the_next_round_moves_1_percent(move):
    chain, market, mech, keeper, victim = _world("absorb")
    _price_in_force(chain, market, to_wad(1600))
    execute(chain, [mech.absorb_call(keeper.address, [victim.address]).request(keeper)])
    (opp,) = [o for o in mech.opportunities([victim.address]) if o.action == "buy-collateral"]
    receipt = _next_round_then(chain, market, mech, keeper, mech.encode(opp, keeper.address),
                               to_wad(1600) * move // 100)
    assert receipt.succeeded, receipt.revert_reason  # today: TooMuchSlippage() / InsufficientInventory()
