"""The adversarial tests' attacker contract: ``Reenterer.sol`` next to this file, compiled with
the project's pinned compiler and settings into ``Reenterer.json`` (committed, so the tests need
no compiler). Refresh it after editing the source: ``python tests/adversarial/attacker.py``;
``test_the_attacker_artifact_is_fresh`` fails while it is stale."""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent
SOURCE = HERE / "Reenterer.sol"
ARTIFACT = HERE / "Reenterer.json"
NAME = "Reenterer"


def compile_attacker() -> dict:
    """The artifact a fresh compile of ``Reenterer.sol`` gives (abi and bytecode)."""
    from sandbox.contracts.build import BuildError, _run_compiler, project_root, standard_json_input

    key = "tests/adversarial/Reenterer.sol"
    _, _, output = _run_compiler(project_root(), standard_json_input({key: SOURCE.read_text()}), True)
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise BuildError("\n".join(e.get("formattedMessage", e.get("message", "")) for e in errors))
    data = output["contracts"][key][NAME]
    return {"contractName": NAME, "source": key, "abi": data["abi"],
            "bytecode": "0x" + data["evm"]["bytecode"]["object"]}


def artifact_text(artifact: dict) -> str:
    return json.dumps(artifact, indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    ARTIFACT.write_text(artifact_text(compile_attacker()))
    print(f"wrote {ARTIFACT}")
