"""The borrower population a ``BorrowerSpec`` draws: one rule, used by the borrowers who open the
positions (``sandbox.agents.borrowers``) and by the scenario's checks that need the smallest debt
a borrower can owe (``smallest_debt_wad``), so the two cannot disagree."""

from __future__ import annotations

import numpy as np

from sandbox.units import BPS, WAD

from .schema import BorrowerSpec

MICRO_WAD = 10**12  # collateral drawn in floats is rounded to 1e-6 WETH before scaling to WAD


def draw_population(spec: BorrowerSpec, rng: np.random.Generator, start_price_wad: int,
                    max_ltv_bps: int, min_borrow_wad: int = 0) -> list[tuple[int, int]]:
    """``spec.count`` (collateral_wei, debt_wei) pairs drawn from ``rng``, integer WAD.

    Collateral ~ lognormal(ln(median), sigma); target LTV ~ uniform integer bps in
    [ltv_min_bps, min(ltv_max_bps, max_ltv_bps)]; debt = collateral × price × LTV, rounded down
    (so the market's max-LTV check at ``start_price_wad`` always passes). A position whose debt
    would fall below the market's ``min_borrow_wad`` is scaled up, at its LTV, to borrow exactly
    that minimum (the market refuses smaller debts). Collaterals are drawn first, then LTVs, so
    the table depends only on the spec and the generator's state.
    """
    if start_price_wad <= 0:
        raise ValueError(f"start_price_wad must be > 0, got {start_price_wad}")
    if not 0 < max_ltv_bps < BPS:
        raise ValueError(f"max_ltv_bps must be in (0, 10000), got {max_ltv_bps}")
    n = spec.count
    sizes = rng.lognormal(mean=float(np.log(spec.collateral_weth_median)),
                          sigma=float(spec.collateral_weth_sigma), size=n)
    hi = min(spec.ltv_max_bps, max_ltv_bps)
    lo = min(spec.ltv_min_bps, hi)
    ltvs = rng.integers(lo, hi + 1, size=n)
    out = []
    for size, ltv in zip(sizes, ltvs, strict=True):
        collateral = max(1, int(round(float(size) * 1e6))) * MICRO_WAD
        debt = collateral * start_price_wad // WAD * int(ltv) // BPS
        if debt < min_borrow_wad:
            per_micro = MICRO_WAD * start_price_wad // WAD * int(ltv) // BPS  # debt of 1e-6 WETH
            micros = -(-min_borrow_wad // per_micro) if per_micro else 0
            collateral = max(collateral, micros * MICRO_WAD)  # floor(k·x) >= k·floor(x): LTV holds
            debt = min_borrow_wad
        out.append((collateral, debt))
    return out
