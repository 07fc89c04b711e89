"""Entry-point registries: built-ins and third-party plug-ins are found the same way."""

from __future__ import annotations

import difflib
import sys
from importlib.metadata import entry_points
from typing import Callable, Generic, TypeVar, cast

from sandbox.errors import SandboxError

T = TypeVar("T")


_SCANNED: dict[tuple, dict] = {}  # (group, sys.path) -> {name: entry point}


class UnknownPlugin(SandboxError, LookupError):
    """A name that no installed package registers; the message suggests the closest ones."""


class Registry(Generic[T]):
    """Plug-ins registered under one entry-point group; the key is the entry-point name."""

    def __init__(self, group: str, kind: str, base: type,
                 check: Callable[[type[T]], list[str]] | None = None):
        """``base`` is T's class (plug-ins must subclass it; typed ``type``, not ``type[T]``, because
        mypy refuses an abstract class there); ``check(cls)`` names what a loaded plug-in lacks
        (it is refused when anything is)."""
        self.group = group
        self.kind = kind
        self.base = base
        self.check = check

    def _entry_points(self) -> dict:
        """The group's entry points, scanned once per search path (a scan reads every installed
        distribution's metadata: a tenth of a second, and a run asks several times)."""
        key = (self.group, tuple(sys.path))
        found = _SCANNED.get(key)
        if found is None:
            found = _SCANNED[key] = {ep.name: ep for ep in entry_points(group=self.group)}
        return found

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
        plugin = cast("type[T]", obj)  # a subclass of base, T's class (checked just above)
        missing = self.check(plugin) if self.check is not None else []
        if missing:
            raise UnknownPlugin(f"{self.kind} {name!r} ({eps[name].value}) lacks required "
                                f"{', '.join(missing)}")
        return plugin

    def all(self) -> dict[str, type[T]]:
        return {name: self.load(name) for name in self.names()}
