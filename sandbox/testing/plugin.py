"""The pytest plug-in of liquidation-sandbox (entry point ``pytest11``): fixtures the
conformance suites build on, for this project's tests and third-party plug-in authors alike.

Fixtures: ``sandbox_chain`` (a fresh chain on ``--sandbox-backend``, accounts labelled deployer,
oracle, treasury, builder, arbitrageur, borrower-0..5, keeper-0..3), ``sandbox_market`` (the
lending market deployed on it). Nothing heavy is imported until a fixture is used.
"""

from __future__ import annotations

import pytest

ROLES = ["deployer", "oracle", "treasury", "builder", "arbitrageur"]
BORROWERS = [f"borrower-{i}" for i in range(6)]
KEEPERS = [f"keeper-{i}" for i in range(4)]


def pytest_addoption(parser) -> None:
    group = parser.getgroup("liquidation-sandbox")
    group.addoption("--sandbox-backend", default="eth-tester",
                    help="chain backend of the sandbox's conformance fixtures (default: eth-tester)")
    group.addoption("--sandbox-seed", type=int, default=1234,
                    help="seed of the sandbox's conformance fixtures (accounts derive from it)")


@pytest.fixture
def sandbox_chain(request):
    """A fresh chain for one test: nothing leaks between tests."""
    from sandbox.chain import open_chain

    chain = open_chain(request.config.getoption("--sandbox-backend"),
                       seed=request.config.getoption("--sandbox-seed"), accounts=ROLES + BORROWERS + KEEPERS)
    yield chain
    close = getattr(chain, "close", None)  # backends with a node process stop it
    if close is not None:
        close()


@pytest.fixture
def sandbox_market(sandbox_chain):
    """The lending market (default parameters) on ``sandbox_chain``."""
    from sandbox.market import MarketParams, deploy_market

    return deploy_market(sandbox_chain, MarketParams())
