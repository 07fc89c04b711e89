// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {WadMath} from "./WadMath.sol";
import {Token} from "./Token.sol";

/// @title ConstantProductAMM
/// @notice Uniswap-v2-style x*y=k pool for WETH (token0) / USD (token1). Liquidators sell seized
///         collateral here, so its finite depth (price impact) is part of what is being compared.
///         Reserves are tracked in storage, so stray token transfers do not move the price.
contract ConstantProductAMM {
    error InvalidFee();
    error ZeroAddress();
    error UnknownToken();
    error ZeroAmount();
    error ZeroShares();
    error InsufficientShares();
    error EmptyPool();
    error SlippageExceeded();
    error TransferFailed();

    event LiquidityAdded(address indexed provider, uint256 amount0, uint256 amount1, uint256 shares);
    event LiquidityRemoved(address indexed provider, uint256 amount0, uint256 amount1, uint256 shares);
    event Swap(address indexed sender, address indexed tokenIn, uint256 amountIn, uint256 amountOut, address indexed to);
    event Sync(uint256 reserve0, uint256 reserve1);

    uint256 private constant BPS = 10_000;

    address public immutable token0;
    address public immutable token1;
    uint256 public immutable feeBps;

    uint256 public reserve0;
    uint256 public reserve1;
    uint256 public totalShares;
    mapping(address => uint256) public sharesOf;

    constructor(address token0_, address token1_, uint256 feeBps_) {
        if (token0_ == address(0) || token1_ == address(0) || token0_ == token1_) revert ZeroAddress();
        if (feeBps_ >= BPS) revert InvalidFee();
        token0 = token0_;
        token1 = token1_;
        feeBps = feeBps_;
    }

    /// @notice Deposit both tokens for LP shares: sqrt(a0*a1) at first, then the smaller of
    ///         the two proportional amounts (any excess of the other token accrues to LPs).
    function addLiquidity(uint256 amount0, uint256 amount1) external returns (uint256 shares) {
        if (amount0 == 0 || amount1 == 0) revert ZeroAmount();
        uint256 supply = totalShares;
        if (supply == 0) {
            shares = _sqrt(amount0 * amount1);
        } else {
            shares = WadMath.min((amount0 * supply) / reserve0, (amount1 * supply) / reserve1);
        }
        if (shares == 0) revert ZeroShares();
        _pull(token0, amount0);
        _pull(token1, amount1);
        totalShares = supply + shares;
        sharesOf[msg.sender] += shares;
        _setReserves(reserve0 + amount0, reserve1 + amount1);
        emit LiquidityAdded(msg.sender, amount0, amount1, shares);
    }

    /// @notice Burn LP shares for a pro-rata slice of both reserves (rounded down).
    function removeLiquidity(uint256 shares) external returns (uint256 amount0, uint256 amount1) {
        if (shares == 0) revert ZeroShares();
        uint256 owned = sharesOf[msg.sender];
        if (shares > owned) revert InsufficientShares();
        uint256 supply = totalShares;
        uint256 r0 = reserve0;
        uint256 r1 = reserve1;
        amount0 = (shares * r0) / supply;
        amount1 = (shares * r1) / supply;
        unchecked {
            sharesOf[msg.sender] = owned - shares;
            totalShares = supply - shares;
        }
        _setReserves(r0 - amount0, r1 - amount1);
        _push(token0, msg.sender, amount0);
        _push(token1, msg.sender, amount1);
        emit LiquidityRemoved(msg.sender, amount0, amount1, shares);
    }

    /// @notice Output for an exact input, after the fee (Uniswap-v2 formula, rounded down).
    function getAmountOut(address tokenIn, uint256 amountIn) public view returns (uint256) {
        (uint256 rIn, uint256 rOut) = _orderedReserves(tokenIn);
        if (amountIn == 0) return 0;
        uint256 inWithFee = amountIn * (BPS - feeBps);
        return (inWithFee * rOut) / (rIn * BPS + inWithFee);
    }

    /// @notice Sell exactly `amountIn` of `tokenIn` (pulled from the caller) and send the output to `to`.
    function swapExactIn(address tokenIn, uint256 amountIn, uint256 minAmountOut, address to)
        external
        returns (uint256 amountOut)
    {
        if (amountIn == 0) revert ZeroAmount();
        if (to == address(0)) revert ZeroAddress();
        amountOut = getAmountOut(tokenIn, amountIn);
        if (amountOut < minAmountOut || amountOut == 0) revert SlippageExceeded();
        _pull(tokenIn, amountIn);
        address tokenOut;
        if (tokenIn == token0) {
            tokenOut = token1;
            _setReserves(reserve0 + amountIn, reserve1 - amountOut);
        } else {
            tokenOut = token0;
            _setReserves(reserve0 - amountOut, reserve1 + amountIn);
        }
        _push(tokenOut, to, amountOut);
        emit Swap(msg.sender, tokenIn, amountIn, amountOut, to);
    }

    /// @notice Current reserves (storage-tracked).
    function getReserves() external view returns (uint256, uint256) {
        return (reserve0, reserve1);
    }

    /// @notice Marginal price, WAD USD per WETH.
    function spotPrice() external view returns (uint256) {
        uint256 r0 = reserve0;
        if (r0 == 0) revert EmptyPool();
        return (reserve1 * WadMath.WAD) / r0;
    }

    function _orderedReserves(address tokenIn) private view returns (uint256 rIn, uint256 rOut) {
        if (tokenIn == token0) return (reserve0, reserve1);
        if (tokenIn == token1) return (reserve1, reserve0);
        revert UnknownToken();
    }

    function _setReserves(uint256 r0, uint256 r1) private {
        reserve0 = r0;
        reserve1 = r1;
        emit Sync(r0, r1);
    }

    function _pull(address token, uint256 amount) private {
        if (!Token(token).transferFrom(msg.sender, address(this), amount)) revert TransferFailed();
    }

    function _push(address token, address to, uint256 amount) private {
        if (!Token(token).transfer(to, amount)) revert TransferFailed();
    }

    /// @dev Integer square root (Babylonian method), rounded down.
    function _sqrt(uint256 x) private pure returns (uint256 y) {
        if (x == 0) return 0;
        y = x;
        uint256 z = x / 2 + 1;
        while (z < y) {
            y = z;
            z = (x / z + z) / 2;
        }
    }
}
