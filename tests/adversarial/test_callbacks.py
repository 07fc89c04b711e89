"""Every way a contract of the sandbox hands control to an address someone chose, and what an
attacker at that address can do with it: nothing that moves funds.

The sandbox's tokens have no transfer hooks, so control passes only through the interfaces listed
in ``CALLBACKS`` (the Dutch take callback, the flash-loan callback, the market's hook into its
mechanism) and the flash keeper's forwarding call; a test fails when a new one appears untested."""

from __future__ import annotations

import re

import pytest
from lending_world import FALL, build_world, close_worlds

from sandbox.chain import deploy
from sandbox.contracts.build import project_root
from sandbox.units import to_wad

pytestmark = pytest.mark.adversarial


@pytest.fixture(scope="module", autouse=True)
def _worlds_stopped():
    """The worlds this module built stop with it (no idle node for the rest of the session)."""
    yield
    close_worlds()


# interface -> the test of this module (or test_lending_attacks) that attacks through it
CALLBACKS = {
    "IDutchTakeCallee": "test_lending_attacks.py::test_re_entering_the_auction_from_the_take_callback_reverts",
    "IFlashBorrower": "test_a_flash_borrower_cannot_keep_the_loan_even_by_borrowing_again",
    "ILiquidationMechanism": "test_only_the_market_reaches_a_mechanism_and_only_the_mechanism_the_market",
}
FORWARDING_CALLS = {"contracts/keepers/FlashLiquidator.sol": "test_nobody_but_its_owner_drives_the_flash_keeper"}


def _sources() -> dict[str, str]:
    root = project_root()
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted((root / "contracts").rglob("*.sol"))}


def test_every_callback_interface_and_forwarding_call_is_attacked_here():
    sources = _sources()
    interfaces = {m for text in sources.values() for m in re.findall(r"^\s*interface\s+(\w+)", text, re.M)}
    assert interfaces == set(CALLBACKS), "a new callback interface needs its re-entry test"
    forwarding = {path for path, text in sources.items() if re.search(r"\.(delegate)?call\s*[({]", text)}
    assert forwarding == set(FORWARDING_CALLS), "a new low-level call needs its attack test"


@pytest.fixture
def world(suite_report):
    w = build_world("fixed-fee")
    yield w
    suite_report["attacks"].extend(w.seen)


def test_a_flash_borrower_cannot_keep_the_loan_even_by_borrowing_again(world):
    w = world
    flash, loan = w.market.flash, to_wad(1_000_000)
    w.refused("keep a flash loan", w.as_attacker(flash, flash.encode("flashLoan", w.reenterer.address, loan, b"")),
              "RepaymentFailed()")
    # from the callback, borrow again (the inner loan is not repaid either)
    w.ok(w.prime(flash, flash.encode("flashLoan", w.reenterer.address, loan, b"")))
    w.refused("borrow again from the flash-loan callback",
              w.as_attacker(flash, flash.encode("flashLoan", w.reenterer.address, loan, b"")), "RepaymentFailed()")
    # from the callback, use the borrowed USD on a position that is not liquidatable
    w.ok(w.prime(w.c, w.c.encode("liquidate", w.bystander.address, to_wad(1_000))))
    w.set_price(FALL)
    w.refused("liquidate a healthy position with flash-borrowed USD",
              w.as_attacker(flash, flash.encode("flashLoan", w.reenterer.address, loan, b"")), "HealthyPosition()")


def test_nobody_but_its_owner_drives_the_flash_keeper(world):
    """The flash keeper's contract forwards any call its owner gives it, with its USD approved:
    the attacker tries to drive it directly, through the lender, and through its callback."""
    w = world
    m = w.market
    (keeper_contract,) = deploy(w.chain, w.keeper, [("FlashLiquidator", (
        m.flash.address, m.usd.address, m.weth.address, m.amm.address, w.keeper.address))])
    w.ok(m.usd.tx(m.deployer, "mint", keeper_contract.address, to_wad(50_000)))  # profits it holds
    steal = m.usd.encode("transfer", w.attacker.address, to_wad(50_000))
    w.refused("drive someone's flash keeper", keeper_contract.tx(
        w.attacker, "liquidate", m.usd.address, steal, 0, 0, gas=600_000), "NotOwner()")
    w.refused("call the flash keeper's callback directly", keeper_contract.tx(
        w.attacker, "onFlashLoan", w.attacker.address, m.usd.address, 0, 0,
        _abi_pair(m.usd.address, steal), gas=600_000), "NotLender()")
    w.refused("lend to the flash keeper to run one's own call in its callback", m.flash.tx(
        w.attacker, "flashLoan", keeper_contract.address, to_wad(1), _abi_pair(m.usd.address, steal),
        gas=600_000), "UntrustedInitiator()")


def test_the_test_take_callee_serves_only_its_liquidator(suite_report):
    w = build_world("dutch-auction")
    m = w.market
    (callee,) = deploy(w.chain, w.keeper, [("DutchTakeTestCallee", (
        w.c.address, m.amm.address, m.weth.address, m.usd.address))])
    w.ok(m.usd.tx(m.deployer, "mint", callee.address, to_wad(50_000)))
    w.refused("call the take callee directly", callee.tx(
        w.attacker, "dutchTakeCall", w.attacker.address, to_wad(50_000), 0,
        _abi_pair(w.attacker.address, 0), gas=600_000), "NotLiquidator()")
    suite_report["attacks"].extend(w.seen)


MARKET_PRIMITIVES = [("seizeCollateral", lambda w: (w.victim.address, 1, w.attacker.address)),
                     ("repayOnBehalf", lambda w: (w.victim.address, 1, w.keeper.address)),
                     ("writeOff", lambda w: (w.victim.address, 1)),
                     ("restoreCollateral", lambda w: (w.victim.address, 1, w.keeper.address)),
                     ("setLocked", lambda w: (w.victim.address, True))]


@pytest.mark.parametrize("name", ["fixed-fee", "private", "dutch-auction", "english-auction", "soft", "absorb"])
def test_only_the_market_reaches_a_mechanism_and_only_the_mechanism_the_market(name, suite_report):
    """The market's hook (``onPositionUpdated``) and the market's mechanism-only primitives are
    each other's callbacks: an attacker (an account or its contract) reaches neither, nor can it
    install a second mechanism."""
    w = build_world(name)
    m = w.market
    w.set_price(FALL)
    for sender in (w.attacker, w.victim):
        w.refused(f"call the mechanism's position hook as {sender.label}",
                  w.c.tx(sender, "onPositionUpdated", w.victim.address, gas=600_000), "NotMarket()")
    for fn, args in MARKET_PRIMITIVES:
        w.refused(f"call the market's {fn} as the attacker",
                  m.lending.tx(w.attacker, fn, *args(w), gas=300_000), "NotMechanism()")
        w.refused(f"call the market's {fn} from the attacker's contract",
                  w.as_attacker(m.lending, m.lending.encode(fn, *args(w))), "NotMechanism()")
    w.refused("install another mechanism", m.lending.tx(w.attacker, "installMechanism", w.reenterer.address),
              "NotAdmin()")
    w.refused("install a second mechanism", m.lending.tx(m.deployer, "installMechanism", w.reenterer.address),
              "MechanismAlreadyInstalled()")
    suite_report["attacks"].extend(w.seen)


def _abi_pair(address: str, value) -> bytes:
    from eth_abi import encode

    if isinstance(value, bytes):
        return encode(["address", "bytes"], [address, value])
    return encode(["address", "uint256"], [address, value])
