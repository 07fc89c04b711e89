"""The conformance suite, run over every mechanism in the registry (built-ins and any plug-in
installed) on every market it declares, exactly as a third-party package runs it over its own."""

from __future__ import annotations

import pytest

from sandbox.mechanisms import MECHANISMS
from sandbox.testing import MechanismConformance

CASES = [(name, market) for name in MECHANISMS.names() for market in MECHANISMS.load(name).markets]


class TestEveryRegisteredMechanism(MechanismConformance):
    """Every mechanism on every market it declares (the perp variants of four of them)."""

    @pytest.fixture(params=CASES, ids=[f"{m}-{market}" for m, market in CASES])
    def conformance_case(self, request) -> tuple[str, str]:
        return request.param

    @pytest.fixture
    def conformance_mechanism(self, conformance_case) -> str:
        return conformance_case[0]

    @pytest.fixture
    def conformance_market(self, conformance_case) -> str:
        return conformance_case[1]
