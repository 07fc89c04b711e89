"""Dutch (descending-price) collateral auctions, MakerDAO Liquidations 2.0 style
(contract ``DutchAuctionLiquidator``, price curves in ``DutchPriceCurves``).

- ``bark(owner, kpr)``: an unhealthy position whose debt is at least ``dust_usd`` (smaller
  ones are refused, as Maker's dog refuses to bark below dust) has its whole collateral put
  into an auction, the position is locked, ``tab = debt × chop`` and the start price ``top = oracle × buf``. The
  caller is paid ``tip + chip × tab``.
- ``take(id, amt, maxPrice, who, data)``: buy up to ``amt`` WETH at the curve price; the USD
  repays the position's debt first, the rest (the penalty) goes to the treasury. A partial take
  is cut down to leave exactly ``chost = dust × chop`` of tab when it would leave less, and is
  refused when ``tab <= chost``. When tab reaches 0 the leftover collateral goes back to the
  owner; when the lot runs out first the remaining debt is written off as bad debt.
- ``redo(id, kpr)``: after ``tail`` seconds or once ``price / top < cusp`` the auction must be
  re-priced from the oracle; the caller is paid ``tip + chip × tab`` unless it is dust.

Keeper incentives: Maker mints tip + chip as protocol debt (``vat.suck``). Here the deployer
mints ``incentive_reserve_usd`` USD to the contract at deploy, and every reward is paid out of
that reserve (a protocol cost; rewards stop, capped at what is left, once it is exhausted).

The module mirrors the contract's integer arithmetic (``rpow``, the three curves, the take
quote), so tests and keepers can predict every wei.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING, Callable, Sequence

from sandbox.chain import Address
from sandbox.legs import legs
from sandbox.units import BPS, RAY, WAD, to_wad

from .accounting import Key, LedgerEvent, Taken
from .base import Call, LiquidationMechanism, MechanismParams, Opportunity

if TYPE_CHECKING:
    from sandbox.market import Market

BARK_GAS = 500_000
TAKE_GAS = 450_000
REDO_GAS = 150_000

CURVES = {"stairstep-exponential": 0, "exponential": 1, "linear": 2}


# --------------------------------------------------------------------------- price curves

def rpow(x: int, n: int, base: int = RAY) -> int:
    """x^n for a ``base``-scaled x by repeated squaring, each product rounded half up
    (exactly DutchPriceCurves.rpow)."""
    if n == 0:
        return base
    if x == 0:
        return 0
    half = base // 2
    z = x if n & 1 else base
    n >>= 1
    while n:
        x = (x * x + half) // base
        if n & 1:
            z = (z * x + half) // base
        n >>= 1
    return z


def stairstep_price(top: int, elapsed: int, cut_ray: int, step_seconds: int) -> int:
    """top × cut^⌊elapsed / step⌋ (Maker's StairstepExponentialDecrease)."""
    return top * rpow(cut_ray, elapsed // step_seconds) // RAY


def exponential_price(top: int, elapsed: int, cut_per_second_ray: int) -> int:
    """top × cut^elapsed with cut per second (Maker's ExponentialDecrease)."""
    return top * rpow(cut_per_second_ray, elapsed) // RAY


def linear_price(top: int, elapsed: int, tau_seconds: int) -> int:
    """top × (tau − elapsed) / tau, zero from tau on (Maker's LinearDecrease)."""
    if elapsed >= tau_seconds:
        return 0
    return top * (tau_seconds - elapsed) // tau_seconds


def per_second_cut_ray(cut_bps: int, step_seconds: int) -> int:
    """The per-second factor c with c^step = cut, as a RAY (0.99 per 90 s by default)."""
    with localcontext() as ctx:
        ctx.prec = 60
        c = (Decimal(cut_bps) / Decimal(BPS)) ** (Decimal(1) / Decimal(step_seconds))
        return int(c * RAY)


def _wmul_up(a: int, b: int) -> int:
    return -(-a * b // WAD)


@dataclass(frozen=True)
class TakeQuote:
    """What ``take`` does for a request of ``amt`` WETH at ``price`` (WAD integers)."""

    owe: int  # USD the taker pays
    slice: int  # WETH the taker receives
    tab_left: int
    lot_left: int


def quote_take(lot: int, tab: int, amt: int, price: int, chost: int) -> TakeQuote | None:
    """Mirror of the contract's take rule (Maker clip.sol). None when the contract reverts with
    Chost (a partial take while tab <= chost)."""
    slice_ = min(lot, amt)
    owe = _wmul_up(slice_, price)
    if owe > tab:
        owe = tab
        slice_ = owe * WAD // price
    elif owe < tab and slice_ < lot and tab - owe < chost:
        if tab <= chost:
            return None
        owe = tab - chost
        slice_ = owe * WAD // price
    return TakeQuote(owe=owe, slice=slice_, tab_left=tab - owe, lot_left=lot - slice_)


# --------------------------------------------------------------------------- parameters

@dataclass(frozen=True)
class DutchAuctionParams(MechanismParams):
    """MakerDAO ETH-A defaults: chop 1.13, buf 1.20, tail 140 min, cusp 0.40, tip 300, chip 0.1%,
    stairstep 0.99 every 90 s."""

    chop_bps: int = 11300  # tab = debt × chop (13% liquidation penalty)
    buf_bps: int = 12000  # top = oracle × buf
    tail_seconds: int = 8400  # reset needed after this long
    cusp_bps: int = 4000  # reset needed once price / top < cusp
    tip_usd: float = 300.0  # flat keeper reward on bark / redo
    chip_bps: int = 10  # keeper reward share of tab (0.1%)
    curve: str = "stairstep-exponential"  # or "exponential", "linear"
    step_seconds: int = 90  # stairstep length (also used to derive the exponential rate)
    cut_bps: int = 9900  # price factor per step
    exp_cut_per_second_ray: int | None = None  # exponential: None derives cut^(1/step)
    tau_seconds: int = 7200  # linear: seconds to reach zero
    # Smallest debt bark accepts (and chost = dust × chop). Maker's ETH-A dust has been thousands
    # of DAI; 2,500 is the least debt whose penalty (13%: 325) pays for the keeper reward
    # (tip 300 + chip 0.1% of tab: 2.8), so no bark costs the protocol more than it earns.
    dust_usd: float = 2500.0
    hole_usd: float = 1e12  # cap on the total tab in running auctions
    incentive_reserve_usd: float = 1_000_000.0  # USD minted to the contract for keeper rewards

    def validate(self) -> None:
        if self.chop_bps < BPS:
            raise ValueError(f"chop_bps must be >= 10000, got {self.chop_bps}")
        if self.buf_bps <= 0:
            raise ValueError(f"buf_bps must be positive, got {self.buf_bps}")
        if self.tail_seconds <= 0:
            raise ValueError(f"tail_seconds must be positive, got {self.tail_seconds}")
        if not 0 <= self.cusp_bps < BPS:
            raise ValueError(f"cusp_bps must be in [0, 10000), got {self.cusp_bps}")
        if self.tip_usd < 0:
            raise ValueError(f"tip_usd must be >= 0, got {self.tip_usd}")
        if not 0 <= self.chip_bps <= BPS:
            raise ValueError(f"chip_bps must be in [0, 10000], got {self.chip_bps}")
        if self.curve not in CURVES:
            raise ValueError(f"curve must be one of {', '.join(CURVES)}, got {self.curve!r}")
        if self.step_seconds <= 0:
            raise ValueError(f"step_seconds must be positive, got {self.step_seconds}")
        if not 0 < self.cut_bps <= BPS:
            raise ValueError(f"cut_bps must be in (0, 10000], got {self.cut_bps}")
        if self.exp_cut_per_second_ray is not None and not 0 < self.exp_cut_per_second_ray <= RAY:
            raise ValueError(f"exp_cut_per_second_ray must be in (0, 1e27], got {self.exp_cut_per_second_ray}")
        if self.tau_seconds <= 0:
            raise ValueError(f"tau_seconds must be positive, got {self.tau_seconds}")
        if self.dust_usd < 0:
            raise ValueError(f"dust_usd must be >= 0, got {self.dust_usd}")
        if self.hole_usd <= 0:
            raise ValueError(f"hole_usd must be positive, got {self.hole_usd}")
        if self.incentive_reserve_usd < 0:
            raise ValueError(f"incentive_reserve_usd must be >= 0, got {self.incentive_reserve_usd}")

    # --- on-chain units ------------------------------------------------------------------
    @property
    def penalty_bps(self) -> int:
        return self.chop_bps - BPS

    @property
    def chop_wad(self) -> int:
        return self.chop_bps * WAD // BPS

    @property
    def buf_wad(self) -> int:
        return self.buf_bps * WAD // BPS

    @property
    def cusp_wad(self) -> int:
        return self.cusp_bps * WAD // BPS

    @property
    def chip_wad(self) -> int:
        return self.chip_bps * WAD // BPS

    @property
    def tip_wad(self) -> int:
        return to_wad(self.tip_usd)

    @property
    def dust_wad(self) -> int:
        return to_wad(self.dust_usd)

    @property
    def chost_wad(self) -> int:
        return self.dust_wad * self.chop_wad // WAD

    @property
    def hole_wad(self) -> int:
        return to_wad(self.hole_usd)

    @property
    def curve_id(self) -> int:
        return CURVES[self.curve]

    @property
    def cut_ray(self) -> int:
        """The contract's decay factor: per step (stairstep) or per second (exponential)."""
        if self.curve == "exponential":
            if self.exp_cut_per_second_ray is not None:
                return self.exp_cut_per_second_ray
            return per_second_cut_ray(self.cut_bps, self.step_seconds)
        return self.cut_bps * RAY // BPS

    def contract_args(self) -> tuple:
        """DutchAuctionLiquidator's constructor arguments after the market address."""
        return ([self.chop_wad, self.buf_wad, self.tail_seconds, self.cusp_wad, self.hole_wad],
                [self.tip_wad, self.chip_wad, self.dust_wad], self.curve_id,
                [self.cut_ray, self.step_seconds, self.tau_seconds])

    # --- mirrors of the contract's views -----------------------------------------------------
    def price(self, top: int, elapsed: int) -> int:
        """Auction price ``elapsed`` seconds after a (re)start at ``top``."""
        if self.curve == "stairstep-exponential":
            return stairstep_price(top, elapsed, self.cut_ray, self.step_seconds)
        if self.curve == "exponential":
            return exponential_price(top, elapsed, self.cut_ray)
        return linear_price(top, elapsed, self.tau_seconds)

    def needs_redo(self, top: int, elapsed: int) -> bool:
        price = self.price(top, elapsed)
        return elapsed > self.tail_seconds or price == 0 or price * WAD // top < self.cusp_wad

    def keeper_reward(self, tab: int) -> int:
        """tip + chip × tab (before the reserve cap)."""
        return self.tip_wad + tab * self.chip_wad // WAD


def auction_slices(events: Sequence[LedgerEvent], strict: bool = True) -> dict[Key, int]:
    """WETH bought in each ``Take``: the auction's lot before (Kick/Redo/previous Take, or Bark)
    minus the lot after. ``strict``: a Take of an auction that never started is an error."""
    lots: dict[int, int] = {}
    slices: dict[Key, int] = {}
    for e in events:
        if e.contract != "mechanism":
            continue
        if e.name in ("Kick", "Redo"):
            lots[e.int("id")] = e.int("lot")
        elif e.name == "Bark":
            lots.setdefault(e.int("id"), e.int("collateral"))
        elif e.name == "Take":
            auction = e.int("id")
            if auction not in lots:
                if not strict:
                    continue
                raise ValueError(f"Take at {e.key} for auction {auction} that never started")
            after = e.int("lot")
            slices[e.key] = lots[auction] - after
            lots[auction] = after
    return slices


# --------------------------------------------------------------------------- mechanism

class AuctionMirror:
    """Running auctions of one DutchAuctionLiquidator, kept from its Bark/Kick/Take/Redo events.

    Reproduces the contract's ``activeAuctions`` exactly, including the order of its ``active``
    list (appended on kick, swap-and-pop on settlement); ``tests/mechanisms/test_dutch_auction.py``
    compares the two.
    """

    def __init__(self, contract, params: "DutchAuctionParams"):
        self.contract = contract
        self.params = params
        self.sales: dict[int, dict] = {}
        self.active: list[int] = []
        self.synced: bytes | None = None

    def load(self, owners: Sequence[Address] = ()) -> None:
        """Read every running auction (``owners`` is unused: auctions are listed on-chain)."""
        self.sales.clear()
        self.active = []
        for a in self.contract.call("activeAuctions"):
            self.sales[a["id"]] = {"owner": a["owner"], "lot": a["lot"], "tab": a["tab"],
                                   "debt": a["debtRemaining"], "top": a["top"], "tic": a["tic"]}
            self.active.append(a["id"])
        self.synced = self.contract.chain.snapshot()

    def apply(self, block) -> None:
        for log in block.logs:
            if log.address != self.contract.address:
                continue
            a = log.args
            if log.name == "Bark":
                self.sales[a["id"]] = {"owner": a["owner"], "lot": a["collateral"], "tab": a["tab"],
                                       "debt": a["debt"], "top": 0, "tic": block.timestamp}
                self.active.append(a["id"])
            elif log.name == "Kick":
                self.sales[a["id"]]["top"] = a["top"]
            elif log.name == "Take":
                sale = self.sales[a["id"]]
                sale["debt"] -= min(a["owe"], sale["debt"])
                sale["tab"], sale["lot"] = a["tab"], a["lot"]
                if a["lot"] == 0 or a["tab"] == 0:
                    i = self.active.index(a["id"])
                    self.active[i] = self.active[-1]
                    self.active.pop()
                    del self.sales[a["id"]]
            elif log.name == "Redo":
                sale = self.sales[a["id"]]
                sale.update(top=a["top"], tic=block.timestamp, tab=a["tab"], lot=a["lot"])
        self.synced = block.hash

    def in_sync(self) -> bool:
        return self.synced is not None and self.synced == self.contract.chain.snapshot()

    def views(self, now: int) -> list[dict]:
        out = []
        for i in self.active:
            s = self.sales[i]
            elapsed = now - s["tic"]
            out.append({"id": i, "owner": s["owner"], "lot": s["lot"], "tab": s["tab"],
                        "debtRemaining": s["debt"], "top": s["top"], "tic": s["tic"],
                        "price": self.params.price(s["top"], elapsed),
                        "needsRedo": self.params.needs_redo(s["top"], elapsed)})
        return out

    def state(self):
        return {k: dict(v) for k, v in self.sales.items()}, list(self.active), self.synced

    def restore(self, state) -> None:
        self.sales, self.active, self.synced = ({k: dict(v) for k, v in state[0].items()},
                                                list(state[1]), state[2])


class DutchAuctionMechanism(LiquidationMechanism[DutchAuctionParams]):
    name = "dutch-auction"
    Params = DutchAuctionParams
    contract_name = "DutchAuctionLiquidator"
    liquidation_functions = frozenset({"bark", "take", "redo"})
    default_rank = 2
    markets = ("lending", "perp")
    variants = {"perp": "sandbox.mechanisms.perp.dutch_auction:PerpDutchAuctionMechanism"}
    position_neutral_events = frozenset({"PenaltyPaid"})
    description = ("MakerDAO Liquidations 2.0: bark seizes the collateral into a descending-price "
                   "auction (top = oracle × 1.20, ×0.99 every 90 s, tab = debt × 1.13); keepers take "
                   "at the current price, redo after 140 min or below 40% of top; tip + chip rewards.")

    event_amounts = {
        "Bark": ("debt", "collateral", "tab"), "Kick": (None, "lot", "coin"),
        "Take": (None, None, "owe"),  # collateral: the slice bought (event_amount_overrides)
        "Redo": (None, "lot", "coin"), "Settle": ("debtWrittenOff", "collateralReturned", None),
        "PenaltyPaid": (None, None, "amount"),
    }

    # --- accounting rules --------------------------------------------------------------------
    @classmethod
    def collateral_taken(cls, events: Sequence[LedgerEvent]) -> list[tuple[LedgerEvent, Taken]]:
        """Collateral seized into an auction stays the owner's until sold: each ``Take`` slice
        (lot before − lot after); leftovers returned at ``Settle`` and lots unsold are not taken."""
        slices = auction_slices(events)
        return [(e, Taken(slices[e.key])) for e in events if e.contract == "mechanism" and e.name == "Take"]

    @classmethod
    def protocol_revenue(cls, events: Sequence[LedgerEvent], oracle_price: Callable[[LedgerEvent], int],
                         final_price_wad: int) -> dict[str, int]:
        """Penalties received (``PenaltyPaid``), minus the keeper rewards paid from the protocol's
        reserve at ``Kick`` and ``Redo`` (``coin``)."""
        return {"auction-penalty": sum(e.int("amount") for e in events if e.name == "PenaltyPaid"),
                "keeper-incentives": -sum(e.int("coin") for e in events if e.name in ("Kick", "Redo"))}

    @classmethod
    def event_amount_overrides(cls, events: Sequence[LedgerEvent]) -> dict[Key, tuple[int | None, ...]]:
        """A take's collateral column is the slice it bought."""
        return {key: (None, weth, None) for key, weth in auction_slices(events, strict=False).items()}

    @classmethod
    def setup_requests(cls, market: "Market", params: DutchAuctionParams, contract) -> list:
        """Mint the keeper-incentive reserve (Maker mints tip + chip as system debt)."""
        reserve = to_wad(params.incentive_reserve_usd)
        return [market.usd.tx(market.deployer, "mint", contract.address, reserve)] if reserve else []

    @classmethod
    def dust_wad(cls, params: DutchAuctionParams) -> int:
        """``dust_usd``: bark refuses a smaller debt (``Dust``)."""
        return params.dust_wad

    # --- reads -----------------------------------------------------------------------------
    def auctions(self) -> list[dict]:
        """Every running auction: id, owner, lot, tab, debtRemaining, top, tic, price, needsRedo.

        From the event mirror when it follows the head (prices from the exact curve mirror at
        the head block's time, as the contract's view computes them), else one call."""
        mirror = self._mirror
        if mirror is not None and mirror.in_sync():
            return mirror.views(self.market.chain.timestamp)
        return list(self.contract.call("activeAuctions"))

    # --- following the chain ---------------------------------------------------------------
    def follow(self, owners: Sequence[Address]) -> None:
        self._mirror = AuctionMirror(self.contract, self.params)
        self._mirror.load(owners)

    def reward_for(self, tab: int, reserve: int) -> int:
        return min(self.params.keeper_reward(tab), reserve)

    def unfinished(self, owners: Sequence[Address], reference_price_wad: int) -> int:
        """Running auctions (their collateral is neither sold nor returned yet)."""
        return len(self.auctions())

    def prospects(self, owners: Sequence[Address], reference_price_wad: int, now: int,
                  until: int) -> list[Opportunity] | None:
        """The barks and redos open now; for each other running auction of a listed owner, its
        take at the lowest price its curve reaches before the auction needs a redo (or
        ``until``), and that redo when it comes before ``until``. The curve only falls, so a
        take nobody wants at its lowest price is wanted at none; a redo restarts the curve, so
        a redo someone sends keeps the auction alive."""
        p = self.params
        current = self.opportunities(owners)
        out = [o for o in current if o.action in ("bark", "redo")]
        wanted = {o.lower() for o in owners}
        chost = p.chost_wad
        reserve: int | None = None
        for a in self.auctions():
            if a["owner"].lower() not in wanted or a["needsRedo"] or a["top"] <= 0:
                continue
            first_redo = self._first_redo_elapsed(a["top"], now - a["tic"])
            last = min(first_redo - 1, until - a["tic"])
            price = p.price(a["top"], last)
            extra = {"price": price, "lot": a["lot"], "tab": a["tab"], "top": a["top"], "tic": a["tic"],
                     "debt_remaining": a["debtRemaining"], "chost": chost, "at": a["tic"] + last}
            usd, weth = self.market.numeraire, self.market.collateral_asset
            q = quote_take(a["lot"], a["tab"], a["lot"], price, chost) if price > 0 else None
            if q is not None and q.owe > 0:
                out.append(Opportunity(mechanism=self.name, action="take", owner=a["owner"],
                                       pays=legs(**{usd: q.owe}), receives=legs(**{weth: q.slice}),
                                       ref=a["id"], extra=extra))
            if a["tic"] + first_redo <= until:
                if reserve is None:
                    reserve = self.contract.call("reserve")
                dusty = a["tab"] < chost or a["lot"] * self.market.price() // WAD < chost
                out.append(Opportunity(mechanism=self.name, action="redo", owner=a["owner"],
                                       receives=legs(**{usd: 0 if dusty else self.reward_for(a["tab"], reserve)}),
                                       ref=a["id"], extra={**extra, "at": a["tic"] + first_redo}))
        return out

    def _first_redo_elapsed(self, top: int, elapsed: int) -> int:
        """The first second (since the auction's start) from ``elapsed`` on at which it needs
        a redo (past ``tail``, or its price below ``cusp`` × top): ``needs_redo`` only turns
        true as time passes, so a bisection finds it."""
        p = self.params
        lo, hi = max(elapsed, 0), p.tail_seconds + 1  # needs_redo holds at hi: past the tail
        while lo < hi:
            mid = (lo + hi) // 2
            if p.needs_redo(top, mid):
                hi = mid
            else:
                lo = mid + 1
        return lo

    # --- discovery -------------------------------------------------------------------------
    def opportunities(self, owners: Sequence[Address]) -> list[Opportunity]:
        """Barks on liquidatable listed positions without an auction, and takes or redos on the
        running auctions of listed owners."""
        wanted = {o.lower() for o in owners}
        auctions = [a for a in self.auctions() if a["owner"].lower() in wanted]
        in_auction = {a["owner"].lower() for a in auctions}
        candidates = [p for p in self.market.positions(owners)
                      if p.is_liquidatable and not p.locked and p.owner.lower() not in in_auction
                      and p.collateral > 0]
        out: list[Opportunity] = []
        p = self.params
        usd, weth = self.market.numeraire, self.market.collateral_asset
        reserve = 0
        if candidates or any(a["needsRedo"] for a in auctions):
            reserve = self.contract.call("reserve")
        if candidates:
            room = p.hole_wad - self.contract.call("dirt")
            for pos in candidates:
                tab = pos.debt * p.chop_wad // WAD
                if tab > room or pos.debt < p.dust_wad:
                    continue  # over the hole, or dust: bark would revert
                out.append(Opportunity(
                    mechanism=self.name, action="bark", owner=pos.owner,
                    receives=legs(**{usd: self.reward_for(tab, reserve)}), health_factor_wad=pos.health_factor_wad,
                    extra={"tab": tab, "collateral": pos.collateral, "debt": pos.debt}))
        chost = p.chost_wad
        for a in auctions:
            extra = {"price": a["price"], "lot": a["lot"], "tab": a["tab"], "top": a["top"],
                     "tic": a["tic"], "debt_remaining": a["debtRemaining"], "chost": chost}
            if a["needsRedo"]:
                feed = self.market.price()
                dusty = a["tab"] < chost or a["lot"] * feed // WAD < chost
                out.append(Opportunity(
                    mechanism=self.name, action="redo", owner=a["owner"],
                    receives=legs(**{usd: 0 if dusty else self.reward_for(a["tab"], reserve)}),
                    ref=a["id"], extra=extra))
                continue
            q = quote_take(a["lot"], a["tab"], a["lot"], a["price"], chost)
            if q is None or q.owe == 0:
                continue
            out.append(Opportunity(
                mechanism=self.name, action="take", owner=a["owner"], pays=legs(**{usd: q.owe}),
                receives=legs(**{weth: q.slice}), ref=a["id"], extra=extra))
        return out

    # --- actions ---------------------------------------------------------------------------
    def take_call(self, auction_id: int, amt: int, max_price: int, who: Address, data: bytes = b"",
                  owner: Address = "", owe: int = 0, slice_: int = 0) -> Call:
        """A raw ``take`` (e.g. with ``who`` a flash-take callee and non-empty ``data``), paying
        ``owe`` USD for ``slice_`` WETH."""
        m = self.market
        return Call(to=self.contract.address,
                    data=self.contract.encode("take", auction_id, amt, max_price, who, data),
                    gas=TAKE_GAS, action="take", owner=owner, pays=legs(**{m.numeraire: owe}),
                    receives=legs(**{m.collateral_asset: slice_}))

    def encode(self, opportunity: Opportunity, caller: Address,
               max_pay: int | None = None) -> Call:
        """bark(owner, caller) / take(id, amt, maxPrice = quoted price, caller, "") sized to
        ``max_pay`` / redo(id, caller)."""
        opp = opportunity
        if opp.action == "bark":
            return Call(to=self.contract.address, data=self.contract.encode("bark", opp.owner, caller),
                        gas=BARK_GAS, action="bark", owner=opp.owner, receives=opp.receives)
        if opp.action == "redo":
            return Call(to=self.contract.address, data=self.contract.encode("redo", opp.ref, caller),
                        gas=REDO_GAS, action="redo", owner=opp.owner, receives=opp.receives)
        if opp.action != "take":
            raise ValueError(f"{self.name} cannot encode action {opp.action!r}")
        x = opp.extra
        price, lot, tab = x["price"], x["lot"], x["tab"]
        if max_pay is None or max_pay >= opp.paid(self.market.numeraire):
            amt = lot
        else:
            amt = max_pay * WAD // price
        q = quote_take(lot, tab, amt, price, self.params.chost_wad)
        if q is None or q.owe == 0:
            raise ValueError(f"no take of auction {opp.ref} fits max_pay={max_pay}"
                             " (tab <= chost: only the whole remaining tab can be bought)")
        assert opp.ref is not None, "take opportunities name their auction"
        return self.take_call(opp.ref, amt, price, caller, b"", owner=opp.owner, owe=q.owe, slice_=q.slice)
