// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {WadMath} from "../core/WadMath.sol";
import {Token} from "../core/Token.sol";
import {LendingMarket} from "../core/LendingMarket.sol";
import {ILiquidationMechanism} from "../core/ILiquidationMechanism.sol";

/// @title EnglishAuctionLiquidator
/// @notice Two-phase English collateral auctions in the style of MakerDAO's legacy Liquidations
///         1.2 (cat.bite + flip.tend/dent/deal/tick, the mechanism of 12 March 2020).
///         - bite: anyone (no reward) seizes an unhealthy position's whole collateral into an
///           auction and locks the position: lot = collateral, tab = debt * chop, bid = 0,
///           end = now + tau. A debt below `dust` is refused (Maker's vat kept vaults from
///           holding less than the ilk's dust, so no flip auction was smaller): an auction too
///           small to pay a bidder's gas would never be bid on.
///         - tend (phase 1): bidders raise the USD bid for the whole lot. A bid must beat the
///           current one by the factor beg (or equal tab) and may not exceed tab. The new bidder
///           refunds the previous one directly and pays the increase into this contract; the
///           bid deadline becomes tic = now + ttl. The opening bid may be zero (the "0 DAI" bids
///           of Black Thursday); every later bid must be strictly higher.
///         - dent (phase 2, once bid == tab): bidders keep bid == tab and accept less collateral,
///           each lot at most current lot / beg. The new bidder pays the full bid to the
///           previous one; the collateral given up is returned to the owner at deal.
///         - deal: once tic has passed (tic != 0) or end has passed, the high bidder receives the
///           lot; the bid repays the position's debt first and the rest (the penalty) goes to
///           the treasury; collateral given up in dent returns to the position; debt the bid did
///           not cover is written off as bad debt; the position is unlocked.
///         - tick: an auction that reached end with no bid restarts with end = now + tau.
/// @dev All amounts are WAD; the bid USD sits in this contract until deal.
contract EnglishAuctionLiquidator is ILiquidationMechanism {
    using WadMath for uint256;

    error HealthyPosition();
    error AuctionActive();
    error NullAuction();
    error NotRunningAuction();
    error AuctionFinished();
    error LotNotMatching();
    error BidNotMatching();
    error HigherThanTab();
    error BidNotHigher();
    error InsufficientIncrease();
    error TendPhase();
    error DentPhase();
    error LotNotLower();
    error InsufficientDecrease();
    error NotFinished();
    error BidAlreadyPlaced();
    error NotMarket();
    error Overflow();
    error InvalidParameters();
    error TransferFailed();
    error Dust(uint256 debt, uint256 dust);

    event Bite(uint256 indexed id, address indexed owner, uint256 lot, uint256 debt, uint256 tab, uint256 end);
    event Tend(uint256 indexed id, address indexed bidder, address indexed previousBidder, uint256 lot, uint256 bid,
        uint256 refund, uint256 tic);
    event Dent(uint256 indexed id, address indexed bidder, address indexed previousBidder, uint256 lot, uint256 bid,
        uint256 tic);
    event Deal(uint256 indexed id, address indexed owner, address indexed winner, uint256 lot, uint256 bid,
        uint256 debtRepaid, uint256 penalty, uint256 collateralReturned, uint256 badDebt);
    event Tick(uint256 indexed id, uint256 end);

    struct Auction {
        address usr; // position owner
        uint48 tic; // bid expiry (0: no bid yet)
        uint48 end; // auction expiry
        address guy; // high bidder (0: none yet)
        uint96 pos; // index in `active`
        uint128 bid; // USD bid
        uint128 lot; // WETH for sale
        uint128 tab; // USD wanted: debt * chop
        uint128 debt; // position debt at bite
        uint256 ret; // WETH given up in dent, returned to the owner at deal
    }

    struct AuctionView {
        uint256 id;
        address owner;
        address guy;
        uint256 lot;
        uint256 bid;
        uint256 tab;
        uint256 debt;
        uint256 returned;
        uint256 tic;
        uint256 end;
        bool biddable; // tend/dent accepted now
        bool dealable; // deal accepted now
        bool needsTick; // ended with no bid: tick restarts it
    }

    LendingMarket public immutable market;
    Token public immutable weth;
    Token public immutable usd;
    address public immutable treasury;

    uint256 public immutable chop; // liquidation penalty multiplier, WAD (1.13)
    uint256 public immutable beg; // minimum bid improvement factor, WAD (1.05)
    uint256 public immutable ttl; // seconds a bid stands before the auction can be dealt
    uint256 public immutable tau; // seconds from kick (or tick) to the auction's hard end
    uint256 public immutable dust; // smallest debt that may be bitten, USD WAD

    uint256 public kicks; // auctions ever started; ids are 1..kicks
    uint256[] internal active;
    mapping(uint256 => Auction) public auctions;
    mapping(address => uint256) public auctionOf; // owner -> running auction id (0: none)

    /// @param market_ the LendingMarket this contract liquidates for
    /// @param chop_ tab multiplier over debt, WAD (>= 1)
    /// @param beg_ minimum bid improvement factor, WAD (>= 1)
    /// @param ttl_ bid duration in seconds
    /// @param tau_ auction duration in seconds
    /// @param dust_ smallest debt that may be bitten, USD WAD
    constructor(address market_, uint256 chop_, uint256 beg_, uint256 ttl_, uint256 tau_, uint256 dust_) {
        if (chop_ < WadMath.WAD || beg_ < WadMath.WAD || ttl_ == 0 || tau_ == 0) revert InvalidParameters();
        if (ttl_ > type(uint48).max || tau_ > type(uint48).max) revert InvalidParameters();
        market = LendingMarket(market_);
        weth = Token(LendingMarket(market_).collateralToken());
        usd = Token(LendingMarket(market_).debtToken());
        treasury = LendingMarket(market_).treasury();
        chop = chop_;
        beg = beg_;
        ttl = ttl_;
        tau = tau_;
        dust = dust_;
        // The market pulls repayments and restored collateral from this contract.
        Token(LendingMarket(market_).collateralToken()).approve(market_, type(uint256).max);
        Token(LendingMarket(market_).debtToken()).approve(market_, type(uint256).max);
    }

    // ------------------------------------------------------------------ hooks

    /// @notice WETH held for `owner`: the lot in auction plus collateral given up in dent.
    function heldCollateral(address owner) external view returns (uint256 collateral, uint256 debtAsset) {
        uint256 id = auctionOf[owner];
        if (id == 0) return (0, 0);
        Auction storage a = auctions[id];
        return (uint256(a.lot) + a.ret, 0);
    }

    /// @notice No per-position state to update; callable by the market only.
    function onPositionUpdated(address) external view {
        if (msg.sender != address(market)) revert NotMarket();
    }

    // ---------------------------------------------------------------- actions

    /// @notice Seize `owner`'s whole collateral into a new auction (cat.bite + flip.kick).
    function bite(address owner) external returns (uint256 id) {
        if (auctionOf[owner] != 0) revert AuctionActive();
        LendingMarket m = market;
        (uint256 lot, uint256 debt, uint256 hf,) = m.positionOf(owner);
        if (debt == 0 || hf >= WadMath.WAD) revert HealthyPosition();
        if (debt < dust) revert Dust(debt, dust);
        if (lot == 0) revert NullAuction();
        uint256 tab = debt.wmul(chop);
        if (tab > type(uint128).max || lot > type(uint128).max) revert Overflow();
        uint256 end = block.timestamp + tau;

        id = ++kicks;
        Auction storage a = auctions[id];
        a.usr = owner;
        a.end = uint48(end);
        a.pos = uint96(active.length);
        a.lot = uint128(lot);
        a.tab = uint128(tab);
        a.debt = uint128(debt);
        active.push(id);
        auctionOf[owner] = id;

        m.setLocked(owner, true);
        m.seizeCollateral(owner, lot, address(this));
        emit Bite(id, owner, lot, debt, tab, end);
    }

    /// @notice Phase 1: bid `bid` USD for the whole lot (`lot` must equal it).
    function tend(uint256 id, uint256 lot, uint256 bid) external {
        Auction storage a = auctions[id];
        address guy = a.guy;
        uint256 cur = a.bid;
        uint256 tab = a.tab;
        _checkLive(a);
        if (lot != a.lot) revert LotNotMatching();
        if (cur == tab && guy != address(0)) revert DentPhase();
        if (bid > tab) revert HigherThanTab();
        if (guy != address(0)) {
            if (bid <= cur) revert BidNotHigher();
            if (bid * WadMath.WAD < beg * cur && bid != tab) revert InsufficientIncrease();
        }
        uint256 tic = block.timestamp + ttl;
        a.guy = msg.sender;
        a.bid = uint128(bid);
        a.tic = uint48(tic);

        // The new bidder refunds the previous one directly and pays the increase into custody.
        uint256 refund = msg.sender != guy ? cur : 0;
        if (refund != 0) _pull(usd, msg.sender, guy, refund);
        if (bid != cur) _pull(usd, msg.sender, address(this), bid - cur);
        emit Tend(id, msg.sender, guy, lot, bid, refund, tic);
    }

    /// @notice Phase 2: keep the bid at tab (`bid` must equal it) and accept only `lot` WETH.
    function dent(uint256 id, uint256 lot, uint256 bid) external {
        Auction storage a = auctions[id];
        address guy = a.guy;
        uint256 cur = a.bid;
        uint256 curLot = a.lot;
        _checkLive(a);
        if (guy == address(0) || cur != a.tab) revert TendPhase();
        if (bid != cur) revert BidNotMatching();
        if (lot >= curLot) revert LotNotLower();
        if (lot * beg > curLot * WadMath.WAD) revert InsufficientDecrease();
        uint256 tic = block.timestamp + ttl;
        a.guy = msg.sender;
        a.lot = uint128(lot);
        a.ret += curLot - lot;
        a.tic = uint48(tic);

        // The new bidder pays the full bid to the previous one.
        if (msg.sender != guy) _pull(usd, msg.sender, guy, bid);
        emit Dent(id, msg.sender, guy, lot, bid, tic);
    }

    /// @notice Settle a finished auction: lot to the winner, bid to the debt then the treasury,
    ///         dent leftovers back to the position, any uncovered debt written off.
    function deal(uint256 id) external {
        Auction memory a = auctions[id];
        if (a.usr == address(0)) revert NotRunningAuction();
        if (a.tic == 0 || (block.timestamp < a.tic && block.timestamp < a.end)) revert NotFinished();
        _remove(id, a.usr, a.pos);

        uint256 bid = a.bid;
        uint256 debt = a.debt;
        uint256 repay = bid < debt ? bid : debt;
        uint256 penalty = bid - repay;
        uint256 bad = debt - repay;
        LendingMarket m = market;
        _push(weth, a.guy, a.lot);
        if (repay != 0) m.repayOnBehalf(a.usr, repay, address(this));
        if (penalty != 0) _push(usd, treasury, penalty);
        if (a.ret != 0) m.restoreCollateral(a.usr, a.ret, address(this));
        if (bad != 0) m.writeOff(a.usr, bad);
        m.setLocked(a.usr, false);
        emit Deal(id, a.usr, a.guy, a.lot, bid, repay, penalty, a.ret, bad);
    }

    /// @notice Restart an auction that reached its end with no bid.
    function tick(uint256 id) external {
        Auction storage a = auctions[id];
        if (a.usr == address(0)) revert NotRunningAuction();
        if (block.timestamp < a.end) revert NotFinished();
        if (a.tic != 0) revert BidAlreadyPlaced();
        uint256 end = block.timestamp + tau;
        a.end = uint48(end);
        emit Tick(id, end);
    }

    // ------------------------------------------------------------------ views

    /// @notice Every running auction in one call (how keepers discover bids, deals and ticks).
    function activeAuctions() external view returns (AuctionView[] memory out) {
        uint256 n = active.length;
        out = new AuctionView[](n);
        for (uint256 i = 0; i < n; ++i) {
            uint256 id = active[i];
            Auction storage a = auctions[id];
            uint256 tic = a.tic;
            uint256 end = a.end;
            bool live = (tic == 0 || block.timestamp < tic) && block.timestamp < end;
            out[i] = AuctionView({
                id: id, owner: a.usr, guy: a.guy, lot: a.lot, bid: a.bid, tab: a.tab, debt: a.debt, returned: a.ret,
                tic: tic, end: end, biddable: live, dealable: tic != 0 && !live, needsTick: tic == 0 && !live
            });
        }
    }

    /// @notice Number of running auctions.
    function count() external view returns (uint256) {
        return active.length;
    }

    // --------------------------------------------------------------- internal

    /// @dev Bids are accepted while neither the bid deadline nor the auction end has passed.
    function _checkLive(Auction storage a) internal view {
        if (a.usr == address(0)) revert NotRunningAuction();
        uint256 tic = a.tic;
        if ((tic != 0 && block.timestamp >= tic) || block.timestamp >= a.end) revert AuctionFinished();
    }

    function _remove(uint256 id, address usr, uint256 pos) internal {
        uint256 last = active[active.length - 1];
        if (id != last) {
            active[pos] = last;
            auctions[last].pos = uint96(pos);
        }
        active.pop();
        delete auctions[id];
        delete auctionOf[usr];
    }

    function _pull(Token token, address from, address to, uint256 amount) internal {
        if (!token.transferFrom(from, to, amount)) revert TransferFailed();
    }

    function _push(Token token, address to, uint256 amount) internal {
        if (amount > 0 && !token.transfer(to, amount)) revert TransferFailed();
    }
}
