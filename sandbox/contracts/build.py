"""Compile ``contracts/`` with the pinned solc and write the artifacts shipped as package data.

The compiler is solc-js from npm (exact version in ``package.json``), or a native ``solc`` of
the same version when one is on PATH. Input is standard JSON whose settings are recorded in
``artifacts/build-info.json`` together with a hash of every source, so a test can recompile
and prove that the committed artifacts match the sources.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sandbox.errors import SandboxError

ARTIFACTS_DIR = Path(__file__).parent / "artifacts"
BUILD_INFO = "build-info.json"

# Everything that changes the bytecode is pinned here and recorded in build-info.json.
SOLC_VERSION = "0.8.28"
COMPILER_SETTINGS: dict = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "cancun",
    "metadata": {"bytecodeHash": "none", "appendCBOR": False},
    "outputSelection": {
        "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}
    },
}

_NODE_COMPILE = r"""
const path = require('path');
const solc = require(path.resolve(process.argv[1], 'node_modules', 'solc'));
let input = '';
process.stdin.on('data', d => input += d);
process.stdin.on('end', () => {
  process.stdout.write(JSON.stringify({version: solc.version(), output: JSON.parse(solc.compile(input))}));
});
"""


class BuildError(SandboxError, RuntimeError):
    """The compiler is missing, of the wrong version, or rejected the sources."""


@dataclass(frozen=True)
class CompileResult:
    compiler: str
    version: str
    contracts: dict[str, dict]  # contract name -> {"abi", "bytecode", "deployedBytecode", "source"}
    sources: dict[str, str]  # source path -> sha256


def project_root(start: Path | None = None) -> Path:
    """The checkout root: the folder holding both ``contracts/`` and ``package.json``."""
    here = (start or Path(__file__)).resolve()
    for folder in [here, *here.parents]:
        if (folder / "contracts").is_dir() and (folder / "package.json").is_file():
            return folder
    raise BuildError("cannot find the project checkout (a folder with contracts/ and package.json)")


def collect_sources(root: Path) -> dict[str, str]:
    """All ``.sol`` files under ``contracts/``, keyed by their path relative to the root."""
    files = sorted((root / "contracts").rglob("*.sol"))
    if not files:
        raise BuildError(f"no Solidity sources under {root / 'contracts'}")
    return {f.relative_to(root).as_posix(): f.read_text() for f in files}


def standard_json_input(sources: dict[str, str]) -> dict:
    return {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in sources.items()},
        "settings": COMPILER_SETTINGS,
    }


def _native_solc_matches() -> str | None:
    exe = shutil.which("solc")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return exe if f"Version: {SOLC_VERSION}+" in out else None


def _run_compiler(root: Path, std_input: dict, prefer_native: bool) -> tuple[str, str, dict]:
    payload = json.dumps(std_input)
    native = _native_solc_matches() if prefer_native else None
    if native:
        proc = subprocess.run([native, "--standard-json"], input=payload, capture_output=True,
                              text=True, timeout=600)
        if proc.returncode != 0:
            raise BuildError(f"solc failed: {proc.stderr.strip()[:500]}")
        return "solc (native)", SOLC_VERSION, json.loads(proc.stdout)
    node = shutil.which("node")
    if not node:
        raise BuildError(f"neither a native solc {SOLC_VERSION} nor node is on PATH")
    if not (root / "node_modules" / "solc").is_dir():
        raise BuildError("solc-js is not installed: run `npm ci` in the project root")
    proc = subprocess.run([node, "-e", _NODE_COMPILE, str(root)], input=payload,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise BuildError(f"solc-js failed: {proc.stderr.strip()[:500]}")
    result = json.loads(proc.stdout)
    version = result["version"].split("+")[0]
    if version != SOLC_VERSION:
        raise BuildError(f"solc-js is {version}, the project pins {SOLC_VERSION}: run `npm ci`")
    return "solc-js", version, result["output"]


def compile_contracts(root: Path | None = None, prefer_native: bool = True) -> CompileResult:
    """Compile every source under ``contracts/``; raise BuildError on any compiler error."""
    root = root or project_root()
    sources = collect_sources(root)
    compiler, version, output = _run_compiler(root, standard_json_input(sources), prefer_native)
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise BuildError("\n".join(e.get("formattedMessage", e.get("message", "")) for e in errors))
    contracts: dict[str, dict] = {}
    for source, by_name in output.get("contracts", {}).items():
        for name, data in by_name.items():
            if name in contracts:
                raise BuildError(f"contract name {name} is defined twice ({source})")
            contracts[name] = {
                "contractName": name,
                "source": source,
                "abi": data["abi"],
                "bytecode": "0x" + data["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + data["evm"]["deployedBytecode"]["object"],
            }
    hashes = {name: hashlib.sha256(text.encode()).hexdigest() for name, text in sources.items()}
    return CompileResult(compiler, version, contracts, hashes)


def build_info(result: CompileResult) -> dict:
    return {
        "solcVersion": result.version,
        "settings": {k: v for k, v in COMPILER_SETTINGS.items() if k != "outputSelection"},
        "sources": result.sources,
        "contracts": sorted(result.contracts),
    }


def _dump(obj: dict) -> str:
    return json.dumps(obj, indent=1, sort_keys=True) + "\n"


def write_artifacts(result: CompileResult, out_dir: Path = ARTIFACTS_DIR) -> list[Path]:
    """Replace the artifacts folder's contents atomically (temp folder, then rename)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".artifacts-", dir=out_dir.parent))
    try:
        written = []
        for name, data in sorted(result.contracts.items()):
            (tmp / f"{name}.json").write_text(_dump(data))
            written.append(out_dir / f"{name}.json")
        (tmp / BUILD_INFO).write_text(_dump(build_info(result)))
        old = out_dir.with_name(out_dir.name + ".old")
        if out_dir.exists():
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return written


def stale_artifacts(result: CompileResult, out_dir: Path = ARTIFACTS_DIR) -> list[str]:
    """Names of artifacts that differ from a fresh compile (missing, extra or changed)."""
    expected = {f"{name}.json": _dump(data) for name, data in result.contracts.items()}
    expected[BUILD_INFO] = _dump(build_info(result))
    present = {p.name: p.read_text() for p in out_dir.glob("*.json")} if out_dir.is_dir() else {}
    return sorted(n for n in expected.keys() | present.keys() if expected.get(n) != present.get(n))
