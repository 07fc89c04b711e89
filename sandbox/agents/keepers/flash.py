"""Flash-loan keeper: no capital; liquidates through its own ``FlashLiquidator`` contract.

Set-up deploys ``FlashLiquidator(lender, usd, weth, amm, owner)`` from the keeper's account
(the address is known in advance: keccak(rlp([sender, nonce]))[12:]). Each liquidation is one
transaction to that contract: flash-borrow the USD the mechanism will pull, call the mechanism
(its call encoded with the contract as the caller: Dutch ``take`` delivers to ``who`` = the
contract as-is), sell all WETH received on the AMM, repay loan + fee, and send the profit to
the keeper. The contract reverts unless the profit covers at least the gas the keeper expects
to pay, so a landed liquidation never loses money. Actions that need no capital (Dutch bark
and redo) are sent directly from the keeper's account. Standing bids, whose collateral only
arrives at a later settlement (English ``tend``/``dent``), cannot be flash-financed and are
skipped.

The flash keeper does not bid in private auctions (``private_bid`` returns None): the right
is granted to the bidder's address, while ``liquidateWithBid`` would be sent by its contract.

On a market without a flash lender (``market.flash`` is None: the perpetual market, where a
liquidation needs no capital because the venue is every position's counterparty) it deploys
nothing and sends the mechanism's calls directly, skipping any action that must be paid for.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import rlp
from eth_utils import keccak, to_canonical_address, to_checksum_address

from sandbox.agents.base import BlockView, GasPolicy, OrderFlowLot, PrivateBid
from sandbox.chain import Account, Contract, at, creation_tx
from sandbox.mechanisms import Call, Opportunity
from sandbox.units import BPS

from .base import Keeper, KeeperParams, Plan, ceil_div

if TYPE_CHECKING:
    from sandbox.agents.context import AgentContext

CONTRACT_NAME = "FlashLiquidator"
FLASH_OVERHEAD_GAS = 200_000  # loan, approvals, AMM sale, repayment, profit transfer


def create_address(sender: str, nonce: int) -> str:
    """Address of the contract ``sender`` creates with ``nonce`` (CREATE)."""
    return to_checksum_address(keccak(rlp.encode([to_canonical_address(sender), nonce]))[12:])


class FlashKeeper(Keeper):
    name = "flash"
    Params = KeeperParams
    uses_capital = False
    description = ("Capital-free: flash-borrows USD, liquidates, sells the collateral on the AMM and "
                   "repays in one transaction through its FlashLiquidator contract.")

    def __init__(self, account: Account, rng: np.random.Generator, gas: GasPolicy | None = None,
                 capital_usd: float = 0.0, params: KeeperParams | None = None):
        # Capital-free by construction: any capital_usd given (a KeeperSpec default) is ignored.
        super().__init__(account, rng, gas, capital_usd=0.0, params=params)
        self.contract: Contract | None = None
        self.deployed = False
        self.flash_fee_bps = 0
        self.direct = False  # no flash lender on the market: capital-free calls sent as they are

    # --- set-up ------------------------------------------------------------------------
    def setup(self, ctx: "AgentContext") -> list:
        """Deploy the FlashLiquidator from this keeper's account (its address is computed now);
        on a market without a flash lender, only the approvals its calls may need."""
        market = ctx.market
        if getattr(market, "flash", None) is None:
            self.direct = True
            return market.keeper_setup_requests(self.account, 0, [ctx.mechanism.spender])
        nonce = ctx.chain.nonce(self.address)
        self.contract = at(ctx.chain, CONTRACT_NAME, create_address(self.address, nonce))
        self.flash_fee_bps = market.params.flash_fee_bps
        return [creation_tx(self.account, CONTRACT_NAME, market.flash.address, market.usd.address,
                            market.weth.address, market.amm.address, self.address, nonce=nonce)]

    def after_setup(self, ctx: "AgentContext") -> None:
        if not self.direct and not self._check_deployed(ctx):
            raise RuntimeError(f"{self.label}: no FlashLiquidator at {self.contract_address} after set-up")

    def _check_deployed(self, ctx: "AgentContext") -> bool:
        if not self.deployed and self.contract is not None:
            self.deployed = bool(ctx.chain.code(self.contract.address))
        return self.deployed

    @property
    def contract_address(self) -> str | None:
        return self.contract.address if self.contract is not None else None

    # --- encoding ----------------------------------------------------------------------
    def flash_amount(self, ctx: "AgentContext", inner: Call) -> int:
        """USD to flash-borrow: what the inner call pulls, net of the USD it pays out."""
        usd = ctx.market.numeraire
        return max(0, inner.paid(usd) - inner.received(usd))

    def encode(self, ctx: "AgentContext", opp: Opportunity, max_pay: int | None = None) -> Call:
        if self.direct:
            call = ctx.mechanism.encode(opp, self.address)
            if call.pays:
                raise ValueError(f"{self.label} has no capital and no flash lender to pay for {opp.action}")
            return call
        if self.contract is None:
            raise ValueError(f"{self.label} has no FlashLiquidator (setup not run)")
        inner = ctx.mechanism.encode(opp, self.contract.address)
        if not inner.pays:
            return ctx.mechanism.encode(opp, self.address)  # bark / redo: no capital, reward to us
        data = self.contract.encode("liquidate", inner.to, inner.data, self.flash_amount(ctx, inner), 0)
        return dataclasses.replace(inner, to=self.contract.address, data=data, gas=inner.gas + FLASH_OVERHEAD_GAS)

    def size(self, ctx: "AgentContext", opp: Opportunity, budget: int) -> Call | None:
        if opp.standing_bid:
            return None  # the collateral arrives later (English bids): no flash loan can wait for it
        return super().size(ctx, opp, budget)

    def extra_cost_usd(self, ctx: "AgentContext", opp: Opportunity, call: Call) -> int:
        """The flash loan's fee (rounded up, as FlashLender.flashFee)."""
        if self.contract is None or call.to != self.contract.address:
            return 0
        return ceil_div(self.flash_amount(ctx, call) * self.flash_fee_bps, BPS)

    def request(self, ctx: "AgentContext", plan: Plan):
        """The plan's transaction with the on-chain profit floor set to the expected gas cost."""
        call = plan.call
        if self.contract is None or call.to != self.contract.address:
            return call.request(self.account)
        fn = self.contract.abi.function("liquidate")
        target, data, amount, _ = fn.decode_input(call.data)
        gas_cost = max(0, plan.gross_usd - plan.profit_usd)
        return self.contract.tx(self.account, "liquidate", to_checksum_address(target), data, amount,
                                gas_cost, gas=call.gas)

    # --- behaviour -----------------------------------------------------------------------
    def step(self, view: BlockView, ctx: "AgentContext") -> None:
        if self.direct or self._check_deployed(ctx):
            self.liquidate_public(view, ctx, view.opportunities)

    def private_bid(self, view: BlockView, ctx: "AgentContext", lot: OrderFlowLot) -> PrivateBid | None:
        return None
