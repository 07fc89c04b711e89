"""The committed artifacts are exactly what the pinned compiler makes of contracts/."""

from __future__ import annotations

import json
import shutil

import pytest

from sandbox.contracts import ARTIFACTS_DIR, load_artifact
from sandbox.contracts.build import (
    BUILD_INFO,
    SOLC_VERSION,
    _native_solc_matches,
    compile_contracts,
    project_root,
    stale_artifacts,
)


def compiler_available() -> bool:
    if _native_solc_matches():
        return True
    try:
        root = project_root()
    except Exception:
        return False
    return bool(shutil.which("node")) and (root / "node_modules" / "solc").is_dir()


requires_solc = pytest.mark.skipif(
    not compiler_available(),
    reason=f"no compiler: need a native solc {SOLC_VERSION} on PATH, or node with node_modules/solc (npm ci)")


@pytest.fixture(scope="module")
def fresh_compile():
    return compile_contracts()


@requires_solc
def test_artifacts_are_fresh(fresh_compile):
    assert fresh_compile.version == SOLC_VERSION
    assert stale_artifacts(fresh_compile) == [], "run `liqsandbox build` and commit the artifacts"


@requires_solc
def test_every_source_and_contract_is_recorded(fresh_compile):
    info = json.loads((ARTIFACTS_DIR / BUILD_INFO).read_text())
    assert sorted(info["sources"]) == sorted(fresh_compile.sources)
    assert info["contracts"] == sorted(fresh_compile.contracts)


def test_build_info_records_the_pinned_compiler_and_settings():
    info = json.loads((ARTIFACTS_DIR / BUILD_INFO).read_text())
    assert info["solcVersion"] == "0.8.28"
    assert info["settings"]["optimizer"] == {"enabled": True, "runs": 200}
    assert info["settings"]["evmVersion"] == "cancun"
    assert info["settings"]["metadata"] == {"appendCBOR": False, "bytecodeHash": "none"}
    assert all(path.startswith("contracts/") and path.endswith(".sol") for path in info["sources"])
    assert all(len(digest) == 64 for digest in info["sources"].values())


CORE = ["ConstantProductAMM", "FlashLender", "LendingMarket", "Lens", "PriceOracle", "Token"]


def test_every_artifact_loads():
    names = sorted(p.stem for p in ARTIFACTS_DIR.glob("*.json") if p.name != BUILD_INFO)
    info = json.loads((ARTIFACTS_DIR / BUILD_INFO).read_text())
    assert names == info["contracts"]
    assert set(CORE) <= set(names)
    for name in names:
        artifact = load_artifact(name)
        assert artifact.name == name
        assert isinstance(artifact.abi, tuple)
        data = json.loads((ARTIFACTS_DIR / f"{name}.json").read_text())
        assert artifact.bytecode == bytes.fromhex(data["bytecode"][2:])
    for name in CORE:  # deployable contracts have code and a non-empty ABI
        assert len(load_artifact(name).bytecode) > 100 and load_artifact(name).abi
