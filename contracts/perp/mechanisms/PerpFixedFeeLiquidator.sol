// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {PerpMarket} from "../PerpMarket.sol";
import {PerpLiquidatorBase} from "./PerpLiquidatorBase.sol";

/// @title PerpFixedFeeLiquidator
/// @notice Fixed-fee liquidation of perpetual positions (Perpetual Protocol v1's keeper
///         liquidation, in the fixed-spread shape of Aave's): anyone but the owner closes part of
///         an account below maintenance margin through the venue and is paid a fixed share of
///         the closed notional from the account's remaining margin; a liquidation fee goes to the
///         insurance fund. Rules:
///         - close factor: at most `closeFactorBps` of the position while its notional is at
///           least `fullCloseBelowUsd` and its health (equity / MM) is above `fullCloseHealthWad`;
///           all of it otherwise (Perp v1: 25% while the margin ratio is above 2.5%, i.e. 40% of
///           its 6.25% maintenance; a small position can always be closed at once);
///         - a partial close may not leave a position worth less than `dustUsd` at the mark;
///         - fees: keeperFeeBps then insuranceFeeBps of the venue quote, capped by the margin left;
///         - an account left flat with negative margin goes through the market's settlement.
///         The keeper needs no capital: the venue is the counterparty.
contract PerpFixedFeeLiquidator is PerpLiquidatorBase {
    error DustRemaining(uint256 notionalLeft);

    event Liquidated(
        address indexed account,
        address indexed keeper,
        uint256 size,
        uint256 quote,
        int256 realisedPnl,
        uint256 keeperFee,
        uint256 insuranceFee,
        uint256 badDebt
    );

    uint256 public immutable closeFactorBps;
    uint256 public immutable fullCloseHealthWad;
    uint256 public immutable fullCloseBelowUsd;
    uint256 public immutable keeperFeeBps;
    uint256 public immutable insuranceFeeBps;
    uint256 public immutable dustUsd;

    /// @param params [closeFactorBps, fullCloseHealthBps, fullCloseBelowUsd WAD, keeperFeeBps,
    ///               insuranceFeeBps, dustUsd WAD]
    constructor(address market_, uint256[6] memory params) PerpLiquidatorBase(market_) {
        if (params[0] == 0 || params[0] > BPS || params[1] > BPS || params[3] + params[4] > BPS) {
            revert InvalidParameters();
        }
        closeFactorBps = params[0];
        fullCloseHealthWad = params[1] * (WAD / BPS);
        fullCloseBelowUsd = params[2];
        keeperFeeBps = params[3];
        insuranceFeeBps = params[4];
        dustUsd = params[5];
    }

    /// @notice Close up to `amount` WETH of `account`'s position; the caller receives the fee.
    function liquidate(address account, uint256 amount) external virtual returns (uint256 size, uint256 quote) {
        return _liquidate(account, amount);
    }

    /// @notice Largest close the close factor allows right now (0 when not liquidatable).
    function maxClose(address account) external view returns (uint256) {
        PerpMarket.AccountView memory v = market.snapshot(account);
        if (!v.liquidatable) return 0;
        return _closeCap(v, market.markPrice());
    }

    function _closeCap(PerpMarket.AccountView memory v, uint256 mark) internal view returns (uint256) {
        uint256 s = v.size >= 0 ? uint256(v.size) : uint256(-v.size);
        bool large = (s * mark) / WAD >= fullCloseBelowUsd;
        bool far = v.healthWad <= int256(fullCloseHealthWad);
        return large && !far ? (s * closeFactorBps) / BPS : s;
    }

    function _liquidate(address account, uint256 amount) internal returns (uint256 size, uint256 quote) {
        if (amount == 0) revert ZeroAmount();
        PerpMarket.AccountView memory v = _liquidatable(account);
        uint256 mark = market.markPrice();
        uint256 cap = _closeCap(v, mark);
        size = amount < cap ? amount : cap;
        uint256 s = v.size >= 0 ? uint256(v.size) : uint256(-v.size);
        if (size < s && ((s - size) * mark) / WAD < dustUsd) revert DustRemaining(((s - size) * mark) / WAD);
        int256 pnl;
        (pnl, quote) = market.closePosition(account, size);
        (uint256 keeperFee, uint256 insuranceFee) = _chargeFees(account, quote, keeperFeeBps, insuranceFeeBps, msg.sender);
        uint256 bad = _settle(account);
        emit Liquidated(account, msg.sender, size, quote, pnl, keeperFee, insuranceFee, bad);
    }
}
