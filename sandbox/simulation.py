"""One run: a scenario, one mechanism, one seed, on a fresh chain, block by block.

Randomness comes only from ``numpy.random.SeedSequence(seed)``, split in a fixed order into
the price path, the borrower population, the builder's tie-breaks, the agents' turn order and
one generator per agent. The price path and the population do not depend on the mechanism, so
every mechanism faces the same market for a given seed. A run holds no global state.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from sandbox.agents.base import Agent
from sandbox.agents.context import AgentContext
from sandbox.chain import Chain, execute_all, open_chain
from sandbox.chain.builder import BackgroundDemand, BlockBuilder, ProducedBlock
from sandbox.chain.mempool import Mempool
from sandbox.market import Market, deploy_market
from sandbox.market.book import PositionBook
from sandbox.mechanisms import LiquidationMechanism, MechanismParams, get_mechanism
from sandbox.recorder import Recorder
from sandbox.scenarios import Scenario, check_mechanisms_serve, reference_prices, to_wad_prices
from sandbox.units import GWEI, WAD, to_wad

ROLE_LABELS = ["deployer", "oracle", "treasury", "builder", "arbitrageur"]
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


def check_scenario(scenario: Scenario, mechanism: str) -> MechanismParams:
    """``mechanism``'s parameters for ``scenario`` (defaults plus the scenario's overrides),
    after the mechanism has accepted the scenario; ScenarioError naming the field otherwise."""
    return check_mechanisms_serve(scenario, [mechanism])[mechanism]


def keeper_labels(scenario: Scenario) -> list[tuple[str, int, str]]:
    """(group index, member index, account label) for every keeper in the scenario."""
    out = []
    for g, spec in enumerate(scenario.keepers):
        for j in range(spec.count):
            out.append((g, j, f"keeper-{spec.strategy}-{g}-{j}"))
    return out


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
        self.mechanism_cls = get_mechanism(mechanism)
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

    # --- set-up ---------------------------------------------------------------------------------
    def _agent_rng(self, label: str) -> np.random.Generator:
        """A generator per agent from the run seed and the agent's label (independent of order)."""
        return np.random.default_rng(np.random.SeedSequence([self.seed, AGENT_STREAM, zlib.crc32(label.encode())]))

    def setup(self) -> "Simulation":
        from sandbox.agents.arbitrageur import Arbitrageur
        from sandbox.agents.borrowers import Borrower, draw_population
        from sandbox.agents.keepers import KEEPERS
        from sandbox.agents.oracle import OracleUpdater

        sc = self.scenario
        borrower_labels = [f"borrower-{i}" for i in range(sc.borrowers.count)]
        keepers = keeper_labels(sc)
        labels = ROLE_LABELS + borrower_labels + [label for _, _, label in keepers]
        if self.chains is None:
            self.chain = chain = open_chain(self.backend, seed=self.seed, accounts=labels)
            self.market = market = deploy_market(chain, sc.market_params())
        else:
            self.chain, self.market = chain, market = self.chains.acquire(self.backend, self.seed, labels,
                                                                          sc.market_params())
        self.mechanism = self.mechanism_cls.deploy(market, self.mechanism_params)

        population = draw_population(sc.borrowers, self.population_rng, self.prices_wad[0],
                                     sc.lending.max_ltv_bps, to_wad(sc.lending.min_borrow_usd))
        self._lend_enough(sum(debt for _, debt in population))
        agents: list[Agent] = [
            OracleUpdater(market.oracle_updater, self._agent_rng("oracle"), sc.oracle),
        ]
        if sc.arbitrageur.enabled:
            agents.append(Arbitrageur(chain.account("arbitrageur"), self._agent_rng("arbitrageur"),
                                      sc.arbitrageur))
        for label, (collateral, debt) in zip(borrower_labels, population):
            agents.append(Borrower(chain.account(label), self._agent_rng(label), collateral, debt,
                                   sc.borrowers))
        for g, j, label in keepers:
            spec = sc.keepers[g]
            agents.append(KEEPERS.load(spec.strategy).from_spec(chain.account(label), self._agent_rng(label), spec))
        self.agents = agents
        owners = [chain.account(label).address for label in borrower_labels]
        self.ctx = ctx = AgentContext(chain, market, self.mechanism, Mempool(chain), owners,
                                      block_time_seconds=sc.block_time_seconds,
                                      coinbase=chain.account("builder").address)
        ctx.agents = agents
        self.owners = owners
        requests = [r for agent in agents for r in agent.setup(ctx)]
        execute_all(chain, requests)
        for agent in agents:
            hook = getattr(agent, "after_setup", None)
            if hook is not None:
                more = hook(ctx)
                if more:
                    execute_all(chain, more)
        self._warm_up_base_fee(int(sc.gas.base_fee_gwei * GWEI))
        self.book = None
        if self.follow_events:
            self.mechanism.follow(owners)
            self.book = PositionBook(market, owners,
                                     watched={market.lending.address, self.mechanism.contract.address},
                                     neutral_events=self.mechanism.position_neutral_events,
                                     held_source=self.mechanism)
            market.attach_book(self.book)
        self._record_balances("start")
        self.builder = BlockBuilder(sc.builder_policy, self.builder_rng)
        self.recorder = Recorder(
            mechanism=self.mechanism_name, seed=self.seed,
            contract_names=self._contract_roles(),
            strategies={a.label: a.strategy for a in agents},
            liquidation_threshold_bps=sc.lending.liquidation_threshold_bps)
        self.start_timestamp = chain.timestamp
        self.last_active_block = 0
        self.path_end_positions: dict = {}
        self.settle_blocks = 0
        return self

    def _lend_enough(self, debt_wei: int) -> None:
        """Supply what the population borrows when the market's default liquidity falls short
        (many, large or expensive positions); other scenarios are left exactly as they were."""
        market = self.market
        short = debt_wei - market.lending.call("liquidity")
        if short > 0:
            execute_all(self.chain, [market.usd.tx(market.deployer, "mint", market.deployer.address, short),
                                     market.lending.tx(market.deployer, "supplyLiquidity", short)])

    def _contract_roles(self) -> dict[str, str]:
        m = self.market
        roles = {m.lending.address: "market", m.oracle.address: "oracle", m.amm.address: "amm",
                 m.flash.address: "flash-lender", self.mechanism.contract.address: "mechanism"}
        for agent in self.agents:
            contract = getattr(agent, "contract", None)
            if contract is not None:
                roles[contract.address] = f"keeper-contract:{agent.label}"
        return roles

    def _warm_up_base_fee(self, target_wei: int) -> None:
        """Move the base fee to the scenario's starting level with empty blocks (EIP-1559 steps)."""
        chain = self.chain
        for _ in range(WARMUP_LIMIT_BLOCKS):
            fee = chain.next_base_fee
            if fee < target_wei and fee * 9 // 8 <= target_wei * 17 // 16:
                chain.execute_block([], chain.timestamp + 1, background_gas=chain.gas_limit)
            elif fee > target_wei * 9 // 8:
                chain.execute_block([], chain.timestamp + 1, background_gas=0)
            else:
                return

    def _record_balances(self, when: str) -> None:
        market = self.market
        price = self.prices_wad[-1] if when == "end" else self.prices_wad[0]
        prefetch = getattr(self.chain, "prefetch_calls", None)
        if prefetch is not None:  # a thousand balance reads in one round trip
            holders = [a.account.address for a in self.agents] + [
                a.contract.address for a in self.agents if getattr(a, "contract", None) is not None]
            prefetch([(token.address, token.encode("balanceOf", h)) for h in holders
                      for token in (market.usd, market.weth)])
        for agent in self.agents:
            usd = market.usd.call("balanceOf", agent.account.address)
            weth = market.weth.call("balanceOf", agent.account.address)
            contract = getattr(agent, "contract", None)
            if contract is not None:  # a keeper contract's holdings are the keeper's
                usd += market.usd.call("balanceOf", contract.address)
                weth += market.weth.call("balanceOf", contract.address)
            if when == "end":  # what the mechanism owes it (e.g. a lot it leads at auction)
                claim_usd, claim_weth = self.mechanism.claims_of(agent.account.address)
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
        sc, chain, ctx = self.scenario, self.chain, self.ctx
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
        self.mechanism.observe_block(produced.result)
        if self.book is not None:
            self.book.apply_block(produced.result)
        for agent in self.agents:
            agent.on_block(produced, ctx)
        self.transactions += len(produced.result.receipts)
        self.recorder.record(produced, k * sc.block_time_seconds, price, view.oracle_price_wad,
                             view.amm_reserves, phase="path" if k <= sc.blocks else "settle")
        if self._active(produced):
            self.last_active_block = k
        return produced

    def _active(self, produced: ProducedBlock) -> bool:
        """Did this block liquidate or convert anything (a landed liquidation, or any event of
        the mechanism contract)?"""
        mech = self.mechanism.contract.address
        return any((p.tag == "liquidation" and r.succeeded) or any(log.address == mech for log in r.logs)
                   for p, r in produced.entries())

    def settled(self, k: int) -> bool:
        """Nothing left to do after block k. While a liquidation is unfinished (an auction
        running, a band conversion due) the run waits for it; then it is over when no
        opportunity is open, or when the open ones have stayed untouched for
        ``settle_idle_seconds`` (nobody will take them: they are stuck)."""
        sc = self.scenario
        if self.mechanism.unfinished(self.owners, self.prices_wad[-1]):
            return False
        if not self.mechanism.opportunities(self.owners):
            return True
        return (k - self.last_active_block) * sc.block_time_seconds >= sc.settle_idle_seconds

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
        self.path_end_positions = {p.owner: p for p in self.market.positions(self.owners)}
        k = sc.blocks
        last = sc.blocks + sc.settle_max_seconds // sc.block_time_seconds
        while k < last and not self.settled(k):
            k += 1
            produced = self.step(k)
            if on_block is not None:
                on_block(produced)
        self.settle_blocks = k - sc.blocks
        self._record_balances("end")
        tables = self.recorder.tables()
        tables["positions"] = self.position_table()
        tables["agents"] = self.agent_table()
        return RunResult(scenario=sc, mechanism=self.mechanism_name, seed=self.seed,
                         mechanism_params=self.mechanism_params.as_dict(), tables=tables,
                         transactions=self.transactions, blocks=k, settle_blocks=self.settle_blocks,
                         agents=self.agents)

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
        from sandbox.agents.borrowers import Borrower

        borrowers = [a for a in self.agents if isinstance(a, Borrower)]
        final = {p.owner: p for p in self.market.positions([b.account.address for b in borrowers])}
        self.recorder.observe_end(final.values(), self.market.price(), self.prices_wad[-1])
        rows = []
        for b in borrowers:
            p = final[b.account.address]
            rows.append({
                "mechanism": self.mechanism_name, "seed": self.seed, "position": b.account.address,
                "borrower": b.label,
                "initial_collateral_weth": b.collateral_wei / WAD, "initial_debt_usd": b.debt_wei / WAD,
                "final_collateral_weth": (p.collateral + p.held_collateral) / WAD,
                "final_collateral_weth_wad": str(p.collateral + p.held_collateral),
                "final_held_usd": p.held_debt_asset / WAD,
                "final_held_usd_wad": str(p.held_debt_asset),
                "final_debt_usd": p.debt / WAD, "final_debt_usd_wad": str(p.debt),
                "final_locked": p.locked,
                "final_health_factor": min(p.health_factor_wad / WAD, 1e9),
                **self._path_end_columns(b.account.address),
                **self._at_risk_columns(b.account.address),
            })
        return pd.DataFrame(rows)

    def _path_end_columns(self, owner: str) -> dict:
        """The position when the price path ended (before the settle phase)."""
        p = self.path_end_positions.get(owner)
        if p is None:
            return {"path_end_collateral_weth": float("nan"), "path_end_collateral_weth_wad": "",
                    "path_end_held_usd": float("nan"), "path_end_held_usd_wad": "",
                    "path_end_debt_usd": float("nan"), "path_end_debt_usd_wad": ""}
        return {"path_end_collateral_weth": (p.collateral + p.held_collateral) / WAD,
                "path_end_collateral_weth_wad": str(p.collateral + p.held_collateral),
                "path_end_held_usd": p.held_debt_asset / WAD, "path_end_held_usd_wad": str(p.held_debt_asset),
                "path_end_debt_usd": p.debt / WAD, "path_end_debt_usd_wad": str(p.debt)}

    def _at_risk_columns(self, owner: str) -> dict:
        """When the position first became at risk (``sandbox.risk``) and when it was covered."""
        first = self.recorder.first_at_risk.get(owner)
        if first is None:
            return {"at_risk": False, "at_risk_block": -1, "at_risk_seconds": float("nan"),
                    "at_risk_debt_usd": 0.0, "at_risk_debt_usd_wad": "0",
                    "at_risk_collateral_weth": 0.0, "at_risk_collateral_weth_wad": "0",
                    "at_risk_held_usd": 0.0, "at_risk_held_usd_wad": "0",
                    "at_risk_oracle_price_usd": float("nan"), "at_risk_reference_price_usd": float("nan"),
                    "at_risk_detected_by": "", "safe_block": -1, "safe_seconds": float("nan")}
        safe = self.recorder.first_safe.get(owner, {"safe_block": -1, "safe_seconds": float("nan")})
        return {"at_risk": True, "at_risk_block": first["at_risk_block"],
                "at_risk_detected_by": first["at_risk_detected_by"],
                "at_risk_seconds": float(first["at_risk_seconds"]),
                "at_risk_debt_usd": first["at_risk_debt_usd_wad"] / WAD,
                "at_risk_debt_usd_wad": str(first["at_risk_debt_usd_wad"]),
                "at_risk_collateral_weth": first["at_risk_collateral_weth_wad"] / WAD,
                "at_risk_collateral_weth_wad": str(first["at_risk_collateral_weth_wad"]),
                "at_risk_held_usd": first["at_risk_held_usd_wad"] / WAD,
                "at_risk_held_usd_wad": str(first["at_risk_held_usd_wad"]),
                "at_risk_oracle_price_usd": first["at_risk_oracle_price_wad"] / WAD,
                "at_risk_reference_price_usd": first["at_risk_reference_price_wad"] / WAD,
                "safe_block": int(safe["safe_block"]), "safe_seconds": float(safe["safe_seconds"])}

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


__all__ = ["RunResult", "Simulation", "check_scenario", "keeper_labels", "run_once"]
