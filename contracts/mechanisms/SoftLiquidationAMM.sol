// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {LendingMarket} from "../core/LendingMarket.sol";
import {Token} from "../core/Token.sol";
import {PriceOracle} from "../core/PriceOracle.sol";
import {ILiquidationMechanism} from "../core/ILiquidationMechanism.sol";

/// @title SoftLiquidationAMM
/// @notice Gradual ("soft") liquidation in the style of Curve's crvUSD LLAMMA.
///
///         A borrower's collateral sits in N adjacent price bands of an AMM instead of in the
///         lending market. Band n covers oracle prices p_up(n) = basePrice * ((A-1)/A)^n down to
///         p_down(n) = p_up(n+1). Within a band with reserves x (USD) and y (WETH) the AMM trades
///         on the invariant (f + x)(g + y) = Inv with
///             f = p_o^2 / p_up * A * y0,   g = p_up / p_o * (A - 1) * y0,
///         where y0 solves the band's quadratic p_o*A*y0^2 - (p_o^2*A/p_up*y + p_up*(A-1)/p_o*x)*y0 - x*y = 0
///         (equivalent to Curve's Inv = p_o * A^2 * y0^2). The AMM price (f + x)/(g + y) runs from
///         p_o^3/p_up^2 (band all WETH) to p_o^3/p_down^2 (band all USD), so when the oracle price falls
///         into a band the AMM sells WETH below market and arbitrageurs convert the band to USD;
///         when the price recovers they sell WETH back (de-liquidation).
///
///         Bands are shared by all positions (per-band shares), so an exchange only loops over
///         the bands it crosses. Bands above the active band (n < activeBand) hold only USD, bands
///         below it (n > activeBand) only WETH; only the active band can hold both.
///
///         The AMM's oracle price p_o is, as in crvUSD, an exponential moving average of the
///         market's oracle (Curve's EmaPriceOracle: p <- p_cur * (1 - a) + p_last * a with
///         a = exp(-dt / maExpTime), Curve's integer exp), integrated exactly over the oracle's
///         rounds (each round's answer from the moment it came into force), and written lazily on
///         every state-changing call. With the dynamic fee on, p_o is also limited and the fee raised
///         as in AMM.vy: `limit_p_o` (an oracle move of ratio r within PREV_P_O_DELAY of the previous
///         write raises the fee to (old_fee + 1 - r^3) * (remaining of the delay) / delay, and p_o
///         moves at most 1.25x per write) and `get_dynamic_fee` (a band whose AMM price range lies
///         away from p_o charges a quarter of the relative distance). maExpTime = 0 / dynamicFee =
///         false switch each off (then p_o is the market's oracle and the fee is feeBps).
///
///         Simplifications (see sandbox/mechanisms/soft.py for the full list): no interest, fee
///         stays in the band (admin fee 0); a position receives the same number
///         of shares in each of its bands, which spreads its collateral evenly in amount as long as
///         every band has the same WETH-per-share (always true for fresh bands).
contract SoftLiquidationAMM is ILiquidationMechanism {
    // ------------------------------------------------------------------ errors
    error NotMarket();
    error InvalidParameters();
    error HealthyPosition();
    error NoDebt();
    error DebtTooHigh();
    error CollateralTooSmall();
    error PositionInSoftLiquidation();
    error SlippageExceeded();
    error AmountTooLarge();
    error BandOutOfRange();
    error TransferFailed();

    // ------------------------------------------------------------------ events
    event Exchange(
        address indexed buyer,
        address indexed to,
        bool buyCollateral,
        uint256 amountIn,
        uint256 amountOut,
        int256 bandFrom,
        int256 bandTo
    );
    event BandUpdated(int256 indexed n, uint256 x, uint256 y, uint256 shares);
    event ActiveBandChanged(int256 n);
    event PositionBanded(address indexed owner, int256 n1, int256 n2, uint256 collateral, uint256 sharesPerBand);
    event PositionUnbanded(address indexed owner, uint256 collateral, uint256 usd);
    event PositionDebtUpdated(address indexed owner, uint256 debt);
    event BandsInitialized(int256 fromBand, int256 toBand);
    event HardLiquidation(
        address indexed owner,
        address indexed keeper,
        uint256 debtRepaid,
        uint256 collateralOut,
        uint256 usdOut,
        uint256 badDebt
    );

    // --------------------------------------------------------------- constants
    uint256 private constant WAD = 1e18;
    /// @notice Band indices are limited to [MIN_BAND, MAX_BAND] around the deploy price.
    int256 public constant MIN_BAND = -1024;
    int256 public constant MAX_BAND = 1024;
    /// @notice Most bands one exchange (or quote) walks through, empty ones included.
    uint256 public constant MAX_BANDS_CROSSED = 128;
    /// @notice Most bands scanned when a new position's bands lie above the active band.
    uint256 public constant MAX_SKIP_BANDS = 64;
    /// @notice Most oracle rounds one EMA update integrates one by one (older ones: Curve's lazy rule).
    uint256 public constant MAX_EMA_ROUNDS = 16;
    /// @notice AMM.vy: an oracle move raises the fee for this long after the previous write.
    uint256 public constant PREV_P_O_DELAY = 120;
    /// @notice AMM.vy: largest relative move of p_o per write while the delay runs (<= 2^(1/3)).
    uint256 public constant MAX_P_O_CHG = 12500 * 1e14;
    uint256 private constant MIN_MA_EXP_TIME = 30;
    uint256 private constant MAX_MA_EXP_TIME = 365 * 86400;

    // ------------------------------------------------------------------ storage
    struct Band {
        uint88 x; // USD
        uint80 y; // WETH
        uint80 shares;
        bool touched; // set on first write and never cleared: later writes cost 5k gas, not 20k
    }

    struct Position {
        uint96 shares; // shares held in each of the position's bands
        uint96 debt; // market debt recorded at the last update
        int64 n1; // top band (highest price); bands n1 .. n1 + N - 1
    }

    /// @dev New states of the bands a quote touched, in walk order.
    struct Steps {
        int256[] n;
        uint256[] x;
        uint256[] y;
        uint256 count;
        uint256 po; // oracle price (p_o: EMA, limited)
        uint256 feeWad; // max(feeBps, the oracle-move fee), WAD
        uint256 rem; // input left
        uint256 out; // output so far
    }

    LendingMarket public immutable market;
    Token public immutable weth;
    Token public immutable usd;
    PriceOracle public immutable oracle;
    uint256 public immutable bandsN;
    uint256 public immutable amplification;
    uint256 public immutable liquidationDiscountWad;
    uint256 public immutable loanDiscountWad;
    uint256 public immutable feeBps;
    /// @notice Oracle price at deploy: p_up(0).
    uint256 public immutable basePrice;
    /// @notice (A - 1) / A, WAD.
    uint256 public immutable bandRatioWad;
    /// @notice Mean over k = 1..N of ((A-1)/A)^k, WAD: average band bottom relative to p_up(n1).
    uint256 public immutable meanBottomFactorWad;
    /// @notice EMA time constant of p_o in seconds (crvUSD ETH: 866 = 600 s / ln 2); 0 = no EMA.
    uint256 public immutable maExpTime;
    /// @notice AMM.vy's dynamic fee and p_o limit on (else the fee is feeBps and p_o unlimited).
    bool public immutable dynamicFee;
    /// @dev The oracle's delaySeconds: round r is in force from updatedAt(r) + delay.
    uint256 private immutable oracleDelay;

    /// @notice EMA state at the last write: p_o, when, and the newest oracle round counted.
    struct EmaState {
        uint128 price;
        uint48 time;
        uint80 round;
    }

    /// @notice AMM.vy's (old_p_o, old_dfee, prev_p_o_time).
    struct FeeState {
        uint128 oldPo;
        uint64 oldDfee;
        uint48 prevTime;
    }

    struct EmaResult {
        uint256 price;
        uint256 input;
        uint256 round;
    }

    EmaState public ema;
    FeeState public feeState;
    /// @notice Oracle answer in force at ema.time (the EMA's input since then).
    uint256 public emaInput;

    int256 public activeBand;
    /// @notice Lowest / highest band index that may hold liquidity (minBand > maxBand: none yet).
    int256 public minBand = MAX_BAND + 1;
    int256 public maxBand = MIN_BAND - 1;

    mapping(int256 => Band) public bands;
    mapping(address => Position) public positions;

    constructor(
        address market_,
        uint256 bandsN_,
        uint256 amplification_,
        uint256 liquidationDiscountWad_,
        uint256 loanDiscountWad_,
        uint256 feeBps_,
        uint256 maExpTime_,
        bool dynamicFee_
    ) {
        if (
            bandsN_ < 4 || bandsN_ > 50 || amplification_ < 30 || amplification_ > 10_000
                || liquidationDiscountWad_ >= loanDiscountWad_ || loanDiscountWad_ >= WAD || feeBps_ >= 1_000
                || (maExpTime_ != 0 && (maExpTime_ < MIN_MA_EXP_TIME || maExpTime_ > MAX_MA_EXP_TIME))
        ) revert InvalidParameters();
        LendingMarket m = LendingMarket(market_);
        market = m;
        weth = Token(m.collateralToken());
        usd = Token(m.debtToken());
        oracle = PriceOracle(m.oracle());
        bandsN = bandsN_;
        amplification = amplification_;
        liquidationDiscountWad = liquidationDiscountWad_;
        loanDiscountWad = loanDiscountWad_;
        feeBps = feeBps_;
        basePrice = PriceOracle(m.oracle()).price();
        uint256 r = (amplification_ - 1) * WAD / amplification_;
        bandRatioWad = r;
        uint256 term = WAD;
        uint256 sum;
        for (uint256 k = 0; k < bandsN_; ++k) {
            term = term * r / WAD;
            sum += term;
        }
        meanBottomFactorWad = sum / bandsN_;
        maExpTime = maExpTime_;
        dynamicFee = dynamicFee_;
        PriceOracle o = PriceOracle(m.oracle());
        oracleDelay = o.delaySeconds();
        uint256 p0 = o.price();
        if (maExpTime_ != 0) {
            (uint80 round,,,,) = o.latestRoundData();
            ema = EmaState(uint128(p0), uint48(block.timestamp), round);
            emaInput = p0;
        }
        if (dynamicFee_) feeState = FeeState(uint128(p0), 0, uint48(block.timestamp));
        // The market pulls from this contract in restoreCollateral / repayOnBehalf.
        Token(m.collateralToken()).approve(market_, type(uint256).max);
        Token(m.debtToken()).approve(market_, type(uint256).max);
    }

    /// @notice Pre-initialise the storage of bands [fromBand, toBand] (anyone may pay for it). A
    ///         sandbox gas optimisation: a position's first deposit into an initialised band
    ///         costs ~5k gas instead of ~22k, which keeps a borrower's open() within 500k gas.
    function initBands(int256 fromBand, int256 toBand) external {
        if (fromBand > toBand || fromBand < MIN_BAND || toBand > MAX_BAND) revert BandOutOfRange();
        for (int256 n = fromBand; n <= toBand; ++n) {
            bands[n].touched = true;
        }
        emit BandsInitialized(fromBand, toBand);
    }

    // ================================================================ band maths

    /// @notice Oracle price at the top of band n: basePrice * ((A-1)/A)^n (n < 0: divided by the ratio).
    function pUp(int256 n) public view returns (uint256) {
        if (n < MIN_BAND || n > MAX_BAND + 1) revert BandOutOfRange();
        if (n >= 0) return basePrice * _rpow(uint256(n)) / WAD;
        return basePrice * WAD / _rpow(uint256(-n));
    }

    /// @notice (p_up(n), p_down(n)) of band n.
    function bandPrices(int256 n) external view returns (uint256 up, uint256 down) {
        return (pUp(n), pUp(n + 1));
    }

    /// @dev ((A-1)/A)^k in WAD by binary exponentiation (mirrored exactly in Python).
    function _rpow(uint256 k) private view returns (uint256 result) {
        result = WAD;
        uint256 base = bandRatioWad;
        while (k != 0) {
            if (k & 1 != 0) result = result * base / WAD;
            k >>= 1;
            if (k != 0) base = base * base / WAD;
        }
    }

    /// @dev y0 of a band from its reserves: positive root of p_o*A*y0^2 - B*y0 - x*y = 0.
    function _y0(uint256 x, uint256 y, uint256 po, uint256 pu) private view returns (uint256) {
        uint256 a = amplification;
        uint256 b = po * po / pu * a * y / WAD + pu * (a - 1) * x / po;
        uint256 d = b * b + 4 * a * (po * y / WAD) * x;
        return (b + _sqrt(d)) * WAD / (2 * po * a);
    }

    /// @dev f, g and the invariant (f + x)(g + y) of a band at oracle price po.
    function _curve(uint256 x, uint256 y, uint256 po, uint256 pu)
        private
        view
        returns (uint256 f, uint256 g, uint256 inv)
    {
        uint256 y0 = _y0(x, y, po, pu);
        uint256 a = amplification;
        f = po * po / pu * a * y0 / WAD;
        g = pu * (a - 1) * y0 / po;
        inv = (f + x) * (g + y);
    }

    /// @dev Trade up to `rem` (gross, fee included) into one band. Returns the band's new reserves,
    ///      the output and the input used. Outputs round down and new reserves up (band-favourable).
    ///      `keep` is 1 - the band's fee, WAD.
    function _tradeBand(bool buy, uint256 x, uint256 y, uint256 po, uint256 pu, uint256 rem, uint256 keep)
        private
        view
        returns (uint256 nx, uint256 ny, uint256 out, uint256 used)
    {
        (uint256 f, uint256 g, uint256 inv) = _curve(x, y, po, pu);
        if (buy) {
            if (g == 0) return (x, y, 0, 0);
            (nx, ny, out, used) = _swapInBand(x, y, f, g, inv, rem, keep);
        } else {
            if (f == 0) return (x, y, 0, 0);
            (ny, nx, out, used) = _swapInBand(y, x, g, f, inv, rem, keep);
        }
    }

    /// @dev One side of a band trade on (fIn + inR)(gOut + outR) = inv: the curve sees the input
    ///      net of the fee, the band keeps all of it. If `rem` empties the band of the output
    ///      token, only the input needed for that is used.
    function _swapInBand(uint256 inR, uint256 outR, uint256 fIn, uint256 gOut, uint256 inv, uint256 rem, uint256 keep)
        private
        pure
        returns (uint256 newIn, uint256 newOut, uint256 out, uint256 used)
    {
        uint256 need = _ceilDiv((_ceilDiv(inv, gOut) - fIn - inR) * WAD, keep);
        if (rem >= need) return (inR + need, 0, outR, need);
        uint256 q = _ceilDiv(inv, fIn + inR + rem * keep / WAD);
        newOut = q > gOut ? q - gOut : 0;
        if (newOut > outR) newOut = outR;
        return (inR + rem, newOut, outR - newOut, rem);
    }

    /// @dev Walk the bands from the active band, trading `amountIn`. Returns the touched bands' new
    ///      states (in walk order) without writing anything.
    function _quote(bool buy, uint256 amountIn, uint256 po, uint256 feeWad)
        private
        view
        returns (uint256 used, uint256 out, Steps memory steps)
    {
        steps.n = new int256[](MAX_BANDS_CROSSED);
        steps.x = new uint256[](MAX_BANDS_CROSSED);
        steps.y = new uint256[](MAX_BANDS_CROSSED);
        int256 lo = minBand;
        int256 hi = maxBand;
        if (amountIn == 0 || lo > hi) return (0, 0, steps);
        steps.po = po;
        steps.feeWad = feeWad;
        int256 n = activeBand;
        if (buy && n < lo) n = lo;
        if (!buy && n > hi) n = hi;
        steps.rem = amountIn;
        for (uint256 i = 0; i < MAX_BANDS_CROSSED; ++i) {
            _visit(buy, n, steps);
            if (steps.rem == 0 || (buy ? n >= hi : n <= lo)) break;
            n = buy ? n + 1 : n - 1;
        }
        used = amountIn - steps.rem;
        out = steps.out;
    }

    /// @dev Trade into band n if it holds the output token; record its new state in `w`.
    function _visit(bool buy, int256 n, Steps memory w) private view {
        Band memory b = bands[n];
        if (buy ? b.y == 0 : b.x == 0) return;
        uint256 pu = pUp(n);
        uint256 keep = WAD - _bandFee(w.po, pu, w.feeWad);
        (uint256 nx, uint256 ny, uint256 o, uint256 u) = _tradeBand(buy, b.x, b.y, w.po, pu, w.rem, keep);
        if (u != 0 || o != 0) {
            uint256 c = w.count++;
            w.n[c] = n;
            w.x[c] = nx;
            w.y[c] = ny;
            w.rem -= u;
            w.out += o;
        }
    }

    // ================================================================ exchange

    /// @notice Output of exchange(buyCollateral, amountIn) at the current state (input possibly not all used).
    function getAmountOut(bool buyCollateral, uint256 amountIn) external view returns (uint256 amountOut) {
        (uint256 po, uint256 feeWad) = _priceOracle();
        (, amountOut,) = _quote(buyCollateral, amountIn, po, feeWad);
    }

    /// @notice (input used, output, last band traded) of exchange(buyCollateral, amountIn).
    function quoteExchange(bool buyCollateral, uint256 amountIn)
        external
        view
        returns (uint256 used, uint256 out, int256 bandTo)
    {
        Steps memory steps;
        (uint256 po, uint256 feeWad) = _priceOracle();
        (used, out, steps) = _quote(buyCollateral, amountIn, po, feeWad);
        bandTo = steps.count == 0 ? activeBand : steps.n[steps.count - 1];
    }

    /// @notice Trade with the bands: buyCollateral = pay USD, receive WETH (soft liquidation);
    ///         otherwise pay WETH, receive USD (de-liquidation). Only the input actually used is
    ///         pulled from msg.sender; the fee (feeBps of the input, or the dynamic fee) stays in the bands.
    function exchange(bool buyCollateral, uint256 amountIn, uint256 minAmountOut, address to)
        external
        returns (uint256 amountOut)
    {
        (uint256 po, uint256 feeWad) = _priceOracleW();
        (uint256 used, uint256 out, Steps memory steps) = _quote(buyCollateral, amountIn, po, feeWad);
        if (out < minAmountOut) revert SlippageExceeded();
        uint256 count = steps.count;
        if (count == 0) return 0;
        for (uint256 i = 0; i < count; ++i) {
            int256 n = steps.n[i];
            uint256 nx = steps.x[i];
            uint256 ny = steps.y[i];
            if (nx > type(uint88).max || ny > type(uint80).max) revert AmountTooLarge();
            uint80 sh = bands[n].shares;
            bands[n] = Band(uint88(nx), uint80(ny), sh, true);
            emit BandUpdated(n, nx, ny, sh);
        }
        int256 from = activeBand;
        int256 last = steps.n[count - 1];
        if (last != from) {
            activeBand = last;
            emit ActiveBandChanged(last);
        }
        if (buyCollateral) {
            _pull(usd, msg.sender, used);
            _push(weth, to, out);
        } else {
            _pull(weth, msg.sender, used);
            _push(usd, to, out);
        }
        emit Exchange(msg.sender, to, buyCollateral, used, out, steps.n[0], last);
        return out;
    }

    /// @notice Marginal AMM price (USD per WETH, WAD) in the active band.
    function ammPrice() public view returns (uint256) {
        int256 n = activeBand;
        Band memory b = bands[n];
        (uint256 po,) = _priceOracle();
        uint256 pu = pUp(n);
        if (b.x == 0 && b.y == 0) {
            // Empty band: mid-band price p_o^3 / (p_up * p_down).
            return po * po / pu * po / pUp(n + 1);
        }
        (uint256 f, uint256 g,) = _curve(b.x, b.y, po, pu);
        return (f + b.x) * WAD / (g + b.y);
    }

    /// @notice The trade that moves the AMM to `targetPrice` net of the fee: buying WETH until its
    ///         marginal cost including the fee equals targetPrice, or selling until the marginal
    ///         proceeds net of the fee equal it. That is the largest trade that is profitable
    ///         against an external market at targetPrice. amountIn is USD (buy) or WETH (sell).
    function getAmountForPrice(uint256 targetPrice) external view returns (bool buyCollateral, uint256 amountIn) {
        if (targetPrice == 0 || minBand > maxBand) return (false, 0);
        (uint256 po, uint256 feeWad) = _priceOracle();
        amountIn = _amountForPrice(true, targetPrice, po, feeWad);
        if (amountIn != 0) return (true, amountIn);
        return (false, _amountForPrice(false, targetPrice, po, feeWad));
    }

    /// @dev Gross input that takes the bands to `targetPrice` net of each band's fee.
    function _amountForPrice(bool buy, uint256 targetPrice, uint256 po, uint256 feeWad)
        private
        view
        returns (uint256 amount)
    {
        int256 lo = minBand;
        int256 hi = maxBand;
        int256 n = activeBand;
        if (buy && n < lo) n = lo;
        if (!buy && n > hi) n = hi;
        for (uint256 i = 0; i < MAX_BANDS_CROSSED; ++i) {
            Band memory b = bands[n];
            if (buy ? b.y != 0 : b.x != 0) {
                (uint256 gross, bool done) = _bandGrossForPrice(buy, b, n, po, targetPrice, feeWad);
                amount += gross;
                if (done) break;
            }
            if (buy ? n >= hi : n <= lo) break;
            n = buy ? n + 1 : n - 1;
        }
    }

    /// @dev Gross input that takes band n to `targetPrice` net of its fee, rounded as exchange does.
    function _bandGrossForPrice(bool buy, Band memory b, int256 n, uint256 po, uint256 targetPrice, uint256 feeWad)
        private
        view
        returns (uint256 gross, bool done)
    {
        uint256 pu = pUp(n);
        uint256 keep = WAD - _bandFee(po, pu, feeWad);
        uint256 target = buy ? targetPrice * keep / WAD : targetPrice * WAD / keep;
        uint256 amt;
        (amt, done) = _bandAmountForPrice(buy, b.x, b.y, po, pu, target);
        gross = _ceilDiv(amt * WAD, keep);
    }

    /// @dev Net input that takes one band to price `target` (done = target reached inside it).
    function _bandAmountForPrice(bool buy, uint256 x, uint256 y, uint256 po, uint256 pu, uint256 target)
        private
        view
        returns (uint256 amount, bool done)
    {
        (uint256 f, uint256 g, uint256 inv) = _curve(x, y, po, pu);
        if (buy ? g == 0 : f == 0) return (0, true);
        uint256 price = (f + x) * WAD / (g + y);
        if (buy ? target <= price : target >= price) return (0, true);
        if (buy) {
            // (f + x)^2 = Inv * p at price p
            uint256 fxEnd = _ceilDiv(inv, g);
            uint256 fxT = _sqrt(_mulWadSafe(inv, target));
            if (fxT < fxEnd) return (fxT > f + x ? fxT - f - x : 0, true);
            return (fxEnd - f - x, false);
        }
        // (g + y)^2 = Inv / p at price p
        uint256 gyEnd = _ceilDiv(inv, f);
        uint256 gyT = _sqrt(_divWadSafe(inv, target));
        if (gyT < gyEnd) return (gyT > g + y ? gyT - g - y : 0, true);
        return (gyEnd - g - y, false);
    }

    // ================================================================ custody hook

    /// @inheritdoc ILiquidationMechanism
    function heldCollateral(address owner) external view returns (uint256 collateral, uint256 debtAsset) {
        Position memory pos = positions[owner];
        if (pos.shares == 0) return (0, 0);
        uint256 nBands = bandsN;
        for (uint256 i = 0; i < nBands; ++i) {
            (uint256 dx, uint256 dy) = _userPart(bands[int256(pos.n1) + int256(i)], pos.shares);
            debtAsset += dx;
            collateral += dy;
        }
    }

    /// @inheritdoc ILiquidationMechanism
    /// @dev Moves the owner's free collateral into bands and re-spreads the position over N bands
    ///      (top band from `topBand`). A position in soft liquidation (USD in any of its bands)
    ///      stays where it is: it may only repay; repaying in full returns WETH to the market and
    ///      USD to the owner. A position without debt keeps its collateral in the market.
    function onPositionUpdated(address owner) external {
        if (msg.sender != address(market)) revert NotMarket();
        (uint256 po,) = _priceOracleW();
        uint256 debt = market.debtOf(owner);
        uint256 free = market.collateralOf(owner);
        Position memory pos = positions[owner];
        uint256 inHand; // WETH withdrawn from the owner's bands, held by this contract
        if (pos.shares != 0) {
            if (_inSoftLiquidation(pos)) {
                if (debt == 0) {
                    (uint256 xs, uint256 ys) = _withdraw(owner, pos);
                    if (ys != 0) market.restoreCollateral(owner, ys, address(this));
                    if (xs != 0) _push(usd, owner, xs);
                    return;
                }
                if (free != 0 || debt > pos.debt) revert PositionInSoftLiquidation();
                positions[owner].debt = uint96(debt);
                emit PositionDebtUpdated(owner, debt);
                return;
            }
            (, inHand) = _withdraw(owner, pos);
        }
        if (debt == 0) {
            if (inHand != 0) market.restoreCollateral(owner, inHand, address(this));
            return;
        }
        uint256 deposited = _deposit(owner, inHand + free, debt, po);
        if (deposited > inHand) market.seizeCollateral(owner, deposited - inHand, address(this));
        else if (inHand > deposited) market.restoreCollateral(owner, inHand - deposited, address(this));
    }

    /// @notice Top band a position with `collateral` and `debt` is placed at: the lowest band n
    ///         such that the collateral, valued at its bands' bottom prices, still covers the debt
    ///         with the loan discount: collateral * (1 - loanDiscount) * mean_k(r^k) * p_up(n) >= debt.
    function topBand(uint256 collateral, uint256 debt) public view returns (int256) {
        uint256 eff = collateral * (WAD - loanDiscountWad) / WAD * meanBottomFactorWad / WAD;
        if (eff == 0) revert DebtTooHigh();
        uint256 pMin = _ceilDiv(debt * WAD, eff);
        int256 lo = MIN_BAND + 1;
        int256 hi = MAX_BAND + 1 - int256(bandsN);
        if (pUp(lo) < pMin) revert DebtTooHigh();
        if (pUp(hi) >= pMin) return hi;
        while (hi - lo > 1) {
            int256 mid = (lo + hi) / 2;
            if (pUp(mid) >= pMin) lo = mid;
            else hi = mid;
        }
        return lo;
    }

    function _inSoftLiquidation(Position memory pos) private view returns (bool) {
        uint256 nBands = bandsN;
        for (uint256 i = 0; i < nBands; ++i) {
            if (bands[int256(pos.n1) + int256(i)].x != 0) return true;
        }
        return false;
    }

    /// @dev A holder's part of a band; the last holder takes everything (no dust left behind).
    function _userPart(Band memory b, uint256 s) private pure returns (uint256 dx, uint256 dy) {
        if (s >= b.shares) return (b.x, b.y);
        dx = uint256(b.x) * s / b.shares;
        dy = uint256(b.y) * s / b.shares;
    }

    /// @dev Remove all of the owner's shares; the tokens stay in this contract.
    function _withdraw(address owner, Position memory pos) private returns (uint256 xs, uint256 ys) {
        uint256 nBands = bandsN;
        uint256 s = pos.shares;
        for (uint256 i = 0; i < nBands; ++i) {
            int256 n = int256(pos.n1) + int256(i);
            Band memory m = bands[n];
            (uint256 dx, uint256 dy) = _userPart(m, s);
            xs += dx;
            ys += dy;
            uint80 ns = uint80(s >= m.shares ? 0 : m.shares - s);
            bands[n] = Band(uint88(m.x - dx), uint80(m.y - dy), ns, true);
            emit BandUpdated(n, m.x - dx, m.y - dy, ns);
        }
        delete positions[owner];
        emit PositionUnbanded(owner, ys, xs);
    }

    /// @dev Spread `collateral` over N bands from topBand(collateral, debt); returns the WETH placed.
    function _deposit(address owner, uint256 collateral, uint256 debt, uint256 po) private returns (uint256 deposited) {
        int256 n1 = topBand(collateral, debt);
        // The loan must start outside soft liquidation: top band below p_o (Curve checks the
        // oracle, not the active band, which can lag behind in empty bands).
        if (pUp(n1) >= po) revert DebtTooHigh();
        if (n1 <= activeBand) _skipTo(n1);
        uint256 nBands = bandsN;
        // WETH per share of each band (WAD, rounded up); fresh bands start at 1.
        uint256 rateSum;
        for (uint256 i = 0; i < nBands; ++i) {
            Band memory b = bands[n1 + int256(i)];
            rateSum += b.shares == 0 ? WAD : _ceilDiv(uint256(b.y) * WAD, b.shares);
        }
        uint256 s = collateral * WAD / rateSum;
        if (s == 0) revert CollateralTooSmall();
        for (uint256 i = 0; i < nBands; ++i) {
            int256 n = n1 + int256(i);
            Band memory m = bands[n];
            uint256 dy = m.shares == 0 ? s : s * m.y / m.shares;
            uint256 ny = m.y + dy;
            uint256 ns = m.shares + s;
            if (ny > type(uint80).max || ns > type(uint80).max) revert AmountTooLarge();
            bands[n] = Band(m.x, uint80(ny), uint80(ns), true);
            emit BandUpdated(n, m.x, ny, ns);
            deposited += dy;
        }
        int256 n2 = n1 + int256(nBands) - 1;
        if (n1 < minBand) minBand = n1;
        if (n2 > maxBand) maxBand = n2;
        if (debt > type(uint96).max) revert AmountTooLarge();
        positions[owner] = Position(uint96(s), uint96(debt), int64(n1));
        emit PositionBanded(owner, n1, n2, deposited, s);
    }

    /// @dev Bands n1..activeBand must hold no USD; then the active band moves to just above n1.
    function _skipTo(int256 n1) private {
        int256 n = activeBand;
        int256 stop = n1 > minBand ? n1 : minBand;
        uint256 scanned;
        while (n >= stop) {
            if (bands[n].x != 0 || ++scanned > MAX_SKIP_BANDS) revert DebtTooHigh();
            --n;
        }
        activeBand = n1 - 1;
        emit ActiveBandChanged(n1 - 1);
    }

    // ================================================================ health & hard liquidation

    /// @notice (value of the bands if fully converted at the band bottoms — or at the oracle price
    ///         if lower — plus USD in bands and free collateral at the oracle price)
    ///         * (1 - liquidationDiscount) / debt - 1, signed WAD. type(int256).max without debt.
    function health(address owner) public view returns (int256) {
        (uint256 po,) = _priceOracle();
        return _health(owner, po);
    }

    /// @notice health() of every listed owner, in one call.
    function healths(address[] calldata owners) external view returns (int256[] memory out) {
        (uint256 po,) = _priceOracle();
        out = new int256[](owners.length);
        for (uint256 i = 0; i < owners.length; ++i) {
            out[i] = _health(owners[i], po);
        }
    }

    function _health(address owner, uint256 po) private view returns (int256) {
        uint256 debt = market.debtOf(owner);
        if (debt == 0) return type(int256).max;
        uint256 value = market.collateralOf(owner) * po / WAD;
        Position memory pos = positions[owner];
        if (pos.shares != 0) {
            uint256 nBands = bandsN;
            for (uint256 i = 0; i < nBands; ++i) {
                int256 n = int256(pos.n1) + int256(i);
                (uint256 dx, uint256 dy) = _userPart(bands[n], pos.shares);
                if (dy != 0) {
                    uint256 pd = pUp(n + 1);
                    value += dy * (pd < po ? pd : po) / WAD;
                }
                value += dx;
            }
        }
        return int256(value * (WAD - liquidationDiscountWad) / debt) - int256(WAD);
    }

    /// @notice Hard liquidation, allowed only when health < 0: the caller repays the debt and
    ///         receives everything in the owner's bands (WETH + USD) plus any free collateral.
    ///         If the position is underwater — its value at the oracle price times
    ///         (1 - liquidationDiscount) is below the debt — the caller pays only that amount
    ///         and the rest of the debt is written off as bad debt. USD from the bands is netted
    ///         against the payment: msg.sender pays max(0, repaid - usdOut) and receives
    ///         max(0, usdOut - repaid) and all the WETH.
    function liquidate(address owner, uint256 minCollateralOut) external returns (uint256 repaid) {
        uint256 debt = market.debtOf(owner);
        if (debt == 0) revert NoDebt();
        (uint256 po,) = _priceOracleW();
        if (_health(owner, po) >= 0) revert HealthyPosition();
        uint256 usdOut;
        uint256 collOut;
        Position memory pos = positions[owner];
        if (pos.shares != 0) (usdOut, collOut) = _withdraw(owner, pos);
        uint256 free = market.collateralOf(owner);
        if (free != 0) market.seizeCollateral(owner, free, address(this));
        collOut += free;
        if (collOut < minCollateralOut) revert SlippageExceeded();
        uint256 cap = (collOut * po / WAD + usdOut) * (WAD - liquidationDiscountWad) / WAD;
        repaid = debt < cap ? debt : cap;
        uint256 bad = debt - repaid;
        if (repaid > usdOut) _pull(usd, msg.sender, repaid - usdOut);
        if (repaid != 0) market.repayOnBehalf(owner, repaid, address(this));
        if (bad != 0) market.writeOff(owner, bad);
        if (usdOut > repaid) _push(usd, msg.sender, usdOut - repaid);
        if (collOut != 0) _push(weth, msg.sender, collOut);
        emit HardLiquidation(owner, msg.sender, repaid, collOut, usdOut, bad);
    }

    // ================================================================ oracle price and dynamic fee

    /// @notice p_o (the EMA of the market's oracle, limited as in AMM.vy) and the fee (WAD) an
    ///         exchange now starts from: max(feeBps, the oracle-move fee).
    function priceOracle() external view returns (uint256 po, uint256 feeWad) {
        return _priceOracle();
    }

    /// @notice The fee (WAD) band n charges now: max(feeBps, oracle-move fee, AMM.vy's band fee).
    function bandFee(int256 n) external view returns (uint256) {
        (uint256 po, uint256 feeWad) = _priceOracle();
        return _bandFee(po, pUp(n), feeWad);
    }

    /// @notice Curve's EmaPriceOracle.exp: e^(power / 1e18) in WAD (0 at or below -41.45e18).
    function expWad(int256 power) external pure returns (uint256) {
        return _exp(power);
    }

    function _priceOracle() private view returns (uint256 po, uint256 feeWad) {
        po = maExpTime == 0 ? oracle.price() : _ema().price;
        feeWad = feeBps * 1e14;
        if (!dynamicFee) return (po, feeWad);
        uint256 dfee;
        (po, dfee) = _limitPo(po);
        if (dfee > feeWad) feeWad = dfee;
    }

    /// @dev _priceOracle(), recorded (Curve's price_w and _price_oracle_w).
    function _priceOracleW() private returns (uint256 po, uint256 feeWad) {
        feeWad = feeBps * 1e14;
        if (maExpTime == 0) {
            po = oracle.price();
        } else {
            EmaResult memory e = _ema();
            po = e.price;
            if (ema.time < block.timestamp) {
                ema = EmaState(uint128(po), uint48(block.timestamp), uint80(e.round));
                emaInput = e.input;
            }
        }
        if (!dynamicFee) return (po, feeWad);
        uint256 dfee;
        (po, dfee) = _limitPo(po);
        feeState = FeeState(uint128(po), uint64(dfee), uint48(block.timestamp));
        if (dfee > feeWad) feeWad = dfee;
    }

    /// @dev The EMA now: from the last write, each oracle round that came into force since is the
    ///      EMA's input from that moment (at most MAX_EMA_ROUNDS of them; past that, Curve's lazy
    ///      rule: the answer in force now counts from the last round walked).
    function _ema() private view returns (EmaResult memory r) {
        EmaState memory s = ema;
        r.price = s.price;
        r.round = s.round;
        r.input = emaInput;
        uint256 t = s.time;
        if (t >= block.timestamp) return r;
        uint256 latest = oracle.latestRound();
        uint256 delay = oracleDelay;
        uint256 walked;
        while (r.round < latest && walked < MAX_EMA_ROUNDS) {
            (, int256 answer,, uint256 updatedAt,) = oracle.getRoundData(uint80(r.round + 1));
            uint256 at = updatedAt + delay;
            if (at > block.timestamp) break;
            if (at > t) {
                r.price = _emaStep(r.price, r.input, at - t);
                t = at;
            }
            r.input = uint256(answer);
            ++r.round;
            ++walked;
        }
        if (walked == MAX_EMA_ROUNDS) r.input = oracle.price();
        if (block.timestamp > t) r.price = _emaStep(r.price, r.input, block.timestamp - t);
    }

    /// @dev Curve's EmaPriceOracle step: p_cur * (1 - a) + p_last * a, a = exp(-dt / maExpTime).
    function _emaStep(uint256 last, uint256 cur, uint256 dt) private view returns (uint256) {
        uint256 alpha = _exp(-int256(dt * WAD / maExpTime));
        return (cur * (WAD - alpha) + last * alpha) / WAD;
    }

    /// @dev AMM.vy's limit_p_o: within PREV_P_O_DELAY of the previous write, p_o moves at most
    ///      MAX_P_O_CHG and the fee is (old fee + 1 - (p_min / p_max)^3) * (time left) / delay.
    function _limitPo(uint256 p) private view returns (uint256 pNew, uint256 fee) {
        FeeState memory fs = feeState;
        pNew = p;
        uint256 elapsed = block.timestamp - fs.prevTime;
        uint256 dt = PREV_P_O_DELAY - (elapsed < PREV_P_O_DELAY ? elapsed : PREV_P_O_DELAY);
        if (dt == 0) return (pNew, 0);
        uint256 old = fs.oldPo;
        uint256 minRatio = 1e36 / MAX_P_O_CHG;
        uint256 ratio;
        if (p > old) {
            ratio = old * WAD / p;
            if (ratio < minRatio) {
                pNew = old * MAX_P_O_CHG / WAD;
                ratio = minRatio;
            }
        } else {
            ratio = p * WAD / old;
            if (ratio < minRatio) {
                pNew = old * WAD / MAX_P_O_CHG;
                ratio = minRatio;
            }
        }
        fee = (WAD + fs.oldDfee - ratio ** 3 / 1e36) * dt / PREV_P_O_DELAY;
        if (fee > WAD - 1) fee = WAD - 1;
    }

    /// @dev A band's fee: at least `feeWad`; with the dynamic fee on, AMM.vy's get_dynamic_fee (a
    ///      quarter of the relative distance between p_o and the band's AMM price range
    ///      p_o^3/p_up^2 .. p_o^3/p_down^2) when that is higher.
    function _bandFee(uint256 po, uint256 pu, uint256 feeWad) private view returns (uint256) {
        if (!dynamicFee) return feeWad;
        uint256 a = amplification;
        uint256 pcd = po * po / pu * po / pu;
        uint256 pcu = pcd * a / (a - 1) * a / (a - 1);
        uint256 f;
        if (po < pcd) f = (pcd - po) * (WAD / 4) / pcd;
        else if (po > pcu) f = (po - pcu) * (WAD / 4) / po;
        return f > feeWad ? f : feeWad;
    }

    /// @dev Curve's exp (EmaPriceOracle.vy, after Remco Bloemen's): e^(power / 1e18) in WAD.
    function _exp(int256 power) private pure returns (uint256) {
        if (power <= -41446531673892821376) return 0;
        if (power >= 135305999368893231589) revert InvalidParameters();
        unchecked {
            int256 x = power * 2 ** 96 / 1e18;
            int256 k = (x * 2 ** 96 / 54916777467707473351141471128 + 2 ** 95) / 2 ** 96;
            x = x - k * 54916777467707473351141471128;
            int256 y = x + 1346386616545796478920950773328;
            y = y * x / 2 ** 96 + 57155421227552351082224309758442;
            int256 p = y + x - 94201549194550492254356042504812;
            p = p * y / 2 ** 96 + 28719021644029726153956944680412240;
            p = p * x + (4385272521454847904659076985693276 * 2 ** 96);
            int256 q = x - 2855989394907223263936484059900;
            q = q * x / 2 ** 96 + 50020603652535783019961831881945;
            q = q * x / 2 ** 96 - 533845033583426703283633433725380;
            q = q * x / 2 ** 96 + 3604857256930695427073651918091429;
            q = q * x / 2 ** 96 - 14423608567350463180887372962807573;
            q = q * x / 2 ** 96 + 26449188498355588339934803723976023;
            uint256 r = uint256(p / q) * 3822833074963236453042738258902158003155416615667;
            int256 sh = k - 195;
            return sh >= 0 ? r << uint256(sh) : r >> uint256(-sh);
        }
    }

    // ================================================================ helpers

    function _ceilDiv(uint256 a, uint256 b) private pure returns (uint256) {
        return a == 0 ? 0 : (a - 1) / b + 1;
    }

    /// @dev a * b / WAD, dividing first when the product would overflow (quote-only precision).
    function _mulWadSafe(uint256 a, uint256 b) private pure returns (uint256) {
        if (b == 0 || a <= type(uint256).max / b) return a * b / WAD;
        return a / WAD * b;
    }

    /// @dev a * WAD / b, dividing first when the product would overflow (quote-only precision).
    function _divWadSafe(uint256 a, uint256 b) private pure returns (uint256) {
        if (a <= type(uint256).max / WAD) return a * WAD / b;
        return a / b * WAD;
    }

    /// @dev Floor square root: Newton's method from a power of two at or above the root.
    function _sqrt(uint256 a) private pure returns (uint256) {
        if (a < 2) return a;
        uint256 t = a;
        uint256 z = 2;
        if (t >= 1 << 128) { t >>= 128; z <<= 64; }
        if (t >= 1 << 64) { t >>= 64; z <<= 32; }
        if (t >= 1 << 32) { t >>= 32; z <<= 16; }
        if (t >= 1 << 16) { t >>= 16; z <<= 8; }
        if (t >= 1 << 8) { t >>= 8; z <<= 4; }
        if (t >= 1 << 4) { t >>= 4; z <<= 2; }
        if (t >= 1 << 2) { z <<= 1; }
        uint256 y = (z + a / z) / 2;
        while (y < z) {
            z = y;
            y = (z + a / z) / 2;
        }
        return z;
    }

    function _pull(Token token, address from, uint256 amount) private {
        if (amount != 0 && !token.transferFrom(from, address(this), amount)) revert TransferFailed();
    }

    function _push(Token token, address to, uint256 amount) private {
        if (amount != 0 && !token.transfer(to, amount)) revert TransferFailed();
    }
}
