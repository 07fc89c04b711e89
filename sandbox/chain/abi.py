"""A small, fast ABI codec: calldata, return values, events and revert reasons.

web3's contract objects are convenient but slow in a hot loop; agents encode and decode
thousands of calls per run, so selectors and types are precomputed once per ABI.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, Sequence

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

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
        return {c["name"]: _to_python(c, v) for c, v in zip(param["components"], value)}
    return value


@dataclass(frozen=True)
class Function:
    name: str
    selector: bytes
    input_types: tuple[str, ...]
    outputs: tuple[dict, ...]
    output_types: tuple[str, ...]

    def encode(self, *args: Any) -> bytes:
        if len(args) != len(self.input_types):
            raise TypeError(f"{self.name} takes {len(self.input_types)} arguments, got {len(args)}")
        return self.selector + abi_encode(self.input_types, args)

    def decode_output(self, data: bytes) -> Any:
        values = abi_decode(self.output_types, data)
        values = [_to_python(p, v) for p, v in zip(self.outputs, values)]
        return values[0] if len(values) == 1 else tuple(values)


@dataclass(frozen=True)
class Event:
    name: str
    topic: bytes
    indexed: tuple[tuple[str, str], ...]  # (name, type)
    data_params: tuple[dict, ...]

    def decode(self, topics: Sequence[bytes], data: bytes) -> dict:
        args: dict[str, Any] = {}
        for (pname, ptype), topic in zip(self.indexed, topics[1:]):
            if _is_dynamic(ptype):
                args[pname] = topic
            else:
                value = abi_decode([ptype], topic)[0]
                args[pname] = checksum(value) if ptype == "address" else value
        values = abi_decode([canonical_type(p) for p in self.data_params], data)
        for p, v in zip(self.data_params, values):
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
            inner = ", ".join(f"{n}={v}" for n, v in zip(names, values))
            return f"{name}({inner})"
    except Exception:  # malformed revert data: fall through to the raw form
        pass
    return f"reverted with data 0x{data.hex()}"


@lru_cache(maxsize=None)
def all_artifact_abis() -> tuple[ContractABI, ...]:
    """ABIs of every shipped contract, for decoding logs and errors of unregistered addresses."""
    from sandbox.contracts import ARTIFACTS_DIR, load_artifact

    return tuple(ContractABI(load_artifact(p.stem).abi)
                 for p in sorted(ARTIFACTS_DIR.glob("*.json")) if p.stem != "build-info")


@lru_cache(maxsize=None)
def known_errors() -> dict:
    merged: dict = {}
    for abi in all_artifact_abis():
        merged.update(abi.errors)
    return merged


@lru_cache(maxsize=None)
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
        name, args = "", {}
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
