"""Compiled contract artifacts (ABI + bytecode), shipped as package data."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ARTIFACTS_DIR = Path(__file__).parent / "artifacts"


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: tuple
    bytecode: bytes

    @property
    def abi_list(self) -> list:
        return list(self.abi)


class UnknownContract(LookupError):
    pass


def artifact_from_file(path: Path | str) -> Artifact:
    """An artifact from any JSON file with ``abi`` and ``bytecode`` (third-party packages ship their own)."""
    return _load_path(str(path))


@cache
def _load_path(path: str) -> Artifact:
    data = json.loads(Path(path).read_text())
    return Artifact(name=data.get("contractName", Path(path).stem), abi=_freeze(data["abi"]),
                    bytecode=bytes.fromhex(data["bytecode"].removeprefix("0x")))


def load_artifact(name: "str | Artifact") -> Artifact:
    """The compiled artifact of contract ``name`` (read once per process, immutable)."""
    if isinstance(name, Artifact):
        return name
    path = ARTIFACTS_DIR / f"{name}.json"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in ARTIFACTS_DIR.glob("*.json") if p.stem != "build-info"))
        raise UnknownContract(f"no compiled contract named {name!r} (known: {known})")
    return _load_path(str(path))


def _freeze(obj):
    if isinstance(obj, list):
        return tuple(_freeze(x) for x in obj)
    if isinstance(obj, dict):
        return _FrozenDict((k, _freeze(v)) for k, v in obj.items())
    return obj


class _FrozenDict(dict):
    """A read-only dict so cached ABIs cannot be mutated by one run and seen by another."""

    def _readonly(self, *a, **k):
        raise TypeError("artifact ABIs are read-only")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly

    def __hash__(self):
        return hash(tuple(sorted(self.items(), key=lambda kv: kv[0])))
