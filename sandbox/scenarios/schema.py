"""The scenario: everything one run needs besides the mechanism and the seed.

Frozen dataclasses with units in field names, validated on construction; the TOML loader
(``sandbox.scenarios.loader``) builds them and reports errors by field path.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from sandbox.errors import SandboxError
from sandbox.market import MarketParams

PRICE_MODELS = ("gbm", "jump", "path", "bridge", "csv")
BUILDER_POLICIES = ("priority-fee", "fifo")


class ScenarioError(SandboxError, ValueError):
    """A scenario is invalid; the message starts with the offending field's path."""


def _require(ok: bool, path: str, problem: str) -> None:
    if not ok:
        raise ScenarioError(f"{path}: {problem}")


@dataclass(frozen=True)
class PriceSpec:
    """The reference (off-chain) price of WETH in USD over the run."""

    model: str = "path"
    start_price_usd: float = 2000.0
    drift_per_year: float = 0.0  # gbm, jump
    volatility_per_year: float = 0.8  # gbm, jump
    jump_intensity_per_day: float = 0.0  # jump: expected jumps per day
    jump_mean: float = -0.05  # jump: mean log-size of a jump
    jump_stdev: float = 0.05  # jump: stdev of the log-size
    knots: tuple[tuple[float, float], ...] = ()  # path: [seconds, price usd], piecewise linear
    noise_volatility_per_year: float = 0.0  # path: multiplicative GBM noise around the knots
    target_price_usd: float = 0.0  # bridge
    target_time_seconds: float = 0.0  # bridge
    csv_file: str = ""  # csv: a "timestamp,price" file (seconds from start), relative to the scenario
    floor_price_usd: float = 1e-6  # every model's output is clipped here: prices stay positive

    def __post_init__(self):
        p = "price"
        _require(self.model in PRICE_MODELS, f"{p}.model",
                 f"unknown model {self.model!r} (one of {', '.join(PRICE_MODELS)})")
        _require(self.start_price_usd > 0, f"{p}.start_price_usd", "must be > 0")
        _require(self.volatility_per_year >= 0, f"{p}.volatility_per_year", "must be >= 0")
        _require(self.noise_volatility_per_year >= 0, f"{p}.noise_volatility_per_year", "must be >= 0")
        _require(self.jump_intensity_per_day >= 0, f"{p}.jump_intensity_per_day", "must be >= 0")
        _require(self.jump_stdev >= 0, f"{p}.jump_stdev", "must be >= 0")
        _require(self.floor_price_usd > 0, f"{p}.floor_price_usd", "must be > 0")
        if self.model == "path":
            _require(len(self.knots) >= 1, f"{p}.knots", "the path model needs at least one [seconds, price] knot")
            times = [t for t, _ in self.knots]
            _require(all(b > a for a, b in pairwise(times)), f"{p}.knots", "times must increase")
            _require(all(t >= 0 for t in times), f"{p}.knots", "times must be >= 0")
            _require(all(v > 0 for _, v in self.knots), f"{p}.knots", "prices must be > 0")
        if self.model == "bridge":
            _require(self.target_price_usd > 0, f"{p}.target_price_usd", "must be > 0")
            _require(self.target_time_seconds > 0, f"{p}.target_time_seconds", "must be > 0")
        if self.model == "csv":
            _require(bool(self.csv_file), f"{p}.csv_file", "the csv model needs a file")


@dataclass(frozen=True)
class GasSpec:
    """The gas market: starting base fee and background demand (virtual gas), with spikes."""

    base_fee_gwei: float = 20.0  # reached during set-up, before block 1
    background_gas_per_block: int = 15_000_000  # half of a 30M block: a steady base fee
    background_tip_gwei: float = 1.0
    spikes: tuple[tuple[float, float, float], ...] = ()  # [start_s, end_s, multiplier]

    def __post_init__(self):
        _require(self.base_fee_gwei > 0, "gas.base_fee_gwei", "must be > 0")
        _require(0 <= self.background_gas_per_block <= 30_000_000, "gas.background_gas_per_block",
                 "must be within [0, 30000000]")
        _require(self.background_tip_gwei >= 0, "gas.background_tip_gwei", "must be >= 0")
        for i, spike in enumerate(self.spikes):
            _require(len(spike) == 3, f"gas.spikes[{i}]", "must be [start_s, end_s, multiplier]")
            start, end, mult = spike
            _require(0 <= start < end, f"gas.spikes[{i}]", "needs 0 <= start_s < end_s")
            _require(mult > 0, f"gas.spikes[{i}]", "multiplier must be > 0")

    def demand_at(self, seconds: float) -> tuple[int, float]:
        """(background gas, background tip gwei) at ``seconds`` from the start; spikes multiply both."""
        mult = 1.0
        for start, end, m in self.spikes:
            if start <= seconds < end:
                mult *= m
        return min(30_000_000, int(self.background_gas_per_block * mult)), self.background_tip_gwei * mult


@dataclass(frozen=True)
class OracleSpec:
    deviation_bps: int = 50  # push when the reference moves this far from the last answer
    heartbeat_seconds: int = 3600  # ... or when this long has passed
    delay_seconds: int = 0  # OSM-style: the answer in force is the one from this long ago
    tip_gwei: float = 1.0
    # Share of the AMM spot price in what the updater reports: 0 = the off-chain reference
    # price; 1 = a DEX-fed oracle, through which liquidation dumps can cascade.
    amm_weight: float = 0.0
    # Windows in which the feed is wrong while the market is right: [start_s, end_s, multiplier]
    # reports the observed price × multiplier (a manipulated, broken or stale source, e.g.
    # Compound's DAI at 1.30 on 26 Nov 2020), then back to normal.
    faults: tuple[tuple[float, float, float], ...] = ()

    def __post_init__(self):
        for i, fault in enumerate(self.faults):
            _require(len(fault) == 3, f"oracle.faults[{i}]", "must be [start_s, end_s, multiplier]")
            start, end, mult = fault
            _require(0 <= start < end, f"oracle.faults[{i}]", "needs 0 <= start_s < end_s")
            _require(0 < mult <= 100, f"oracle.faults[{i}]", "multiplier must be within (0, 100]")
        for i, (a, b) in enumerate(pairwise(self.faults)):
            _require(b[0] >= a[1], f"oracle.faults[{i + 1}]", "windows must not overlap (sort them by start_s)")
        _require(0.0 <= self.amm_weight <= 1.0, "oracle.amm_weight", "must be within [0, 1]")
        _require(self.deviation_bps > 0, "oracle.deviation_bps", "must be > 0")
        _require(self.heartbeat_seconds > 0, "oracle.heartbeat_seconds", "must be > 0")
        _require(self.delay_seconds >= 0, "oracle.delay_seconds", "must be >= 0")
        _require(self.tip_gwei >= 0, "oracle.tip_gwei", "must be >= 0")

    def fault_multiplier(self, seconds: float) -> float:
        """The fault in force at ``seconds`` from the start (1.0 outside every window)."""
        for start, end, mult in self.faults:
            if start <= seconds < end:
                return mult
        return 1.0


@dataclass(frozen=True)
class AmmSpec:
    liquidity_weth: float = 5_000.0
    fee_bps: int = 30

    def __post_init__(self):
        _require(self.liquidity_weth > 0, "amm.liquidity_weth", "must be > 0")
        _require(0 <= self.fee_bps < 10_000, "amm.fee_bps", "must be within [0, 10000)")


@dataclass(frozen=True)
class LendingSpec:
    max_ltv_bps: int = 8000
    liquidation_threshold_bps: int = 8500
    min_borrow_usd: float = 0.0  # a borrow may not leave debt in (0, this) (Maker's vat dust)

    def __post_init__(self):
        _require(0 < self.max_ltv_bps <= self.liquidation_threshold_bps < 10_000, "lending",
                 "needs 0 < max_ltv_bps <= liquidation_threshold_bps < 10000")
        _require(self.min_borrow_usd >= 0, "lending.min_borrow_usd", "must be >= 0")


@dataclass(frozen=True)
class BorrowerSpec:
    """The borrower population, drawn from the run's seed at the start."""

    count: int = 40
    collateral_weth_median: float = 10.0  # lognormal collateral sizes
    collateral_weth_sigma: float = 1.0
    ltv_min_bps: int = 6500  # target LTV, uniform in [min, max]
    ltv_max_bps: int = 7900
    react_below_health_factor: float = 1.05  # borrowers may act when HF falls below this
    reaction_probability: float = 0.0  # per block, when below the threshold
    top_up_fraction: float = 0.25  # a reaction adds this fraction of the collateral (or repays as much debt)

    def __post_init__(self):
        _require(self.count >= 1, "borrowers.count", "must be >= 1")
        _require(self.collateral_weth_median > 0, "borrowers.collateral_weth_median", "must be > 0")
        _require(self.collateral_weth_sigma >= 0, "borrowers.collateral_weth_sigma", "must be >= 0")
        _require(0 < self.ltv_min_bps <= self.ltv_max_bps < 10_000, "borrowers",
                 "needs 0 < ltv_min_bps <= ltv_max_bps < 10000")
        _require(0 <= self.reaction_probability <= 1, "borrowers.reaction_probability", "must be within [0, 1]")
        _require(self.react_below_health_factor > 0, "borrowers.react_below_health_factor", "must be > 0")
        _require(0 < self.top_up_fraction <= 10, "borrowers.top_up_fraction", "must be within (0, 10]")


@dataclass(frozen=True)
class ArbitrageurSpec:
    enabled: bool = True
    capital_usd_per_block: float = 2_000_000.0  # most USD (or USD worth of WETH) traded per block
    min_edge_bps: int = 10  # trade only when the AMM is this far from the reference
    tip_gwei: float = 1.0

    def __post_init__(self):
        _require(self.capital_usd_per_block > 0, "arbitrageur.capital_usd_per_block", "must be > 0")
        _require(self.min_edge_bps >= 0, "arbitrageur.min_edge_bps", "must be >= 0")
        _require(self.tip_gwei >= 0, "arbitrageur.tip_gwei", "must be >= 0")


@dataclass(frozen=True)
class PerpSpec:
    """The perpetual market (``market = "perp"``): its venue, margin, mark, funding, insurance
    fund and volatility margin. The defaults and their sources are ``sandbox.perp.PerpParams``'s
    (a test holds them equal); the start price is ``price.start_price_usd`` and the index's
    delay ``oracle.delay_seconds``."""

    venue_depth_weth: float = 10_000.0  # virtual base reserve of the vAMM: thinner moves more per trade
    initial_margin_bps: float = 1000  # 10x maximum leverage
    maintenance_margin_bps: float = 500
    max_open_accounts: int = 128  # accounts holding a position (bounds the funding and ADL loops)
    mark_weight_bps: float = 0  # share of the venue's premium in the mark (0: mark = index)
    max_mark_premium_bps: float = 500
    funding_interval_seconds: int = 3600
    funding_interest_bps: float = 0.125  # per interval
    funding_band_bps: float = 5
    funding_cap_bps: float = 375  # per interval
    insurance_fund_usd: float = 1_000_000.0
    vol_margin: bool = False  # margin fractions follow an EWMA of the oracle's log returns
    vol_lambda_bps: float = 9400
    vol_multiplier: float = 3.0
    vol_horizon_updates: int = 4
    vol_mmf_floor_bps: float = 500
    vol_mmf_cap_bps: float = 2500
    vol_initial_sigma_bps: float = 50  # per oracle update

    def __post_init__(self):
        from sandbox.perp.params import PerpParams

        try:
            PerpParams(**{f.name: getattr(self, f.name) for f in dataclasses.fields(self)})
        except ValueError as e:
            raise ScenarioError(f"perp: {e}") from None


@dataclass(frozen=True)
class TraderSpec:
    """The perpetual traders, drawn from the run's seed at the start: margin lognormal (median
    ``margin_usd_median``, log-stdev ``margin_usd_sigma``), leverage uniform in [``leverage_min``,
    ``leverage_max``], long with probability ``long_share``. While a trader's health (equity / MM
    at the mark) is below ``add_margin_below_health`` it may, with ``add_margin_probability`` per
    block, deposit ``add_margin_fraction`` of its initial margin from a reserve of one such top-up."""

    count: int = 40
    margin_usd_median: float = 5_000.0
    margin_usd_sigma: float = 0.8
    leverage_min: float = 2.0
    leverage_max: float = 8.0
    long_share: float = 0.5
    add_margin_below_health: float = 1.3
    add_margin_probability: float = 0.0
    add_margin_fraction: float = 0.5

    def __post_init__(self):
        _require(self.count >= 1, "traders.count", "must be >= 1")
        _require(self.margin_usd_median > 0, "traders.margin_usd_median", "must be > 0")
        _require(self.margin_usd_sigma >= 0, "traders.margin_usd_sigma", "must be >= 0")
        _require(0 < self.leverage_min <= self.leverage_max, "traders", "needs 0 < leverage_min <= leverage_max")
        _require(0 <= self.long_share <= 1, "traders.long_share", "must be within [0, 1]")
        _require(0 <= self.add_margin_probability <= 1, "traders.add_margin_probability", "must be within [0, 1]")
        _require(self.add_margin_fraction > 0, "traders.add_margin_fraction", "must be > 0")


@dataclass(frozen=True)
class KeeperSpec:
    """``count`` keepers of one strategy (entry-point group ``sandbox.keepers``)."""

    strategy: str
    count: int = 1
    capital_usd: float = 1_000_000.0  # 0 for capital-free (flash) keepers
    tip_gwei: float = 2.0
    max_fee_cap_gwei: float = 0.0  # 0: no cap
    params: dict = field(default_factory=dict)  # strategy-specific overrides

    def __post_init__(self):
        _require(bool(self.strategy), "keepers.strategy", "is required")
        _require(self.count >= 1, f"keepers[{self.strategy}].count", "must be >= 1")
        _require(self.capital_usd >= 0, f"keepers[{self.strategy}].capital_usd", "must be >= 0")
        _require(self.tip_gwei >= 0, f"keepers[{self.strategy}].tip_gwei", "must be >= 0")

    def __hash__(self):  # params is a dict; hash by its sorted items
        return hash((self.strategy, self.count, self.capital_usd, self.tip_gwei,
                     self.max_fee_cap_gwei, tuple(sorted(self.params.items()))))


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str = ""
    market: str = "lending"  # the market plug-in (``sandbox.markets``) the run is assembled around
    blocks: int = 600
    block_time_seconds: int = 12
    builder_policy: str = "priority-fee"
    price: PriceSpec = PriceSpec(knots=((0.0, 2000.0),))
    gas: GasSpec = GasSpec()
    oracle: OracleSpec = OracleSpec()
    amm: AmmSpec = AmmSpec()
    lending: LendingSpec = LendingSpec()
    borrowers: BorrowerSpec = BorrowerSpec()
    arbitrageur: ArbitrageurSpec = ArbitrageurSpec()
    perp: PerpSpec = PerpSpec()
    traders: TraderSpec = TraderSpec()
    keepers: tuple[KeeperSpec, ...] = (KeeperSpec(strategy="naive"),)
    mechanisms: dict = field(default_factory=dict)  # mechanism name -> {param: value}
    # After the price path, the run goes on with the price held at its last value until nothing
    # is left to do (no open auction, no liquidatable position, no unconverted band below the
    # price) or this long has passed; 0 ends the run with the path.
    settle_max_seconds: int = 86_400
    # ... or, once no liquidation is unfinished, until the open opportunities have stayed
    # untouched this long: nobody will take them, they are stuck.
    settle_idle_seconds: int = 3_600
    source: str = ""  # where it was loaded from (file path or "builtin:<name>")

    def __post_init__(self):
        _require(bool(self.name), "name", "is required")
        check_limits(self)  # sizes first: a value outside its range is named before any relation
        _require(self.settle_max_seconds >= 0, "settle_max_seconds", "must be >= 0")
        _require(self.settle_idle_seconds >= self.block_time_seconds, "settle_idle_seconds",
                 "must be at least one block (block_time_seconds)")
        _require(self.blocks >= 1, "blocks", "must be >= 1")
        _require(self.block_time_seconds >= 1, "block_time_seconds", "must be >= 1")
        _require(self.builder_policy in BUILDER_POLICIES, "builder_policy",
                 f"unknown policy {self.builder_policy!r} (one of {', '.join(BUILDER_POLICIES)})")
        _require(len(self.keepers) >= 1, "keepers", "at least one keeper group is required")

    def __hash__(self):
        return hash((self.name, self.blocks, self.source))

    @property
    def duration_seconds(self) -> int:
        return self.blocks * self.block_time_seconds

    def market_params(self) -> MarketParams:
        return MarketParams(
            initial_price_usd=self.price.start_price_usd,
            max_ltv_bps=self.lending.max_ltv_bps,
            liquidation_threshold_bps=self.lending.liquidation_threshold_bps,
            oracle_delay_seconds=self.oracle.delay_seconds,
            min_borrow_usd=self.lending.min_borrow_usd,
            amm_fee_bps=self.amm.fee_bps,
            amm_liquidity_weth=self.amm.liquidity_weth,
        )

    def perp_params(self):
        """``sandbox.perp.PerpParams`` of the perpetual market: ``[perp]``, the start price and the
        oracle's delay."""
        from sandbox.perp.params import PerpParams

        return PerpParams(initial_price_usd=self.price.start_price_usd, oracle_delay_seconds=self.oracle.delay_seconds,
                          **{f.name: getattr(self.perp, f.name) for f in dataclasses.fields(self.perp)})

    @property
    def population(self) -> str:
        """Who holds the positions, for headers: "40 borrowers" (lending) or "40 traders" (perp)."""
        from sandbox.markets import get_market

        try:
            return get_market(self.market).population(self)
        except Exception:  # noqa: BLE001 - a header must not fail on a broken plug-in
            return f"{self.borrowers.count} borrowers"

    def mechanism_overrides(self, mechanism: str) -> dict[str, Any]:
        return dict(self.mechanisms.get(mechanism, {}))

    def as_dict(self) -> dict[str, Any]:
        """Plain data (for manifests): every resolved field, nested."""
        return dataclasses.asdict(self)


# =========================================================================== size limits
# Every number a scenario sets has a range here, checked in one place (``check_limits``, run
# when a Scenario is built, so by the loader too): a typo such as ``blocks = 1000000000`` is one
# line naming the field and the limit, not a 7 GiB allocation, an hour deriving accounts, or an
# eth-abi overflow in the middle of a run. The ranges are what one run can execute on a 24 GiB,
# 2-core machine, measured on the eth-tester backend, and keep WAD (1e18 fixed-point) products
# of a price and an amount (below 1e12 × 1e18 × 1e9 × 1e18 = 1e57) far inside uint256 (1.2e77).
# A field added to the schema needs a row here (a test checks every numeric field has one).

MIN_PRICE_USD = 1e-6  # prices are WAD integers rounded to 1e-8 USD: 1e-6 keeps 1% steps
MAX_PRICE_USD = 1e12  # a WAD price of 1e30: times 1e27 wei of collateral still 1e20 below uint256
# The longest run: 1,000,000 blocks of one day. Time offsets (knots, spikes, heartbeats, delays)
# beyond it never happen; block timestamps stay far inside the header's uint64.
MAX_SECONDS = 1_000_000 * 86_400
MAX_GWEI = 1e6  # 1e15 wei per gas: a 1M-gas transaction costs 1,000 ETH of the agents' 1e9 ETH

LIMITS: dict[str, tuple[float, float]] = {
    # py-evm keeps every block (~6 KB of history and tables per block, measured over 4,000
    # blocks): 1M blocks is ~6 GiB per run, two runs at once on 24 GiB, about 6 h at 50 blocks/s.
    "blocks": (1, 1_000_000),
    "block_time_seconds": (1, 86_400),
    "price.start_price_usd": (MIN_PRICE_USD, MAX_PRICE_USD),
    "price.floor_price_usd": (MIN_PRICE_USD, MAX_PRICE_USD),
    "price.target_price_usd": (0.0, MAX_PRICE_USD),  # 0: unused (bridge requires > 0)
    "price.knots[].seconds": (0.0, MAX_SECONDS),
    "price.knots[].price_usd": (MIN_PRICE_USD, MAX_PRICE_USD),
    "price.target_time_seconds": (0.0, MAX_SECONDS),
    # yearly rates: 10 = 1,000%/year (crypto's realised volatility is ~50-150%); beyond, paths
    # sit at the floor or the ceiling every block and say nothing
    "price.drift_per_year": (-10.0, 10.0),
    "price.volatility_per_year": (0.0, 10.0),
    "price.noise_volatility_per_year": (0.0, 10.0),
    "price.jump_intensity_per_day": (0.0, 1_000.0),
    "price.jump_mean": (-10.0, 10.0),
    "price.jump_stdev": (0.0, 10.0),
    "gas.base_fee_gwei": (1e-9, MAX_GWEI),  # 1e-9 gwei = 1 wei, the smallest base fee
    "gas.background_gas_per_block": (0, 30_000_000),  # the block gas limit
    "gas.background_tip_gwei": (0.0, MAX_GWEI),
    "gas.spikes[].start_s": (0.0, MAX_SECONDS),
    "gas.spikes[].end_s": (0.0, MAX_SECONDS),
    "gas.spikes[].multiplier": (0.0, 1_000.0),  # demand is capped at the gas limit anyway
    "oracle.deviation_bps": (1, 10_000),
    "oracle.heartbeat_seconds": (1, MAX_SECONDS),
    "oracle.delay_seconds": (0, MAX_SECONDS),
    "oracle.tip_gwei": (0.0, MAX_GWEI),
    "oracle.amm_weight": (0.0, 1.0),
    "oracle.faults[].start_s": (0.0, MAX_SECONDS),
    "oracle.faults[].end_s": (0.0, MAX_SECONDS),
    "oracle.faults[].multiplier": (0.0, 100.0),  # the reported price × this: a feed off by up to 100×
    # the settle phase: at most a year after the path (auctions, band conversions finishing)
    "settle_max_seconds": (0, 365 * 86_400),
    "settle_idle_seconds": (1, 365 * 86_400),
    "lending.min_borrow_usd": (0.0, MAX_PRICE_USD),
    "amm.liquidity_weth": (1e-3, 1e9),
    "amm.fee_bps": (0, 9_999),
    "lending.max_ltv_bps": (1, 9_999),
    "lending.liquidation_threshold_bps": (1, 9_999),
    # Positions are read in lens calls of 500 (up to ~23k gas a position, measured over a crash,
    # english-auction), so the bound is time: set-up takes ~60 ms a borrower on eth-tester, and
    # every block re-reads what moved; 5,000 is five minutes of set-up.
    "borrowers.count": (1, 5_000),
    "borrowers.collateral_weth_median": (1e-3, 1e6),
    "borrowers.collateral_weth_sigma": (0.0, 3.0),  # a 5-sigma draw is then 3e6 × the median
    "borrowers.ltv_min_bps": (1, 9_999),
    "borrowers.ltv_max_bps": (1, 9_999),
    "borrowers.react_below_health_factor": (0.0, 100.0),
    "borrowers.reaction_probability": (0.0, 1.0),
    "borrowers.top_up_fraction": (0.0, 10.0),
    "arbitrageur.capital_usd_per_block": (0.0, 1e15),
    "arbitrageur.min_edge_bps": (0, 10_000),
    "arbitrageur.tip_gwei": (0.0, MAX_GWEI),
    # Each keeper is an account and an agent that scans every opportunity each block (~45 ms
    # of set-up each, measured with 200 naive keepers).
    # The perpetual market: every position is re-read each block in one call and funding pays
    # every open account eagerly (~35k gas each inside one trade), so 500 accounts (~18M gas, a
    # settlement within one 30M block) is the most a run can hold; traders, the arbitrageur and
    # keepers that take auction lots count.
    "perp.venue_depth_weth": (1e-3, 1e9),
    "perp.initial_margin_bps": (1, 10_000),
    "perp.maintenance_margin_bps": (1, 9_999),
    "perp.max_open_accounts": (2, 500),
    "perp.mark_weight_bps": (0, 10_000),
    "perp.max_mark_premium_bps": (0, 10_000),
    "perp.funding_interval_seconds": (1, MAX_SECONDS),
    "perp.funding_interest_bps": (-10_000, 10_000),
    "perp.funding_band_bps": (0, 10_000),
    "perp.funding_cap_bps": (0, 10_000),
    "perp.insurance_fund_usd": (0.0, 1e15),
    "perp.vol_lambda_bps": (0, 9_999),
    "perp.vol_multiplier": (0.0, 1_000.0),
    "perp.vol_horizon_updates": (1, 1_000_000),
    "perp.vol_mmf_floor_bps": (0, 9_999),
    "perp.vol_mmf_cap_bps": (0, 9_999),
    "perp.vol_initial_sigma_bps": (0, 10_000),
    "traders.count": (1, 490),  # with the arbitrageur and a few keepers inside max_open_accounts' 500
    "traders.margin_usd_median": (1e-3, 1e12),
    "traders.margin_usd_sigma": (0.0, 3.0),
    "traders.leverage_min": (1e-3, 10_000.0),
    "traders.leverage_max": (1e-3, 10_000.0),
    "traders.long_share": (0.0, 1.0),
    "traders.add_margin_below_health": (0.0, 100.0),
    "traders.add_margin_probability": (0.0, 1.0),
    "traders.add_margin_fraction": (0.0, 10.0),
    "keepers[].count": (1, 1_000),
    "keepers[].capital_usd": (0.0, 1e15),
    "keepers[].tip_gwei": (0.0, MAX_GWEI),
    "keepers[].max_fee_cap_gwei": (0.0, MAX_GWEI),
}
MAX_KEEPERS = 1_000  # all groups together

# Limits of a command rather than of a scenario file.
RUN_LIMITS: dict[str, tuple[int, int]] = {
    "seeds": (1, 100_000),
    # each worker holds a run (~200 MB at the default sizes, GiBs at the largest): 64 at most
    "jobs": (1, 64),
}
# Every run's tables stay in memory until the results are written: ~0.6-2 KB per block (measured
# on crash), so 5M blocks over all runs is at most ~10 GiB, written in one piece.
MAX_BLOCK_RUNS = 5_000_000

_ROW_COLUMNS = {"price.knots": ("seconds", "price_usd"), "gas.spikes": ("start_s", "end_s", "multiplier"),
                "oracle.faults": ("start_s", "end_s", "multiplier")}


def _limit_values(scenario: "Scenario", path: str) -> list[tuple[str, Any]]:
    """(path as the user wrote it, value) of every value ``path`` names in ``scenario``."""
    if path.startswith("keepers[]."):
        name = path.split(".", 1)[1]
        return [(f"keepers[{i}].{name}", getattr(k, name)) for i, k in enumerate(scenario.keepers)]
    if "[]." in path:
        rows_path, column = path.split("[].")
        section, name = rows_path.split(".")
        index = _ROW_COLUMNS[rows_path].index(column)
        rows = getattr(getattr(scenario, section), name)
        return [(f"{rows_path}[{i}]", row[index]) for i, row in enumerate(rows)]
    obj: Any = scenario
    for part in path.split("."):
        obj = getattr(obj, part)
    return [(path, obj)]


def _number_text(value: float) -> str:
    """Whole numbers below 1e12 with thousands separators, others in %g (1e+12, 1e-06, 0.5)."""
    return f"{int(value):,}" if float(value).is_integer() and abs(value) < 1e12 else f"{value:g}"


def check_limits(scenario: "Scenario") -> None:
    """Every value within ``LIMITS``; a ``ScenarioError`` names the first one outside."""
    for path, (lo, hi) in LIMITS.items():
        for where, value in _limit_values(scenario, path):
            if not lo <= value <= hi:
                side = "below the lowest" if value < lo else "above the highest"
                raise ScenarioError(f"{where}: {_number_text(value)} is {side} value the sandbox can run "
                                    f"({_number_text(lo)} … {_number_text(hi)})")
    keepers = sum(k.count for k in scenario.keepers)
    _require(keepers <= MAX_KEEPERS, "keepers",
             f"{keepers:,} keepers in all is above the highest number the sandbox can run ({MAX_KEEPERS:,})")


def check_run_size(scenario: "Scenario", runs: int) -> None:
    """Refuse a comparison whose tables would not fit in memory (``MAX_BLOCK_RUNS``)."""
    total = scenario.blocks * runs
    _require(total <= MAX_BLOCK_RUNS, "--seeds",
             f"{runs:,} runs × {scenario.blocks:,} blocks = {total:,} blocks in all, above the "
             f"{MAX_BLOCK_RUNS:,} the sandbox can hold in memory; use fewer seeds, mechanisms or blocks")
