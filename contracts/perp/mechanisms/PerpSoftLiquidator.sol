// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {PerpMarket} from "../PerpMarket.sol";
import {PerpLiquidatorBase} from "./PerpLiquidatorBase.sol";

/// @title PerpSoftLiquidator
/// @notice Gradual liquidation: positions below maintenance margin are trimmed back above it
///         instead of being closed (Perpetual Protocol v1's partial liquidation of 25% at a time;
///         Binance and dYdX reduce large positions in steps). Anyone but the owner may `trim` an
///         account once per block: the slice closed through the venue is the least that brings
///         equity back to MM * (1 + buffer) at the mark after the fees, at most `maxSliceBps` of
///         the position (rounded up); a remainder worth less than `dustUsd` is closed with it.
///         The caller earns keeperFeeBps of the slice's venue quote, the insurance fund
///         insuranceFeeBps, both from the account's margin. Venue slippage is not in the target
///         (the next trim, one block later, takes care of it). A flat account with negative
///         margin goes through the market's settlement.
contract PerpSoftLiquidator is PerpLiquidatorBase {
    error AlreadyTrimmed(address account, uint256 blockNumber);

    event Trimmed(
        address indexed account,
        address indexed keeper,
        uint256 size,
        uint256 quote,
        int256 realisedPnl,
        uint256 keeperFee,
        uint256 insuranceFee,
        int256 sizeLeft,
        uint256 badDebt
    );

    uint256 public immutable bufferBps;
    uint256 public immutable maxSliceBps;
    uint256 public immutable keeperFeeBps;
    uint256 public immutable insuranceFeeBps;
    uint256 public immutable dustUsd;

    mapping(address => uint256) public lastTrimBlock;

    /// @param params [bufferBps, maxSliceBps, keeperFeeBps, insuranceFeeBps, dustUsd WAD]
    constructor(address market_, uint256[5] memory params) PerpLiquidatorBase(market_) {
        if (params[1] == 0 || params[1] > BPS || params[2] + params[3] > BPS) revert InvalidParameters();
        bufferBps = params[0];
        maxSliceBps = params[1];
        keeperFeeBps = params[2];
        insuranceFeeBps = params[3];
        dustUsd = params[4];
    }

    /// @notice Close the slice of `account`'s position the rules allow now; the caller gets the fee.
    function trim(address account) external returns (uint256 size, uint256 quote) {
        if (lastTrimBlock[account] == block.number) revert AlreadyTrimmed(account, block.number);
        PerpMarket.AccountView memory v = _liquidatable(account);
        lastTrimBlock[account] = block.number;
        size = sliceFor(v.equity, v.size, market.markPrice(), market.mmf());
        int256 pnl;
        (pnl, quote) = market.closePosition(account, size);
        (uint256 keeperFee, uint256 insuranceFee) = _chargeFees(account, quote, keeperFeeBps, insuranceFeeBps, msg.sender);
        uint256 bad = _settle(account);
        (, int256 left,,) = market.accountOf(account);
        emit Trimmed(account, msg.sender, size, quote, pnl, keeperFee, insuranceFee, left, bad);
    }

    /// @notice Size a trim closes for an account with `equity` and position `size` at `mark`
    ///         under maintenance fraction `mmfWad`: x = ceil((|q| * M * t - equity) / (M * (t - f)))
    ///         with t = MMF * (1 + buffer) and f the fee fraction (the whole position when
    ///         equity <= 0 or t <= f), then capped at ceil(|q| * maxSlice) and at least 1 wei; the
    ///         whole position when the remainder would be worth less than dust.
    function sliceFor(int256 equity, int256 size, uint256 mark, uint256 mmfWad) public view returns (uint256 x) {
        uint256 s = size >= 0 ? uint256(size) : uint256(-size);
        uint256 t = (mmfWad * (BPS + bufferBps)) / BPS;
        uint256 f = ((keeperFeeBps + insuranceFeeBps) * WAD) / BPS;
        uint256 wanted = s;
        if (equity > 0 && t > f) {
            uint256 target = (((s * mark) / WAD) * t) / WAD;
            uint256 need = target > uint256(equity) ? target - uint256(equity) : 0;
            uint256 perUnit = (mark * (t - f)) / WAD;
            if (perUnit != 0) wanted = (need * WAD + perUnit - 1) / perUnit;
        }
        uint256 cap = (s * maxSliceBps + BPS - 1) / BPS;
        x = wanted < cap ? wanted : cap;
        if (x == 0) x = 1;
        if (x > s) x = s;
        if (x < s && ((s - x) * mark) / WAD < dustUsd) x = s;
    }
}
