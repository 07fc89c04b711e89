"""The perpetual market as a run sees it: the handle mechanisms install on and agents act through
(``PerpRunMarket``), its positions as views, the at-risk rule on a margin account
(``PerpRisk``), and what keepers' proceeds are worth on the venue (``VenueValuer``).

The handle offers what the simulation asks of every market (``numeraire``, ``collateral_asset``,
``valuer``, ``positions``, ``state``, ``price``, ``oracle``, ``oracle_updater``, ``holdings``,
keeper set-up and funds) over the contracts deployed by ``sandbox.perp.deploy``. Positions are
read in one ``snapshots`` call, or, while a run follows them (``PerpBook``), kept from the
market's events and computed with the contract's formulas, with one ``marketState`` per head.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from sandbox.chain import Account, Address, Contract, TxRequest
from sandbox.legs import Leg, amount_of, legs
from sandbox.units import BPS, WAD, to_wad

from . import math as pm
from .actions import MAX_UINT, TRADE_GAS, deposit_tx, fund_requests, trade_tx
from .deploy import Perp, PerpState

if TYPE_CHECKING:
    from sandbox.agents.base import BlockView
    from sandbox.agents.context import AgentContext
    from sandbox.agents.keepers.base import Keeper
    from sandbox.chain.mempool import PendingTx

VOL_UPDATE_GAS = 200_000  # updateVolatility: ln, sqrt, three stores (~60k)
SALE_GAS = TRADE_GAS  # an inventory close may settle funding for every open account first
KEEPER_MARGIN_SHARE_BPS = 5_000  # share of a perp keeper's capital posted as margin (auction takes)
HEALTH_DIGITS = 10**9


# ----------------------------------------------------------------------------- views

@dataclass(frozen=True)
class PerpPositionView:
    """One margin account at the head: the market's own snapshot (equity at the mark, funding due
    included) plus its open notional (cost basis) and the margin fraction in force.

    ``debt`` is the open notional: what the generic code calls a position's debt is, on this
    market, the USD cost basis of the open position (a long owes it to the venue; a short
    received it and owes the WETH back)."""

    owner: Address
    margin: int
    size: int  # signed WETH, long > 0
    open_notional: int
    funding_owed: int
    equity: int
    maintenance_margin: int
    initial_margin: int
    health_factor_wad: int  # equity / MM at the mark; 2**255 - 1 when flat
    locked: bool
    liquidatable: bool
    mark_price: int
    mmf: int

    @property
    def debt(self) -> int:
        return self.open_notional

    @property
    def is_liquidatable(self) -> bool:
        return self.liquidatable

    def equity_at(self, price_wad: int) -> int:
        """Equity if the mark were ``price_wad`` (the contract's rounding; funding due included)."""
        return pm.equity(self.margin, self.size, self.open_notional, price_wad, self.funding_owed)

    def maintenance_at(self, price_wad: int) -> int:
        return pm.requirement(self.size, price_wad, self.mmf)


def open_notional_from(size: int, unrealised_pnl: int, mark: int) -> int:
    """The cost basis, recovered exactly from a snapshot's uPnL at ``mark`` (the contract
    floors a long's |q|·M and ceils a short's)."""
    if size > 0:
        return size * mark // WAD - unrealised_pnl
    if size < 0:
        return unrealised_pnl + pm.mul_div_up(-size, mark, WAD)
    return 0


def signed_holding(view: PerpPositionView) -> tuple[int, int]:
    """An account as (USD, WETH) whose value at a price P is its equity at P: a long is WETH
    bought with borrowed USD, a short USD received for WETH owed: (margin − funding due ∓ ON, size)."""
    sign = 1 if view.size > 0 else -1 if view.size < 0 else 0
    return view.margin - view.funding_owed - sign * view.open_notional, view.size


# ----------------------------------------------------------------------------- the at-risk rule

class PerpRisk:
    """The one at-risk rule on a margin account (``sandbox.risk``'s on lending):

        at risk at p   ⇔   equity(p) < MM(p) = ceil(floor(|q| × p) × MMF)

    with equity(p) = margin + uPnL(p) − funding due, the contract's rounding and the margin
    fraction in force. In force (what the market acts on) is the market's own flag: equity
    below MM at the mark. At the reference price it says the account is under water at the
    market price whatever the oracle says. ``health`` is equity / MM at a price (rounded down
    to 1e-9, infinite when flat): below 1 exactly when at risk at that price."""

    position_args = ("account", "bankrupt", "usr", "owner")

    def exposed(self, p: PerpPositionView) -> bool:
        return p.size != 0

    def at_risk_at(self, p: PerpPositionView, price_wad: int) -> bool:
        return p.size != 0 and p.equity_at(price_wad) < p.maintenance_at(price_wad)

    def at_risk_in_force(self, p: PerpPositionView, state: PerpState) -> bool:
        return p.liquidatable

    def health(self, p: PerpPositionView, price_wad: int) -> float:
        if p.size == 0:
            return math.inf
        mm = p.maintenance_at(price_wad)
        if mm <= 0:
            return math.inf
        e = p.equity_at(price_wad)
        return (e * HEALTH_DIGITS // mm) / HEALTH_DIGITS

    def snapshot(self, p: PerpPositionView) -> dict:
        """What the run records when the account first becomes at risk (exact integers)."""
        return {"at_risk_debt_usd_wad": p.open_notional, "at_risk_size_weth_wad": p.size,
                "at_risk_margin_usd_wad": p.margin - p.funding_owed, "at_risk_equity_usd_wad": p.equity}

    def position_of(self, args: dict) -> Any:
        for name in self.position_args:
            if name in args:
                return args[name]
        return None

    def liquidated_in(self, logs, roles: dict) -> list[Address]:
        """Accounts a block's logs show a mechanism acting on (a lock, a close or transfer by the
        mechanism, a shortfall settled): at risk by the mechanism's own rule inside the block."""
        out = []
        for log in logs:
            role = roles.get(log.address)
            if role == "market":
                if (log.name == "LockChanged" and log.args.get("isLocked")) or \
                        (log.name == "PositionChanged" and log.args.get("kind") in (1, 2)) or \
                        log.name in ("InsuranceDrawn", "BadDebtRecorded"):
                    out.append(log.args.get("account"))
                elif log.name == "AutoDeleveraged":
                    out.append(log.args.get("bankrupt"))
        return [o for o in out if o]

    @staticmethod
    def covered_and_shortfall(open_notional: int, equity: int) -> tuple[int, int]:
        """Open notional split by the equity at a price: the part negative equity eats is the
        shortfall (capped at the notional), the rest is covered."""
        short = min(open_notional, max(0, -equity))
        return open_notional - short, short


# ----------------------------------------------------------------------------- valuation

class VenueValuer:
    """A ``sandbox.legs.Valuer`` on the perp venue: USD at face value, a long's WETH at what
    closing it there yields (a sale), a short's WETH at what buying it back costs (``cost``);
    ``take`` moves the virtual reserves as the sale would."""

    def __init__(self, reserves: tuple[int, int], k: int):
        self.state = pm.VenueState(int(reserves[0]), int(reserves[1]), int(k))

    def _sell(self, weth: int) -> int:
        return self.state.after(-weth)[1] if weth > 0 else 0

    def _buy(self, weth: int) -> int:
        if weth <= 0:
            return 0
        if weth >= self.state.base:
            return 2**200  # the venue cannot deliver it
        return self.state.after(weth)[1]

    def value(self, of: Sequence[Leg]) -> int:
        return amount_of(of, "USD") + self._sell(amount_of(of, "WETH"))

    def cost(self, of: Sequence[Leg]) -> int:
        """What acquiring ``of`` costs now (USD at face value, WETH bought on the venue)."""
        return amount_of(of, "USD") + self._buy(amount_of(of, "WETH"))

    def amount_for(self, asset: str, value: int) -> int | None:
        if asset == "USD":
            return value
        if asset != "WETH" or value >= self.state.quote:
            return None
        # the least w with quote − ceil(k / (base + w)) >= value
        w = max(0, pm.div_up(self.state.k, self.state.quote - value) - self.state.base)
        while self._sell(w) < value:
            w += 1
        return w

    def take(self, of: Sequence[Leg]) -> None:
        weth = amount_of(of, "WETH")
        if weth > 0:
            self.state = self.state.after(-weth)[0]


# ----------------------------------------------------------------------------- reads

# market events that name accounts whose stored state they change (and the argument naming them)
_ACCOUNT_ARGS = ("account", "bankrupt", "counterparty")
_EVERY_ACCOUNT = frozenset({"FundingSettled", "FundingPaid"})  # funding moves every open margin


class PerpBook:
    """The followed owners' accounts, kept from the market's events instead of re-reading them.

    A ``snapshots`` read of every account costs a third of a second per block on py-evm with 60
    traders. The book reads each account's stored state (``accountOf``: margin, size, open
    notional, lock) once, then after each block re-reads only the accounts its market events
    name (every account after a funding settlement), and computes the views in Python with the
    contract's exact formulas at the head's mark and margin fractions (one ``marketState`` per
    head). While a funding settlement is due at the head the funding each account owes is part
    of its equity: the views are then read through ``snapshots`` (as they are without a book)."""

    def __init__(self, market: "PerpRunMarket", owners: Sequence[Address]):
        self.market = market
        self.owners = tuple(owners)
        self._raw: dict[Address, tuple[int, int, int, bool]] = {}
        self._synced: bytes | None = None
        self._cache: dict[tuple, Any] = {}
        self.refresh(self.owners)

    # --- syncing ---------------------------------------------------------------------------
    def refresh(self, owners: Sequence[Address]) -> None:
        owners = list(owners)
        prefetch = getattr(self.market.chain, "prefetch_calls", None)
        if prefetch is not None and owners:
            prefetch([(self.market.market.address, self.market.market.encode("accountOf", o)) for o in owners])
        for o in owners:
            self._raw[o] = tuple(self.market.perp.raw(o))  # type: ignore[assignment]
        self._synced = self.market.chain.snapshot()
        self._cache.clear()

    def dirty_owners(self, block) -> list[Address]:
        market = self.market.market.address
        followed = set(self.owners)
        touched: set[Address] = set()
        for log in block.logs:
            if log.address != market:
                continue
            if log.name in _EVERY_ACCOUNT:
                return list(self.owners)
            for arg in _ACCOUNT_ARGS:
                who = log.args.get(arg)
                if who in followed:
                    touched.add(who)
        return sorted(touched)

    def apply_block(self, block) -> None:
        """Bring the book to the state after ``block`` (the chain's new head)."""
        self.refresh(self.dirty_owners(block))

    def in_sync(self) -> bool:
        return self._synced == self.market.chain.snapshot()

    def covers(self, owners: Sequence[Address]) -> bool:
        return self.in_sync() and all(o in self._raw for o in owners)

    def state(self) -> tuple:
        return dict(self._raw), self._synced

    def restore(self, state: tuple) -> None:
        self._raw, self._synced = dict(state[0]), state[1]
        self._cache.clear()

    # --- reading -----------------------------------------------------------------------------
    def market_state(self) -> PerpState:
        """``marketState`` at the head, read once per head."""
        key = (self.market.chain.snapshot(), "state")
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = self.market.read_state()
        return hit

    def views(self, owners: Sequence[Address]) -> list[PerpPositionView]:
        key = (self.market.chain.snapshot(), tuple(owners))
        hit = self._cache.get(key)
        if hit is None:
            if len(self._cache) > 8:
                self._cache.clear()
            s = self.market_state()
            due = s.timestamp >= s.last_funding_time + self.market.params.funding_interval_seconds
            if due or not self.covers(owners):
                hit = tuple(self.market.read_positions(owners, s))
            else:
                hit = tuple(view_of(o, *self._raw[o], s) for o in owners)
            self._cache[key] = hit
        return list(hit)


def view_of(owner: Address, margin: int, size: int, open_notional: int, locked: bool,
            state: PerpState) -> PerpPositionView:
    """``PerpMarket._view`` with no funding due, at ``state``'s mark and margin fractions."""
    mark = state.mark_price
    if size == 0:
        return PerpPositionView(owner=owner, margin=margin, size=0, open_notional=open_notional, funding_owed=0,
                                equity=margin, maintenance_margin=0, initial_margin=0,
                                health_factor_wad=pm.INT256_MAX, locked=locked, liquidatable=False,
                                mark_price=mark, mmf=state.mmf)
    equity = margin + pm.unrealised_pnl(size, open_notional, mark)
    mm = pm.requirement(size, mark, state.mmf)
    health = pm.INT256_MAX if mm == 0 else pm.sdiv(equity * WAD, mm)
    return PerpPositionView(owner=owner, margin=margin, size=size, open_notional=open_notional, funding_owed=0,
                            equity=equity, maintenance_margin=mm, initial_margin=pm.requirement(size, mark, state.imf),
                            health_factor_wad=health, locked=locked, liquidatable=equity < mm,
                            mark_price=mark, mmf=state.mmf)


class _Reads:
    def __init__(self):
        self.book: PerpBook | None = None


# ----------------------------------------------------------------------------- the handle

@dataclass
class PerpRunMarket:
    """One deployed perpetual market and the roles that run it, as a run uses it."""

    perp: Perp
    reads: _Reads = field(default_factory=_Reads, repr=False)
    numeraire: str = "USD"  # what keepers are paid and count profit in
    collateral_asset: str = "WETH"  # the underlying: what positions are sized in
    flash: Any = None  # no flash lender: liquidating a perp needs no capital

    def __post_init__(self):
        self.venue_k = self.perp.venue.call("k")
        self.initial_quote_reserve = self.perp.venue.call("initialQuoteReserve")

    # --- handles ------------------------------------------------------------------------
    @property
    def chain(self):
        return self.perp.chain

    @property
    def params(self):
        return self.perp.params

    @property
    def deployer(self) -> Account:
        return self.perp.deployer

    @property
    def liquidated_contract(self) -> Contract:
        """The contract a mechanism is installed on as its one liquidator (the PerpMarket)."""
        return self.perp.market

    @property
    def oracle_updater(self) -> Account:
        return self.perp.oracle_updater

    @property
    def treasury(self) -> Account:
        return self.perp.treasury

    @property
    def usd(self):
        return self.perp.usd

    @property
    def oracle(self):
        return self.perp.oracle

    @property
    def market(self):
        return self.perp.market

    @property
    def venue(self):
        return self.perp.venue

    # --- reads ------------------------------------------------------------------------------
    def attach_book(self, book: PerpBook) -> None:
        self.reads.book = book

    def state(self) -> PerpState:
        """``marketState`` at the head (once per head while a book follows the run)."""
        book = self.reads.book
        return book.market_state() if book is not None else self.read_state()

    def read_state(self) -> PerpState:
        return self.perp.state()

    def price(self) -> int:
        """The oracle price in force (the index)."""
        return self.state().index_price

    def read_positions(self, owners: Sequence[Address], state: PerpState | None = None) -> list[PerpPositionView]:
        """Every listed account in one ``snapshots`` call, at the head's mark and margin fraction
        (``state``: the head's ``marketState`` when already read)."""
        if not owners:
            return []
        prefetch = getattr(self.chain, "prefetch_calls", None)
        if prefetch is not None:
            prefetch([(self.market.address, self.market.encode("marketState")),
                      (self.market.address, self.market.encode("snapshots", list(owners)))])
        s = state if state is not None else self.read_state()
        out = []
        for a in self.perp.accounts(owners):
            out.append(PerpPositionView(
                owner=a.owner, margin=a.margin, size=a.size,
                open_notional=open_notional_from(a.size, a.unrealised_pnl, s.mark_price),
                funding_owed=a.funding_owed, equity=a.equity, maintenance_margin=a.maintenance_margin,
                initial_margin=a.initial_margin, health_factor_wad=a.health_wad, locked=a.locked,
                liquidatable=a.liquidatable, mark_price=s.mark_price, mmf=s.mmf))
        return out

    def positions(self, owners: Sequence[Address]) -> list[PerpPositionView]:
        """The listed accounts: from the attached book (events followed), else one ``snapshots``."""
        book = self.reads.book
        if book is not None:
            return book.views(owners)
        return self.read_positions(owners)

    def prefetch_view(self) -> None:
        prefetch = getattr(self.chain, "prefetch_calls", None)
        if prefetch is not None:
            prefetch([(self.oracle.address, self.oracle.encode("latestSubmitted")),
                      (self.market.address, self.market.encode("marketState"))])

    def venue_reserves(self) -> tuple[int, int]:
        """(base, quote): the venue's virtual reserves, WETH and USD like an AMM's."""
        s = self.state()
        return s.base_reserve, s.quote_reserve

    def valuer(self, reserves: tuple[int, int]) -> VenueValuer:
        return VenueValuer(reserves, self.venue_k)

    def holdings(self, addresses: Sequence[Address]) -> dict[Address, tuple[int, int]]:
        """(USD, WETH) of each address: its wallet's USD plus its account as ``signed_holding``
        (an account's value at any price is then its equity there)."""
        addresses = list(dict.fromkeys(addresses))
        prefetch = getattr(self.chain, "prefetch_calls", None)
        if prefetch is not None:
            prefetch([(self.usd.address, self.usd.encode("balanceOf", a)) for a in addresses])
        views = {v.owner: v for v in self.read_positions(addresses)}
        out = {}
        for a in addresses:
            usd, weth = signed_holding(views[a])
            out[a] = (self.usd.call("balanceOf", a) + usd, weth)
        return out

    # --- agents' set-up and funds ---------------------------------------------------------
    def keeper_setup_requests(self, account: Account, capital_wad: int, spenders: Sequence[str]) -> list[TxRequest]:
        """A perp keeper's capital: minted to its wallet (private auction bids are paid from it),
        with approvals to the market and ``spenders``, and ``KEEPER_MARGIN_SHARE_BPS`` of it
        deposited as margin (an auction lot is taken into the keeper's own account, which must
        meet initial margin)."""
        requests = fund_requests(self.perp, account, capital_wad, approve=[s for s in spenders
                                                                           if s != self.market.address])
        margin = capital_wad * KEEPER_MARGIN_SHARE_BPS // BPS
        if margin:
            requests.append(deposit_tx(self.perp, account, margin))
        return requests

    def funds_of(self, address: Address) -> tuple[int, int]:
        """(wallet USD, signed position in WETH): what a keeper can bid with and what it holds."""
        return self.usd.call("balanceOf", address), self.perp.raw(address)[1]

    def oracle_followups(self, updater: Account) -> list[TxRequest]:
        """With vol margin on, the oracle role folds each new round in force into the margin
        fractions (``updateVolatility``, once per round)."""
        if not self.params.vol_margin:
            return []
        round_in_force = self.oracle.call("latestRoundData")[0]
        if round_in_force <= self.market.call("volRound"):
            return []
        return [self.market.tx(updater, "updateVolatility", gas=VOL_UPDATE_GAS)]

    def inventory_sale(self, keeper: "Keeper", view: "BlockView", ctx: "AgentContext") -> "PendingTx | None":
        """A keeper closes (part of) a position it took at auction through the venue: at most
        ``sell_per_block_weth`` per block, never beyond ``max_sale_discount_bps`` from the
        reference price, only when the gas is small against the proceeds; a price limit of the
        quote less ``sale_slippage_bps``."""
        key = ("inventory-sale", None, None)
        if not keeper.uses_capital or keeper.weth_balance == 0 or keeper.is_targeted(key):
            return None
        size = self.perp.raw(keeper.address)[1]  # ADL may have moved it in another's transaction
        keeper.weth_balance = size
        if size == 0:
            return None
        p = keeper.params
        amount = min(abs(size), to_wad(p.sell_per_block_weth))
        if amount <= 0:
            return None
        valuer = keeper.valuer(ctx, view)
        fair = amount * view.reference_price_wad // WAD
        if size > 0:
            quote = valuer.value(legs(WETH=amount))
            if quote == 0 or quote * BPS < fair * (BPS - p.max_sale_discount_bps):
                return None
            limit = quote * (BPS - p.sale_slippage_bps) // BPS * WAD // amount
        else:
            quote = valuer.cost(legs(WETH=amount))
            if quote * BPS > fair * (BPS + p.max_sale_discount_bps):
                return None
            limit = pm.div_up(quote * (BPS + p.sale_slippage_bps) // BPS * WAD, amount)
        tip = keeper.policy_tip_wei
        if not keeper.executable(view, tip) or \
                keeper.gas_cost_usd(view, 400_000, tip) * BPS > quote * p.max_sale_gas_bps:
            return None
        request = trade_tx(self.perp, keeper.account, -amount if size > 0 else amount, limit)
        pending = ctx.submit(keeper, request, tag="inventory-sale", tip_wei=tip,
                             meta={"weth_in": amount, "price_limit": limit, "strategy": keeper.name})
        keeper._remember(None, key, [pending], view, tip, 0, private=False)
        return pending


__all__ = ["KEEPER_MARGIN_SHARE_BPS", "MAX_UINT", "PerpBook", "PerpPositionView", "PerpRisk", "PerpRunMarket",
           "VenueValuer", "open_notional_from", "signed_holding"]
