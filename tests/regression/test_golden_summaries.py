"""The summary tables of every built-in mechanism on two built-in scenarios, held byte for byte.

A change that moves any number of a full comparison fails here; a change meant to move them
(a fidelity fix) regenerates the files and says so in its commit: run with
``SANDBOX_UPDATE_GOLDEN=1`` and commit ``tests/regression/golden/``. Runs go on anvil when it is
installed (identical tables to eth-tester, proven in tests/simulation), else on eth-tester.
``black-thursday`` takes minutes: it is marked slow.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from sandbox.cli import main
from sandbox.mechanisms import MECHANISMS
from sandbox.testing import fastest_backend

GOLDEN = Path(__file__).parent / "golden"


def builtin_mechanisms() -> list[str]:
    """The package's own mechanisms (not a plug-in another test may have installed)."""
    return [n for n in MECHANISMS.names() if MECHANISMS.load(n).__module__.startswith("sandbox.mechanisms.")]


def backend() -> str:
    return fastest_backend()


@pytest.mark.parametrize("scenario", ["crash", pytest.param("black-thursday", marks=pytest.mark.slow)])
def test_summary_table_of_every_builtin_mechanism_is_unchanged(scenario, tmp_path):
    args = ["compare", "--scenario", scenario, "--backend", backend(), "--jobs", "2", "--out", str(tmp_path / "out")]
    for name in builtin_mechanisms():
        args += ["--mechanism", name]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    summary = (tmp_path / "out" / "summary.csv").read_text()
    golden = GOLDEN / f"{scenario}.csv"
    if os.environ.get("SANDBOX_UPDATE_GOLDEN"):
        golden.write_text(summary)
    assert set(builtin_mechanisms()) == {line.split(",")[0] for line in summary.splitlines()[1:]}
    assert summary == golden.read_text()
