"""The market conformance suite, run over every market in the registry (built-ins and any
plug-in installed), as a third-party package runs it over its own."""

from __future__ import annotations

import pytest

from sandbox.markets import MARKETS
from sandbox.testing import MarketConformance


class TestEveryRegisteredMarket(MarketConformance):
    @pytest.fixture(params=MARKETS.names())
    def conformance_market(self, request) -> str:
        return request.param
