// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title PriceOracle
/// @notice Chainlink-aggregator-shaped WETH/USD feed (18 decimals) with an optional OSM-style
///         delay: a submitted price only comes into force `delaySeconds` after submission, so
///         mechanisms can be compared under stale/lagging oracles. Keepers may peek at the
///         newest submission via `latestSubmitted`, like Maker's OSM "next" price.
contract PriceOracle {
    error NotUpdater();
    error NonPositivePrice();
    error NoPriceYet();
    error UnknownRound();

    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);

    struct Round {
        int256 answer;
        uint256 updatedAt;
    }

    /// @notice The only account allowed to submit prices.
    address public immutable updater;
    /// @notice Seconds between submission and a price coming into force.
    uint256 public immutable delaySeconds;
    string public description;
    /// @notice Id of the newest submitted round (0 before the first submission).
    uint80 public latestRound;

    mapping(uint80 => Round) private _rounds;

    constructor(address updater_, uint256 delaySeconds_, string memory description_) {
        updater = updater_;
        delaySeconds = delaySeconds_;
        description = description_;
    }

    /// @notice Answers are WAD-scaled USD per WETH.
    function decimals() external pure returns (uint8) {
        return 18;
    }

    /// @notice Aggregator version, for interface compatibility.
    function version() external pure returns (uint256) {
        return 1;
    }

    /// @notice Record a new price round (updater only, answer > 0).
    function submit(int256 answer) external {
        if (msg.sender != updater) revert NotUpdater();
        if (answer <= 0) revert NonPositivePrice();
        uint80 id = latestRound + 1;
        latestRound = id;
        _rounds[id] = Round(answer, block.timestamp);
        emit AnswerUpdated(answer, id, block.timestamp);
    }

    /// @notice The round in force: the newest round with updatedAt + delaySeconds <= now.
    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        roundId = _roundInForce();
        Round storage r = _rounds[roundId];
        return (roundId, r.answer, r.updatedAt, r.updatedAt, roundId);
    }

    /// @notice Any past round by id (Chainlink-compatible).
    function getRoundData(uint80 roundId)
        external
        view
        returns (uint80, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        if (roundId == 0 || roundId > latestRound) revert UnknownRound();
        Round storage r = _rounds[roundId];
        return (roundId, r.answer, r.updatedAt, r.updatedAt, roundId);
    }

    /// @notice The answer in force, as an unsigned WAD.
    function price() external view returns (uint256) {
        return uint256(_rounds[_roundInForce()].answer);
    }

    /// @notice The newest submitted round regardless of the delay (the "next" price).
    function latestSubmitted() external view returns (uint80 roundId, int256 answer, uint256 updatedAt) {
        roundId = latestRound;
        if (roundId == 0) revert NoPriceYet();
        Round storage r = _rounds[roundId];
        return (roundId, r.answer, r.updatedAt);
    }

    /// @dev Newest round old enough to be in force. Equivalent to scanning backwards from the
    ///      newest round, but since updatedAt is non-decreasing in the round id a binary search
    ///      keeps the cost logarithmic even with long delays and frequent submissions.
    function _roundInForce() private view returns (uint80) {
        uint80 hi = latestRound;
        uint256 delay = delaySeconds;
        if (hi == 0 || block.timestamp < delay) revert NoPriceYet();
        uint256 cutoff = block.timestamp - delay;
        if (_rounds[hi].updatedAt <= cutoff) return hi; // common case: newest round in force
        if (_rounds[1].updatedAt > cutoff) revert NoPriceYet();
        uint80 lo = 1; // invariant: rounds[lo] in force, rounds[hi] not
        while (hi - lo > 1) {
            uint80 mid = lo + (hi - lo) / 2;
            if (_rounds[mid].updatedAt <= cutoff) lo = mid;
            else hi = mid;
        }
        return lo;
    }
}
