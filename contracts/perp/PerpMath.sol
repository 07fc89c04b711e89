// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title PerpMath
/// @notice Integer helpers of the perpetual market: signed WAD arithmetic with explicit rounding,
///         the mark-price and funding-rate formulas, an integer square root and a fixed-point
///         natural logarithm. Every function is mirrored bit for bit in `sandbox/perp/math.py`.
library PerpMath {
    uint256 internal constant WAD = 1e18;
    int256 internal constant IWAD = 1e18;
    /// @notice ln 2 in WAD, rounded down.
    int256 internal constant LN2_WAD = 693147180559945309;
    /// @notice sqrt 2 in WAD, rounded down.
    uint256 internal constant SQRT2_WAD = 1414213562373095048;
    /// @notice Odd terms of the atanh series summed by `lnWad` (z, z^3/3, ..., z^21/21).
    uint256 internal constant LN_TERMS = 11;

    /// @notice |x| as an unsigned integer.
    function abs(int256 x) internal pure returns (uint256) {
        return x >= 0 ? uint256(x) : uint256(-x);
    }

    /// @notice x bounded to [lo, hi] (lo <= hi).
    function clamp(int256 x, int256 lo, int256 hi) internal pure returns (int256) {
        return x < lo ? lo : (x > hi ? hi : x);
    }

    /// @notice ceil(a / b) for b > 0.
    function divUp(uint256 a, uint256 b) internal pure returns (uint256) {
        return a == 0 ? 0 : (a - 1) / b + 1;
    }

    /// @notice ceil(a * b / d).
    function mulDivUp(uint256 a, uint256 b, uint256 d) internal pure returns (uint256) {
        return divUp(a * b, d);
    }

    /// @notice floor(sqrt(x)) (Babylonian iteration from above; exact for every x).
    function sqrt(uint256 x) internal pure returns (uint256 y) {
        if (x == 0) return 0;
        if (x < 4) return 1;
        y = x;
        uint256 z = x / 2 + 1;
        while (z < y) {
            y = z;
            z = (x / z + z) / 2;
        }
    }

    /// @notice Natural logarithm of a WAD number x > 0, as a signed WAD.
    /// @dev Range reduction x = 2^n * y with y in [sqrt(2)/2, sqrt(2)] (halving and doubling y
    ///      in WAD, each rounding down), then ln y = 2 atanh(z), z = (y - 1)/(y + 1), |z| <= 0.1716,
    ///      summed to the z^21 term. The series remainder is below 2|z|^23/(23(1 - z^2)) < 1e-18;
    ///      each of the ~25 truncating divisions loses under 1 wei, ln 2 is truncated (under 1 wei
    ///      per unit of n) and each halving of y moves ln y by under 1e-18. For ratios between
    ///      1e-6 and 1e6 (|n| <= 20) the result is within 1e-16 of ln x (tested against Decimal).
    function lnWad(uint256 x) internal pure returns (int256) {
        require(x > 0, "ln of zero");
        int256 n = 0;
        uint256 y = x;
        while (y >= 2 * WAD) {
            y /= 2;
            ++n;
        }
        while (y < WAD) {
            y *= 2;
            --n;
        }
        if (y > SQRT2_WAD) {
            y /= 2;
            ++n;
        }
        int256 z = ((int256(y) - IWAD) * IWAD) / (int256(y) + IWAD);
        int256 z2 = (z * z) / IWAD;
        int256 term = z;
        int256 sum = z;
        for (uint256 k = 1; k < LN_TERMS; ++k) {
            term = (term * z2) / IWAD;
            sum += term / int256(2 * k + 1);
        }
        return n * LN2_WAD + 2 * sum;
    }

    /// @notice Mark price = index + weight * clamp(traded - index, +-maxPremium * index).
    /// @param weightWad share of the (bounded) basis that enters the mark; 0 gives mark = index
    /// @param maxPremiumWad bound on |traded - index| / index that can enter the mark
    function markPrice(uint256 index, uint256 traded, uint256 weightWad, uint256 maxPremiumWad)
        internal
        pure
        returns (uint256)
    {
        int256 bound = int256((index * maxPremiumWad) / WAD);
        int256 basis = clamp(int256(traded) - int256(index), -bound, bound);
        return uint256(int256(index) + (basis * int256(weightWad)) / IWAD);
    }

    /// @notice Premium of the traded price over the index, (traded - index) / index, signed WAD.
    function premium(uint256 traded, uint256 index) internal pure returns (int256) {
        return ((int256(traded) - int256(index)) * IWAD) / int256(index);
    }

    /// @notice Binance-shaped funding rate for one interval:
    ///         F = clamp(P + clamp(r - P, -band, +band), -cap, +cap), all signed WAD.
    function fundingRate(int256 premiumTwap, int256 interestWad, int256 bandWad, int256 capWad)
        internal
        pure
        returns (int256)
    {
        int256 f = premiumTwap + clamp(interestWad - premiumTwap, -bandWad, bandWad);
        return clamp(f, -capWad, capWad);
    }
}
