"""Borrower-side set-up actions used by the demo, tests and agents."""

from __future__ import annotations

from typing import Sequence

from sandbox.chain import Account, TxRequest, execute_all

from .deploy import Market

MAX_UINT = 2**256 - 1


def open_position_requests(market: Market, borrower: Account, collateral_wei: int,
                           debt_wei: int) -> list[TxRequest]:
    """Mint WETH to ``borrower`` (set-up only), approve the market and open the position."""
    return [
        market.weth.tx(market.deployer, "mint", borrower.address, collateral_wei),
        market.weth.tx(borrower, "approve", market.lending.address, MAX_UINT),
        market.usd.tx(borrower, "approve", market.lending.address, MAX_UINT),
        # open() runs the mechanism's hook: spreading collateral over 50 soft-liquidation
        # bands costs ~700k gas, so give it room (only gas used is paid).
        market.lending.tx(borrower, "open", collateral_wei, debt_wei, gas=1_000_000),
    ]


def open_positions(market: Market, positions: Sequence[tuple[Account, int, int]]) -> None:
    """Open ``(borrower, collateral_wei, debt_wei)`` positions in as few blocks as gas allows."""
    requests: list[TxRequest] = []
    for borrower, collateral, debt in positions:
        requests += open_position_requests(market, borrower, collateral, debt)
    execute_all(market.chain, requests)


def set_price(market: Market, price_wad: int, timestamp: int | None = None) -> None:
    """The oracle updater submits ``price_wad`` in its own block."""
    from sandbox.chain import execute

    execute(market.chain, [market.oracle.tx(market.oracle_updater, "submit", price_wad)],
            timestamp=timestamp)


def fund_requests(market: Market, account: Account, usd_wei: int = 0, weth_wei: int = 0,
                  approve: Sequence[str] = ()) -> list[TxRequest]:
    """Set-up minting of USD/WETH to ``account`` plus unlimited approvals to ``approve``."""
    requests = []
    if usd_wei:
        requests.append(market.usd.tx(market.deployer, "mint", account.address, usd_wei))
    if weth_wei:
        requests.append(market.weth.tx(market.deployer, "mint", account.address, weth_wei))
    for spender in approve:
        requests.append(market.usd.tx(account, "approve", spender, MAX_UINT))
        requests.append(market.weth.tx(account, "approve", spender, MAX_UINT))
    return requests
