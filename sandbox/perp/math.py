"""Exact integer mirrors of the perpetual contracts' formulas (``PerpMath``, ``PerpVenue``,
``PerpMarket`` and the mechanisms), for tests that compare them with the chain to the wei and
for agents' estimates. Solidity's signed division truncates toward zero: ``sdiv`` does the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

from sandbox.mechanisms.dutch_auction import exponential_price, linear_price, stairstep_price
from sandbox.units import BPS, WAD

LN2_WAD = 693147180559945309
SQRT2_WAD = 1414213562373095048
LN_TERMS = 11
INT256_MAX = 2**255 - 1


# ------------------------------------------------------------------------------ primitives

def sdiv(a: int, b: int) -> int:
    """a / b truncated toward zero (Solidity's signed division)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def div_up(a: int, b: int) -> int:
    return 0 if a == 0 else (a - 1) // b + 1


def mul_div_up(a: int, b: int, d: int) -> int:
    return div_up(a * b, d)


def clamp(x: int, lo: int, hi: int) -> int:
    return lo if x < lo else hi if x > hi else x


def isqrt(x: int) -> int:
    """floor(sqrt(x)), as PerpMath.sqrt."""
    import math
    return math.isqrt(x)


def ln_wad(x: int) -> int:
    """Natural log of a WAD number, exactly as PerpMath.lnWad (range reduction to
    [sqrt2/2, sqrt2], then 2·atanh(z) summed to the z^21 term)."""
    if x <= 0:
        raise ValueError("ln of a non-positive number")
    n, y = 0, x
    while y >= 2 * WAD:
        y //= 2
        n += 1
    while y < WAD:
        y *= 2
        n -= 1
    if y > SQRT2_WAD:
        y //= 2
        n += 1
    z = sdiv((y - WAD) * WAD, y + WAD)
    z2 = sdiv(z * z, WAD)
    term = total = z
    for k in range(1, LN_TERMS):
        term = sdiv(term * z2, WAD)
        total += sdiv(term, 2 * k + 1)
    return n * LN2_WAD + 2 * total


# ------------------------------------------------------------------------------ venue

@dataclass(frozen=True)
class VenueState:
    """Virtual reserves of the PerpVenue (quote reserve is always ceil(k / base))."""

    base: int
    quote: int
    k: int

    @classmethod
    def initial(cls, base: int, price: int) -> "VenueState":
        quote = base * price // WAD
        return cls(base=base, quote=quote, k=base * quote)

    @property
    def price(self) -> int:
        return self.quote * WAD // self.base

    def after(self, base_delta: int) -> tuple["VenueState", int]:
        """The state after trading ``base_delta`` (positive buys) and the quote moved."""
        if base_delta >= 0:
            if base_delta >= self.base:
                raise ValueError("InsufficientBase")
            base = self.base - base_delta
            q = div_up(self.k, base)
            return VenueState(base, q, self.k), q - self.quote
        base = self.base - base_delta
        q = div_up(self.k, base)
        return VenueState(base, q, self.k), self.quote - q

    def quote_for(self, base_delta: int) -> int:
        return self.after(base_delta)[1]


# ------------------------------------------------------------------------------ prices and funding

def mark_price(index: int, traded: int, weight_wad: int, max_premium_wad: int) -> int:
    """index + weight × clamp(traded − index, ±maxPremium × index) (PerpMath.markPrice)."""
    bound = index * max_premium_wad // WAD
    basis = clamp(traded - index, -bound, bound)
    return index + sdiv(basis * weight_wad, WAD)


def premium(traded: int, index: int) -> int:
    """(traded − index) / index, signed WAD."""
    return sdiv((traded - index) * WAD, index)


def funding_rate(premium_twap: int, interest_wad: int, band_wad: int, cap_wad: int) -> int:
    """Binance shape: clamp(P + clamp(r − P, ±band), ±cap), per interval."""
    return clamp(premium_twap + clamp(interest_wad - premium_twap, -band_wad, band_wad), -cap_wad, cap_wad)


@dataclass(frozen=True)
class FundingSettlement:
    """What one settlement moves: each account's payment (positive paid, negative received)
    and the rounding dust the insurance fund receives; sum(payments) == dust exactly."""

    payments: tuple[int, ...]
    paid: int
    received: int

    @property
    def dust(self) -> int:
        return self.paid - self.received


def funding_payments(sizes: Sequence[int], mark: int, rate_wad: int) -> FundingSettlement:
    """Payments of accounts with signed ``sizes`` for a rate (already × intervals): each payer
    pays ceil(|q| × mark × |F|); receivers share the total pro rata to size, rounded down."""
    longs_pay = rate_wad > 0
    r = abs(rate_wad)
    oi_pay = sum(abs(s) for s in sizes if s != 0 and (s > 0) == longs_pay)
    oi_recv = sum(abs(s) for s in sizes if s != 0 and (s > 0) != longs_pay)
    if rate_wad == 0 or oi_pay == 0 or oi_recv == 0:
        return FundingSettlement(tuple(0 for _ in sizes), 0, 0)
    paid = sum(mul_div_up(abs(s) * mark, r, WAD * WAD) for s in sizes if s != 0 and (s > 0) == longs_pay)
    out = []
    for s in sizes:
        if s == 0:
            out.append(0)
        elif (s > 0) == longs_pay:
            out.append(mul_div_up(abs(s) * mark, r, WAD * WAD))
        else:
            out.append(-(paid * abs(s) // oi_recv))
    return FundingSettlement(tuple(out), paid, -sum(p for p in out if p < 0))


# ------------------------------------------------------------------------------ accounts

def unrealised_pnl(size: int, open_notional: int, mark: int) -> int:
    """At ``mark``, rounded toward minus infinity (long floor, short ceil of |q|·M)."""
    if size > 0:
        return size * mark // WAD - open_notional
    if size < 0:
        return open_notional - mul_div_up(-size, mark, WAD)
    return 0


def requirement(size: int, mark: int, fraction_wad: int) -> int:
    """ceil(floor(|q|·M) × fraction): the IM or MM of a position."""
    return mul_div_up(abs(size) * mark // WAD, fraction_wad, WAD)


def equity(margin: int, size: int, open_notional: int, mark: int, funding_owed: int = 0) -> int:
    return margin + unrealised_pnl(size, open_notional, mark) - funding_owed


def is_liquidatable(margin: int, size: int, open_notional: int, mark: int, mmf_wad: int,
                    funding_owed: int = 0) -> bool:
    """Equity below maintenance margin, for an account with a position."""
    return size != 0 and equity(margin, size, open_notional, mark, funding_owed) < requirement(size, mark, mmf_wad)


def liquidation_price_exact(size: int, open_notional: int, margin: int, mmf_wad: int) -> Fraction:
    """The mark at which equity = MM, in real numbers: long (ON − m) / (q (1 − MMF)),
    short (ON + m) / (|q| (1 + MMF)) (USD per WETH)."""
    mmf = Fraction(mmf_wad, WAD)
    q = Fraction(abs(size), WAD)
    if size > 0:
        return Fraction(open_notional - margin, WAD) / (q * (1 - mmf))
    return Fraction(open_notional + margin, WAD) / (q * (1 + mmf))


def liquidation_price_wad(size: int, open_notional: int, margin: int, mmf_wad: int) -> int:
    """The integer boundary: for a long the highest WAD mark at which the account is
    liquidatable, for a short the lowest (the contract's rounding included)."""
    guess = int(liquidation_price_exact(size, open_notional, margin, mmf_wad) * WAD)
    liq = lambda p: is_liquidatable(margin, size, open_notional, p, mmf_wad)  # noqa: E731
    if size > 0:
        p = guess + 4
        while not liq(p):
            p -= 1
        while liq(p + 1):
            p += 1
        return p
    p = max(guess - 4, 0)
    while not liq(p):
        p += 1
    while p > 0 and liq(p - 1):
        p -= 1
    return p


def isolated_liquidation_price(entry: Fraction | int, imf: Fraction, mmf: Fraction, long: bool) -> Fraction:
    """A position opened at maximum leverage (margin = notional × IMF): long
    E (1 − IMF)/(1 − MMF), short E (1 + IMF)/(1 + MMF)."""
    e = Fraction(entry)
    return e * (1 - imf) / (1 - mmf) if long else e * (1 + imf) / (1 + mmf)


def bankruptcy_price_wad(size: int, open_notional: int, margin: int) -> int:
    """Where equity = 0 (as PerpMarket records it): long (ON − m)/q, short (ON + m)/|q|, WAD,
    rounded down, 0 when not positive."""
    num = open_notional - margin if size > 0 else open_notional + margin
    return num * WAD // abs(size) if num > 0 else 0


def adl_score(size: int, open_notional: int, margin: int, mark: int) -> int:
    """BitMEX's ranking PnL% × effective leverage (WAD); 0 for a losing or flat position."""
    if size == 0 or open_notional == 0:
        return 0
    pnl = unrealised_pnl(size, open_notional, mark)
    eq = margin + pnl
    if pnl <= 0 or eq <= 0:
        return 0
    pnl_pct = pnl * WAD // open_notional
    leverage = (abs(size) * mark // WAD) * WAD // eq
    return pnl_pct * leverage // WAD


# ------------------------------------------------------------------------------ volatility margin

@dataclass(frozen=True)
class VolState:
    variance_wad: int
    price: int
    mmf_wad: int
    imf_wad: int


def vol_fractions(variance_wad: int, multiplier_wad: int, horizon_updates: int, floor_wad: int,
                  cap_wad: int, base_imf_wad: int, base_mmf_wad: int) -> tuple[int, int]:
    """(MMF, IMF) = (clamp(k·σ·√h, floor, cap), MMF × IMF₀/MMF₀) with σ = √variance."""
    sigma = isqrt(variance_wad * WAD)
    sqrt_h = isqrt(horizon_updates * WAD * WAD)
    m = multiplier_wad * sigma // WAD * sqrt_h // WAD
    m = clamp(m, floor_wad, cap_wad)
    return m, m * base_imf_wad // base_mmf_wad


def ewma_variance(variance_wad: int, prev_price: int, price: int, lambda_wad: int) -> tuple[int, int]:
    """(log return, new variance): v' = λ v + (1 − λ) r², r = ln(price / prev)."""
    r = ln_wad(price * WAD // prev_price)
    r2 = abs(r) * abs(r) // WAD
    return r, (lambda_wad * variance_wad + (WAD - lambda_wad) * r2) // WAD


# ------------------------------------------------------------------------------ mechanisms

def fees(notional: int, margin: int, keeper_bps: int, insurance_bps: int) -> tuple[int, int]:
    """(keeper fee, insurance fee) taken from a margin, each capped by what is left positive."""
    left = max(margin, 0)
    keeper = min(notional * keeper_bps // BPS, left)
    return keeper, min(notional * insurance_bps // BPS, left - keeper)


def dutch_factor(elapsed: int, buf_wad: int, curve: int, cut_ray: int, step_seconds: int, tau_seconds: int) -> int:
    """f(t) = (1 + buf) × curve(t), WAD (DutchPriceCurves with top = 1 + buf)."""
    top = WAD + buf_wad
    if curve == 0:
        return stairstep_price(top, elapsed, cut_ray, step_seconds)
    if curve == 1:
        return exponential_price(top, elapsed, cut_ray)
    return linear_price(top, elapsed, tau_seconds)


def dutch_price(long: bool, mark0: int, factor_wad: int) -> int:
    """A long sells at mark0 × f, a short at mark0 × (2 − f)."""
    return mark0 * factor_wad // WAD if long else mark0 * (2 * WAD - factor_wad) // WAD


def soft_slice(equity_wad: int, size: int, mark: int, mmf_wad: int, buffer_bps: int, max_slice_bps: int,
               fee_bps: int, dust_usd_wad: int) -> int:
    """PerpSoftLiquidator.sliceFor: the least slice bringing equity back to MM × (1 + buffer)
    after fees (all of it when equity <= 0), capped at ceil(|q| × maxSlice); the whole position
    when the remainder would be dust."""
    s = abs(size)
    t = mmf_wad * (BPS + buffer_bps) // BPS
    f = fee_bps * WAD // BPS
    wanted = s
    if equity_wad > 0 and t > f:
        target = (s * mark // WAD) * t // WAD
        need = max(target - equity_wad, 0)
        per_unit = mark * (t - f) // WAD
        if per_unit:
            wanted = div_up(need * WAD, per_unit)
    x = min(max(min(wanted, div_up(s * max_slice_bps, BPS)), 1), s)
    if x < s and (s - x) * mark // WAD < dust_usd_wad:
        x = s
    return x
