// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {PriceOracle} from "../../core/PriceOracle.sol";
import {PerpFixedFeeLiquidator} from "./PerpFixedFeeLiquidator.sol";

/// @title PerpPrivateLiquidator
/// @notice Order-flow (OEV-style) auction on top of perpetual fixed-fee liquidation, the shape of
///         the lending `PrivateLiquidator`: the right to liquidate first after each oracle round is
///         sold off-chain in a sealed-bid auction; the auctioneer records the winner with `grant`.
///         During the exclusive window [round in force, + openDelaySeconds) only the winner may
///         liquidate, through `liquidateWithBid`, which on its first liquidation of the round pulls
///         the bid in USD from the caller: protocolShareBps to the treasury, the rest to the
///         auction operator. After the window (or when nobody won) `liquidate` is open to all.
contract PerpPrivateLiquidator is PerpFixedFeeLiquidator {
    error NotAuctioneer();
    error WrongRound(uint256 current, uint256 given);
    error AlreadyGranted(uint256 roundId);
    error WindowClosed(uint256 roundId);
    error ExclusiveWindow(uint256 roundId, uint256 opensAt);
    error NotWinner(uint256 roundId);

    event RightGranted(uint256 indexed roundId, address indexed winner, uint256 bidUsd);
    event BidPaid(
        uint256 indexed roundId, address indexed winner, uint256 bid, uint256 protocolAmount, uint256 operatorAmount
    );

    struct Grant {
        address winner;
        bool paid;
        uint256 bid;
    }

    PriceOracle public immutable oracle;
    uint256 public immutable oracleDelaySeconds;
    address public immutable auctioneer;
    address public immutable operator;
    uint256 public immutable protocolShareBps;
    uint256 public immutable openDelaySeconds;

    mapping(uint256 => Grant) public grants;

    /// @param params fixed-fee terms (see PerpFixedFeeLiquidator)
    constructor(
        address market_,
        uint256[6] memory params,
        address auctioneer_,
        address operator_,
        uint256 protocolShareBps_,
        uint256 openDelaySeconds_
    ) PerpFixedFeeLiquidator(market_, params) {
        if (auctioneer_ == address(0) || operator_ == address(0)) revert ZeroAddress();
        if (protocolShareBps_ > BPS || openDelaySeconds_ == 0) revert InvalidParameters();
        PriceOracle o = market.oracle();
        oracle = o;
        oracleDelaySeconds = o.delaySeconds();
        auctioneer = auctioneer_;
        operator = operator_;
        protocolShareBps = protocolShareBps_;
        openDelaySeconds = openDelaySeconds_;
    }

    /// @notice Record the winner of the round in force (auctioneer only, once, inside the window).
    function grant(uint256 roundId, address winner, uint256 bidUsd) external {
        if (msg.sender != auctioneer) revert NotAuctioneer();
        if (winner == address(0)) revert ZeroAddress();
        (uint256 current, uint256 windowEnd) = _currentRound();
        if (roundId != current) revert WrongRound(current, roundId);
        if (block.timestamp >= windowEnd) revert WindowClosed(roundId);
        Grant storage g = grants[roundId];
        if (g.winner != address(0)) revert AlreadyGranted(roundId);
        g.winner = winner;
        g.bid = bidUsd;
        emit RightGranted(roundId, winner, bidUsd);
    }

    /// @notice The winner's liquidation during its window; pays the bid once per round.
    function liquidateWithBid(address account, uint256 amount) external returns (uint256 size, uint256 quote) {
        (uint256 roundId, uint256 windowEnd) = _currentRound();
        if (block.timestamp >= windowEnd) revert WindowClosed(roundId);
        Grant storage g = grants[roundId];
        if (msg.sender != g.winner) revert NotWinner(roundId);
        (size, quote) = _liquidate(account, amount);
        if (!g.paid) {
            g.paid = true;
            uint256 bid = g.bid;
            uint256 toProtocol = (bid * protocolShareBps) / BPS;
            uint256 toOperator = bid - toProtocol;
            if (toProtocol != 0 && !usd.transferFrom(msg.sender, treasury, toProtocol)) revert TransferFailed();
            if (toOperator != 0 && !usd.transferFrom(msg.sender, operator, toOperator)) revert TransferFailed();
            emit BidPaid(roundId, msg.sender, bid, toProtocol, toOperator);
        }
    }

    /// @notice Public fixed-fee liquidation, closed during each round's exclusive window.
    function liquidate(address account, uint256 amount) external override returns (uint256 size, uint256 quote) {
        (uint256 roundId, uint256 windowEnd) = _currentRound();
        if (block.timestamp < windowEnd) revert ExclusiveWindow(roundId, windowEnd);
        return _liquidate(account, amount);
    }

    /// @notice The auction of the round in force, in one call.
    function auctionState()
        external
        view
        returns (uint256 roundId, uint256 windowStart, uint256 windowEnd, address winner, uint256 bid, bool paid)
    {
        (roundId, windowEnd) = _currentRound();
        windowStart = windowEnd - openDelaySeconds;
        Grant storage g = grants[roundId];
        return (roundId, windowStart, windowEnd, g.winner, g.bid, g.paid);
    }

    function _currentRound() internal view returns (uint256 roundId, uint256 windowEnd) {
        (uint80 id,,, uint256 updatedAt,) = oracle.latestRoundData();
        return (id, updatedAt + oracleDelaySeconds + openDelaySeconds);
    }
}
