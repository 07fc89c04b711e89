"""Results folders and the comparison table: written atomically (never a partial folder, never
over something that is not ours), read back by `sandbox.results.load`, rows in a fixed order;
the table's mean ± 95% t-interval and the best-value marks follow each metric's direction."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from sandbox import results as results_mod
from sandbox.compare import (
    aggregate,
    best_mechanisms,
    format_table,
    mean_interval,
    run_comparison,
    summary_frame,  # the older home of sandbox.table's and sandbox.runs' names
    t975,
)
from sandbox.metrics import HEADLINE_METRICS, METRIC_COLUMNS
from sandbox.results import Results, ResultsError, leftovers, load, write_results
from sandbox.scenarios import parse_scenario

from test_compare_cli import tiny_scenario_text

MECHS = ["soft", "fixed-fee"]  # deliberately not alphabetical: the order given is kept


@pytest.fixture(scope="module")
def scenario():
    return parse_scenario(tiny_scenario_text(), source="tiny.toml", default_name="tiny")


@pytest.fixture(scope="module")
def comparison(scenario):
    return run_comparison(scenario, MECHS, [3], jobs=1)


def test_runs_come_back_in_the_order_given(comparison):
    assert [(r.mechanism, r.seed) for r in comparison.runs] == [("soft", 3), ("fixed-fee", 3)]
    s = comparison.summary()
    assert list(s.columns) == ["mechanism", "seed", *METRIC_COLUMNS]
    assert list(s["mechanism"]) == MECHS


def test_write_then_load_returns_every_table(comparison, scenario, tmp_path):
    out = comparison.save(tmp_path / "res")
    res = load(out)
    assert isinstance(res.summary(), pd.DataFrame) and len(res.summary()) == 2
    assert list(res.summary().columns) == ["mechanism", "seed", *METRIC_COLUMNS]
    for attr, source in (("events", "events"), ("positions", "positions"), ("prices", "blocks"), ("txs", "txs"),
                         ("agents", "agents")):
        table = getattr(res, attr)
        assert isinstance(table, pd.DataFrame)
        assert len(table) == sum(len(r.tables[source]) for r in comparison.runs) > 0, attr
        pd.testing.assert_frame_equal(table, getattr(comparison, attr))  # in memory = read back
    assert len(res.prices) == 2 * scenario.blocks
    assert {"debt_usd", "collateral_weth", "usd_amount"} <= set(res.events.columns)  # enriched
    assert res.manifest["runs"][0]["mechanism"] == "soft"
    assert results_mod.load is load
    assert load(write_results(comparison, scenario, tmp_path / "older")).summary().equals(res.summary())  # older form


def test_rows_are_in_mechanism_seed_block_tx_log_order(comparison, scenario, tmp_path):
    res = load(comparison.save(tmp_path / "res"))
    ev = res.events
    rank = ev["mechanism"].map({m: i for i, m in enumerate(MECHS)})
    keys = list(zip(rank, ev["seed"], ev["block"], ev["tx_index"], ev["log_index"]))
    assert keys == sorted(keys)
    assert list(dict.fromkeys(res.prices["mechanism"])) == MECHS


def test_wall_time_is_only_in_the_manifest(comparison, scenario, tmp_path):
    out = comparison.save(tmp_path / "res")
    res = load(out)
    for table in (res.summary(), res.events, res.positions, res.prices, res.txs, res.agents):
        assert not [c for c in table.columns if "wall" in c]
    assert all(r["wall_seconds"] > 0 for r in res.manifest["runs"])
    assert res.manifest["package_version"] == "0.1.0"
    assert res.manifest["python"].count(".") == 2
    json.dumps(res.manifest, allow_nan=False)  # plain JSON


def test_writing_again_replaces_a_results_folder(comparison, scenario, tmp_path):
    out = comparison.save(tmp_path / "res")
    (out / "plots").mkdir()
    first = (out / "summary.csv").read_bytes()
    out2 = comparison.save(tmp_path / "res")
    assert out2 == out and not (out / "plots").exists()
    assert (out / "summary.csv").read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == [".res.versions", "res"]
    assert leftovers(out) == []  # no temporary or old folders left


def test_refuses_a_folder_that_is_not_results(comparison, scenario, tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(ResultsError, match="mine: exists and is not a results folder"):
        comparison.save(target)
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


@pytest.mark.parametrize("existing", [False, True])
def test_failure_midway_leaves_no_partial_folder(comparison, scenario, tmp_path, monkeypatch, existing):
    out = tmp_path / "res"
    if existing:
        comparison.save(out)
        before = {p.name: p.read_bytes() for p in out.iterdir()}
    calls = []
    real = results_mod._write_parquet

    def failing(df, path):
        calls.append(path.name)
        if len(calls) == 3:
            raise OSError("disk full (simulated)")
        real(df, path)

    monkeypatch.setattr(results_mod, "_write_parquet", failing)
    with pytest.raises(ResultsError, match="res: cannot write results .disk full"):
        comparison.save(out)
    assert len(calls) == 3
    if existing:  # the previous results are untouched
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before
        assert leftovers(out) == []
    else:
        assert list(tmp_path.iterdir()) == []


def test_load_errors_name_the_folder(comparison, scenario, tmp_path):
    with pytest.raises(ResultsError, match="nothere: no such results folder"):
        load(tmp_path / "nothere")
    (tmp_path / "plain").mkdir()
    with pytest.raises(ResultsError, match=r"plain: not a results folder \(no manifest.json\)"):
        load(tmp_path / "plain")
    (tmp_path / "plain" / "manifest.json").write_text("{not json")
    with pytest.raises(ResultsError, match="manifest.json: malformed manifest"):
        load(tmp_path / "plain")
    (tmp_path / "plain" / "manifest.json").write_text('{"format": "something-else"}')
    with pytest.raises(ResultsError, match="plain: not a results folder"):
        load(tmp_path / "plain")
    out = comparison.save(tmp_path / "res")
    (out / "txs.parquet").unlink()
    with pytest.raises(ResultsError, match=r"res: incomplete results folder \(no txs.parquet\)"):
        load(out)
    (out / "events.parquet").write_bytes(b"garbage")
    with pytest.raises(ResultsError, match="events.parquet: malformed parquet") as e:
        load(out)
    assert "\n" not in str(e.value)


# --------------------------------------------------------------------------- statistics & table


def test_t_interval_uses_students_t():
    mean, half, n = mean_interval([1.0, 2.0, 3.0])  # sd = 1
    assert (mean, n) == (2.0, 3)
    assert half == pytest.approx(4.303 / math.sqrt(3), rel=1e-4)
    mean, half, n = mean_interval([5.0, float("nan")])  # NaN (undefined) values are skipped
    assert (mean, n) == (5.0, 1) and math.isnan(half)
    assert t975(1) == 12.706 and t975(30) == 2.042
    assert t975(31) == pytest.approx(2.040, abs=2e-3) and t975(120) == pytest.approx(1.980, abs=1e-3)


def _summary(rows: dict[str, list[dict]]) -> pd.DataFrame:
    out = []
    for mech, seeds in rows.items():
        for seed, values in enumerate(seeds):
            out.append({"mechanism": mech, "seed": seed, **{c: values.get(c, 0.0) for c in METRIC_COLUMNS}})
    return pd.DataFrame(out, columns=["mechanism", "seed", *METRIC_COLUMNS])


def _rows(text: str) -> dict[str, str]:
    """Table lines by their label (group headers and rows)."""
    return {line[:40].strip(): line for line in text.splitlines() if line.strip()}


def test_best_value_follows_each_metrics_direction():
    s = _summary({
        "a": [{"bad_debt_usd": 100.0, "protocol_revenue_usd": 90.0, "debt_at_risk_usd": 1000.0}],
        "b": [{"bad_debt_usd": 50.0, "protocol_revenue_usd": 80.0, "debt_at_risk_usd": 2000.0}],
    })
    agg = aggregate(s, ["a", "b"])
    assert best_mechanisms(agg, "bad_debt_usd") == {"b"}  # lower is better
    assert best_mechanisms(agg, "protocol_revenue_usd") == {"a"}  # higher is better
    assert best_mechanisms(agg, "debt_at_risk_usd") == set()  # no direction
    assert best_mechanisms(agg, "borrower_loss_usd") == set()  # all tied: nothing to mark
    lines = _rows(format_table(s, ["a", "b"]))
    assert lines["bad debt (written off)"].split()[-2:] == ["50", "*"]
    assert lines["revenue"].split()[-3:] == ["90", "*", "80"]
    assert "1,000" in lines["debt at risk"] and "*" not in lines["debt at risk"]


def test_rows_are_grouped_by_who_is_affected_with_the_path_end_outcomes_last():
    text = format_table(_summary({"a": [{}], "b": [{}]}), ["a", "b"])
    headers = [line for line in text.splitlines()[2:] if line and not line.startswith((" ", "-"))][:-1]
    assert headers == ["lenders (USD)", "borrowers (USD)", "keepers and builders (USD)", "protocol (USD)",
                       "timing", "at the end of the price path, before settling (USD)"]
    assert len(text.splitlines()) == 2 + len(headers) + len(HEADLINE_METRICS) + 2  # + blank + legend


def test_fewer_than_five_seeds_show_the_seeds_range_not_an_interval():
    s = _summary({"a": [{"bad_debt_usd": 1000.0}, {"bad_debt_usd": 3000.0}],
                  "b": [{"bad_debt_usd": 500.0}, {"bad_debt_usd": 500.0}]})
    text = format_table(s)
    row = _rows(text)["bad debt (written off)"]
    assert "2,000 [1,000–3,000]" in row and "±" not in text
    assert "500 *" in row  # b's range [500, 500] lies below a's [1,000, 3,000]
    assert "mean over 2 seeds [range of the seeds]; no intervals below 5 seeds" in text


def test_two_overlapping_seed_ranges_get_no_best_marker():
    """Regression: 382,960 ± 550,628 over 2 seeds was crowned although the intervals overlapped."""
    s = _summary({"a": [{"bad_debt_usd": 0.0}, {"bad_debt_usd": 765_920.0}],
                  "b": [{"bad_debt_usd": 400_000.0}, {"bad_debt_usd": 420_000.0}]})
    assert best_mechanisms(aggregate(s), "bad_debt_usd") == set()
    assert "*" not in _rows(format_table(s))["bad debt (written off)"]


def test_five_seeds_show_the_95_percent_interval_and_mark_only_a_clear_best():
    a = [1000.0, 1100.0, 900.0, 1000.0, 1000.0]  # mean 1000, sd 70.7: half = 2.776 x 70.7 / sqrt(5)
    s = _summary({"a": [{"bad_debt_usd": v, "gas_spent_usd": v} for v in a],
                  "b": [{"bad_debt_usd": v + 1000, "gas_spent_usd": v + 50} for v in a]})
    text = format_table(s)
    rows = _rows(text)
    assert "1,000 ± 88 *" in rows["bad debt (written off)"]  # [912, 1088] clear of [1912, 2088]
    assert "*" not in rows["gas spent"]  # [912, 1088] overlaps [962, 1138]
    assert "mean over 5 seeds ± 95% t-interval half-width" in text


def test_a_time_that_never_came_prints_never_and_is_not_averaged_away():
    s = _summary({"a": [{"median_time_to_safety_s": 36.0}], "b": [{"median_time_to_safety_s": math.inf}]})
    assert mean_interval([36.0, math.inf])[0] == math.inf
    row = _rows(format_table(s))["median time to safety"]
    assert row.split()[-3:] == ["s", "*", "never"]


def test_summary_frame_has_one_row_per_run(comparison):
    s = summary_frame(comparison.runs)
    assert len(s) == 2 and s["seed"].tolist() == [3, 3]


# --------------------------------------------------------------------------- atomic replacement


def _snapshot(folder, into):
    """A copy of ``folder`` as a kill at this moment would leave it (links copied as links)."""
    import shutil

    shutil.copytree(folder, into, symlinks=True)
    return into


def _content(out):
    """What a reader of ``out`` gets: the summary's bytes and the runs, or None when nothing is there."""
    if not (out.exists() or out.is_symlink()):
        return None
    res = load(out)  # raises if the folder is incomplete
    return (res.summary().to_csv(index=False), [(r["mechanism"], r["seed"]) for r in res.manifest["runs"]])


@pytest.mark.parametrize("existing", [False, True], ids=["first write", "replacing results"])
def test_a_kill_at_any_step_leaves_the_whole_old_or_the_whole_new_results(comparison, scenario, tmp_path,
                                                                           monkeypatch, existing):
    base = tmp_path / "live"
    out = base / "res"
    smaller = Results.from_runs(scenario, MECHS[:1], [3], "eth-tester", runs=comparison.runs[:1])
    if existing:
        comparison.save(out)
    old = _content(out)
    full = _content(comparison.save(tmp_path / "reference" / "res"))
    snapshots = []

    def kill_here(step):  # SIGKILL runs no clean-up: what is on disk now is what a kill leaves
        snapshots.append((step, _snapshot(base, tmp_path / f"kill{len(snapshots)}")))

    monkeypatch.setattr(results_mod, "_checkpoint", kill_here)
    smaller.save(out)
    new = _content(out)
    assert new != old and len(snapshots) >= 9  # every file, the link, the swap, the clean-up
    monkeypatch.undo()
    for step, snap in snapshots:
        assert _content(snap / "res") in (old, new), step
        # the next write finds its way and removes whatever the killed one left
        comparison.save(snap / "res")
        assert _content(snap / "res") == full, step
        assert leftovers(snap / "res") == [], step
        assert sorted(p.name for p in snap.iterdir()) == [".res.versions", "res"], step


def test_leftovers_of_the_previous_scheme_are_removed_by_the_next_write(comparison, scenario, tmp_path):
    out = comparison.save(tmp_path / "res")
    for name in (".res.tmp-abc123", ".res.old-def456"):  # what a kill left before links
        (tmp_path / name / "res").mkdir(parents=True)
    assert len(leftovers(out)) == 2
    comparison.save(out)
    assert leftovers(out) == [] and sorted(p.name for p in tmp_path.iterdir()) == [".res.versions", "res"]


def test_a_results_folder_from_before_links_is_replaced_by_a_link(comparison, scenario, tmp_path):
    import os
    import shutil

    out = comparison.save(tmp_path / "res")
    real = out.resolve()
    out.unlink()
    shutil.move(real, out)  # a plain folder, as the previous scheme wrote them
    shutil.rmtree(tmp_path / ".res.versions")
    comparison.save(out)
    assert out.is_symlink() and load(out).summary().shape == (2, len(METRIC_COLUMNS) + 2)
    assert os.listdir(tmp_path / ".res.versions") == [os.readlink(out).split("/")[-1]]


def test_a_link_of_the_users_to_results_is_replaced_and_its_target_kept(comparison, scenario, tmp_path):
    mine = comparison.save(tmp_path / "elsewhere").resolve()
    (tmp_path / "res").symlink_to(mine)
    comparison.save(tmp_path / "res")
    assert (tmp_path / "res").resolve() != mine and load(mine).summary().shape[0] == 2


def test_a_link_of_ours_whose_version_is_gone_may_be_written_again(comparison, scenario, tmp_path):
    import shutil

    out = comparison.save(tmp_path / "res")
    shutil.rmtree(out.resolve())
    with pytest.raises(ResultsError, match="no such results folder"):
        load(out)
    comparison.save(out)
    assert load(out).summary().shape[0] == 2


def test_out_is_checked_before_anything_runs(tmp_path):
    from sandbox.results import check_out_dir

    (tmp_path / "afile").write_text("x")
    for bad, message in [("", "must not be empty"), (tmp_path / "afile" / "res", "cannot be created under"),
                         (tmp_path / "afile", "a file"), ("/proc/liqsandbox/res", "cannot write in /proc")]:
        with pytest.raises(ResultsError, match=message):
            check_out_dir(bad)
    assert check_out_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # checking wrote nothing
