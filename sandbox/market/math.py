"""Python mirrors of on-chain formulas, for tests that compare them and for agents' estimates."""

from __future__ import annotations

from sandbox.units import BPS, WAD

MAX_UINT = 2**256 - 1


def collateral_value(collateral: int, price_wad: int, held_collateral: int = 0,
                     held_debt_asset: int = 0) -> int:
    """USD value (WAD) of a position's collateral, including what a mechanism holds for it."""
    return (collateral + held_collateral) * price_wad // WAD + held_debt_asset


def health_factor_wad(collateral: int, debt: int, price_wad: int, liquidation_threshold_wad: int,
                      held_collateral: int = 0, held_debt_asset: int = 0) -> int:
    """HF = collateral value × liquidation threshold / debt (WAD); max uint when debt is zero."""
    if debt == 0:
        return MAX_UINT
    value = collateral_value(collateral, price_wad, held_collateral, held_debt_asset)
    return value * liquidation_threshold_wad // debt


def amm_amount_out(amount_in: int, reserve_in: int, reserve_out: int, fee_bps: int) -> int:
    """Constant-product output after the fee, rounded down (Uniswap v2 formula)."""
    scaled = amount_in * (BPS - fee_bps)
    return scaled * reserve_out // (reserve_in * BPS + scaled)
