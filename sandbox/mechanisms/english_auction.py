"""English (ascending-bid) collateral auctions, MakerDAO Liquidations 1.2 style: cat.bite and
flip.tend / dent / deal / tick, the mechanism of 12 March 2020 (contract
``EnglishAuctionLiquidator``).

- ``bite(owner)``: anyone, for no reward, seizes an unhealthy position's whole collateral into
  an auction and locks the position: ``lot`` = collateral, ``tab = debt × chop``, bid 0,
  ``end = now + tau``; a debt below ``dust_usd`` is refused (``Dust``), as no vault below the
  ilk's dust could exist at Maker.
- ``tend(id, lot, bid)`` (phase 1): a higher USD bid for the whole lot, at least ``beg`` × the
  current bid (or exactly ``tab``), never above ``tab``. The new bidder refunds the previous one
  and pays the increase into the contract; the bid deadline becomes ``tic = now + ttl``. The
  opening bid may be zero: with no competition a zero bid wins once ``tic`` passes (Black
  Thursday: the lot goes for nothing and the whole debt is written off).
- ``dent(id, lot, bid)`` (phase 2, once the bid equals ``tab``): the same bid for less
  collateral, each lot at most ``current lot / beg``; the new bidder pays the full bid to the
  previous one. The collateral given up goes back to the position at ``deal``.
- ``deal(id)``: after ``tic`` (a bid was placed) or ``end``, the winner gets the lot; the bid
  repays the debt first, the rest (the penalty) goes to the treasury; uncovered debt is written
  off as bad debt; the position is unlocked.
- ``tick(id)``: an auction that reached ``end`` without a bid restarts with ``end = now + tau``.

Keepers discover everything through one batched view (``activeAuctions``) plus the lens.
``encode`` bids the minimum acceptable improvement (``min_next_bid`` / ``max_next_lot``); a
keeper that wants to bid more builds the call with ``tend_call`` / ``dent_call``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar, Sequence

from sandbox.chain import Address
from sandbox.legs import Valuer, legs
from sandbox.units import BPS, WAD, to_wad

from .accounting import LedgerEvent, Taken
from .base import Call, LiquidationMechanism, MechanismParams, Opportunity

BITE_GAS = 350_000  # measured ~250k (cold storage, seize, lock)
TEND_GAS = 150_000  # measured ~70-95k
DENT_GAS = 120_000  # measured ~65-85k
DEAL_GAS = 300_000  # measured ~200k (repay, penalty, restore, write-off, unlock)
TICK_GAS = 60_000


# --------------------------------------------------------------------------- bidding rules

def min_next_bid(bid: int, tab: int, beg_wad: int, has_bidder: bool) -> int:
    """Smallest bid ``tend`` accepts now: 0 for the opening bid, else the least bid that is
    above the current one and at least ``beg`` × it, capped at ``tab`` (tab is always allowed)."""
    if not has_bidder:
        return 0
    need = max(-(-bid * beg_wad // WAD), bid + 1)
    return min(need, tab)


def max_next_lot(lot: int, beg_wad: int) -> int:
    """Largest lot ``dent`` accepts now: below the current lot and at most ``lot / beg``."""
    return min(lot * WAD // beg_wad, lot - 1) if lot > 0 else 0


@dataclass(frozen=True)
class DealQuote:
    """What ``deal`` moves for a finished auction (WAD integers)."""

    debt_repaid: int
    penalty: int
    bad_debt: int
    collateral_returned: int
    lot: int


def quote_deal(bid: int, debt: int, lot: int, returned: int) -> DealQuote:
    repaid = min(bid, debt)
    return DealQuote(debt_repaid=repaid, penalty=bid - repaid, bad_debt=debt - repaid,
                     collateral_returned=returned, lot=lot)


# --------------------------------------------------------------------------- parameters

@dataclass(frozen=True)
class EnglishAuctionParams(MechanismParams):
    """MakerDAO ETH-A flipper defaults (March 2020): chop 1.13, beg 1.05, ttl 3 h, tau 2 days;
    and a dust floor on bite."""

    chop_bps: int = 11300  # tab = debt × chop (13% liquidation penalty)
    beg_bps: int = 10500  # each bid at least 5% better than the last
    ttl_seconds: int = 10800  # bid duration: each bid sets the deadline to now + ttl
    tau_seconds: int = 172800  # auction duration from bite (or tick)
    # Smallest debt bite accepts. Maker's vat kept every vault at or above the ilk's dust, so no
    # flip auction was smaller; here the market lets a repayment leave less. 250: the least debt
    # whose 13% penalty (~$32) pays a bidder's tend and deal (~180k gas, ~$18 at 50 gwei and
    # $2,000) with room; an auction below it would not be bid on.
    dust_usd: float = 250.0

    def validate(self) -> None:
        if self.chop_bps < BPS:
            raise ValueError(f"chop_bps must be >= 10000, got {self.chop_bps}")
        if self.beg_bps < BPS:
            raise ValueError(f"beg_bps must be >= 10000, got {self.beg_bps}")
        if not 0 < self.ttl_seconds < 2**48:
            raise ValueError(f"ttl_seconds must be positive, got {self.ttl_seconds}")
        if not 0 < self.tau_seconds < 2**48:
            raise ValueError(f"tau_seconds must be positive, got {self.tau_seconds}")
        if not 0 <= self.dust_usd <= 1e12:
            raise ValueError(f"dust_usd must be in [0, 1e12], got {self.dust_usd}")

    @property
    def chop_wad(self) -> int:
        return self.chop_bps * WAD // BPS

    @property
    def beg_wad(self) -> int:
        return self.beg_bps * WAD // BPS

    def contract_args(self) -> tuple:
        """EnglishAuctionLiquidator's constructor arguments after the market address."""
        return (self.chop_wad, self.beg_wad, self.ttl_seconds, self.tau_seconds, self.dust_wad)

    @property
    def dust_wad(self) -> int:
        return to_wad(self.dust_usd)

    def tab(self, debt: int) -> int:
        return debt * self.chop_wad // WAD


# --------------------------------------------------------------------------- mechanism

class EnglishAuctionMechanism(LiquidationMechanism[EnglishAuctionParams]):
    name = "english-auction"
    Params = EnglishAuctionParams
    contract_name = "EnglishAuctionLiquidator"
    liquidation_functions = frozenset({"bite", "tend", "dent", "deal", "tick"})
    unsupported_markets = {"perp": "tend raises a bid for collateral and dent lowers the collateral for a fixed "
                                   "debt; a margin account has neither to bid on (its position is closed or "
                                   "transferred, not sold against a debt)"}
    description = ("MakerDAO Liquidations 1.2 (flip): bite seizes the collateral into a two-phase "
                   "English auction (tab = debt × 1.13); tend raises the bid by >= 5% up to tab, then "
                   "dent lowers the lot by >= 5%; each bid stands 3 h, auctions end after 2 days.")

    # --- reads -----------------------------------------------------------------------------
    event_amounts = {"Bite": ("debt", "lot", "tab"), "Tend": (None, "lot", "bid"), "Dent": (None, "lot", "bid"),
                     "Deal": ("debtRepaid", "lot", "bid")}

    # --- accounting rules --------------------------------------------------------------------
    @classmethod
    def collateral_taken(cls, events: Sequence[LedgerEvent]) -> list[tuple[LedgerEvent, Taken]]:
        """The lot a ``Deal`` delivers to the winner (what was bitten and not given back by dent)."""
        return [(e, Taken(e.int("lot"))) for e in events if e.contract == "mechanism" and e.name == "Deal"]

    @classmethod
    def protocol_revenue(cls, events: Sequence[LedgerEvent], oracle_price: Callable[[LedgerEvent], int],
                         final_price_wad: int) -> dict[str, int]:
        """The penalty part of the winning bids (``Deal.penalty``)."""
        return {"english-penalty": sum(e.int("penalty") for e in events if e.name == "Deal")}

    # A lot is "won far below market" when its winning bid is under this share of its value
    # (Black Thursday: 36% of flip auctions cleared at a zero bid).
    far_below_market_bps: ClassVar[int] = 1000

    @classmethod
    def accounting_details(cls, events: Sequence[LedgerEvent]) -> dict[str, int]:
        """Debt of the dealt auctions (``Deal.debtRepaid + badDebt``) and the part of it in lots
        whose winning bid covered under ``far_below_market_bps`` of that debt (zero bids among
        them): exact from the events, no price needed. The share of lots won under 10% of the
        market price needs the price of each win: ``lots_won_below``."""
        deals = [e for e in events if e.contract == "mechanism" and e.name == "Deal"]
        debt = [(e.int("debtRepaid") + e.int("badDebt"), e.int("bid")) for e in deals]
        low = sum(d for d, bid in debt if bid * BPS < d * cls.far_below_market_bps)
        return {"english_debt_dealt": sum(d for d, _ in debt), "english_debt_in_lots_bid_below_10pct": low}

    @classmethod
    def lots_won_below(cls, events: Sequence[LedgerEvent], price_wad_of: Callable[[LedgerEvent], int],
                       share_bps: int | None = None) -> tuple[int, int, int, int]:
        """(lots won under ``share_bps`` (default ``far_below_market_bps``) of their value at
        ``price_wad_of(deal)``, lots won, value of the former, value of all; USD WAD) over the
        ``Deal`` events with a winner: what Black Thursday's zero bids did."""
        share = cls.far_below_market_bps if share_bps is None else share_bps
        zero = "0x" + "00" * 20
        low = count = low_value = value = 0
        for e in events:
            if e.contract != "mechanism" or e.name != "Deal" or str(e.args.get("winner", zero)).lower() == zero:
                continue
            worth = e.int("lot") * price_wad_of(e) // WAD
            count += 1
            value += worth
            if e.int("bid") * BPS < worth * share:
                low += 1
                low_value += worth
        return low, count, low_value, value

    @classmethod
    def dust_wad(cls, params: EnglishAuctionParams) -> int:
        """``dust_usd``: bite refuses a smaller debt (``Dust``)."""
        return params.dust_wad

    def auctions(self) -> list[dict]:
        """Every running auction (one call): id, owner, guy, lot, bid, tab, debt, returned, tic,
        end, biddable, dealable, needsTick."""
        return list(self.contract.call("activeAuctions"))

    def claims_of(self, address: Address) -> tuple[int, int]:
        """The lots of running auctions whose current high bidder is ``address`` (what it gets
        at ``deal`` unless outbid; its bid already left its balance)."""
        return 0, sum(a["lot"] for a in self.auctions() if a["guy"] == address and a["bid"] > 0)

    def unfinished(self, owners: Sequence[Address], reference_price_wad: int) -> int:
        """Running auctions (not dealt yet)."""
        return len(self.auctions())

    def prospects(self, owners: Sequence[Address], reference_price_wad: int, now: int,
                  until: int) -> list[Opportunity] | None:
        """What is open now (bites, bids, deals, ticks), and for each auction still taking bids
        the deal (or, without a bid, the tick) its deadline opens, when that comes before
        ``until``: bids do not change with time, deadlines do."""
        out = self.opportunities(owners)
        wanted = {o.lower() for o in owners}
        later = []
        for a in self.auctions():
            if a["owner"].lower() not in wanted or not a["biddable"]:
                continue
            deadline = min(a["tic"], a["end"]) if a["tic"] else a["end"]
            if deadline <= until:
                later.append({**a, "biddable": False, "dealable": a["tic"] != 0, "needsTick": a["tic"] == 0})
        return out + self._auction_opportunities(later)

    # --- discovery -------------------------------------------------------------------------
    def opportunities(self, owners: Sequence[Address]) -> list[Opportunity]:
        """Bites on liquidatable listed positions with at least ``dust_usd`` of debt, and tend /
        dent / deal / tick on the running auctions of listed owners."""
        wanted = {o.lower() for o in owners}
        auctions = [a for a in self.auctions() if a["owner"].lower() in wanted]
        in_auction = {a["owner"].lower() for a in auctions}
        out: list[Opportunity] = []
        p = self.params
        for pos in self.market.positions(owners):
            if (pos.is_liquidatable and not pos.locked and pos.collateral > 0 and pos.debt >= p.dust_wad
                    and pos.owner.lower() not in in_auction):
                out.append(Opportunity(  # no reward: whoever bites, the same auction starts
                    mechanism=self.name, action="bite", owner=pos.owner, health_factor_wad=pos.health_factor_wad,
                    uncontested=True, extra={"tab": p.tab(pos.debt), "collateral": pos.collateral, "debt": pos.debt}))
        return out + self._auction_opportunities(auctions)

    def _auction_opportunities(self, auctions: Sequence[dict]) -> list[Opportunity]:
        """tend / dent / deal / tick on ``auctions`` as their flags say (biddable, dealable,
        needsTick)."""
        out: list[Opportunity] = []
        p = self.params
        usd, weth = self.market.numeraire, self.market.collateral_asset
        zero = "0x" + "00" * 20
        for a in auctions:
            has_bidder = a["guy"].lower() != zero
            extra = {k: a[k] for k in ("lot", "bid", "tab", "debt", "returned", "tic", "end")}
            # the lot goes to the current high bidder (``guy``) when the auction is dealt
            common = dict(mechanism=self.name, owner=a["owner"], ref=a["id"], extra=extra,
                          beneficiary=a["guy"] if has_bidder else None)
            if a["dealable"]:
                # deal pays its caller nothing: it settles the winner's claim to the lot, which
                # goes to the winner whoever calls it, so no rival can take it (uncontested)
                out.append(Opportunity(action="deal", settles=legs(**{weth: a["lot"] if has_bidder else 0}),
                                       uncontested=True, **common))
            elif a["needsTick"]:
                out.append(Opportunity(action="tick", uncontested=True, **common))
            elif a["biddable"]:
                if has_bidder and a["bid"] == a["tab"]:
                    out.append(Opportunity(action="dent", pays=legs(**{usd: a["tab"]}),
                                           receives=legs(**{weth: max_next_lot(a["lot"], p.beg_wad)}),
                                           standing_bid=True, **common))
                else:
                    bid = min_next_bid(a["bid"], a["tab"], p.beg_wad, has_bidder)
                    out.append(Opportunity(action="tend", pays=legs(**{usd: bid}), receives=legs(**{weth: a["lot"]}),
                                           standing_bid=True, **common))
        return out

    # --- actions ---------------------------------------------------------------------------
    def _bid_call(self, fn: str, auction_id: int, lot: int, bid: int, owner: Address) -> Call:
        m = self.market
        return Call(to=self.contract.address, data=self.contract.encode(fn, auction_id, lot, bid),
                    gas=TEND_GAS if fn == "tend" else DENT_GAS, action=fn, owner=owner,
                    pays=legs(**{m.numeraire: bid}), receives=legs(**{m.collateral_asset: lot}))

    def tend_call(self, auction_id: int, lot: int, bid: int, owner: Address = "") -> Call:
        """A raw ``tend`` at any bid (the contract enforces beg and tab)."""
        return self._bid_call("tend", auction_id, lot, bid, owner)

    def dent_call(self, auction_id: int, lot: int, bid: int, owner: Address = "") -> Call:
        """A raw ``dent`` for any lot (the contract enforces beg)."""
        return self._bid_call("dent", auction_id, lot, bid, owner)

    def raise_bid(self, opportunity: Opportunity, call: Call, valuer: Valuer, budget: int | None,
                  margin_bps: int) -> Call:
        """Jump-bid instead of the minimum increment, to what leaves ``margin_bps`` below the
        lot's value: tend a higher bid (capped at tab and ``budget``), or dent a smaller lot for
        tab; ``call`` when the minimum step is already beyond that."""
        opp, x = opportunity, opportunity.extra
        weth = self.market.collateral_asset
        if opp.action not in ("tend", "dent"):
            return call
        auction_id = opp.ref
        assert auction_id is not None, "tend and dent opportunities name their auction"
        if opp.action == "tend":
            value = valuer.value(legs(**{weth: x["lot"]}))
            bid = min(x["tab"], value * (BPS - margin_bps) // BPS)
            if budget is not None:
                bid = min(bid, budget)
            if bid <= call.paid(self.market.numeraire):
                return call
            return self.tend_call(auction_id, x["lot"], bid, owner=opp.owner)
        lot = valuer.amount_for(weth, x["tab"] * (BPS + margin_bps) // BPS)  # sells for tab + margin
        if lot is None or not 0 < lot < call.received(weth):
            return call
        return self.dent_call(auction_id, lot, x["tab"], owner=opp.owner)

    def encode(self, opportunity: Opportunity, caller: Address,
               max_pay: int | None = None) -> Call:
        """bite(owner) / tend(id, lot, minimum next bid) / dent(id, maximum next lot, tab) /
        deal(id) / tick(id). A bid never exceeds ``max_pay``: when the minimum bid does,
        ValueError (an English bid is for the whole lot, it cannot be scaled down)."""
        opp = opportunity
        addr = self.contract.address
        if opp.action == "bite":
            return Call(to=addr, data=self.contract.encode("bite", opp.owner), gas=BITE_GAS,
                        action="bite", owner=opp.owner)
        if opp.action in ("deal", "tick"):
            return Call(to=addr, data=self.contract.encode(opp.action, opp.ref),
                        gas=DEAL_GAS if opp.action == "deal" else TICK_GAS, action=opp.action, owner=opp.owner)
        if opp.action not in ("tend", "dent"):
            raise ValueError(f"{self.name} cannot encode action {opp.action!r}")
        auction_id = opp.ref
        assert auction_id is not None, "tend and dent opportunities name their auction"
        bid = opp.paid(self.market.numeraire)
        if max_pay is not None and max_pay < bid:
            raise ValueError(f"{opp.action} on auction {opp.ref} needs a bid of {bid}, "
                             f"above max_pay={max_pay}")
        if opp.action == "tend":
            return self.tend_call(auction_id, opp.extra["lot"], bid, owner=opp.owner)
        return self.dent_call(auction_id, opp.received(self.market.collateral_asset), opp.extra["tab"],
                              owner=opp.owner)
