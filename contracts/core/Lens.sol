// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {LendingMarket} from "./LendingMarket.sol";
import {ILiquidationMechanism} from "./ILiquidationMechanism.sol";

/// @title Lens
/// @notice Stateless batch reader so off-chain agents fetch many positions in one eth_call
///         instead of one call per position (each call is expensive in the Python EVM).
contract Lens {
    struct PositionView {
        address owner;
        uint256 collateral;
        uint256 heldCollateral;
        uint256 heldDebtAsset;
        uint256 debt;
        uint256 healthFactorWad;
        bool locked;
    }

    struct MarketView {
        uint256 price;
        uint256 totalCollateral;
        uint256 totalDebt;
        uint256 badDebt;
        uint256 liquidity;
        uint256 timestamp;
        uint256 blockNumber;
    }

    /// @notice Snapshot of every listed position (free and mechanism-held collateral, debt, health).
    function positions(address market, address[] calldata owners) external view returns (PositionView[] memory out) {
        LendingMarket m = LendingMarket(market);
        ILiquidationMechanism mech = ILiquidationMechanism(m.mechanism());
        out = new PositionView[](owners.length);
        for (uint256 i = 0; i < owners.length; ++i) {
            out[i] = _position(m, mech, owners[i]);
        }
    }

    /// @notice Free collateral, debt and lock of every listed position, without asking the
    ///         mechanism for collateral it holds (callers that follow the mechanism's events
    ///         know that already, and it can be the costly part of a read).
    function accounts(address market, address[] calldata owners)
        external
        view
        returns (uint256[] memory collateral, uint256[] memory debt, bool[] memory locked)
    {
        LendingMarket m = LendingMarket(market);
        collateral = new uint256[](owners.length);
        debt = new uint256[](owners.length);
        locked = new bool[](owners.length);
        for (uint256 i = 0; i < owners.length; ++i) {
            address owner = owners[i];
            collateral[i] = m.collateralOf(owner);
            debt[i] = m.debtOf(owner);
            locked[i] = m.locked(owner);
        }
    }

    /// @notice Market totals plus the price in force (0 if the oracle has no price in force yet).
    function marketState(address market) external view returns (MarketView memory v) {
        LendingMarket m = LendingMarket(market);
        try m.price() returns (uint256 p) {
            v.price = p;
        } catch {
            v.price = 0;
        }
        v.totalCollateral = m.totalCollateral();
        v.totalDebt = m.totalDebt();
        v.badDebt = m.badDebt();
        v.liquidity = m.liquidity();
        v.timestamp = block.timestamp;
        v.blockNumber = block.number;
    }

    /// @notice The subset of `owners` whose positions are liquidatable right now.
    function liquidatable(address market, address[] calldata owners) external view returns (address[] memory out) {
        LendingMarket m = LendingMarket(market);
        out = new address[](owners.length);
        uint256 n;
        for (uint256 i = 0; i < owners.length; ++i) {
            if (m.isLiquidatable(owners[i])) out[n++] = owners[i];
        }
        assembly ("memory-safe") {
            mstore(out, n) // shrink to the number of hits
        }
    }

    function _position(LendingMarket m, ILiquidationMechanism mech, address owner)
        private
        view
        returns (PositionView memory p)
    {
        p.owner = owner;
        p.collateral = m.collateralOf(owner);
        if (address(mech) != address(0)) {
            (p.heldCollateral, p.heldDebtAsset) = mech.heldCollateral(owner);
        }
        p.debt = m.debtOf(owner);
        p.healthFactorWad = m.healthFactor(owner);
        p.locked = m.locked(owner);
    }
}
