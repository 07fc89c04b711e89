"""What keepers' proceeds on the lending market are worth: USD at face value, WETH sold on the AMM."""

from __future__ import annotations

from typing import Sequence

from sandbox.legs import Leg, amount_of
from sandbox.units import BPS

from .math import amm_amount_out

NUMERAIRE = "USD"  # the debt asset: what keepers pay with and count profit in
COLLATERAL = "WETH"


class AmmValuer:
    """A ``sandbox.mechanisms.Valuer`` over the constant-product AMM with ``reserves`` =
    (WETH, USD): WETH is worth what selling it there yields (fee included), USD its face value;
    ``take`` moves the reserves as the sale would."""

    def __init__(self, reserves: tuple[int, int], fee_bps: int):
        self.weth, self.usd = int(reserves[0]), int(reserves[1])
        self.fee_bps = fee_bps

    def _sale(self, weth: int) -> int:
        return amm_amount_out(weth, self.weth, self.usd, self.fee_bps) if weth > 0 else 0

    def value(self, of: Sequence[Leg]) -> int:
        return amount_of(of, NUMERAIRE) + self._sale(amount_of(of, COLLATERAL))

    def amount_for(self, asset: str, value: int) -> int | None:
        if asset == NUMERAIRE:
            return value
        if asset != COLLATERAL or value >= self.usd:
            return None
        # the least WETH w with w(BPS − fee)·usd / (weth·BPS + w(BPS − fee)) >= value
        return -(-self.weth * value * BPS // ((self.usd - value) * (BPS - self.fee_bps)))

    def take(self, of: Sequence[Leg]) -> None:
        weth = amount_of(of, COLLATERAL)
        out = self._sale(weth)
        self.weth += weth
        self.usd -= out
