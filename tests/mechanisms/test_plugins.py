"""A third-party package adds a mechanism through the entry-point group, with no edit here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sandbox.contracts import ARTIFACTS_DIR
from sandbox.mechanisms import MECHANISMS, LiquidationMechanism, UnknownPlugin

BUILT_INS = {"fixed-fee", "dutch-auction", "soft", "private", "english-auction", "absorb"}

PLUGIN_MODULE = '''
"""A third party's mechanism: fixed-fee rules with a 10% bonus and its own compiled contract."""
from dataclasses import dataclass
from pathlib import Path

from sandbox.contracts import artifact_from_file
from sandbox.mechanisms import LiquidationMechanism
from sandbox.mechanisms.fixed_fee import FixedFeeMechanism, FixedFeeParams


@dataclass(frozen=True)
class GenerousParams(FixedFeeParams):
    bonus_bps: int = 1000


class GenerousBonus(FixedFeeMechanism):
    name = "generous-bonus"
    Params = GenerousParams
    contract_name = artifact_from_file(Path(__file__).with_name("GenerousLiquidator.json"))
    description = "third-party: fixed fee with a 10% bonus"


class SeizingFee(FixedFeeMechanism):
    """Its own liquidation function (``seize``) and its own revenue rule."""

    name = "seizing-fee"
    contract_name = artifact_from_file(Path(__file__).with_name("SeizingLiquidator.json"))
    liquidation_functions = frozenset({"seize"})
    description = "third-party: fixed fee through seize(), revenue counted its own way"

    def _function(self, action):
        return "seize"

    @classmethod
    def protocol_revenue(cls, events, oracle_price, final_price_wad):
        """The house keeps its fee in WETH: valued at the final oracle price."""
        fees = sum(e.int("protocolFee") for e in events if e.name == "Liquidated")
        return {"house-cut": fees * final_price_wad // 10**18}


class Incomplete(LiquidationMechanism):
    """A mechanism that forgot its accounting rules: refused when loaded."""

    name = "incomplete"
    Params = GenerousParams
    contract_name = "FixedFeeLiquidator"
    liquidation_functions = frozenset({"liquidate"})

    def opportunities(self, owners):
        return []

    def encode(self, opportunity, caller, max_pay=None):
        raise ValueError("nothing to encode")
'''

RUN_IT = '''
from sandbox.chain import PyEVMChain, execute
from sandbox.market import deploy_market
from sandbox.market.actions import fund_requests, open_positions, set_price
from sandbox.mechanisms import MECHANISMS
from sandbox.units import WAD, to_wad

cls = MECHANISMS.load("generous-bonus")
chain = PyEVMChain(seed=5, accounts=["deployer", "oracle", "treasury", "alice", "keeper"])
market = deploy_market(chain)
mech = cls.deploy(market)
alice, keeper = chain.account("alice"), chain.account("keeper")
open_positions(market, [(alice, to_wad(10), to_wad(15_000))])
execute(chain, fund_requests(market, keeper, usd_wei=to_wad(100_000), approve=[mech.spender]))
set_price(market, to_wad(1_700))
(opp,) = mech.opportunities([alice.address])
before = market.weth.call("balanceOf", keeper.address)
execute(chain, [mech.encode(opp, keeper.address).request(keeper)])
got = market.weth.call("balanceOf", keeper.address) - before
print("REPAID", opp.paid("USD"), "KEEPER_WETH", got, "CONTRACT", mech.contract.name)
'''


def _install(package_dir: Path, target: Path) -> None:
    """A real pip install of the plug-in package into its own folder (the test env is untouched)."""
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
           str(package_dir)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("thirdparty")
    pkg = root / "src" / "generous_mech"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(textwrap.dedent(PLUGIN_MODULE))
    artifact = json.loads((ARTIFACTS_DIR / "FixedFeeLiquidator.json").read_text())
    artifact["contractName"] = "GenerousLiquidator"
    (pkg / "GenerousLiquidator.json").write_text(json.dumps(artifact))
    (pkg / "SeizingLiquidator.json").write_text((ARTIFACTS_DIR / "SeizingLiquidator.json").read_text())
    (root / "pyproject.toml").write_text(textwrap.dedent('''
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "generous-mech"
        version = "0.0.1"

        [project.entry-points."sandbox.mechanisms"]
        generous-bonus = "generous_mech:GenerousBonus"
        seizing-fee = "generous_mech:SeizingFee"
        incomplete = "generous_mech:Incomplete"

        [tool.setuptools.packages.find]
        where = ["src"]

        [tool.setuptools.package-data]
        generous_mech = ["*.json"]
    '''))
    target = root / "site"
    _install(root, target)
    return target


def _env(target: Path) -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}


def test_built_in_mechanisms_register_through_the_entry_point_group():
    assert BUILT_INS <= set(MECHANISMS.names())
    for name in BUILT_INS:
        cls = MECHANISMS.load(name)
        assert issubclass(cls, LiquidationMechanism) and cls.name == name
        assert cls.default_params() == cls.Params()


def test_unknown_mechanism_suggests_the_closest_name():
    with pytest.raises(UnknownPlugin, match="did you mean 'fixed-fee'"):
        MECHANISMS.load("fixed-fe")


def test_installed_third_party_mechanism_is_listed_by_the_cli(plugin_path):
    cli = [sys.executable, "-c", "from sandbox.cli import main; main()", "list", "mechanisms"]
    out = subprocess.run(cli, env=_env(plugin_path), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    line = next(line for line in out.stdout.splitlines() if line.startswith("generous-bonus"))
    assert line.endswith("— third-party: fixed fee with a 10% bonus")  # after any default-comparison mark
    assert "bonus_bps" in out.stdout and "1000" in out.stdout
    for name in BUILT_INS:
        assert name in out.stdout


def test_installed_third_party_mechanism_liquidates_with_its_own_contract(plugin_path):
    out = subprocess.run([sys.executable, "-c", RUN_IT], env=_env(plugin_path),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    fields = out.stdout.split()
    repaid, keeper_weth = int(fields[1]), int(fields[3])
    assert fields[5] == "GenerousLiquidator"
    # 10% bonus, 10% of the bonus to the protocol: keeper gets repaid × 1.09 / price in WETH
    expected = repaid * 11_000 // 10_000 * 10**18 // (1_700 * 10**18)
    expected -= (expected - expected * 10_000 // 11_000) // 10
    assert abs(keeper_weth - expected) <= 10**6


def test_the_conformance_suite_passes_for_the_installed_third_party_mechanism(plugin_path, tmp_path):
    """What a plug-in author runs: subclass the shipped suite, name the mechanism, run pytest."""
    (tmp_path / "test_generous.py").write_text(textwrap.dedent('''
        from sandbox.testing import MechanismConformance

        class TestGenerousBonus(MechanismConformance):
            mechanism = "generous-bonus"
    '''))
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                         env=_env(plugin_path), cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "4 passed" in out.stdout


SEIZE_RUN = '''
import json
from sandbox.metrics import compute_metrics, metric_details
from sandbox.scenarios.loader import parse_scenario
from sandbox.simulation import Simulation

sc = parse_scenario(\'\'\'
name = "front-run-the-plugin"
blocks = 40
block_time_seconds = 12
settle_max_seconds = 0
[price]
model = "path"
knots = [[0, 2000], [240, 1500], [480, 1500]]
[borrowers]
count = 8
collateral_weth_median = 10
collateral_weth_sigma = 0.2
[[keepers]]
strategy = "naive"
tip_gwei = 2.0
[[keepers]]
strategy = "frontrunner"
tip_gwei = 2.0
\'\'\', source="test")
result = Simulation(sc, "seizing-fee", seed=3).run()
metrics, details = compute_metrics(result), metric_details(result)
txs = result.tables["txs"]
copied = txs[(txs["strategy"] == "frontrunner") & (txs["tag"] == "liquidation") & (txs["status"] == 1)]
events = result.tables["events"]
fees = sum(int(json.loads(a)["protocolFee"]) for a in events.loc[events["event"] == "Liquidated", "args"])
final_oracle = int(result.tables["blocks"]["oracle_price_wad"].iloc[-1])
print(json.dumps({"copied": len(copied), "house_cut": details["revenue_house_cut_usd"],
                  "expected": fees * final_oracle // 10**18 / 10**18, "revenue": metrics["protocol_revenue_usd"],
                  "recovered": metrics["debt_recovered_usd"]}))
'''


def test_a_plugin_with_its_own_function_is_front_run_and_its_own_revenue_rule_counts(plugin_path):
    """Searchers recognise the plug-in's ``seize`` because it declares it, and the metrics take
    its revenue from its own rule: a plug-in gets exactly what a built-in gets."""
    out = subprocess.run([sys.executable, "-c", SEIZE_RUN], env=_env(plugin_path),
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["copied"] >= 1, "the front-runner never copied a seize()"
    assert r["recovered"] > 0
    assert r["house_cut"] == pytest.approx(r["expected"], rel=1e-12) and r["house_cut"] > 0
    assert r["revenue"] == pytest.approx(r["house_cut"], rel=1e-12)


def test_a_plugin_without_its_accounting_rules_is_refused_naming_them(plugin_path):
    code = "from sandbox.mechanisms import MECHANISMS; MECHANISMS.load('incomplete')"
    out = subprocess.run([sys.executable, "-c", code], env=_env(plugin_path), capture_output=True,
                         text=True, timeout=120)
    assert out.returncode != 0
    assert "lacks required collateral_taken, protocol_revenue" in out.stderr
