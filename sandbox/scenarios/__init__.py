"""Scenarios: what one run simulates (price path, gas, oracle, market, agents, mechanism overrides).

``load_scenario("crash")`` loads a built-in (``builtin_scenarios()`` lists them);
``load_scenario("path/to/file.toml")`` a file. ``reference_prices`` turns a ``PriceSpec`` into
one reference price per block; ``to_wad_prices`` makes them on-chain integers.
"""

from .loader import builtin_scenarios, check_mechanisms_serve, load_scenario, parse_scenario
from .prices import read_price_csv, reference_prices, to_wad_prices
from .schema import (
    BUILDER_POLICIES,
    LIMITS,
    PRICE_MODELS,
    RUN_LIMITS,
    AmmSpec,
    ArbitrageurSpec,
    BorrowerSpec,
    GasSpec,
    KeeperSpec,
    LendingSpec,
    OracleSpec,
    PerpSpec,
    PriceSpec,
    Scenario,
    ScenarioError,
    TraderSpec,
    check_run_size,
)

DEFAULT_SCENARIO = "crash"

__all__ = [
    "BUILDER_POLICIES", "DEFAULT_SCENARIO", "LIMITS", "PRICE_MODELS", "RUN_LIMITS", "AmmSpec", "ArbitrageurSpec",
    "BorrowerSpec", "GasSpec", "KeeperSpec", "LendingSpec", "OracleSpec", "PerpSpec", "PriceSpec", "Scenario", "ScenarioError", "TraderSpec",
    "builtin_scenarios", "check_mechanisms_serve", "check_run_size", "load_scenario", "parse_scenario",
    "read_price_csv", "reference_prices", "to_wad_prices",
]
