"""Perp fixtures: a fresh chain per test, a market factory, and a block sender that checks the
market's accounting identity and USD conservation around every block."""

from __future__ import annotations

from math import isqrt

import pytest

from sandbox.chain import BlockResult, PyEVMChain, execute
from sandbox.perp import Perp, PerpParams, check_identity, deploy_perp_market
from sandbox.perp.actions import deposit_tx, fund_requests, trade_tx
from sandbox.units import WAD, to_wad

ROLES = ["deployer", "oracle", "treasury"]
TRADERS = [f"trader-{i}" for i in range(8)]
KEEPERS = ["keeper-0", "keeper-1"]
OTHERS = ["arbitrageur", "auctioneer", "operator"]


@pytest.fixture
def chain() -> PyEVMChain:
    return PyEVMChain(seed=4242, accounts=ROLES + TRADERS + KEEPERS + OTHERS)


@pytest.fixture
def traders(chain):
    return [chain.account(label) for label in TRADERS]


@pytest.fixture
def keepers(chain):
    return [chain.account(label) for label in KEEPERS]


@pytest.fixture
def arber(chain):
    return chain.account("arbitrageur")


@pytest.fixture
def make_perp(chain):
    """deploy_perp_market with PerpParams overrides."""
    def make(**overrides) -> Perp:
        return deploy_perp_market(chain, PerpParams(**overrides))
    return make


class Checked:
    """Sends blocks; after each, asserts the accounting identity over every account that ever
    held margin and that the USD held by every party still adds up to the total supply (and that
    the block minted nothing)."""

    def __init__(self, perp: Perp, extra=()):
        self.perp = perp
        chain = perp.chain
        self.owners = [a.address for a in chain.accounts]
        self.parties = [*self.owners, perp.market.address, *extra]

    def usd_total(self) -> int:
        return sum(self.perp.usd.call("balanceOf", p) for p in self.parties)

    def check(self) -> None:
        check_identity(self.perp, self.owners)
        assert self.usd_total() == self.perp.usd.call("totalSupply"), "USD held outside the listed parties"

    def send(self, requests, timestamp=None, require_success=True) -> BlockResult:
        supply = self.perp.usd.call("totalSupply")
        block = execute(self.perp.chain, requests, timestamp=timestamp, require_success=require_success)
        assert self.perp.usd.call("totalSupply") == supply, "an action block minted USD"
        self.check()
        return block


@pytest.fixture
def perp(make_perp):
    """The market with default parameters (modules override it for other settings)."""
    return make_perp()


@pytest.fixture
def checked(perp):
    return Checked(perp)


def fund(perp: Perp, accounts, usd_wei: int, approve=()) -> None:
    """Set-up: mint and approve (not checked: minting changes the supply)."""
    execute(perp.chain, [r for a in accounts for r in fund_requests(perp, a, usd_wei, approve)])


def open_position(checked: Checked, account, margin: int, size: int, timestamp=None) -> BlockResult:
    """Fund, then (checked) deposit ``margin`` and trade ``size``."""
    fund(checked.perp, [account], margin)
    reqs = [deposit_tx(checked.perp, account, margin)]
    if size:
        reqs.append(trade_tx(checked.perp, account, size))
    return checked.send(reqs, timestamp=timestamp)


def move_venue_to(checked: Checked, arber, target_price: int) -> BlockResult | None:
    """The arbitrageur trades the venue to (about) ``target_price``: x·y = k gives
    base = sqrt(k / price). It is given ample margin first."""
    perp = checked.perp
    k = perp.venue.call("k")
    base = perp.venue.call("baseReserve")
    target_base = isqrt(k * WAD // target_price)
    delta = base - target_base  # buy (positive) moves the price up
    if delta == 0:
        return None
    margin, *_ = perp.raw(arber.address)
    if margin < to_wad(10_000_000):
        fund(perp, [arber], to_wad(10_000_000))
        checked.send([deposit_tx(perp, arber, to_wad(10_000_000))])
    return checked.send([trade_tx(perp, arber, delta)])


def events(block: BlockResult, name: str, address=None) -> list[dict]:
    return [log.args for log in block.logs if log.name == name and (address is None or log.address == address)]
