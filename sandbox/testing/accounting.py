"""Accounting checks every mechanism's tests share: debt identity and token conservation on the
lending market (used by the conformance suite and by the project's own tests)."""

from __future__ import annotations

from typing import Iterable

from sandbox.chain import BlockResult, execute
from sandbox.market import Market


def holdings(market: Market, addresses: Iterable[str]) -> dict[str, tuple[int, int]]:
    """(WETH, USD) balance of each address."""
    return {a: (market.weth.call("balanceOf", a), market.usd.call("balanceOf", a)) for a in addresses}


def assert_tokens_conserved(market: Market, before: dict, after: dict) -> None:
    """Across the listed parties the WETH and USD totals are unchanged, and so are total supplies."""
    assert set(before) == set(after)
    assert sum(w for w, _ in before.values()) == sum(w for w, _ in after.values()), "WETH not conserved"
    assert sum(u for _, u in before.values()) == sum(u for _, u in after.values()), "USD not conserved"


def liquidation_flows(blocks: Iterable[BlockResult], market: Market) -> dict[str, int]:
    """Debt repaid by liquidation and debt written off, summed from the market's own events."""
    repaid = written_off = 0
    for block in blocks:
        for log in block.logs:
            if log.address != market.lending.address:
                continue
            if log.name == "LiquidationRepaid":
                repaid += log.args["amount"]
            elif log.name == "BadDebtWrittenOff":
                written_off += log.args["amount"]
    return {"repaid": repaid, "written_off": written_off}


def assert_debt_identity(debt_before: int, debt_after: int, flows: dict[str, int]) -> None:
    """Debt repaid + debt written off + remaining debt = debt before."""
    assert flows["repaid"] + flows["written_off"] + debt_after == debt_before, (
        f"repaid {flows['repaid']} + written off {flows['written_off']} + remaining {debt_after}"
        f" != before {debt_before}")


class Checked:
    """Sends blocks and asserts, around each one, the debt identity and that tokens are conserved
    between the borrowers, keepers, the protocol (market, treasury, mechanism contract), the AMM
    and any ``extra`` party (an operator, an arbitrageur, a keeper contract)."""

    def __init__(self, market: Market, mech, borrowers, keepers, extra=()):
        self.market, self.mech = market, mech
        self.parties = [*(a.address for a in borrowers), *(k.address for k in keepers),
                        market.lending.address, market.treasury.address, mech.contract.address,
                        market.amm.address, *extra]

    def send(self, requests, timestamp=None, require_success=True) -> BlockResult:
        m = self.market
        before = holdings(m, self.parties)
        debt_before = m.lending.call("totalDebt")
        block = execute(m.chain, requests, timestamp=timestamp, require_success=require_success)
        assert_debt_identity(debt_before, m.lending.call("totalDebt"), liquidation_flows([block], m))
        assert_tokens_conserved(m, before, holdings(m, self.parties))
        return block
