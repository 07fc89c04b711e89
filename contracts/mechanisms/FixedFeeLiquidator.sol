// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {WadMath} from "../core/WadMath.sol";
import {Token} from "../core/Token.sol";
import {LendingMarket} from "../core/LendingMarket.sol";
import {ILiquidationMechanism} from "../core/ILiquidationMechanism.sol";

/// @title FixedFeeLiquidator
/// @notice Fixed-spread liquidation in the style of Aave v3: anyone but the borrower repays part
///         of an unhealthy position's debt and receives collateral worth the repayment plus a
///         fixed bonus at the oracle price. Rules:
///         - close factor: at most `closeFactorBps` of the debt while HF > fullCloseHealthFactor
///           and both the debt and the collateral are worth at least `fullCloseBelowUsd`; all of
///           it otherwise (Aave v3.3: a small position can always be closed in one liquidation);
///         - seized = repaid * (1 + bonus) / price; when that exceeds the collateral, all of it is
///           taken and the repayment shrinks to collateralValue / (1 + bonus) (rounded up);
///         - protocol fee = (seized - seized / (1 + bonus)) * protocolFee, in WETH, to the treasury;
///         - dust (Aave v3.3): the liquidation repays all debt, or takes all collateral, or leaves
///           at least `dustUsd` of both debt and collateral value;
///         - debt left with no collateral behind it is written off as bad debt.
///         The caller pays USD (approved to this contract) and receives the WETH net of the fee.
contract FixedFeeLiquidator is ILiquidationMechanism {
    using WadMath for uint256;

    error ZeroAddress();
    error InvalidParameters();
    error NotMarket();
    error ZeroAmount();
    error HealthyPosition();
    error SelfLiquidation();
    error DustRemaining(uint256 debtLeft, uint256 collateralValueLeft);
    error TransferFailed();

    event Liquidated(
        address indexed owner,
        address indexed liquidator,
        uint256 debtRepaid,
        uint256 collateralSeized,
        uint256 protocolFee,
        uint256 badDebt
    );

    uint256 internal constant BPS = 10_000;

    LendingMarket public immutable market;
    Token public immutable collateralToken;
    Token public immutable debtToken;
    address public immutable treasury;
    uint256 public immutable closeFactorBps;
    uint256 public immutable fullCloseHealthFactorWad;
    uint256 public immutable bonusBps;
    uint256 public immutable protocolFeeBps;
    uint256 public immutable dustUsd;
    uint256 public immutable fullCloseBelowUsd;

    constructor(
        address market_,
        uint256 closeFactorBps_,
        uint256 fullCloseHealthFactorBps_,
        uint256 bonusBps_,
        uint256 protocolFeeBps_,
        uint256 dustUsd_,
        uint256 fullCloseBelowUsd_
    ) {
        if (market_ == address(0)) revert ZeroAddress();
        if (
            closeFactorBps_ == 0 || closeFactorBps_ > BPS || fullCloseHealthFactorBps_ > BPS || bonusBps_ > BPS
                || protocolFeeBps_ > BPS
        ) revert InvalidParameters();
        market = LendingMarket(market_);
        collateralToken = Token(LendingMarket(market_).collateralToken());
        debtToken = Token(LendingMarket(market_).debtToken());
        treasury = LendingMarket(market_).treasury();
        closeFactorBps = closeFactorBps_;
        fullCloseHealthFactorWad = fullCloseHealthFactorBps_ * (WadMath.WAD / BPS);
        bonusBps = bonusBps_;
        protocolFeeBps = protocolFeeBps_;
        dustUsd = dustUsd_;
        fullCloseBelowUsd = fullCloseBelowUsd_;
        // The market pulls repayments from this contract.
        Token(LendingMarket(market_).debtToken()).approve(market_, type(uint256).max);
    }

    // ------------------------------------------------------------------ hooks

    /// @notice Nothing is ever held in custody here.
    function heldCollateral(address) external pure returns (uint256, uint256) {
        return (0, 0);
    }

    /// @notice No per-position state to update; callable by the market only.
    function onPositionUpdated(address) external view {
        if (msg.sender != address(market)) revert NotMarket();
    }

    // ----------------------------------------------------------------- action

    /// @notice Repay up to `debtToCover` of `owner`'s debt for collateral at a fixed bonus.
    /// @return debtRepaid USD pulled from the caller and repaid.
    /// @return collateralSeized WETH taken from the position (fee included).
    function liquidate(address owner, uint256 debtToCover)
        external
        virtual
        returns (uint256 debtRepaid, uint256 collateralSeized)
    {
        return _liquidate(owner, debtToCover);
    }

    /// @notice Largest repayment the close factor allows right now (0 when not liquidatable).
    function maxRepay(address owner) external view returns (uint256) {
        (uint256 col, uint256 debt, uint256 hf,) = market.positionOf(owner);
        if (debt == 0 || hf >= WadMath.WAD) return 0;
        return _closeFactorCap(col, debt, hf, market.price());
    }

    // --------------------------------------------------------------- internal

    /// @dev The close factor applies only to a position above the full-close health factor
    ///      whose debt and collateral value are both at least `fullCloseBelowUsd`.
    function _closeFactorCap(uint256 col, uint256 debt, uint256 hf, uint256 price)
        internal
        view
        returns (uint256)
    {
        uint256 threshold = fullCloseBelowUsd;
        bool large = debt >= threshold && col.wmul(price) >= threshold;
        return hf > fullCloseHealthFactorWad && large ? (debt * closeFactorBps) / BPS : debt;
    }

    /// @dev The whole fixed-fee liquidation, paid by and delivered to msg.sender.
    function _liquidate(address owner, uint256 debtToCover)
        internal
        returns (uint256 repaid, uint256 seized)
    {
        if (owner == msg.sender) revert SelfLiquidation();
        if (debtToCover == 0) revert ZeroAmount();
        LendingMarket m = market;
        (uint256 col, uint256 debt, uint256 hf,) = m.positionOf(owner);
        if (debt == 0 || hf >= WadMath.WAD) revert HealthyPosition();
        uint256 fee;
        (repaid, seized, fee) = _terms(col, debt, hf, m.price(), debtToCover);

        if (repaid != 0) {
            if (!debtToken.transferFrom(msg.sender, address(this), repaid)) revert TransferFailed();
            m.repayOnBehalf(owner, repaid, address(this));
        }
        if (fee != 0) m.seizeCollateral(owner, fee, treasury);
        if (seized != fee) m.seizeCollateral(owner, seized - fee, msg.sender);

        uint256 bad;
        if (seized == col && repaid != debt) {
            bad = debt - repaid;
            m.writeOff(owner, bad);
        }
        emit Liquidated(owner, msg.sender, repaid, seized, fee, bad);
    }

    /// @dev Repayment, collateral seized and protocol fee for a request of `debtToCover`;
    ///      reverts when the result would leave dust.
    function _terms(uint256 col, uint256 debt, uint256 hf, uint256 price, uint256 debtToCover)
        internal
        view
        returns (uint256 repaid, uint256 seized, uint256 fee)
    {
        uint256 cap = _closeFactorCap(col, debt, hf, price);
        repaid = debtToCover < cap ? debtToCover : cap;
        uint256 bonusFactor = BPS + bonusBps;
        seized = (repaid * bonusFactor * WadMath.WAD) / (BPS * price);
        if (seized >= col) {
            seized = col;
            // collateral value / (1 + bonus), rounded up (never above the requested repayment)
            uint256 num = col * price * BPS;
            uint256 den = WadMath.WAD * bonusFactor;
            uint256 reduced = num / den;
            if (reduced * den != num) ++reduced;
            if (reduced < repaid) repaid = reduced;
        } else if (repaid != debt) {
            uint256 debtLeft = debt - repaid;
            uint256 colValueLeft = (col - seized).wmul(price);
            if (debtLeft < dustUsd || colValueLeft < dustUsd) revert DustRemaining(debtLeft, colValueLeft);
        }
        if (seized != 0) {
            fee = ((seized - (seized * BPS) / bonusFactor) * protocolFeeBps) / BPS;
        }
    }
}
