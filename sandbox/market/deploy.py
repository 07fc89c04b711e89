"""Deploy the core contracts (tokens, oracle, lending market, AMM, flash lender, lens) and read them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from sandbox.chain import Account, Address, Chain, Contract, deploy, execute
from sandbox.units import BPS, WAD, to_wad

ROLE_LABELS = ("deployer", "oracle", "treasury")



LENS_BATCH = 500  # owners per lens call: ~12M gas at the costliest position, well inside a call's cap


def lens_batches(owners: Sequence[Address]) -> list[list[Address]]:
    """``owners`` split into lens calls of at most ``LENS_BATCH``."""
    owners = list(owners)
    return [owners[i:i + LENS_BATCH] for i in range(0, len(owners), LENS_BATCH)]

@dataclass(frozen=True)
class MarketParams:
    """The market's risk parameters and the liquidity seeded at set-up."""

    initial_price_usd: float = 2000.0
    max_ltv_bps: int = 8000
    liquidation_threshold_bps: int = 8500
    oracle_delay_seconds: int = 0
    amm_fee_bps: int = 30
    amm_liquidity_weth: float = 5_000.0
    lending_liquidity_usd: float = 100_000_000.0
    flash_liquidity_usd: float = 100_000_000.0
    flash_fee_bps: int = 5
    min_borrow_usd: float = 0.0  # a borrow may not leave debt in (0, this); 0: no minimum

    def __post_init__(self):
        if not self.initial_price_usd > 0:
            raise ValueError(f"initial_price_usd must be positive, got {self.initial_price_usd}")
        if not 0 < self.max_ltv_bps <= self.liquidation_threshold_bps < BPS:
            raise ValueError("need 0 < max_ltv_bps <= liquidation_threshold_bps < 10000, got "
                             f"{self.max_ltv_bps} and {self.liquidation_threshold_bps}")
        if self.oracle_delay_seconds < 0:
            raise ValueError("oracle_delay_seconds must be >= 0")
        if not 0 <= self.amm_fee_bps < BPS or not 0 <= self.flash_fee_bps < BPS:
            raise ValueError("fees in bps must be in [0, 10000)")
        if self.min_borrow_usd < 0:
            raise ValueError(f"min_borrow_usd must be >= 0, got {self.min_borrow_usd}")
        for name in ("amm_liquidity_weth", "lending_liquidity_usd", "flash_liquidity_usd"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")


@dataclass(frozen=True)
class PositionView:
    owner: Address
    collateral: int
    held_collateral: int
    held_debt_asset: int
    debt: int
    health_factor_wad: int
    locked: bool

    @property
    def is_liquidatable(self) -> bool:
        return self.debt > 0 and self.health_factor_wad < WAD


@dataclass(frozen=True)
class MarketView:
    price: int
    total_collateral: int
    total_debt: int
    bad_debt: int
    liquidity: int
    timestamp: int
    block_number: int


@dataclass(frozen=True)
class Market:
    """Handles on one deployed market and the roles that run it."""

    chain: Chain
    params: MarketParams
    deployer: Account
    oracle_updater: Account
    treasury: Account
    weth: Contract
    usd: Contract
    oracle: Contract
    lending: Contract
    amm: Contract
    flash: Contract
    lens: Contract
    reads: "_Reads" = field(default_factory=lambda: _Reads(), compare=False, repr=False)

    def attach_book(self, book) -> None:
        """Serve ``positions`` from a PositionBook that follows events (see market.book)."""
        self.reads.book = book

    def positions(self, owners: Sequence[Address]) -> list[PositionView]:
        """The listed positions: from the attached book when it is in sync with the chain's
        head, otherwise in one call through the lens."""
        book = self.reads.book
        if book is not None and book.covers(owners):
            return book.views(owners)
        return self.read_positions(owners)

    def read_positions(self, owners: Sequence[Address]) -> list[PositionView]:
        """Every listed position through the lens, ``LENS_BATCH`` owners a call (a call's gas is
        capped, and a position at auction costs up to ~23k gas to read)."""
        rows = [r for batch in lens_batches(owners)
                for r in self.lens.call("positions", self.lending.address, batch)]
        return [PositionView(owner=r["owner"], collateral=r["collateral"],
                             held_collateral=r["heldCollateral"], held_debt_asset=r["heldDebtAsset"],
                             debt=r["debt"], health_factor_wad=r["healthFactorWad"], locked=r["locked"])
                for r in rows]

    def state(self) -> MarketView:
        s = self.lens.call("marketState", self.lending.address)
        return MarketView(price=s["price"], total_collateral=s["totalCollateral"],
                          total_debt=s["totalDebt"], bad_debt=s["badDebt"], liquidity=s["liquidity"],
                          timestamp=s["timestamp"], block_number=s["blockNumber"])

    numeraire = "USD"  # the debt asset: what liquidators pay and count profit in
    collateral_asset = "WETH"

    @property
    def liquidated_contract(self) -> Contract:
        """The contract a mechanism is installed on as its one liquidator."""
        return self.lending

    def ensure_liquidity(self, debt_wei: int) -> None:
        """Supply what borrowers will borrow (``debt_wei`` in all) when the market's liquidity
        falls short (many, large or expensive positions); otherwise change nothing."""
        short = debt_wei - self.lending.call("liquidity")
        if short > 0:
            execute(self.chain, [self.usd.tx(self.deployer, "mint", self.deployer.address, short),
                                 self.lending.tx(self.deployer, "supplyLiquidity", short)])

    def valuer(self, reserves: tuple[int, int]):
        """Keepers' valuation of proceeds at the AMM ``reserves`` (``AmmValuer``)."""
        from .valuation import AmmValuer

        return AmmValuer(reserves, self.params.amm_fee_bps)

    # --- what a run asks of every market's handle (``sandbox.markets``) -------------------------
    def prefetch_view(self) -> None:
        """Queue the reads of a block view in one round trip, where the backend takes several."""
        prefetch = getattr(self.chain, "prefetch_calls", None)
        if prefetch is not None:
            prefetch([(self.oracle.address, self.oracle.encode("latestSubmitted")),
                      (self.oracle.address, self.oracle.encode("price")),
                      (self.lens.address, self.lens.encode("marketState", self.lending.address)),
                      (self.amm.address, self.amm.encode("getReserves"))])

    def venue_reserves(self) -> tuple[int, int]:
        """(WETH, USD) reserves of the AMM collateral is sold on."""
        weth, usd = self.amm.call("getReserves")
        return int(weth), int(usd)

    def holdings(self, addresses: Sequence[Address]) -> dict[Address, tuple[int, int]]:
        """(USD, WETH) token balances of each address (a thousand reads in one round trip)."""
        prefetch = getattr(self.chain, "prefetch_calls", None)
        if prefetch is not None:
            prefetch([(token.address, token.encode("balanceOf", a)) for a in addresses
                      for token in (self.usd, self.weth)])
        return {a: (self.usd.call("balanceOf", a), self.weth.call("balanceOf", a)) for a in addresses}

    def keeper_setup_requests(self, account: Account, capital_wad: int, spenders: Sequence[str]) -> list:
        """A keeper's capital in USD and approvals to ``spenders`` and the AMM it sells on."""
        from .actions import fund_requests

        return fund_requests(self, account, usd_wei=capital_wad,
                             approve=list(dict.fromkeys([*spenders, self.amm.address])))

    def funds_of(self, address: Address) -> tuple[int, int]:
        """(USD, WETH) a keeper holds."""
        return self.usd.call("balanceOf", address), self.weth.call("balanceOf", address)

    def price(self) -> int:
        """The oracle price in force (WAD)."""
        book = self.reads.book
        if book is not None and book.in_sync():
            return book.price()
        return self.oracle.call("price")


class _Reads:
    """Mutable read helpers of a Market handle (the handle itself is frozen)."""

    def __init__(self):
        self.book = None


def deploy_market(chain: Chain, params: MarketParams | None = None, *,
                  deployer: Account | None = None, oracle_updater: Account | None = None,
                  treasury: Account | None = None) -> Market:
    """Deploy and seed the core contracts in a few set-up blocks.

    Roles default to the chain's accounts labelled deployer/oracle/treasury, else its first three.
    """
    params = params or MarketParams()
    roles = _roles(chain, deployer, oracle_updater, treasury)
    deployer, oracle_updater, treasury = roles
    weth, usd, oracle, lens = deploy(chain, deployer, [
        ("Token", ("Wrapped Ether", "WETH")),
        ("Token", ("USD Stablecoin", "USD")),
        ("PriceOracle", (oracle_updater.address, params.oracle_delay_seconds, "WETH / USD")),
        ("Lens", ()),
    ])
    lending, amm, flash = deploy(chain, deployer, [
        ("LendingMarket", (weth.address, usd.address, oracle.address,
                           params.max_ltv_bps * WAD // BPS,
                           params.liquidation_threshold_bps * WAD // BPS, treasury.address,
                           to_wad(params.min_borrow_usd))),
        ("ConstantProductAMM", (weth.address, usd.address, params.amm_fee_bps)),
        ("FlashLender", (usd.address, params.flash_fee_bps)),
    ])
    price = to_wad(params.initial_price_usd)
    amm_weth = to_wad(params.amm_liquidity_weth)
    amm_usd = amm_weth * price // WAD
    lend_usd = to_wad(params.lending_liquidity_usd)
    flash_usd = to_wad(params.flash_liquidity_usd)
    max_uint = 2**256 - 1
    execute(chain, [
        oracle.tx(oracle_updater, "submit", price),
        weth.tx(deployer, "mint", deployer.address, amm_weth),
        usd.tx(deployer, "mint", deployer.address, amm_usd + lend_usd),
        usd.tx(deployer, "mint", flash.address, flash_usd),
        weth.tx(deployer, "approve", amm.address, max_uint),
        usd.tx(deployer, "approve", amm.address, max_uint),
        usd.tx(deployer, "approve", lending.address, max_uint),
        amm.tx(deployer, "addLiquidity", amm_weth, amm_usd),
        lending.tx(deployer, "supplyLiquidity", lend_usd),
    ])
    if params.oracle_delay_seconds:
        # Let the first price come into force before anyone borrows against it.
        execute(chain, [], timestamp=chain.timestamp + params.oracle_delay_seconds)
    return Market(chain=chain, params=params, deployer=deployer, oracle_updater=oracle_updater,
                  treasury=treasury, weth=weth, usd=usd, oracle=oracle, lending=lending, amm=amm,
                  flash=flash, lens=lens)


def _roles(chain: Chain, deployer: Account | None, oracle_updater: Account | None,
           treasury: Account | None) -> tuple[Account, Account, Account]:
    by_label = {a.label: a for a in chain.accounts}

    def role(i: int, given: Account | None) -> Account:
        return given or by_label.get(ROLE_LABELS[i]) or chain.accounts[i]

    return role(0, deployer), role(1, oracle_updater), role(2, treasury)
