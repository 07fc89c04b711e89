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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

from sandbox.chain import Account, Address, Contract, TxRequest, deploy, execute_all

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


@dataclass(frozen=True)
class Opportunity:
    """One action a keeper can take now on one unhealthy position (or its auction).

    Amounts are WAD integers. ``debt_in_usd`` is what the caller pays (at most, for the full
    action), ``collateral_out_weth`` what it receives for it, ``reward_usd`` any payment to the
    caller on top (Maker's tip + chip for bark/redo).
    """

    mechanism: str
    action: str  # e.g. "liquidate", "bark", "take", "redo", "hard-liquidate"
    owner: Address  # the position's owner
    debt_in_usd: int
    collateral_out_weth: int
    reward_usd: int = 0
    ref: int | None = None  # auction id or similar handle
    health_factor_wad: int | None = None
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def needs_capital(self) -> bool:
        return self.debt_in_usd > 0


@dataclass(frozen=True)
class Call:
    """A contract call to send as a transaction: where, what, and the spender to approve."""

    to: Address
    data: bytes
    gas: int
    action: str
    owner: Address
    debt_in_usd: int = 0
    collateral_out_weth: int = 0

    def request(self, sender: Account, **fields: Any) -> TxRequest:
        return TxRequest(sender=sender, to=self.to, data=self.data, gas=fields.pop("gas", self.gas), **fields)


class LiquidationMechanism(ABC):
    """One liquidation mechanism deployed on one market (one instance per run, no globals)."""

    name: ClassVar[str]
    Params: ClassVar[type[MechanismParams]]
    # The contract installed as the market's liquidator: a packaged artifact's name, or an
    # Artifact a third-party package ships (sandbox.contracts.artifact_from_file).
    contract_name: ClassVar["str | Artifact"]
    description: ClassVar[str] = ""
    # Events of the mechanism contract that name no position and change none (fees, grants):
    # a PositionBook need not re-read positions after them (see sandbox.market.book).
    position_neutral_events: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, market: "Market", params: MechanismParams, contract: Contract):
        self.market = market
        self.params = params
        self.contract = contract

    # --- set-up --------------------------------------------------------------------------
    @classmethod
    def default_params(cls) -> MechanismParams:
        return cls.Params()

    @classmethod
    def deploy(cls, market: "Market", params: MechanismParams | None = None) -> "LiquidationMechanism":
        """Deploy the contract, install it as the market's liquidator, run the mechanism's own
        set-up transactions (``setup_requests``), and return the instance."""
        params = cls.checked_params(params)
        (contract,) = deploy(market.chain, market.deployer,
                             [(cls.contract_name, cls.constructor_args(market, params))])
        requests = [market.lending.tx(market.deployer, "installMechanism", contract.address)]
        execute_all(market.chain, requests + cls.setup_requests(market, params, contract))
        return cls(market, params, contract)

    @classmethod
    def check_scenario(cls, scenario: "Scenario", params: MechanismParams) -> None:
        """Raise ``ScenarioError`` (naming the scenario field) if this mechanism cannot serve
        ``scenario`` with ``params``, e.g. loans it cannot hold; run before any run starts, so a
        comparison is refused up front instead of failing in set-up. Accepts everything by default."""

    @classmethod
    def checked_params(cls, params: MechanismParams | None) -> MechanismParams:
        params = params if params is not None else cls.default_params()
        if not isinstance(params, cls.Params):
            raise TypeError(f"{cls.__name__} needs {cls.Params.__name__}, got {type(params).__name__}")
        return params

    @classmethod
    def constructor_args(cls, market: "Market", params: MechanismParams) -> tuple:
        """The contract's constructor arguments: the market, then the parameters' own."""
        return (market.lending.address, *params.contract_args())

    @classmethod
    def setup_requests(cls, market: "Market", params: MechanismParams, contract: Contract) -> list[TxRequest]:
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
               max_debt_in_usd: int | None = None) -> Call:
        """The call that takes ``opportunity`` for ``caller``, sized to ``max_debt_in_usd``.

        The call pays USD from ``msg.sender`` (approved to ``spender``) and delivers collateral
        to ``msg.sender``, so a keeper contract can wrap it in a flash loan.
        """

    # --- following the chain (optional: mechanisms whose state is costly to read) ----------
    # A mirror has load(owners), apply(block), in_sync(), state() and restore(state); a
    # mechanism that keeps one sets it in ``follow`` and reads from it while it is in sync.
    _mirror: Any = None

    def follow(self, owners: Sequence[Address]) -> None:
        """Start mirroring this mechanism's state from its events (one full read now)."""

    def observe_block(self, block) -> None:
        """Apply the events of ``block`` (the chain's new head) to the mirror."""
        if self._mirror is not None:
            self._mirror.apply(block)

    def follow_state(self) -> Any:
        return self._mirror.state() if self._mirror is not None else None

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

    # --- protocol-side hooks (optional) ----------------------------------------------------
    def protocol_calls(self, block_timestamp: int) -> list[tuple[Account, Call]]:
        """Transactions the protocol itself sends this block (e.g. an auctioneer); none by default."""
        return []

    @property
    def is_private(self) -> bool:
        """True when liquidation rights are sold off the public mempool."""
        return False
