"""The fast paths of the ABI codec give eth_abi's bytes and values, or eth_abi's error."""

from __future__ import annotations

import pytest
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_abi.exceptions import EncodingTypeError
from eth_utils import keccak, to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.chain.abi import Function, _decode, _decode_plans, all_artifact_abis, canonical_type

ADDRESSES = st.binary(min_size=20, max_size=20).map(to_checksum_address)
LOWER = ADDRESSES.map(str.lower)


def value_for(abi_type: str) -> st.SearchStrategy:
    if abi_type.startswith("(") and abi_type.endswith(")"):
        return st.tuples(*(value_for(t) for t in abi_type[1:-1].split(",")))
    if abi_type.startswith("bytes") and abi_type != "bytes":
        return st.binary(min_size=int(abi_type[5:]), max_size=int(abi_type[5:]))
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
    with pytest.raises(EncodingTypeError):
        abi_encode(["uint256"], (np.int64(5),))
    with pytest.raises(EncodingTypeError):
        function.encode(raw, np.int64(5))


OUTPUTS = sorted({t for abi in all_artifact_abis() for f in abi.functions.values() for t in f.output_types}
                 | {canonical_type(p) for abi in all_artifact_abis() for e in abi.events.values()
                    for p in e.data_params} | {"bytes", "string", "bytes4", "int8", "uint8[]"})


@pytest.mark.parametrize("abi_type", OUTPUTS)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_fast_decoding_equals_eth_abi(abi_type, data):
    types = (abi_type, "uint256", abi_type)
    values = tuple(data.draw(value_for(t)) for t in types)
    encoded = abi_encode(list(types), values)
    plans = _decode_plans(types)
    assert plans is not None
    assert _decode(types, plans, encoded) == abi_decode(list(types), encoded)


@pytest.mark.parametrize("abi_type,word", [
    ("address", b"\1" + bytes(31)), ("bool", bytes(31) + b"\2"), ("uint8", bytes(30) + b"\1\0"),
    ("int8", bytes(31) + b"\x80"), ("bytes4", bytes(31) + b"\1"),
])
def test_words_eth_abi_refuses_are_refused_the_same_way(abi_type, word):
    with pytest.raises(Exception) as expected:
        abi_decode([abi_type], word)
    with pytest.raises(type(expected.value)):
        _decode((abi_type,), _decode_plans((abi_type,)), word)


def test_non_canonical_or_short_data_goes_to_eth_abi():
    types = ("uint256[]",)
    plans = _decode_plans(types)
    canonical = abi_encode(list(types), ([1, 2],))
    for data in (canonical[:-1], canonical + bytes(32), bytes(31) + b"\x40" + canonical[32:]):
        try:
            expected = abi_decode(list(types), data)
        except Exception as exc:
            with pytest.raises(type(exc)):
                _decode(types, plans, data)
        else:
            assert _decode(types, plans, data) == expected
