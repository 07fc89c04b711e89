"""PNG charts of a results folder (matplotlib's Agg renderer; no display, no pyplot state).

* ``price_path.png``: reference, oracle and AMM price over time for one seed, with each
  mechanism's liquidations (blocks where debt was repaid or written off) marked.
* ``recovery_vs_bad_debt.png``: per mechanism, debt recovered, bad debt and debt still open
  (mean over seeds; the 95% interval as error bars with two or more seeds).
* ``keeper_pnl.png``: keeper P&L (USD, after gas) by strategy for each mechanism.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg", force=False)

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from sandbox.results import Results, load  # noqa: E402

# market events that move debt out of a position in a liquidation
LIQUIDATION_EVENTS = ("LiquidationRepaid", "BadDebtWrittenOff")
MARKERS = ("v", "o", "s", "^", "D", "P", "X", "*", "<", ">")
PLOT_FILES = ("price_path.png", "recovery_vs_bad_debt.png", "keeper_pnl.png")
_META = {"Software": None}  # no version string in the file


def _mean_ci(values: Sequence[float]) -> tuple[float, float]:
    from sandbox.compare import mean_interval

    mean, half, _ = mean_interval(values)
    return mean, (0.0 if math.isnan(half) else half)


def plot_price_path(res: Results, path: Path, seed: int | None = None) -> Path:
    prices = res.prices
    seed = res.seeds[0] if seed is None else seed
    fig = Figure(figsize=(10, 5.5), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    mechanisms = res.mechanisms
    p = prices[prices["seed"] == seed]
    # reference and oracle do not depend on the mechanism; the AMM price does (arbitrage,
    # keepers' sales): draw it per mechanism, thin
    first = p[p["mechanism"] == mechanisms[0]] if mechanisms else p
    hours = first["seconds"] / 3600.0
    ax.plot(hours, first["reference_price_usd"], color="black", lw=1.6, label="reference")
    ax.step(hours, first["oracle_price_usd"], where="post", color="tab:blue", lw=1.2, label="oracle")
    for i, m in enumerate(mechanisms):
        q = p[p["mechanism"] == m]
        ax.plot(q["seconds"] / 3600.0, q["amm_price_usd"], lw=0.8, alpha=0.6,
                color=f"C{(i + 2) % 10}", label=f"AMM ({m})")
    ev = res.events
    if not ev.empty:
        liq = ev[(ev["seed"] == seed) & (ev["contract"] == "market") & ev["event"].isin(LIQUIDATION_EVENTS)]
        for i, m in enumerate(mechanisms):
            e = liq[liq["mechanism"] == m].drop_duplicates(["block"])
            if e.empty:
                continue
            ax.scatter(e["seconds"] / 3600.0, e["reference_price_usd"], marker=MARKERS[i % len(MARKERS)],
                       s=28, color=f"C{(i + 2) % 10}", edgecolors="black", linewidths=0.4, zorder=3,
                       label=f"liquidations: {m} ({len(e)} blocks)")
    scenario = res.manifest.get("scenario", {}).get("name", "")
    ax.set_title(f"Price path, scenario {scenario!r}, seed {seed}")
    ax.set_xlabel("hours since start")
    ax.set_ylabel("WETH price (USD)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, format="png", metadata=_META)
    return path


def _usd_axis(ax) -> None:
    from matplotlib.ticker import FuncFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))


def plot_recovery(res: Results, path: Path) -> Path:
    """Stacked bars per mechanism: recovered + bad debt + still open (means over seeds; they add
    up to the debt at risk), with each seed's recovered amount as a dot."""
    s = res.summary
    mechanisms = res.mechanisms
    parts = [("debt_recovered_usd", "recovered", "tab:green"), ("bad_debt_usd", "bad debt", "tab:red"),
             ("debt_open_usd", "still open", "tab:gray")]
    fig = Figure(figsize=(max(6.5, 1.6 * len(mechanisms) + 3), 5), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(mechanisms))
    bottom = np.zeros(len(mechanisms))
    for col, label, color in parts:
        if col not in s.columns:
            continue
        means = np.array([_mean_ci(s.loc[s["mechanism"] == m, col].tolist())[0] for m in mechanisms], dtype=float)
        means = np.nan_to_num(means)
        ax.bar(x, means, 0.6, bottom=bottom, color=color, label=label)
        bottom = bottom + means
    if "debt_recovered_usd" in s.columns and len(res.seeds) > 1:
        for i, m in enumerate(mechanisms):
            vals = s.loc[s["mechanism"] == m, "debt_recovered_usd"].to_numpy(dtype=float)
            ax.scatter(np.full(len(vals), x[i]) + np.linspace(-0.2, 0.2, len(vals)), vals, s=12,
                       color="black", zorder=3, label="recovered, per seed" if i == 0 else None)
    if "recovery_efficiency" in s.columns:
        for i, m in enumerate(mechanisms):
            eff = _mean_ci(s.loc[s["mechanism"] == m, "recovery_efficiency"].tolist())[0]
            if not math.isnan(eff):
                ax.annotate(f"{eff * 100:.1f}%", (x[i], bottom[i]), textcoords="offset points", xytext=(0, 3),
                            ha="center", fontsize=8)
    top = float(np.nanmax(bottom)) if len(bottom) else 0.0
    if top > 0:
        ax.set_ylim(0, top * 1.12)  # room for the efficiency labels
    ax.set_xticks(x, mechanisms)
    ax.set_ylabel("USD (mean over seeds)")
    _usd_axis(ax)
    n = len(res.seeds)
    ax.set_title(f"Debt at risk: recovered, bad debt, still open ({n} seed{'s' if n != 1 else ''})", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, format="png", metadata=_META)
    return path


def plot_keeper_pnl(res: Results, path: Path) -> Path:
    """Grouped bars: keeper P&L after gas summed per strategy, mean over seeds, one bar per
    mechanism; each seed's value as a dot."""
    a = res.agents
    mechanisms = res.mechanisms
    keepers = a[a["kind"] == "keeper"] if not a.empty else a
    fig = Figure(figsize=(10, 5), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    if keepers.empty:
        ax.text(0.5, 0.5, "no keepers in this scenario", ha="center", va="center", transform=ax.transAxes)
    else:
        strategies = list(dict.fromkeys(keepers["strategy"]))
        per_run = keepers.groupby(["mechanism", "seed", "strategy"], sort=False)["pnl_usd"].sum().reset_index()
        x = np.arange(len(strategies))
        width = 0.8 / max(1, len(mechanisms))
        for i, m in enumerate(mechanisms):
            offs = x + (i - (len(mechanisms) - 1) / 2) * width
            values = [per_run.loc[(per_run["mechanism"] == m) & (per_run["strategy"] == st), "pnl_usd"].to_numpy(dtype=float)
                      for st in strategies]
            means = [float(v.mean()) if len(v) else 0.0 for v in values]
            ax.bar(offs, means, width, color=f"C{(i + 2) % 10}", label=m)
            if len(res.seeds) > 1:
                for xo, v in zip(offs, values):
                    ax.scatter(np.full(len(v), xo), v, s=8, color="black", zorder=3)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xticks(x, strategies)
        ax.legend(fontsize=8, title="mechanism")
    ax.set_ylabel("P&L after gas (USD, mean over seeds)")
    _usd_axis(ax)
    n = len(res.seeds)
    ax.set_title(f"Keeper P&L by strategy ({n} seed{'s' if n != 1 else ''}{'; dots: seeds' if n > 1 else ''})",
                 fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png", metadata=_META)
    return path


def write_plots(results: Results | str | os.PathLike, out_dir: str | os.PathLike | None = None,
                seed: int | None = None) -> list[Path]:
    """Write the three PNGs into ``out_dir`` (default: ``<results>/plots``); their paths."""
    res = results if isinstance(results, Results) else load(results)
    out = Path(out_dir) if out_dir is not None else res.path / "plots"
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    return [
        plot_price_path(res, out / PLOT_FILES[0], seed=seed),
        plot_recovery(res, out / PLOT_FILES[1]),
        plot_keeper_pnl(res, out / PLOT_FILES[2]),
    ]


__all__ = ["PLOT_FILES", "plot_keeper_pnl", "plot_price_path", "plot_recovery", "write_plots"]
