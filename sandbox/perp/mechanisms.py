"""Deploy one liquidation mechanism for the perpetual market and install it (admin, once).

Each entry names its contract (under ``contracts/perp/mechanisms/``) and its parameter class;
``deploy_mechanism`` deploys, installs and runs the mechanism's own set-up (the Dutch auction's
keeper-incentive reserve), as the lending mechanisms' shared deploy path does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox.chain import Account, Contract, deploy, execute
from sandbox.mechanisms.base import MechanismParams
from sandbox.units import to_wad

from .deploy import Perp
from .params import PerpDutchAuctionParams, PerpFixedFeeParams, PerpPrivateParams, PerpSoftParams

MECHANISMS: dict[str, tuple[str, type[MechanismParams]]] = {
    "fixed-fee": ("PerpFixedFeeLiquidator", PerpFixedFeeParams),
    "dutch-auction": ("PerpDutchAuctionLiquidator", PerpDutchAuctionParams),
    "soft": ("PerpSoftLiquidator", PerpSoftParams),
    "private": ("PerpPrivateLiquidator", PerpPrivateParams),
}

# Measured upper bounds with room (a liquidation may settle funding, ADL and bad debt).
LIQUIDATE_GAS = 4_000_000


@dataclass(frozen=True)
class PerpMechanism:
    """A deployed perp mechanism: its name, parameters, contract and (private) auction roles."""

    name: str
    params: MechanismParams
    contract: Contract
    auctioneer: Account | None = None
    operator: Account | None = None

    def tx(self, sender: Account, fn: str, *args: Any, **fields: Any):
        fields.setdefault("gas", LIQUIDATE_GAS)
        return self.contract.tx(sender, fn, *args, **fields)


def deploy_mechanism(perp: Perp, name: str, params: MechanismParams | None = None, *,
                     auctioneer: Account | None = None, operator: Account | None = None) -> PerpMechanism:
    """Deploy mechanism ``name`` with ``params`` (defaults when None) and install it."""
    try:
        contract_name, params_cls = MECHANISMS[name]
    except KeyError:
        raise ValueError(f"unknown perp mechanism {name!r} (known: {', '.join(sorted(MECHANISMS))})") from None
    params = params if params is not None else params_cls()
    if type(params) is not params_cls:
        raise TypeError(f"{name} needs {params_cls.__name__}, got {type(params).__name__}")
    market = perp.market.address
    if isinstance(params, PerpPrivateParams):
        auctioneer = auctioneer or perp.deployer
        operator = operator or perp.deployer
        args: tuple = (market, params.constructor_params(), auctioneer.address, operator.address,
                       params.protocol_share_bps, params.open_delay_seconds)
    elif isinstance(params, PerpDutchAuctionParams):
        args = (market, *params.constructor_params())
    else:
        assert isinstance(params, (PerpFixedFeeParams, PerpSoftParams)), type(params)  # the other two
        args = (market, params.constructor_params())
    (contract,) = deploy(perp.chain, perp.deployer, [(contract_name, args)])
    requests = [perp.market.tx(perp.deployer, "installMechanism", contract.address)]
    if isinstance(params, PerpDutchAuctionParams) and params.incentive_reserve_usd:
        requests.append(perp.usd.tx(perp.deployer, "mint", contract.address, to_wad(params.incentive_reserve_usd)))
    execute(perp.chain, requests)
    return PerpMechanism(name=name, params=params, contract=contract, auctioneer=auctioneer, operator=operator)
