// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title ILiquidationMechanism
/// @notice What LendingMarket needs from a pluggable liquidation mechanism.
interface ILiquidationMechanism {
    /// @notice Value of `owner`'s position currently held in the mechanism's custody (e.g. in an
    ///         auction or in soft-liquidation bands): a WETH amount and a USD amount.
    function heldCollateral(address owner) external view returns (uint256 collateral, uint256 debtAsset);

    /// @notice Hook the market calls after every borrower action on `owner`'s position.
    function onPositionUpdated(address owner) external;
}
