"""One lending market with one mechanism installed, two positions to attack, a funded keeper and
an attacker (an account and its ``Reenterer`` contract). ``World.refused`` sends an attack and
checks that it reverted with the expected error and moved nothing: no token balance of any party,
no position and no mechanism state changed (only the sender's gas was spent)."""

from __future__ import annotations

from dataclasses import dataclass, field

from attacker import ARTIFACT

from sandbox.chain import Contract, deploy, execute, open_chain
from sandbox.contracts import artifact_from_file
from sandbox.market import MarketParams, deploy_market
from sandbox.market.actions import fund_requests, open_positions
from sandbox.mechanisms import MECHANISMS
from sandbox.units import to_wad

ACCOUNTS = ["deployer", "oracle", "treasury", "builder", "arbitrageur", "victim", "bystander",
            "keeper", "rival", "attacker", "operator"]
START = to_wad(2000)
# The victim: 10 WETH against $15,300 (HF 1.111 at $2,000). At $1,750 its HF is 0.972: liquidatable,
# above Aave's 0.95 full-close line, so the close factor (50%) binds. At $1,100 its collateral
# ($11,000) is worth less than its debt. The bystander (10 WETH, $5,000) is healthy at every price.
VICTIM = (to_wad(10), to_wad(15_300))
BYSTANDER = (to_wad(10), to_wad(5_000))
FALL = to_wad(1750)
CRASH = to_wad(1100)
FUNDS_USD = to_wad(10_000_000)
FUNDS_WETH = to_wad(10_000)
MAX_UINT = 2**256 - 1


def _backend() -> str:
    """anvil when it is installed (faster per call), else eth-tester."""
    from sandbox.testing import fastest_backend

    return fastest_backend()


BACKEND = _backend()
# auction view fields that move with time alone, not with an action
CLOCK = {"price", "needsRedo", "biddable", "dealable", "needsTick"}


@dataclass
class World:
    name: str
    chain: object
    market: object
    mech: object
    accounts: dict
    reenterer: Contract
    seen: list = field(default_factory=list)  # (mechanism, attack, reason) of every refused attack

    def __getattr__(self, label):  # world.victim, world.keeper, ... are the accounts
        accounts = self.__dict__.get("accounts", {})
        if label in accounts:
            return accounts[label]
        raise AttributeError(label)

    @property
    def c(self) -> Contract:
        return self.mech.contract

    # --- moving the world ----------------------------------------------------------------
    def set_price(self, price_wad: int) -> None:
        execute(self.chain, [self.market.oracle.tx(self.market.oracle_updater, "submit", price_wad)])

    def wait(self, seconds: int) -> None:
        execute(self.chain, [], timestamp=self.chain.timestamp + seconds)

    def send(self, *requests, timestamp=None):
        """One block (reverts allowed); the mechanism's mirror follows it."""
        block = execute(self.chain, list(requests), timestamp=timestamp, require_success=False)
        self.mech.observe_block(block)
        return block

    def ok(self, *requests, timestamp=None):
        block = self.send(*requests, timestamp=timestamp)
        bad = [r.revert_reason for r in block.receipts if not r.succeeded]
        assert not bad, bad
        return block

    def as_attacker(self, target: Contract | str, data: bytes, gas: int = 3_000_000):
        """A transaction in which the attacker's contract calls ``target`` with ``data``."""
        to = target.address if isinstance(target, Contract) else target
        return self.reenterer.tx(self.attacker, "exec", to, data, gas=gas)

    def prime(self, target: Contract | str, data: bytes):
        to = target.address if isinstance(target, Contract) else target
        return self.reenterer.tx(self.attacker, "prime", to, data)

    # --- what an attack must not change ---------------------------------------------------
    def parties(self) -> list[str]:
        m = self.market
        return [*(a.address for a in self.accounts.values()), m.lending.address, m.amm.address,
                m.flash.address, self.c.address, self.reenterer.address]

    def owners(self) -> list[str]:
        return [self.victim.address, self.bystander.address, self.reenterer.address]

    def funds(self) -> dict:
        """Token balances of every party, every position, and the mechanism's own state."""
        m = self.market
        prefetch = getattr(self.chain, "prefetch_calls", None)
        if prefetch is not None:  # a node: every balance in one round trip
            prefetch([(t.address, t.encode("balanceOf", p)) for p in self.parties() for t in (m.weth, m.usd)])
        balances = {p: (m.weth.call("balanceOf", p), m.usd.call("balanceOf", p)) for p in self.parties()}
        positions = m.read_positions(self.owners())
        return {"balances": balances, "positions": positions, "market": _market_totals(m),
                "mechanism": mechanism_state(self)}

    def refused(self, attack: str, request, expected: str) -> str:
        """Send ``request`` alone in a block: it must revert with ``expected`` (a prefix of the
        decoded reason) and leave every balance, position and mechanism state as it was."""
        before = self.funds()
        block = self.send(request)
        receipt = block.receipts[0]
        assert not receipt.succeeded, f"{self.name}: {attack} succeeded"
        assert receipt.revert_reason.startswith(expected), (attack, receipt.revert_reason)
        assert self.funds() == before, f"{self.name}: {attack} reverted but moved funds"
        self.seen.append((self.name, attack, receipt.revert_reason))
        return receipt.revert_reason


def _market_totals(market) -> tuple:
    s = market.state()
    return (s.price, s.total_collateral, s.total_debt, s.bad_debt, s.liquidity)


def mechanism_state(world: World):
    """What each mechanism keeps besides balances (auctions, grants, bands, reserves)."""
    c = world.c
    name = world.name
    if name in ("dutch-auction", "english-auction"):
        return (c.call("kicks"), tuple(tuple(sorted((k, v) for k, v in a.items() if k not in CLOCK))
                                       for a in c.call("activeAuctions")))
    if name == "private":
        return tuple(c.call("auctionState"))
    if name == "soft":
        return (c.call("activeBand"),) + tuple(tuple(c.call("positions", o)) for o in world.owners())
    if name == "absorb":
        return tuple(sorted(c.call("state").items()))
    return ()


def reenterer_contract(chain, owner) -> Contract:
    """Deploy the attacker contract (its committed artifact) for ``owner``."""
    artifact = artifact_from_file(ARTIFACT)
    (contract,) = deploy(chain, owner, [(artifact, ())])
    return contract


_BUILT: dict[str, tuple[World, object]] = {}  # mechanism -> (its world, the set-up snapshot)


def close_worlds() -> None:
    """Stop the worlds' chains (a node backend's processes); the next ``build_world`` builds anew."""
    for w, _ in _BUILT.values():
        close = getattr(w.chain, "close", None)
        if close is not None:
            close()
    _BUILT.clear()


def build_world(name: str) -> World:
    """A market with mechanism ``name`` as set up: the victim and bystander hold positions (price
    $2,000), the keeper, rival and attacker's contract hold USD and WETH approved to the mechanism,
    the market and the AMM. Built once per mechanism (until ``close_worlds``) on anvil when it is
    installed; every call rolls the chain back to the set-up (all state is on the chain: the
    mechanism follows no events here)."""
    if name in _BUILT:
        w, snapshot = _BUILT[name]
        w.chain.revert(snapshot)
        w.seen = []
        return w
    chain = open_chain(BACKEND, seed=77, accounts=ACCOUNTS)
    market = deploy_market(chain, MarketParams())
    accounts = {label: chain.account(label) for label in ACCOUNTS}
    cls = MECHANISMS.load(name)
    if name == "private":
        mech = cls.deploy(market, operator=accounts["operator"].address)
    else:
        mech = cls.deploy(market)
    reenterer = reenterer_contract(chain, accounts["attacker"])
    spenders = list(dict.fromkeys([mech.spender, market.lending.address, market.amm.address]))
    requests = [r for label in ("keeper", "rival") for r in fund_requests(
        market, accounts[label], usd_wei=FUNDS_USD, weth_wei=FUNDS_WETH, approve=spenders)]
    requests += [market.usd.tx(market.deployer, "mint", reenterer.address, FUNDS_USD),
                 market.weth.tx(market.deployer, "mint", reenterer.address, FUNDS_WETH)]
    execute(chain, requests)
    approvals = [reenterer.tx(accounts["attacker"], "exec", token.address, token.encode("approve", spender, MAX_UINT))
                 for token in (market.usd, market.weth) for spender in spenders]
    execute(chain, approvals)
    open_positions(market, [(accounts["victim"], *VICTIM), (accounts["bystander"], *BYSTANDER)])
    w = World(name=name, chain=chain, market=market, mech=mech, accounts=accounts, reenterer=reenterer)
    _BUILT[name] = (w, chain.snapshot())
    return w


__all__ = ["BACKEND", "BYSTANDER", "CRASH", "FALL", "START", "VICTIM", "World", "build_world", "close_worlds",
           "mechanism_state"]
