// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title WadMath
/// @notice Fixed-point helpers for 18-decimal (WAD) quantities, with explicit rounding direction
///         so callers can always round in the protocol's favour.
library WadMath {
    uint256 internal constant WAD = 1e18;

    /// @notice a * b / WAD, rounded down.
    function wmul(uint256 a, uint256 b) internal pure returns (uint256) {
        return (a * b) / WAD;
    }

    /// @notice a * WAD / b, rounded down.
    function wdiv(uint256 a, uint256 b) internal pure returns (uint256) {
        return (a * WAD) / b;
    }

    /// @notice a * b / WAD, rounded up.
    function wmulUp(uint256 a, uint256 b) internal pure returns (uint256) {
        return _divUp(a * b, WAD);
    }

    /// @notice a * WAD / b, rounded up.
    function wdivUp(uint256 a, uint256 b) internal pure returns (uint256) {
        return _divUp(a * WAD, b);
    }

    /// @notice The smaller of two values.
    function min(uint256 a, uint256 b) internal pure returns (uint256) {
        return a < b ? a : b;
    }

    /// @dev Ceiling division; reverts (panic) on b == 0 like ordinary division.
    function _divUp(uint256 x, uint256 y) private pure returns (uint256) {
        uint256 q = x / y;
        return q * y == x ? q : q + 1;
    }
}
