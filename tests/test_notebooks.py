"""The notebooks under notebooks/: committed without outputs, and they run top to bottom.

Execution uses nbclient with a "python3" kernelspec written for this session that starts
``sys.executable`` (the interpreter running the tests), so no user-level kernelspec can send the
notebooks to another environment. The comparison notebook reads a small results folder made
here and named by ``LIQSANDBOX_RESULTS``; the sweep notebook runs its own tiny sweep.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
COMPARE = NOTEBOOKS / "compare_mechanisms.ipynb"
WALKTHROUGH = NOTEBOOKS / "local_chain_walkthrough.ipynb"
PERPS = NOTEBOOKS / "perps.ipynb"
SWEEP = NOTEBOOKS / "sweep_parameters.ipynb"
CELL_TIMEOUT_S = 300


def _require_jupyter():
    """nbclient, nbformat and ipykernel, or skip (they come with the ``test`` extra)."""
    for module in ("nbclient", "nbformat", "ipykernel"):
        pytest.importorskip(module, reason=f"{module} is not installed (pip install '.[test]')")


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- committed form


@pytest.mark.parametrize("path", [COMPARE, WALKTHROUGH, PERPS, SWEEP], ids=lambda p: p.name)
def test_committed_notebooks_have_no_outputs(path):
    nb = _read(path)
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, f"{path.name} has no code cells"
    for i, cell in enumerate(code):
        assert cell.get("outputs") == [], f"{path.name}: code cell {i} has outputs"
        assert cell.get("execution_count") is None, f"{path.name}: code cell {i} has an execution count"


def test_committed_notebooks_are_valid_nbformat():
    nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed (pip install '.[test]')")
    for path in (COMPARE, WALKTHROUGH, PERPS, SWEEP):
        nbformat.validate(nbformat.read(path, as_version=4))


# --------------------------------------------------------------------------- execution


@pytest.fixture(scope="session")
def kernel(tmp_path_factory):
    """A "python3" kernelspec starting this very interpreter, first on JUPYTER_PATH."""
    _require_jupyter()
    data = tmp_path_factory.mktemp("jupyter-data")
    spec = data / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (liquidation-sandbox tests)",
        "language": "python",
    }), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", os.pathsep.join(filter(None, [str(data), os.environ.get("JUPYTER_PATH")])))
        mp.setenv("JUPYTER_PLATFORM_DIRS", "1")  # silence jupyter_core's path-migration warning
        mp.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        from jupyter_client.kernelspec import KernelSpecManager

        found = KernelSpecManager().get_kernel_spec("python3")
        assert found.argv[0] == sys.executable, f"python3 kernel resolves to {found.argv[0]}"
        yield "python3"


def run_notebook(nb, kernel_name: str, cwd: Path = NOTEBOOKS):
    """Execute ``nb`` in place (cwd = ``cwd``); CellExecutionError on the first failing cell."""
    from nbclient import NotebookClient

    client = NotebookClient(nb, kernel_name=kernel_name, timeout=CELL_TIMEOUT_S,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute()
    return nb


def stdout_of(nb) -> str:
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs if o.get("output_type") == "stream" and o.get("name") == "stdout")


def images_in(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def errors_in(nb) -> list[str]:
    return [f"{o.get('ename')}: {o.get('evalue')}" for c in nb.cells if c.cell_type == "code"
            for o in c.outputs if o.get("output_type") == "error"]


@pytest.fixture(scope="session")
def tiny_results(tmp_path_factory):
    """Two mechanisms x two seeds on a shrunken "crash": 25 blocks, 6 borrowers, and the 40% fall
    squeezed into the run's 15 minutes so that positions are liquidated (every plot has data)."""
    from sandbox.compare import run_comparison
    from sandbox.results import write_results
    from sandbox.scenarios import load_scenario

    sc = load_scenario("crash")
    sc = replace(sc, blocks=25, borrowers=replace(sc.borrowers, count=6),
                 price=replace(sc.price, knots=((0.0, 2000.0), (600.0, 1400.0))))
    comparison = run_comparison(sc, ["fixed-fee", "dutch-auction"], [1, 2], jobs=1)
    return write_results(comparison, sc, tmp_path_factory.mktemp("results") / "tiny")


def test_tiny_results_have_liquidations(tiny_results):
    """Guards the fixture: without liquidations the notebook's plots would run on empty data."""
    from sandbox.results import load

    res = load(tiny_results)
    assert (res.summary()["liquidations"] > 0).any()
    assert res.positions["at_risk"].any()


def test_compare_notebook_runs_on_the_results_named_by_the_environment(kernel, tiny_results, monkeypatch):
    import nbformat

    monkeypatch.setenv("LIQSANDBOX_RESULTS", str(tiny_results))
    nb = run_notebook(nbformat.read(COMPARE, as_version=4), kernel)
    assert not errors_in(nb)
    out = stdout_of(nb)
    assert f"results: {tiny_results}" in out
    assert "fixed-fee, dutch-auction" in out
    assert images_in(nb) >= 9  # the five charts of `liqsandbox plot`, per-seed outcomes, keepers, timing, impact


def test_compare_notebook_defaults_to_the_newest_results_folder(kernel, tiny_results, tmp_path, monkeypatch):
    """Without LIQSANDBOX_RESULTS: the folder under <repo>/results/ whose manifest.json is newest
    (found from the notebook's folder by walking up to pyproject.toml), whatever the names."""
    import nbformat

    monkeypatch.delenv("LIQSANDBOX_RESULTS", raising=False)
    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    (repo / "pyproject.toml").write_text("[project]\nname = 'x'\n", encoding="utf-8")
    newest, older = repo / "results" / "a-newest", repo / "results" / "z-older"
    for folder, mtime in ((older, 1_700_000_000), (newest, 1_700_000_500)):
        shutil.copytree(tiny_results, folder)
        os.utime(folder / "manifest.json", (mtime, mtime))
    nb = nbformat.read(COMPARE, as_version=4)
    first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells = nb.cells[: first_code + 1]  # the loading cell is enough
    run_notebook(nb, kernel, cwd=repo / "notebooks")
    assert f"results: {newest.resolve()}" in stdout_of(nb)


def test_walkthrough_notebook_runs(kernel):
    import nbformat

    nb = run_notebook(nbformat.read(WALKTHROUGH, as_version=4), kernel)
    assert not errors_in(nb)
    out = stdout_of(nb)
    assert "REVERTED: HealthyPosition()" in out  # the premature liquidation attempt
    assert "Liquidated(owner=alice" in out  # fixed fee
    assert "Settle(id=1, owner=alice" in out  # dutch auction
    assert "web3's decoding equals the sandbox's" in out


@pytest.fixture(scope="session")
def tiny_perp_results(tmp_path_factory):
    """Two mechanisms × one seed on the perp market's example scenario (anvil when installed)."""
    from sandbox.compare import run_comparison
    from sandbox.markets import get_market
    from sandbox.results import write_results
    from sandbox.testing import fastest_backend

    backend = fastest_backend()
    sc = get_market("perp").example_scenario()
    comparison = run_comparison(sc, ["fixed-fee", "dutch-auction"], [1], backend=backend, jobs=1)
    return write_results(comparison, sc, tmp_path_factory.mktemp("results") / "tiny-perp")


def test_perps_notebook_shows_a_lending_and_a_perp_comparison_side_by_side(kernel, tiny_results, tiny_perp_results,
                                                                           monkeypatch):
    import nbformat

    monkeypatch.setenv("LIQSANDBOX_LENDING_RESULTS", str(tiny_results))
    monkeypatch.setenv("LIQSANDBOX_PERP_RESULTS", str(tiny_perp_results))
    nb = run_notebook(nbformat.read(PERPS, as_version=4), kernel)
    assert not errors_in(nb)
    out = stdout_of(nb)
    assert f"perp: {tiny_perp_results}" in out and "on the 'perp' market" in out
    assert "LENDING" in out and "PERPETUALS" in out and "insurance fund drawn" in out
    assert images_in(nb) >= 4


def test_sweep_notebook_runs_a_tiny_sweep_and_draws_it_with_sandbox_plots(kernel, monkeypatch):
    import nbformat

    monkeypatch.delenv("LIQSANDBOX_SWEEP", raising=False)
    nb = run_notebook(nbformat.read(SWEEP, as_version=4), kernel)
    assert not errors_in(nb)
    out = stdout_of(nb)
    assert "running 2 parameter sets × 2 mechanisms × 2 seeds = 8 runs, 6 distinct" in out
    assert "varying mechanisms.fixed-fee.bonus_bps" in out
    assert images_in(nb) == 4  # sandbox.plots.SWEEP_PLOTS
