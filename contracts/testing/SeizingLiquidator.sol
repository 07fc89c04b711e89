// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {FixedFeeLiquidator} from "../mechanisms/FixedFeeLiquidator.sol";

/// @title SeizingLiquidator
/// @notice A fixture for the plug-in tests: a third party's liquidator with fixed-fee terms
///         reached through its own function, `seize`, so that searchers only recognise it when
///         the plug-in declares that function (its `liquidate` is disabled).
contract SeizingLiquidator is FixedFeeLiquidator {
    error UseSeize();

    constructor(
        address market_,
        uint256 closeFactorBps_,
        uint256 fullCloseHealthFactorBps_,
        uint256 bonusBps_,
        uint256 protocolFeeBps_,
        uint256 dustUsd_,
        uint256 fullCloseBelowUsd_
    )
        FixedFeeLiquidator(
            market_, closeFactorBps_, fullCloseHealthFactorBps_, bonusBps_, protocolFeeBps_, dustUsd_, fullCloseBelowUsd_
        )
    {}

    /// @notice Repay up to `debtToCover` of `owner`'s debt for collateral at the fixed bonus.
    function seize(address owner, uint256 debtToCover) external returns (uint256 debtRepaid, uint256 collateralSeized) {
        return _liquidate(owner, debtToCover);
    }

    /// @notice Disabled: this liquidator is reached through `seize` only.
    function liquidate(address, uint256) external pure override returns (uint256, uint256) {
        revert UseSeize();
    }
}
