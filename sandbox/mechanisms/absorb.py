"""Protocol-absorbed liquidation, Compound v3 (Comet) style: ``absorb`` + ``buyCollateral``
(contract ``AbsorbLiquidator``).

- ``absorb(absorber, owners)``: every listed position must be liquidatable (else the call
  reverts with ``NotLiquidatable``). The protocol takes all its collateral into inventory and
  credits the borrower ``collateral value × liquidation_factor`` (93%). From its USD reserves it
  repays ``min(credit, debt)``; a credit above the debt is paid to the borrower in USD (Comet
  credits it as a base supply balance); a credit below the debt leaves a shortfall that is
  written off through the market as bad debt. The absorber is paid nothing (Comet only counts
  absorb points): it spends gas.
- ``buyCollateral(minAmount, usdAmount, recipient)``: while the reserves are below
  ``target_reserves_usd`` anyone buys inventory WETH at the store-front price
  ``oracle × (1 − (1 − liquidation_factor) × store_front_price_factor)`` (3.5% off by default);
  the USD goes into the reserves.

Reserves: ``reserves_usd`` USD is minted to the contract at deploy and stands for Comet's
protocol reserves. They fall by the credit on every absorb and rise by every collateral sale, so
the protocol's revenue or loss is the change in the contract's USD balance plus its inventory.

Choice made for visibility: Comet lets its reserves absorb a shortfall silently (they may even
go negative). Here the shortfall, and any debt the reserves cannot pay once they run dry, is
recorded with ``market.writeOff`` so it shows up as the market's bad debt; the borrower's excess
credit is capped at what the reserves still hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

from sandbox.chain import Address
from sandbox.legs import legs
from sandbox.units import BPS, WAD, to_wad

from .accounting import Key, LedgerEvent, Taken
from .base import Call, LiquidationMechanism, MechanismParams, Opportunity

if TYPE_CHECKING:
    from sandbox.market import Market

ABSORB_GAS = 250_000  # measured ~120-155k for one position (more with a write-off)
ABSORB_GAS_PER_EXTRA_POSITION = 120_000  # measured ~30-100k
BUY_GAS = 150_000  # measured ~75-90k


# --------------------------------------------------------------------------- arithmetic

@dataclass(frozen=True)
class AbsorbQuote:
    """What ``absorb`` does to one position (WAD integers)."""

    collateral_value: int
    credit: int
    debt_repaid: int  # paid from the reserves
    excess_to_borrower: int
    bad_debt: int


def quote_absorb(collateral: int, debt: int, price: int, liquidation_factor_wad: int,
                 reserves: int) -> AbsorbQuote:
    """Mirror of the contract's absorb of one position."""
    value = collateral * price // WAD
    credit = value * liquidation_factor_wad // WAD
    cover = min(credit, debt)
    paid = min(cover, reserves)
    excess = min(credit - cover, reserves - paid)
    return AbsorbQuote(collateral_value=value, credit=credit, debt_repaid=paid,
                       excess_to_borrower=excess, bad_debt=debt - paid)


def discounted_price(price: int, discount_wad: int) -> int:
    """Store-front price: oracle × (1 − discount), rounded down."""
    return price * (WAD - discount_wad) // WAD


def quote_collateral(usd_amount: int, price: int, discount_wad: int) -> int:
    """WETH ``usd_amount`` buys at the store-front price, rounded down (quoteCollateral)."""
    return usd_amount * WAD // discounted_price(price, discount_wad)


# --------------------------------------------------------------------------- parameters

@dataclass(frozen=True)
class AbsorbParams(MechanismParams):
    """Compound v3 defaults: liquidation factor 0.93, store-front price factor 0.5 (3.5% off)."""

    liquidation_factor_bps: int = 9300  # borrower credited collateral value × 0.93
    store_front_price_factor_bps: int = 5000  # buyers get (1 − 0.93) × 0.5 = 3.5% off
    target_reserves_usd: float = 1e12  # collateral is for sale only while reserves are below this
    reserves_usd: float = 10_000_000.0  # USD minted to the contract at deploy: the protocol's reserves

    def validate(self) -> None:
        if not 0 <= self.liquidation_factor_bps <= BPS:
            raise ValueError(f"liquidation_factor_bps must be in [0, 10000], got {self.liquidation_factor_bps}")
        if not 0 <= self.store_front_price_factor_bps <= BPS:
            raise ValueError("store_front_price_factor_bps must be in [0, 10000], got "
                             f"{self.store_front_price_factor_bps}")
        if self.target_reserves_usd < 0:
            raise ValueError(f"target_reserves_usd must be >= 0, got {self.target_reserves_usd}")
        if self.reserves_usd < 0:
            raise ValueError(f"reserves_usd must be >= 0, got {self.reserves_usd}")

    @property
    def liquidation_factor_wad(self) -> int:
        return self.liquidation_factor_bps * WAD // BPS

    @property
    def store_front_price_factor_wad(self) -> int:
        return self.store_front_price_factor_bps * WAD // BPS

    @property
    def discount_wad(self) -> int:
        """(1 − liquidation factor) × store-front price factor, as the contract computes it."""
        return (WAD - self.liquidation_factor_wad) * self.store_front_price_factor_wad // WAD

    @property
    def target_reserves_wad(self) -> int:
        return to_wad(self.target_reserves_usd)

    @property
    def reserves_wad(self) -> int:
        return to_wad(self.reserves_usd)

    def contract_args(self) -> tuple:
        """AbsorbLiquidator's constructor arguments after the market address."""
        return (self.liquidation_factor_wad, self.store_front_price_factor_wad, self.target_reserves_wad)


# --------------------------------------------------------------------------- mechanism

class AbsorbMechanism(LiquidationMechanism[AbsorbParams]):
    name = "absorb"
    Params = AbsorbParams
    contract_name = "AbsorbLiquidator"
    liquidation_functions = frozenset({"absorb", "buyCollateral"})
    unsupported_markets = {"perp": "absorbing an account onto the protocol's balance sheet is what the perp "
                                   "market's own insurance fund and auto-deleveraging already do after every "
                                   "liquidation; there is no collateral to buy back at a store-front discount"}
    position_neutral_events = frozenset({"BuyCollateral"})
    description = ("Compound v3 (Comet): absorb moves an unhealthy position's collateral and debt onto "
                   "the protocol, crediting the borrower 93% of the collateral value from reserves; "
                   "anyone then buys the collateral at a 3.5% store-front discount while reserves are "
                   "below target.")

    event_amounts = {"AbsorbCollateral": (None, "collateralAbsorbed", "usdValue"),
                     "AbsorbDebt": ("debtAbsorbed", None, None),  # USD: reservesPaid + excessPaid
                     "BuyCollateral": (None, "collateralAmount", "usdAmount")}

    # --- accounting rules --------------------------------------------------------------------
    @classmethod
    def collateral_taken(cls, events: Sequence[LedgerEvent]) -> list[tuple[LedgerEvent, Taken]]:
        """The collateral absorbed (its oracle value exactly as the contract read it,
        ``AbsorbCollateral.usdValue``), less the USD credited back to the borrower
        (``AbsorbDebt.excessPaid``)."""
        out = []
        for e in events:
            if e.contract != "mechanism":
                continue
            if e.name == "AbsorbCollateral":
                out.append((e, Taken(e.int("collateralAbsorbed"), oracle_value=e.int("usdValue"))))
            elif e.name == "AbsorbDebt":
                out.append((e, Taken(0, -e.int("excessPaid"))))
        return out

    @classmethod
    def protocol_revenue(cls, events: Sequence[LedgerEvent], oracle_price: Callable[[LedgerEvent], int],
                         final_price_wad: int) -> dict[str, int]:
        """The change in the protocol's reserves plus inventory: collateral sold
        (``BuyCollateral.usdAmount``) − debt absorbed from reserves and excess credited
        (``AbsorbDebt.reservesPaid + excessPaid``) + WETH absorbed and not sold, at the final
        oracle price."""
        reserves = absorbed = sold = 0
        for e in events:
            if e.name == "BuyCollateral":
                reserves += e.int("usdAmount")
                sold += e.int("collateralAmount")
            elif e.name == "AbsorbDebt":
                reserves -= e.int("reservesPaid") + e.int("excessPaid")
            elif e.name == "AbsorbCollateral":
                absorbed += e.int("collateralAbsorbed")
        if absorbed != sold:
            reserves += (absorbed - sold) * final_price_wad // WAD
        return {"absorb-reserves": reserves}

    @classmethod
    def event_amount_overrides(cls, events: Sequence[LedgerEvent]) -> dict[Key, tuple[int | None, ...]]:
        """``AbsorbDebt``'s USD: what the reserves paid plus the excess credited."""
        return {e.key: (None, None, e.int("reservesPaid") + e.int("excessPaid"))
                for e in events if e.contract == "mechanism" and e.name == "AbsorbDebt"}

    @classmethod
    def setup_requests(cls, market: "Market", params: AbsorbParams, contract) -> list:
        """Mint the protocol reserves that absorb debt."""
        if not params.reserves_wad:
            return []
        return [market.usd.tx(market.deployer, "mint", contract.address, params.reserves_wad)]

    # --- reads -----------------------------------------------------------------------------
    def state(self) -> dict:
        """reserves, inventory, price, discountedPrice, targetReserves (one call)."""
        return dict(self.contract.call("state"))

    # --- discovery -------------------------------------------------------------------------
    def opportunities(self, owners: Sequence[Address]) -> list[Opportunity]:
        """An absorb for every liquidatable listed position, and a buy-collateral of the whole
        inventory when there is one and the reserves are below target."""
        s = self.state()
        out: list[Opportunity] = []
        lf = self.params.liquidation_factor_wad
        reserves = s["reserves"]
        for pos in self.market.positions(owners):
            if not pos.is_liquidatable:
                continue
            q = quote_absorb(pos.collateral, pos.debt, s["price"], lf, reserves)
            reserves -= q.debt_repaid + q.excess_to_borrower
            out.append(Opportunity(  # pays its caller nothing: whoever absorbs, the protocol takes it
                mechanism=self.name, action="absorb", owner=pos.owner, health_factor_wad=pos.health_factor_wad,
                uncontested=True, extra={"collateral": pos.collateral, "debt": pos.debt, "credit": q.credit,
                       "excess_to_borrower": q.excess_to_borrower, "bad_debt": q.bad_debt}))
        dp = s["discountedPrice"]
        if s["inventory"] > 0 and s["reserves"] < s["targetReserves"] and dp > 0:
            # the USD that buys the whole inventory: rounded up when that does not overshoot it
            usd = -(-s["inventory"] * dp // WAD)
            if usd * WAD // dp > s["inventory"]:
                usd = s["inventory"] * dp // WAD
            weth = usd * WAD // dp
            if weth > 0:
                m = self.market
                out.append(Opportunity(
                    mechanism=self.name, action="buy-collateral", owner=self.contract.address,
                    pays=legs(**{m.numeraire: usd}), receives=legs(**{m.collateral_asset: weth}),
                    extra={"price": s["price"], "discounted_price": dp, "inventory": s["inventory"],
                           "reserves": s["reserves"]}))
        return out

    # --- actions ---------------------------------------------------------------------------
    def absorb_call(self, caller: Address, owners: Sequence[Address]) -> Call:
        """absorb(caller, owners) for several positions in one transaction."""
        owners = list(owners)
        gas = ABSORB_GAS + ABSORB_GAS_PER_EXTRA_POSITION * max(len(owners) - 1, 0)
        return Call(to=self.contract.address, data=self.contract.encode("absorb", caller, owners),
                    gas=gas, action="absorb", owner=owners[0] if owners else "")

    def encode(self, opportunity: Opportunity, caller: Address,
               max_pay: int | None = None) -> Call:
        """absorb(caller, [owner]) / buyCollateral(minAmount, usd, caller) with the USD capped at
        ``max_pay`` and minAmount the quote at the price seen (no slippage allowed)."""
        opp = opportunity
        if opp.action == "absorb":
            return self.absorb_call(caller, [opp.owner])
        if opp.action != "buy-collateral":
            raise ValueError(f"{self.name} cannot encode action {opp.action!r}")
        m = self.market
        full = opp.paid(m.numeraire)
        usd = full if max_pay is None else min(full, max_pay)
        weth = usd * WAD // opp.extra["discounted_price"]
        if weth == 0:
            raise ValueError(f"max_pay={max_pay} buys no collateral")
        return Call(to=self.contract.address, data=self.contract.encode("buyCollateral", weth, usd, caller),
                    gas=BUY_GAS, action="buy-collateral", owner=opp.owner, pays=legs(**{m.numeraire: usd}),
                    receives=legs(**{m.collateral_asset: weth}))
