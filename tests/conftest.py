"""Shared fixtures: a fresh chain and a deployed market per test (no state leaks between tests);
the closing summary of the property and adversarial suites."""

from __future__ import annotations

import pytest

from sandbox.chain import PyEVMChain
from sandbox.market import MarketParams, deploy_market

ROLES = ["deployer", "oracle", "treasury"]
BORROWERS = [f"borrower-{i}" for i in range(6)]
KEEPERS = [f"keeper-{i}" for i in range(4)]

REPORT = pytest.StashKey[dict]()


def pytest_configure(config) -> None:
    config.stash[REPORT] = {"attacks": [], "examples": [], "perp_steps": 0, "perp_examples": 0}


@pytest.fixture(scope="session")
def suite_report(request) -> dict:
    """What the property and adversarial tests record for the closing summary."""
    return request.config.stash[REPORT]


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    report = config.stash.get(REPORT, None)
    if not report:
        return
    lines = []
    examples = report["examples"]
    if examples:
        at_risk = sum(1 for e in examples if e["at_risk"])
        by_mech: dict[str, list[int]] = {}
        for e in examples:
            n, r = by_mech.setdefault(e["mechanism"], [0, 0]), e["at_risk"]
            n[0] += 1
            n[1] += bool(r)
        lines.append(f"lending property examples: {len(examples)} run, {at_risk} with debt at risk "
                     f"({at_risk / len(examples):.0%}); " + ", ".join(
                         f"{m} {r}/{n}" for m, (n, r) in sorted(by_mech.items())))
    if report["perp_examples"]:
        lines.append(f"perp property examples: {report['perp_examples']} sequences, "
                     f"{report['perp_steps']} blocks checked")
    attacks = report["attacks"]
    if attacks:
        counts: dict[str, int] = {}
        for mech, _, _ in attacks:
            counts[mech] = counts.get(mech, 0) + 1
        lines.append(f"attacks refused (reverted, nothing moved): {len(attacks)}; " + ", ".join(
            f"{m} {n}" for m, n in sorted(counts.items())))
    if lines:
        terminalreporter.write_sep("-", "liquidation-sandbox suites")
        for line in lines:
            terminalreporter.write_line(line)


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
