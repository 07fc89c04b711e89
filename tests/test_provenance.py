"""Provenance: results name the commit they came from, also after a plain `pip install .`
(README's set-up), where the package no longer runs from the checkout."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import provenance

ROOT = Path(__file__).resolve().parent.parent


def _head(root: Path) -> str:
    return subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()


needs_git = pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(),
                               reason="needs git and a git checkout")


@needs_git
def test_a_package_running_from_its_checkout_reports_the_checkouts_commit():
    info = provenance.source_info()
    assert info["commit"] == _head(ROOT) and info["source"] == "checkout"


@needs_git
def test_an_installed_copy_reports_the_commit_recorded_at_build_time(tmp_path):
    package = tmp_path / "site" / "sandbox"
    package.mkdir(parents=True)
    assert provenance.source_info(package)["commit"] is None  # a copy: no git, no record
    provenance.write_build_info(package, ROOT)
    info = provenance.source_info(package)
    assert info["commit"] == _head(ROOT) and info["source"] == "build"
    assert json.loads((package / "_build_info.json").read_text())["commit"] == _head(ROOT)


def test_outside_git_nothing_is_recorded_and_nothing_fails(tmp_path):
    assert provenance.write_build_info(tmp_path, tmp_path) is None
    (tmp_path / "_build_info.json").write_text("not json")
    assert provenance.source_info(tmp_path) == {"commit": None, "dirty": None, "source": None}


@pytest.mark.slow
@needs_git
def test_pip_install_of_a_clone_carries_its_commit_into_the_manifest(tmp_path):
    """Regression: after `pip install .` the manifest's git_commit was null."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)], check=True)
    target = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                           str(target), str(clone)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); from sandbox import results; "
             "print(results._provenance()['git_commit'], results.__file__)")
    out = subprocess.run([sys.executable, "-c", probe, str(target)], capture_output=True, text=True,
                         cwd=tmp_path, check=True).stdout.split()
    assert out[0] == _head(clone)
    assert out[1].startswith(str(target))  # the installed copy answered, not the checkout
