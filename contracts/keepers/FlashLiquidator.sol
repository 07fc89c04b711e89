// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Token} from "../core/Token.sol";
import {FlashLender, IFlashBorrower} from "../core/FlashLender.sol";
import {ConstantProductAMM} from "../core/ConstantProductAMM.sol";

/// @title FlashLiquidator
/// @notice A capital-free keeper's contract: flash-borrow USD, call a liquidation mechanism
///         (the call was encoded with this contract as the caller, so the mechanism pulls USD
///         from here and delivers WETH here), sell every WETH received on the AMM, repay the
///         loan plus fee, and send the USD profit to the owner. Reverts unless the profit
///         reaches `minProfitUsd`, so a liquidation that a competitor got first (or that the
///         price moved against) costs only the gas of the revert.
contract FlashLiquidator is IFlashBorrower {
    error ZeroAddress();
    error NotOwner();
    error NotLender();
    error UntrustedInitiator();
    error InsufficientProfit(uint256 profit, uint256 minProfit);
    error TransferFailed();

    /// @notice One flash liquidation: USD borrowed and its fee, WETH sold, USD profit to the owner.
    event FlashLiquidation(
        address indexed target,
        uint256 usdBorrowed,
        uint256 flashFee,
        uint256 wethSold,
        uint256 usdFromSale,
        uint256 profit
    );

    bytes32 private constant CALLBACK_SUCCESS = keccak256("ERC3156FlashBorrower.onFlashLoan");

    FlashLender public immutable lender;
    Token public immutable usd;
    Token public immutable weth;
    ConstantProductAMM public immutable amm;
    address public immutable owner;

    // Bookkeeping of the running liquidation for its event (transient: cleared after the tx).
    uint256 private transient _wethSold;
    uint256 private transient _usdFromSale;

    constructor(address lender_, address usd_, address weth_, address amm_, address owner_) {
        if (
            lender_ == address(0) || usd_ == address(0) || weth_ == address(0) || amm_ == address(0)
                || owner_ == address(0)
        ) revert ZeroAddress();
        lender = FlashLender(lender_);
        usd = Token(usd_);
        weth = Token(weth_);
        amm = ConstantProductAMM(amm_);
        owner = owner_;
        // The AMM pulls the WETH this contract sells.
        Token(weth_).approve(amm_, type(uint256).max);
    }

    /// @notice Liquidate through `target` with `data`, financed by a flash loan of `usdAmount`
    ///         (no loan when 0); the USD profit (at least `minProfitUsd`) goes to the owner.
    function liquidate(address target, bytes calldata data, uint256 usdAmount, uint256 minProfitUsd)
        external
        returns (uint256 profit)
    {
        if (msg.sender != owner) revert NotOwner();
        if (target == address(0)) revert ZeroAddress();
        uint256 start = usd.balanceOf(address(this));
        uint256 fee;
        if (usdAmount == 0) {
            _execute(target, data, 0);
        } else {
            fee = lender.flashFee(usdAmount);
            lender.flashLoan(address(this), usdAmount, abi.encode(target, data));
        }
        uint256 end = usd.balanceOf(address(this));
        profit = end > start ? end - start : 0;
        if (profit < minProfitUsd) revert InsufficientProfit(profit, minProfitUsd);
        if (profit != 0 && !usd.transfer(owner, profit)) revert TransferFailed();
        emit FlashLiquidation(target, usdAmount, fee, _wethSold, _usdFromSale, profit);
    }

    /// @notice FlashLender callback: run the liquidation and approve the repayment.
    function onFlashLoan(address initiator, address token, uint256 amount, uint256 fee, bytes calldata data)
        external
        returns (bytes32)
    {
        if (msg.sender != address(lender) || token != address(usd)) revert NotLender();
        if (initiator != address(this)) revert UntrustedInitiator();
        (address target, bytes memory call) = abi.decode(data, (address, bytes));
        _execute(target, call, amount);
        // The lender pulls amount + fee; a shortfall makes its transferFrom (and all of this) revert.
        usd.approve(address(lender), amount + fee);
        return CALLBACK_SUCCESS;
    }

    /// @dev Call the mechanism (allowed to pull `usdAmount`), then sell all WETH held.
    function _execute(address target, bytes memory call, uint256 usdAmount) private {
        if (usdAmount != 0) usd.approve(target, usdAmount);
        (bool ok, bytes memory ret) = target.call(call);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        if (usdAmount != 0) usd.approve(target, 0);
        uint256 wethHeld = weth.balanceOf(address(this));
        if (wethHeld != 0) {
            uint256 out = amm.swapExactIn(address(weth), wethHeld, 0, address(this));
            _wethSold = wethHeld;
            _usdFromSale = out;
        }
    }
}
