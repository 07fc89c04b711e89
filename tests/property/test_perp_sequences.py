"""Property tests of the perpetual market at the contract level, on every perp mechanism (issue
#15, item 6): random sequences of trades, deposits and withdrawals, index moves (crashes and
jumps), time passing (funding), funding settlements and the mechanism's liquidation actions, one
block each, with after every block:

- the market's accounting identity (``sandbox.perp.check_identity``: USD held = Σ margins +
  insurance fund + venue balance − bad debt; venue balance from the reserves; open interest and
  notional per side equal the accounts' sums);
- USD conserved: the supply never changes and every USD is held by a known party;
- funding sums to zero: in each settlement Σ payments (payers +, receivers −) = the dust sent to
  the insurance fund = paid − received, never negative;
- the insurance fund never goes negative or above the USD the market holds, and moves only by
  what funds it, fees, funding dust and draws (its events); bad debt never decreases; no flat
  account is left with negative margin;
- fees and rewards within the documented incentives (keeper and insurance fees at most their
  share of the closed notional, Dutch rewards at most tip + chip × notional, penalties at most
  their share, the private bid split exact);
- a liquidatable account that no liquidation holds can be liquidated now: the mechanism's first
  action, simulated from a keeper, does not revert (unless for a documented reason: dust, an
  exclusive window, a trim already in this block).

Each mechanism's market is deployed once; every example starts from a snapshot of it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from sandbox.chain import CallReverted, execute, open_chain
from sandbox.perp import PerpParams, check_identity, deploy_mechanism, deploy_perp_market
from sandbox.perp.actions import deposit_tx, fund_requests, settle_funding_tx, trade_tx, withdraw_tx
from sandbox.testing import fastest_backend
from sandbox.units import BPS, WAD, to_wad

pytestmark = pytest.mark.property

MECHANISMS = ["fixed-fee", "dutch-auction", "soft", "private"]
TRADERS = [f"trader-{i}" for i in range(4)]
ACCOUNTS = ["deployer", "oracle", "treasury", *TRADERS, "taker", "keeper"]
SEQUENCES = 6  # per mechanism in CI
STEPS = 30  # blocks per sequence at most
COUNTED = {"Liquidated", "Bark", "Take", "Redo", "Trimmed", "BidPaid", "FundingSettled", "InsuranceDrawn",
           "AutoDeleveraged", "BadDebtRecorded"}  # what the summary reports the sequences did
EXCUSED = {"fixed-fee": (), "private": ("ExclusiveWindow(",), "soft": ("AlreadyTrimmed(",),
           "dutch-auction": ("Dust(",)}


def _backend() -> str:
    return fastest_backend()


class PerpWorld:
    """One deployed market and mechanism, funded traders, and the snapshot examples start from."""

    def __init__(self, name: str, backend: str):
        self.name = name
        self.chain = chain = open_chain(backend, seed=21, accounts=ACCOUNTS)
        self.perp = perp = deploy_perp_market(chain, PerpParams(venue_depth_weth=2_000.0, insurance_fund_usd=2_000.0))
        self.mech = deploy_mechanism(perp, name)
        requests = [r for label in [*TRADERS, "taker", "keeper"]
                    for r in fund_requests(perp, chain.account(label), to_wad(1_000_000),
                                           approve=[self.mech.contract.address])]
        execute(chain, requests)
        execute(chain, [deposit_tx(perp, chain.account("taker"), to_wad(500_000))])
        self.parties = [a.address for a in chain.accounts] + [perp.market.address, self.mech.contract.address]
        self.owners = [a.address for a in chain.accounts]
        self.snapshot = chain.snapshot()

    def close(self):
        close = getattr(self.chain, "close", None)
        if close is not None:
            close()


@pytest.fixture(scope="module")
def worlds():
    backend = _backend()
    made: dict[str, PerpWorld] = {}

    def get(name: str) -> PerpWorld:
        if name not in made:
            made[name] = PerpWorld(name, backend)
        return made[name]

    yield get
    for w in made.values():
        w.close()


def _events(block, name):
    return [log.args for log in block.logs if log.name == name]


class PerpSequence:
    """One sequence of actions on one perp market and mechanism, every block checked."""

    def __init__(self, world: PerpWorld, report: dict):
        self.world, self.report = world, report
        world.chain.revert(world.snapshot)
        self.perp, self.mech, self.chain = world.perp, world.mech, world.chain
        self.c = self.mech.contract
        self.account = {label: world.chain.account(label) for label in ACCOUNTS}
        self.supply = self.perp.usd.call("totalSupply")
        self.state = self.perp.state()
        self._bark_notional, self._notional = 0, {}
        report["perp_examples"] += 1

    # --- sending and checking ---------------------------------------------------------
    def send(self, *requests, seconds: int = 12):
        block = execute(self.chain, list(requests), timestamp=self.chain.timestamp + seconds, require_success=False)
        self.check(block)
        self.report["perp_steps"] += 1
        counts = self.report.setdefault("perp_events", {})
        for log in block.logs:  # (reverted transactions leave no logs)
            if log.name in COUNTED:
                key = f"{self.mech.name} {log.name}"
                counts[key] = counts.get(key, 0) + 1
        return block

    def check(self, block) -> None:
        perp, before = self.perp, self.state
        books = check_identity(perp, self.world.owners)
        after = self.state = perp.state()
        supply = perp.usd.call("totalSupply")
        assert supply == self.supply, "an action block changed the USD supply"
        assert sum(perp.usd.call("balanceOf", p) for p in self.world.parties) == supply, "USD held outside the parties"
        # funding: each settlement's payments sum to its dust, which goes to the insurance fund
        paid = []
        dust = 0
        for log in block.logs:
            if log.name == "FundingPaid":
                paid.append(log.args["amount"])
            elif log.name == "FundingSettled":
                e = log.args
                assert sum(paid) == e["dust"] == e["paid"] - e["received"] >= 0, \
                    f"funding does not sum to zero: Σ payments {sum(paid)}, dust {e['dust']}"
                assert sum(a for a in paid if a > 0) == e["paid"], "payers paid other than the settlement's total"
                dust += e["dust"]
                paid = []
        # the insurance fund moves only by its flows, stays within what the market holds
        flows = (sum(e["amount"] for e in _events(block, "InsuranceFunded"))
                 + sum(e["amount"] for e in _events(block, "InsuranceFeeCharged"))
                 + dust - sum(e["amount"] for e in _events(block, "InsuranceDrawn")))
        assert after.insurance_fund - before.insurance_fund == flows, "the insurance fund moved without a flow"
        assert 0 <= after.insurance_fund <= books.usd_held, "insurance fund negative or above the USD held"
        assert after.bad_debt >= before.bad_debt, "bad debt decreased"
        for owner in self.world.owners:
            margin, size, _, _ = perp.raw(owner)
            assert size != 0 or margin >= 0, f"{owner} is flat with negative margin {margin}"
        self.check_payouts(block)
        self.check_liquidatable_accounts_can_be_liquidated()

    def check_payouts(self, block) -> None:
        p = self.mech.params
        for log in block.logs:
            if log.address != self.c.address:
                continue
            e = log.args
            if log.name in ("Liquidated", "Trimmed"):
                assert e["keeperFee"] <= e["quote"] * p.keeper_fee_bps // BPS, "keeper fee above its share"
                assert e["insuranceFee"] <= e["quote"] * p.insurance_fee_bps // BPS, "insurance fee above its share"
            elif log.name in ("Kick", "Redo"):
                notional = self._notional.get(e["id"], 0) if log.name == "Redo" else self._bark_notional
                assert e["coin"] <= to_wad(p.tip_usd) + notional * (p.chip_bps * WAD // BPS) // WAD, \
                    "keeper reward above tip + chip × notional"
            elif log.name == "Bark":
                self._bark_notional = e["notional"]
            elif log.name == "Take":
                assert e["penalty"] <= e["slice"] * e["price"] // WAD * p.penalty_bps // BPS, "penalty above its share"
            elif log.name == "BidPaid":
                assert e["protocolAmount"] + e["operatorAmount"] == e["bid"]
                assert e["protocolAmount"] == e["bid"] * p.protocol_share_bps // BPS
        if self.mech.name == "dutch-auction":  # what a redo would pay on: the lot at the mark
            mark = self.perp.mark_price()
            self._notional = {a["id"]: a["lot"] * mark // WAD for a in self.c.call("activeAuctions")}

    def check_liquidatable_accounts_can_be_liquidated(self) -> None:
        keeper = self.account["keeper"].address
        for view in self.perp.accounts(self.world.owners):
            if not view.liquidatable or view.locked or view.owner == keeper:
                continue
            call = self.first_action(view.owner)
            try:
                self.chain.call(self.c.address, call, sender=keeper)
            except CallReverted as exc:
                assert str(exc).startswith(EXCUSED[self.mech.name]), \
                    f"liquidatable {view.owner} cannot be liquidated: {exc}"

    def first_action(self, owner) -> bytes:
        keeper = self.account["keeper"].address
        if self.mech.name == "dutch-auction":
            return self.c.encode("bark", owner, keeper)
        if self.mech.name == "soft":
            return self.c.encode("trim", owner)
        return self.c.encode("liquidate", owner, to_wad(10**6))

    # --- actions: one block each --------------------------------------------------------
    def open_accounts(self, positions) -> None:
        """Every trader opens a long or short of 3-12 WETH at 4x to 9.5x leverage (10x is the most)."""
        price = self.perp.index_price()
        requests = []
        for label, (weth, long, leverage) in zip(TRADERS, positions):
            trader = self.account[label]
            margin = int(to_wad(weth) * price // WAD / leverage)
            requests += [deposit_tx(self.perp, trader, margin),
                         trade_tx(self.perp, trader, to_wad(weth) if long else -to_wad(weth))]
        self.send(*requests)

    def liquidatable(self) -> list[str]:
        return [v.owner for v in self.perp.accounts([self.account[t].address for t in TRADERS])
                if v.liquidatable and not v.locked]

    def step(self, kind: str, pick: int, amount: int) -> None:
        """One action; ``pick`` chooses among traders (or auctions), ``amount`` sizes it."""
        perp, keeper, taker = self.perp, self.account["keeper"], self.account["taker"]
        trader = self.account[TRADERS[pick % len(TRADERS)]]
        if kind == "trade":  # open, add, reduce, close or flip: -15 .. +15 WETH
            self.send(trade_tx(perp, trader, to_wad(amount % 121 - 60) // 4 or to_wad(1)))
        elif kind == "margin":
            usd = to_wad([100, 1_000, 20_000][amount % 3])
            self.send(deposit_tx(perp, trader, usd) if amount % 2 else withdraw_tx(perp, trader, usd))
        elif kind in ("move", "crash"):  # small moves, or crashes and jumps both ways
            factors = [9_000, 9_500, 9_800, 10_200, 10_500, 11_000] if kind == "move" else \
                [5_000, 7_000, 8_000, 8_800, 11_500, 13_000, 16_000]
            price = perp.oracle.call("price") * factors[amount % len(factors)] // BPS
            self.send(perp.oracle.tx(perp.oracle_updater, "submit", price))
        elif kind == "wait":  # time passes; funding settles (the settlement may be due or not)
            self.send(settle_funding_tx(perp, keeper), seconds=[60, 900, 3_600, 4 * 3_600][amount % 4])
        elif kind == "liquidate":  # the first action on a liquidatable account, else on anyone
            owners = self.liquidatable() or [trader.address]
            owner = owners[pick % len(owners)]
            self.send(_request(self.chain, keeper, self.c.address, self.first_action(owner)))
        elif kind == "auction" and self.mech.name == "dutch-auction":  # take part of an auction, or reset it
            auctions = self.c.call("activeAuctions")
            if auctions:
                a = auctions[pick % len(auctions)]
                if a["needsRedo"]:
                    redo = self.c.encode("redo", a["id"], keeper.address)
                    self.send(_request(self.chain, keeper, self.c.address, redo))
                else:
                    self.send(_request(self.chain, taker, self.c.address,
                                       self.c.encode("take", a["id"], to_wad(amount % 48 + 1) // 4, 0)))
        elif kind == "auction" and self.mech.name == "private":  # win the round, liquidate with the bid
            round_id, _, end, winner, _, _ = self.c.call("auctionState")
            owners = self.liquidatable() or [trader.address]
            requests = []
            if winner == "0x" + "00" * 20 and self.chain.timestamp + 1 < end:
                requests.append(self.mech.tx(self.mech.auctioneer, "grant", round_id, keeper.address, to_wad(50)))
            requests.append(self.mech.tx(keeper, "liquidateWithBid", owners[pick % len(owners)], to_wad(10**6)))
            self.send(*requests, seconds=1)
        elif kind == "auction":  # fixed-fee and soft: a second keeper acts in the same block
            owners = self.liquidatable() or [trader.address]
            action = self.first_action(owners[pick % len(owners)])
            self.send(_request(self.chain, keeper, self.c.address, action),
                      _request(self.chain, taker, self.c.address, action))


# the kinds of action, repeated to weight them: liquidations and crashes come often
KINDS = ["trade", "trade", "margin", "move", "crash", "crash", "wait", "liquidate", "liquidate", "liquidate",
         "auction", "auction"]
steps = st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 2**16), st.integers(0, 2**16)),
                 min_size=STEPS // 2, max_size=STEPS)
positions = st.lists(st.tuples(st.integers(3, 12), st.booleans(), st.sampled_from([4, 8, 9.5])),
                     min_size=len(TRADERS), max_size=len(TRADERS))


def _request(chain, sender, to, data):
    from sandbox.chain import TxRequest

    return TxRequest(sender=sender, to=to, data=data, gas=4_000_000)


@pytest.mark.parametrize("name", MECHANISMS)
def test_random_sequences_keep_the_perp_markets_books(name, worlds, suite_report):
    world = worlds(name)

    @settings(max_examples=SEQUENCES, derandomize=False)
    @given(positions=positions, steps=steps)
    def run(positions, steps):
        sequence = PerpSequence(world, suite_report)
        sequence.open_accounts(positions)
        for kind, pick, amount in steps:
            sequence.step(kind, pick, amount)

    run = hypothesis_seed(MECHANISMS.index(name) + 40)(run)  # a fixed draw, different per mechanism
    run()
