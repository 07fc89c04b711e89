"""A mechanism declares its dust (``LiquidationMechanism.dust_wad``) and the market learns it at
deploy: a position at the dust opens, one a wei below is refused, on every built-in mechanism."""

from __future__ import annotations

import pytest

from sandbox.chain import execute
from sandbox.market.actions import MAX_UINT, fund_requests
from sandbox.mechanisms import MECHANISMS

LENDING = [n for n in MECHANISMS.names() if "lending" in MECHANISMS.load(n).markets]


@pytest.mark.parametrize("name", LENDING)
def test_deploy_tells_the_market_the_mechanisms_dust(market, name):
    cls = MECHANISMS.load(name).variant_for("lending")
    mech = cls.deploy(market)
    assert market.lending.call("mechanismDust") == cls.dust_wad(mech.params)


def test_the_auctions_declare_the_dust_their_contracts_refuse_below():
    for name in ("dutch-auction", "english-auction"):
        cls = MECHANISMS.load(name)
        params = cls.default_params()
        assert cls.dust_wad(params) == params.dust_wad > 0


@pytest.mark.parametrize("name", ["dutch-auction", "english-auction"])
def test_a_position_at_the_dust_opens_and_one_below_it_does_not(market, borrowers, name):
    cls = MECHANISMS.load(name)
    mech = cls.deploy(market)
    dust = cls.dust_wad(mech.params)
    alice, bob = borrowers[0], borrowers[1]
    lending = market.lending
    execute(market.chain, [r for b in (alice, bob) for r in fund_requests(market, b, weth_wei=10**19)
                           + [market.weth.tx(b, "approve", lending.address, MAX_UINT)]])
    block = execute(market.chain, [lending.tx(alice, "open", 10**19, dust, gas=1_000_000),
                                   lending.tx(bob, "open", 10**19, dust - 1, gas=1_000_000)],
                    require_success=False)
    assert block.receipts[0].succeeded
    assert block.receipts[1].revert_reason == f"BelowMinimumBorrow(debt={dust - 1}, minimum={dust})"
    assert lending.call("debtOf", alice.address) == dust and lending.call("debtOf", bob.address) == 0
