"""Whole runs on the perpetual market: the comparison from the command line, the accounting of
every run (the debt identity on open notional, the market's cash identity over every account,
funding that sums to zero, the insurance fund's ledger), the cascade a mark that leans on a thin
venue causes, and volatility-scaled margin. Runs are small and go on anvil when it is installed
(identical tables to eth-tester; tests/simulation), else on eth-tester."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from click.testing import CliRunner

from sandbox.cli import main
from sandbox.markets import get_market
from sandbox.metrics import AccountingError, compute_metrics, metric_details
from sandbox.perp import check_identity
from sandbox.scenarios import load_scenario
from sandbox.simulation import Simulation
from sandbox.testing import fastest_backend
from sandbox.units import to_wad

FOUR = ["fixed-fee", "dutch-auction", "soft", "private"]
PERP_ROWS = ["insurance fund drawn", "deficits covered by ADL", "ADL volume (notional)", "funding paid",
             "liquidation-price slippage"]


def backend() -> str:
    return fastest_backend()


def _args(e) -> dict:
    return {k: int(v) if isinstance(v, str) and v.lstrip("-").isdigit() else v for k, v in json.loads(e).items()}


# ------------------------------------------------------------------------ the comparison

def test_compare_prints_the_four_mechanisms_on_perps_and_show_and_plot_read_it(tmp_path):
    sc = get_market("perp").example_scenario()
    path = tmp_path / "perp.toml"
    path.write_text(f'''name = "perp-small"
market = "perp"
blocks = {sc.blocks}
block_time_seconds = {sc.block_time_seconds}
settle_max_seconds = 1800
[price]
model = "path"
knots = [[0, 2000.0], [1200, 1500.0]]
[traders]
count = 8
[[keepers]]
strategy = "pga"
[[keepers]]
strategy = "flash"
capital_usd = 0.0
''')
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["compare", "--scenario", str(path), "--backend", backend(), "--jobs", "1",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if line.startswith("metric"))
    assert header.split()[1:] == FOUR
    assert "8 traders" in result.output
    for row in ["debt at risk", "recovered", "bad debt (written off)", *PERP_ROWS]:
        assert any(line.strip().startswith(row) for line in result.output.splitlines()), row
    summary = (out / "summary.csv").read_text().splitlines()
    assert "insurance_fund_drawdown_usd" in summary[0] and len(summary) == 5
    shown = CliRunner().invoke(main, ["show", str(out)])
    assert shown.exit_code == 0 and "funding paid" in shown.output
    plotted = CliRunner().invoke(main, ["plot", str(out), "--out", str(tmp_path / "png")])
    assert plotted.exit_code == 0, plotted.output
    assert len(list((tmp_path / "png").glob("*.png"))) >= 4


# ------------------------------------------------------------------------ every run's accounting

@pytest.fixture(scope="module")
def runs():
    """The example scenario with hourly funding shortened to 5 minutes, once per mechanism; the
    chains stay open for the checks and close at the end."""
    sc = get_market("perp").example_scenario()
    sc = replace(sc, perp=replace(sc.perp, funding_interval_seconds=300, insurance_fund_usd=2_000.0))
    sims = {}
    for m in FOUR:
        sim = Simulation(sc, m, seed=1, backend=backend())
        sims[m] = (sim, sim.run())
    yield sims
    for sim, _ in sims.values():
        sim.close()


@pytest.mark.parametrize("mechanism", FOUR)
def test_every_run_adds_up_and_the_market_books_balance_over_every_account(runs, mechanism):
    sim, result = runs[mechanism]
    metrics = compute_metrics(result)
    out = metric_details(result)["outcome_wad"]
    assert out.at_risk == out.recovered + out.bad + out.covered + out.shortfall > 0
    assert metrics["liquidations"] > 0
    check_identity(sim.market.perp, [a.address for a in sim.chain.accounts])


@pytest.mark.parametrize("mechanism", FOUR)
def test_funding_payments_sum_to_zero_in_every_settlement(runs, mechanism):
    _, result = runs[mechanism]
    ev = result.tables["events"]
    settled = ev[ev.event == "FundingSettled"]
    assert len(settled) >= 2
    paid = ev[ev.event == "FundingPaid"]
    for (block, tx), rows in paid.groupby(["block", "tx_index"]):
        s = _args(settled[(settled.block == block) & (settled.tx_index == tx)].args.iloc[0])
        amounts = [_args(a)["amount"] for a in rows.args]
        assert sum(a for a in amounts if a > 0) == s["paid"]
        assert -sum(a for a in amounts if a < 0) == s["received"]
        assert sum(amounts) == s["dust"] >= 0  # payers' total = receivers' + the fund's dust


@pytest.mark.parametrize("mechanism", FOUR)
def test_the_insurance_fund_is_its_seed_plus_fees_and_dust_less_what_it_paid(runs, mechanism):
    sim, result = runs[mechanism]
    ev = result.tables["events"]
    market = ev[ev.contract == "market"]

    def total(name, field="amount"):
        return sum(_args(a)[field] for a in market[market.event == name].args)

    expected = (to_wad(sim.market.params.insurance_fund_usd) + total("InsuranceFeeCharged")
                + total("FundingSettled", "dust") - total("InsuranceDrawn"))
    assert sim.market.state().insurance_fund == expected


def test_a_tampered_final_read_fails_the_identity(runs):
    _, result = runs["fixed-fee"]
    pos = result.tables["positions"].copy()
    i = pos.index[pos.at_risk & (pos.final_debt_usd_wad != "0")][0]
    pos.loc[i, "final_debt_usd_wad"] = str(int(pos.loc[i, "final_debt_usd_wad"]) + 1)
    with pytest.raises(AccountingError, match="replay"):
        compute_metrics(replace(result, tables={**result.tables, "positions": pos}))


# ------------------------------------------------------------------------ cascade, vol margin

def _run(sc, mechanism="fixed-fee"):
    sim = Simulation(sc, mechanism, seed=0, backend=backend())
    try:
        return sim.run()
    finally:
        sim.close()


def test_a_mark_leaning_on_a_thin_venue_cascades():
    """The same crash on the same thin venue, marked to the index or to the venue: liquidation
    selling that moves the mark puts more accounts at risk, at worse prices, and leaves deficits."""
    base = load_scenario("perp-cascade")
    base = replace(base, blocks=60, traders=replace(base.traders, count=24))
    to_index = _run(replace(base, perp=replace(base.perp, mark_weight_bps=0)))
    to_venue = _run(base)
    a, b = compute_metrics(to_index), compute_metrics(to_venue)
    assert to_venue.tables["positions"].at_risk.sum() > to_index.tables["positions"].at_risk.sum()
    assert b["debt_at_risk_usd"] > a["debt_at_risk_usd"]
    assert b["liquidation_slippage_bps"] > 2 * a["liquidation_slippage_bps"] > 0
    assert b["insurance_fund_drawdown_usd"] + b["adl_covered_usd"] + b["bad_debt_usd"] > \
        a["insurance_fund_drawdown_usd"] + a["adl_covered_usd"] + a["bad_debt_usd"]
    assert to_venue.tables["blocks"].amm_price_usd.min() < to_index.tables["blocks"].amm_price_usd.min()


def test_volatility_scaled_margin_deleverages_before_the_crash():
    """Through the choppy hour the oracle's realised volatility raises maintenance margin above
    the static 5%, so more accounts are at risk (and liquidated) before the crash starts."""
    base = load_scenario("perp-vol-regime")
    base = replace(base, blocks=200, settle_max_seconds=0, traders=replace(base.traders, count=24))
    static = _run(replace(base, perp=replace(base.perp, vol_margin=False)))
    dynamic = _run(base)
    ev = dynamic.tables["events"]
    mmf = [_args(a)["mmf"] for a in ev[ev.event == "VolatilityUpdated"].args]
    assert mmf and max(mmf) > 10**17 // 10 * 1  # above 10%: twice the static maintenance margin
    assert not (static.tables["events"].event == "VolatilityUpdated").any()

    def early(r):
        p = r.tables["positions"]
        return int((p.at_risk & (p.at_risk_seconds < 7200)).sum())

    assert early(dynamic) > early(static)
    compute_metrics(static), compute_metrics(dynamic)
