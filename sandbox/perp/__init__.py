"""Perpetual futures: the on-chain market liquidation mechanisms can be compared on (issue #13).

Contracts: ``contracts/perp/`` (``PerpMarket``, ``PerpVenue``, ``PerpMath``) and one contract per
mechanism under ``contracts/perp/mechanisms/``. This package deploys them
(``deploy_perp_market``, ``deploy_mechanism``), reads them in batched calls (``Perp.accounts``,
``Perp.state``), builds trader actions (``actions``), mirrors their formulas to the wei
(``math``) and checks the market's accounting identity (``accounting``). Runs use it through the
``perp`` market plug-in (``sandbox.markets.perp``): the run handle, the at-risk rule and the
event-following book are in ``market``, the run's metrics in ``metrics``; the mechanisms' perp
variants are in ``sandbox.mechanisms.perp``, the traders and the perp arbitrageur in
``sandbox.agents``.

Design, and why
---------------
Accounts. Cross-margin USD accounts (the sandbox's USD ``Token``), one net WETH-USD position
each: size q (long > 0), cost basis (open notional; entry = ON / |q|), margin (signed: only a
bankrupt account goes negative). A reducing fill realises PnL into margin against the pro-rata
basis. Equity = margin + unrealised PnL at the mark − funding due (unrealised PnL rounded toward
−∞, requirements ceil(floor(|q|·M)·fraction)).

Venue. Every open, close, liquidation and ADL trades a virtual x·y = k AMM (Perpetual
Protocol v1's vAMM) created by the market (``PerpVenue``, no tokens). Its quote reserve is always
ceil(k / base), a function of the base reserve alone, so quotes are path independent and flow
moves the traded price: a premium exists, arbitrageurs trade it (through their own accounts),
funding acts on it, and a thin venue (``venue_depth_weth``) makes liquidation selling costly.

Index and mark. Index = ``PriceOracle.price()`` (the price in force, with its delay).
Mark = index + w · clamp(traded − index, ±maxPremium · index). Default w = 0 (mark = index, as
dYdX and Perpetual Protocol v2 margin to the oracle; Perp v2's liquidation write-up names this
as what stops market-selling liquidations from cascading). w > 0 leans the mark on the venue:
one liquidation's sale moves other accounts' equity, the forced-selling channel of
12 March 2020 / 19 May 2021 (``tests/perp/test_backstops.py`` stages it on a 300-WETH venue).

Margin. IMF 10% / MMF 5% (10× maximum leverage): dYdX Chain liquidity tier 1 (initial margin
100,000 ppm, maintenance 50% of it). Opening, increasing or flipping needs equity ≥ IM after the
trade; reducing only needs the account not to be liquidatable afterwards (or margin ≥ 0 once
flat), so reduce-only trades work below IM; withdrawals keep equity ≥ IM. Liquidatable when
equity < MM. Isolated long at max leverage: P_liq = E(1 − IMF)/(1 − MMF); short E(1 + IMF)/(1 + MMF);
bankruptcy price (ON ∓ m)/|q|.

Funding. Hourly (dYdX, Perp v1; Binance/BitMEX use 8 h), Binance's shape per interval:
F = clamp(P + clamp(r − P, ±0.05%), ±cap), P the time-weighted premium (traded − index)/index
sampled on every venue trade and at settlement, r = 0.01% per 8 h (0.125 bps per hour),
cap 0.75 × MMF (Binance's capped funding rate). Several elapsed intervals settle at once at
F × n; the schedule stays on the interval grid. Settlement is permissionless
(``settleFunding``) and also runs inside the first action after an interval, so nobody escapes
it. It is eager: every open position is paid in the same transaction (bounded by
``max_open_accounts``; ~17k gas per account), because that is what makes the sum exact: each
payer pays ceil(|q| · M · |F|), the receivers share the payers' total pro rata to size (rounded
down), and the rounding dust goes to the insurance fund, so payments + receipts + dust = 0 with
balanced or unbalanced open interest. Cumulative per-side indices (USD per WETH) are kept as the
record. "Unsettled funding" in a snapshot is the funding due at a settlement that would run now.

Insurance fund. Funded at deploy (``insurance_fund_usd``), by liquidation fees and by funding
dust; pays first when a flat account's margin is negative.

ADL. Then auto-deleveraging: profitable, unlocked opposite positions ranked by BitMEX's
PnL% × effective leverage = (uPnL / entry value) × (notional / equity), highest first (ties:
list order). The ranking is computed on-chain over the bounded list of open accounts the market
keeps anyway for funding: no keeper can steer it and it needs no proof. A deleveraged position
is closed through the venue (the venue stays everyone's counterparty, so the reserves keep
matching the positions) but realises its PnL at the bankrupt account's bankruptcy price: the
difference between its venue execution and that price pays the deficit (never more than its
margin after the close; a partial close of ceil(s · need / gap(s)) is enough since the gap is
concave in size). What neither covers is ``badDebt`` (counter + ``BadDebtRecorded``).

Vol margin (``vol_margin``, off by default). The oracle role calls ``updateVolatility`` once per
oracle round: r = ln(P_t / P_{t−1}) (fixed-point ln: range reduction to [√2/2, √2], 2·atanh
series to z^21; error < 1e-16 for ratios in [1e-6, 1e6]), v ← λv + (1 − λ)r² (RiskMetrics
λ = 0.94 per update), MMF = clamp(k · √v · √h, floor, cap) (k = 3, h = 4 updates, 5%–25%),
IMF = MMF × IMF₀/MMF₀. All mirrored in ``math.ewma_variance`` / ``math.vol_fractions``.

Primitives for the one installed mechanism (admin installs once; like ``LendingMarket``):
  closePosition(account, amount) -> (realisedPnl, quote)      reduce through the venue
  transferPosition(from, to, amount, price) -> realisedPnl    move a position at a price; `to`
                                                              must meet the trade margin rule
  payFromMargin(account, to, amount)                          margin out as USD (fees, rewards)
  chargeInsuranceFee(account, amount)                         margin into the insurance fund
  setLocked(account, locked)                                  freeze trader actions
  settleShortfall(account) -> (fromInsurance, fromAdl, bad)   flat account's negative margin
Each settles funding due first; each trading one samples the premium; each records the
account's bankruptcy price before reducing it (what ADL closes at). Reads for mechanisms and
agents: snapshot/snapshots (equity, MM, IM, health, liquidatable, funding owed), marketState,
isLiquidatable, adlScore, pendingFunding, markPrice, indexPrice, the venue's quote.

Events: MechanismInstalled, InsuranceFunded, Deposit, Withdraw, PositionChanged (kind: trade,
close, transfer, ADL), FundingSettled, FundingPaid, MarginPaid, InsuranceFeeCharged,
InsuranceDrawn, AutoDeleveraged, BadDebtRecorded, LockChanged, VolatilityUpdated; the venue's Swap.

Accounting identity (``accounting.check_identity``, asserted after every block in the tests):
  usd.balanceOf(market) == Σ margin + insuranceFund + venueBalance − badDebt
  venueBalance == (quoteReserve − initialQuoteReserve) − longOpenNotional + shortOpenNotional
with the per-side open notional and open interest equal to the accounts' sums.

Mechanisms (``MECHANISMS``; defaults in ``params``): fixed-fee (Perp v1: 25% partial closes
while health > 0.4, all below $2,000 or far under; keeper 1.25% + insurance 1% of notional),
dutch-auction (Maker's bark/take/redo with a position for a lot: top = mark × (1 ± 2%),
stairstep 0.99/90 s, tail 140 min, cusp 0.85, tip $50 + chip 0.1% from a reserve, dust $5,000,
1% penalty to the fund), soft (trim back to MM × 1.1, at most 25% per call and block, 0.5% fee),
private (fixed-fee terms behind the lending `private` order-flow auction).
"""

from .accounting import Books, books, check_identity
from .deploy import AccountView, Perp, PerpState, deploy_perp_market
from .mechanisms import MECHANISMS, PerpMechanism, deploy_mechanism
from .params import (
    PerpDutchAuctionParams,
    PerpFixedFeeParams,
    PerpParams,
    PerpPrivateParams,
    PerpSoftParams,
    bps_wad,
)

__all__ = [
    "AccountView", "Books", "MECHANISMS", "Perp", "PerpDutchAuctionParams", "PerpFixedFeeParams",
    "PerpMechanism", "PerpParams", "PerpPrivateParams", "PerpSoftParams", "PerpState", "books",
    "bps_wad", "check_identity", "deploy_mechanism", "deploy_perp_market",
]
