"""Sweep files: a grid and an explicit list expand into parameter sets x mechanisms x seeds, every
value is checked by the scenario loader (limits, mechanism parameters) with one line naming the
set and the dotted path, and runs that one mechanism cannot tell apart are run once."""

from __future__ import annotations

import pytest
from sweepfiles import BASE, GRID, SETS, write

from sandbox.scenarios import ScenarioError
from sandbox.sweep import load_sweep, parse_sweep


def sweep_of(text: str, tmp_path, **options):
    return load_sweep(write(tmp_path, text), **options)


def test_a_grid_is_every_combination_in_order(tmp_path):
    spec = sweep_of(BASE + '''
[sweep]
scenario = "crash"
mechanisms = ["fixed-fee"]
[sweep.grid]
"mechanisms.fixed-fee.bonus_bps" = [300, 800]
"amm.liquidity_weth" = [500.0, 5000.0, 9000.0]
''', tmp_path)
    assert spec.parameters == ("mechanisms.fixed-fee.bonus_bps", "amm.liquidity_weth")
    assert [tuple(s.params.values()) for s in spec.sets] == [
        (300, 500.0), (300, 5000.0), (300, 9000.0), (800, 500.0), (800, 5000.0), (800, 9000.0)]
    assert [sc.amm.liquidity_weth for sc in spec.scenarios] == [500.0, 5000.0, 9000.0] * 2
    assert [sc.mechanism_overrides("fixed-fee") for sc in spec.scenarios][3] == {"bonus_bps": 800}
    assert spec.sets[4].label == "bonus_bps=800, liquidity_weth=5000.0"
    assert len(spec.rows) == len(spec.runs) == 6  # one seed by default


def test_an_explicit_list_keeps_its_sets_and_labels(tmp_path):
    spec = sweep_of(SETS, tmp_path)
    assert [s.label for s in spec.sets] == ["shallow AMM", "deep AMM"]
    assert [s.params for s in spec.sets] == [{"amm.liquidity_weth": 500.0}, {"amm.liquidity_weth": 5000.0}]
    assert spec.describe() == "2 parameter sets × 1 mechanism × 1 seed = 2 runs"


def test_sets_and_a_grid_combine(tmp_path):
    spec = sweep_of(SETS + '''
[sweep.grid]
"mechanisms.fixed-fee.close_factor_bps" = [5000, 10000]
''', tmp_path)
    assert [s.label for s in spec.sets] == ["shallow AMM, close_factor_bps=5000", "shallow AMM, close_factor_bps=10000",
                                            "deep AMM, close_factor_bps=5000", "deep AMM, close_factor_bps=10000"]


def test_dotted_keys_and_quoted_keys_mean_the_same(tmp_path):
    quoted = sweep_of(GRID, tmp_path)
    dotted = sweep_of(GRID.replace('"mechanisms.fixed-fee.bonus_bps" =', 'mechanisms.fixed-fee.bonus_bps ='), tmp_path)
    assert dotted.fingerprint == quoted.fingerprint


def test_a_set_that_changes_only_another_mechanisms_parameters_shares_its_runs(tmp_path):
    spec = sweep_of(GRID, tmp_path)  # bonus_bps is fixed-fee's: dutch-auction's runs are the same in both sets
    assert len(spec.rows) == 8 and len(spec.runs) == 6
    dutch = [r for r in spec.rows if r.mechanism == "dutch-auction"]
    assert [r.run for r in dutch if r.set == 0] == [r.run for r in dutch if r.set == 1]
    fixed = [r for r in spec.rows if r.mechanism == "fixed-fee"]
    assert len({r.run for r in fixed}) == 4
    assert "6 distinct" in spec.describe()


def test_seeds_backend_and_mechanisms_come_from_the_options_first(tmp_path):
    spec = sweep_of(GRID, tmp_path, seeds=3, backend="anvil")
    assert spec.seeds == (0, 1, 2) and spec.backend == "anvil"
    assert spec.fingerprint != sweep_of(GRID, tmp_path).fingerprint  # --resume refuses another sweep
    assert sweep_of(GRID.replace("seeds = [0, 1]", "seeds = [7, 3]"), tmp_path).seeds == (7, 3)


@pytest.mark.parametrize("line, message", [
    ('"amm.liquidity_weth" = [5000.0, 0.0]', r"^amm.liquidity_weth = 0.0: amm.liquidity_weth: must be > 0"),
    ('"borrowers.count" = [3, 6000]',
     r"^borrowers.count = 6000: borrowers.count: 6,000 is above the highest value the sandbox can run"),
    ('"mechanisms.fixed-fee.bonus_bps" = [500, 20000]',
     r"^mechanisms.fixed-fee.bonus_bps = 20000: mechanisms.fixed-fee: bonus_bps must be in \[0, 10000\]"),
    ('"amm.liquidity" = [1.0]', r"^amm.liquidity = 1.0: amm.liquidity: unknown field \(did you mean liquidity_weth\?\)"),
    ('"mechanisms.soft.band_count" = [4]', r"^mechanisms.soft.band_count: soft is not among this sweep's mechanisms"),
    ('"blocks.count" = [4]', r"^blocks.count: blocks is not a table"),
    ('"keepers[3].tip_gwei" = [4.0]', r"^keepers\[3\].tip_gwei: keepers\[3\] does not exist \(keepers has 1 entry\)"),
    ('"amm.fee_bps" = []', r"^sweep.grid.amm.fee_bps: expected a non-empty list of values"),
])
def test_a_bad_value_is_one_line_naming_its_dotted_path(tmp_path, line, message):
    text = BASE + '[sweep]\nscenario = "crash"\nmechanisms = ["fixed-fee"]\n[sweep.grid]\n' + line + "\n"
    with pytest.raises(ScenarioError, match=message) as e:
        sweep_of(text, tmp_path)
    assert "\n" not in str(e.value)


def test_values_that_clash_only_together_name_their_set(tmp_path):
    text = BASE + '''
[sweep]
scenario = "crash"
mechanisms = ["fixed-fee"]
[[sweep.sets]]
"lending.max_ltv_bps" = 8400
"lending.liquidation_threshold_bps" = 8300
'''
    with pytest.raises(ScenarioError, match=r"^sweep set 0 \(max_ltv_bps=8400, liquidation_threshold_bps=8300\): "
                                            r"lending: needs 0 < max_ltv_bps <= liquidation_threshold_bps"):
        sweep_of(text, tmp_path)


def test_a_keeper_group_and_a_price_path_can_be_swept(tmp_path):
    spec = sweep_of(BASE + '''
[sweep]
scenario = "crash"
mechanisms = ["fixed-fee"]
[sweep.grid]
"keepers[0].tip_gwei" = [1.0, 5.0]
"price.knots" = [[[0, 2000.0], [120, 1200.0]], [[0, 2000.0], [120, 1600.0]]]
''', tmp_path)
    assert [(sc.keepers[0].tip_gwei, sc.price.knots[-1][1]) for sc in spec.scenarios] == [
        (1.0, 1200.0), (1.0, 1600.0), (5.0, 1200.0), (5.0, 1600.0)]


def test_a_file_without_a_sweep_section_or_a_base_is_refused(tmp_path):
    with pytest.raises(ScenarioError, match="no \\[sweep\\] section"):
        sweep_of(BASE, tmp_path)
    with pytest.raises(ScenarioError, match="sweep: no base scenario"):
        parse_sweep({"sweep": {"mechanisms": ["fixed-fee"]}})
    with pytest.raises(ScenarioError, match=r"sweep.grids: unknown field \(did you mean grid\?\)"):
        parse_sweep({"sweep": {"scenario": "crash", "grids": {}}})
