"""The fast calldata path of ``Function.encode`` gives eth_abi's bytes, or eth_abi's error."""

from __future__ import annotations

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.chain.abi import Function, all_artifact_abis

ADDRESSES = st.binary(min_size=20, max_size=20).map(to_checksum_address)
LOWER = ADDRESSES.map(str.lower)


def value_for(abi_type: str) -> st.SearchStrategy:
    if abi_type.endswith("[]"):
        return st.lists(value_for(abi_type[:-2]), max_size=4)
    if abi_type == "address":
        return st.one_of(ADDRESSES, LOWER)
    if abi_type == "bool":
        return st.booleans()
    if abi_type in ("bytes", "string"):
        return st.binary(max_size=100) if abi_type == "bytes" else st.text(max_size=40)
    bits = int(abi_type.lstrip("uint") or 256)
    if abi_type.startswith("int"):
        return st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    return st.integers(0, (1 << bits) - 1)


FUNCTIONS = sorted({(f.name, f.input_types): f for abi in all_artifact_abis() for f in abi.functions.values()
                    if f.input_types}.values(), key=lambda f: (f.name, f.input_types))
EXTRA = [Function(name="mixed", selector=keccak(text="mixed")[:4], outputs=(), output_types=(),
                  input_types=("uint8", "int64", "string", "address[]", "bool[]", "int256[]", "bytes"))]


@pytest.mark.parametrize("function", FUNCTIONS + EXTRA, ids=lambda f: f"{f.name}({','.join(f.input_types)})")
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_fast_encoding_equals_eth_abi(function, data):
    args = tuple(data.draw(value_for(t)) for t in function.input_types)
    assert function.encode(*args) == function.selector + abi_encode(list(function.input_types), args)


BAD = [
    ("uint256", -1), ("uint256", 1 << 256), ("uint80", 1 << 80), ("uint256", True), ("uint256", 1.0),
    ("int256", 1 << 255), ("address", "0x" + "ab" * 19), ("address", "0x" + "gg" * 20),
    ("bool", 1), ("bytes", "text"), ("address[]", ["nope"]),
]


@pytest.mark.parametrize("abi_type,value", BAD)
def test_values_eth_abi_refuses_are_refused_the_same_way(abi_type, value):
    function = Function(name="f", selector=b"\0" * 4, input_types=(abi_type,), outputs=(), output_types=())
    with pytest.raises(Exception) as expected:
        abi_encode([abi_type], (value,))
    with pytest.raises(type(expected.value)):
        function.encode(value)


def test_numpy_integers_and_bytes_arguments_go_through_eth_abi():
    """Values outside the plain cases are eth_abi's to judge (numpy ints, 20-byte addresses)."""
    import numpy as np

    function = Function(name="f", selector=b"\0" * 4, input_types=("address", "uint256"), outputs=(),
                        output_types=())
    raw = bytes(range(20))
    assert function.encode(raw, 5) == b"\0" * 4 + abi_encode(["address", "uint256"], (raw, 5))
    with pytest.raises(Exception):
        abi_encode(["uint256"], (np.int64(5),))
    with pytest.raises(Exception):
        function.encode(raw, np.int64(5))
