// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {PerpMarket} from "../PerpMarket.sol";
import {DutchPriceCurves} from "../../mechanisms/DutchPriceCurves.sol";
import {PerpLiquidatorBase} from "./PerpLiquidatorBase.sol";

/// @title PerpDutchAuctionLiquidator
/// @notice Maker Liquidations 2.0 (dog/clip) adapted to perpetual positions.
///         - bark: an account below maintenance margin whose position is worth at least `dust`
///           at the mark is locked and its whole position is put up for auction. The auction
///           price starts at top = mark * (1 + buf) for a long and mark * (1 - buf) for a short,
///           and the discount to the kick mark grows along Maker's abacus: with
///           f(t) = (1 + buf) * cut^floor(t / step) (stairstep; exponential and linear too),
///           a long sells at mark0 * f(t) and a short at mark0 * (2 - f(t)). The caller gets
///           tip + chip * notional from a USD reserve held here (Maker mints it as protocol debt).
///         - take: anyone buys up to `amount` of the position at the current price; it is
///           transferred to the taker's account (which must meet initial margin), the owner
///           realising its PnL at that price; penaltyBps of the slice's notional goes from the
///           owner's margin to the insurance fund (Maker's chop). A partial take never leaves less
///           than `dust` of notional (it is cut to leave exactly that, or refused). When the lot is
///           gone the account is unlocked and a negative margin is settled by the market.
///         - redo: an auction older than `tail` or whose f(t)/(1+buf) fell below `cusp` restarts
///           from the current mark; the caller gets tip + chip unless the lot is dust.
contract PerpDutchAuctionLiquidator is PerpLiquidatorBase {
    error AuctionActive();
    error NotRunningAuction();
    error NeedsRedo();
    error CannotRedo();
    error TooExpensive(uint256 price, uint256 limit);
    error Chost();
    error Dust(uint256 notional, uint256 dust);

    event Bark(uint256 indexed id, address indexed account, int256 size, uint256 mark, uint256 notional);
    event Kick(uint256 indexed id, uint256 top, uint256 lot, address indexed account, address indexed kpr, uint256 coin);
    event Take(
        uint256 indexed id, address indexed account, address indexed taker, uint256 slice, uint256 price, uint256 lot, uint256 penalty
    );
    event Redo(uint256 indexed id, uint256 top, uint256 lot, address indexed account, address indexed kpr, uint256 coin);
    event Settle(uint256 indexed id, address indexed account, int256 marginLeft, uint256 badDebt);

    struct Sale {
        address usr;
        uint96 tic; // (re)start time
        bool long; // side of the position being sold
        uint256 lot; // WETH of position still for sale
        uint256 mark0; // mark at (re)start
        uint256 pos; // index in `active`
    }

    struct AuctionView {
        uint256 id;
        address account;
        bool long;
        uint256 lot;
        uint256 mark0;
        uint256 tic;
        uint256 price;
        bool needsRedo;
    }

    uint256 public immutable buf; // WAD, < 1
    uint256 public immutable tail; // seconds
    uint256 public immutable cusp; // WAD
    uint256 public immutable penaltyBps;
    uint256 public immutable dust; // USD WAD
    uint256 public immutable tip; // USD WAD
    uint256 public immutable chip; // WAD
    uint8 public immutable curve;
    uint256 public immutable cut; // RAY
    uint256 public immutable step;
    uint256 public immutable tau;

    uint256 public kicks;
    uint256[] internal active;
    mapping(uint256 => Sale) public sales;
    mapping(address => uint256) public auctionOf;

    /// @param auction [buf WAD, tail s, cusp WAD, penaltyBps, dust USD WAD]
    /// @param incentives [tip USD WAD, chip WAD]
    /// @param curveParams [cut RAY, step s, tau s]
    constructor(
        address market_,
        uint256[5] memory auction,
        uint256[2] memory incentives,
        uint8 curve_,
        uint256[3] memory curveParams
    ) PerpLiquidatorBase(market_) {
        if (auction[0] >= WAD || auction[3] > BPS || curve_ > DutchPriceCurves.LINEAR) revert InvalidParameters();
        if (curve_ != DutchPriceCurves.LINEAR && (curveParams[0] == 0 || curveParams[0] > DutchPriceCurves.RAY)) {
            revert InvalidParameters();
        }
        if ((curve_ == DutchPriceCurves.STAIRSTEP && curveParams[1] == 0) || (curve_ == DutchPriceCurves.LINEAR && curveParams[2] == 0)) {
            revert InvalidParameters();
        }
        buf = auction[0];
        tail = auction[1];
        cusp = auction[2];
        penaltyBps = auction[3];
        dust = auction[4];
        tip = incentives[0];
        chip = incentives[1];
        curve = curve_;
        cut = curveParams[0];
        step = curveParams[1];
        tau = curveParams[2];
    }

    /// @notice Lock `account` and auction its whole position; pay `kpr` tip + chip * notional.
    function bark(address account, address kpr) external returns (uint256 id) {
        if (auctionOf[account] != 0) revert AuctionActive();
        PerpMarket.AccountView memory v = _liquidatable(account);
        uint256 mark = market.markPrice();
        uint256 lot = v.size >= 0 ? uint256(v.size) : uint256(-v.size);
        uint256 notional = (lot * mark) / WAD;
        if (notional < dust) revert Dust(notional, dust);
        id = ++kicks;
        sales[id] = Sale({usr: account, tic: uint96(block.timestamp), long: v.size > 0, lot: lot, mark0: mark, pos: active.length});
        active.push(id);
        auctionOf[account] = id;
        market.setLocked(account, true);
        uint256 coin = _reward(kpr, tip + (notional * chip) / WAD);
        emit Bark(id, account, v.size, mark, notional);
        emit Kick(id, _priceAt(v.size > 0, mark, 0), lot, account, kpr, coin);
    }

    /// @notice Take up to `amount` WETH of auction `id`'s position at the current price into the
    ///         caller's account. `limit`: highest price for a long, lowest for a short (0: none).
    function take(uint256 id, uint256 amount, uint256 limit) external returns (uint256 slice, uint256 price) {
        Sale storage s = sales[id];
        address usr = s.usr;
        if (usr == address(0)) revert NotRunningAuction();
        bool done;
        (done, price) = _status(s);
        if (done) revert NeedsRedo();
        if (limit != 0 && (s.long ? price > limit : price < limit)) revert TooExpensive(price, limit);
        if (amount == 0) revert ZeroAmount();
        uint256 lot = s.lot;
        slice = amount < lot ? amount : lot;
        if (slice < lot && ((lot - slice) * price) / WAD < dust) {
            // Leave at least dust of notional, else the remainder could not be auctioned.
            uint256 keep = (dust * WAD + price - 1) / price;
            if (lot <= keep) revert Chost();
            slice = lot - keep;
        }
        lot -= slice;
        s.lot = lot;
        market.transferPosition(usr, msg.sender, slice, price);
        (, uint256 penalty) = _chargeFees(usr, (slice * price) / WAD, 0, penaltyBps, msg.sender);
        emit Take(id, usr, msg.sender, slice, price, lot, penalty);
        if (lot == 0) {
            _remove(id, usr);
            market.setLocked(usr, false);
            uint256 bad = _settle(usr);
            (int256 margin,,,) = market.accountOf(usr);
            emit Settle(id, usr, margin, bad);
        }
    }

    /// @notice Restart a stale auction from the current mark; pay `kpr` unless the lot is dust.
    function redo(uint256 id, address kpr) external {
        Sale storage s = sales[id];
        if (s.usr == address(0)) revert NotRunningAuction();
        (bool done,) = _status(s);
        if (!done) revert CannotRedo();
        uint256 mark = market.markPrice();
        s.tic = uint96(block.timestamp);
        s.mark0 = mark;
        uint256 notional = (s.lot * mark) / WAD;
        uint256 coin = notional >= dust ? _reward(kpr, tip + (notional * chip) / WAD) : 0;
        emit Redo(id, _priceAt(s.long, mark, 0), s.lot, s.usr, kpr, coin);
    }

    // ------------------------------------------------------------------ views

    /// @notice Whether auction `id` needs a redo, and its current price.
    function getStatus(uint256 id) external view returns (bool needsRedo, uint256 price) {
        Sale storage s = sales[id];
        if (s.usr == address(0)) return (false, 0);
        return _status(s);
    }

    /// @notice Every running auction in one call.
    function activeAuctions() external view returns (AuctionView[] memory out) {
        out = new AuctionView[](active.length);
        for (uint256 i = 0; i < active.length; ++i) {
            Sale storage s = sales[active[i]];
            (bool needsRedo, uint256 price) = _status(s);
            out[i] = AuctionView(active[i], s.usr, s.long, s.lot, s.mark0, s.tic, price, needsRedo);
        }
    }

    /// @notice Auction price of a `long` (or short) position `elapsed` seconds after a start at `mark0`.
    function priceAt(bool long, uint256 mark0, uint256 elapsed) external view returns (uint256) {
        return _priceAt(long, mark0, elapsed);
    }

    /// @notice USD left in the keeper-incentive reserve.
    function reserve() external view returns (uint256) {
        return usd.balanceOf(address(this));
    }

    // --------------------------------------------------------------- internal

    /// @dev f(t) = (1 + buf) * curve(t), WAD.
    function _factor(uint256 elapsed) internal view returns (uint256) {
        return DutchPriceCurves.price(curve, WAD + buf, elapsed, cut, step, tau);
    }

    function _priceAt(bool long, uint256 mark0, uint256 elapsed) internal view returns (uint256) {
        uint256 f = _factor(elapsed);
        return long ? (mark0 * f) / WAD : (mark0 * (2 * WAD - f)) / WAD;
    }

    function _status(Sale storage s) internal view returns (bool done, uint256 price) {
        uint256 elapsed = block.timestamp - s.tic;
        uint256 f = _factor(elapsed);
        price = s.long ? (s.mark0 * f) / WAD : (s.mark0 * (2 * WAD - f)) / WAD;
        done = elapsed > tail || f == 0 || (f * WAD) / (WAD + buf) < cusp;
    }

    function _reward(address kpr, uint256 coin) internal returns (uint256 paid) {
        uint256 bal = usd.balanceOf(address(this));
        paid = coin < bal ? coin : bal;
        if (paid != 0 && !usd.transfer(kpr, paid)) revert TransferFailed();
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
}
