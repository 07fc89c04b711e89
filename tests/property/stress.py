"""Stress scenarios for property tests, and the rules every run must keep under them.

Random scenarios rarely stress anything (issue #15: of 356 random runs over the six mechanisms,
67 had any debt at risk). ``stress_scenarios`` draws small scenarios built to put debt at risk:
borrowers near the market's maximum LTV, then a steep crash, a jump process, a V-shaped flash
crash or a bridge to a low target, with gas spikes, oracle faults (a window reporting a wrong
price), oracle lag and thin AMM liquidity thrown in. It draws a plain dict in the scenario-file
layout (``scenario_from_dict`` builds it, with every check of a TOML file), so a failing example
prints as a scenario anyone can save and run with ``liqsandbox run``.

``check_run(scenario, mechanism, seed)`` runs one simulation block by block and asserts, after
every block:

- tokens are conserved: WETH and USD supplies never change after set-up, and every token is held
  by a known party (every account, the market, AMM, flash lender, mechanism, keeper contracts);
- the debt identity: total debt before − after = repaid by liquidation + written off (the
  market's own events, ``sandbox.testing.accounting``) + repaid − borrowed by borrowers; the
  market's books (its WETH = total collateral, its USD = liquidity, Σ debts = total debt);
- no negative balance: no balance, collateral or debt above the supply (an unchecked
  subtraction that wrapped), and what the mechanism holds for positions is in its balances;
- the protocol pays out nothing beyond the documented incentives (``PAYOUT_RULES``: fixed-fee
  and private seize at most repaid × (1 + bonus) at the oracle price in force, fees and bid
  splits exact; Dutch keeper rewards at most tip + chip × tab and takes never below the curve
  price; English deals split the bid exactly; soft hard liquidations pay at least the collateral
  value × (1 − liquidation discount); absorb credits exactly the liquidation factor and sells no
  cheaper than the store-front price);
- a liquidatable position with a profitable action does not stay so: an action a naive keeper
  of the run would take (its own plan: profit after gas above its minimum, or an unpaid action
  within its gas allowance; standing auction bids excepted, they are meant to stand) is gone
  within ``LIVENESS_BLOCKS`` blocks in which keepers could get into a block (blocks filled by a
  gas spike that outbids them do not count, nor, for now, blocks where the action reverted on a
  known stale quote: ``STALE_QUOTE_REVERTS``);

and at the end that the run's metrics add up (``compute_metrics`` raises ``AccountingError``
otherwise: debt at risk = recovered + bad debt + covered open + shortfall, in exact integers).

``hypothesis`` (the test extra) is imported only by ``stress_scenarios``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandbox.chain import BlockResult
from sandbox.testing.accounting import assert_debt_identity, assert_tokens_conserved, holdings, liquidation_flows
from sandbox.units import BPS, WAD

LIVENESS_BLOCKS = 3  # blocks with room in which an action keepers want may stay untaken
# Stale quotes (found by issue #15's property tests): opportunities are sized at the oracle price
# in force at the head block, but execute under the next block's price, which differs whenever a
# round comes into force in between (any oracle delay). Absorb's buy of the whole inventory then
# gets too little WETH or more than there is (a known defect, tests/property/
# test_known_defects.py). Fixed-fee's "take all the collateral" repayment used to leave dust
# (DustRemaining); it now asks with room (``fixed_fee.SEIZE_ALL_ROOM_BPS``), but a partial
# liquidation sized at the old price may still leave dust, and a flash keeper borrows only the
# quoted repayment. A block in which the wanted action reverted for exactly such a reason does
# not count toward the liveness bound; ``StressOutcome.stale_quote_reverts`` counts them.
# (Private shares fixed-fee's sizing but its winners quote in a what-if block that includes the
# oracle update: no such revert was seen in 150 examples, so none is excused.)
STALE_QUOTE_REVERTS = {"fixed-fee": ("DustRemaining(",), "absorb": ("TooMuchSlippage()", "InsufficientInventory()")}
CONGESTED = 0.9  # background demand above this share of the gas limit, tipping at least a keeper's: no room
KEEPER_CAPITAL_USD = 5_000_000.0
STRATEGIES = ("pga", "frontrunner", "backrunner", "flash")  # besides the naive keeper every scenario has


# ----------------------------------------------------------------------------- scenarios

def stress_scenarios(max_borrowers: int = 4, max_blocks: int = 14):
    """A hypothesis strategy of scenario dicts (the scenario-file layout) that put debt at risk."""
    from hypothesis import strategies as st

    @st.composite
    def scenarios(draw) -> dict:
        block_time = draw(st.sampled_from([30, 60, 120, 240]))
        blocks = draw(st.integers(8, max_blocks))
        duration = blocks * block_time
        start = draw(st.sampled_from([2000.0, 1500.0, 3000.0]))
        kind = draw(st.sampled_from(["crash", "crash", "flash-crash", "jump", "bridge"]))
        depth = draw(st.floats(0.2, 0.65))
        low = round(start * (1 - depth), 2)
        at = draw(st.integers(1, max(1, blocks // 2))) * block_time
        price: dict[str, Any]
        if kind == "crash":
            price = {"model": "path", "knots": [[0, start], [at, low]]}
            if draw(st.booleans()):
                price["noise_volatility_per_year"] = draw(st.sampled_from([0.5, 2.0]))
        elif kind == "flash-crash":  # down and (mostly) back: liquidations a rebound makes wrongful
            back = round(start * draw(st.floats(0.8, 1.05)), 2)
            price = {"model": "path", "knots": [[0, start], [at, low], [min(duration, at + 2 * block_time), back]]}
        elif kind == "jump":  # a jump diffusion with frequent downward jumps
            price = {"model": "jump", "start_price_usd": start, "volatility_per_year": draw(st.floats(0.5, 3.0)),
                     "jump_intensity_per_day": draw(st.sampled_from([200.0, 500.0, 1000.0])),
                     "jump_mean": -draw(st.floats(0.05, 0.3)), "jump_stdev": draw(st.floats(0.02, 0.2))}
        else:  # a noisy bridge down to the low
            price = {"model": "bridge", "start_price_usd": start, "target_price_usd": low,
                     "target_time_seconds": float(at), "volatility_per_year": draw(st.floats(0.3, 2.0))}
        gas: dict[str, Any] = {"base_fee_gwei": draw(st.sampled_from([2.0, 20.0, 150.0]))}
        if draw(st.booleans()):  # a gas spike over part of the path
            s0 = draw(st.integers(0, blocks - 2)) * block_time
            gas["spikes"] = [[s0, s0 + draw(st.integers(1, 4)) * block_time, draw(st.sampled_from([2.0, 10.0, 50.0]))]]
        oracle: dict[str, Any] = {"deviation_bps": draw(st.sampled_from([10, 50, 200])),
                                  "heartbeat_seconds": draw(st.sampled_from([block_time, 600, 3600]))}
        if draw(st.booleans()):  # the feed is wrong for a window while the market is right
            f0 = draw(st.integers(0, blocks - 2)) * block_time
            oracle["faults"] = [[f0, f0 + draw(st.integers(1, 3)) * block_time,
                                 draw(st.sampled_from([0.6, 0.8, 1.25, 1.5]))]]
        if draw(st.booleans()):  # lag: the answer in force is a block old (a multiple of the block
            oracle["delay_seconds"] = block_time  # time, so the private auction's window holds a block)
        if draw(st.integers(0, 3)) == 0:
            oracle["amm_weight"] = draw(st.sampled_from([0.5, 1.0]))  # a DEX-fed oracle
        ltv_min = draw(st.integers(7000, 7800))
        borrowers = {"count": draw(st.integers(2, max_borrowers)),
                     "collateral_weth_median": draw(st.sampled_from([2.0, 10.0, 40.0])),
                     "collateral_weth_sigma": draw(st.sampled_from([0.0, 0.5])),
                     "ltv_min_bps": ltv_min, "ltv_max_bps": draw(st.integers(ltv_min, 7900))}
        if draw(st.integers(0, 3)) == 0:  # some borrowers top up or repay when near the line
            borrowers["reaction_probability"] = 0.5
        keepers = [{"strategy": "naive", "capital_usd": KEEPER_CAPITAL_USD,
                    "tip_gwei": draw(st.sampled_from([1.0, 3.0]))}]
        for strategy in draw(st.lists(st.sampled_from(STRATEGIES), max_size=2, unique=True)):
            keepers.append({"strategy": strategy, "capital_usd": 0.0 if strategy == "flash" else KEEPER_CAPITAL_USD,
                            "tip_gwei": 2.0})
        mechanisms = {}
        if draw(st.integers(0, 3)):  # English auctions short enough to end within the run
            mechanisms["english-auction"] = {"ttl_seconds": draw(st.sampled_from([300, 600, 1200])),
                                             "tau_seconds": draw(st.sampled_from([1800, 3600]))}
        if draw(st.booleans()):  # Dutch prices falling faster than ETH-A's 1% per 90 s
            mechanisms["dutch-auction"] = {"step_seconds": draw(st.sampled_from([20, 45])),
                                           "cut_bps": draw(st.sampled_from([9900, 9700]))}
        return {
            "name": f"stress-{kind}", "blocks": blocks, "block_time_seconds": block_time,
            "builder_policy": draw(st.sampled_from(["priority-fee", "priority-fee", "fifo"])),
            "settle_max_seconds": draw(st.sampled_from([1200, 2400])),
            "settle_idle_seconds": max(block_time, 600),
            "price": price, "gas": gas, "oracle": oracle,
            "amm": {"liquidity_weth": draw(st.sampled_from([25.0, 200.0, 5000.0]))},  # thin to deep
            "lending": {"min_borrow_usd": 2_500.0},  # the Dutch auction's dust (the largest)
            "borrowers": borrowers, "keepers": keepers, "mechanisms": mechanisms,
        }

    return scenarios()


def build_scenario(raw: dict):
    """The Scenario a stress dict describes (the loader's checks included)."""
    from sandbox.scenarios.loader import scenario_from_dict

    return scenario_from_dict(raw, source="<stress>")


# ----------------------------------------------------------------------------- payouts

class _Prices:
    """The oracle answer in force at any log of the run: rounds as emitted, in log order."""

    def __init__(self, market, delay: int):
        oracle = market.oracle
        self.delay = delay
        self.rounds = [(r[3], r[1]) for r in (oracle.call("getRoundData", i)
                                              for i in range(1, oracle.call("latestRound") + 1))]

    def add(self, updated_at: int, answer: int) -> None:
        self.rounds.append((updated_at, answer))

    def at(self, timestamp: int) -> int:
        cutoff = timestamp - self.delay
        for updated_at, answer in reversed(self.rounds):  # updatedAt never decreases
            if updated_at <= cutoff:
                return answer
        raise AssertionError(f"no oracle answer in force at {timestamp}")


def _check_fixed_fee(p: dict, e: dict, price: int, where: str) -> None:
    bonus = BPS + p["bonus_bps"]
    repaid, seized, fee = e["debtRepaid"], e["collateralSeized"], e["protocolFee"]
    # collateral worth at most repaid × (1 + bonus) at the oracle price (one wei of rounding)
    assert seized * price * BPS <= repaid * bonus * WAD + price * BPS, \
        f"{where}: seized {seized} WETH at {price} for {repaid} repaid, above the {p['bonus_bps']} bps bonus"
    if seized:
        assert fee == (seized - seized * BPS // bonus) * p["protocol_fee_bps"] // BPS, f"{where}: protocol fee {fee}"


def _check_bid(p: dict, e: dict, where: str) -> None:
    assert e["protocolAmount"] + e["operatorAmount"] == e["bid"], f"{where}: bid split"
    assert e["protocolAmount"] == e["bid"] * p["protocol_share_bps"] // BPS, f"{where}: protocol share"


class _Payouts:
    """Each mechanism's documented incentives, checked on every event it emits."""

    def __init__(self, sim):
        self.name = sim.mechanism_name
        self.mech = sim.mechanism
        self.params = sim.mechanism.params.as_dict()
        self.address = sim.mechanism.contract.address
        self.lots: dict[int, int] = {}  # dutch: lot before the next take
        self.tops: dict[int, int] = {}
        self.value = 0  # absorb: the collateral value of the absorb being booked
        self.checked = 0

    def reward_cap(self, tab: int) -> int:
        return self.mech.params.tip_wad + tab * self.mech.params.chip_wad // WAD

    def check(self, log, price: int, where: str) -> None:
        if log.address != self.address or not log.name:
            return
        e, p, name = log.args, self.params, self.name
        if name in ("fixed-fee", "private") and log.name == "Liquidated":
            _check_fixed_fee(p, e, price, where)
        elif name == "private" and log.name == "BidPaid":
            _check_bid(p, e, where)
        elif name == "dutch-auction" and log.name in ("Kick", "Redo"):
            assert e["coin"] <= self.reward_cap(e["tab"]), f"{where}: keeper reward {e['coin']} above tip + chip × tab"
            self.lots[e["id"]], self.tops[e["id"]] = e["lot"], e["top"]
        elif name == "dutch-auction" and log.name == "Take":
            sliced = self.lots[e["id"]] - e["lot"]
            self.lots[e["id"]] = e["lot"]
            assert e["price"] <= self.tops[e["id"]], f"{where}: take above the auction's start price"
            assert sliced * e["price"] <= e["owe"] * WAD, f"{where}: {sliced} WETH sold for {e['owe']}, below the price"
        elif name == "english-auction" and log.name == "Deal":
            repay = min(e["bid"], e["debtRepaid"] + e["badDebt"])
            assert (e["debtRepaid"], e["penalty"]) == (repay, e["bid"] - repay), f"{where}: deal split"
        elif name == "soft" and log.name == "HardLiquidation":
            # the liquidator pays the debt, or the bands' value × (1 − liquidation discount) when
            # that is less (the rest written off): never less
            value = e["collateralOut"] * price // WAD + e["usdOut"]
            cap = value * (WAD - p["liquidation_discount_bps"] * WAD // BPS) // WAD
            debt = e["debtRepaid"] + e["badDebt"]
            assert e["debtRepaid"] == min(debt, cap), \
                f"{where}: hard liquidation repaid {e['debtRepaid']} of {debt} for {value} of value"
        elif name == "absorb" and log.name == "AbsorbCollateral":
            assert e["usdValue"] == e["collateralAbsorbed"] * price // WAD, f"{where}: absorbed at another price"
            self.value = e["usdValue"]
        elif name == "absorb" and log.name == "AbsorbDebt":
            credit = self.value * p["liquidation_factor_bps"] // BPS  # the borrower's credit
            cover = min(credit, e["debtAbsorbed"])
            assert e["credit"] == credit, f"{where}: credit {e['credit']} != value × liquidation factor {credit}"
            assert e["reservesPaid"] <= cover and e["reservesPaid"] + e["badDebt"] == e["debtAbsorbed"], \
                f"{where}: absorbed debt split"
            assert e["excessPaid"] <= credit - cover, f"{where}: excess credit {e['excessPaid']} above {credit - cover}"
        elif name == "absorb" and log.name == "BuyCollateral":
            lf, sf = p["liquidation_factor_bps"] * WAD // BPS, p["store_front_price_factor_bps"] * WAD // BPS
            store = price * (WAD - (WAD - lf) * sf // WAD) // WAD  # the store-front price
            assert e["collateralAmount"] * store <= e["usdAmount"] * WAD, \
                f"{where}: sold {e['collateralAmount']} WETH for {e['usdAmount']}, below the store-front price"
        else:
            return  # an event no incentive rule is about
        self.checked += 1


# ----------------------------------------------------------------------------- the checks

@dataclass
class StressOutcome:
    """What one checked run saw."""

    mechanism: str
    seed: int
    blocks: int
    debt_at_risk_usd: float
    liquidations: int
    payouts_checked: int
    liveness_checks: int
    stale_quote_reverts: int
    metrics: dict = field(repr=False, default_factory=dict)

    @property
    def at_risk(self) -> bool:
        return self.debt_at_risk_usd > 0


class RunChecks:
    """The per-block rules of the module docstring, attached to one set-up ``Simulation``."""

    def __init__(self, sim):
        from sandbox.agents.keepers.naive import NaiveKeeper

        self.sim = sim
        market = self.market = sim.market
        self.owners = list(sim.owners)
        contracts = [getattr(a, "contract", None) for a in sim.agents]
        self.parties = list(dict.fromkeys(
            [a.address for a in sim.chain.accounts]
            + [market.lending.address, market.amm.address, market.flash.address, sim.mechanism.contract.address]
            + [c.address for c in contracts if c is not None]))
        self.supply = (market.weth.call("totalSupply"), market.usd.call("totalSupply"))
        self.check_tokens()
        self.debt = market.lending.call("totalDebt")
        self.prices = _Prices(market, sim.scenario.oracle.delay_seconds)
        self.payouts = _Payouts(sim)
        self.naive = [a for a in sim.agents if isinstance(a, NaiveKeeper)]
        self.min_tip_gwei = min(k.gas.tip_gwei for k in self.naive)
        self.streaks: dict[tuple, int] = {}  # wanted action -> blocks with room it stayed untaken
        self.credit: dict[tuple, int] = {}  # what the last block counts toward each streak
        self.liveness_checks = 0
        self.stale_quote_reverts = 0
        self.block = 0
        ctx = sim.ctx
        begin = ctx.begin_block

        def begin_block(*args, **kwargs):
            view = begin(*args, **kwargs)
            self.check_liveness(view)
            return view

        ctx.begin_block = begin_block  # the probe sees exactly the view the agents see

    # --- tokens, debt, balances ---------------------------------------------------------
    def prefetch(self) -> None:
        """Every read of ``check_tokens`` and ``check_books`` in one round trip where the
        backend batches reads (a node); nothing otherwise."""
        prefetch = getattr(self.sim.chain, "prefetch_calls", None)
        if prefetch is None:
            return
        m, mech = self.market, self.sim.mechanism.contract
        calls = [(t.address, t.encode("balanceOf", p)) for p in self.parties for t in (m.weth, m.usd)]
        calls += [(t.address, t.encode("totalSupply")) for t in (m.weth, m.usd)]
        calls += [(m.lending.address, m.lending.encode(fn)) for fn in ("totalCollateral", "liquidity", "totalDebt")]
        calls += [(m.lending.address, m.lending.encode(fn, o))
                  for o in self.owners for fn in ("collateralOf", "debtOf")]
        calls += [(mech.address, mech.encode("heldCollateral", o)) for o in self.owners]
        prefetch(calls)

    def check_tokens(self) -> dict:
        m = self.market
        held = holdings(m, self.parties)
        supply = (m.weth.call("totalSupply"), m.usd.call("totalSupply"))
        assert supply == self.supply, f"token supply changed during the run: {self.supply} -> {supply}"
        assert_tokens_conserved(m, {"all": self.supply}, {"all": (sum(w for w, _ in held.values()),
                                                                   sum(u for _, u in held.values()))})
        for who, (weth, usd) in held.items():  # a wrapped subtraction shows as a huge balance
            assert weth <= supply[0] and usd <= supply[1], f"{who} holds more than the supply: negative balance"
        return held

    def check_books(self, held: dict) -> None:
        """The market's books match its balances and its positions; the mechanism owns what it
        holds for positions."""
        lending, mech = self.market.lending, self.sim.mechanism.contract
        total_collateral, liquidity, total_debt = (
            lending.call(fn) for fn in ("totalCollateral", "liquidity", "totalDebt"))
        assert held[lending.address] == (total_collateral, liquidity), "market balances != its books"
        assert sum(lending.call("debtOf", o) for o in self.owners) == total_debt, "Σ debts != total debt"
        assert sum(lending.call("collateralOf", o) for o in self.owners) == total_collateral, \
            "Σ collateral != total collateral"
        custody = [mech.call("heldCollateral", o) for o in self.owners]
        held_weth, held_usd = sum(w for w, _ in custody), sum(u for _, u in custody)
        own = held[mech.address]
        assert held_weth <= own[0] and held_usd <= own[1], \
            f"the mechanism holds ({held_weth}, {held_usd}) for positions but owns only {own}"
        self.debt = total_debt

    def check_debt_identity(self, block: BlockResult) -> None:
        m = self.market
        borrowed = repaid = 0
        for log in block.logs:
            if log.address == m.lending.address and log.name == "Borrow":
                borrowed += log.args["amount"]
            elif log.address == m.lending.address and log.name == "Repay":
                repaid += log.args["amount"]
        assert_debt_identity(self.debt + borrowed - repaid, m.lending.call("totalDebt"),
                             liquidation_flows([block], m))

    def check_payouts(self, block: BlockResult) -> None:
        oracle = self.market.oracle.address
        for log in block.logs:
            if log.address == oracle and log.name == "AnswerUpdated":
                self.prices.add(log.args["updatedAt"], log.args["current"])
            else:
                self.payouts.check(log, self.prices.at(block.timestamp), f"block {block.number} log {log.log_index}")

    # --- liveness ------------------------------------------------------------------------
    def congested(self, k: int) -> bool:
        """Block k's background demand fills it and tips at least as much as the naive keepers."""
        sc = self.sim.scenario
        gas, tip_gwei = sc.gas.demand_at((k - 1) * sc.block_time_seconds)
        return gas >= CONGESTED * self.sim.chain.gas_limit and tip_gwei >= self.min_tip_gwei

    def check_liveness(self, view) -> None:
        """At the start of each block: the (action, owner, ref) a naive keeper would take now
        (its own plan) must not have been wanted, and left untaken, through more than
        ``LIVENESS_BLOCKS`` blocks with room."""
        wanted = set()
        for keeper in self.naive:
            for plan in keeper.plan(view, self.sim.ctx, view.opportunities, skip_targeted=False):
                if not plan.opportunity.standing_bid:
                    wanted.add((plan.opportunity.action, plan.opportunity.owner, plan.opportunity.ref))
        self.liveness_checks += 1
        self.streaks = {key: self.streaks.get(key, 0) + self.credit.get(key, 0) for key in wanted}
        stuck = {key: n for key, n in self.streaks.items() if n > LIVENESS_BLOCKS}
        assert not stuck, (f"block {view.number}: actions keepers want stayed untaken through more than "
                           f"{LIVENESS_BLOCKS} blocks with room: {stuck}")
        self.credit = {}

    def credit_block(self, produced) -> None:
        """Count block k toward the streak of every action wanted at its start, unless the block
        had no room for keepers or the action reverted there for a known stale quote."""
        stale = STALE_QUOTE_REVERTS.get(self.sim.mechanism_name, ())
        excused = set()
        for pending, receipt in produced.entries():
            meta = pending.meta or {}
            if pending.tag == "liquidation" and not receipt.succeeded and \
                    (receipt.revert_reason or "").startswith(stale or ("\0",)):
                excused.add((meta.get("action"), meta.get("owner"), meta.get("ref")))
        self.stale_quote_reverts += len(excused)
        roomy = not self.congested(self.block)
        self.credit = {key: int(roomy and key not in excused) for key in self.streaks}

    # --- after each block ---------------------------------------------------------------
    def after_block(self, produced) -> None:
        self.block += 1
        block = produced.result
        self.check_debt_identity(block)
        self.check_payouts(block)
        self.prefetch()
        self.check_books(self.check_tokens())
        self.credit_block(produced)


def check_run(scenario, mechanism: str, seed: int = 0, backend: str = "eth-tester") -> StressOutcome:
    """Run ``scenario`` with ``mechanism`` and ``seed``, checking the rules after every block and
    the metrics' debt identity at the end (AssertionError or AccountingError when one breaks)."""
    from sandbox.metrics import compute_metrics
    from sandbox.simulation import Simulation

    sim = Simulation(scenario, mechanism, seed, backend)
    try:
        sim.setup()
        checks = RunChecks(sim)
        result = sim.run(on_block=checks.after_block)
        metrics = compute_metrics(result)
    finally:
        sim.close()
    return StressOutcome(mechanism=mechanism, seed=seed, blocks=result.blocks,
                         debt_at_risk_usd=float(metrics["debt_at_risk_usd"]),
                         liquidations=int(metrics["liquidations"]), payouts_checked=checks.payouts.checked,
                         liveness_checks=checks.liveness_checks,
                         stale_quote_reverts=checks.stale_quote_reverts, metrics=metrics)


__all__ = ["LIVENESS_BLOCKS", "RunChecks", "StressOutcome", "build_scenario", "check_run", "stress_scenarios"]
