// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Token} from "../core/Token.sol";
import {ConstantProductAMM} from "../core/ConstantProductAMM.sol";
import {IDutchTakeCallee} from "./DutchAuctionLiquidator.sol";

/// @title DutchTakeTestCallee
/// @notice TEST-ONLY flash-take helper for DutchAuctionLiquidator: inside the take callback it
///         sells the WETH it just received on the AMM, hands `owe` USD to the taker (who has
///         approved the liquidator, which then pulls it) and sends any surplus to the profit
///         recipient encoded in `data` (abi.encode(address recipient, uint256 minProfit)).
contract DutchTakeTestCallee is IDutchTakeCallee {
    error NotLiquidator();
    error Unprofitable();
    error TransferFailed();

    event FlashTake(address indexed sender, uint256 owe, uint256 slice, uint256 proceeds, uint256 profit);

    address public immutable liquidator;
    ConstantProductAMM public immutable amm;
    Token public immutable weth;
    Token public immutable usd;

    constructor(address liquidator_, address amm_, address weth_, address usd_) {
        liquidator = liquidator_;
        amm = ConstantProductAMM(amm_);
        weth = Token(weth_);
        usd = Token(usd_);
        Token(weth_).approve(amm_, type(uint256).max);
    }

    function dutchTakeCall(address sender, uint256 owe, uint256 slice, bytes calldata data) external {
        if (msg.sender != liquidator) revert NotLiquidator();
        (address recipient, uint256 minProfit) = abi.decode(data, (address, uint256));
        uint256 proceeds = amm.swapExactIn(address(weth), slice, owe + minProfit, address(this));
        if (proceeds < owe + minProfit) revert Unprofitable();
        uint256 profit = proceeds - owe;
        if (!usd.transfer(sender, owe)) revert TransferFailed();
        if (profit > 0 && !usd.transfer(recipient, profit)) revert TransferFailed();
        emit FlashTake(sender, owe, slice, proceeds, profit);
    }
}
