"""Trader and operator actions on the perpetual market, as unsigned transactions (and a few
set-up helpers that execute them in one block)."""

from __future__ import annotations

from typing import Sequence

from sandbox.chain import Account, BlockResult, TxRequest, execute

from .deploy import MAX_UINT, Perp

# A trade or withdrawal may first settle the funding due for every open account (two loops
# over at most max_open_accounts): give it room; only the gas used is paid.
TRADE_GAS = 4_000_000


def fund_requests(perp: Perp, account: Account, usd_wei: int = 0,
                  approve: Sequence[str] = ()) -> list[TxRequest]:
    """Set-up minting of USD to ``account`` and unlimited approvals to the market and ``approve``."""
    requests = [perp.usd.tx(perp.deployer, "mint", account.address, usd_wei)] if usd_wei else []
    for spender in (perp.market.address, *approve):
        requests.append(perp.usd.tx(account, "approve", spender, MAX_UINT))
    return requests


def deposit_tx(perp: Perp, account: Account, amount: int) -> TxRequest:
    return perp.market.tx(account, "deposit", amount)


def withdraw_tx(perp: Perp, account: Account, amount: int) -> TxRequest:
    return perp.market.tx(account, "withdraw", amount, gas=TRADE_GAS)


def trade_tx(perp: Perp, account: Account, size_delta: int, price_limit: int = 0) -> TxRequest:
    """Buy (``size_delta`` > 0) or sell WETH of perpetual on the venue: opens, increases,
    reduces, closes or flips the account's position."""
    return perp.market.tx(account, "trade", size_delta, price_limit, gas=TRADE_GAS)


def close_tx(perp: Perp, account: Account, price_limit: int = 0) -> TxRequest:
    """Trade the account's whole position away (size read now)."""
    _, size, _, _ = perp.raw(account.address)
    if size == 0:
        raise ValueError(f"{account.label} has no position to close")
    return trade_tx(perp, account, -size, price_limit)


def settle_funding_tx(perp: Perp, sender: Account) -> TxRequest:
    return perp.market.tx(sender, "settleFunding", gas=TRADE_GAS)


def open_accounts(perp: Perp, positions: Sequence[tuple[Account, int, int]],
                  timestamp: int | None = None) -> BlockResult:
    """Set-up: mint and deposit ``margin`` USD for each ``(account, margin, size)``, then trade
    ``size``, all in one block, in order."""
    requests: list[TxRequest] = []
    for account, margin, size in positions:
        requests += fund_requests(perp, account, margin)
        requests.append(deposit_tx(perp, account, margin))
        if size:
            requests.append(trade_tx(perp, account, size))
    return execute(perp.chain, requests, timestamp=timestamp)


def set_index_price(perp: Perp, price_wad: int, timestamp: int | None = None,
                    update_volatility: bool = False) -> BlockResult:
    """The oracle updater submits ``price_wad``; with ``update_volatility`` it also folds the new
    round into the vol margin in the same block (vol margin on, no oracle delay)."""
    requests = [perp.oracle.tx(perp.oracle_updater, "submit", price_wad)]
    if update_volatility:
        requests.append(perp.market.tx(perp.oracle_updater, "updateVolatility"))
    return execute(perp.chain, requests, timestamp=timestamp)
