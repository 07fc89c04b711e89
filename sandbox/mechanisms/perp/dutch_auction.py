"""Dutch-auction liquidation of perpetual positions (contract ``PerpDutchAuctionLiquidator``):
Maker's Liquidations 2.0 (bark / take / redo) with a position for a lot. ``bark`` locks an
account below maintenance margin whose position is worth at least the dust and auctions the whole
position at a decaying discount to the mark (a long from mark × 1.02 down, a short from
mark × 0.98 up, stairstep 0.99 every 90 s), paying the caller tip + chip from a reserve; ``take``
moves a slice of the position into the taker's own account at the auction price (the owner
realises its PnL there, 1% of the slice's notional to the insurance fund); ``redo`` restarts a
stale auction from the current mark.

A taker needs margin: the slice lands in its account, which must meet initial margin, so a take
is sized to what the caller's account carries (``encode`` reads it) and a keeper then closes what
it took on the venue (its inventory). Legs: a long lot pays its price in USD and receives WETH
(valued by selling it on the venue); a short lot "pays" the WETH it must buy back (its cost on the
venue) and receives the price in USD.
"""

from __future__ import annotations

from typing import Callable, Sequence

from sandbox.chain import Address
from sandbox.legs import legs
from sandbox.mechanisms.accounting import LedgerEvent
from sandbox.mechanisms.base import Call, Opportunity
from sandbox.mechanisms.dutch_auction import DutchAuctionMechanism
from sandbox.perp import math as pm
from sandbox.perp.params import PerpDutchAuctionParams
from sandbox.units import WAD, to_wad

from .base import PerpLiquidationMechanism

# measured: bark ~300k (an auction's storage, the lock, the reward), take ~280k (a transfer of
# position between two accounts, the penalty, the settlement of the last slice), redo ~60k
BARK_GAS = 420_000
TAKE_GAS = 400_000
REDO_GAS = 200_000
TAKE_MARGIN_SAFETY_BPS = 9_500  # a take uses at most 95% of what the taker's margin carries


class PerpDutchAuctionMechanism(PerpLiquidationMechanism[PerpDutchAuctionParams]):
    name = DutchAuctionMechanism.name
    Params = PerpDutchAuctionParams
    contract_name = "PerpDutchAuctionLiquidator"
    liquidation_functions = frozenset({"bark", "take", "redo"})
    description = ("Maker Liquidations 2.0 on perps: bark locks the account and auctions its whole position from "
                   "mark × (1 ± 2%), ×0.99 every 90 s; takers take slices into their own accounts; redo after "
                   "140 min or 15% down; tip $50 + chip 0.1% rewards, 1% penalty to the insurance fund.")
    event_amounts = {"Bark": (None, None, "notional"), "Kick": (None, "lot", "coin"),
                     "Take": (None, "slice", "penalty"), "Redo": (None, "lot", "coin"),
                     "Settle": ("badDebt", None, None)}

    params: PerpDutchAuctionParams

    @classmethod
    def protocol_revenue(cls, events: Sequence[LedgerEvent], oracle_price: Callable[[LedgerEvent], int],
                         final_price_wad: int) -> dict[str, int]:
        """Penalties paid into the insurance fund (``Take.penalty``), minus the keeper rewards paid
        from the protocol's reserve at ``Kick`` and ``Redo`` (``coin``)."""
        return {"auction-penalty": sum(e.int("penalty") for e in events if e.name == "Take"),
                "keeper-incentives": -sum(e.int("coin") for e in events if e.name in ("Kick", "Redo"))}

    @classmethod
    def constructor_args(cls, market, params: PerpDutchAuctionParams) -> tuple:
        return (market.market.address, *params.constructor_params())

    @classmethod
    def setup_requests(cls, market, params: PerpDutchAuctionParams, contract) -> list:
        """Mint the keeper-incentive reserve (Maker mints tip + chip as system debt)."""
        reserve = to_wad(params.incentive_reserve_usd)
        return [market.usd.tx(market.deployer, "mint", contract.address, reserve)] if reserve else []

    # --- reads ---------------------------------------------------------------------------------
    def auctions(self) -> list[dict]:
        """Every running auction at the head (``activeAuctions``, read once per head)."""
        head = self.market.chain.snapshot()
        cached = getattr(self, "_auctions", None)
        if cached is None or cached[0] != head:
            cached = self._auctions = (head, [dict(a) for a in self.contract.call("activeAuctions")])
        return cached[1]

    def unfinished(self, owners: Sequence[Address], reference_price_wad: int) -> int:
        """Running auctions (their positions are neither sold nor returned yet)."""
        return len(self.auctions())

    def reward(self, notional: int, reserve: int) -> int:
        p = self.params
        return min(to_wad(p.tip_usd) + notional * self.chip_wad // WAD, reserve)

    @property
    def chip_wad(self) -> int:
        from sandbox.perp.params import bps_wad

        return bps_wad(self.params.chip_bps)

    # --- discovery -----------------------------------------------------------------------------
    def opportunities(self, owners: Sequence[Address]) -> list[Opportunity]:
        """Barks on liquidatable listed accounts without an auction (worth at least the dust at the
        mark), and takes or redos on the running auctions of listed owners."""
        wanted = {o.lower() for o in owners}
        auctions = [a for a in self.auctions() if a["account"].lower() in wanted]
        in_auction = {a["account"].lower() for a in auctions}
        candidates = [p for p in self.candidates(owners) if p.owner.lower() not in in_auction]
        if not candidates and not auctions:
            return []
        state = self.market.state()
        mark = state.mark_price
        dust = to_wad(self.params.dust_usd)
        reserve = self.contract.call("reserve") if candidates or any(a["needsRedo"] for a in auctions) else 0
        out: list[Opportunity] = []
        for p in candidates:
            notional = self.notional(p.size, mark)
            if notional < dust:
                continue  # bark would revert: Dust
            out.append(Opportunity(
                mechanism=self.name, action="bark", owner=p.owner, receives=legs(USD=self.reward(notional, reserve)),
                health_factor_wad=p.health_factor_wad,
                extra={"size": p.size, "notional": notional, "gas": self.gas_limit(state, base=BARK_GAS)}))
        views = {p.owner.lower(): p for p in self.market.positions(owners)} if auctions else {}
        for a in auctions:
            extra = {"price": a["price"], "lot": a["lot"], "long": a["long"], "mark0": a["mark0"], "tic": a["tic"],
                     "gas": self.gas_limit(state, self.take_deficit(views.get(a["account"].lower()), a), base=TAKE_GAS)}
            if a["needsRedo"]:
                notional = self.notional(a["lot"], mark)
                coin = self.reward(notional, reserve) if notional >= dust else 0
                out.append(Opportunity(mechanism=self.name, action="redo", owner=a["account"], ref=a["id"],
                                       receives=legs(USD=coin), extra=extra))
                continue
            if a["price"] == 0:
                continue
            lot_usd = a["lot"] * a["price"] // WAD
            pays, receives = self._legs(a["long"], a["lot"], lot_usd)
            out.append(Opportunity(mechanism=self.name, action="take", owner=a["account"], ref=a["id"],
                                   pays=pays, receives=receives, extra=extra))
        return out

    def take_deficit(self, p, auction: dict) -> int:
        """The negative margin the owner is left with if the whole lot is taken at its price now
        (its margin net of funding due, the PnL realised at the price, the penalty)."""
        if p is None or p.size == 0:
            return 0
        lot, price = auction["lot"], auction["price"]
        s = abs(p.size)
        basis = p.open_notional if lot >= s else p.open_notional * lot // s
        quote = lot * price // WAD
        pnl = quote - basis if p.size > 0 else basis - quote
        penalty = quote * self.params.penalty_bps // 10_000
        return max(0, -(p.margin - p.funding_owed + pnl - penalty))

    @staticmethod
    def _legs(long: bool, slice_: int, usd: int):
        """A long lot: pay its price in USD, receive WETH; a short lot: owe the WETH, receive USD."""
        return (legs(USD=usd), legs(WETH=slice_)) if long else (legs(WETH=slice_), legs(USD=usd))

    # --- actions -------------------------------------------------------------------------------
    def take_size(self, opp: Opportunity, caller: Address, limit: int | None = None) -> int:
        """The slice ``caller``'s account can take now: the lot (or ``limit``), at most what its
        equity carries at initial margin after the transfer (with 5% to spare), cut to leave at
        least the dust when partial (the contract's Chost rule); 0 when none."""
        x = opp.extra
        price, lot, long = x["price"], x["lot"], x["long"]
        state = self.market.state()
        mark, imf = state.mark_price, state.imf
        me = self.market.read_positions([caller])[0]
        if me.size != 0 and (me.size > 0) != long:
            return 0  # an opposite position in the taker's account: close it first
        gain = mark - price if long else price - mark  # per WETH, at the mark
        need = imf * mark // WAD - gain
        room = me.equity - pm.requirement(me.size, mark, imf)
        most = lot
        if need > 0:
            most = max(0, room) * TAKE_MARGIN_SAFETY_BPS // 10_000 * WAD // need
        want = min(lot, most, lot if limit is None else limit)
        dust = to_wad(self.params.dust_usd)
        if 0 < want < lot and (lot - want) * price // WAD < dust:
            keep = pm.div_up(dust * WAD, price)
            want = lot - keep if lot > keep else 0
        return max(0, want)

    def encode(self, opportunity: Opportunity, caller: Address, max_pay: int | None = None) -> Call:
        """bark(account, caller) / take(id, slice, limit = the quoted price) sized to the caller's
        margin and ``max_pay`` USD (a long lot) / redo(id, caller)."""
        opp, x = opportunity, opportunity.extra
        if opp.action == "bark":
            return Call(to=self.contract.address, data=self.contract.encode("bark", opp.owner, caller),
                        gas=x["gas"], action="bark", owner=opp.owner, receives=opp.receives)
        if opp.action == "redo":
            return Call(to=self.contract.address, data=self.contract.encode("redo", opp.ref, caller),
                        gas=REDO_GAS, action="redo", owner=opp.owner, receives=opp.receives)
        if opp.action != "take":
            raise ValueError(f"{self.name} cannot encode action {opp.action!r}")
        limit = None
        if max_pay is not None and x["long"] and max_pay < opp.paid("USD"):
            limit = max_pay * WAD // x["price"]
        size = self.take_size(opp, caller, limit)
        if size <= 0:
            raise ValueError(f"no take of auction {opp.ref} fits {caller}'s margin and max_pay={max_pay}")
        pays, receives = self._legs(x["long"], size, size * x["price"] // WAD)
        return Call(to=self.contract.address, data=self.contract.encode("take", opp.ref, size, x["price"]),
                    gas=x["gas"], action="take", owner=opp.owner, pays=pays, receives=receives)


__all__ = ["PerpDutchAuctionMechanism"]
