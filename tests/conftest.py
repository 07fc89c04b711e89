"""Shared fixtures: a fresh chain and a deployed market per test (no state leaks between tests);
the hypothesis profiles and options of the property tests; the closing summary of the property
and adversarial suites."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from sandbox.chain import PyEVMChain
from sandbox.market import MarketParams, deploy_market

ROLES = ["deployer", "oracle", "treasury"]
BORROWERS = [f"borrower-{i}" for i in range(6)]
KEEPERS = [f"keeper-{i}" for i in range(4)]

# Property tests (tests/property): how many examples, and how to ask for more.
CI_PROPERTY_EXAMPLES = 180  # lending stress examples: 30 per mechanism × 6 (+ 24 perp sequences: 204)
EXAMPLES_ENV = "SANDBOX_PROPERTY_EXAMPLES"
REPORT = pytest.StashKey[dict]()

# Reproducible by default (the same examples on every run and machine, nothing written to a
# .hypothesis database); "sandbox-stress" draws new examples each run (``--hypothesis-profile``).
settings.register_profile("sandbox-ci", derandomize=True, deadline=None, database=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("sandbox-stress", settings.get_profile("sandbox-ci"), derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "sandbox-ci"))


def pytest_addoption(parser) -> None:
    group = parser.getgroup("liquidation-sandbox property tests")
    group.addoption("--stress-examples", type=int, default=None,
                    help=f"examples of the lending stress property tests over all mechanisms (default: "
                         f"${EXAMPLES_ENV}, else {CI_PROPERTY_EXAMPLES}); above the default they are drawn "
                         "afresh each run instead of the CI's fixed draw")


@pytest.fixture(scope="session")
def stress_examples(request) -> tuple[int, bool]:
    """(lending stress examples asked for, whether to draw them afresh): --stress-examples, else
    $SANDBOX_PROPERTY_EXAMPLES, else the CI number with the CI's fixed draw."""
    given = request.config.getoption("--stress-examples")
    if given is None and os.environ.get(EXAMPLES_ENV):
        given = int(os.environ[EXAMPLES_ENV])
    total = CI_PROPERTY_EXAMPLES if given is None else max(1, given)
    return total, total > CI_PROPERTY_EXAMPLES


def pytest_configure(config) -> None:
    config.stash[REPORT] = {"attacks": [], "examples": [], "perp_steps": 0, "perp_examples": 0, "notes": []}


@pytest.fixture(scope="session")
def suite_report(request) -> dict:
    """What the property and adversarial tests record for the closing summary."""
    return request.config.stash[REPORT]


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    report = config.stash.get(REPORT, None)
    if not report:
        return
    lines = list(report["notes"])
    examples = report["examples"]
    if examples:
        by_mech: dict[str, list[int]] = {}
        for e in examples:
            n = by_mech.setdefault(e["mechanism"], [0, 0, 0])
            n[0] += 1
            n[1] += bool(e["at_risk"])
            n[2] += bool(e["liquidations"])
        at_risk = sum(n[1] for n in by_mech.values())
        acted = sum(n[2] for n in by_mech.values())
        stale = sum(e["stale_quote_reverts"] for e in examples)
        lines.append(f"lending stress examples: {len(examples)} run, {at_risk} with debt at risk "
                     f"({at_risk / len(examples):.0%}), {acted} with liquidations ({acted / len(examples):.0%}), "
                     f"{stale} liquidations reverted on a stale quote (known defect)")
        lines.append("  at risk / liquidated / run: " + ", ".join(
            f"{m} {r}/{a}/{n}" for m, (n, r, a) in sorted(by_mech.items())))
    if report["perp_examples"]:
        events = report.get("perp_events", {})
        lines.append(f"perp property examples: {report['perp_examples']} sequences, {report['perp_steps']} blocks "
                     "checked; " + ", ".join(f"{n} {name}" for name, n in sorted(events.items())))
    attacks = report["attacks"]
    if attacks:
        counts: dict[str, int] = {}
        for mech, _, _ in attacks:
            counts[mech] = counts.get(mech, 0) + 1
        kinds = len({(mech, attack) for mech, attack, _ in attacks})
        lines.append(f"attacks refused (reverted, nothing moved): {len(attacks)} ({kinds} distinct); " + ", ".join(
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
