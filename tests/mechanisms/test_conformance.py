"""The conformance suite, run over every mechanism in the registry (built-ins and any plug-in
installed), exactly as a third-party package runs it over its own."""

from __future__ import annotations

import pytest

from sandbox.mechanisms import MECHANISMS
from sandbox.testing import MechanismConformance


class TestEveryRegisteredMechanism(MechanismConformance):
    @pytest.fixture(params=MECHANISMS.names())
    def conformance_mechanism(self, request) -> str:
        return request.param
