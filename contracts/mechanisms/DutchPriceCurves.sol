// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title DutchPriceCurves
/// @notice Decreasing price curves ("abaci") for Dutch auctions, in the style of MakerDAO's
///         Liquidations 2.0. Prices are WAD; decay factors are RAY (1e27) for precision.
///         - STAIRSTEP:   price = top * cut^floor(elapsed / step)
///         - EXPONENTIAL: price = top * cut^elapsed          (cut is the factor per second)
///         - LINEAR:      price = top * (tau - elapsed) / tau, 0 from tau on
library DutchPriceCurves {
    uint256 internal constant RAY = 1e27;

    uint8 internal constant STAIRSTEP = 0;
    uint8 internal constant EXPONENTIAL = 1;
    uint8 internal constant LINEAR = 2;

    /// @notice x^n for a RAY-scaled x, by repeated squaring; every product is rounded half up.
    function rpow(uint256 x, uint256 n) internal pure returns (uint256 z) {
        if (n == 0) return RAY;
        if (x == 0) return 0;
        uint256 half = RAY / 2;
        z = (n & 1) == 1 ? x : RAY;
        for (n >>= 1; n != 0; n >>= 1) {
            x = (x * x + half) / RAY;
            if ((n & 1) == 1) z = (z * x + half) / RAY;
        }
    }

    /// @notice Price `elapsed` seconds after the auction started at `top`.
    /// @param curve STAIRSTEP, EXPONENTIAL or LINEAR
    /// @param cutRay decay factor per step (stairstep) or per second (exponential), RAY
    /// @param step seconds per stair (stairstep only)
    /// @param tau seconds until the price reaches zero (linear only)
    function price(uint8 curve, uint256 top, uint256 elapsed, uint256 cutRay, uint256 step, uint256 tau)
        internal
        pure
        returns (uint256)
    {
        if (curve == STAIRSTEP) return (top * rpow(cutRay, elapsed / step)) / RAY;
        if (curve == EXPONENTIAL) return (top * rpow(cutRay, elapsed)) / RAY;
        if (elapsed >= tau) return 0;
        return (top * (tau - elapsed)) / tau;
    }
}
