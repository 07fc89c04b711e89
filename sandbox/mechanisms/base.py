"""What a liquidation mechanism is, to the rest of the sandbox.

A mechanism is one Solidity contract (plus helpers) installed as the lending market's only
liquidator, and one Python class that knows how to deploy it, how to find the unhealthy
positions it can act on (through the lens and batched views, never one call per position),
and how to encode the transactions keepers send. Everything a keeper needs to decide is in an
``Opportunity``: what it pays, what it receives, and the call that does it. The interface talks
about "an unhealthy position", not about loans, so a perpetuals market can reuse it.

Third-party mechanisms register under the entry-point group ``sandbox.mechanisms``; the
registry key is the entry-point name, exactly as for the built-ins.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    ClassVar,
    Generic,
    Iterator,
    Mapping,
    Protocol,
    Self,
    Sequence,
    TypeVar,
    cast,
    runtime_checkable,
)

from typing_extensions import TypeVar as DefaultingTypeVar

from sandbox.chain import Account, Address, Contract, TxRequest, deploy, execute_all
from sandbox.legs import Leg, Valuer, amount_of

from .accounting import Conversion, Key, LedgerEvent, Taken

if TYPE_CHECKING:
    from sandbox.contracts import Artifact
    from sandbox.market import Market
    from sandbox.scenarios import Scenario


@dataclass(frozen=True)
class MechanismParams:
    """Base for parameter dataclasses: frozen, units in field names, validated on construction.

    Subclasses add fields with production defaults and override ``validate``.
    """

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:  # pragma: no cover - default accepts everything
        return None

    def replace(self, **overrides: Any) -> "MechanismParams":
        """A copy with ``overrides`` applied; unknown names raise ValueError naming them."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ValueError(f"unknown parameter(s) for {type(self).__name__}: {', '.join(unknown)}")
        return dataclasses.replace(self, **overrides)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def contract_args(self) -> tuple:
        """The contract's constructor arguments after the market's address, for the default
        ``LiquidationMechanism.constructor_args`` (a mechanism that overrides it need not define this)."""
        raise NotImplementedError(f"{type(self).__name__} defines no contract_args()")


P = TypeVar("P", bound=MechanismParams)
# the market handle the mechanism installs on (the lending market's ``Market`` unless a
# market-specific base says otherwise, as the perp variants' does)
M = DefaultingTypeVar("M", bound="MechanismHost", default="Market")


class MechanismHost(Protocol):
    """What a mechanism needs of the market it installs on: the chain, the account that deploys
    and installs it, and the contract it is installed on as the one liquidator."""

    @property
    def chain(self) -> Any: ...

    @property
    def deployer(self) -> Account: ...

    @property
    def liquidated_contract(self) -> Contract: ...


@dataclass(frozen=True)
class Opportunity:
    """One action a keeper can take now on one unhealthy position (or its auction).

    Amounts are WAD integers, as legs per asset: ``pays`` is what the caller pays at most for the
    whole action, ``receives`` what it receives for it, rewards included (Maker's tip + chip).
    How the action competes is declared, never inferred from its name: ``private`` actions are
    sold in an order-flow auction (only its winner may send them); a ``standing_bid`` is a bid in
    an auction that stands until outbid and is refunded then (no gas race, nothing to copy);
    ``beneficiary`` is who the auction's lot goes to if it settled now (its current leader), and
    ``settles`` the claim this action delivers to that beneficiary (an English ``deal``);
    ``uncontested`` says no rival can take what the call gives (the lot goes to its winner
    whoever calls ``deal``), so it goes at the sender's base tip, never through a gas auction.
    """

    mechanism: str
    action: str  # e.g. "liquidate", "bark", "take", "redo", "hard-liquidate"
    owner: Address  # the position's owner
    pays: tuple[Leg, ...] = ()
    receives: tuple[Leg, ...] = ()
    ref: int | None = None  # auction id or similar handle
    health_factor_wad: int | None = None
    private: bool = False
    standing_bid: bool = False
    beneficiary: Address | None = None
    settles: tuple[Leg, ...] = ()
    uncontested: bool = False
    extra: dict = field(default_factory=dict, compare=False)

    def paid(self, asset: str) -> int:
        return amount_of(self.pays, asset)

    def received(self, asset: str) -> int:
        return amount_of(self.receives, asset)

    @property
    def needs_capital(self) -> bool:
        return bool(self.pays)


@dataclass(frozen=True)
class Call:
    """A contract call to send as a transaction: where, what, and the legs it moves for its sender
    (``pays`` pulled from it, ``receives`` delivered to it, sized as encoded)."""

    to: Address
    data: bytes
    gas: int
    action: str
    owner: Address
    pays: tuple[Leg, ...] = ()
    receives: tuple[Leg, ...] = ()

    def paid(self, asset: str) -> int:
        return amount_of(self.pays, asset)

    def received(self, asset: str) -> int:
        return amount_of(self.receives, asset)

    def request(self, sender: Account, **fields: Any) -> TxRequest:
        return TxRequest(sender=sender, to=self.to, data=self.data, gas=fields.pop("gas", self.gas), **fields)


@dataclass(frozen=True)
class AuctionState:
    """An order-flow auction's state for the oracle round in force (``winner`` None before a grant)."""

    round_id: int
    window_start: int
    window_end: int  # first second at which the round's liquidations are open to everyone
    winner: Address | None
    bid: int
    paid: bool

    def exclusive(self, timestamp: int) -> bool:
        return timestamp < self.window_end


@runtime_checkable
class OrderFlowAuction(Protocol):
    """What a mechanism that sells liquidation rights off the public mempool offers the oracle
    updater (``LiquidationMechanism.order_flow``)."""

    auctioneer: Account

    def run_auction(self, bids: Mapping[Address, int], rng: Any) -> tuple[Address, int] | None:
        """(winner, price) of the sealed bids, or None without bids."""

    def grant_call(self, round_id: int, winner: Address, bid: int) -> Call:
        """The auctioneer's call recording the winner of ``round_id``."""

    def auction_state_at(self, timestamp: int | None) -> AuctionState:
        """The auction of the round in force at ``timestamp`` (None: the latest block)."""


class LiquidationMechanism(ABC, Generic[P, M]):
    """One liquidation mechanism deployed on one market (one instance per run, no globals).

    Generic over the market handle ``M`` it installs on, and over its parameter class ``P``: ``Params`` is that class at run time (a ClassVar
    cannot name a type variable, so the two are tied by ``checked_params``).
    """

    name: ClassVar[str]
    Params: ClassVar[type[MechanismParams]]
    # The contract installed as the market's liquidator: a packaged artifact's name, or an
    # Artifact a third-party package ships (sandbox.contracts.artifact_from_file).
    contract_name: ClassVar["str | Artifact"]
    description: ClassVar[str] = ""
    # Events of the mechanism contract that name no position and change none (fees, grants):
    # a PositionBook need not re-read positions after them (see sandbox.market.book).
    position_neutral_events: ClassVar[frozenset[str]] = frozenset()
    # Functions of the contract that are liquidation actions: what searchers watching the
    # public mempool recognise and may copy (front-running). Required.
    liquidation_functions: ClassVar[frozenset[str]]
    # Events that record internal bookkeeping rather than liquidation actions (hidden from
    # the live log of ``liqsandbox run``).
    bookkeeping_events: ClassVar[frozenset[str]] = frozenset()
    # Whether the mechanism quotes trades to arbitrageurs (``arbitrage_call``), as soft
    # liquidation's bands do; arbitrageurs then fund and approve it at set-up.
    offers_arbitrage: ClassVar[bool] = False
    # Place in the default comparison (``liqsandbox compare`` without --mechanism), lowest
    # first; None: compared only when asked for. Not inherited: a subclass (a plug-in built on
    # a built-in) joins the default comparison only by setting its own.
    default_rank: ClassVar[int | None] = None

    #: the markets (``sandbox.markets``) this mechanism runs on
    markets: ClassVar[tuple[str, ...]] = ("lending",)
    #: the classes that implement this mechanism on other markets, by market name, as
    #: "module:Class" (imported on first use): the same mechanism, its own contract, parameters
    #: and accounting rules on that market (``variant_for``); each such market is also listed in
    #: ``markets``. A plug-in declares its own the same way.
    variants: ClassVar[Mapping[str, str]] = {}
    #: markets this mechanism cannot serve, with the reason (``liqsandbox list mechanisms`` says so)
    unsupported_markets: ClassVar[Mapping[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Variants are not inherited: a subclass (a plug-in built on a built-in) runs where its
        parent runs itself, not on the markets its parent serves through a variant, unless it
        declares its own ``variants`` (and ``markets``)."""
        super().__init_subclass__(**kwargs)
        inherited = cls.variants
        if "variants" not in vars(cls):
            cls.variants = {}
        if "markets" not in vars(cls):
            cls.markets = tuple(m for m in cls.markets if m not in inherited)

    @classmethod
    def variant_for(cls, market: str) -> "type[LiquidationMechanism[Any, Any]]":
        """The class that runs this mechanism on ``market``: a declared variant (``variants``),
        else this class itself when it runs there; ValueError naming the markets otherwise."""
        target = cls.variants.get(market)
        if target is not None:
            import importlib

            module, _, attr = target.partition(":")
            variant = getattr(importlib.import_module(module), attr)
            if not (isinstance(variant, type) and issubclass(variant, LiquidationMechanism)):
                raise TypeError(f"{cls.__name__}.variants[{market!r}] = {target!r} is not a LiquidationMechanism")
            missing = variant.missing_rules()
            if missing:
                raise TypeError(f"{target} (the {market} variant of {cls.name}) lacks required {', '.join(missing)}")
            return variant
        if market in cls.markets:
            return cls
        why = cls.unsupported_markets.get(market)
        raise ValueError(f"{cls.name} does not run on the {market!r} market (it runs on: {', '.join(cls.markets)})"
                         + (f": {why}" if why else ""))

    @classmethod
    def own_default_rank(cls) -> int | None:
        """``default_rank`` as set by this class itself (never a parent's)."""
        return vars(cls).get("default_rank")
    # Class attributes and accounting rules every mechanism must define: a plug-in lacking one
    # is refused when it is loaded from the registry, with a message naming it.
    REQUIRED: ClassVar[tuple[str, ...]] = ("name", "Params", "contract_name", "liquidation_functions",
                                           "collateral_taken", "protocol_revenue")

    @classmethod
    def missing_rules(cls) -> list[str]:
        """The required attributes and rules this mechanism does not define."""
        return [attr for attr in cls.REQUIRED
                if not hasattr(cls, attr) or getattr(getattr(cls, attr), "__isabstractmethod__", False)]

    # --- accounting rules: what the contract's events mean for the metrics ---------------------
    # Columns of the events table for the contract's events: event -> (debt field, collateral
    # field, USD field) of its arguments (None: not applicable).
    event_amounts: ClassVar[Mapping[str, tuple[str | None, str | None, str | None]]] = {}
    # Actions of third parties' transactions that trade the collateral the mechanism holds
    # (``arbitrage_call``'s actions): counted with the liquidating transactions.
    conversion_actions: ClassVar[frozenset[str]] = frozenset()
    # Whether a liquidation takes all a position has (over-liquidation is then measured against
    # what it took, not against the collateral before it).
    liquidation_takes_all: ClassVar[bool] = False

    @classmethod
    @abstractmethod
    def collateral_taken(cls, events: Sequence[LedgerEvent]) -> list[tuple[LedgerEvent, Taken]]:
        """For one position's events since it became at risk (the market's and this contract's,
        in chain order): each event that took value from the position's owner, with what it took.
        Value taken minus debt repaid by liquidation is the borrower's loss."""

    @classmethod
    @abstractmethod
    def protocol_revenue(cls, events: Sequence[LedgerEvent], oracle_price: Callable[[LedgerEvent], int],
                         final_price_wad: int) -> dict[str, int]:
        """Protocol revenue by component (USD WAD; negative for incentives the protocol paid)
        over every event of this contract in the run; ``oracle_price(e)`` is the price in force
        at event ``e``, ``final_price_wad`` the last oracle price."""

    @classmethod
    def event_amount_overrides(cls, events: Sequence[LedgerEvent]) -> dict[Key, tuple[int | None, ...]]:
        """Events-table amounts (debt, collateral, USD; WAD, None: keep) that need an event's
        neighbours, keyed by event (e.g. what one auction take bought). None by default."""
        return {}

    @classmethod
    def conversion(cls, event: LedgerEvent) -> Conversion | None:
        """The trade when ``event`` (of this contract) converts collateral it holds for positions
        with a third party (soft liquidation's band exchanges); None otherwise (default)."""
        return None

    @classmethod
    def accounting_details(cls, events: Sequence[LedgerEvent]) -> dict[str, int]:
        """Further figures of this mechanism for ``metric_details`` (USD WAD), e.g. an auction
        operator's share. None by default."""
        return {}

    def __init__(self, market: M, params: P, contract: Contract):
        self.market = market
        self.params: P = params
        self.contract = contract

    # --- set-up --------------------------------------------------------------------------
    @classmethod
    def default_params(cls) -> P:
        return cls.checked_params(cls.Params())

    @classmethod
    def deploy(cls, market: M, params: P | None = None) -> Self:
        """Deploy the contract, install it as the market's liquidator, tell the market its dust
        (``dust_requests``), run the mechanism's own set-up transactions (``setup_requests``), and
        return the instance."""
        params = cls.checked_params(params)
        (contract,) = deploy(market.chain, market.deployer,
                             [(cls.contract_name, cls.constructor_args(market, params))])
        requests = [market.liquidated_contract.tx(market.deployer, "installMechanism", contract.address),
                    *cls.dust_requests(market, params)]
        execute_all(market.chain, requests + cls.setup_requests(market, params, contract))
        return cls(market, params, contract)

    @classmethod
    def check_scenario(cls, scenario: "Scenario", params: P) -> None:
        """Raise ``ScenarioError`` (naming the scenario field first) if this mechanism cannot serve
        ``scenario`` with ``params``, e.g. loans it cannot hold; run before any run starts, so a
        comparison is refused up front instead of failing in set-up. Accepts everything by default."""
        return None

    @classmethod
    def checked_params(cls, params: MechanismParams | None) -> P:
        params = params if params is not None else cls.default_params()
        if not isinstance(params, cls.Params):
            raise TypeError(f"{cls.__name__} needs {cls.Params.__name__}, got {type(params).__name__}")
        return cast(P, params)  # an instance of Params, P's class at run time (checked just above)

    @classmethod
    def constructor_args(cls, market: M, params: P) -> tuple:
        """The contract's constructor arguments: the market, then the parameters' own."""
        return (market.liquidated_contract.address, *params.contract_args())

    @classmethod
    def setup_requests(cls, market: M, params: P, contract: Contract) -> list[TxRequest]:
        """Transactions after installation (funding a reserve, pre-touching storage); none by default."""
        return []

    @property
    def spender(self) -> Address:
        """Address keepers approve for USD before acting (the mechanism contract)."""
        return self.contract.address

    # --- discovery -----------------------------------------------------------------------
    @abstractmethod
    def opportunities(self, owners: Sequence[Address]) -> list[Opportunity]:
        """Actions available now on the listed positions, read in batched calls."""

    # --- actions -------------------------------------------------------------------------
    @abstractmethod
    def encode(self, opportunity: Opportunity, caller: Address,
               max_pay: int | None = None) -> Call:
        """The call that takes ``opportunity`` for ``caller``, paying at most ``max_pay`` of the
        market's numeraire (None: the whole action); ValueError when no smaller call exists.

        The call pulls its ``pays`` legs from ``msg.sender`` (approved to ``spender``) and
        delivers its ``receives`` legs to ``msg.sender``, so a keeper contract can wrap it in a
        flash loan.
        """

    # --- following the chain (optional: mechanisms whose state is costly to read) ----------
    # A mirror has load(owners), apply(block), in_sync(), state() and restore(state); a
    # mechanism that keeps one sets it in ``follow`` and reads from it while it is in sync.
    _mirror: Any = None

    def follow(self, owners: Sequence[Address]) -> None:
        """Start mirroring this mechanism's state from its events (one full read now). By default
        nothing: the mechanism reads its state from the chain each time."""
        return None

    def observe_block(self, block) -> None:
        """Apply the events of ``block`` (the chain's new head) to the mirror."""
        if self._mirror is not None:
            self._mirror.apply(block)

    def follow_state(self) -> Any:
        return self._mirror.state() if self._mirror is not None else None

    @contextmanager
    def unfollowed(self) -> Iterator[None]:
        """Read through the contracts, not the event mirror, inside the block (the yardstick
        the mirror is checked against)."""
        mirror, self._mirror = self._mirror, None
        try:
            yield
        finally:
            self._mirror = mirror

    def restore_follow_state(self, state: Any) -> None:
        """Undo ``observe_block`` calls made since ``follow_state()`` (after a what-if block)."""
        if self._mirror is not None and state is not None:
            self._mirror.restore(state)

    def held_collateral_of(self, owners: Sequence[Address]) -> list[tuple[int, int]] | None:
        """(WETH, USD) the mechanism holds for each owner, from the mirror when it is in sync
        with the chain's head; None when there is no mirror (read it through the lens)."""
        return None

    def claims_of(self, address: Address) -> tuple[int, int]:
        """(USD, WETH) that ``address`` is owed by the mechanism right now but has not received:
        e.g. the lot of an English auction it leads. Ledgers count these at the end of a run,
        so money bid into an unfinished auction is not booked as lost. None by default."""
        return 0, 0

    def unfinished(self, owners: Sequence[Address], reference_price_wad: int) -> int:
        """Liquidations this mechanism has started and not finished (running auctions, band
        conversions due at ``reference_price_wad``): a run's settle phase waits for none. 0 by
        default (a mechanism that settles in one transaction)."""
        return 0

    def prospects(self, owners: Sequence[Address], reference_price_wad: int, now: int,
                  until: int) -> list[Opportunity] | None:
        """For settling: every action that may open on the listed positions from ``now`` to
        ``until`` (timestamps) if nobody acts, the price held at ``reference_price_wad`` and the
        oracle at it, each as it stands at its best for its caller in that window (a Dutch take
        at the lowest price before its auction needs a redo, an English deal once its deadline
        has passed). The run's settle phase ends when no agent would take any of them. None:
        the mechanism cannot tell (its state moves with time in ways it does not foresee), and
        the settle phase waits for its unfinished liquidations as before. Default: None."""
        return None

    # --- hooks for agents (optional) ---------------------------------------------------------
    def raise_bid(self, opportunity: Opportunity, call: Call, valuer: Valuer, budget: int | None,
                  margin_bps: int) -> Call:
        """For a ``standing_bid``: the call bidding straight to what the keeper values the lot at
        (``valuer``) less ``margin_bps``, within ``budget`` of the numeraire (None: unlimited), as
        Maker's auction keepers bid their model price; ``call`` (the minimum improvement) when
        that is not better. Default: ``call``."""
        return call

    def arbitrage_call(self, reference_price_wad: int, max_usd: int, caller: Address) -> Call | None:
        """A trade the mechanism offers arbitrageurs toward ``reference_price_wad`` (soft
        liquidation's bands), with at most ``max_usd`` of input; None when none pays (default)."""
        return None

    def order_flow(self) -> OrderFlowAuction | None:
        """The order-flow auction when liquidation rights are sold off the public mempool."""
        return None

    @property
    def is_private(self) -> bool:
        """True when liquidation rights are sold off the public mempool."""
        return self.order_flow() is not None

    # --- dust (optional): the smallest debt the mechanism liquidates ---------------------------
    @classmethod
    def dust_wad(cls, params: P) -> int:
        """Smallest debt (numeraire WAD) this mechanism can liquidate with ``params``: it never
        touches a position owing less (Maker's dog and cat refuse to bark or bite below dust),
        so the market refuses to let one be opened (``dust_requests``) and a scenario asking for
        one is refused up front. 0 (default): it liquidates any debt."""
        return 0

    @classmethod
    def dust_requests(cls, market: M, params: P) -> list[TxRequest]:
        """The admin's call telling the market the dust (``setMechanismDust``: borrows and
        repayments may then not leave less, as Maker's vat refuses to); none without dust."""
        dust = cls.dust_wad(params)
        return [market.liquidated_contract.tx(market.deployer, "setMechanismDust", dust)] if dust else []
