"""What every keeper shares: parameters, capital, profit after gas, targets, inventory.

A keeper is an ``Agent`` (kind ``"keeper"``) that turns the mechanism's ``Opportunity`` list
into liquidation transactions. Strategies (naive, pga, frontrunner, backrunner, flash,
opportunist) differ only in *when* they send, *how much tip* they pay and how they bid; this
module holds the rest:

* **Profit** of an opportunity in the market's numeraire (USD, WAD) at a tip: what the call
  delivers (its ``receives`` legs), valued by the market's ``Valuer`` at the view's venue state
  (the lending market: USD at face value, WETH sold on the AMM), − what it pays in − the gas at
  the next base fee plus the tip (``BlockView.gas_cost_usd_wad``, the call's gas limit: an upper
  bound). Every keeper skips an action whose profit after gas is below ``min_profit_usd``, so a
  gas spike stalls liquidations (as on 12 March 2020). An action that settles a claim of the
  keeper (it is the opportunity's ``beneficiary``: the English ``deal`` of an auction it won
  delivers ``settles``) is worth that claim, so winners settle their auctions (as Maker's flip
  keepers did) once it pays the gas; such a call is ``uncontested`` (the lot goes to the winner
  whoever calls it), so every strategy sends it at its gas policy's tip and never re-bids it
  (a gas race would bid the lot's value away). The exception is an *unpaid* action that starts
  or settles an auction (no legs for its caller: English ``bite``/``tick``, someone else's ``deal``,
  Compound ``absorb``): a keeper sends it only while its gas costs at most
  ``unpaid_action_max_gas_usd`` (0 disables them), nobody else's is pending, and never one that
  settles an auction another keeper won (its winner will). Standing bids (``standing_bid``:
  English ``tend``/``dent``) are not races (an outbid bid is refunded): they go at the policy's
  tip, jump straight to ``auction_margin_bps`` below the lot's value (the mechanism's
  ``raise_bid``), and wait while another sender's bid on the same auction is pending.
* **Capital**: capital keepers are funded with ``capital_usd`` at set-up and size each action to
  the USD they hold minus what their pending transactions may spend. Balances are re-read
  (two ``balanceOf`` calls) in ``on_block`` only after a block holding one of their own
  transactions or a token transfer to or from them (a refund when outbid, a ``deal``).
* **Targets**: a keeper never sends a second transaction for the same (action, owner, ref)
  while one of its own is pending (public or in a bundle).
* **Inventory**: capital keepers keep the WETH they receive and sell at most
  ``sell_per_block_weth`` per block on the AMM (``swapExactIn`` with a slippage floor, tag
  ``"inventory-sale"``), never below ``max_sale_discount_bps`` under the reference price and
  only when the sale's gas is small against its proceeds.
* **Private auctions**: ``private_bid`` simulates the lot's oracle update (one simulation shared
  by every bidder: ``ctx.what_if_opportunities``), prices the ``private`` opportunities it
  creates and bids ``bid_share_bps`` of the profit above ``min_profit_usd``.
* **Searching the mempool**: public calls of the mechanism's ``liquidation_functions`` are what
  front-runners recognise and copy.

Hooks beyond ``Agent``: ``from_spec`` (build from a scenario ``KeeperSpec``) and
``after_setup(ctx)``, which the simulation should call once after the set-up blocks have run
(the flash keeper checks there that its contract was deployed; the default does nothing).
``on_block`` records every receipt *sent from the keeper's address* in its ledger, including
transactions another agent placed in a bundle for it (the winner's calls in a private auction).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Sequence

import numpy as np

from sandbox.agents.base import Agent, BlockView, GasPolicy, OrderFlowLot, PrivateBid
from sandbox.chain import Account, ChainError, TxRequest
from sandbox.chain.abi import checksum
from sandbox.chain.mempool import PendingTx
from sandbox.legs import legs
from sandbox.mechanisms import Call, Opportunity
from sandbox.units import BPS, GWEI, WAD, to_wad

if TYPE_CHECKING:
    from sandbox.agents.context import AgentContext
    from sandbox.chain.builder import ProducedBlock
    from sandbox.scenarios.schema import KeeperSpec

SALE_GAS = 150_000  # swapExactIn: measured ~75k
PAYMENT_GAS = 21_000  # a plain ether transfer to the block builder (a bundle's bid)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


# ------------------------------------------------------------------------------ parameters

@dataclass(frozen=True)
class KeeperParams:
    """Parameters every keeper has; strategies subclass it. Units are in the field names."""

    min_profit_usd: float = 10.0  # smallest expected profit after gas worth a transaction
    sell_per_block_weth: float = 50.0  # capital keepers: most WETH sold on the AMM per block
    sale_slippage_bps: int = 100  # swap floor below the quoted output
    max_sale_discount_bps: int = 500  # never sell below reference × (1 − this)
    max_sale_gas_bps: int = 100  # sell only when gas is at most this share of the proceeds
    bid_share_bps: int = 8000  # private auctions: share of the expected profit bid
    unpaid_action_max_gas_usd: float = 25.0  # most gas spent on an unpaid bite/absorb/deal/tick
    auction_margin_bps: int = 500  # English auctions: jump-bid to leave this margin below the AMM value
    # Bundles: share of the expected profit paid to the block builder. Searchers competing for
    # one back-run bid most of it away (public liquidations paid 70-99% of the incentive to
    # block producers before order-flow auctions; Flashbots Protect refunds 90%): 90% to start,
    # +5 points after each lost auction, up to 99%.
    bundle_bid_share_bps: int = 9000
    bundle_bid_raise_bps: int = 500
    bundle_bid_max_share_bps: int = 9900

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        if self.min_profit_usd < 0:
            raise ValueError(f"min_profit_usd must be >= 0, got {self.min_profit_usd}")
        if self.unpaid_action_max_gas_usd < 0:
            raise ValueError(f"unpaid_action_max_gas_usd must be >= 0, got {self.unpaid_action_max_gas_usd}")
        if self.sell_per_block_weth < 0:
            raise ValueError(f"sell_per_block_weth must be >= 0, got {self.sell_per_block_weth}")
        if self.bundle_bid_share_bps > self.bundle_bid_max_share_bps:
            raise ValueError(f"bundle_bid_share_bps ({self.bundle_bid_share_bps}) must be <= "
                             f"bundle_bid_max_share_bps ({self.bundle_bid_max_share_bps})")
        for name in ("sale_slippage_bps", "max_sale_discount_bps", "max_sale_gas_bps", "bid_share_bps",
                     "auction_margin_bps", "bundle_bid_share_bps", "bundle_bid_raise_bps",
                     "bundle_bid_max_share_bps"):
            value = getattr(self, name)
            if not 0 <= value <= BPS:
                raise ValueError(f"{name} must be in [0, 10000], got {value}")

    def replace(self, **overrides: Any) -> "KeeperParams":
        """A copy with ``overrides`` applied; unknown names raise ValueError naming them."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ValueError(f"unknown parameter(s) for {type(self).__name__}: {', '.join(unknown)}"
                             f" (known: {', '.join(sorted(names))})")
        return dataclasses.replace(self, **overrides)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def min_profit_wad(self) -> int:
        return to_wad(self.min_profit_usd)


# ------------------------------------------------------------------------------ plans, targets

@dataclass(frozen=True)
class Plan:
    """One action a keeper has decided on: the call to send, its tip and expected profit."""

    opportunity: Opportunity
    call: Call
    gross_usd: int  # proceeds − payments, before gas (USD WAD)
    capital_usd: int  # USD the call may pull from the keeper
    tip_wei: int = 0
    profit_usd: int = 0  # after gas at ``tip_wei``

    @property
    def key(self) -> tuple:
        return target_key(self.opportunity)


@dataclass
class Target:
    """A pending transaction of this keeper for one (action, owner, ref)."""

    key: tuple
    nonce: int
    hashes: tuple[bytes, ...]
    private: bool
    plan: Plan | None
    capital_usd: int
    tip_wei: int
    first_tip_wei: int
    block: int
    rebids: int = 0


def target_key(opp: Opportunity) -> tuple:
    return (opp.action, opp.owner, opp.ref)


def call_target(to: str | None, data: bytes) -> tuple:
    """Identity of a call's target: contract, function, first argument (owner or auction id)."""
    return ((to or "").lower(), bytes(data[:4]), bytes(data[4:36]))


# ------------------------------------------------------------------------------ the keeper

class Keeper(Agent):
    """Base of all keeper strategies; see the module docstring."""

    kind: ClassVar[str] = "keeper"
    name: ClassVar[str] = "keeper"
    Params: ClassVar[type[KeeperParams]] = KeeperParams
    uses_capital: ClassVar[bool] = True  # False for capital-free (flash) keepers
    description: ClassVar[str] = ""

    params: KeeperParams

    def __init__(self, account: Account, rng: np.random.Generator, gas: GasPolicy | None = None,
                 capital_usd: float = 1_000_000.0, params: KeeperParams | None = None):
        super().__init__(account, rng, gas)
        if capital_usd < 0:
            raise ValueError(f"capital_usd must be >= 0, got {capital_usd}")
        params = self.Params() if params is None else params
        if not isinstance(params, self.Params):
            raise TypeError(f"{type(self).__name__} needs {self.Params.__name__}, got {type(params).__name__}")
        self.capital_usd = float(capital_usd)
        self.params = params
        self.targets: dict[tuple, Target] = {}
        self.usd_balance = to_wad(capital_usd) if self.uses_capital else 0
        self.weth_balance = 0
        self._balances_read = False
        self._selectors: dict[str, dict[bytes, Any]] = {}
        self.bundle_share_bps = params.bundle_bid_share_bps  # raised after each lost auction
        self.bundles_won = 0
        self.bundles_lost = 0

    @classmethod
    def from_spec(cls, account: Account, rng: np.random.Generator, spec: "KeeperSpec") -> "Keeper":
        """A keeper from a scenario's ``KeeperSpec`` (``spec.params`` override ``Params`` fields;
        unknown names raise ValueError naming them)."""
        params = cls.Params().replace(**dict(spec.params))
        gas = GasPolicy(tip_gwei=spec.tip_gwei, max_fee_cap_gwei=spec.max_fee_cap_gwei)
        return cls(account, rng, gas=gas, capital_usd=spec.capital_usd, params=params)

    @property
    def strategy(self) -> str:
        return self.name

    @property
    def address(self) -> str:
        return self.account.address

    # --- set-up ------------------------------------------------------------------------
    def setup(self, ctx: "AgentContext") -> list:
        """Mint ``capital_usd`` of USD (by the deployer) and approve the mechanism and the market's
        venue (``keeper_setup_requests`` of the market's handle: on lending the AMM)."""
        return ctx.market.keeper_setup_requests(self.account, to_wad(self.capital_usd), [ctx.mechanism.spender])

    def after_setup(self, ctx: "AgentContext") -> None:
        """Called once by the simulation after the set-up blocks ran (default: nothing)."""

    # --- after each block ----------------------------------------------------------------
    def on_block(self, produced: "ProducedBlock", ctx: "AgentContext") -> None:
        """Record own receipts; re-read balances when a block sent tokens to or from us."""
        mine = False
        me = self.address
        for receipt in produced.receipts:
            if receipt.sender == me:
                self.ledger.record_receipt(receipt, ctx.reference_price_wad,
                                           produced.builder_payment_wei(receipt))
                mine = True
            elif not mine:
                mine = any(log.name == "Transfer" and me in (log.args.get("to"), log.args.get("from"))
                           for log in receipt.logs)
        if mine or not self._balances_read:
            self.refresh_balances(ctx)
        self.learn_from_bundle_auction(produced)
        self.prune_targets(ctx)

    def learn_from_bundle_auction(self, produced: "ProducedBlock") -> None:
        """Count won and lost bundle auctions; after a loss, bid a larger share next time."""
        me = self.address
        if any(p.sender == me for p in produced.txs if p.private and p.tag == "liquidation"):
            self.bundles_won += 1
        if any(b.agent == self.label for b in produced.lost_bundles):
            self.bundles_lost += 1
            self.bundle_share_bps = min(self.params.bundle_bid_max_share_bps,
                                        self.bundle_share_bps + self.params.bundle_bid_raise_bps)

    def refresh_balances(self, ctx: "AgentContext") -> None:
        self.usd_balance, self.weth_balance = ctx.market.funds_of(self.address)
        self._balances_read = True

    # --- targets -----------------------------------------------------------------------
    def prune_targets(self, ctx: "AgentContext") -> None:
        """Forget targets whose transaction landed or was dropped."""
        for key, t in list(self.targets.items()):
            if t.private:
                alive = any(h in ctx.mempool for h in t.hashes)
            else:
                pending = ctx.mempool.get(self.address, t.nonce)
                alive = pending is not None and pending.agent == self.label
                if pending is not None and alive:
                    t.hashes = (pending.hash,)
            if not alive:
                del self.targets[key]

    def is_targeted(self, key: tuple) -> bool:
        return key in self.targets

    @property
    def committed_usd(self) -> int:
        return sum(t.capital_usd for t in self.targets.values())

    def available_usd(self) -> int:
        """USD the keeper can still commit (balance minus what pending transactions may pull)."""
        if not self.uses_capital:
            return 0
        return max(0, self.usd_balance - self.committed_usd)

    def _remember(self, plan: Plan | None, key: tuple, pending: Sequence[PendingTx], view: BlockView,
                  tip_wei: int, capital: int, private: bool) -> None:
        self.targets[key] = Target(key=key, nonce=pending[0].nonce, hashes=tuple(p.hash for p in pending),
                                   private=private, plan=plan, capital_usd=capital, tip_wei=tip_wei,
                                   first_tip_wei=tip_wei, block=view.number)

    # --- gas ---------------------------------------------------------------------------
    @property
    def policy_tip_wei(self) -> int:
        return int(self.gas.tip_gwei * GWEI)

    def fees(self, base_fee: int, tip_wei: int) -> tuple[int, int, int]:
        """(max fee, priority fee, effective tip at ``base_fee``) as ``ctx.sign`` will set them."""
        max_fee, tip = self.gas.fees(base_fee, tip_wei)
        return max_fee, tip, max(0, min(tip, max_fee - base_fee))

    def gas_cost_usd(self, view: BlockView, gas: int, tip_wei: int) -> int:
        """USD (WAD) the keeper pays for ``gas`` at this block's base fee and ``tip_wei`` (as
        signed with its gas policy: a max-fee cap lowers the effective tip)."""
        _, _, effective = self.fees(view.base_fee, tip_wei)
        return view.gas_cost_usd_wad(gas, effective)

    def executable(self, view: BlockView, tip_wei: int) -> bool:
        max_fee, _, _ = self.fees(view.base_fee, tip_wei)
        return max_fee >= view.base_fee

    # --- profit ------------------------------------------------------------------------
    def capital_needed(self, ctx: "AgentContext", call: Call) -> int:
        """Numeraire the call pulls from its sender, net of what it pays out in it."""
        usd = ctx.market.numeraire
        return max(0, call.paid(usd) - call.received(usd))

    def extra_cost_usd(self, ctx: "AgentContext", opp: Opportunity, call: Call) -> int:
        """Strategy-specific costs besides gas (the flash keeper's loan fee)."""
        return 0

    def claim(self, opp: Opportunity) -> tuple:
        """The legs ``opp`` delivers to this keeper as its beneficiary (an auction it won)."""
        who = opp.beneficiary
        return opp.settles if who is not None and who.lower() == self.address.lower() else ()

    def valuer(self, ctx: "AgentContext", view: BlockView):
        """The market's valuation of proceeds at the view's venue state."""
        return ctx.market.valuer(view.amm_reserves)

    def gross_usd(self, ctx: "AgentContext", opp: Opportunity, call: Call, valuer) -> int:
        """Proceeds minus payments of ``call`` before gas (numeraire WAD; negative when it loses).
        Payments are the numeraire paid, or, where the market's valuer prices what acquiring
        other legs costs (``cost``: a perp short taken at auction is bought back on the venue),
        that cost."""
        received = valuer.value((*call.receives, *self.claim(opp)))
        cost = getattr(valuer, "cost", None)
        paid = cost(call.pays) if cost is not None else call.paid(ctx.market.numeraire)
        return received - paid - self.extra_cost_usd(ctx, opp, call)

    def expected_profit_usd(self, view: BlockView, ctx: "AgentContext", opp: Opportunity,
                            tip_wei: int, call: Call | None = None) -> int:
        """Profit (USD WAD) of taking ``opp`` with ``call`` (default: encoded for this keeper,
        unsized) at ``tip_wei``, gas included."""
        call = call or self.encode(ctx, opp)
        return self.gross_usd(ctx, opp, call, self.valuer(ctx, view)) - self.gas_cost_usd(view, call.gas, tip_wei)

    # --- encoding ----------------------------------------------------------------------
    def encode(self, ctx: "AgentContext", opp: Opportunity, max_pay: int | None = None) -> Call:
        """The call this keeper sends for ``opp`` (capital keepers: the mechanism's own call)."""
        return ctx.mechanism.encode(opp, self.address, max_pay)

    def size(self, ctx: "AgentContext", opp: Opportunity, budget: int) -> Call | None:
        """The call for ``opp`` sized to ``budget`` USD of capital; None when it does not fit.
        A standing bid is raised straight to this keeper's price (``raise_bid``)."""
        try:
            if not self.uses_capital or opp.paid(ctx.market.numeraire) <= budget:
                call = self.encode(ctx, opp)
            elif budget <= 0:
                return None
            else:
                call = self.encode(ctx, opp, budget)
        except ValueError:
            return None
        if opp.standing_bid and ctx.view is not None:
            call = ctx.mechanism.raise_bid(opp, call, self.valuer(ctx, ctx.view),
                                           budget if self.uses_capital else None, self.params.auction_margin_bps)
        if self.uses_capital and self.capital_needed(ctx, call) > budget:
            return None  # all-or-nothing actions (soft) larger than the capital
        return call

    def is_unpaid(self, opp: Opportunity, call: Call) -> bool:
        """True for actions that move nothing to or from their sender (bite, absorb, tick,
        settling someone else's auction)."""
        return not call.pays and not call.receives and not self.claim(opp)

    def own_bid(self, opp: Opportunity) -> bool:
        """True when ``opp`` is a standing bid on an auction this keeper already leads: it
        would only outbid itself. Settling that auction is not a bid."""
        who = opp.beneficiary
        return opp.standing_bid and who is not None and who.lower() == self.address.lower()

    def unpaid_allowed(self, opp: Opportunity) -> bool:
        """Unpaid actions are sent only to start or settle auctions the keeper can profit from:
        never one settling an auction someone else won."""
        if self.params.unpaid_action_max_gas_usd <= 0:
            return False
        who = opp.beneficiary
        return who is None or who.lower() == self.address.lower()

    def plan(self, view: BlockView, ctx: "AgentContext", opps: Iterable[Opportunity],
             tip_for=None, budget: int | None = None, allow_private: bool = False,
             skip_targeted: bool = True, allow_unpaid: bool = True) -> list[Plan]:
        """Profitable actions among ``opps``, most profitable first, sized to the capital.

        ``tip_for(call, gross)`` gives the tip of each (default: the gas policy's); standing bids
        and ``uncontested`` calls (a ``deal`` of one's own lot) go at the gas policy's tip. The AMM
        reserves are moved by each planned sale, so later plans see the price they will get.
        Unpaid actions (``is_unpaid``: starting or settling an auction) come last, at the gas
        policy's tip, only when their gas costs at most ``unpaid_action_max_gas_usd``.
        """
        tip_for = tip_for or (lambda call, gross: self.policy_tip_wei)
        budget = self.available_usd() if budget is None else budget
        valuer = self.valuer(ctx, view)
        min_profit = self.params.min_profit_wad
        # Rank by profit at the full budget, then commit greedily (re-sizing what no longer fits).
        ranked, unpaid = [], []
        for opp in opps:
            if (opp.private and not allow_private) or \
                    (skip_targeted and self.is_targeted(target_key(opp))) or self.own_bid(opp):
                continue
            call = self.size(ctx, opp, budget)
            if call is None:
                continue
            if self.is_unpaid(opp, call):
                if allow_unpaid and self.unpaid_allowed(opp):
                    unpaid.append((opp, call))
                continue
            gross = self.gross_usd(ctx, opp, call, valuer)
            if gross > min_profit:
                ranked.append((gross, opp, call))
        ranked.sort(key=lambda item: -item[0])
        plans = []
        for _, opp, call in ranked:
            if self.uses_capital and self.capital_needed(ctx, call) > budget:
                call = self.size(ctx, opp, budget)
                if call is None:
                    continue
            gross = self.gross_usd(ctx, opp, call, valuer)
            if opp.standing_bid and self.someone_else_on(ctx, opp, call):
                continue
            if opp.standing_bid or opp.uncontested:
                tip = self.policy_tip_wei  # no race to win: the strategy's tip would be wasted
            else:
                tip = tip_for(call, gross)
            if tip is None or not self.executable(view, tip):
                continue
            profit = gross - self.gas_cost_usd(view, call.gas, tip)
            if profit < min_profit:
                continue  # would lose money (or make too little) after gas: abstain
            capital = self.capital_needed(ctx, call) if self.uses_capital else 0
            budget -= capital
            valuer.take(call.receives)  # later plans see the price this sale leaves
            plans.append(Plan(opportunity=opp, call=call, gross_usd=gross, capital_usd=capital,
                              tip_wei=tip, profit_usd=profit))
        tip = self.policy_tip_wei
        for opp, call in unpaid:
            if self.someone_else_on(ctx, opp, call):
                continue  # an unpaid action already pending: a second one could only revert
            cost = self.gas_cost_usd(view, call.gas, tip)
            if self.executable(view, tip) and cost <= to_wad(self.params.unpaid_action_max_gas_usd):
                plans.append(Plan(opportunity=opp, call=call, gross_usd=0, capital_usd=0, tip_wei=tip,
                                  profit_usd=-cost))
        return plans

    def would_take(self, view: BlockView, ctx: "AgentContext",
                   prospects: Sequence[Opportunity]) -> list[Opportunity]:
        """The ``prospects`` this keeper's rule plans at its policy's tip with the capital it
        has (``plan``: profit after gas at least ``min_profit_usd``, unpaid actions within their
        gas limit), counting those it already has a transaction for."""
        return [p.opportunity for p in self.plan(view, ctx, prospects, skip_targeted=False)]

    # --- sending -----------------------------------------------------------------------
    def meta(self, ctx: "AgentContext", plan: Plan) -> dict:
        opp = plan.opportunity
        return {"action": opp.action, "owner": opp.owner, "ref": opp.ref, "mechanism": ctx.mechanism.name,
                "strategy": self.name, "expected_profit_usd": plan.profit_usd}

    def request(self, ctx: "AgentContext", plan: Plan):
        return plan.call.request(self.account)

    def send(self, view: BlockView, ctx: "AgentContext", plan: Plan) -> PendingTx:
        """Submit ``plan`` publicly (tag "liquidation") and remember its target."""
        pending = ctx.submit(self, self.request(ctx, plan), tag="liquidation", tip_wei=plan.tip_wei,
                             meta=self.meta(ctx, plan))
        self._remember(plan, plan.key, [pending], view, plan.tip_wei, plan.capital_usd, private=False)
        return pending

    def bundle_bid_wei(self, view: BlockView, plans: Sequence[Plan], tip_wei: int) -> int:
        """The builder payment for a bundle of ``plans``: ``bundle_share_bps`` of their profit
        after gas (the payment's own gas included), never leaving less than ``min_profit_usd``;
        in wei at the reference price. 0 when nothing is left to bid."""
        profit = sum(p.profit_usd for p in plans) - self.gas_cost_usd(view, PAYMENT_GAS, tip_wei)
        bid_usd = min(profit * self.bundle_share_bps // BPS, profit - self.params.min_profit_wad)
        if bid_usd <= 0 or view.reference_price_wad <= 0:
            return 0
        return bid_usd * WAD // view.reference_price_wad

    def send_bundle(self, view: BlockView, ctx: "AgentContext", plans: Sequence[Plan],
                    after: bytes | None = None) -> None:
        """Submit ``plans`` as one private bundle (optionally back-running ``after``), paying
        the builder ``bundle_bid_wei`` in a last transaction to its coinbase. The bundle names
        the positions it liquidates, so it competes with every other bundle on them."""
        if not plans:
            return
        tip = max(p.tip_wei for p in plans)
        requests = [self.request(ctx, p) for p in plans]
        labels = [(self.label, "liquidation", self.meta(ctx, p)) for p in plans]
        bid = self.bundle_bid_wei(view, plans, tip)
        if bid > 0 and ctx.coinbase is not None:
            requests.append(TxRequest(sender=self.account, to=ctx.coinbase, value=bid, gas=PAYMENT_GAS))
            labels.append((self.label, "liquidation", {"action": "builder-payment", "strategy": self.name,
                                                        "bid_wei": bid, "share_bps": self.bundle_share_bps}))
        signed = ctx.sign_sequence(self, requests, tip_wei=tip)
        bundle = ctx.submit_bundle(self, signed, tag="liquidation", after=after, labels=labels,
                                   targets=[("position", p.opportunity.owner.lower()) for p in plans])
        for plan, pending in zip(plans, bundle.txs, strict=False):  # the builder payment, last, has no plan
            self._remember(plan, plan.key, [pending], view, tip, plan.capital_usd, private=True)
            self.targets[plan.key].hashes = bundle.hashes

    def liquidate_public(self, view: BlockView, ctx: "AgentContext", opps: Iterable[Opportunity],
                         tip_for=None) -> list[PendingTx]:
        return [self.send(view, ctx, plan) for plan in self.plan(view, ctx, opps, tip_for)]

    # --- re-bidding (gas auctions) ---------------------------------------------------------
    def rebid(self, view: BlockView, ctx: "AgentContext", target: Target, competitor_tip: int,
              factor_bps: int, max_tip_wei: int | None = None) -> PendingTx | None:
        """Replace the pending transaction of ``target`` with tip = max(own, competitor) ×
        ``factor_bps`` (at least the mempool's 12.5% bump, max fee raised accordingly), if it
        stays profitable, within ``max_tip_wei`` and the gas policy's fee cap."""
        opp = target.plan.opportunity if target.plan is not None else None
        if target.private or opp is None or opp.standing_bid or opp.uncontested:
            return None  # a refunded bid, or a call nobody can take from us: nothing to outbid
        pending = ctx.mempool.get(self.address, target.nonce)
        if pending is None:
            return None
        old_tip = pending.tx.max_priority_fee_per_gas
        tip = max(ceil_div(max(old_tip, competitor_tip) * factor_bps, BPS), competitor_tip + 1)
        if max_tip_wei is not None and tip > max_tip_wei:
            return None
        fees = self.gas.replacement_fees(view.base_fee, pending.tx.max_fee_per_gas, old_tip, tip)
        if fees is None or fees[1] < tip:
            return None  # the fee cap does not allow outbidding
        new = self._replace_target(view, ctx, target, pending, *fees)
        if new is not None:
            target.rebids += 1
        return new

    # --- stuck transactions --------------------------------------------------------------------
    reprices_stuck = True

    def reprice(self, view: BlockView, ctx: "AgentContext", pending: PendingTx, max_fee_wei: int,
                tip_wei: int) -> PendingTx | None:
        """A stuck liquidation is re-sent at higher fees while it stays worth sending; other
        own transactions (inventory sales) are not time-critical and wait."""
        target = next((t for t in self.targets.values() if not t.private and t.nonce == pending.nonce), None)
        if target is None or target.plan is None:
            return None
        return self._replace_target(view, ctx, target, pending, max_fee_wei, tip_wei)

    def worth_sending(self, view: BlockView, plan: Plan, effective_tip_wei: int) -> bool:
        """A paid action still clears ``min_profit_usd`` after gas; an unpaid one (gross 0)
        costs at most ``unpaid_action_max_gas_usd``."""
        cost = view.gas_cost_usd_wad(plan.call.gas, effective_tip_wei)
        if plan.gross_usd > 0:
            return plan.gross_usd - cost >= self.params.min_profit_wad
        return cost <= to_wad(self.params.unpaid_action_max_gas_usd)

    def _replace_target(self, view: BlockView, ctx: "AgentContext", target: Target, pending: PendingTx,
                        max_fee_wei: int, tip_wei: int) -> PendingTx | None:
        effective = max(0, min(tip_wei, max_fee_wei - view.base_fee))
        if target.plan is None or not self.worth_sending(view, target.plan, effective):
            return None  # paying more would lose money: let it go
        new = ctx.replace(self, pending, tip_wei, max_fee_wei)
        target.hashes = (new.hash,)
        target.tip_wei = tip_wei
        return new

    # --- reading the mempool -----------------------------------------------------------------
    def liquidation_call(self, ctx: "AgentContext", pending: PendingTx) -> tuple[str, tuple] | None:
        """(function, arguments) when ``pending`` is a public call of a liquidation action on
        the mechanism contract, decoded with its ABI; None otherwise."""
        contract = ctx.mechanism.contract
        if pending.private or (pending.tx.to or "").lower() != contract.address.lower():
            return None
        table = self._selectors.get(contract.address)
        if table is None:
            names = ctx.mechanism.liquidation_functions
            table = {f.selector: f for f in contract.abi.functions.values() if f.name in names}
            self._selectors[contract.address] = table
        fn = table.get(bytes(pending.tx.data[:4]))
        if fn is None:
            if pending.tag == "liquidation" and pending.meta.get("action"):
                return pending.meta["action"], ()
            return None
        try:
            args = fn.decode_input(pending.tx.data)
        except Exception:
            return None
        args = tuple(checksum(a) if t == "address" else a for t, a in zip(fn.input_types, args, strict=True))
        return fn.name, args

    def matching_opportunity(self, ctx: "AgentContext", opps: Iterable[Opportunity],
                             pending: PendingTx) -> Opportunity | None:
        """The opportunity ``pending`` (a decoded liquidation) acts on: same function and
        first argument (owner or auction id) as this keeper's own call for it."""
        decoded = self.liquidation_call(ctx, pending)
        if decoded is None:
            return None
        fn, args = decoded
        first = args[0] if args else pending.meta.get("owner")
        for opp in opps:
            if isinstance(first, str) and opp.owner.lower() != first.lower():
                continue
            if isinstance(first, int) and opp.ref != first:
                continue
            try:
                mine = ctx.mechanism.encode(opp, self.address)
            except ValueError:
                continue
            if bytes(mine.data[:4]) == bytes(pending.tx.data[:4]):
                return opp
        m = pending.meta  # e.g. absorb(caller, owners): the first argument is not the target
        if m and m.get("action"):
            for opp in opps:
                if (opp.action, opp.owner, opp.ref) == (m.get("action"), m.get("owner"), m.get("ref")):
                    return opp
        return None

    def someone_else_on(self, ctx: "AgentContext", opp: Opportunity, call: Call) -> bool:
        """True when another sender's public pending transaction already acts on ``opp``
        (same call target, or the same (action, owner, ref) in its liquidation label)."""
        mine = call_target(call.to, call.data)
        key = target_key(opp)
        for p in ctx.mempool.pending():
            if p.sender == self.address:
                continue
            if call_target(p.tx.to, p.tx.data) == mine:
                return True
            m = p.meta
            if m and (m.get("action"), m.get("owner"), m.get("ref")) == key:
                return True
        return False

    def competing(self, ctx: "AgentContext", target: Target) -> list[PendingTx]:
        """Other senders' public pending transactions on the same target as ``target``."""
        if target.plan is None:
            return []
        mine = call_target(target.plan.call.to, target.plan.call.data)
        return [p for p in ctx.mempool.pending()
                if p.sender != self.address and call_target(p.tx.to, p.tx.data) == mine
                and self.liquidation_call(ctx, p) is not None]

    def outbid_competitors(self, view: BlockView, ctx: "AgentContext", factor_bps: int,
                           max_tip_wei: int | None = None) -> list[PendingTx]:
        """Re-bid every own public target that a competitor's tip matches or beats."""
        out = []
        for target in list(self.targets.values()):
            if target.private:
                continue
            rivals = self.competing(ctx, target)
            if not rivals:
                continue
            best = max(p.effective_tip(view.base_fee) for p in rivals)
            own = ctx.mempool.get(self.address, target.nonce)
            if own is None or own.effective_tip(view.base_fee) > best:
                continue
            new = self.rebid(view, ctx, target, best, factor_bps, max_tip_wei)
            if new is not None:
                out.append(new)
        return out

    # --- inventory -----------------------------------------------------------------------
    def sell_inventory(self, view: BlockView, ctx: "AgentContext") -> PendingTx | None:
        """Sell up to ``sell_per_block_weth`` of held WETH on the AMM (tag "inventory-sale")."""
        sale = getattr(ctx.market, "inventory_sale", None)
        if sale is not None:  # the market closes what a keeper holds its own way (a perp position)
            return sale(self, view, ctx)
        key = ("inventory-sale", None, None)
        if not self.uses_capital or self.weth_balance <= 0 or self.is_targeted(key):
            return None
        amount = min(self.weth_balance, to_wad(self.params.sell_per_block_weth))
        if amount <= 0:
            return None
        p = self.params
        quote = self.valuer(ctx, view).value(legs(**{ctx.market.collateral_asset: amount}))
        fair = amount * view.reference_price_wad // WAD
        if quote == 0 or quote * BPS < fair * (BPS - p.max_sale_discount_bps):
            return None  # the AMM pays too little against the reference: hold
        tip = self.policy_tip_wei
        if not self.executable(view, tip) or \
                self.gas_cost_usd(view, SALE_GAS, tip) * BPS > quote * p.max_sale_gas_bps:
            return None  # gas too dear for this sale
        floor = quote * (BPS - p.sale_slippage_bps) // BPS
        market = ctx.market
        request = market.amm.tx(self.account, "swapExactIn", market.weth.address, amount, floor,
                                self.address, gas=SALE_GAS)
        pending = ctx.submit(self, request, tag="inventory-sale", tip_wei=tip,
                             meta={"weth_in": amount, "min_usd_out": floor, "strategy": self.name})
        self._remember(None, key, [pending], view, tip, 0, private=False)
        return pending

    # --- private auctions ----------------------------------------------------------------
    def private_bid(self, view: BlockView, ctx: "AgentContext", lot: OrderFlowLot) -> PrivateBid | None:
        """Simulate ``lot.txs`` (the update, or nothing when the round comes into force by
        time); bid ``bid_share_bps`` of the profit (after gas, above ``min_profit_usd``) of the
        "liquidate-with-bid" opportunities it opens, sized to the capital left after paying
        the bid."""
        try:
            opps = ctx.what_if_opportunities(list(lot.txs))
        except ChainError:
            return None
        opps = [o for o in opps if o.private]
        if not opps:
            return None
        budget = self.available_usd()
        bid = 0
        for _ in range(3):  # the bid is paid from the capital too: shrink until both fit
            plans = self.plan(view, ctx, opps, budget=budget - bid, allow_private=True, skip_targeted=False)
            surplus = sum(p.profit_usd for p in plans) - self.params.min_profit_wad
            if not plans or surplus <= 0:
                return None
            bid = surplus * self.params.bid_share_bps // BPS
            if sum(p.capital_usd for p in plans) + bid <= budget or not self.uses_capital:
                return PrivateBid(bidder=self, bid_usd_wad=bid, calls=tuple(p.call for p in plans))
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label}, capital_usd={self.capital_usd:g})"
