// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Reenterer
/// @notice TEST-ONLY attacker of tests/adversarial (not one of the sandbox's contracts). Its owner
///         makes it call anything (`exec`; a revert is passed on with its own data). Any call it
///         receives from anyone else (a Dutch take callback, a flash-loan callback, any other
///         function) is counted and, once primed, answered by re-entering with the primed call,
///         once per transaction; a refused re-entry reverts with the refusal's own data, so the
///         outer transaction says why. `callbacks` counts the calls received in transactions that
///         succeeded: 0 after a mechanism's action means the mechanism never handed it control.
contract Reenterer {
    error NotOwner();

    bytes32 private constant FLASH_CALLBACK_SUCCESS = keccak256("ERC3156FlashBorrower.onFlashLoan");

    address public immutable owner;
    address public target;
    bytes public payload;
    uint256 public callbacks;
    uint256 private transient depth;

    constructor() {
        owner = msg.sender;
    }

    /// @notice The call to make from the next callbacks (target 0: none, only count them).
    function prime(address target_, bytes calldata payload_) external {
        if (msg.sender != owner) revert NotOwner();
        target = target_;
        payload = payload_;
    }

    /// @notice Call `to` with `data` as this contract.
    function exec(address to, bytes calldata data) external returns (bytes memory ret) {
        if (msg.sender != owner) revert NotOwner();
        bool ok;
        (ok, ret) = to.call(data);
        if (!ok) _bubble(ret);
    }

    /// @notice ERC-3156 flash-loan callback: re-enter, then report success (repaying is up to the primed call).
    function onFlashLoan(address, address, uint256, uint256, bytes calldata) external returns (bytes32) {
        _reenter();
        return FLASH_CALLBACK_SUCCESS;
    }

    /// @notice Every other callback (e.g. `dutchTakeCall`).
    fallback() external {
        _reenter();
    }

    function _reenter() private {
        callbacks += 1;
        if (target == address(0) || depth != 0) return;
        depth = 1;
        (bool ok, bytes memory ret) = target.call(payload);
        depth = 0;
        if (!ok) _bubble(ret);
    }

    function _bubble(bytes memory ret) private pure {
        assembly {
            revert(add(ret, 32), mload(ret))
        }
    }
}
