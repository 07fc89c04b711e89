// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {PerpMath} from "../PerpMath.sol";

/// @title PerpMathHarness
/// @notice Exposes PerpMath's internal functions so tests compare them with their Python mirrors
///         on many random inputs with read-only calls. Not used by any other contract.
contract PerpMathHarness {
    function lnWad(uint256 x) external pure returns (int256) {
        return PerpMath.lnWad(x);
    }

    function sqrt(uint256 x) external pure returns (uint256) {
        return PerpMath.sqrt(x);
    }

    function markPrice(uint256 index, uint256 traded, uint256 weightWad, uint256 maxPremiumWad)
        external
        pure
        returns (uint256)
    {
        return PerpMath.markPrice(index, traded, weightWad, maxPremiumWad);
    }

    function premium(uint256 traded, uint256 index) external pure returns (int256) {
        return PerpMath.premium(traded, index);
    }

    function fundingRate(int256 premiumTwap, int256 interestWad, int256 bandWad, int256 capWad)
        external
        pure
        returns (int256)
    {
        return PerpMath.fundingRate(premiumTwap, interestWad, bandWad, capWad);
    }
}
