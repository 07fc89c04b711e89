"""Fixtures of the sweep tests (the sweep files themselves are in sweepfiles.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sweepfiles import GRID, SETS, write


@pytest.fixture
def grid_file(tmp_path) -> Path:
    return write(tmp_path, GRID)


@pytest.fixture
def sets_file(tmp_path) -> Path:
    return write(tmp_path, SETS)


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """The grid sweep, uninterrupted, in this process: what every other way of running it must write."""
    from sandbox.sweep import load_sweep
    from sandbox.sweep.runner import run_sweep

    folder = tmp_path_factory.mktemp("reference")
    spec = load_sweep(write(folder, GRID))
    outcome = run_sweep(spec, folder / "results" / "tiny", jobs=1)
    assert outcome.failed == 0 and outcome.ran == 6
    return outcome.path
