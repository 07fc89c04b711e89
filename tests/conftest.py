"""Shared fixtures: a fresh chain and a deployed market per test (no state leaks between tests)."""

from __future__ import annotations

import pytest

from sandbox.chain import PyEVMChain
from sandbox.market import MarketParams, deploy_market

ROLES = ["deployer", "oracle", "treasury"]
BORROWERS = [f"borrower-{i}" for i in range(6)]
KEEPERS = [f"keeper-{i}" for i in range(4)]


@pytest.fixture
def chain() -> PyEVMChain:
    return PyEVMChain(seed=1234, accounts=ROLES + BORROWERS + KEEPERS + ["arbitrageur"])


@pytest.fixture
def market(chain):
    return deploy_market(chain, MarketParams())


@pytest.fixture
def borrowers(chain):
    return [chain.account(label) for label in BORROWERS]


@pytest.fixture
def keepers(chain):
    return [chain.account(label) for label in KEEPERS]
