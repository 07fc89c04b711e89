// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {WadMath} from "../core/WadMath.sol";
import {Token} from "../core/Token.sol";
import {LendingMarket} from "../core/LendingMarket.sol";
import {ILiquidationMechanism} from "../core/ILiquidationMechanism.sol";
import {DutchPriceCurves} from "./DutchPriceCurves.sol";

/// @notice Implemented by a `who` that wants the bought collateral before paying for it
///         (flash-style takes: sell the collateral inside the callback, pay from the proceeds).
interface IDutchTakeCallee {
    function dutchTakeCall(address sender, uint256 owe, uint256 slice, bytes calldata data) external;
}

/// @title DutchAuctionLiquidator
/// @notice Liquidations 2.0-style descending-price (Dutch) collateral auctions.
///         - bark: an unhealthy position whose debt is at least `dust` (smaller ones are
///           refused, as Maker's dog refuses to bark below the ilk's dust, so the keeper reward
///           is never paid on dust) has its whole collateral seized into an auction, the
///           position is locked, tab = debt * chop, start price top = oracle * buf. The caller's
///           reward (tip + chip * tab) is paid from a USD incentive reserve held by this contract
///           (Maker mints it as protocol debt; here it is a protocol cost funded at deploy).
///         - take: anyone buys up to `amt` collateral at the current curve price, paying USD that
///           repays the position's debt first; the rest (the penalty) goes to the treasury.
///           A partial take never leaves less than chost (= dust * chop) of tab.
///         - redo: an auction that is too old (tail) or too cheap (cusp) is re-priced from the
///           oracle; the caller is paid tip + chip * tab unless the auction is dust.
/// @dev All amounts are WAD (USD and WETH have 18 decimals), decay factors RAY.
contract DutchAuctionLiquidator is ILiquidationMechanism {
    using WadMath for uint256;

    error HealthyPosition();
    error AuctionActive();
    error NullAuction();
    error LiquidationLimitHit();
    error ZeroTopPrice();
    error NotRunningAuction();
    error NeedsRedo();
    error CannotRedo();
    error TooExpensive();
    error Chost();
    error Dust(uint256 debt, uint256 dust);
    error NotMarket();
    error Reentrancy();
    error InvalidParameters();
    error TransferFailed();

    event Bark(uint256 indexed id, address indexed owner, uint256 collateral, uint256 debt, uint256 tab);
    event Kick(uint256 indexed id, uint256 top, uint256 tab, uint256 lot, address indexed owner, address indexed kpr, uint256 coin);
    event Take(uint256 indexed id, uint256 maxPrice, uint256 price, uint256 owe, uint256 tab, uint256 lot, address indexed owner, address who);
    event Redo(uint256 indexed id, uint256 top, uint256 tab, uint256 lot, address indexed owner, address indexed kpr, uint256 coin);
    event Settle(uint256 indexed id, address indexed owner, uint256 collateralReturned, uint256 debtWrittenOff);
    event PenaltyPaid(uint256 indexed id, uint256 amount);

    struct Sale {
        address usr; // position owner
        uint96 tic; // auction (re)start time
        uint256 pos; // index in `active`
        uint256 tab; // USD still to raise (debt * chop, minus proceeds)
        uint256 lot; // WETH still for sale
        uint256 debt; // position debt not yet repaid
        uint256 top; // starting price, WAD
    }

    struct TakeVars {
        address usr;
        uint256 price;
        uint256 owe; // USD paid by the taker
        uint256 slice; // WETH bought
        uint256 tab; // tab left after the take
        uint256 lot; // lot left after the take
        uint256 debt; // position debt left after the take
        uint256 repay; // part of owe that repays debt
    }

    struct AuctionView {
        uint256 id;
        address owner;
        uint256 lot;
        uint256 tab;
        uint256 debtRemaining;
        uint256 top;
        uint256 tic;
        uint256 price;
        bool needsRedo;
    }

    LendingMarket public immutable market;
    Token public immutable weth;
    Token public immutable usd;
    address public immutable treasury;

    uint256 public immutable chop; // liquidation penalty multiplier, WAD (1.13)
    uint256 public immutable buf; // start price multiplier over oracle, WAD (1.20)
    uint256 public immutable tail; // seconds before a reset is needed
    uint256 public immutable cusp; // price / top below which a reset is needed, WAD (0.40)
    uint256 public immutable tip; // flat keeper reward, USD WAD
    uint256 public immutable chip; // keeper reward share of tab, WAD (0.001)
    uint256 public immutable dust; // smallest debt that may be barked, USD WAD
    uint256 public immutable chost; // dust * chop, USD WAD
    uint256 public immutable hole; // cap on the total tab in auctions, USD WAD
    uint8 public immutable curve; // DutchPriceCurves.STAIRSTEP / EXPONENTIAL / LINEAR
    uint256 public immutable cut; // RAY, per step (stairstep) or per second (exponential)
    uint256 public immutable step; // seconds per stair
    uint256 public immutable tau; // seconds to zero (linear)

    uint256 public kicks; // auctions ever started; ids are 1..kicks
    uint256 public dirt; // total tab of running auctions, USD WAD
    uint256[] internal active;
    mapping(uint256 => Sale) public sales;
    mapping(address => uint256) public auctionOf; // owner -> running auction id (0: none)
    uint256 private entered = 1;

    modifier nonReentrant() {
        if (entered != 1) revert Reentrancy();
        entered = 2;
        _;
        entered = 1;
    }

    /// @param market_ the LendingMarket this contract liquidates for
    /// @param auction [chop WAD, buf WAD, tail seconds, cusp WAD, hole USD WAD]
    /// @param incentives [tip USD WAD, chip WAD, dust USD WAD]
    /// @param curve_ DutchPriceCurves.STAIRSTEP (0), EXPONENTIAL (1) or LINEAR (2)
    /// @param curveParams [cut RAY (per step or per second), step seconds, tau seconds]
    constructor(
        address market_,
        uint256[5] memory auction,
        uint256[3] memory incentives,
        uint8 curve_,
        uint256[3] memory curveParams
    ) {
        if (auction[0] < WadMath.WAD || auction[1] == 0 || curve_ > DutchPriceCurves.LINEAR) revert InvalidParameters();
        if (curve_ != DutchPriceCurves.LINEAR && (curveParams[0] == 0 || curveParams[0] > DutchPriceCurves.RAY)) {
            revert InvalidParameters();
        }
        if ((curve_ == DutchPriceCurves.STAIRSTEP && curveParams[1] == 0) || (curve_ == DutchPriceCurves.LINEAR && curveParams[2] == 0)) {
            revert InvalidParameters();
        }
        market = LendingMarket(market_);
        weth = Token(LendingMarket(market_).collateralToken());
        usd = Token(LendingMarket(market_).debtToken());
        treasury = LendingMarket(market_).treasury();
        chop = auction[0];
        buf = auction[1];
        tail = auction[2];
        cusp = auction[3];
        hole = auction[4];
        tip = incentives[0];
        chip = incentives[1];
        dust = incentives[2];
        chost = incentives[2].wmul(auction[0]);
        curve = curve_;
        cut = curveParams[0];
        step = curveParams[1];
        tau = curveParams[2];
        // The market pulls repayments and restored collateral from this contract.
        Token(LendingMarket(market_).collateralToken()).approve(market_, type(uint256).max);
        Token(LendingMarket(market_).debtToken()).approve(market_, type(uint256).max);
    }

    // ------------------------------------------------------------------ hooks

    /// @inheritdoc ILiquidationMechanism
    function heldCollateral(address owner) external view returns (uint256 collateral, uint256 debtAsset) {
        uint256 id = auctionOf[owner];
        return (id == 0 ? 0 : sales[id].lot, 0);
    }

    /// @inheritdoc ILiquidationMechanism
    function onPositionUpdated(address) external view {
        if (msg.sender != address(market)) revert NotMarket();
    }

    // ---------------------------------------------------------------- actions

    /// @notice Start an auction of `owner`'s whole collateral; pay `kpr` tip + chip * tab.
    function bark(address owner, address kpr) external nonReentrant returns (uint256 id) {
        if (auctionOf[owner] != 0) revert AuctionActive();
        (uint256 col, uint256 debt, uint256 hf,) = market.positionOf(owner);
        if (debt == 0 || hf >= WadMath.WAD) revert HealthyPosition();
        if (col == 0) revert NullAuction();
        if (debt < dust) revert Dust(debt, dust);
        uint256 tab = debt.wmul(chop);
        if (dirt + tab > hole) revert LiquidationLimitHit();
        uint256 top = market.price().wmul(buf);
        if (top == 0) revert ZeroTopPrice();

        id = ++kicks;
        sales[id] = Sale({
            usr: owner, tic: uint96(block.timestamp), pos: active.length, tab: tab, lot: col, debt: debt,
            top: top
        });
        active.push(id);
        auctionOf[owner] = id;
        dirt += tab;

        market.setLocked(owner, true);
        market.seizeCollateral(owner, col, address(this));
        uint256 coin = _reward(kpr, tip + tab.wmul(chip));

        emit Bark(id, owner, col, debt, tab);
        emit Kick(id, top, tab, col, owner, kpr, coin);
    }

    /// @notice Buy up to `amt` WETH from auction `id` at the current price (at most `maxPrice`).
    ///         WETH goes to `who`; with non-empty `data`, `who.dutchTakeCall` runs before the USD
    ///         owed is pulled from msg.sender.
    function take(uint256 id, uint256 amt, uint256 maxPrice, address who, bytes calldata data)
        external
        nonReentrant
    {
        TakeVars memory v = _book(id, amt, maxPrice);

        _push(weth, who, v.slice);
        if (data.length > 0 && who != address(market) && who != address(weth) && who != address(usd)) {
            IDutchTakeCallee(who).dutchTakeCall(msg.sender, v.owe, v.slice, data);
        }
        if (!usd.transferFrom(msg.sender, address(this), v.owe)) revert TransferFailed();
        if (v.repay > 0) market.repayOnBehalf(v.usr, v.repay, address(this));
        uint256 penalty = v.owe - v.repay;
        if (penalty > 0) {
            _push(usd, treasury, penalty);
            emit PenaltyPaid(id, penalty);
        }

        emit Take(id, maxPrice, v.price, v.owe, v.tab, v.lot, v.usr, who);

        if (v.lot == 0 || v.tab == 0) {
            if (v.lot > 0) market.restoreCollateral(v.usr, v.lot, address(this));
            else if (v.debt > 0) market.writeOff(v.usr, v.debt);
            market.setLocked(v.usr, false);
            emit Settle(id, v.usr, v.lot, v.lot > 0 ? 0 : v.debt);
        }
    }

    /// @notice Restart a stale auction (older than tail, or price below cusp * top) from the
    ///         current oracle price; pay `kpr` tip + chip * tab unless the auction is dust.
    function redo(uint256 id, address kpr) external nonReentrant {
        Sale storage s = sales[id];
        address usr = s.usr;
        if (usr == address(0)) revert NotRunningAuction();
        (bool done,) = _status(s.tic, s.top);
        if (!done) revert CannotRedo();

        uint256 feed = market.price();
        uint256 top = feed.wmul(buf);
        if (top == 0) revert ZeroTopPrice();
        s.tic = uint96(block.timestamp);
        s.top = top;

        uint256 tab = s.tab;
        uint256 lot = s.lot;
        uint256 coin;
        uint256 _chost = chost;
        if (tab >= _chost && lot.wmul(feed) >= _chost) coin = _reward(kpr, tip + tab.wmul(chip));
        emit Redo(id, top, tab, lot, usr, kpr, coin);
    }

    // ------------------------------------------------------------------ views

    /// @notice Current price of auction `id` and whether it must be reset before any take.
    function getStatus(uint256 id) external view returns (bool needsRedo, uint256 price, uint256 lot, uint256 tab) {
        Sale storage s = sales[id];
        if (s.usr == address(0)) return (false, 0, 0, 0);
        (needsRedo, price) = _status(s.tic, s.top);
        return (needsRedo, price, s.lot, s.tab);
    }

    /// @notice Every running auction in one call (how keepers discover takes and redos).
    function activeAuctions() external view returns (AuctionView[] memory out) {
        uint256 n = active.length;
        out = new AuctionView[](n);
        for (uint256 i = 0; i < n; ++i) {
            uint256 id = active[i];
            Sale storage s = sales[id];
            (bool needsRedo, uint256 price) = _status(s.tic, s.top);
            out[i] = AuctionView({
                id: id, owner: s.usr, lot: s.lot, tab: s.tab, debtRemaining: s.debt, top: s.top, tic: s.tic,
                price: price, needsRedo: needsRedo
            });
        }
    }

    /// @notice Number of running auctions.
    function count() external view returns (uint256) {
        return active.length;
    }

    /// @notice USD left in the keeper-incentive reserve.
    function reserve() external view returns (uint256) {
        return usd.balanceOf(address(this));
    }

    /// @notice Curve price `elapsed` seconds after a start at `top` (for off-chain mirrors and tests).
    function priceAt(uint256 top, uint256 elapsed) external view returns (uint256) {
        return DutchPriceCurves.price(curve, top, elapsed, cut, step, tau);
    }

    // --------------------------------------------------------------- internal

    /// @dev Price the take (Maker's clip rules) and write the auction's new state before any
    ///      external call. Returns what moves: slice WETH out, owe USD in (repay to the debt,
    ///      the rest is penalty), and the auction's remaining lot/tab/debt.
    function _book(uint256 id, uint256 amt, uint256 maxPrice) internal returns (TakeVars memory v) {
        Sale storage s = sales[id];
        v.usr = s.usr;
        if (v.usr == address(0)) revert NotRunningAuction();
        bool done;
        (done, v.price) = _status(s.tic, s.top);
        if (done) revert NeedsRedo();
        if (maxPrice < v.price) revert TooExpensive();

        v.lot = s.lot;
        v.tab = s.tab;
        v.slice = v.lot < amt ? v.lot : amt;
        v.owe = v.slice.wmulUp(v.price);
        if (v.owe > v.tab) {
            // The whole tab is raised; buy only what it pays for.
            v.owe = v.tab;
            v.slice = v.owe.wdiv(v.price);
        } else if (v.owe < v.tab && v.slice < v.lot) {
            // A partial take must leave at least chost of tab, else the remainder is unsellable:
            // the payment is cut to leave exactly chost, or, when tab <= chost, refused.
            uint256 _chost = chost;
            if (v.tab - v.owe < _chost) {
                if (v.tab <= _chost) revert Chost();
                v.owe = v.tab - _chost;
                v.slice = v.owe.wdiv(v.price);
            }
        }
        v.tab -= v.owe;
        v.lot -= v.slice;

        v.debt = s.debt;
        v.repay = v.owe < v.debt ? v.owe : v.debt;
        v.debt -= v.repay;
        dirt -= v.lot == 0 ? v.tab + v.owe : v.owe;
        if (v.lot == 0 || v.tab == 0) {
            _remove(id, v.usr);
        } else {
            s.tab = v.tab;
            s.lot = v.lot;
            s.debt = v.debt;
        }
    }

    function _status(uint96 tic, uint256 top) internal view returns (bool done, uint256 price) {
        uint256 elapsed = block.timestamp - tic;
        price = DutchPriceCurves.price(curve, top, elapsed, cut, step, tau);
        done = elapsed > tail || price == 0 || price.wdiv(top) < cusp;
    }

    /// @dev Pay up to `coin` from the reserve; returns what was paid.
    function _reward(address kpr, uint256 coin) internal returns (uint256 paid) {
        if (coin == 0) return 0;
        uint256 bal = usd.balanceOf(address(this));
        paid = coin < bal ? coin : bal;
        if (paid > 0) _push(usd, kpr, paid);
    }

    function _remove(uint256 id, address usr) internal {
        uint256 pos = sales[id].pos;
        uint256 last = active[active.length - 1];
        if (id != last) {
            active[pos] = last;
            sales[last].pos = pos;
        }
        active.pop();
        delete sales[id];
        delete auctionOf[usr];
    }

    function _push(Token token, address to, uint256 amount) internal {
        if (amount > 0 && !token.transfer(to, amount)) revert TransferFailed();
    }
}
