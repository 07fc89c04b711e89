"""One run: a scenario, one mechanism, one seed, on a fresh chain, block by block.

Randomness comes only from ``numpy.random.SeedSequence(seed)``, split in a fixed order into
the price path, the borrower population, the builder's tie-breaks, the agents' turn order and
one generator per agent. The price path and the population do not depend on the mechanism, so
every mechanism faces the same market for a given seed. A run holds no global state.
"""

from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from sandbox.agents.base import Agent, BlockView
from sandbox.agents.context import AgentContext
from sandbox.chain import Chain, execute_all, open_chain
from sandbox.chain.builder import BackgroundDemand, BlockBuilder, ProducedBlock
from sandbox.chain.mempool import Mempool
from sandbox.market import Market
from sandbox.markets import get_market
from sandbox.mechanisms import LiquidationMechanism, MechanismParams, get_mechanism
from sandbox.recorder import Recorder
from sandbox.scenarios import Scenario, check_mechanisms_serve, reference_prices, to_wad_prices
from sandbox.units import GWEI, WAD

RUN_ROLE_LABELS = ("builder",)  # the block builder: every run has one, whatever the market
WARMUP_LIMIT_BLOCKS = 200
AGENT_STREAM = 4  # keeps agents' seed streams apart from the four spawned above


@dataclass
class RunResult:
    scenario: Scenario
    mechanism: str
    seed: int
    mechanism_params: dict
    tables: dict[str, pd.DataFrame]
    transactions: int
    blocks: int  # executed: the path's, then the settle phase's
    settle_blocks: int = 0
    agents: list[Agent] = field(repr=False, default_factory=list)
    settle_reason: str = ""  # why the settle phase ended (``Simulation.settled``), for the manifest


def check_scenario(scenario: Scenario, mechanism: str) -> MechanismParams:
    """``mechanism``'s parameters for ``scenario`` (defaults plus the scenario's overrides),
    after the mechanism has accepted the scenario; ScenarioError naming the field otherwise."""
    return check_mechanisms_serve(scenario, [mechanism])[mechanism]


def keeper_labels(scenario: Scenario) -> list[tuple[int, int, str]]:
    """(group index, member index, account label) for every keeper in the scenario."""
    out = []
    for g, spec in enumerate(scenario.keepers):
        for j in range(spec.count):
            out.append((g, j, f"keeper-{spec.strategy}-{g}-{j}"))
    return out


def deployment_key(scenario: Scenario) -> Scenario:
    """What a market's deployment may depend on: the scenario without its name, description,
    source and mechanism parameters (a warm chain is reused across runs that differ only there)."""
    return dataclasses.replace(scenario, name="-", description="", source="", mechanisms={})


def account_labels(scenario: Scenario) -> list[str]:
    """Every account a run of ``scenario`` uses, in chain order: the market's roles, the
    builder, its agent kinds' accounts, then the keepers."""
    from sandbox.agents.kinds import AGENT_KINDS

    kind = get_market(scenario.market)
    return [*kind.role_labels, *RUN_ROLE_LABELS,
            *(label for name in kind.agent_kinds for label in AGENT_KINDS.load(name).labels(scenario)),
            *(label for _, _, label in keeper_labels(scenario))]


class Simulation:
    """Sets up one run and advances it block by block."""

    def __init__(self, scenario: Scenario, mechanism: str, seed: int, backend: str = "eth-tester",
                 follow_events: bool = True, chains=None):
        """``follow_events=False`` reads every position and auction through the contracts each
        block instead of following events: slower, and the tests' yardstick for the fast path.
        ``chains`` (e.g. ``sandbox.sweep.warm.WarmChains``) hands out the chain with the market
        deployed, ``acquire(backend, seed, labels, market_params) -> (chain, market)``, and takes
        it back on ``close`` (``release(chain)``); None: a fresh chain, closed with the run."""
        self.follow_events = follow_events
        self.chains = chains
        self.scenario = scenario
        self.mechanism_name = mechanism
        self.seed = seed
        self.backend = backend
        self.market_kind = get_market(scenario.market)
        self.mechanism_cls = get_mechanism(mechanism).variant_for(scenario.market)
        self.mechanism_params = check_scenario(scenario, mechanism)
        seeds = np.random.SeedSequence(seed).spawn(4)
        self.price_rng = np.random.default_rng(seeds[0])
        self.population_rng = np.random.default_rng(seeds[1])
        self.builder_rng = np.random.default_rng(seeds[2])
        self.order_rng = np.random.default_rng(seeds[3])
        self.prices_wad = to_wad_prices(reference_prices(
            scenario.price, scenario.blocks, scenario.block_time_seconds, self.price_rng))
        self.chain: Chain | None = None
        self.market: Market | None = None
        self.mechanism: LiquidationMechanism | None = None
        self.agents: list[Agent] = []
        self.ctx: AgentContext | None = None
        self.transactions = 0

    def _live(self) -> tuple[Chain, Market, LiquidationMechanism, AgentContext]:
        """The run's chain, market, mechanism and agents' context, which ``setup`` creates."""
        if self.chain is None or self.market is None or self.mechanism is None or self.ctx is None:
            raise RuntimeError("the simulation is not set up yet (setup() or run() first)")
        return self.chain, self.market, self.mechanism, self.ctx

    # --- set-up ---------------------------------------------------------------------------------
    def _agent_rng(self, label: str) -> np.random.Generator:
        """A generator per agent from the run seed and the agent's label (independent of order)."""
        return np.random.default_rng(np.random.SeedSequence([self.seed, AGENT_STREAM, zlib.crc32(label.encode())]))

    def setup(self) -> "Simulation":
        """Assemble the run from the registries: the scenario's market (``sandbox.markets``)
        deploys its contracts and names its roles and agent kinds (``sandbox.agents``), the
        mechanism installs on it, the scenario's keepers (``sandbox.keepers``) join."""
        from sandbox.agents.keepers import KEEPERS
        from sandbox.agents.kinds import AGENT_KINDS, RunSetup

        sc = self.scenario
        kind = self.market_kind
        agent_kinds = [AGENT_KINDS.load(name) for name in kind.agent_kinds]
        keepers = keeper_labels(sc)
        if self.chains is None:
            self.chain = chain = open_chain(self.backend, seed=self.seed, accounts=account_labels(sc))
            self.market = market = kind.deploy(chain, sc)
        else:  # a worker's warm chain, reverted to the market just deployed (sandbox.sweep.warm)
            self.chain, self.market = chain, market = self.chains.acquire(
                self.backend, self.seed, account_labels(sc), deployment_key(sc), lambda c: kind.deploy(c, sc))
        self.mechanism = mechanism = self.mechanism_cls.deploy(market, self.mechanism_params)
        run = RunSetup(scenario=sc, chain=chain, market=market, start_price_wad=self.prices_wad[0],
                       rng_for=self._agent_rng, population_rng=self.population_rng)
        agents: list[Agent] = [agent for k in agent_kinds for agent in k.populate(run)]
        for g, _member, label in keepers:
            spec = sc.keepers[g]
            agents.append(KEEPERS.load(spec.strategy).from_spec(chain.account(label), self._agent_rng(label), spec))
        self.agents = agents
        self.owners = owners = kind.owners(agents)
        self.ctx = ctx = AgentContext(chain, market, mechanism, Mempool(chain), owners,
                                      block_time_seconds=sc.block_time_seconds,
                                      coinbase=chain.account("builder").address)
        ctx.agents = agents
        requests = [r for agent in agents for r in agent.setup(ctx)]
        execute_all(chain, requests)
        for agent in agents:
            more = agent.after_setup(ctx)
            if more:
                execute_all(chain, more)
        self._warm_up_base_fee(chain, int(sc.gas.base_fee_gwei * GWEI))
        self.book = kind.follow(market, mechanism, owners) if self.follow_events else None
        self._record_balances("start")
        self.builder = BlockBuilder(sc.builder_policy, self.builder_rng)
        self.recorder = Recorder(
            mechanism=self.mechanism_name, seed=self.seed,
            contract_names=self._contract_roles(),
            strategies={a.label: a.strategy for a in agents},
            liquidation_threshold_bps=sc.lending.liquidation_threshold_bps, rule=kind.risk_rule(sc))
        self.start_timestamp = chain.timestamp
        self.last_active_block = 0
        self.path_end_positions: dict = {}
        self.settle_blocks = 0
        self.settle_reason = ""
        self.unliquidatable: set[str] = set()  # owners (lower case) nobody can act on at the end
        self.last_block_txs = 0
        return self

    def _contract_roles(self) -> dict[str, str]:
        _, market, mechanism, _ = self._live()
        roles = {**self.market_kind.contract_roles(market), mechanism.contract.address: "mechanism"}
        for agent in self.agents:
            contract = getattr(agent, "contract", None)
            if contract is not None:
                roles[contract.address] = f"keeper-contract:{agent.label}"
        return roles

    def _warm_up_base_fee(self, chain: Chain, target_wei: int) -> None:
        """Move the base fee to the scenario's starting level with empty blocks (EIP-1559 steps)."""
        for _ in range(WARMUP_LIMIT_BLOCKS):
            fee = chain.next_base_fee
            if fee < target_wei and fee * 9 // 8 <= target_wei * 17 // 16:
                chain.execute_block([], chain.timestamp + 1, background_gas=chain.gas_limit)
            elif fee > target_wei * 9 // 8:
                chain.execute_block([], chain.timestamp + 1, background_gas=0)
            else:
                return

    def _record_balances(self, when: str) -> None:
        """Every agent's holdings as (USD, WETH) through the market (``holdings``: token balances
        on lending; on the perp market the wallet plus the margin account valued as USD and WETH)."""
        _, market, mechanism, _ = self._live()
        price = self.prices_wad[-1] if when == "end" else self.prices_wad[0]
        contracts = [getattr(a, "contract", None) for a in self.agents]  # keeper contracts
        holders = [a.account.address for a in self.agents] + [c.address for c in contracts if c is not None]
        held = market.holdings(holders)
        for agent in self.agents:
            usd, weth = held[agent.account.address]
            contract = getattr(agent, "contract", None)
            if contract is not None:  # a keeper contract's holdings are the keeper's
                usd += held[contract.address][0]
                weth += held[contract.address][1]
            if when == "end":  # what the mechanism owes it (e.g. a lot it leads at auction)
                claim_usd, claim_weth = mechanism.claims_of(agent.account.address)
                usd += claim_usd
                weth += claim_weth
            if when == "start":
                agent.ledger.start_usd, agent.ledger.start_weth = usd, weth
            else:
                agent.ledger.end_usd, agent.ledger.end_weth = usd, weth
                agent.ledger.end_price_wad = price

    # --- the loop -----------------------------------------------------------------------------
    def step(self, k: int) -> ProducedBlock:
        """Block k (1-based) of the scenario; past the path (the settle phase) the price holds
        at its last value."""
        sc = self.scenario
        chain, _, mechanism, ctx = self._live()
        timestamp = self.start_timestamp + k * sc.block_time_seconds
        price = self.prices_wad[min(k, sc.blocks)]
        view = ctx.begin_block(chain.block_number + 1, timestamp, price, k * sc.block_time_seconds)
        self.recorder.observe_positions(view, k * sc.block_time_seconds)
        order = [self.agents[i] for i in self.order_rng.permutation(len(self.agents))]
        for agent in order:
            agent.reprice_stuck(view, ctx)
        for agent in order:
            agent.step(view, ctx)
        view2 = ctx.with_pending(view)
        for agent in order:
            agent.react(view2, ctx)
        gas, tip_gwei = sc.gas.demand_at((k - 1) * sc.block_time_seconds)
        background = BackgroundDemand(gas_per_block=gas, tip_wei=int(tip_gwei * GWEI))
        produced = self.builder.produce(chain, ctx.mempool, timestamp, background=background,
                                        coinbase=ctx.coinbase)
        mechanism.observe_block(produced.result)
        if self.book is not None:
            self.book.apply_block(produced.result)
        for agent in self.agents:
            agent.on_block(produced, ctx)
        self.transactions += len(produced.result.receipts)
        self.last_block_txs = len(produced.result.receipts)
        self.recorder.record(produced, k * sc.block_time_seconds, price, view.oracle_price_wad,
                             view.amm_reserves, phase="path" if k <= sc.blocks else "settle")
        if self._active(produced):
            self.last_active_block = k
        return produced

    def _active(self, produced: ProducedBlock) -> bool:
        """Did this block liquidate or convert anything (a landed liquidation, or any event of
        the mechanism contract)?"""
        mech = self._live()[2].contract.address
        return any((p.tag == "liquidation" and r.succeeded) or any(log.address == mech for log in r.logs)
                   for p, r in produced.entries())

    def settled(self, k: int) -> bool:
        """Nothing left to do after block k (``settle_reason`` says why). While a liquidation is
        unfinished (an auction running, a band conversion due) the run waits for it, unless
        nothing can happen any more (``quiescent``); then it is over when no opportunity is
        open, or when the open ones have stayed untouched for ``settle_idle_seconds`` (nobody
        will take them: they are stuck)."""
        sc = self.scenario
        mechanism = self._live()[2]
        unfinished = mechanism.unfinished(self.owners, self.prices_wad[-1])
        if unfinished:
            stuck = self.quiescent(k)
            if stuck is None:
                return False
            self.settle_reason = (f"quiescent: {unfinished} unfinished liquidation(s), {len(stuck)} open "
                                  "position(s) at risk that no agent can act on at any later block")
            return True
        if not mechanism.opportunities(self.owners):
            self.settle_reason = "settled: no open opportunities"
            return True
        if (k - self.last_active_block) * sc.block_time_seconds >= sc.settle_idle_seconds:
            self.settle_reason = f"idle: open opportunities untouched for settle_idle_seconds ({sc.settle_idle_seconds} s)"
            return True
        return False

    def _last_block_number(self) -> int:
        """The block at which the settle phase's cap (``settle_max_seconds``) stops the run."""
        sc = self.scenario
        return sc.blocks + sc.settle_max_seconds // sc.block_time_seconds

    def quiescent(self, k: int) -> set[str] | None:
        """After block k of the settle phase: the owners (lower case) of open positions at risk
        when nothing can happen any more before the cap, else None. Nothing can happen when
        block k carried no transaction and none is in flight, the base fee is not falling and
        no gas spike is still to come (gas only gets dearer), no agent is still active by its
        own rule (``Agent.still_active``: a borrower's defence, an oracle push, an arbitrage),
        and no agent would take any of the mechanism's ``prospects`` (its actions as they stand
        at their best before the cap: a Dutch take at its lowest price). A mechanism that
        cannot foresee its prospects never is."""
        sc = self.scenario
        chain, _, mechanism, ctx = self._live()
        if self.last_block_txs or ctx.mempool.pending() or ctx.mempool.bundles():
            return None
        if any(end > k * sc.block_time_seconds for _, end, _ in sc.gas.spikes):
            return None
        if ctx.view is not None and chain.next_base_fee < ctx.view.base_fee:
            return None
        view, foreseen, active, taken = self._outlook(k)
        if active or taken or not foreseen:
            return None
        return self._open_at_risk(view)

    def _outlook(self, k: int) -> tuple[BlockView, bool, bool, set[str]]:
        """What may still happen after block k, with the price held: the next block's view,
        whether the mechanism foresees its prospects (``LiquidationMechanism.prospects``; when
        it cannot, the opportunities open now stand in), whether any agent is still active by
        its own rule, and the owners (lower case) of the prospects some agent would take."""
        sc = self.scenario
        chain, _, mechanism, ctx = self._live()
        bt = sc.block_time_seconds
        until = self.start_timestamp + self._last_block_number() * bt
        prospects = mechanism.prospects(self.owners, self.prices_wad[-1], chain.timestamp, until)
        view = ctx.begin_block(chain.block_number + 1, self.start_timestamp + (k + 1) * bt,
                               self.prices_wad[min(k + 1, sc.blocks)], (k + 1) * bt)
        foreseen = prospects is not None
        if prospects is None:
            prospects = list(view.opportunities)
        active = any(agent.still_active(view, ctx) for agent in self.agents)
        taken = {o.owner.lower() for agent in self.agents for o in agent.would_take(view, ctx, prospects)}
        return view, foreseen, active, taken

    def _open_at_risk(self, view) -> set[str]:
        """Owners (lower case) of exposed positions (debt, or a perp size) at risk at the price in
        force or the reference price (the market's rule, ``MarketKind.risk_rule``)."""
        rule = self.recorder.rule
        return {p.owner.lower() for p in view.positions if rule.exposed(p)
                and (rule.at_risk_in_force(p, view.market) or rule.at_risk_at(p, view.reference_price_wad))}

    def run(self, progress: Callable[[int], None] | None = None,
            on_block: Callable[[ProducedBlock], None] | None = None) -> RunResult:
        """The price path (``progress`` advances once per block of it), then the settle phase:
        blocks at the last price until ``settled`` or ``settle_max_seconds`` have passed."""
        if self.chain is None:
            self.setup()
        sc = self.scenario
        for k in range(1, sc.blocks + 1):
            produced = self.step(k)
            if on_block is not None:
                on_block(produced)
            if progress is not None:
                progress(1)
        self.path_end_positions = {p.owner: p for p in self._live()[1].positions(self.owners)}
        k = sc.blocks
        last = self._last_block_number()
        while k < last and not self.settled(k):
            k += 1
            produced = self.step(k)
            if on_block is not None:
                on_block(produced)
        if not self.settle_reason:
            self.settle_reason = f"cap: settle_max_seconds ({sc.settle_max_seconds} s) reached"
        self.settle_blocks = k - sc.blocks
        view, _, _, taken = self._outlook(k)
        self.unliquidatable = self._open_at_risk(view) - taken
        self._record_balances("end")
        tables = self.recorder.tables()
        tables["positions"] = self.position_table()
        tables["agents"] = self.agent_table()
        return RunResult(scenario=sc, mechanism=self.mechanism_name, seed=self.seed,
                         mechanism_params=self.mechanism_params.as_dict(), tables=tables,
                         transactions=self.transactions, blocks=k, settle_blocks=self.settle_blocks,
                         agents=self.agents, settle_reason=self.settle_reason)

    def close(self) -> None:
        """Release the chain (a node backend's process; or back to ``chains``); the run's tables
        and results stay."""
        if self.chains is not None:
            if self.chain is not None:
                self.chains.release(self.chain)
            return
        close = getattr(self.chain, "close", None)
        if close is not None:
            close()

    # --- end-of-run tables --------------------------------------------------------------------------
    def position_table(self) -> pd.DataFrame:
        """One row per position: mechanism, seed, position, then the market's own columns
        (``MarketKind.position_row``)."""
        market = self._live()[1]
        holders = [a for a in self.agents if a.holds_position]
        final = {p.owner: p for p in market.positions([b.account.address for b in holders])}
        self.recorder.observe_end(final.values(), market.price(), self.prices_wad[-1], state=market.state())
        rows = []
        for b in holders:
            owner = b.account.address
            rows.append({
                "mechanism": self.mechanism_name, "seed": self.seed, "position": owner,
                **self.market_kind.position_row(b, final[owner], self.path_end_positions.get(owner),
                                                self.recorder.first_at_risk.get(owner),
                                                self.recorder.first_safe.get(owner)),
                # at risk at the end, and no agent would act on it at any later block (``_outlook``)
                "unliquidatable": owner.lower() in self.unliquidatable,
            })
        return pd.DataFrame(rows)

    def agent_table(self) -> pd.DataFrame:
        rows = []
        for a in self.agents:
            led = a.ledger
            rows.append({
                "mechanism": self.mechanism_name, "seed": self.seed, "agent": a.label, "kind": a.kind,
                "strategy": a.strategy, "txs_sent": led.txs_sent, "txs_reverted": led.txs_reverted,
                "gas_spent_usd": led.gas_spent_usd / WAD, "priority_fees_usd": led.priority_fees_usd / WAD,
                "builder_payments_usd": led.builder_payments_usd / WAD,
                "token_pnl_usd": led.token_pnl_usd / WAD, "pnl_usd": led.pnl_usd / WAD,
            })
        return pd.DataFrame(rows)


def run_once(scenario: Scenario, mechanism: str, seed: int, backend: str = "eth-tester",
             progress: Callable[[int], None] | None = None) -> RunResult:
    sim = Simulation(scenario, mechanism, seed, backend)
    try:
        return sim.run(progress=progress)
    finally:
        sim.close()


__all__ = ["RunResult", "Simulation", "account_labels", "check_scenario", "keeper_labels", "run_once"]
