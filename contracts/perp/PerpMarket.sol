// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Token} from "../core/Token.sol";
import {PriceOracle} from "../core/PriceOracle.sol";
import {PerpMath} from "./PerpMath.sol";
import {PerpVenue} from "./PerpVenue.sol";

/// @title PerpMarket
/// @notice A WETH-USD perpetual future with cross-margin USD accounts (one net position each),
///         traded against a virtual AMM (`PerpVenue`), marked at index + a bounded share of the
///         venue's premium, funded every interval in the Binance shape, and backstopped by an
///         insurance fund, auto-deleveraging and a bad-debt counter. Like `LendingMarket` it knows
///         nothing about HOW accounts are liquidated: one installed mechanism composes the
///         mechanism-only primitives (close through the venue, transfer at a price, pay from
///         margin, fee to the insurance fund, lock, settle a shortfall).
/// @dev Amounts and prices are WAD (USD and WETH have 18 decimals); sizes are signed WAD WETH.
///      Exact accounting identity, after every transaction:
///        usd.balanceOf(this) == sum(margin) + insuranceFund + venueBalance - badDebt
///      with venueBalance = -(realised PnL of every fill) =
///        (venue.quoteReserve - venue.initialQuoteReserve) - longOpenNotional + shortOpenNotional.
contract PerpMarket {
    using PerpMath for uint256;

    error InvalidParameters();
    error NotAdmin();
    error NotMechanism();
    error NotOracle();
    error MechanismAlreadyInstalled();
    error ZeroAddress();
    error ZeroAmount();
    error AccountLocked(address account);
    error InsufficientMargin(int256 equity, uint256 required);
    error InsufficientBalance();
    error InvalidAmount();
    error PriceLimit(uint256 quote, uint256 size);
    error TooManyAccounts();
    error PositionOpen();
    error SelfTransfer();
    error FundingNotDue(uint256 nextFundingTime);
    error VolatilityMarginOff();
    error NoNewRound(uint256 roundId);
    error TransferFailed();

    event MechanismInstalled(address indexed mechanism);
    event InsuranceFunded(address indexed from, uint256 amount);
    event Deposit(address indexed account, uint256 amount);
    event Withdraw(address indexed account, uint256 amount);
    /// @param kind KIND_TRADE, KIND_CLOSE, KIND_TRANSFER or KIND_ADL
    event PositionChanged(
        address indexed account,
        int256 sizeDelta,
        uint256 quote,
        int256 size,
        uint256 openNotional,
        int256 realisedPnl,
        uint8 kind
    );
    event FundingSettled(
        int256 rate, int256 premiumTwap, uint256 markPrice, uint256 intervals, uint256 paid, uint256 received, uint256 dust
    );
    /// @param amount positive: paid by the account; negative: received
    event FundingPaid(address indexed account, int256 amount);
    event MarginPaid(address indexed account, address indexed to, uint256 amount);
    event InsuranceFeeCharged(address indexed account, uint256 amount);
    event InsuranceDrawn(address indexed account, uint256 amount);
    event AutoDeleveraged(
        address indexed bankrupt, address indexed counterparty, uint256 size, uint256 bankruptcyPrice, uint256 amount
    );
    event BadDebtRecorded(address indexed account, uint256 amount);
    event LockChanged(address indexed account, bool isLocked);
    event VolatilityUpdated(
        uint256 indexed roundId, uint256 price, int256 logReturn, uint256 variance, uint256 mmf, uint256 imf
    );

    struct Account {
        int256 margin; // USD, realised PnL and settled funding included; negative only when bankrupt
        int256 size; // WETH, long > 0
        uint256 openNotional; // USD cost basis of the position (entry price * |size|)
        bool locked;
        uint32 slot; // 1 + index in openAccounts, 0 when flat
    }

    /// @dev Bankruptcy price of an account's position just before a mechanism last reduced it.
    struct Bankruptcy {
        uint256 price;
        bool long;
    }

    /// @dev A funding settlement, as it would run now.
    struct Funding {
        uint256 intervals;
        int256 twap;
        int256 rate; // per interval, times intervals
        uint256 mark;
        bool longsPay;
        uint256 paid; // total paid by the paying side (each payer rounded up)
        uint256 oiReceiving;
    }

    struct AccountView {
        address owner;
        int256 margin;
        int256 size;
        uint256 entryPrice;
        int256 unrealisedPnl;
        int256 fundingOwed;
        int256 equity;
        uint256 maintenanceMargin;
        uint256 initialMargin;
        int256 healthWad; // equity / maintenance margin; max int256 when flat
        bool locked;
        bool liquidatable;
    }

    struct MarketView {
        uint256 indexPrice;
        uint256 tradedPrice;
        uint256 markPrice;
        uint256 baseReserve;
        uint256 quoteReserve;
        uint256 longOpenInterest;
        uint256 shortOpenInterest;
        uint256 longOpenNotional;
        uint256 shortOpenNotional;
        uint256 insuranceFund;
        uint256 badDebt;
        int256 venueBalance;
        int256 longFundingIndex;
        int256 shortFundingIndex;
        uint256 lastFundingTime;
        int256 pendingFundingRate;
        uint256 imf;
        uint256 mmf;
        uint256 openAccounts;
        uint256 timestamp;
    }

    uint8 public constant KIND_TRADE = 0;
    uint8 public constant KIND_CLOSE = 1;
    uint8 public constant KIND_TRANSFER = 2;
    uint8 public constant KIND_ADL = 3;
    uint256 private constant WAD = 1e18;

    Token public immutable usd;
    PriceOracle public immutable oracle;
    PerpVenue public immutable venue;
    address public immutable admin;
    address public immutable treasury;
    uint256 public immutable baseImf;
    uint256 public immutable baseMmf;
    uint256 public immutable markWeight;
    uint256 public immutable maxMarkPremium;
    uint256 public immutable maxOpenAccounts;
    uint256 public immutable fundingInterval;
    int256 public immutable fundingInterest;
    int256 public immutable fundingBand;
    int256 public immutable fundingCap;
    bool public immutable volatilityMargin;
    uint256 public immutable volLambda;
    uint256 public immutable volMultiplier;
    uint256 public immutable volSqrtHorizon; // sqrt(horizon in updates), WAD
    uint256 public immutable volFloor;
    uint256 public immutable volCap;

    address public mechanism;
    /// @notice Initial and maintenance margin fractions in force (WAD).
    uint256 public imf;
    uint256 public mmf;

    mapping(address => Account) internal _accounts;
    mapping(address => Bankruptcy) public bankruptcyOf;
    address[] public openAccounts;
    uint256 public longOpenInterest;
    uint256 public shortOpenInterest;
    uint256 public longOpenNotional;
    uint256 public shortOpenNotional;
    uint256 public insuranceFund;
    uint256 public badDebt;
    /// @notice Minus the realised PnL of every fill: what the (virtual) venue holds for traders.
    int256 public venueBalance;

    uint256 public lastFundingTime; // the funding schedule: settlements at lastFundingTime + n * interval
    uint256 public fundingSettledAt; // start of the current premium-averaging window
    int256 public premiumCumulative; // integral of the sampled premium over time (WAD * s)
    int256 public premiumCumulativeAtSettle;
    int256 public lastPremium;
    uint256 public lastPremiumTime;
    /// @notice Cumulative funding paid per WETH of position (WAD USD), negative when received.
    int256 public longFundingIndex;
    int256 public shortFundingIndex;

    uint256 public variance; // EWMA of squared log returns per oracle update (WAD)
    uint256 public volRound;
    uint256 public volPrice;

    /// @param usd_ USD token (margin); oracle_ index price (in force, with its delay)
    /// @param venueMargin [venue base reserve WAD, IMF WAD, MMF WAD, max accounts with a position]
    /// @param mark [mark weight WAD, max premium entering the mark WAD]
    /// @param fundingInterval_ seconds between funding settlements
    /// @param funding [interest per interval, band around interest - premium, cap per interval] WAD
    /// @param vol [enabled 0/1, lambda WAD, multiplier k WAD, horizon in updates, MMF floor WAD,
    ///            MMF cap WAD, initial variance per update WAD]
    constructor(
        address usd_,
        address oracle_,
        address treasury_,
        uint256[4] memory venueMargin,
        uint256[2] memory mark,
        uint256 fundingInterval_,
        int256[3] memory funding,
        uint256[7] memory vol
    ) {
        if (usd_ == address(0) || oracle_ == address(0) || treasury_ == address(0)) revert ZeroAddress();
        if (
            venueMargin[2] == 0 || venueMargin[2] >= venueMargin[1] || venueMargin[1] > WAD || venueMargin[3] == 0
                || mark[0] > WAD || fundingInterval_ == 0 || funding[1] < 0 || funding[2] < 0
                || (vol[0] == 1 && (vol[1] >= WAD || vol[3] == 0 || vol[4] == 0 || vol[4] > vol[5] || vol[5] >= WAD))
        ) revert InvalidParameters();
        usd = Token(usd_);
        oracle = PriceOracle(oracle_);
        treasury = treasury_;
        admin = msg.sender;
        uint256 index = PriceOracle(oracle_).price();
        venue = new PerpVenue(venueMargin[0], index);
        baseImf = venueMargin[1];
        baseMmf = venueMargin[2];
        maxOpenAccounts = venueMargin[3];
        markWeight = mark[0];
        maxMarkPremium = mark[1];
        fundingInterval = fundingInterval_;
        fundingInterest = funding[0];
        fundingBand = funding[1];
        fundingCap = funding[2];
        volatilityMargin = vol[0] == 1;
        volLambda = vol[1];
        volMultiplier = vol[2];
        volSqrtHorizon = PerpMath.sqrt(vol[3] * WAD * WAD);
        volFloor = vol[4];
        volCap = vol[5];
        lastFundingTime = block.timestamp;
        fundingSettledAt = block.timestamp;
        lastPremiumTime = block.timestamp;
        if (vol[0] == 1) {
            (uint80 round,,,,) = PriceOracle(oracle_).latestRoundData();
            volRound = round;
            volPrice = index;
            variance = vol[6];
            (mmf, imf) = _volFractions(vol[6]);
        } else {
            (mmf, imf) = (venueMargin[2], venueMargin[1]);
        }
    }

    modifier onlyMechanism() {
        if (msg.sender != mechanism) revert NotMechanism();
        _;
    }

    modifier unlocked(address account) {
        if (_accounts[account].locked) revert AccountLocked(account);
        _;
    }

    /// @dev Funding due is settled before anything reads or changes a margin.
    modifier settlesFunding() {
        _settleFundingIfDue();
        _;
    }

    /// @dev Actions that trade on the venue sample the premium before and after.
    modifier samplesPremium() {
        _accruePremium();
        _;
        lastPremium = PerpMath.premium(venue.price(), oracle.price());
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

    /// @notice Add USD to the insurance fund (anyone; the deployer funds it at set-up).
    function fundInsurance(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        _pull(msg.sender, amount);
        insuranceFund += amount;
        emit InsuranceFunded(msg.sender, amount);
    }

    // ----------------------------------------------------------- trader actions

    /// @notice Add USD margin to the caller's account.
    function deposit(uint256 amount) external unlocked(msg.sender) {
        if (amount == 0) revert ZeroAmount();
        _pull(msg.sender, amount);
        _accounts[msg.sender].margin += int256(amount);
        emit Deposit(msg.sender, amount);
    }

    /// @notice Take USD margin out; an account with a position must keep equity >= IM.
    function withdraw(uint256 amount) external unlocked(msg.sender) settlesFunding {
        if (amount == 0) revert ZeroAmount();
        Account storage a = _accounts[msg.sender];
        if (a.margin < int256(amount)) revert InsufficientBalance();
        a.margin -= int256(amount);
        if (a.size != 0) {
            uint256 mark = markPrice();
            int256 equity = a.margin + _unrealisedPnl(a.size, a.openNotional, mark);
            uint256 im = _requirement(a.size, mark, imf);
            if (equity < int256(im)) revert InsufficientMargin(equity, im);
        }
        if (!usd.transfer(msg.sender, amount)) revert TransferFailed();
        emit Withdraw(msg.sender, amount);
    }

    /// @notice Trade `sizeDelta` WETH on the venue (positive buys). Opening, increasing or
    ///         flipping needs equity >= IM afterwards; a reduction only needs the account not to
    ///         be liquidatable afterwards (or, when it closes the position, margin >= 0).
    /// @param priceLimit worst average price accepted (max for buys, min for sells); 0: none
    /// @return quote USD paid (buy) or received (sell) on the venue
    function trade(int256 sizeDelta, uint256 priceLimit)
        external
        unlocked(msg.sender)
        settlesFunding
        samplesPremium
        returns (uint256 quote)
    {
        if (sizeDelta == 0) revert ZeroAmount();
        int256 oldSize = _accounts[msg.sender].size;
        quote = venue.swap(sizeDelta);
        _applyFill(msg.sender, sizeDelta, quote, KIND_TRADE);
        if (priceLimit != 0) {
            uint256 d = PerpMath.abs(sizeDelta);
            bool bad = sizeDelta > 0 ? quote * WAD > priceLimit * d : quote * WAD < priceLimit * d;
            if (bad) revert PriceLimit(quote, d);
        }
        _checkMargin(msg.sender, oldSize);
    }

    // ---------------------------------------------------------------- funding

    /// @notice Settle funding for every elapsed interval (anyone; reverts when none is due).
    function settleFunding() external {
        uint256 next = lastFundingTime + fundingInterval;
        if (block.timestamp < next) revert FundingNotDue(next);
        _settleFunding();
    }

    /// @notice Settle funding when an interval has elapsed; a no-op otherwise.
    function settleFundingIfDue() external {
        _settleFundingIfDue();
    }

    // -------------------------------------------------------- volatility margin

    /// @notice Fold the oracle round in force into the EWMA variance of log returns and reset the
    ///         margin fractions: MMF = clamp(k * sigma * sqrt(horizon), floor, cap),
    ///         IMF = MMF * baseImf / baseMmf (oracle updater only, once per round).
    function updateVolatility() external {
        if (!volatilityMargin) revert VolatilityMarginOff();
        if (msg.sender != oracle.updater()) revert NotOracle();
        (uint80 round, int256 answer,,,) = oracle.latestRoundData();
        if (round <= volRound) revert NoNewRound(round);
        uint256 p = uint256(answer);
        int256 r = PerpMath.lnWad((p * WAD) / volPrice);
        uint256 r2 = (PerpMath.abs(r) * PerpMath.abs(r)) / WAD;
        uint256 v = (volLambda * variance + (WAD - volLambda) * r2) / WAD;
        variance = v;
        volRound = round;
        volPrice = p;
        (uint256 m, uint256 i) = _volFractions(v);
        (mmf, imf) = (m, i);
        emit VolatilityUpdated(round, p, r, v, m, i);
    }

    // ------------------------------------------------- mechanism-only primitives

    /// @notice Close `amount` WETH of `account`'s position through the venue (reduce only).
    /// @return realisedPnl PnL realised into the account's margin; quote USD moved on the venue
    function closePosition(address account, uint256 amount)
        external
        onlyMechanism
        settlesFunding
        samplesPremium
        returns (int256 realisedPnl, uint256 quote)
    {
        int256 size = _accounts[account].size;
        if (amount == 0 || amount > PerpMath.abs(size)) revert InvalidAmount();
        _recordBankruptcy(account);
        int256 delta = size > 0 ? -int256(amount) : int256(amount);
        quote = venue.swap(delta);
        realisedPnl = _applyFill(account, delta, quote, KIND_CLOSE);
    }

    /// @notice Move `amount` WETH of `from`'s position to `to` at `price` (no venue trade): `from`
    ///         realises its PnL at `price`, `to` trades the same direction at `price` and must meet
    ///         the margin rule of a trade (IM when its risk grows).
    function transferPosition(address from, address to, uint256 amount, uint256 price)
        external
        onlyMechanism
        unlocked(to)
        settlesFunding
        returns (int256 realisedPnl)
    {
        if (from == to) revert SelfTransfer();
        int256 size = _accounts[from].size;
        if (amount == 0 || amount > PerpMath.abs(size)) revert InvalidAmount();
        _recordBankruptcy(from);
        uint256 quote = (amount * price) / WAD;
        int256 delta = size > 0 ? int256(amount) : -int256(amount);
        int256 oldTo = _accounts[to].size;
        realisedPnl = _applyFill(from, -delta, quote, KIND_TRANSFER);
        _applyFill(to, delta, quote, KIND_TRANSFER);
        _checkMargin(to, oldTo);
    }

    /// @notice Pay `amount` of `account`'s margin out in USD to `to` (keeper fees, protocol fees).
    function payFromMargin(address account, address to, uint256 amount) external onlyMechanism {
        _debit(account, amount);
        if (!usd.transfer(to, amount)) revert TransferFailed();
        emit MarginPaid(account, to, amount);
    }

    /// @notice Move `amount` of `account`'s margin into the insurance fund (liquidation fees).
    function chargeInsuranceFee(address account, uint256 amount) external onlyMechanism {
        _debit(account, amount);
        insuranceFund += amount;
        emit InsuranceFeeCharged(account, amount);
    }

    /// @notice Freeze or unfreeze trader actions on `account` (and its use as a transfer target).
    function setLocked(address account, bool isLocked) external onlyMechanism {
        _accounts[account].locked = isLocked;
        emit LockChanged(account, isLocked);
    }

    /// @notice Cover the negative margin of a flat `account`: the insurance fund first, then
    ///         auto-deleveraging of profitable opposite positions (ranked by PnL% x effective
    ///         leverage, highest first) at the account's bankruptcy price, and record what is left
    ///         as bad debt. A no-op when the margin is not negative.
    function settleShortfall(address account)
        external
        onlyMechanism
        settlesFunding
        samplesPremium
        returns (uint256 fromInsurance, uint256 fromAdl, uint256 bad)
    {
        Account storage a = _accounts[account];
        if (a.size != 0) revert PositionOpen();
        if (a.margin >= 0) return (0, 0, 0);
        uint256 deficit = uint256(-a.margin);
        fromInsurance = deficit < insuranceFund ? deficit : insuranceFund;
        if (fromInsurance != 0) {
            insuranceFund -= fromInsurance;
            a.margin += int256(fromInsurance);
            deficit -= fromInsurance;
            emit InsuranceDrawn(account, fromInsurance);
        }
        if (deficit != 0) {
            fromAdl = _autoDeleverage(account, deficit);
            deficit -= fromAdl;
        }
        if (deficit != 0) {
            bad = deficit;
            a.margin += int256(bad);
            badDebt += bad;
            emit BadDebtRecorded(account, bad);
        }
    }

    // ------------------------------------------------------------------ views

    /// @notice Index price: the oracle price in force.
    function indexPrice() public view returns (uint256) {
        return oracle.price();
    }

    /// @notice Mark price: index + markWeight * clamp(traded - index, +-maxMarkPremium * index).
    function markPrice() public view returns (uint256) {
        return PerpMath.markPrice(oracle.price(), venue.price(), markWeight, maxMarkPremium);
    }

    /// @notice Raw account fields.
    function accountOf(address owner)
        external
        view
        returns (int256 margin, int256 size, uint256 openNotional, bool locked)
    {
        Account storage a = _accounts[owner];
        return (a.margin, a.size, a.openNotional, a.locked);
    }

    /// @notice Number of accounts holding a position.
    function openAccountCount() external view returns (uint256) {
        return openAccounts.length;
    }

    /// @notice True when `owner` holds a position and its equity (funding due included) < MM.
    function isLiquidatable(address owner) external view returns (bool) {
        return _view(owner, _pendingFunding(), markPrice()).liquidatable;
    }

    /// @notice Snapshot of one account (funding due included).
    function snapshot(address owner) external view returns (AccountView memory) {
        return _view(owner, _pendingFunding(), markPrice());
    }

    /// @notice Snapshots of many accounts in one call (the pending funding is computed once).
    function snapshots(address[] calldata owners) external view returns (AccountView[] memory out) {
        Funding memory f = _pendingFunding();
        uint256 mark = markPrice();
        out = new AccountView[](owners.length);
        for (uint256 i = 0; i < owners.length; ++i) {
            out[i] = _view(owners[i], f, mark);
        }
    }

    /// @notice The funding settlement that would run now (intervals 0 when none is due).
    function pendingFunding() external view returns (Funding memory) {
        return _pendingFunding();
    }

    /// @notice Market-wide state in one call.
    function marketState() external view returns (MarketView memory v) {
        v.indexPrice = oracle.price();
        v.tradedPrice = venue.price();
        v.markPrice = PerpMath.markPrice(v.indexPrice, v.tradedPrice, markWeight, maxMarkPremium);
        v.baseReserve = venue.baseReserve();
        v.quoteReserve = venue.quoteReserve();
        v.longOpenInterest = longOpenInterest;
        v.shortOpenInterest = shortOpenInterest;
        v.longOpenNotional = longOpenNotional;
        v.shortOpenNotional = shortOpenNotional;
        v.insuranceFund = insuranceFund;
        v.badDebt = badDebt;
        v.venueBalance = venueBalance;
        v.longFundingIndex = longFundingIndex;
        v.shortFundingIndex = shortFundingIndex;
        v.lastFundingTime = lastFundingTime;
        v.pendingFundingRate = _pendingFunding().rate;
        v.imf = imf;
        v.mmf = mmf;
        v.openAccounts = openAccounts.length;
        v.timestamp = block.timestamp;
    }

    /// @notice ADL ranking score of `owner`: PnL% x effective leverage at the mark (WAD), as
    ///         BitMEX ranks (0 for a losing, flat or locked account).
    function adlScore(address owner) external view returns (uint256) {
        return _adlScore(_accounts[owner], markPrice());
    }

    // --------------------------------------------------------------- internal

    function _view(address owner, Funding memory f, uint256 mark) internal view returns (AccountView memory v) {
        Account storage a = _accounts[owner];
        v.owner = owner;
        v.margin = a.margin;
        v.size = a.size;
        v.locked = a.locked;
        v.fundingOwed = _fundingOwed(f, a.size);
        if (a.size == 0) {
            v.equity = a.margin - v.fundingOwed;
            v.healthWad = type(int256).max;
            return v;
        }
        uint256 s = PerpMath.abs(a.size);
        v.entryPrice = (a.openNotional * WAD) / s;
        v.unrealisedPnl = _unrealisedPnl(a.size, a.openNotional, mark);
        v.equity = a.margin + v.unrealisedPnl - v.fundingOwed;
        v.maintenanceMargin = _requirement(a.size, mark, mmf);
        v.initialMargin = _requirement(a.size, mark, imf);
        v.healthWad = v.maintenanceMargin == 0
            ? type(int256).max
            : (v.equity * int256(WAD)) / int256(v.maintenanceMargin);
        v.liquidatable = v.equity < int256(v.maintenanceMargin);
    }

    /// @dev Unrealised PnL at `mark`, rounded toward minus infinity.
    function _unrealisedPnl(int256 size, uint256 openNotional, uint256 mark) internal pure returns (int256) {
        if (size > 0) return int256((uint256(size) * mark) / WAD) - int256(openNotional);
        if (size < 0) return int256(openNotional) - int256(PerpMath.mulDivUp(uint256(-size), mark, WAD));
        return 0;
    }

    /// @dev ceil(notional * fraction) with notional = floor(|size| * mark).
    function _requirement(int256 size, uint256 mark, uint256 fraction) internal pure returns (uint256) {
        return PerpMath.mulDivUp((PerpMath.abs(size) * mark) / WAD, fraction, WAD);
    }

    /// @dev After a fill of `account` that started at `oldSize`: IM when risk grew (opened,
    ///      increased or flipped), otherwise not liquidatable, or margin >= 0 once flat.
    function _checkMargin(address account, int256 oldSize) internal view {
        Account storage a = _accounts[account];
        int256 size = a.size;
        if (size == 0) {
            if (a.margin < 0) revert InsufficientMargin(a.margin, 0);
            return;
        }
        uint256 mark = markPrice();
        int256 equity = a.margin + _unrealisedPnl(size, a.openNotional, mark);
        bool grows = oldSize == 0 || (oldSize > 0) != (size > 0) || PerpMath.abs(size) > PerpMath.abs(oldSize);
        uint256 required = _requirement(size, mark, grows ? imf : mmf);
        if (equity < int256(required)) revert InsufficientMargin(equity, required);
    }

    /// @dev Book a fill of `delta` WETH for `quote` USD on `account`: the part that reduces the
    ///      position realises PnL against the pro-rata cost basis (quote split pro rata), the
    ///      rest opens in delta's direction. Keeps open interest, open notional per side, the
    ///      venue balance and the list of open accounts in step.
    function _applyFill(address account, int256 delta, uint256 quote, uint8 kind) internal returns (int256 pnl) {
        Account storage a = _accounts[account];
        int256 size = a.size;
        uint256 d = PerpMath.abs(delta);
        uint256 on = a.openNotional;
        uint256 rest = quote;
        if (size != 0 && (size > 0) != (delta > 0)) {
            uint256 s = PerpMath.abs(size);
            uint256 reduce = d < s ? d : s;
            uint256 q = reduce == d ? quote : (quote * reduce) / d;
            uint256 basis = reduce == s ? on : (on * reduce) / s;
            pnl = size > 0 ? int256(q) - int256(basis) : int256(basis) - int256(q);
            _sideRemove(size > 0, reduce, basis);
            on -= basis;
            rest -= q;
            d -= reduce;
            size = size > 0 ? size - int256(reduce) : size + int256(reduce);
            a.margin += pnl;
            venueBalance -= pnl;
        }
        if (d != 0) {
            on += rest;
            _sideAdd(delta > 0, d, rest);
            size = delta > 0 ? size + int256(d) : size - int256(d);
        }
        a.size = size;
        a.openNotional = on;
        _relist(account, a, size);
        emit PositionChanged(account, delta, quote, size, on, pnl, kind);
    }

    function _sideAdd(bool long, uint256 amount, uint256 notional) private {
        if (long) {
            longOpenInterest += amount;
            longOpenNotional += notional;
        } else {
            shortOpenInterest += amount;
            shortOpenNotional += notional;
        }
    }

    function _sideRemove(bool long, uint256 amount, uint256 notional) private {
        if (long) {
            longOpenInterest -= amount;
            longOpenNotional -= notional;
        } else {
            shortOpenInterest -= amount;
            shortOpenNotional -= notional;
        }
    }

    /// @dev Keep `openAccounts` = the accounts with a position (bounded by maxOpenAccounts).
    function _relist(address account, Account storage a, int256 size) private {
        uint256 slot = a.slot;
        if (size != 0 && slot == 0) {
            if (openAccounts.length >= maxOpenAccounts) revert TooManyAccounts();
            openAccounts.push(account);
            a.slot = uint32(openAccounts.length);
        } else if (size == 0 && slot != 0) {
            address last = openAccounts[openAccounts.length - 1];
            openAccounts[slot - 1] = last;
            _accounts[last].slot = uint32(slot);
            openAccounts.pop();
            a.slot = 0;
        }
    }

    function _debit(address account, uint256 amount) private {
        Account storage a = _accounts[account];
        if (a.margin < int256(amount)) revert InsufficientBalance();
        a.margin -= int256(amount);
    }

    /// @dev Bankruptcy price (equity = 0) of `account`'s position now: long (ON - m) / q,
    ///      short (ON + m) / |q|, floored at 0.
    function _recordBankruptcy(address account) private {
        Account storage a = _accounts[account];
        uint256 s = PerpMath.abs(a.size);
        bool long = a.size > 0;
        int256 num = long ? int256(a.openNotional) - a.margin : int256(a.openNotional) + a.margin;
        uint256 price = num > 0 ? (uint256(num) * WAD) / s : 0;
        bankruptcyOf[account] = Bankruptcy(price, long);
    }

    // ------------------------------------------------------ premium and funding

    function _accruePremium() private {
        uint256 elapsed = block.timestamp - lastPremiumTime;
        if (elapsed != 0) {
            premiumCumulative += lastPremium * int256(elapsed);
            lastPremiumTime = block.timestamp;
        }
    }

    function _settleFundingIfDue() private {
        if (block.timestamp >= lastFundingTime + fundingInterval) _settleFunding();
    }

    /// @dev Pay every open position's funding now. Each payer pays ceil(|q| * mark * |F|); the
    ///      receivers share the payers' total pro rata to size, rounded down; the rounding dust
    ///      goes to the insurance fund, so payments + receipts + dust sum to exactly zero.
    function _settleFunding() private {
        Funding memory f = _pendingFunding();
        _accruePremium();
        uint256 received;
        if (f.paid != 0) {
            uint256 n = openAccounts.length;
            for (uint256 i = 0; i < n; ++i) {
                address who = openAccounts[i];
                Account storage a = _accounts[who];
                int256 owed = _fundingOwed(f, a.size);
                a.margin -= owed;
                if (owed < 0) received += uint256(-owed);
                emit FundingPaid(who, owed);
            }
            int256 perUnitPaid = int256((f.mark * PerpMath.abs(f.rate)) / WAD);
            int256 perUnitReceived = int256((f.paid * WAD) / f.oiReceiving);
            if (f.longsPay) {
                longFundingIndex += perUnitPaid;
                shortFundingIndex -= perUnitReceived;
            } else {
                shortFundingIndex += perUnitPaid;
                longFundingIndex -= perUnitReceived;
            }
            insuranceFund += f.paid - received;
        }
        lastFundingTime += f.intervals * fundingInterval;
        fundingSettledAt = block.timestamp;
        premiumCumulativeAtSettle = premiumCumulative;
        lastPremium = PerpMath.premium(venue.price(), oracle.price());
        emit FundingSettled(f.rate, f.twap, f.mark, f.intervals, f.paid, received, f.paid - received);
    }

    /// @dev The settlement due now: rate from the premium TWAP since the last settlement, the
    ///      payers' total computed account by account (so it equals what they will pay).
    function _pendingFunding() internal view returns (Funding memory f) {
        if (block.timestamp < lastFundingTime + fundingInterval) return f;
        f.intervals = (block.timestamp - lastFundingTime) / fundingInterval;
        int256 cum = premiumCumulative + lastPremium * int256(block.timestamp - lastPremiumTime);
        uint256 window = block.timestamp - fundingSettledAt;
        f.twap = window == 0 ? lastPremium : (cum - premiumCumulativeAtSettle) / int256(window);
        f.rate = PerpMath.fundingRate(f.twap, fundingInterest, fundingBand, fundingCap) * int256(f.intervals);
        f.mark = markPrice();
        f.longsPay = f.rate > 0;
        f.oiReceiving = f.longsPay ? shortOpenInterest : longOpenInterest;
        uint256 oiPaying = f.longsPay ? longOpenInterest : shortOpenInterest;
        if (f.rate == 0 || f.oiReceiving == 0 || oiPaying == 0) return f;
        uint256 n = openAccounts.length;
        uint256 r = PerpMath.abs(f.rate);
        for (uint256 i = 0; i < n; ++i) {
            int256 size = _accounts[openAccounts[i]].size;
            if ((size > 0) == f.longsPay) f.paid += _payerAmount(PerpMath.abs(size), f.mark, r);
        }
    }

    /// @dev Funding an account of `size` owes in settlement `f` (negative: receives).
    function _fundingOwed(Funding memory f, int256 size) internal pure returns (int256) {
        if (f.paid == 0 || size == 0) return 0;
        uint256 s = PerpMath.abs(size);
        if ((size > 0) == f.longsPay) return int256(_payerAmount(s, f.mark, PerpMath.abs(f.rate)));
        return -int256((f.paid * s) / f.oiReceiving);
    }

    /// @dev ceil(|q| * mark * |F|), the payer's payment.
    function _payerAmount(uint256 s, uint256 mark, uint256 rate) private pure returns (uint256) {
        return PerpMath.mulDivUp(s * mark, rate, WAD * WAD);
    }

    // ------------------------------------------------------- auto-deleveraging

    /// @dev Cover `deficit` by closing opposite positions in ranking order. Each is closed
    ///      through the venue (the venue stays the counterparty of every position) but realises
    ///      its PnL at the bankrupt account's bankruptcy price: the difference between its venue
    ///      execution and that price pays the deficit (never more than its margin after the close).
    function _autoDeleverage(address bankrupt, uint256 deficit) private returns (uint256 covered) {
        Bankruptcy memory b = bankruptcyOf[bankrupt];
        if (b.price == 0) return 0;
        uint256 mark = markPrice();
        uint256 n = openAccounts.length;
        address[] memory cand = new address[](n);
        uint256[] memory score = new uint256[](n);
        uint256 c;
        for (uint256 i = 0; i < n; ++i) {
            address who = openAccounts[i];
            Account storage o = _accounts[who];
            if ((o.size > 0) == b.long) continue; // same side as the bankrupt position
            uint256 sc = _adlScore(o, mark);
            if (sc == 0) continue;
            cand[c] = who;
            score[c] = sc;
            ++c;
        }
        while (covered < deficit) {
            uint256 best = type(uint256).max;
            uint256 top;
            for (uint256 j = 0; j < c; ++j) {
                if (cand[j] != address(0) && score[j] > top) {
                    top = score[j];
                    best = j;
                }
            }
            if (best == type(uint256).max) break;
            covered += _deleverage(bankrupt, cand[best], b, deficit - covered);
            cand[best] = address(0);
        }
    }

    /// @dev BitMEX ranking: PnL% x effective leverage = (uPnL / entry value) x (notional / equity),
    ///      for a profitable, unlocked position with positive equity; 0 otherwise.
    function _adlScore(Account storage o, uint256 mark) private view returns (uint256) {
        if (o.size == 0 || o.locked) return 0;
        int256 pnl = _unrealisedPnl(o.size, o.openNotional, mark);
        int256 equity = o.margin + pnl;
        if (pnl <= 0 || equity <= 0 || o.openNotional == 0) return 0;
        uint256 pnlPct = (uint256(pnl) * WAD) / o.openNotional;
        uint256 leverage = ((PerpMath.abs(o.size) * mark / WAD) * WAD) / uint256(equity);
        return (pnlPct * leverage) / WAD;
    }

    /// @dev Deleverage one opponent for up to `need`: size closed so that its gap covers `need`
    ///      (the gap is concave in the size, so ceil(s * need / gap(s)) is enough).
    function _deleverage(address bankrupt, address opp, Bankruptcy memory b, uint256 need)
        private
        returns (uint256 cover)
    {
        Account storage o = _accounts[opp];
        uint256 s = PerpMath.abs(o.size);
        bool oppLong = o.size > 0;
        uint256 gap = _adlGap(oppLong, s, b.price);
        if (gap == 0) return 0;
        uint256 x = s;
        if (gap > need) {
            x = PerpMath.mulDivUp(s, need, gap);
            if (x > s) x = s;
            gap = _adlGap(oppLong, x, b.price);
        }
        int256 delta = oppLong ? -int256(x) : int256(x);
        _applyFill(opp, delta, venue.swap(delta), KIND_ADL);
        cover = gap < need ? gap : need;
        if (o.margin <= 0) cover = 0;
        else if (int256(cover) > o.margin) cover = uint256(o.margin);
        if (cover != 0) {
            o.margin -= int256(cover);
            _accounts[bankrupt].margin += int256(cover);
        }
        emit AutoDeleveraged(bankrupt, opp, x, b.price, cover);
    }

    /// @dev What closing `x` of an opposite position on the venue yields beyond the bankruptcy
    ///      price: a long sells (venue proceeds - x * price), a short buys (x * price - venue cost).
    function _adlGap(bool oppLong, uint256 x, uint256 price) private view returns (uint256) {
        uint256 atPrice = (x * price) / WAD;
        if (oppLong) {
            uint256 proceeds = venue.quote(-int256(x));
            return proceeds > atPrice ? proceeds - atPrice : 0;
        }
        uint256 cost = venue.quote(int256(x));
        return atPrice > cost ? atPrice - cost : 0;
    }

    // ------------------------------------------------------- volatility margin

    /// @dev (MMF, IMF) for a per-update variance `v`.
    function _volFractions(uint256 v) private view returns (uint256 m, uint256 i) {
        uint256 sigma = PerpMath.sqrt(v * WAD);
        m = (((volMultiplier * sigma) / WAD) * volSqrtHorizon) / WAD;
        if (m < volFloor) m = volFloor;
        if (m > volCap) m = volCap;
        i = (m * baseImf) / baseMmf;
    }

    function _pull(address from, uint256 amount) private {
        if (!usd.transferFrom(from, address(this), amount)) revert TransferFailed();
    }
}
