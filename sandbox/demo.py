"""Smoke demo: open positions, move the oracle, and watch health factors through the lens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from sandbox.chain import PyEVMChain, execute
from sandbox.market import MarketParams, deploy_market
from sandbox.market.actions import open_positions
from sandbox.units import WAD, from_wad, to_wad


@dataclass(frozen=True)
class DemoRow:
    price_usd: float
    health_factors: tuple[float, ...]
    liquidatable: int


def run_demo(seed: int = 0, borrowers: int = 8, steps: int = 6, drop: float = 0.30,
             echo: Callable[[str], None] = print) -> list[DemoRow]:
    rng = np.random.default_rng(seed)
    labels = ["deployer", "oracle", "treasury"] + [f"borrower-{i}" for i in range(borrowers)]
    chain = PyEVMChain(seed=seed, accounts=labels)
    market = deploy_market(chain, MarketParams())
    people = [chain.account(f"borrower-{i}") for i in range(borrowers)]
    collateral = [round(float(x), 3) for x in rng.lognormal(mean=2.0, sigma=0.8, size=borrowers)]
    ltv = [int(x) for x in rng.integers(5_000, 8_000, size=borrowers)]
    price = market.price()
    open_positions(market, [(who, to_wad(c), to_wad(c) * price // WAD * ltv_bps // 10_000)
                            for who, c, ltv_bps in zip(people, collateral, ltv, strict=True)])
    echo(f"chain: {chain.backend_name}, block {chain.block_number}; market {market.lending.address}")
    echo("borrower  collateral(WETH)  LTV")
    for i, (c, ltv_bps) in enumerate(zip(collateral, ltv, strict=True)):
        echo(f"  {i:>6}  {c:>15.3f}  {ltv_bps / 100:.1f}%")
    start = market.params.initial_price_usd
    rows = []
    header = "price(USD)  " + "  ".join(f"HF#{i:<3}" for i in range(borrowers)) + "  liquidatable"
    echo(header)
    for k in range(steps + 1):
        price_usd = start * (1 - drop * k / steps)
        if k:
            execute(chain, [market.oracle.tx(market.oracle_updater, "submit", to_wad(round(price_usd, 6)))],
                    timestamp=chain.timestamp + 12)
        views = market.positions([p.address for p in people])
        hfs = tuple(from_wad(v.health_factor_wad) for v in views)
        n_liq = sum(v.is_liquidatable for v in views)
        rows.append(DemoRow(price_usd=price_usd, health_factors=hfs, liquidatable=n_liq))
        echo(f"{price_usd:>10.2f}  " + "  ".join(f"{hf:6.3f}" for hf in hfs) + f"  {n_liq:>12}")
    return rows
