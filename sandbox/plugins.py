"""Entry-point registries: built-ins and third-party plug-ins are found the same way."""

from __future__ import annotations

import difflib
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from sandbox.errors import SandboxError

T = TypeVar("T")


class UnknownPlugin(SandboxError, LookupError):
    """A name that no installed package registers; the message suggests the closest ones."""


class Registry(Generic[T]):
    """Plug-ins registered under one entry-point group; the key is the entry-point name."""

    def __init__(self, group: str, kind: str, base: type):
        self.group = group
        self.kind = kind
        self.base = base

    def _entry_points(self) -> dict:
        return {ep.name: ep for ep in entry_points(group=self.group)}

    def names(self) -> list[str]:
        return sorted(self._entry_points())

    def load(self, name: str) -> type[T]:
        eps = self._entry_points()
        if name not in eps:
            close = difflib.get_close_matches(name, list(eps), n=3, cutoff=0.5)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            known = ", ".join(sorted(eps)) or "none installed"
            raise UnknownPlugin(f"unknown {self.kind} {name!r}{hint} (known: {known})")
        obj = eps[name].load()
        if not (isinstance(obj, type) and issubclass(obj, self.base)):
            raise UnknownPlugin(f"{self.kind} {name!r} ({eps[name].value}) is not a {self.base.__name__}")
        return obj

    def all(self) -> dict[str, type[T]]:
        return {name: self.load(name) for name in self.names()}
