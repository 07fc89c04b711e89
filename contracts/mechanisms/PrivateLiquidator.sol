// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {PriceOracle} from "../core/PriceOracle.sol";
import {FixedFeeLiquidator} from "./FixedFeeLiquidator.sol";

/// @title PrivateLiquidator
/// @notice Order-flow (OEV-style) auction on top of fixed-fee liquidation. The right to liquidate
///         first after each oracle round is sold off-chain in a sealed-bid auction; the
///         auctioneer records the winner on-chain with `grant`. During the exclusive window
///         [round in force, + openDelaySeconds) only that winner may liquidate, through
///         `liquidateWithBid`, which runs the fixed-fee liquidation and, on the winner's first
///         liquidation of the round, pulls the bid in USD from the caller: protocolShareBps of it
///         to the treasury and the rest to the auction operator. After the window (or when
///         nobody won) plain `liquidate` is open to everyone at fixed-fee terms.
/// @dev The window opens when the round comes into force (updatedAt + oracle delay), which is
///      updatedAt itself for an oracle without delay.
contract PrivateLiquidator is FixedFeeLiquidator {
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

    /// @notice The winner and bid of each oracle round's auction.
    mapping(uint256 => Grant) public grants;

    constructor(
        address market_,
        uint256 closeFactorBps_,
        uint256 fullCloseHealthFactorBps_,
        uint256 bonusBps_,
        uint256 protocolFeeBps_,
        uint256 dustUsd_,
        uint256 fullCloseBelowUsd_,
        address auctioneer_,
        address operator_,
        uint256 protocolShareBps_,
        uint256 openDelaySeconds_
    ) FixedFeeLiquidator(
            market_, closeFactorBps_, fullCloseHealthFactorBps_, bonusBps_, protocolFeeBps_, dustUsd_, fullCloseBelowUsd_
        ) {
        if (auctioneer_ == address(0) || operator_ == address(0)) revert ZeroAddress();
        if (protocolShareBps_ > BPS) revert InvalidParameters();
        PriceOracle o = PriceOracle(market.oracle());
        oracle = o;
        oracleDelaySeconds = o.delaySeconds();
        auctioneer = auctioneer_;
        operator = operator_;
        protocolShareBps = protocolShareBps_;
        openDelaySeconds = openDelaySeconds_;
    }

    // ----------------------------------------------------------------- auction

    /// @notice Record the winner of the auction for the oracle round in force (auctioneer only).
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

    /// @notice The winner's liquidation during its exclusive window; pays the bid once per round.
    function liquidateWithBid(address owner, uint256 debtToCover)
        external
        returns (uint256 debtRepaid, uint256 collateralSeized)
    {
        (uint256 roundId, uint256 windowEnd) = _currentRound();
        if (block.timestamp >= windowEnd) revert WindowClosed(roundId);
        Grant storage g = grants[roundId];
        if (msg.sender != g.winner) revert NotWinner(roundId);
        (debtRepaid, collateralSeized) = _liquidate(owner, debtToCover);
        if (!g.paid) {
            g.paid = true;
            uint256 bid = g.bid;
            uint256 toProtocol = (bid * protocolShareBps) / BPS;
            uint256 toOperator = bid - toProtocol;
            if (toProtocol != 0 && !debtToken.transferFrom(msg.sender, treasury, toProtocol)) {
                revert TransferFailed();
            }
            if (toOperator != 0 && !debtToken.transferFrom(msg.sender, operator, toOperator)) {
                revert TransferFailed();
            }
            emit BidPaid(roundId, msg.sender, bid, toProtocol, toOperator);
        }
    }

    /// @notice Public fixed-fee liquidation, closed during the exclusive window of each round.
    function liquidate(address owner, uint256 debtToCover)
        external
        override
        returns (uint256 debtRepaid, uint256 collateralSeized)
    {
        (uint256 roundId, uint256 windowEnd) = _currentRound();
        if (block.timestamp < windowEnd) revert ExclusiveWindow(roundId, windowEnd);
        return _liquidate(owner, debtToCover);
    }

    /// @notice The auction state of the round in force, in one call.
    function auctionState()
        external
        view
        returns (
            uint256 roundId,
            uint256 windowStart,
            uint256 windowEnd,
            address winner,
            uint256 bid,
            bool paid
        )
    {
        (roundId, windowEnd) = _currentRound();
        windowStart = windowEnd - openDelaySeconds;
        Grant storage g = grants[roundId];
        return (roundId, windowStart, windowEnd, g.winner, g.bid, g.paid);
    }

    /// @dev Round in force and the end of its exclusive window.
    function _currentRound() internal view returns (uint256 roundId, uint256 windowEnd) {
        (uint80 id,,, uint256 updatedAt,) = oracle.latestRoundData();
        return (id, updatedAt + oracleDelaySeconds + openDelaySeconds);
    }
}
