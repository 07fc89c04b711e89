// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Token} from "../../core/Token.sol";
import {PerpMarket} from "../PerpMarket.sol";

/// @title PerpLiquidatorBase
/// @notice What every perpetual liquidation mechanism does the same way: refuse self-liquidation
///         and healthy accounts (after settling any funding due), take fees out of what is left of
///         the account's margin (the caller's fee first, then the insurance fund's, each capped
///         by the margin still positive), and send a flat account with negative margin through the
///         market's shortfall settlement (insurance fund, auto-deleveraging, bad debt).
abstract contract PerpLiquidatorBase {
    error ZeroAddress();
    error InvalidParameters();
    error ZeroAmount();
    error HealthyAccount(address account);
    error SelfLiquidation();
    error TransferFailed();

    uint256 internal constant BPS = 10_000;
    uint256 internal constant WAD = 1e18;

    PerpMarket public immutable market;
    Token public immutable usd;
    address public immutable treasury;

    constructor(address market_) {
        if (market_ == address(0)) revert ZeroAddress();
        market = PerpMarket(market_);
        usd = PerpMarket(market_).usd();
        treasury = PerpMarket(market_).treasury();
    }

    /// @dev The account's snapshot, after funding due is settled; reverts unless it is
    ///      liquidatable and someone else is asking.
    function _liquidatable(address account) internal returns (PerpMarket.AccountView memory v) {
        if (account == msg.sender) revert SelfLiquidation();
        market.settleFundingIfDue();
        v = market.snapshot(account);
        if (!v.liquidatable) revert HealthyAccount(account);
    }

    /// @dev keeperBps of `notional` to `keeper`, then insuranceBps of it to the insurance fund,
    ///      each capped by the margin still positive.
    function _chargeFees(address account, uint256 notional, uint256 keeperBps, uint256 insuranceBps, address keeper)
        internal
        returns (uint256 keeperFee, uint256 insuranceFee)
    {
        (int256 margin,,,) = market.accountOf(account);
        uint256 left = margin > 0 ? uint256(margin) : 0;
        keeperFee = _min((notional * keeperBps) / BPS, left);
        insuranceFee = _min((notional * insuranceBps) / BPS, left - keeperFee);
        if (keeperFee != 0) market.payFromMargin(account, keeper, keeperFee);
        if (insuranceFee != 0) market.chargeInsuranceFee(account, insuranceFee);
    }

    /// @dev Settle a flat account's negative margin; returns what the market recorded as bad debt.
    function _settle(address account) internal returns (uint256 bad) {
        (int256 margin, int256 size,,) = market.accountOf(account);
        if (size == 0 && margin < 0) (,, bad) = market.settleShortfall(account);
    }

    function _min(uint256 a, uint256 b) internal pure returns (uint256) {
        return a < b ? a : b;
    }
}
