"""Deploy the perpetual market (on a new or an existing USD token and oracle) and read it in
batched calls: every listed account in one ``snapshots`` call, the market in one ``marketState``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from sandbox.chain import Account, Address, Chain, Contract, at, deploy, execute
from sandbox.units import to_wad

from .params import PerpParams

MAX_UINT = 2**256 - 1
ROLE_LABELS = ("deployer", "oracle", "treasury")


@dataclass(frozen=True)
class AccountView:
    """One account as ``PerpMarket.snapshot`` reports it (WAD integers; funding due included)."""

    owner: Address
    margin: int
    size: int
    entry_price: int
    unrealised_pnl: int
    funding_owed: int
    equity: int
    maintenance_margin: int
    initial_margin: int
    health_wad: int  # equity / MM; 2**255 - 1 when flat
    locked: bool
    liquidatable: bool


@dataclass(frozen=True)
class PerpState:
    """``PerpMarket.marketState``: prices, venue reserves, open interest, funds and funding."""

    index_price: int
    traded_price: int
    mark_price: int
    base_reserve: int
    quote_reserve: int
    long_open_interest: int
    short_open_interest: int
    long_open_notional: int
    short_open_notional: int
    insurance_fund: int
    bad_debt: int
    venue_balance: int
    long_funding_index: int
    short_funding_index: int
    last_funding_time: int
    pending_funding_rate: int
    imf: int
    mmf: int
    open_accounts: int
    timestamp: int

    @property
    def price(self) -> int:
        """The oracle price in force (the index), as ``MarketView.price`` of the lending market."""
        return self.index_price


_ACCOUNT_FIELDS = {"owner": "owner", "margin": "margin", "size": "size", "entryPrice": "entry_price",
                   "unrealisedPnl": "unrealised_pnl", "fundingOwed": "funding_owed", "equity": "equity",
                   "maintenanceMargin": "maintenance_margin", "initialMargin": "initial_margin",
                   "healthWad": "health_wad", "locked": "locked", "liquidatable": "liquidatable"}


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


@dataclass(frozen=True)
class Perp:
    """Handles on one deployed perpetual market and the roles that run it."""

    chain: Chain
    params: PerpParams
    deployer: Account
    oracle_updater: Account
    treasury: Account
    usd: Contract
    oracle: Contract
    market: Contract
    venue: Contract

    def accounts(self, owners: Sequence[Address]) -> list[AccountView]:
        """Every listed account in one call."""
        if not owners:
            return []
        rows = self.market.call("snapshots", list(owners))
        return [AccountView(**{_ACCOUNT_FIELDS[k]: v for k, v in row.items()}) for row in rows]

    def account(self, owner: Address) -> AccountView:
        return self.accounts([owner])[0]

    def raw(self, owner: Address) -> tuple[int, int, int, bool]:
        """(margin, size, open notional, locked) as stored."""
        return self.market.call("accountOf", owner)

    def state(self) -> PerpState:
        return PerpState(**{_snake(k): v for k, v in self.market.call("marketState").items()})

    def mark_price(self) -> int:
        return self.market.call("markPrice")

    def index_price(self) -> int:
        return self.market.call("indexPrice")


def deploy_perp_market(chain: Chain, params: PerpParams | None = None, *, deployer: Account | None = None,
                       oracle_updater: Account | None = None, treasury: Account | None = None,
                       usd: Contract | None = None, oracle: Contract | None = None) -> Perp:
    """Deploy the market (its venue is created by its constructor) and fund the insurance fund.

    Without ``usd``/``oracle`` a USD token and a price oracle are deployed and the oracle is seeded
    at ``initial_price_usd``; pass the lending market's to share them (the deployer must be the
    token's minter when the insurance fund is funded). Roles default to the chain's accounts
    labelled deployer/oracle/treasury, else its first three.
    """
    params = params or PerpParams()
    by_label = {a.label: a for a in chain.accounts}
    deployer, oracle_updater, treasury = (
        given or by_label.get(label) or chain.accounts[i]
        for i, (label, given) in enumerate(zip(ROLE_LABELS, (deployer, oracle_updater, treasury), strict=True)))
    if usd is None or oracle is None:
        usd, oracle = deploy(chain, deployer, [
            ("Token", ("USD Stablecoin", "USD")),
            ("PriceOracle", (oracle_updater.address, params.oracle_delay_seconds, "WETH / USD")),
        ])
        execute(chain, [oracle.tx(oracle_updater, "submit", to_wad(params.initial_price_usd))])
        if params.oracle_delay_seconds:
            execute(chain, [], timestamp=chain.timestamp + params.oracle_delay_seconds)
    (market,) = deploy(chain, deployer, [
        ("PerpMarket", (usd.address, oracle.address, treasury.address, *params.constructor_tail())),
    ])
    venue = at(chain, "PerpVenue", market.call("venue"))
    fund = to_wad(params.insurance_fund_usd)
    if fund:
        execute(chain, [
            usd.tx(deployer, "mint", deployer.address, fund),
            usd.tx(deployer, "approve", market.address, MAX_UINT),
            market.tx(deployer, "fundInsurance", fund),
        ])
    return Perp(chain=chain, params=params, deployer=deployer, oracle_updater=oracle_updater,
                treasury=treasury, usd=usd, oracle=oracle, market=market, venue=venue)
