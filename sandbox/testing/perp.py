"""The mechanism conformance suite's driver on the perpetual market (``PerpMarket.conformance_driver``).

Two traders hold 10× longs (one liquidatable after a fall to $1,850 but still solvent, one
under water after a crash to $1,600) against a large short; the keeper has margin in its own
account (an auction lot lands there); an arbitrageur moves the venue to each new index. Around
every block the market's cash identity (``sandbox.perp.check_identity`` over every account) and
USD conservation are checked: USD held by every party adds up to the supply, and no action block
mints any.
"""

from __future__ import annotations

from math import isqrt

from sandbox.chain import execute
from sandbox.perp import PerpParams, check_identity, deploy_perp_market
from sandbox.perp.actions import deposit_tx, fund_requests, trade_tx
from sandbox.perp.market import PerpRunMarket
from sandbox.units import WAD, to_wad

from .mechanisms import BaseDriver

START = to_wad(2_000)
FALL = to_wad(1_850)  # the first trader's equity falls below maintenance margin, still positive
CRASH = to_wad(1_600)  # the second one's equity is negative: a shortfall to settle
# (margin USD, size WETH): 10 WETH long on $2,300 (8.7×, liquidatable below ~$1,868) and 6 WETH
# long on $2,000 (6×, liquidatable below ~$1,722, bankrupt below ~$1,670)
TRADERS = [(to_wad(2_300), to_wad(10)), (to_wad(2_000), to_wad(6))]
OTHER_SIDE = (to_wad(200_000), -to_wad(16))
KEEPER_FUNDS = to_wad(10_000_000)
ARB_MARGIN = to_wad(10_000_000)


class PerpDriver(BaseDriver):
    """One mechanism's perp variant on a fresh perpetual market."""

    def __init__(self, chain, mechanism_cls, params=None):
        self.chain = chain
        self.market = market = PerpRunMarket(deploy_perp_market(chain, PerpParams()))
        self.perp = perp = market.perp
        self.mech = mechanism_cls.deploy(market, params)
        self.traders = [chain.account(f"borrower-{i}") for i in range(len(TRADERS))]
        self.other = chain.account("borrower-5")
        self.keeper, self.arb = chain.account("keeper-0"), chain.account("arbitrageur")
        self.owners = [t.address for t in self.traders]
        execute(chain, [*market.keeper_setup_requests(self.keeper, KEEPER_FUNDS, [self.mech.spender]),
                        *fund_requests(perp, self.arb, ARB_MARGIN), deposit_tx(perp, self.arb, ARB_MARGIN)])
        self.accounts = [a.address for a in chain.accounts]
        self.parties = [*self.accounts, market.market.address, self.mech.contract.address]
        self.blocks = []
        self.opened: list = []

    def _usd_total(self) -> int:
        return sum(self.perp.usd.call("balanceOf", p) for p in self.parties)

    def send(self, requests, require_success=True, timestamp=None):
        """One block with the identity and USD conservation checked around it."""
        supply = self.perp.usd.call("totalSupply")
        block = execute(self.chain, requests, timestamp=timestamp, require_success=require_success)
        assert self.perp.usd.call("totalSupply") == supply, "an action block minted USD"
        check_identity(self.perp, self.accounts)
        assert self._usd_total() == supply, "USD held outside the listed parties"
        self.mech.observe_block(block)
        self.blocks.append(block)
        return block

    def open_positions(self) -> None:
        perp = self.perp
        execute(self.chain, [r for t, (m, _) in zip([*self.traders, self.other], [*TRADERS, OTHER_SIDE])
                             for r in fund_requests(perp, t, m)])
        self.send([r for t, (m, q) in zip([self.other, *self.traders], [OTHER_SIDE, *TRADERS])
                   for r in (deposit_tx(perp, t, m), trade_tx(perp, t, q))])
        self._move_venue(START)
        self.opened = self.position_state()

    def _move_venue(self, price: int) -> None:
        s = self.market.read_state()
        delta = s.base_reserve - isqrt(self.market.venue_k * WAD // price)
        if delta:
            self.send([trade_tx(self.perp, self.arb, delta)])

    def set_price(self, price_wad: int) -> None:
        """The oracle moves, then the arbitrageur takes the venue there."""
        self.send([self.perp.oracle.tx(self.perp.oracle_updater, "submit", price_wad)])
        self._move_venue(price_wad)

    def position_state(self) -> list:
        return [(p.size, p.margin) for p in self.market.read_positions(self.owners)]

    def opened_state(self) -> list:
        return self.opened

    def owner_balances(self) -> dict:
        return {a: self.perp.usd.call("balanceOf", a) for a in self.owners}

    def any_locked(self) -> bool:
        return any(p.locked for p in self.market.read_positions(self.owners))


__all__ = ["PerpDriver"]
