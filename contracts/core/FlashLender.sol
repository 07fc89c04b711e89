// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Token} from "./Token.sol";

/// @notice ERC-3156-shaped callback implemented by flash-loan receivers.
interface IFlashBorrower {
    function onFlashLoan(address initiator, address token, uint256 amount, uint256 fee, bytes calldata data)
        external
        returns (bytes32);
}

/// @title FlashLender
/// @notice Single-token flash lender so capital-less keepers can liquidate (borrow USD, repay
///         the debt, sell the collateral, return the loan plus fee in one transaction).
///         Funded by plain token transfers to this contract.
contract FlashLender {
    error ZeroAddress();
    error InvalidFee();
    error ExceedsMaxLoan();
    error CallbackFailed();
    error RepaymentFailed();
    error TransferFailed();

    event FlashLoan(address indexed receiver, uint256 amount, uint256 fee);

    bytes32 public constant CALLBACK_SUCCESS = keccak256("ERC3156FlashBorrower.onFlashLoan");
    uint256 private constant BPS = 10_000;

    address public immutable token;
    uint256 public immutable feeBps;
    /// @notice Total fees collected so far.
    uint256 public feesEarned;

    constructor(address token_, uint256 feeBps_) {
        if (token_ == address(0)) revert ZeroAddress();
        if (feeBps_ > BPS) revert InvalidFee();
        token = token_;
        feeBps = feeBps_;
    }

    /// @notice Fee for borrowing `amount`: amount * feeBps / 10000, rounded up.
    function flashFee(uint256 amount) public view returns (uint256) {
        return (amount * feeBps + BPS - 1) / BPS;
    }

    /// @notice Largest loan available right now (the whole balance).
    function maxFlashLoan() public view returns (uint256) {
        return Token(token).balanceOf(address(this));
    }

    /// @notice Lend `amount` to `receiver`, run its callback, then pull back amount + fee.
    function flashLoan(address receiver, uint256 amount, bytes calldata data) external returns (bool) {
        if (amount > maxFlashLoan()) revert ExceedsMaxLoan();
        uint256 fee = flashFee(amount);
        if (!Token(token).transfer(receiver, amount)) revert TransferFailed();
        if (IFlashBorrower(receiver).onFlashLoan(msg.sender, token, amount, fee, data) != CALLBACK_SUCCESS) {
            revert CallbackFailed();
        }
        try Token(token).transferFrom(receiver, address(this), amount + fee) returns (bool ok) {
            if (!ok) revert RepaymentFailed();
        } catch {
            revert RepaymentFailed();
        }
        feesEarned += fee;
        emit FlashLoan(receiver, amount, fee);
        return true;
    }
}
