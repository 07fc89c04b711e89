"""`liqsandbox compare / run / show / plot / list`: a comparison writes a complete, reproducible
results folder (identical tables whatever the job count), the table shows intervals and marks
the best mechanism, and every bad input is one line on stderr, exit code 2, nothing written."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from sandbox.cli import main
from sandbox.results import leftovers

MECHS = ["fixed-fee", "dutch-auction"]
RESULT_FILES = {"summary.csv", "events.parquet", "positions.parquet", "prices.parquet", "txs.parquet",
                "agents.parquet", "manifest.json"}


# --------------------------------------------------------------------------- a tiny scenario


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(v)


def to_toml(data: dict) -> str:
    """Enough TOML for a scenario: scalars, arrays, tables, arrays of tables (one level)."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, (dict, list)) or
             (isinstance(v, list) and not any(isinstance(x, dict) for x in v))]
    for k, v in data.items():
        if isinstance(v, dict):
            lines.append(f"[{k}]")
            lines += [f"{kk} = {_toml_value(vv)}" for kk, vv in v.items()]
        elif isinstance(v, list) and any(isinstance(x, dict) for x in v):
            for item in v:
                lines.append(f"[[{k}]]")
                lines += [f"{kk} = {_toml_value(vv)}" for kk, vv in item.items()]
    return "\n".join(lines) + "\n"


def tiny_scenario_text() -> str:
    """The built-in crash, shrunk: 30 blocks, 6 borrowers, the -40% within 10 min, two keepers."""
    raw = tomllib.loads(resources.files("sandbox.scenarios").joinpath("builtin", "crash.toml").read_text())
    raw["name"] = "tiny"
    raw["blocks"] = 30
    raw["borrowers"]["count"] = 6
    raw["price"]["knots"] = [[0, 2000.0], [600, 1200.0]]
    raw["keepers"] = [k for k in raw["keepers"] if k["strategy"] in ("naive", "flash")]
    return to_toml(raw)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scenario") / "tiny.toml"
    path.write_text(tiny_scenario_text())
    return path


def invoke(args, cwd: Path | None = None):
    runner = CliRunner()
    if cwd is None:
        return runner.invoke(main, args, catch_exceptions=False)
    import os

    old = os.getcwd()
    os.chdir(cwd)
    try:
        return runner.invoke(main, args, catch_exceptions=False)
    finally:
        os.chdir(old)


@pytest.fixture(scope="module")
def compared(tiny, tmp_path_factory):
    """The same comparison twice: 2 mechanisms x 2 seeds with 2 worker processes, then in-process."""
    base = tmp_path_factory.mktemp("compare")
    runs = {}
    for jobs in (2, 1):
        out = base / f"jobs{jobs}"
        args = ["compare", "--scenario", str(tiny), "--seeds", "2", "--out", str(out), "--jobs", str(jobs)]
        for m in MECHS:
            args += ["--mechanism", m]
        result = invoke(args)
        assert result.exit_code == 0, result.stdout + result.stderr
        runs[jobs] = (out, result)
    return runs


# --------------------------------------------------------------------------- compare


def test_compare_writes_every_results_file(compared):
    out, result = compared[2]
    assert {p.name for p in out.iterdir()} == RESULT_FILES
    assert f"results written to {out}" in result.stdout
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary[["mechanism", "seed"]].itertuples(index=False, name=None)) == [
        ("fixed-fee", 0), ("fixed-fee", 1), ("dutch-auction", 0), ("dutch-auction", 1)]
    assert leftovers(out) == []  # no temporary folders left


def test_compare_table_groups_rows_and_shows_the_seeds_range_below_five_seeds(compared):
    _, result = compared[2]
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("metric"))
    assert header.split()[1:] == MECHS
    for group in ("lenders (USD)", "borrowers (USD)", "keepers and builders (USD)", "protocol (USD)", "timing"):
        assert group in lines, group
    rows = {line[:40].strip(): line for line in lines}
    assert "±" not in result.stdout  # two seeds: no t-interval
    assert "mean over 2 seeds [range of the seeds]" in result.stdout
    assert "loss at the market price" in rows and "penalty at the oracle price" in rows


def test_same_seeds_give_identical_files_whatever_the_job_count(compared):
    a, _ = compared[2]
    b, _ = compared[1]
    for name in sorted(RESULT_FILES - {"manifest.json"}):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_manifest_records_scenario_params_versions_and_runs(compared, tiny):
    import json

    out, _ = compared[2]
    m = json.loads((out / "manifest.json").read_text())
    for key in ("scenario", "mechanism_params", "seeds", "backend", "package_version", "git_commit", "python",
                "libraries", "runs"):
        assert key in m, key
    assert m["scenario"]["name"] == "tiny" and m["scenario"]["blocks"] == 30
    assert m["scenario"]["borrowers"]["count"] == 6
    assert set(m["mechanism_params"]) == set(MECHS)
    assert m["mechanism_params"]["fixed-fee"]  # resolved defaults, not empty
    assert m["seeds"] == [0, 1] and m["backend"] == "eth-tester"
    assert [(r["mechanism"], r["seed"]) for r in m["runs"]] == [(mm, s) for mm in MECHS for s in (0, 1)]
    for r in m["runs"]:
        assert r["transactions"] > 0 and r["wall_seconds"] > 0


def test_show_prints_the_saved_table(compared):
    out, result = compared[2]
    shown = invoke(["show", str(out)])
    assert shown.exit_code == 0, shown.stderr
    table = result.stdout[result.stdout.index("metric"):result.stdout.index("values at the market price")]
    assert table in shown.stdout


def test_plot_writes_outcomes_losses_price_paths_health_and_pnl(compared, tmp_path):
    out, _ = compared[2]
    result = invoke(["plot", str(out), "--out", str(tmp_path / "png")])
    assert result.exit_code == 0, result.stderr
    names = ["outcomes.png", "losses_by_party.png", "price_path.png", "health.png", "keeper_pnl.png"]
    assert result.stdout.split() == [str(tmp_path / "png" / n) for n in names]
    for n in names:
        data = (tmp_path / "png" / n).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000


def test_plot_defaults_to_a_plots_folder_inside_the_results(compared):
    out, _ = compared[1]
    result = invoke(["plot", str(out)])
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (out / "plots").iterdir()) == [
        "health.png", "keeper_pnl.png", "losses_by_party.png", "outcomes.png", "price_path.png"]


# --------------------------------------------------------------------------- run / list


def test_run_logs_liquidation_events_then_metrics(tiny, tmp_path):
    result = invoke(["run", "--mechanism", "fixed-fee", "--scenario", str(tiny), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.stderr
    log = [line for line in result.stdout.splitlines() if " Liquidated " in line]
    assert log, result.stdout  # -40% in 10 min liquidates someone
    assert "debtRepaid=" in log[0] and "keeper-" in log[0]
    assert "debt at risk" in result.stdout and "open, shortfall (uncovered)" in result.stdout
    assert {p.name for p in (tmp_path / "r").iterdir()} == RESULT_FILES


def test_list_keepers_and_scenarios():
    keepers = invoke(["list", "keepers"])
    assert keepers.exit_code == 0
    for name in ("naive", "pga", "frontrunner", "backrunner", "flash", "opportunist"):
        assert any(line.startswith(f"{name} — ") for line in keepers.stdout.splitlines()), name
    assert "min_profit_usd" in keepers.stdout
    scenarios = invoke(["list", "scenarios"])
    assert scenarios.exit_code == 0
    assert any(line.startswith("crash  (default)") for line in scenarios.stdout.splitlines())
    for name in ("calm", "black-thursday", "flash-crash", "oracle-lag"):
        assert name in scenarios.stdout
    mechanisms = invoke(["list", "mechanisms"])
    assert mechanisms.exit_code == 0 and "fixed-fee" in mechanisms.stdout
