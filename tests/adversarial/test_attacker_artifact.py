"""The adversarial tests' attacker contract is what the pinned compiler makes of its source."""

from __future__ import annotations

import json
import shutil

import pytest
from attacker import ARTIFACT, artifact_text, compile_attacker

from sandbox.contracts.build import SOLC_VERSION, _native_solc_matches, project_root

pytestmark = pytest.mark.adversarial


def _compiler_available() -> bool:
    if _native_solc_matches():
        return True
    try:
        return bool(shutil.which("node")) and (project_root() / "node_modules" / "solc").is_dir()
    except Exception:
        return False


@pytest.mark.skipif(not _compiler_available(),
                    reason=f"no compiler: need a native solc {SOLC_VERSION}, or node with node_modules/solc")
def test_the_attacker_artifact_is_fresh():
    assert ARTIFACT.read_text() == artifact_text(compile_attacker()), \
        "run `python tests/adversarial/attacker.py` and commit Reenterer.json"


def test_the_attacker_artifact_has_its_callbacks():
    abi = json.loads(ARTIFACT.read_text())["abi"]
    names = {item.get("name") for item in abi if item["type"] == "function"}
    assert {"exec", "prime", "onFlashLoan", "callbacks"} <= names
    assert any(item["type"] == "fallback" for item in abi)  # every other callback lands here
