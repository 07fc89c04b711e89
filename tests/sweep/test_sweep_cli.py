"""`liqsandbox sweep FILE.toml`: --dry-run counts the runs and writes nothing, an explicit list of
parameter sets runs end to end and `show`/`plot` read its folder, and bad input is one line on
stderr (exit 2) naming the dotted path, with nothing written."""

from __future__ import annotations

import re

import pandas as pd
from click.testing import CliRunner
from sweepfiles import BASE, SETS, write

from sandbox.cli import main


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_dry_run_prints_the_runs_and_an_estimate_and_runs_nothing(grid_file, tmp_path):
    result = invoke("sweep", grid_file, "--out", tmp_path / "out", "--dry-run", "--jobs", "2")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("sweep 'tiny-sweep': 2 parameter sets × 2 mechanisms × 2 seeds = 8 runs, 6 distinct")
    assert "varying mechanisms.fixed-fee.bonus_bps" in lines[1]
    assert lines[-1].startswith("6 runs to do with local, 2 jobs: about ") and lines[-1].endswith("nothing run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny-sweep.toml"]


def test_an_explicit_list_runs_end_to_end_and_show_and_plot_read_it(tmp_path):
    sweep_file = write(tmp_path, SETS)
    out = tmp_path / "results" / "amm"
    result = invoke("sweep", sweep_file, "--out", out, "--jobs", "1")
    assert result.exit_code == 0, result.stderr
    assert "2 parameter sets × 1 mechanism × 1 seed = 2 runs" in result.stdout
    assert "2 runs in " in result.stdout and f"results written to {out}" in result.stdout
    table = result.stdout[result.stdout.index("set  name"):result.stdout.index("1 seed, no uncertainty")]
    rows = [re.split(r"\s{2,}", line.strip())[:4] for line in table.splitlines()[2:] if line.strip()]
    assert rows == [["0", "shallow AMM", "500", "fixed-fee"], ["1", "deep AMM", "5000", "fixed-fee"]]
    summary = pd.read_csv(out / "summary.csv")
    assert summary["amm.liquidity_weth"].tolist() == [500.0, 5000.0]
    shown = invoke("show", out)
    assert shown.exit_code == 0 and table in shown.stdout
    assert "sweep 'tiny-sweep' of scenario 'tiny-sweep', 2 parameter sets × 1 mechanisms × 1 seed" in shown.stdout
    plotted = invoke("plot", out)
    assert plotted.exit_code == 0, plotted.stderr
    assert [line.rsplit("/", 1)[-1] for line in plotted.stdout.split()] == [
        "sweep_lender_loss_usd.png", "sweep_borrower_loss_usd.png", "sweep_keeper_profit_usd.png",
        "sweep_recovery_efficiency.png"]


def test_bad_input_is_one_line_naming_the_path_and_nothing_is_written(tmp_path):
    bad = write(tmp_path, BASE + '[sweep]\nscenario = "crash"\nmechanisms = ["fixed-fee"]\n'
                                 '[sweep.grid]\n"mechanisms.fixed-fee.close_factor_bps" = [5000, 0]\n', "bad.toml")
    cases = [
        (["sweep", bad], "error: mechanisms.fixed-fee.close_factor_bps = 0: mechanisms.fixed-fee: close_factor_bps "
                         "must be in (0, 10000]"),
        (["sweep", write(tmp_path, SETS), "--executor", "slurm"], "error: unknown executor 'slurm' (known: local, ray"),
        (["sweep", write(tmp_path, SETS), "--resume", "--restart"], "error: --resume and --restart: choose one"),
        (["sweep", tmp_path / "missing.toml"], "error: "),
        (["sweep", write(tmp_path, SETS), "--seeds", "0"], "error: --seeds must be >= 1, got 0"),
    ]
    for args, message in cases:
        result = invoke(*args, "--out", tmp_path / "out")
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
        assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.stderr
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))
