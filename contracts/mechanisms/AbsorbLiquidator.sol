// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {WadMath} from "../core/WadMath.sol";
import {Token} from "../core/Token.sol";
import {LendingMarket} from "../core/LendingMarket.sol";
import {ILiquidationMechanism} from "../core/ILiquidationMechanism.sol";

/// @title AbsorbLiquidator
/// @notice Protocol-absorbed liquidation in the style of Compound v3 (Comet absorb +
///         buyCollateral + quoteCollateral).
///         - absorb(absorber, owners): for every listed position (each must be liquidatable) the
///           protocol takes all the collateral into its own inventory and credits the borrower
///           collateral value * liquidationFactor. From its USD reserves (held by this contract)
///           it repays min(credit, debt) of the debt; a credit above the debt is paid to the
///           borrower in USD (Comet credits it as a base supply balance); a credit below the debt
///           leaves a shortfall that is written off as bad debt through the market, so it is
///           visible (Comet lets its reserves absorb it silently). The absorber receives nothing
///           but pays gas (Comet only counts absorb points).
///         - buyCollateral(minAmount, usdAmount, recipient): while reserves are below
///           targetReserves anyone buys inventory WETH at the store-front discount
///           (1 - liquidationFactor) * storeFrontPriceFactor below the oracle price; the USD goes
///           into the reserves.
///         Reserves are this contract's USD balance: funded at deploy, they fall by the credit on
///         every absorb and rise by every sale, so the protocol's profit or loss is visible.
/// @dev All amounts are WAD.
contract AbsorbLiquidator is ILiquidationMechanism {
    using WadMath for uint256;

    error NotLiquidatable();
    error NotForSale();
    error TooMuchSlippage();
    error InsufficientInventory();
    error ZeroAmount();
    error NotMarket();
    error InvalidParameters();
    error TransferFailed();

    event AbsorbCollateral(address indexed absorber, address indexed borrower, uint256 collateralAbsorbed,
        uint256 usdValue);
    event AbsorbDebt(address indexed absorber, address indexed borrower, uint256 debtAbsorbed, uint256 credit,
        uint256 reservesPaid, uint256 excessPaid, uint256 badDebt);
    event BuyCollateral(address indexed buyer, address indexed recipient, uint256 usdAmount,
        uint256 collateralAmount);

    struct State {
        uint256 reserves; // USD held by the protocol
        uint256 inventory; // WETH held by the protocol
        uint256 price; // oracle price, WAD
        uint256 discountedPrice; // store-front price, WAD
        uint256 targetReserves; // sales stop at or above this
    }

    LendingMarket public immutable market;
    Token public immutable weth;
    Token public immutable usd;

    uint256 public immutable liquidationFactor; // WAD (0.93)
    uint256 public immutable storeFrontPriceFactor; // WAD (0.5)
    uint256 public immutable discount; // (1 - liquidationFactor) * storeFrontPriceFactor, WAD
    uint256 public immutable targetReserves; // USD WAD

    /// @param market_ the LendingMarket this contract liquidates for
    /// @param liquidationFactor_ share of collateral value credited to the borrower, WAD (<= 1)
    /// @param storeFrontPriceFactor_ share of (1 - liquidationFactor) given to buyers, WAD (<= 1)
    /// @param targetReserves_ reserves at or above which collateral is not for sale, USD WAD
    constructor(address market_, uint256 liquidationFactor_, uint256 storeFrontPriceFactor_, uint256 targetReserves_) {
        if (liquidationFactor_ > WadMath.WAD || storeFrontPriceFactor_ > WadMath.WAD) revert InvalidParameters();
        market = LendingMarket(market_);
        weth = Token(LendingMarket(market_).collateralToken());
        usd = Token(LendingMarket(market_).debtToken());
        liquidationFactor = liquidationFactor_;
        storeFrontPriceFactor = storeFrontPriceFactor_;
        discount = (WadMath.WAD - liquidationFactor_).wmul(storeFrontPriceFactor_);
        targetReserves = targetReserves_;
        // The market pulls repayments from this contract.
        Token(LendingMarket(market_).debtToken()).approve(market_, type(uint256).max);
    }

    // ------------------------------------------------------------------ hooks

    /// @notice Absorbed collateral belongs to the protocol, never to a position.
    function heldCollateral(address) external pure returns (uint256, uint256) {
        return (0, 0);
    }

    /// @notice No per-position state to update; callable by the market only.
    function onPositionUpdated(address) external view {
        if (msg.sender != address(market)) revert NotMarket();
    }

    // ---------------------------------------------------------------- actions

    /// @notice Absorb every listed position into the protocol; each must be liquidatable.
    function absorb(address absorber, address[] calldata owners) external {
        LendingMarket m = market;
        uint256 price = m.price();
        uint256 n = owners.length;
        if (n == 0) revert NotLiquidatable();
        for (uint256 i = 0; i < n; ++i) {
            _absorb(m, absorber, owners[i], price);
        }
    }

    /// @notice Buy inventory WETH for `usdAmount` USD at the store-front price; at least
    ///         `minAmount` WETH goes to `recipient`.
    function buyCollateral(uint256 minAmount, uint256 usdAmount, address recipient)
        external
        returns (uint256 collateralAmount)
    {
        if (usdAmount == 0) revert ZeroAmount();
        if (usd.balanceOf(address(this)) >= targetReserves) revert NotForSale();
        collateralAmount = quoteCollateral(usdAmount);
        if (collateralAmount < minAmount) revert TooMuchSlippage();
        if (collateralAmount > weth.balanceOf(address(this))) revert InsufficientInventory();
        if (!usd.transferFrom(msg.sender, address(this), usdAmount)) revert TransferFailed();
        if (collateralAmount != 0 && !weth.transfer(recipient, collateralAmount)) revert TransferFailed();
        emit BuyCollateral(msg.sender, recipient, usdAmount, collateralAmount);
    }

    // ------------------------------------------------------------------ views

    /// @notice WETH that `usdAmount` buys: usd / (price * (1 - discount)), rounded down.
    function quoteCollateral(uint256 usdAmount) public view returns (uint256) {
        return usdAmount.wdiv(_discountedPrice(market.price()));
    }

    /// @notice Reserves, inventory, prices and the reserve target in one call.
    function state() external view returns (State memory s) {
        s.reserves = usd.balanceOf(address(this));
        s.inventory = weth.balanceOf(address(this));
        s.price = market.price();
        s.discountedPrice = _discountedPrice(s.price);
        s.targetReserves = targetReserves;
    }

    // --------------------------------------------------------------- internal

    function _discountedPrice(uint256 price) internal view returns (uint256) {
        return price.wmul(WadMath.WAD - discount);
    }

    function _absorb(LendingMarket m, address absorber, address owner, uint256 price) internal {
        if (!m.isLiquidatable(owner)) revert NotLiquidatable();
        (uint256 col, uint256 debt,,) = m.positionOf(owner);
        uint256 value = col.wmul(price);
        uint256 credit = value.wmul(liquidationFactor);
        if (col != 0) m.seizeCollateral(owner, col, address(this));

        // Reserves pay the credited part of the debt (and any excess to the borrower); what the
        // reserves cannot pay, and any shortfall of the credit, is written off as bad debt.
        uint256 reserves = usd.balanceOf(address(this));
        uint256 cover = credit < debt ? credit : debt;
        uint256 paid = cover < reserves ? cover : reserves;
        if (paid != 0) m.repayOnBehalf(owner, paid, address(this));
        uint256 bad = debt - paid;
        if (bad != 0) m.writeOff(owner, bad);
        uint256 excess = credit - cover;
        if (excess != 0) {
            uint256 left = reserves - paid;
            if (excess > left) excess = left;
            if (excess != 0 && !usd.transfer(owner, excess)) revert TransferFailed();
        }
        emit AbsorbCollateral(absorber, owner, col, value);
        emit AbsorbDebt(absorber, owner, debt, credit, paid, excess, bad);
    }
}
