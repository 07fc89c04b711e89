"""Where the running package came from: its source commit, recorded at build time.

``pip install .`` copies the package out of the checkout, so asking git at run time finds
nothing; the build therefore writes ``sandbox/_build_info.json`` (commit and whether the tree had
uncommitted changes) into the built package (``setup.py`` calls ``write_build_info``). At run
time ``source_commit`` prefers the checkout the package runs from (an editable install: git
knows best), else that record, else None. Standard library only: the build runs it before any
dependency is installed.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

BUILD_INFO = "_build_info.json"
PACKAGE_DIR = Path(__file__).resolve().parent


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10,
                             check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_info(root: Path) -> dict | None:
    """{"commit", "dirty"} of the git checkout at ``root`` (None when it is not one)."""
    if not (Path(root) / ".git").exists():
        return None
    commit = _git(root, "rev-parse", "HEAD")
    if not commit or len(commit) < 40:
        return None
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def write_build_info(package_dir: Path, root: Path) -> Path | None:
    """Record ``root``'s git commit into ``package_dir/_build_info.json`` (nothing outside git)."""
    info = git_info(root)
    if info is None:
        return None
    path = Path(package_dir) / BUILD_INFO
    path.write_text(json.dumps(info, sort_keys=True) + "\n", encoding="utf-8")
    return path


def source_info(package_dir: Path = PACKAGE_DIR) -> dict:
    """{"commit", "dirty", "source"}: from the checkout the package runs from ("checkout"), else
    from the build record ("build"); commit None when neither is known. Never raises."""
    try:
        live = git_info(Path(package_dir).parent)
        if live is not None:
            return {**live, "source": "checkout"}
        recorded = json.loads((Path(package_dir) / BUILD_INFO).read_text(encoding="utf-8"))
        if isinstance(recorded, dict) and recorded.get("commit"):
            return {"commit": str(recorded["commit"]), "dirty": recorded.get("dirty"), "source": "build"}
    except (OSError, ValueError):
        pass
    return {"commit": None, "dirty": None, "source": None}


def source_commit(package_dir: Path = PACKAGE_DIR) -> str | None:
    return source_info(package_dir)["commit"]


__all__ = ["git_info", "source_commit", "source_info", "write_build_info"]
