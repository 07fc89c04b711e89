"""Soft (gradual) liquidation in the style of Curve's crvUSD LLAMMA (contract ``SoftLiquidationAMM``).

Rules implemented (Curve ``AMM.vy`` / ``Controller.vy``, reference numbers in
``shared/reference/mechanisms.md``):

* Bands. Band n spans oracle prices p_up(n) = base_price × ((A−1)/A)^n down to
  p_down(n) = p_up(n+1), base_price = oracle price at deploy. With A = 100 every band is 1% wide.
* Custody. After every borrower action the market calls ``onPositionUpdated``; the contract
  takes all of the owner's collateral from the market and spreads it over N bands starting at the
  top band n1 = the lowest band for which collateral × (1 − loan_discount) × mean_k(r^k) × p_up(n1)
  ≥ debt, r = (A−1)/A, k = 1..N — i.e. the debt is covered, with the loan discount, by the
  collateral valued at its bands' bottom prices (Curve's ``calculate_debt_n1`` rule, valuing at
  band bottoms instead of band mid-points). Soft liquidation starts when the oracle price enters
  band n1. A position with zero debt keeps its collateral in the market.
* Band AMM. Curve's invariant (f + x)(g + y) = Inv, f = p_o²/p_up·A·y0, g = p_up/p_o·(A−1)·y0,
  y0 from the band's quadratic; the AMM price runs from p_o³/p_up² (all WETH) to p_o³/p_down²
  (all USD). ``exchange`` walks bands from the active band and charges ``fee_bps`` on the input.
* Oracle price p_o (crvUSD's ``EmaPriceOracle``, ``ema = true``): an exponential moving average of
  the market's oracle, p ← p_cur·(1 − α) + p_last·α with α = exp(−dt / ma_exp_time) in Curve's
  integer exp; ma_exp_time 866 s as crvUSD's ETH market (600 s / ln 2: a 10-minute half-life).
  Computed on-chain, written lazily on every state-changing call, and integrated over the
  oracle's rounds (each round's answer counts from the moment it came into force, so the EMA
  does not depend on when someone last traded; Curve's lazy rule only past 16 rounds unwritten).
  Everything — band prices, health, hard liquidation, the loan check — uses p_o.
* Dynamic fee (AMM.vy, ``dynamic_fee = true``): ``limit_p_o`` — within 120 s of the previous write
  an oracle move of ratio r = p_min/p_max raises the fee to (old_fee + 1 − r³) × (time left of
  the 120 s) / 120 s and p_o moves at most ×/÷1.25 per write; ``get_dynamic_fee`` — a band whose
  AMM price range p_o³/p_up² … p_o³/p_down² lies away from p_o charges a quarter of the relative
  distance. A band charges max(fee_bps, both). Both switches off reproduce the plain mechanism.
* health = (bands' WETH valued at min(band bottom, p_o) + bands' USD + free collateral
  at p_o) × (1 − liquidation_discount) / debt − 1 (signed WAD).
* Hard liquidation only when health < 0: the caller repays the debt and gets everything in the
  bands. Underwater rule: if (value at the oracle price) × (1 − liquidation_discount) < debt, the
  caller pays only that and the rest is written off as bad debt.

Simplifications (documented deviations from Curve):

* No interest rate (the market is interest-free), no admin fee: the whole
  exchange fee stays in the bands, i.e. with the borrowers, as on mainnet where admin_fee = 0.
  The default ``fee_bps`` is mainnet's 60 (0.6%).
* A position receives the same number of shares in each of its bands, so it needs one storage
  slot instead of N. In fresh (or never-traded) bands that spreads the collateral exactly evenly
  (Curve's rule); in a band whose WETH-per-share has drifted through trading fees/losses the
  amount deposited is proportionally different. Dust below N wei stays in the market.
* Health values a band's WETH at its bottom price or at the oracle price if lower, instead of
  Curve's adiabatic ``get_x_down`` (bottom prices are ~0.5% more conservative than Curve's
  band-mid conversion; the oracle cap makes a crash through untraded bands show as unhealthy).
* While a position has USD in any of its bands (soft liquidation) it may only repay; adding
  collateral or borrowing more reverts with ``PositionInSoftLiquidation`` (Curve forbids these
  when underwater). Repaying in full returns its WETH to the market and its USD to the owner.
  A partial ``withdraw`` is not possible while the collateral sits in bands (the market only
  releases collateral it holds): repay in full first.
* A loan whose top band would start at or above the oracle price reverts with ``DebtTooHigh``
  (Curve's check): with N = 10 any loan within the market's 80% max LTV fits; with larger N the
  bands reach lower, so the largest loan is smaller (N = 30: about 77% LTV).
* A new position whose top band would lie at or above the active band is accepted only if the
  bands in between hold no USD (then the active band moves up, Curve's auto-skip), else the
  borrower's action reverts with ``DebtTooHigh``, as Curve's "Debt too high".
* Gas: filling a band costs ~7k gas (band storage is pre-initialised at deploy over
  ``prewarm_bands_above``/``prewarm_bands_below``; a never-touched band costs ~22k), so a
  borrower's ``open`` costs about 300k + 7k × N gas: within the default 500k up to N ≈ 25, more
  gas is needed for larger N. Band reserves are packed into one slot (USD < 3.1e8, WETH < 1.2e6
  per band, overflow reverts with ``AmountTooLarge``).
* Band indices are limited to [−1024, 1024] around the deploy price (Curve: 1024 bands from the
  active band); one exchange walks at most 128 bands (empty ones included) and fills partially
  beyond that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

from sandbox.chain import Address
from sandbox.legs import legs
from sandbox.units import BPS, WAD

from .accounting import Conversion, Key, LedgerEvent, Taken
from .base import Call, LiquidationMechanism, MechanismParams, Opportunity

if TYPE_CHECKING:
    from sandbox.market import Market

LIQUIDATE_GAS = 400_000  # measured ~200k with N = 10
# exchange: measured ~95k + ~22k per band crossed
EXCHANGE_GAS_BASE = 150_000
EXCHANGE_GAS_PER_BAND = 30_000
EXCHANGE_GAS_MAX = 4_000_000
MIN_BAND = -1024
MAX_BAND = 1024
MAX_BANDS_CROSSED = 128
BAND_MAX_WETH = (2**80 - 1) / WAD  # a band's reserves are packed: uint80 WETH, uint88 USD
BAND_MAX_USD = (2**88 - 1) / WAD
PREWARM_CHUNK = 150
MIN_MA_EXP_TIME = 30  # EmaPriceOracle's bounds
MAX_MA_EXP_TIME = 365 * 86400
PREV_P_O_DELAY = 120  # AMM.vy
MAX_P_O_CHG = 12500 * 10**14
# With the EMA or the dynamic fee on, p_o and the fee move between the quote (at the head) and
# the block the exchange lands in; the arbitrageur accepts this much less than quoted.
ARB_SLIPPAGE_BPS = 50
HEALTH_CACHE_SIZE = 4  # heads whose healths are kept (the block's and its what-ifs')


@dataclass(frozen=True)
class SoftParams(MechanismParams):
    """crvUSD mainnet defaults: A = 100, fee 0.6%, loan discount 9%, liquidation discount 6%, N = 10."""

    bands_n: int = 10
    amplification_a: int = 100
    liquidation_discount_bps: int = 600
    loan_discount_bps: int = 900
    fee_bps: int = 60
    # crvUSD's EMA oracle over the market's oracle (ETH market: 866 s = 600 s / ln 2) and AMM.vy's
    # dynamic fee; both off reproduce the mechanism without them. Off by default until the
    # conformance driver and the adversarial suite let the EMA catch up (scenarios switch them on).
    ema: bool = False
    ma_exp_time_seconds: int = 866
    dynamic_fee: bool = False
    # Sandbox gas optimisation (no Curve counterpart): band storage pre-initialised at deploy so
    # that a borrower's open() stays within the default 500k gas. Counted in bands from band 0
    # (the deploy price): 70 bands above ≈ 2× the price, 230 below ≈ 0.1× (for A = 100).
    prewarm_bands_above: int = 70
    prewarm_bands_below: int = 230

    def validate(self) -> None:
        if not 4 <= self.bands_n <= 50:
            raise ValueError(f"bands_n must be in [4, 50], got {self.bands_n}")
        if not 30 <= self.amplification_a <= 10_000:
            raise ValueError(f"amplification_a must be in [30, 10000], got {self.amplification_a}")
        if not 0 <= self.liquidation_discount_bps < self.loan_discount_bps:
            raise ValueError("liquidation_discount_bps must be >= 0 and below loan_discount_bps, got "
                             f"{self.liquidation_discount_bps}")
        if not self.loan_discount_bps < BPS:
            raise ValueError(f"loan_discount_bps must be below 10000, got {self.loan_discount_bps}")
        if not 0 <= self.fee_bps < 1000:
            raise ValueError(f"fee_bps must be in [0, 1000), got {self.fee_bps}")
        if not MIN_MA_EXP_TIME <= self.ma_exp_time_seconds <= MAX_MA_EXP_TIME:
            raise ValueError(f"ma_exp_time_seconds must be in [{MIN_MA_EXP_TIME}, {MAX_MA_EXP_TIME}], "
                             f"got {self.ma_exp_time_seconds}")
        if not 0 <= self.prewarm_bands_above <= -MIN_BAND:
            raise ValueError(f"prewarm_bands_above must be in [0, 1024], got {self.prewarm_bands_above}")
        if not 0 <= self.prewarm_bands_below <= MAX_BAND:
            raise ValueError(f"prewarm_bands_below must be in [0, 1024], got {self.prewarm_bands_below}")

    @property
    def liquidation_discount_wad(self) -> int:
        return self.liquidation_discount_bps * WAD // BPS

    @property
    def loan_discount_wad(self) -> int:
        return self.loan_discount_bps * WAD // BPS

    def contract_args(self) -> tuple:
        """SoftLiquidationAMM's constructor arguments after the market address."""
        return (self.bands_n, self.amplification_a, self.liquidation_discount_wad,
                self.loan_discount_wad, self.fee_bps, self.ma_exp_time_seconds if self.ema else 0,
                self.dynamic_fee)


# ---------------------------------------------------------------------------- band math mirror

def _ceil_div(a: int, b: int) -> int:
    return 0 if a == 0 else (a - 1) // b + 1


def _tdiv(a: int, b: int) -> int:
    """Signed division truncating toward zero (Vyper's and Solidity's int256 ``/``)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def curve_exp(power: int) -> int:
    """Curve's ``EmaPriceOracle.exp``: e^(power / 1e18) in WAD, in its exact integer steps."""
    if power <= -41446531673892821376:
        return 0
    if power >= 135305999368893231589:
        raise ValueError("exp overflow")
    x = _tdiv(power * 2**96, 10**18)
    k = _tdiv(_tdiv(x * 2**96, 54916777467707473351141471128) + 2**95, 2**96)
    x = x - k * 54916777467707473351141471128
    y = x + 1346386616545796478920950773328
    y = _tdiv(y * x, 2**96) + 57155421227552351082224309758442
    p = y + x - 94201549194550492254356042504812
    p = _tdiv(p * y, 2**96) + 28719021644029726153956944680412240
    p = p * x + (4385272521454847904659076985693276 * 2**96)
    q = x - 2855989394907223263936484059900
    q = _tdiv(q * x, 2**96) + 50020603652535783019961831881945
    q = _tdiv(q * x, 2**96) - 533845033583426703283633433725380
    q = _tdiv(q * x, 2**96) + 3604857256930695427073651918091429
    q = _tdiv(q * x, 2**96) - 14423608567350463180887372962807573
    q = _tdiv(q * x, 2**96) + 26449188498355588339934803723976023
    r = (_tdiv(p, q) * 3822833074963236453042738258902158003155416615667) % 2**256
    shift = k - 195
    return (r << shift) % 2**256 if shift >= 0 else r >> -shift


def ema_step(last: int, current: int, dt_seconds: int, ma_exp_time_seconds: int) -> int:
    """Curve's EMA step: ``current`` held for ``dt_seconds`` after the EMA stood at ``last``."""
    alpha = curve_exp(-(dt_seconds * WAD // ma_exp_time_seconds))
    return (current * (WAD - alpha) + last * alpha) // WAD


def limit_p_o(p: int, old_p_o: int, old_dfee: int, elapsed_seconds: int) -> tuple[int, int]:
    """AMM.vy's ``limit_p_o``: (p_o limited to ×/÷1.25 of the last written one, oracle-move fee),
    ``elapsed_seconds`` after the previous write."""
    dt = PREV_P_O_DELAY - min(PREV_P_O_DELAY, elapsed_seconds)
    if dt == 0:
        return p, 0
    lo = 10**36 // MAX_P_O_CHG
    p_new = p
    if p > old_p_o:
        ratio = old_p_o * WAD // p
        if ratio < lo:
            p_new, ratio = old_p_o * MAX_P_O_CHG // WAD, lo
    else:
        ratio = p * WAD // old_p_o
        if ratio < lo:
            p_new, ratio = old_p_o * WAD // MAX_P_O_CHG, lo
    fee = min((WAD + old_dfee - ratio**3 // 10**36) * dt // PREV_P_O_DELAY, WAD - 1)
    return p_new, fee


def band_dynamic_fee(p_o: int, p_up: int, amplification_a: int) -> int:
    """AMM.vy's ``get_dynamic_fee``: a quarter of the relative distance between p_o and the band's
    AMM price range p_o³/p_up² … p_o³/p_down² (0 inside it), WAD."""
    a = amplification_a
    p_c_d = p_o * p_o // p_up * p_o // p_up
    p_c_u = p_c_d * a // (a - 1) * a // (a - 1)
    if p_o < p_c_d:
        return (p_c_d - p_o) * (WAD // 4) // p_c_d
    if p_o > p_c_u:
        return (p_o - p_c_u) * (WAD // 4) // p_o
    return 0


@dataclass
class BandState:
    x: int = 0  # USD
    y: int = 0  # WETH
    shares: int = 0


@dataclass
class BandMath:
    """Exact integer mirror of SoftLiquidationAMM's band arithmetic."""

    base_price: int
    amplification_a: int = 100
    fee_bps: int = 60
    bands_n: int = 10
    loan_discount_wad: int = 9 * WAD // 100
    liquidation_discount_wad: int = 6 * WAD // 100
    dynamic_fee: bool = False  # per-band fees as AMM.vy's get_dynamic_fee

    @property
    def ratio_wad(self) -> int:
        a = self.amplification_a
        return (a - 1) * WAD // a

    def rpow(self, k: int) -> int:
        result, base = WAD, self.ratio_wad
        while k:
            if k & 1:
                result = result * base // WAD
            k >>= 1
            if k:
                base = base * base // WAD
        return result

    def p_up(self, n: int) -> int:
        if not MIN_BAND <= n <= MAX_BAND + 1:
            raise ValueError(f"band {n} out of range")
        if n >= 0:
            return self.base_price * self.rpow(n) // WAD
        return self.base_price * WAD // self.rpow(-n)

    def p_down(self, n: int) -> int:
        return self.p_up(n + 1)

    @property
    def mean_bottom_factor_wad(self) -> int:
        term, total, r = WAD, 0, self.ratio_wad
        for _ in range(self.bands_n):
            term = term * r // WAD
            total += term
        return total // self.bands_n

    def top_band(self, collateral: int, debt: int) -> int:
        eff = collateral * (WAD - self.loan_discount_wad) // WAD * self.mean_bottom_factor_wad // WAD
        if eff == 0:
            raise ValueError("DebtTooHigh")
        p_min = _ceil_div(debt * WAD, eff)
        lo, hi = MIN_BAND + 1, MAX_BAND + 1 - self.bands_n
        if self.p_up(lo) < p_min:
            raise ValueError("DebtTooHigh")
        if self.p_up(hi) >= p_min:
            return hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.p_up(mid) >= p_min:
                lo = mid
            else:
                hi = mid
        return lo

    def y0(self, x: int, y: int, po: int, pu: int) -> int:
        a = self.amplification_a
        b = po * po // pu * a * y // WAD + pu * (a - 1) * x // po
        d = b * b + 4 * a * (po * y // WAD) * x
        return (b + math.isqrt(d)) * WAD // (2 * po * a)

    def curve(self, x: int, y: int, po: int, pu: int) -> tuple[int, int, int]:
        """(f, g, Inv) of a band with reserves (x, y) at oracle price po."""
        y0 = self.y0(x, y, po, pu)
        a = self.amplification_a
        f = po * po // pu * a * y0 // WAD
        g = pu * (a - 1) * y0 // po
        return f, g, (f + x) * (g + y)

    def band_price(self, x: int, y: int, po: int, pu: int) -> int:
        f, g, _ = self.curve(x, y, po, pu)
        return (f + x) * WAD // (g + y)

    def band_fee_wad(self, po: int, pu: int, fee_wad: int | None = None) -> int:
        """The fee a band charges: ``fee_wad`` (default fee_bps), or AMM.vy's band fee if higher."""
        fee = self.fee_bps * WAD // BPS if fee_wad is None else fee_wad
        return max(fee, band_dynamic_fee(po, pu, self.amplification_a)) if self.dynamic_fee else fee

    @staticmethod
    def _swap_in_band(in_r: int, out_r: int, f_in: int, g_out: int, inv: int,
                      rem: int, keep: int) -> tuple[int, int, int, int]:
        need = _ceil_div((_ceil_div(inv, g_out) - f_in - in_r) * WAD, keep)
        if rem >= need:
            return in_r + need, 0, out_r, need
        q = _ceil_div(inv, f_in + in_r + rem * keep // WAD)
        new_out = min(max(q - g_out, 0), out_r)
        return in_r + rem, new_out, out_r - new_out, rem

    def trade_band(self, buy: bool, x: int, y: int, po: int, pu: int,
                   rem: int, fee_wad: int | None = None) -> tuple[int, int, int, int]:
        """(new x, new y, amount out, input used) of one band trade (``fee_wad``: the exchange's
        fee before the band's own, default fee_bps)."""
        f, g, inv = self.curve(x, y, po, pu)
        keep = WAD - self.band_fee_wad(po, pu, fee_wad)
        if buy:
            if g == 0:
                return x, y, 0, 0
            return self._swap_in_band(x, y, f, g, inv, rem, keep)
        if f == 0:
            return x, y, 0, 0
        ny, nx, out, used = self._swap_in_band(y, x, g, f, inv, rem, keep)
        return nx, ny, out, used

    def simulate_exchange(self, bands: dict[int, BandState], active: int, min_band: int,
                          max_band: int, buy: bool, amount_in: int,
                          po: int, fee_wad: int | None = None) -> tuple[int, int, dict[int, BandState], int]:
        """(input used, output, new states of the touched bands, new active band)."""
        touched: dict[int, BandState] = {}
        if amount_in == 0 or min_band > max_band:
            return 0, 0, touched, active
        n = active
        if buy and n < min_band:
            n = min_band
        if not buy and n > max_band:
            n = max_band
        rem, out, last = amount_in, 0, None
        for _ in range(MAX_BANDS_CROSSED):
            b = bands.get(n, BandState())
            if (b.y if buy else b.x) != 0:
                nx, ny, o, u = self.trade_band(buy, b.x, b.y, po, self.p_up(n), rem, fee_wad)
                if u or o:
                    touched[n] = BandState(nx, ny, b.shares)
                    rem -= u
                    out += o
                    last = n
            if rem == 0 or (n >= max_band if buy else n <= min_band):
                break
            n = n + 1 if buy else n - 1
        return amount_in - rem, out, touched, (active if last is None else last)


# ---------------------------------------------------------------------------- mechanism

class BandMirror:
    """The bands and banded positions of one SoftLiquidationAMM, kept from its events.

    Every band write emits ``BandUpdated(n, x, y, shares)`` (its full new state) and every
    (re)banding ``PositionBanded``/``PositionUnbanded``, so after one full read the mirror
    follows the contract exactly; held collateral and health are then the contract's own
    integer formulas in Python, with no EVM call. ``tests/mechanisms/test_soft.py`` compares
    the mirror with the contract.
    """

    def __init__(self, contract, math: "BandMath", liquidation_discount_wad: int):
        self.contract = contract
        self.math = math
        self.liquidation_discount_wad = liquidation_discount_wad
        self.bands: dict[int, tuple[int, int, int]] = {}  # n -> (x, y, shares)
        self.positions: dict[Address, tuple[int, int]] = {}  # owner -> (n1, shares per band)
        self.synced: bytes | None = None
        self._p_down: dict[int, int] = {}

    def load(self, owners: Sequence[Address]) -> None:
        self.bands.clear()
        self.positions.clear()
        for owner in owners:
            shares, _debt, n1 = self.contract.call("positions", owner)
            if shares:
                self.positions[owner] = (n1, shares)
                for n in range(n1, n1 + self.math.bands_n):
                    if n not in self.bands:
                        x, y, sh, _ = self.contract.call("bands", n)
                        self.bands[n] = (x, y, sh)
        self.synced = self.contract.chain.snapshot()

    def apply(self, block) -> None:
        for log in block.logs:
            if log.address != self.contract.address:
                continue
            args = log.args
            if log.name == "BandUpdated":
                self.bands[args["n"]] = (args["x"], args["y"], args["shares"])
            elif log.name == "PositionBanded":
                self.positions[args["owner"]] = (args["n1"], args["sharesPerBand"])
            elif log.name == "PositionUnbanded":
                self.positions.pop(args["owner"], None)
        self.synced = block.hash

    def in_sync(self) -> bool:
        return self.synced is not None and self.synced == self.contract.chain.snapshot()

    def _parts(self, owner: Address):
        n1, s = self.positions[owner]
        for n in range(n1, n1 + self.math.bands_n):
            x, y, shares = self.bands.get(n, (0, 0, 0))
            if s >= shares:
                yield n, x, y
            else:
                yield n, x * s // shares, y * s // shares

    def held(self, owner: Address) -> tuple[int, int]:
        """(WETH, USD) in the owner's bands, as ``heldCollateral``."""
        if owner not in self.positions:
            return 0, 0
        weth = usd = 0
        for _, dx, dy in self._parts(owner):
            usd += dx
            weth += dy
        return weth, usd

    def p_down(self, n: int) -> int:
        if n not in self._p_down:
            self._p_down[n] = self.math.p_up(n + 1)
        return self._p_down[n]

    def health(self, owner: Address, free_collateral: int, debt: int, oracle_price: int) -> int:
        """``_health``: bands valued at their bottoms (or the oracle price if lower), signed WAD."""
        if debt == 0:
            return 2**255 - 1
        value = free_collateral * oracle_price // WAD
        if owner in self.positions:
            for n, dx, dy in self._parts(owner):
                if dy:
                    value += dy * min(self.p_down(n), oracle_price) // WAD
                value += dx
        return value * (WAD - self.liquidation_discount_wad) // debt - WAD

    def state(self):
        return dict(self.bands), dict(self.positions), self.synced

    def restore(self, state) -> None:
        self.bands, self.positions, self.synced = dict(state[0]), dict(state[1]), state[2]


class SoftLiquidationMechanism(LiquidationMechanism[SoftParams]):
    name = "soft"
    Params = SoftParams
    contract_name = "SoftLiquidationAMM"
    liquidation_functions = frozenset({"liquidate"})
    default_rank = 3
    markets = ("lending", "perp")
    variants = {"perp": "sandbox.mechanisms.perp.soft:PerpSoftMechanism"}
    bookkeeping_events = frozenset({"BandUpdated", "ActiveBandChanged", "PositionBanded", "BandsInitialized",
                                    "PositionDebtUpdated", "PositionUnbanded"})
    offers_arbitrage = True
    position_neutral_events = frozenset({"BandsInitialized"})
    description = ("Curve-LLAMMA-style soft liquidation: collateral sits in N price bands of an AMM "
                   "that arbitrageurs convert to USD as the price falls (and back as it recovers); "
                   "hard liquidation of the whole position only when health < 0.")

    event_amounts = {"Exchange": (None, None, None),  # by direction (event_amount_overrides)
                     "HardLiquidation": ("debtRepaid", "collateralOut", "usdOut"),
                     "PositionBanded": (None, "collateral", None), "PositionUnbanded": (None, "collateral", "usd"),
                     "PositionDebtUpdated": ("debt", None, None)}
    conversion_actions = frozenset({"soft-liquidate", "de-liquidate"})
    liquidation_takes_all = True

    # --- accounting rules --------------------------------------------------------------------
    @classmethod
    def collateral_taken(cls, events: Sequence[LedgerEvent]) -> list[tuple[LedgerEvent, Taken]]:
        """A hard liquidation's collateral and USD out of the bands (the market's
        ``CollateralSeized`` only moves collateral into the bands). The bands' conversion loss is
        the conversions' (``conversion``), pool-wide."""
        return [(e, Taken(e.int("collateralOut"), e.int("usdOut"))) for e in events
                if e.contract == "mechanism" and e.name == "HardLiquidation"]

    @classmethod
    def protocol_revenue(cls, events: Sequence[LedgerEvent], oracle_price: Callable[[LedgerEvent], int],
                         final_price_wad: int) -> dict[str, int]:
        """None: the swap fee stays in the bands, with the borrowers, as on mainnet."""
        return {}

    @classmethod
    def conversion(cls, event: LedgerEvent) -> Conversion | None:
        """An ``Exchange`` against the bands (``buyCollateral``: the trader paid USD for collateral)."""
        if event.name != "Exchange":
            return None
        return Conversion(collateral_out=bool(event.args.get("buyCollateral")), amount_in=event.int("amountIn"),
                          amount_out=event.int("amountOut"))

    @classmethod
    def event_amount_overrides(cls, events: Sequence[LedgerEvent]) -> dict[Key, tuple[int | None, ...]]:
        """An exchange's WETH side in the collateral column, its USD side in the USD column."""
        out: dict[Key, tuple[int | None, ...]] = {}
        for e in events:
            c = cls.conversion(e) if e.contract == "mechanism" else None
            if c is not None:
                out[e.key] = ((None, c.amount_out, c.amount_in) if c.collateral_out
                              else (None, c.amount_in, c.amount_out))
        return out

    @classmethod
    def max_ltv_bps(cls, params: SoftParams) -> int:
        """The highest loan-to-value (bps) a new loan can have and still be banded: its top band
        must start below the oracle price (band 1 or lower), so debt <= collateral × price ×
        (1 − loan discount) × mean_k(r^k) × r, in the contract's integer arithmetic."""
        m = BandMath(base_price=WAD, amplification_a=params.amplification_a, bands_n=params.bands_n,
                     loan_discount_wad=params.loan_discount_wad)
        bound_wad = (WAD - m.loan_discount_wad) * m.mean_bottom_factor_wad // WAD * m.ratio_wad // WAD
        return (bound_wad * BPS - WAD // 10**6) // WAD  # strictly below: integer rounding never bites

    @classmethod
    def check_scenario(cls, scenario, params: SoftParams) -> None:
        """Loans above ``max_ltv_bps`` revert with DebtTooHigh at set-up, and bands overflow
        (AmountTooLarge) beyond BAND_MAX_WETH / BAND_MAX_USD: refuse such scenarios up front."""
        from sandbox.scenarios import ScenarioError

        b, lending = scenario.borrowers, scenario.lending
        highest = min(b.ltv_max_bps, lending.max_ltv_bps)  # borrowers never exceed the market's max
        limit = cls.max_ltv_bps(params)
        if highest > limit:
            field = "borrowers.ltv_max_bps" if b.ltv_max_bps <= lending.max_ltv_bps else "lending.max_ltv_bps"
            raise ScenarioError(f"{field}: {highest} is above what soft can band (max {limit} with bands_n = "
                                f"{params.bands_n}, loan_discount_bps = {params.loan_discount_bps}); lower it "
                                "or leave soft out")
        # expected WETH per band with every position's bands overlapping: the lognormal mean, or
        # what the smallest loan needs at the lowest LTV (positions are scaled up to borrow
        # lending.min_borrow_usd)
        mean = b.collateral_weth_median * math.exp(b.collateral_weth_sigma ** 2 / 2)
        lowest_ltv = min(b.ltv_min_bps, highest) / 10_000
        at_min_borrow = lending.min_borrow_usd / (scenario.price.start_price_usd * lowest_ltv)
        weth = b.count * max(mean, at_min_borrow) / params.bands_n
        usd = weth * scenario.price.start_price_usd  # a band converts at prices below the start
        if weth > BAND_MAX_WETH or usd > BAND_MAX_USD:
            raise ScenarioError(f"borrowers.collateral_weth_median: {b.collateral_weth_median:g} WETH for {b.count} "
                                f"borrowers puts about {weth:.3g} WETH ({usd:.3g} USD) in a band, above what soft's "
                                f"bands hold ({BAND_MAX_WETH:.3g} WETH, {BAND_MAX_USD:.3g} USD); lower it or leave "
                                "soft out")

    @classmethod
    def setup_requests(cls, market: "Market", params: SoftParams, contract) -> list:
        """Pre-touch band storage around the deploy price so the first loans cost less gas."""
        requests = []
        lo, hi = -params.prewarm_bands_above, params.prewarm_bands_below
        for start in range(lo, hi + 1, PREWARM_CHUNK):
            end = min(hi, start + PREWARM_CHUNK - 1)
            requests.append(contract.tx(market.deployer, "initBands", start, end,
                                        gas=60_000 + 25_000 * (end - start + 1)))
        return requests

    # --- mirrors and reads ---------------------------------------------------------------
    @property
    def math(self) -> BandMath:
        p = self.params
        return BandMath(base_price=self.contract.call("basePrice"), amplification_a=p.amplification_a,
                        fee_bps=p.fee_bps, bands_n=p.bands_n, loan_discount_wad=p.loan_discount_wad,
                        liquidation_discount_wad=p.liquidation_discount_wad, dynamic_fee=p.dynamic_fee)

    def oracle_price(self) -> int:
        """The bands' p_o now (the contract's ``priceOracle``: the EMA, limited; or the market's
        oracle with both switches off), as of the latest block."""
        return self.contract.call("priceOracle")[0]

    def band(self, n: int) -> BandState:
        x, y, s, _ = self.contract.call("bands", n)
        return BandState(x, y, s)

    def active_band(self) -> int:
        return self.contract.call("activeBand")

    def healths(self, owners: Sequence[Address]) -> list[int]:
        """health() of each owner: from the band mirror when it follows the head (computed once
        per head: bands, positions and price are the head's), else one call."""
        if not owners:
            return []
        mirror = self._mirror
        if mirror is not None and mirror.in_sync():
            key = (mirror.synced, tuple(owners))
            cached = self._healths.get(key)
            if cached is None:
                if len(self._healths) >= HEALTH_CACHE_SIZE:
                    self._healths.clear()
                price = self.oracle_price()
                cached = self._healths[key] = tuple(mirror.health(p.owner, p.collateral, p.debt, price)
                                                    for p in self.market.positions(owners))
            return list(cached)
        return list(self.contract.call("healths", list(owners)))

    # --- following the chain ---------------------------------------------------------------
    def follow(self, owners: Sequence[Address]) -> None:
        self._mirror = BandMirror(self.contract, self.math, self.params.liquidation_discount_wad)
        self._mirror.load(owners)
        self._healths: dict[tuple, tuple[int, ...]] = {}  # (head, owners) -> healths

    def held_collateral_of(self, owners: Sequence[Address]) -> list[tuple[int, int]] | None:
        mirror = self._mirror
        if mirror is None or not mirror.in_sync():
            return None
        return [mirror.held(o) for o in owners]

    # --- discovery -----------------------------------------------------------------------
    def opportunities(self, owners: Sequence[Address]) -> list[Opportunity]:
        """Hard liquidations available now: positions with health < 0 (one healths call + the lens)."""
        if not owners:
            return []
        hs = self.healths(owners)
        bad = [o for o, h in zip(owners, hs, strict=True) if h < 0]
        if not bad:
            return []
        health_of = dict(zip(owners, hs, strict=True))
        price = self.oracle_price()  # liquidate() caps the repayment at p_o
        ld = self.params.liquidation_discount_wad
        out = []
        for p in self.market.positions(bad):
            if p.debt == 0:
                continue
            coll = p.collateral + p.held_collateral
            usd_out = p.held_debt_asset
            cap = (coll * price // WAD + usd_out) * (WAD - ld) // WAD
            repaid = min(p.debt, cap)
            m = self.market
            out.append(Opportunity(
                mechanism=self.name, action="hard-liquidate", owner=p.owner, pays=legs(**{m.numeraire: repaid}),
                receives=legs(**{m.collateral_asset: coll, m.numeraire: usd_out}),
                health_factor_wad=p.health_factor_wad,
                extra={"bad_debt": p.debt - repaid, "health_wad": health_of[p.owner],
                       "net_usd_in": max(0, repaid - usd_out), "price": price}))
        return out

    def encode(self, opportunity: Opportunity, caller: Address,
               max_pay: int | None = None) -> Call:
        """liquidate(owner, minCollateralOut): all or nothing, so ``max_pay`` cannot shrink it."""
        if opportunity.action != "hard-liquidate":
            raise ValueError(f"soft mechanism cannot encode action {opportunity.action!r}")
        data = self.contract.encode("liquidate", opportunity.owner,
                                    opportunity.received(self.market.collateral_asset))
        return Call(to=self.contract.address, data=data, gas=LIQUIDATE_GAS, action="hard-liquidate",
                    owner=opportunity.owner, pays=opportunity.pays, receives=opportunity.receives)

    def unfinished(self, owners: Sequence[Address], reference_price_wad: int) -> int:
        """1 while the bands still hold a conversion worth making at the reference price (an
        arbitrageur's trade toward it would profit before gas), else 0."""
        zero = "0x" + "00" * 20
        return int(self.arbitrage_call(reference_price_wad, 2**128, zero) is not None)

    def prospects(self, owners: Sequence[Address], reference_price_wad: int, now: int,
                  until: int) -> list[Opportunity] | None:
        """The hard liquidations open now: the bands and healths move only through trades, so
        with the price held nothing opens later (the conversions left are the arbitrageur's,
        which it is asked about itself). With the EMA or the dynamic fee on, the bands' p_o
        keeps moving toward the market's oracle price with time alone: None (cannot tell) until
        it has arrived."""
        p = self.params
        if (p.ema or p.dynamic_fee) and self.oracle_price() != self.market.price():
            return None
        return self.opportunities(owners)

    # --- arbitrage -----------------------------------------------------------------------
    def arbitrage_call(self, reference_price_wad: int, max_usd: int, caller: Address) -> Call | None:
        """The exchange that trades the bands toward ``reference_price_wad`` (e.g. the DEX price).

        Sized by ``getAmountForPrice`` (the largest trade profitable at the reference price after
        the fee), capped at ``max_usd`` of input (WETH input valued at the reference price).
        The Call's legs are the trade's: a buy pays USD and receives WETH, a sell pays WETH and
        receives USD. None when there is no trade with a positive profit at the reference price
        (before gas).
        """
        buy, amount = self.contract.call("getAmountForPrice", reference_price_wad)
        if buy:
            amount = min(amount, max_usd)
        else:
            amount = min(amount, max_usd * WAD // reference_price_wad)
        if amount == 0:
            return None
        used, out, band_to = self.contract.call("quoteExchange", buy, amount)
        profit = out * reference_price_wad // WAD - used if buy else out - used * reference_price_wad // WAD
        if out == 0 or profit <= 0:
            return None
        p = self.params
        min_out = out if not (p.ema or p.dynamic_fee) else out - out * ARB_SLIPPAGE_BPS // BPS
        data = self.contract.encode("exchange", buy, used, min_out, caller)
        action = "soft-liquidate" if buy else "de-liquidate"
        crossed = abs(band_to - self.active_band()) + 1
        gas = min(EXCHANGE_GAS_MAX, EXCHANGE_GAS_BASE + EXCHANGE_GAS_PER_BAND * crossed)
        usd, weth = self.market.numeraire, self.market.collateral_asset
        pays = legs(**{usd: used}) if buy else legs(**{weth: used})
        receives = legs(**{weth: out}) if buy else legs(**{usd: out})
        return Call(to=self.contract.address, data=data, gas=gas, action=action, owner=caller,
                    pays=pays, receives=receives)
