"""Accounting checks every mechanism's tests share: debt identity and token conservation."""

from __future__ import annotations

from typing import Iterable

from sandbox.chain import BlockResult
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
