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
from sandbox.mechanisms.fixed_fee import FixedFeeMechanism, FixedFeeParams


@dataclass(frozen=True)
class GenerousParams(FixedFeeParams):
    bonus_bps: int = 1000


class GenerousBonus(FixedFeeMechanism):
    name = "generous-bonus"
    Params = GenerousParams
    contract_name = artifact_from_file(Path(__file__).with_name("GenerousLiquidator.json"))
    description = "third-party: fixed fee with a 10% bonus"
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
    (root / "pyproject.toml").write_text(textwrap.dedent('''
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "generous-mech"
        version = "0.0.1"

        [project.entry-points."sandbox.mechanisms"]
        generous-bonus = "generous_mech:GenerousBonus"

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
