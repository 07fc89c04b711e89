"""EIP-1559 base fee that also counts background demand the simulation does not execute.

Congestion made of real 30M-gas blocks would cost seconds of EVM time per block, so the
scenario's background demand is *virtual* gas: the block builder reserves that much block
space, and the base fee responds to real plus virtual gas exactly as EIP-1559 prescribes. The
virtual gas of each block is written into its header's ``extra_data``, so it is part of chain
history (and of every block hash) rather than hidden state.
"""

from __future__ import annotations

EXTRA_DATA_TAG = b"virtual-gas:"
# EIP-1559's constants, as py-evm's London fork has them (a test checks); written here so a
# backend other than py-evm does not import py-evm (a second of start-up) for two numbers
ELASTICITY_MULTIPLIER = 2
BASE_FEE_MAX_CHANGE_DENOMINATOR = 8


def encode_background_gas(gas: int) -> bytes:
    if not 0 <= gas < 2**64:
        raise ValueError(f"background gas out of range: {gas}")
    return EXTRA_DATA_TAG + gas.to_bytes(8, "big")


def background_gas_of(header) -> int:
    extra = bytes(header.extra_data)
    if extra.startswith(EXTRA_DATA_TAG) and len(extra) == len(EXTRA_DATA_TAG) + 8:
        return int.from_bytes(extra[len(EXTRA_DATA_TAG):], "big")
    return 0


def next_base_fee(parent_base_fee: int, gas_used: int, gas_limit: int) -> int:
    """EIP-1559: the base fee moves by up to 1/8 towards keeping blocks half full."""
    target = gas_limit // ELASTICITY_MULTIPLIER
    if gas_used == target:
        return parent_base_fee
    if gas_used > target:
        delta = max(parent_base_fee * (gas_used - target) // target // BASE_FEE_MAX_CHANGE_DENOMINATOR, 1)
        return parent_base_fee + delta
    delta = parent_base_fee * (target - gas_used) // target // BASE_FEE_MAX_CHANGE_DENOMINATOR
    return max(parent_base_fee - delta, 0)


def next_base_fee_after(base_fee: int, gas_used: int, background_gas: int, gas_limit: int) -> int:
    """Base fee of the next block after one with ``gas_used`` executed and ``background_gas``
    virtual gas (together capped at the limit): the rule every backend applies."""
    return next_base_fee(base_fee, min(gas_limit, gas_used + background_gas), gas_limit)


def base_fee_after(parent_header) -> int:
    """Base fee of the child of ``parent_header``, counting its real and virtual gas."""
    return next_base_fee_after(parent_header.base_fee_per_gas, parent_header.gas_used,
                               background_gas_of(parent_header), parent_header.gas_limit)


def __getattr__(name: str):
    """``SandboxVM``, for older imports: it lives in ``sandbox.chain.vm`` (imported on first use,
    so only the py-evm backend imports py-evm)."""
    if name == "SandboxVM":
        from .vm import SandboxVM

        return SandboxVM
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
