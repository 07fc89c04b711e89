"""A small, fast ABI codec: calldata, return values, events and revert reasons.

web3's contract objects are convenient but slow in a hot loop; agents encode and decode
thousands of calls per run, so selectors and types are precomputed once per ABI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any, Iterable, Sequence

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import is_address, keccak, to_canonical_address, to_checksum_address

from .types import DecodedLog

ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)


def canonical_type(param: dict) -> str:
    """The ABI type string of one parameter, tuples expanded: ``(address,uint256)[]``."""
    kind = param["type"]
    if kind.startswith("tuple"):
        inner = ",".join(canonical_type(c) for c in param["components"])
        return f"({inner}){kind[len('tuple'):]}"
    return kind


@lru_cache(maxsize=65536)
def checksum(address: str) -> str:
    return to_checksum_address(address)


def _to_python(param: dict, value: Any) -> Any:
    """Decoded tuples become dicts keyed by component name; addresses become EIP-55 checksummed."""
    kind = param["type"]
    if kind == "address":
        return checksum(value)
    if kind.startswith("address["):
        return [_to_python(dict(param, type=kind[: kind.rindex("[")]), v) for v in value]
    if kind.startswith("tuple"):
        if kind.endswith("]"):
            inner = dict(param, type=kind[: kind.rindex("[")])
            return [_to_python(inner, v) for v in value]
        return {c["name"]: _to_python(c, v) for c, v in zip(param["components"], value, strict=True)}
    return value


# --- a fast path for calldata --------------------------------------------------------------------
# eth_abi builds an encoder per call and validates through several layers (~40 µs for two
# arguments); keepers encode calls for every candidate every block. The types the shipped
# contracts take (integers, addresses, bools, bytes, arrays of those) are encoded here directly,
# byte for byte as eth_abi does (a test compares the two). A value outside the plain cases (not
# an int, an address that is not a valid hex string, out of range) goes to eth_abi, which then
# encodes it or raises exactly as before.

_WORD = 32


@lru_cache(maxsize=65536)
def _address_word(value: str) -> bytes | None:
    """The 32-byte word of a hex address eth_abi accepts (checksum enforced when mixed-case)."""
    return bytes(12) + to_canonical_address(value) if is_address(value) else None


def _uint_word(value: Any, bits: int) -> bytes | None:
    if type(value) is not int or value < 0 or value >> bits:
        return None
    return value.to_bytes(_WORD, "big")


def _int_word(value: Any, bits: int) -> bytes | None:
    if type(value) is not int or not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
        return None
    return (value % (1 << 256)).to_bytes(_WORD, "big")


def _static_word(kind: str, bits: int, value: Any) -> bytes | None:
    if kind == "uint":
        return _uint_word(value, bits)
    if kind == "address":
        return _address_word(value) if type(value) is str else None
    if kind == "bool":
        return (b"\0" * 31 + (b"\1" if value else b"\0")) if type(value) is bool else None
    if kind == "int":
        return _int_word(value, bits)
    return None


def _plan(abi_type: str) -> tuple[str, str, int] | None:
    """(shape, element kind, bits) for a type the fast path encodes, None otherwise."""
    if abi_type in ("bytes", "string"):
        return ("bytes" if abi_type == "bytes" else "string", "", 0)
    shape = "static"
    if abi_type.endswith("[]"):
        shape, abi_type = "array", abi_type[:-2]
    if abi_type in ("address", "bool"):
        return shape, abi_type, 0
    for kind in ("uint", "int"):
        if abi_type.startswith(kind) and abi_type[len(kind):].isdigit():
            bits = int(abi_type[len(kind):])
            if bits % 8 == 0 and 8 <= bits <= 256:
                return shape, kind, bits
    return None


def _padded(data: bytes) -> bytes:
    return len(data).to_bytes(_WORD, "big") + data + bytes(-len(data) % _WORD)


def fast_encode(plans: tuple, args: Sequence[Any]) -> bytes | None:
    """ABI encoding of ``args`` (head and tail, as eth_abi), or None when a value is not one
    of the plain cases (then eth_abi decides)."""
    heads: list[bytes] = []  # b"" for a dynamic value, whose head (an offset) is known only at the end
    tails: list[bytes] = []
    for (shape, kind, bits), value in zip(plans, args, strict=True):
        if shape == "static":
            word = _static_word(kind, bits, value)
            if word is None:
                return None
            heads.append(word)
            continue
        if shape == "bytes":
            if not isinstance(value, (bytes, bytearray)):
                return None
            tail = _padded(bytes(value))
        elif shape == "string":
            if not isinstance(value, str):
                return None
            tail = _padded(value.encode("utf8"))
        else:  # a dynamic array of static elements
            if not isinstance(value, (list, tuple)):
                return None
            words = [_static_word(kind, bits, v) for v in value]
            encoded = [w for w in words if w is not None]
            if len(encoded) != len(words):
                return None
            tail = len(value).to_bytes(_WORD, "big") + b"".join(encoded)
        heads.append(b"")
        tails.append(tail)
    if not tails:
        return b"".join(heads)
    offset = _WORD * len(heads)
    out = []
    it = iter(tails)
    body = []
    for head in heads:
        if not head:
            tail = next(it)
            out.append(offset.to_bytes(_WORD, "big"))
            body.append(tail)
            offset += len(tail)
        else:
            out.append(head)
    return b"".join(out) + b"".join(body)


_BAD = object()  # a word the fast path does not decode: eth_abi decides
_ZERO12 = bytes(12)
_FALSE_WORD, _TRUE_WORD = bytes(32), bytes(31) + b"\1"


def _elementary(abi_type: str) -> tuple[str, int] | None:
    """(kind, size) of a static elementary type: uint/int (bits), address, bool, bytesN (N)."""
    if abi_type in ("address", "bool"):
        return abi_type, 0
    for kind in ("uint", "int", "bytes"):
        if abi_type.startswith(kind) and abi_type[len(kind):].isdigit():
            size = int(abi_type[len(kind):])
            if kind == "bytes":
                return (kind, size) if 1 <= size <= 32 else None
            return (kind, size) if size % 8 == 0 and 8 <= size <= 256 else None
    return None


def _word_value(kind: str, size: int, word: bytes) -> Any:
    """The value of one 32-byte word as eth_abi decodes it, _BAD when it is not canonical."""
    if kind == "uint":
        value = int.from_bytes(word, "big")
        return _BAD if value >> size else value
    if kind == "address":
        return "0x" + word[12:].hex() if word[:12] == _ZERO12 else _BAD  # lower case, as eth_abi
    if kind == "bool":
        return False if word == _FALSE_WORD else True if word == _TRUE_WORD else _BAD
    if kind == "int":
        value = int.from_bytes(word, "big", signed=True)
        return value if -(1 << (size - 1)) <= value < (1 << (size - 1)) else _BAD
    return word[:size] if not any(word[size:]) else _BAD  # bytesN


def _decode_plan(abi_type: str) -> tuple | None:
    """How the fast path decodes ``abi_type``: ("word", kind, size), ("bytes"|"string",),
    ("tuple", words), ("array", element plan); None for anything else."""
    if abi_type in ("bytes", "string"):
        return (abi_type,)
    if abi_type.endswith("[]"):
        inner = _decode_plan(abi_type[:-2])
        return ("array", inner) if inner is not None and inner[0] in ("word", "tuple") else None
    if abi_type.startswith("(") and abi_type.endswith(")"):
        parts = [_elementary(t) for t in abi_type[1:-1].split(",")]
        return ("tuple", tuple(parts)) if parts and all(p is not None for p in parts) else None
    kind = _elementary(abi_type)
    return None if kind is None else ("word", *kind)


def _static_values(plan: tuple, data: bytes, at: int) -> tuple[Any, int]:
    """(value, words used) of a static plan (a word or a tuple of words) at byte ``at``."""
    if plan[0] == "word":
        return _word_value(plan[1], plan[2], data[at:at + _WORD]), 1
    values = []
    for i, (kind, size) in enumerate(plan[1]):
        value = _word_value(kind, size, data[at + i * _WORD:at + (i + 1) * _WORD])
        if value is _BAD:
            return _BAD, 0
        values.append(value)
    return tuple(values), len(plan[1])


def fast_decode(plans: tuple, data: bytes) -> tuple | None:
    """``data`` decoded as eth_abi does, when it is the canonical encoding (tails in order,
    nothing left over); None otherwise (then eth_abi decodes or raises)."""
    data = bytes(data)
    values: list[Any] = []
    head = 0
    tail = sum(len(p[1]) * _WORD if p[0] == "tuple" else _WORD for p in plans)  # where tails start
    for plan in plans:
        if plan[0] in ("word", "tuple"):
            value, used = _static_values(plan, data, head)
            if value is _BAD or head + used * _WORD > len(data):
                return None
            values.append(value)
            head += used * _WORD
            continue
        if int.from_bytes(data[head:head + _WORD], "big") != tail or tail + _WORD > len(data):
            return None
        head += _WORD
        count = int.from_bytes(data[tail:tail + _WORD], "big")
        start = tail + _WORD
        if plan[0] == "array":
            width = len(plan[1][1]) if plan[1][0] == "tuple" else 1
            end = start + count * width * _WORD
            if end > len(data):
                return None
            items = []
            for i in range(count):
                value, _ = _static_values(plan[1], data, start + i * width * _WORD)
                if value is _BAD:
                    return None
                items.append(value)
            values.append(tuple(items))
        else:
            end = start + -(-count // _WORD) * _WORD
            raw = data[start:start + count]
            if end > len(data) or any(data[start + count:end]):
                return None
            if plan[0] == "string":
                try:
                    values.append(raw.decode("utf8"))
                except UnicodeDecodeError:
                    return None
            else:
                values.append(raw)
        tail = end
    return tuple(values) if tail == len(data) else None


def _decode(types: Sequence[str], plans: tuple | None, data: bytes) -> tuple:
    """eth_abi's ``decode(types, data)``, through the fast path when it applies."""
    if plans is not None:
        values = fast_decode(plans, data)
        if values is not None:
            return values
    return abi_decode(list(types), data)


def _decode_plans(types: Sequence[str]) -> tuple | None:
    plans = tuple(_decode_plan(t) for t in types)
    return None if any(p is None for p in plans) else plans


@dataclass(frozen=True)
class Function:
    name: str
    selector: bytes
    input_types: tuple[str, ...]
    outputs: tuple[dict, ...]
    output_types: tuple[str, ...]
    # derived in __post_init__ (plans are None where only eth_abi handles a type)
    _plans: tuple | None = field(init=False, repr=False, compare=False)
    _output_plans: tuple | None = field(init=False, repr=False, compare=False)
    _input_plans: tuple | None = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        plans = tuple(_plan(t) for t in self.input_types)
        object.__setattr__(self, "_plans", None if any(p is None for p in plans) else plans)
        object.__setattr__(self, "_output_plans", _decode_plans(self.output_types))
        object.__setattr__(self, "_input_plans", _decode_plans(self.input_types))

    def encode(self, *args: Any) -> bytes:
        if len(args) != len(self.input_types):
            raise TypeError(f"{self.name} takes {len(self.input_types)} arguments, got {len(args)}")
        if self._plans is not None:
            data = fast_encode(self._plans, args)
            if data is not None:
                return self.selector + data
        return self.selector + abi_encode(self.input_types, args)

    def decode_input(self, data: bytes) -> tuple:
        """The arguments of calldata ``data`` (selector included), as eth_abi decodes them."""
        return _decode(self.input_types, self._input_plans, bytes(data[4:]))

    def decode_output(self, data: bytes) -> Any:
        values = _decode(self.output_types, self._output_plans, data)
        converted = [_to_python(p, v) for p, v in zip(self.outputs, values, strict=True)]
        return converted[0] if len(converted) == 1 else tuple(converted)


@dataclass(frozen=True)
class Event:
    name: str
    topic: bytes
    indexed: tuple[tuple[str, str], ...]  # (name, type)
    data_params: tuple[dict, ...]
    # derived in __post_init__
    _data_types: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _data_plans: tuple | None = field(init=False, repr=False, compare=False)
    _topic_plans: tuple[tuple | None, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        types = tuple(canonical_type(p) for p in self.data_params)
        object.__setattr__(self, "_data_types", types)
        object.__setattr__(self, "_data_plans", _decode_plans(types))
        object.__setattr__(self, "_topic_plans", tuple(_decode_plans((t,)) for _, t in self.indexed))

    def decode(self, topics: Sequence[bytes], data: bytes) -> dict:
        args: dict[str, Any] = {}
        # topics as the emitting contract wrote them: not checked against this ABI's count, as before
        for (pname, ptype), plans, topic in zip(self.indexed, self._topic_plans, topics[1:], strict=False):
            if _is_dynamic(ptype):
                args[pname] = topic
            else:
                value = _decode((ptype,), plans, topic)[0]
                args[pname] = checksum(value) if ptype == "address" else value
        values = _decode(self._data_types, self._data_plans, data)
        for p, v in zip(self.data_params, values, strict=True):
            args[p["name"]] = _to_python(p, v)
        return args


def _is_dynamic(kind: str) -> bool:
    return kind in ("string", "bytes") or kind.endswith("]") or kind.startswith("(")


def _signature(item: dict) -> str:
    return f"{item['name']}({','.join(canonical_type(i) for i in item['inputs'])})"


class ContractABI:
    """Precomputed selectors for one contract's functions, events and custom errors."""

    def __init__(self, abi: Iterable[dict]):
        self.functions: dict[str, Function] = {}
        self.events: dict[bytes, Event] = {}
        self.errors: dict[bytes, tuple[str, tuple[str, ...], tuple[str, ...]]] = {}
        for item in abi:
            kind = item.get("type")
            if kind == "function":
                if item["name"] in self.functions:
                    raise ValueError(f"overloaded function {item['name']} is not supported")
                outputs = tuple(item.get("outputs", ()))
                self.functions[item["name"]] = Function(
                    name=item["name"],
                    selector=keccak(text=_signature(item))[:4],
                    input_types=tuple(canonical_type(i) for i in item["inputs"]),
                    outputs=outputs,
                    output_types=tuple(canonical_type(o) for o in outputs),
                )
            elif kind == "event":
                self.events[keccak(text=_signature(item))] = Event(
                    name=item["name"],
                    topic=keccak(text=_signature(item)),
                    indexed=tuple((i["name"], canonical_type(i)) for i in item["inputs"] if i["indexed"]),
                    data_params=tuple(i for i in item["inputs"] if not i["indexed"]),
                )
            elif kind == "error":
                self.errors[keccak(text=_signature(item))[:4]] = (
                    item["name"],
                    tuple(i["name"] for i in item["inputs"]),
                    tuple(canonical_type(i) for i in item["inputs"]),
                )

    def function(self, name: str) -> Function:
        try:
            return self.functions[name]
        except KeyError:
            raise AttributeError(f"no function {name!r} in this ABI") from None

    def encode(self, name: str, *args: Any) -> bytes:
        return self.function(name).encode(*args)

    def event_topic(self, name: str) -> bytes:
        for topic, ev in self.events.items():
            if ev.name == name:
                return topic
        raise AttributeError(f"no event {name!r} in this ABI")


def decode_revert(data: bytes, errors: dict[bytes, tuple[str, tuple[str, ...], tuple[str, ...]]]) -> str:
    """Human-readable revert reason: Error(string), Panic(code) or a known custom error."""
    if not data:
        return "reverted without reason"
    selector, payload = data[:4], data[4:]
    try:
        if selector == ERROR_STRING_SELECTOR:
            return abi_decode(["string"], payload)[0]
        if selector == PANIC_SELECTOR:
            return f"Panic(0x{abi_decode(['uint256'], payload)[0]:02x})"
        if selector in errors:
            name, names, types = errors[selector]
            values = abi_decode(list(types), payload)
            inner = ", ".join(f"{n}={v}" for n, v in zip(names, values, strict=True))
            return f"{name}({inner})"
    except Exception:  # malformed revert data: fall through to the raw form
        pass
    return f"reverted with data 0x{data.hex()}"


@cache
def all_artifact_abis() -> tuple[ContractABI, ...]:
    """ABIs of every shipped contract, for decoding logs and errors of unregistered addresses."""
    from sandbox.contracts import ARTIFACTS_DIR, load_artifact

    return tuple(ContractABI(load_artifact(p.stem).abi)
                 for p in sorted(ARTIFACTS_DIR.glob("*.json")) if p.stem != "build-info")


@cache
def known_errors() -> dict:
    merged: dict = {}
    for abi in all_artifact_abis():
        merged.update(abi.errors)
    return merged


@cache
def known_events() -> dict:
    merged: dict = {}
    for abi in all_artifact_abis():
        merged.update(abi.events)
    return merged


# Why a transaction or call stopped without REVERT, in one vocabulary for every backend: py-evm's
# exception names. Backends word their halts differently (py-evm adds gas figures, anvil's
# traces say "Out of gas"), and results tables must not depend on the backend.
HALTS = {
    "out of gas": "OutOfGas",
    "outofgas": "OutOfGas",
    "bad instruction": "InvalidInstruction",
    "invalid opcode": "InvalidInstruction",
    "opcodenotfound": "InvalidInstruction",
    "invalidfeopcode": "InvalidInstruction",
    "bad jump destination": "InvalidJumpDestination",
    "invalidjump": "InvalidJumpDestination",
    "stack underflow": "InsufficientStack",
    "stackunderflow": "InsufficientStack",
    "out of stack": "FullStack",
    "stack overflow": "FullStack",
    "stackoverflow": "FullStack",
    "mutable call in static context": "WriteProtection",
    "statecallnotallowed": "WriteProtection",
    "call depth": "StackDepthLimit",
    "calltoodeep": "StackDepthLimit",
}


def halt_reason(kind: str) -> str:
    """The backend-neutral name of a halt (``OutOfGas``, ``InvalidInstruction``, ...), from a
    py-evm exception name or a node's error text; unknown kinds pass through unchanged."""
    key = kind.strip().lower().removeprefix("evm error").strip()
    if key in HALTS:
        return HALTS[key]
    for text, name in HALTS.items():
        if key.startswith(text) or name.lower() == key:
            return name
    return kind.strip()


class AbiBook:
    """ABIs registered per address: decodes logs and revert reasons the same way on every backend.

    An address without a registered ABI is decoded with every shipped contract's events and
    errors, so logs of contracts deployed by other contracts still get names.
    """

    def __init__(self) -> None:
        self._abis: dict[str, ContractABI] = {}

    def register(self, address: str, abi: Any) -> None:
        self._abis[checksum(address)] = abi if isinstance(abi, ContractABI) else ContractABI(abi)

    def decode_log(self, address: str, topics: tuple[bytes, ...], data: bytes, index: int) -> DecodedLog:
        """One log as a DecodedLog (``name``/``args`` empty when no known event matches)."""
        address = checksum(address)
        name = ""
        args: dict[str, Any] = {}
        if topics:
            abi = self._abis.get(address)
            event = abi.events.get(topics[0]) if abi else None
            event = event or known_events().get(topics[0])
            if event is not None:
                name, args = event.name, event.decode(topics, data)
        return DecodedLog(address=address, name=name, args=args, log_index=index, topics=topics, data=data)

    def revert_reason(self, to: str | None, data: bytes) -> str:
        """The reason of a REVERT with ``data``, with ``to``'s custom errors when registered."""
        abi = self._abis.get(checksum(to)) if to else None
        errors = {**known_errors(), **(abi.errors if abi else {})}
        return decode_revert(data, errors)
