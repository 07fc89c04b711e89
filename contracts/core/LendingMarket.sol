// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {WadMath} from "./WadMath.sol";
import {Token} from "./Token.sol";
import {PriceOracle} from "./PriceOracle.sol";
import {ILiquidationMechanism} from "./ILiquidationMechanism.sol";

/// @title LendingMarket
/// @notice Single-pair, interest-free lending market (WETH collateral, USD debt). It knows
///         nothing about how liquidation works: an installed mechanism composes the primitive
///         mechanism-only functions (seize, repay on behalf, write off, restore, lock), so
///         different liquidation designs can be compared on identical market logic.
/// @dev Invariants: WETH balance == totalCollateral; USD balance == liquidity;
///      sum(debtOf) == totalDebt.
contract LendingMarket {
    using WadMath for uint256;

    error InvalidParameters();
    error NotAdmin();
    error NotMechanism();
    error MechanismAlreadyInstalled();
    error ZeroAddress();
    error PositionLocked();
    error Undercollateralized();
    error InsufficientLiquidity();
    error InsufficientCollateral();
    error RepayExceedsDebt();
    error BelowMinimumBorrow(uint256 debt, uint256 minimum);
    error TransferFailed();

    event MechanismInstalled(address indexed mechanism);
    event MechanismDustSet(uint256 dust);
    event LiquiditySupplied(address indexed supplier, uint256 amount);
    event Deposit(address indexed owner, uint256 amount);
    event Withdraw(address indexed owner, uint256 amount);
    event Borrow(address indexed owner, uint256 amount);
    event Repay(address indexed owner, address indexed payer, uint256 amount);
    event CollateralSeized(address indexed owner, address indexed to, uint256 amount);
    event LiquidationRepaid(address indexed owner, address indexed payer, uint256 amount);
    event BadDebtWrittenOff(address indexed owner, uint256 amount);
    event CollateralRestored(address indexed owner, address indexed from, uint256 amount);
    event LockChanged(address indexed owner, bool isLocked);

    address public immutable collateralToken;
    address public immutable debtToken;
    address public immutable oracle;
    uint256 public immutable maxLtvWad;
    uint256 public immutable liquidationThresholdWad;
    address public immutable treasury;
    address public immutable admin;
    /// @notice The market's own smallest debt (USD WAD; 0: no minimum), as Maker's vat dust:
    ///         positions too small to be worth liquidating cannot be opened (see `minDebt`).
    uint256 public immutable minBorrow;

    address public mechanism;
    /// @notice Smallest debt the installed mechanism can liquidate (USD WAD; 0: any), set by the
    ///         admin when it installs the mechanism (Dutch bark and English bite refuse debts
    ///         below their dust): a position it could never touch must not be opened.
    uint256 public mechanismDust;

    mapping(address => uint256) public collateralOf;
    mapping(address => uint256) public debtOf;
    mapping(address => bool) public locked;
    uint256 public totalCollateral;
    uint256 public totalDebt;
    uint256 public badDebt;
    /// @notice USD supplied to the market and not currently lent out.
    uint256 public liquidity;

    constructor(
        address collateralToken_,
        address debtToken_,
        address oracle_,
        uint256 maxLtvWad_,
        uint256 liquidationThresholdWad_,
        address treasury_,
        uint256 minBorrow_
    ) {
        if (collateralToken_ == address(0) || debtToken_ == address(0) || oracle_ == address(0)) {
            revert ZeroAddress();
        }
        if (maxLtvWad_ == 0 || maxLtvWad_ > liquidationThresholdWad_ || liquidationThresholdWad_ >= WadMath.WAD) {
            revert InvalidParameters();
        }
        collateralToken = collateralToken_;
        debtToken = debtToken_;
        oracle = oracle_;
        maxLtvWad = maxLtvWad_;
        liquidationThresholdWad = liquidationThresholdWad_;
        treasury = treasury_;
        admin = msg.sender;
        minBorrow = minBorrow_;
    }

    modifier onlyMechanism() {
        if (msg.sender != mechanism) revert NotMechanism();
        _;
    }

    modifier notLocked() {
        if (locked[msg.sender]) revert PositionLocked();
        _;
    }

    // ------------------------------------------------------------------ admin

    /// @notice Plug in the liquidation mechanism (admin only, exactly once).
    function installMechanism(address mechanism_) external {
        if (msg.sender != admin) revert NotAdmin();
        if (mechanism != address(0)) revert MechanismAlreadyInstalled();
        if (mechanism_ == address(0)) revert ZeroAddress();
        mechanism = mechanism_;
        emit MechanismInstalled(mechanism_);
    }

    /// @notice Declare the installed mechanism's dust (admin only): see `minDebt`. Positions
    ///         already below a raised dust stay as they are (as Maker's vaults when dust rises).
    function setMechanismDust(uint256 dust) external {
        if (msg.sender != admin) revert NotAdmin();
        mechanismDust = dust;
        emit MechanismDustSet(dust);
    }

    /// @notice Smallest debt a borrow or repayment may leave (0 excepted): the larger of the
    ///         market's own minimum and the mechanism's dust.
    function minDebt() public view returns (uint256) {
        uint256 dust = mechanismDust;
        return dust > minBorrow ? dust : minBorrow;
    }

    // -------------------------------------------------------------- liquidity

    /// @notice Supply USD that borrowers can draw on.
    function supplyLiquidity(uint256 amount) external {
        _pull(debtToken, msg.sender, amount);
        liquidity += amount;
        emit LiquiditySupplied(msg.sender, amount);
    }

    // -------------------------------------------------------- borrower actions

    /// @notice Add WETH collateral to the caller's position.
    function deposit(uint256 amount) external notLocked {
        _deposit(amount);
        _hook();
    }

    /// @notice Remove WETH collateral; the position must still pass the max-LTV check.
    function withdraw(uint256 amount) external notLocked {
        uint256 col = collateralOf[msg.sender];
        if (amount > col) revert InsufficientCollateral();
        unchecked {
            collateralOf[msg.sender] = col - amount;
            totalCollateral -= amount;
        }
        _checkLtv(msg.sender);
        _push(collateralToken, msg.sender, amount);
        emit Withdraw(msg.sender, amount);
        _hook();
    }

    /// @notice Borrow USD against the caller's collateral, up to the max LTV.
    function borrow(uint256 amount) external notLocked {
        _borrow(amount);
        _hook();
    }

    /// @notice Repay the caller's debt; `amount` is capped at the outstanding debt. What is left
    ///         must be 0 or at least `minDebt` (as Maker's vat refuses a frob that leaves dust).
    function repay(uint256 amount) external notLocked {
        uint256 debt = debtOf[msg.sender];
        if (amount > debt) amount = debt;
        uint256 left = debt - amount;
        if (left != 0) {
            uint256 minimum = minDebt();
            if (left < minimum) revert BelowMinimumBorrow(left, minimum);
        }
        _pull(debtToken, msg.sender, amount);
        unchecked {
            debtOf[msg.sender] = left;
            totalDebt -= amount;
        }
        liquidity += amount;
        emit Repay(msg.sender, msg.sender, amount);
        _hook();
    }

    /// @notice Deposit collateral and borrow in one transaction (one hook call).
    function open(uint256 collateralAmount, uint256 debtAmount) external notLocked {
        _deposit(collateralAmount);
        _borrow(debtAmount);
        _hook();
    }

    // ------------------------------------------------------------------ views

    /// @notice Oracle price in force, WAD USD per WETH.
    function price() public view returns (uint256) {
        return PriceOracle(oracle).price();
    }

    /// @notice USD value of the position: free collateral plus collateral and USD held by the mechanism.
    function collateralValue(address owner) public view returns (uint256) {
        uint256 col = collateralOf[owner];
        uint256 heldDebtAsset;
        address mech = mechanism;
        if (mech != address(0)) {
            (uint256 heldCol, uint256 heldUsd) = ILiquidationMechanism(mech).heldCollateral(owner);
            col += heldCol;
            heldDebtAsset = heldUsd;
        }
        return col.wmul(price()) + heldDebtAsset;
    }

    /// @notice collateralValue * liquidationThreshold / debt (WAD); max uint when debt is zero.
    function healthFactor(address owner) public view returns (uint256) {
        uint256 debt = debtOf[owner];
        if (debt == 0) return type(uint256).max;
        return (collateralValue(owner) * liquidationThresholdWad) / debt;
    }

    /// @notice True when the position has debt and a health factor below 1.
    function isLiquidatable(address owner) external view returns (bool) {
        return debtOf[owner] > 0 && healthFactor(owner) < WadMath.WAD;
    }

    /// @notice Compact position snapshot.
    function positionOf(address owner)
        external
        view
        returns (uint256 collateral, uint256 debt, uint256 healthFactorWad, bool isLocked)
    {
        return (collateralOf[owner], debtOf[owner], healthFactor(owner), locked[owner]);
    }

    // ------------------------------------------------ mechanism-only primitives

    /// @notice Move `amount` of `owner`'s collateral out of the market to `to`.
    function seizeCollateral(address owner, uint256 amount, address to) external onlyMechanism {
        uint256 col = collateralOf[owner];
        if (amount > col) revert InsufficientCollateral();
        unchecked {
            collateralOf[owner] = col - amount;
            totalCollateral -= amount;
        }
        _push(collateralToken, to, amount);
        emit CollateralSeized(owner, to, amount);
    }

    /// @notice Reduce `owner`'s debt by `amount`, paid in USD by `payer` (who must approve the market).
    function repayOnBehalf(address owner, uint256 amount, address payer) external onlyMechanism {
        uint256 debt = debtOf[owner];
        if (amount > debt) revert RepayExceedsDebt();
        unchecked {
            debtOf[owner] = debt - amount;
            totalDebt -= amount;
        }
        liquidity += amount;
        _pull(debtToken, payer, amount);
        emit LiquidationRepaid(owner, payer, amount);
    }

    /// @notice Cancel `amount` of unrecoverable debt, recording it as bad debt.
    function writeOff(address owner, uint256 amount) external onlyMechanism {
        uint256 debt = debtOf[owner];
        if (amount > debt) revert RepayExceedsDebt();
        unchecked {
            debtOf[owner] = debt - amount;
            totalDebt -= amount;
        }
        badDebt += amount;
        emit BadDebtWrittenOff(owner, amount);
    }

    /// @notice Put WETH (pulled from `from`) back into `owner`'s position, e.g. auction leftovers.
    function restoreCollateral(address owner, uint256 amount, address from) external onlyMechanism {
        _pull(collateralToken, from, amount);
        collateralOf[owner] += amount;
        totalCollateral += amount;
        emit CollateralRestored(owner, from, amount);
    }

    /// @notice Freeze or unfreeze borrower actions on `owner`'s position.
    function setLocked(address owner, bool isLocked) external onlyMechanism {
        locked[owner] = isLocked;
        emit LockChanged(owner, isLocked);
    }

    // --------------------------------------------------------------- internal

    function _deposit(uint256 amount) private {
        _pull(collateralToken, msg.sender, amount);
        collateralOf[msg.sender] += amount;
        totalCollateral += amount;
        emit Deposit(msg.sender, amount);
    }

    function _borrow(uint256 amount) private {
        uint256 liq = liquidity;
        if (amount > liq) revert InsufficientLiquidity();
        unchecked {
            liquidity = liq - amount;
        }
        uint256 debt = debtOf[msg.sender] + amount;
        if (debt != 0) {
            uint256 minimum = minDebt();
            if (debt < minimum) revert BelowMinimumBorrow(debt, minimum);
        }
        debtOf[msg.sender] = debt;
        totalDebt += amount;
        _checkLtv(msg.sender);
        _push(debtToken, msg.sender, amount);
        emit Borrow(msg.sender, amount);
    }

    /// @dev debt <= collateralValue * maxLtv (skipped when there is no debt).
    function _checkLtv(address owner) private view {
        uint256 debt = debtOf[owner];
        if (debt != 0 && debt > collateralValue(owner).wmul(maxLtvWad)) revert Undercollateralized();
    }

    function _hook() private {
        address mech = mechanism;
        if (mech != address(0)) ILiquidationMechanism(mech).onPositionUpdated(msg.sender);
    }

    function _pull(address token, address from, uint256 amount) private {
        if (!Token(token).transferFrom(from, address(this), amount)) revert TransferFailed();
    }

    function _push(address token, address to, uint256 amount) private {
        if (!Token(token).transfer(to, amount)) revert TransferFailed();
    }
}
