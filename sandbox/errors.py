"""The sandbox's own error type: what the command line may show as one line instead of a traceback.

Every error the package raises on purpose — bad input (``ScenarioError``), a results folder
it cannot use (``ResultsError``), an unknown plug-in (``UnknownPlugin``), a chain backend that
fails (``ChainError``), a compiler that is missing (``BuildError``) — derives from
``SandboxError``. Anything else that reaches the command line is a bug: it gets a short
traceback and exit code 3, never a one-line message that looks like the user's mistake.

This module imports nothing from the rest of the package, so every layer (the chain layer
included) can import it.
"""

from __future__ import annotations


class SandboxError(Exception):
    """An error the sandbox raises on purpose; its message is one line meant for the user."""


def one_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message, or its type's name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = ["SandboxError", "one_line"]
