"""Every registered chain backend follows the same rules: the suite in sandbox.testing.chain,
run once per backend found under the ``sandbox.backends`` entry points."""

from __future__ import annotations

import pytest

from sandbox.chain import CHAIN_BACKENDS
from sandbox.chain.anvil import AnvilNotFound
from sandbox.testing.chain import ChainConformance


@pytest.fixture(params=CHAIN_BACKENDS.names())
def chain_factory(request):
    """Fresh chains of one registered backend, closed after the test."""
    backend = CHAIN_BACKENDS.load(request.param)
    chains = []

    def make(**kwargs):
        try:
            chain = backend(**kwargs)
        except AnvilNotFound as exc:
            pytest.skip(f"backend {request.param!r} unavailable here: {exc}")
        chains.append(chain)
        return chain

    yield make
    for chain in chains:
        close = getattr(chain, "close", None)
        if close is not None:
            close()


class TestRegisteredBackends(ChainConformance):
    """The whole suite, once per backend (test ids end in ``[eth-tester]``, ``[anvil]``, …)."""


def test_both_built_in_backends_are_registered():
    assert {"eth-tester", "anvil"} <= set(CHAIN_BACKENDS.names())
