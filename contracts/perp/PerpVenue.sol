// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title PerpVenue
/// @notice The perpetual's traded venue: a virtual constant-product AMM (Perpetual Protocol v1's
///         vAMM) with virtual reserves of base (WETH) and quote (USD) and no tokens at all.
///         Every open, close, liquidation and deleveraging trades here, so the traded price moves
///         with flow and a premium over the index exists for arbitrageurs and funding to act on.
///         The quote reserve is always ceil(k / base), a function of the base reserve alone, so
///         the quote a sequence of trades moves depends only on where it starts and ends (a flip
///         can be traded in two legs for exactly the quote of one).
/// @dev Only the market that deployed it can trade. Prices are WAD USD per WETH.
contract PerpVenue {
    error NotMarket();
    error ZeroReserves();
    error InsufficientBase();

    event Swap(int256 baseDelta, uint256 quote, uint256 baseReserve, uint256 quoteReserve);

    /// @notice The market allowed to trade (the deployer).
    address public immutable market;
    /// @notice base * quote, fixed at deploy (no liquidity is ever added or removed).
    uint256 public immutable k;
    /// @notice Quote reserve at deploy: the reserve returns to it whenever the net position
    ///         of all traders returns to zero.
    uint256 public immutable initialQuoteReserve;

    uint256 public baseReserve;
    uint256 public quoteReserve;

    /// @param baseReserve_ virtual WETH depth (WAD)
    /// @param price_ starting price (WAD USD per WETH)
    constructor(uint256 baseReserve_, uint256 price_) {
        uint256 quote = (baseReserve_ * price_) / 1e18;
        if (baseReserve_ == 0 || quote == 0) revert ZeroReserves();
        market = msg.sender;
        k = baseReserve_ * quote;
        baseReserve = baseReserve_;
        quoteReserve = quote;
        initialQuoteReserve = quote;
    }

    /// @notice Marginal price quote / base (WAD), rounded down.
    function price() external view returns (uint256) {
        return (quoteReserve * 1e18) / baseReserve;
    }

    /// @notice Quote paid for buying `baseDelta` > 0 base, or received for selling -baseDelta.
    function quote(int256 baseDelta) public view returns (uint256 amount) {
        (, amount) = _after(baseDelta);
    }

    /// @notice Reserves after a trade of `baseDelta` (positive buys base from the venue).
    function reservesAfter(int256 baseDelta) external view returns (uint256 base, uint256 quoteRes) {
        (base,) = _after(baseDelta);
        quoteRes = _quoteAt(base);
    }

    /// @notice Trade `baseDelta` (market only); returns the quote moved.
    function swap(int256 baseDelta) external returns (uint256 amount) {
        if (msg.sender != market) revert NotMarket();
        uint256 base;
        (base, amount) = _after(baseDelta);
        baseReserve = base;
        uint256 q = _quoteAt(base);
        quoteReserve = q;
        emit Swap(baseDelta, amount, base, q);
    }

    function _after(int256 baseDelta) private view returns (uint256 base, uint256 amount) {
        uint256 b = baseReserve;
        uint256 q = quoteReserve;
        if (baseDelta >= 0) {
            uint256 d = uint256(baseDelta);
            if (d >= b) revert InsufficientBase();
            base = b - d;
            amount = _quoteAt(base) - q; // buyer pays the rounded-up reserve
        } else {
            base = b + uint256(-baseDelta);
            amount = q - _quoteAt(base); // seller receives what the rounded-up reserve leaves
        }
    }

    function _quoteAt(uint256 base) private view returns (uint256) {
        uint256 num = k;
        return num == 0 ? 0 : (num - 1) / base + 1;
    }
}
