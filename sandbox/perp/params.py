"""Frozen, validated parameters of the perpetual market and of its liquidation mechanisms.

Fractions are in basis points (floats allowed, converted to WAD exactly through Decimal),
amounts in USD or WETH, times in seconds: the unit is in every field name.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sandbox.mechanisms.base import MechanismParams
from sandbox.mechanisms.dutch_auction import CURVES
from sandbox.units import BPS, RAY, WAD, to_wad


def bps_wad(bps: float | int) -> int:
    """A fraction in basis points as a WAD integer, exact for decimal inputs (0.125 bps ok)."""
    return int(Decimal(str(bps)) * WAD / BPS)


def _fraction(name: str, value: float, lo: float = 0, hi: float = BPS, hi_open: bool = False) -> None:
    if not (lo <= value < hi if hi_open else lo <= value <= hi):
        raise ValueError(f"{name} must be in [{lo}, {hi}{')' if hi_open else ']'}, got {value}")


@dataclass(frozen=True)
class PerpParams(MechanismParams):
    """The market's risk parameters, venue depth and the funds seeded at set-up.

    Defaults and their sources:
    - IMF 10% / MMF 5% (10× maximum leverage): dYdX Chain's liquidity tier 1 (initial margin
      100,000 ppm, maintenance fraction 50% of it; docs.dydx.community, governance "Markets").
    - Mark = index (weight 0): dYdX and Perpetual Protocol v2 mark margins to the oracle, which
      Perp v2 names as what keeps liquidation selling from cascading through the mark; a weight
      > 0 leans the mark on the venue price so a liquidation's trade can reach other accounts.
    - Funding hourly (dYdX, Perp v1, many DEXs; Binance and BitMEX every 8 h), Binance's shape
      F = P + clamp(r − P, ±0.05%) with r = 0.01% per 8 h (0.125 bps per hour), capped at
      0.75 × MMR (Binance's capped funding rate).
    - Vol margin (off by default): RiskMetrics λ = 0.94; MMF = clamp(3 σ √4, 5%, 25%).
    """

    initial_price_usd: float = 2000.0
    oracle_delay_seconds: int = 0
    venue_depth_weth: float = 10_000.0  # virtual base reserve of the vAMM
    initial_margin_bps: float = 1000
    maintenance_margin_bps: float = 500
    max_open_accounts: int = 128  # accounts with a position (bounds funding and ADL loops)
    mark_weight_bps: float = 0
    max_mark_premium_bps: float = 500
    funding_interval_seconds: int = 3600
    funding_interest_bps: float = 0.125  # per interval
    funding_band_bps: float = 5
    funding_cap_bps: float = 375  # per interval
    insurance_fund_usd: float = 1_000_000.0
    vol_margin: bool = False
    vol_lambda_bps: float = 9400
    vol_multiplier: float = 3.0
    vol_horizon_updates: int = 4
    vol_mmf_floor_bps: float = 500
    vol_mmf_cap_bps: float = 2500
    vol_initial_sigma_bps: float = 50  # per update

    def validate(self) -> None:
        if not self.initial_price_usd > 0:
            raise ValueError(f"initial_price_usd must be positive, got {self.initial_price_usd}")
        if self.oracle_delay_seconds < 0:
            raise ValueError("oracle_delay_seconds must be >= 0")
        if not self.venue_depth_weth > 0:
            raise ValueError(f"venue_depth_weth must be positive, got {self.venue_depth_weth}")
        if not 0 < self.maintenance_margin_bps < self.initial_margin_bps <= BPS:
            raise ValueError("need 0 < maintenance_margin_bps < initial_margin_bps <= 10000, got "
                             f"{self.maintenance_margin_bps} and {self.initial_margin_bps}")
        if self.max_open_accounts <= 0:
            raise ValueError(f"max_open_accounts must be positive, got {self.max_open_accounts}")
        _fraction("mark_weight_bps", self.mark_weight_bps)
        if self.max_mark_premium_bps < 0:
            raise ValueError("max_mark_premium_bps must be >= 0")
        if self.funding_interval_seconds <= 0:
            raise ValueError("funding_interval_seconds must be positive")
        if self.funding_band_bps < 0 or self.funding_cap_bps < 0:
            raise ValueError("funding_band_bps and funding_cap_bps must be >= 0")
        if self.insurance_fund_usd < 0:
            raise ValueError("insurance_fund_usd must be >= 0")
        if self.vol_margin:
            _fraction("vol_lambda_bps", self.vol_lambda_bps, hi_open=True)
            if self.vol_multiplier <= 0 or self.vol_horizon_updates <= 0:
                raise ValueError("vol_multiplier and vol_horizon_updates must be positive")
            if not 0 < self.vol_mmf_floor_bps <= self.vol_mmf_cap_bps < BPS:
                raise ValueError("need 0 < vol_mmf_floor_bps <= vol_mmf_cap_bps < 10000")
            if self.vol_initial_sigma_bps < 0:
                raise ValueError("vol_initial_sigma_bps must be >= 0")

    # --- on-chain units --------------------------------------------------------------
    @property
    def imf_wad(self) -> int:
        return bps_wad(self.initial_margin_bps)

    @property
    def mmf_wad(self) -> int:
        return bps_wad(self.maintenance_margin_bps)

    @property
    def initial_variance_wad(self) -> int:
        sigma = bps_wad(self.vol_initial_sigma_bps)
        return sigma * sigma // WAD

    def constructor_tail(self) -> tuple:
        """PerpMarket's constructor arguments after (usd, oracle, treasury)."""
        return (
            [to_wad(self.venue_depth_weth), self.imf_wad, self.mmf_wad, self.max_open_accounts],
            [bps_wad(self.mark_weight_bps), bps_wad(self.max_mark_premium_bps)],
            self.funding_interval_seconds,
            [bps_wad(self.funding_interest_bps), bps_wad(self.funding_band_bps), bps_wad(self.funding_cap_bps)],
            [1 if self.vol_margin else 0, bps_wad(self.vol_lambda_bps), to_wad(self.vol_multiplier),
             self.vol_horizon_updates, bps_wad(self.vol_mmf_floor_bps), bps_wad(self.vol_mmf_cap_bps),
             self.initial_variance_wad],
        )


@dataclass(frozen=True)
class PerpFixedFeeParams(MechanismParams):
    """Perpetual Protocol v1: 25% partial liquidations while the margin ratio is above 2.5% (40%
    of its 6.25% maintenance), keeper 1.25% of the closed notional; a 1% liquidation fee to the
    insurance fund (MCDEX: 1% insurance + 1.5% keeper); the whole position below $2,000 (Aave
    v3.3's threshold); no remainder below $1,000 (Aave v3.3's dust)."""

    close_factor_bps: int = 2500
    full_close_health_bps: int = 4000  # equity / MM at or below this: close 100%
    full_close_below_usd: float = 2000.0
    keeper_fee_bps: int = 125
    insurance_fee_bps: int = 100
    dust_usd: float = 1000.0

    def validate(self) -> None:
        _fraction("close_factor_bps", self.close_factor_bps, lo=1)
        _fraction("full_close_health_bps", self.full_close_health_bps)
        if self.keeper_fee_bps < 0 or self.insurance_fee_bps < 0 or self.keeper_fee_bps + self.insurance_fee_bps > BPS:
            raise ValueError("keeper_fee_bps and insurance_fee_bps must be >= 0 and sum to <= 10000")
        if self.full_close_below_usd < 0 or self.dust_usd < 0:
            raise ValueError("full_close_below_usd and dust_usd must be >= 0")

    def constructor_params(self) -> list[int]:
        return [self.close_factor_bps, self.full_close_health_bps, to_wad(self.full_close_below_usd),
                self.keeper_fee_bps, self.insurance_fee_bps, to_wad(self.dust_usd)]


@dataclass(frozen=True)
class PerpPrivateParams(PerpFixedFeeParams):
    """Fixed-fee terms plus the order-flow auction of the lending `private` mechanism: 80% of the
    bid to the protocol (API3's OEV share), a one-block exclusive window."""

    protocol_share_bps: int = 8000
    open_delay_seconds: int = 12

    def validate(self) -> None:
        super().validate()
        _fraction("protocol_share_bps", self.protocol_share_bps)
        if self.open_delay_seconds <= 0:
            raise ValueError("open_delay_seconds must be > 0")


@dataclass(frozen=True)
class PerpDutchAuctionParams(MechanismParams):
    """Maker's abacus and incentives (stairstep 0.99 every 90 s, tail 140 min, chip 0.1%) with the
    start and reset points scaled to a position: a perp at MM has 5% of its notional as equity,
    not a vault's 13% penalty cushion, so top = mark × (1 ± 2%) and a reset once the factor has
    fallen 15% (cusp 0.85). Penalty 1% of the taken notional to the insurance fund; tip $50 so
    the 1% penalty pays the reward from the $5,000 dust up."""

    buf_bps: int = 200
    tail_seconds: int = 8400
    cusp_bps: int = 8500
    penalty_bps: int = 100
    dust_usd: float = 5000.0
    tip_usd: float = 50.0
    chip_bps: float = 10
    curve: str = "stairstep-exponential"
    cut_bps: int = 9900
    step_seconds: int = 90
    tau_seconds: int = 7200
    incentive_reserve_usd: float = 100_000.0

    def validate(self) -> None:
        _fraction("buf_bps", self.buf_bps, hi_open=True)
        _fraction("cusp_bps", self.cusp_bps)
        _fraction("penalty_bps", self.penalty_bps)
        _fraction("chip_bps", self.chip_bps)
        _fraction("cut_bps", self.cut_bps, lo=1)
        if self.curve not in CURVES:
            raise ValueError(f"curve must be one of {', '.join(CURVES)}, got {self.curve!r}")
        if self.tail_seconds <= 0 or self.step_seconds <= 0 or self.tau_seconds <= 0:
            raise ValueError("tail_seconds, step_seconds and tau_seconds must be positive")
        if self.dust_usd < 0 or self.tip_usd < 0 or self.incentive_reserve_usd < 0:
            raise ValueError("dust_usd, tip_usd and incentive_reserve_usd must be >= 0")

    @property
    def curve_id(self) -> int:
        return CURVES[self.curve]

    @property
    def cut_ray(self) -> int:
        return self.cut_bps * RAY // BPS

    def constructor_params(self) -> tuple:
        return ([bps_wad(self.buf_bps), self.tail_seconds, bps_wad(self.cusp_bps), self.penalty_bps,
                 to_wad(self.dust_usd)],
                [to_wad(self.tip_usd), bps_wad(self.chip_bps)],
                self.curve_id,
                [self.cut_ray, self.step_seconds, self.tau_seconds])


@dataclass(frozen=True)
class PerpSoftParams(MechanismParams):
    """Trim back to MM × 1.1, at most 25% of the position per call and block (Perp v1's partial
    liquidation size), 0.5% of the slice to the caller, nothing to the insurance fund."""

    buffer_bps: int = 1000
    max_slice_bps: int = 2500
    keeper_fee_bps: int = 50
    insurance_fee_bps: int = 0
    dust_usd: float = 1000.0

    def validate(self) -> None:
        if self.buffer_bps < 0:
            raise ValueError("buffer_bps must be >= 0")
        _fraction("max_slice_bps", self.max_slice_bps, lo=1)
        if self.keeper_fee_bps < 0 or self.insurance_fee_bps < 0 or self.keeper_fee_bps + self.insurance_fee_bps > BPS:
            raise ValueError("keeper_fee_bps and insurance_fee_bps must be >= 0 and sum to <= 10000")
        if self.dust_usd < 0:
            raise ValueError("dust_usd must be >= 0")

    def constructor_params(self) -> list[int]:
        return [self.buffer_bps, self.max_slice_bps, self.keeper_fee_bps, self.insurance_fee_bps,
                to_wad(self.dust_usd)]
