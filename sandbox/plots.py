"""PNG charts of a results folder (matplotlib ``Figure`` objects saved directly: no display, no
pyplot state, and no backend switch, so importing this in a notebook leaves inline plots alone).

* ``outcomes.png``: per mechanism, where the debt at risk went — recovered, open but covered by
  collateral, shortfall, bad debt — stacked (means over seeds; they add up to the debt at risk),
  at the end of the run and at the end of the price path side by side.
* ``losses_by_party.png``: per mechanism, what each party lost (−) or gained (+): lenders,
  borrowers (at the market price), liquidators, block builders, the protocol, gas burnt.
* ``price_path.png``: one panel per mechanism (one seed): reference, oracle and AMM price, its
  liquidations and band conversions marked, the settle phase shaded.
* ``health.png``: one panel per mechanism (one seed): the distribution of positions' health at
  the market price over time (median, 10–90% band, minimum; ``sandbox.risk``) and how many
  positions were at risk at the oracle and at the market price.
* ``keeper_pnl.png``: liquidators' P&L (USD, after gas) by strategy for each mechanism (the
  arbitrageur's band conversions as "band conversions").

A sweep gets ``SWEEP_PLOTS`` instead, one PNG per metric of ``SWEEP_PLOT_METRICS``
(``sweep_<metric>.png``): with one swept parameter, a line per mechanism over its values with
the 95% interval (five seeds or more) or the seeds' range shaded; with two parameters on a
grid, one surface (heat map of the means) per mechanism; otherwise, the sets side by side with
their intervals as error bars.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from sandbox.results import Results

# market events that move debt out of a position in a liquidation
LIQUIDATION_EVENTS = ("LiquidationRepaid", "BadDebtWrittenOff")
OUTCOME_PARTS = (  # (final column, path-end column, label, colour)
    ("debt_recovered_usd", "debt_recovered_at_path_end_usd", "recovered", "tab:green"),
    ("debt_open_covered_usd", "debt_open_covered_at_path_end_usd", "open, covered by collateral", "tab:olive"),
    ("shortfall_usd", "shortfall_at_path_end_usd", "open, shortfall", "tab:orange"),
    ("bad_debt_usd", "bad_debt_at_path_end_usd", "bad debt", "tab:red"),
)
PARTIES = (  # (label, summary column, sign: + gain, − loss)
    ("lenders", "lender_loss_usd", -1),
    ("borrowers", "borrower_loss_usd", -1),
    ("liquidators", "keeper_profit_usd", 1),
    ("builders (MEV)", "mev_leaked_usd", 1),
    ("protocol", "protocol_revenue_usd", 1),
    ("gas burnt", "gas_spent_usd", -1),
)
_META = {"Software": None}  # no version string in the file


def _mean_ci(values: Sequence[float]) -> tuple[float, float]:
    from sandbox.table import mean_interval

    mean, half, _ = mean_interval(values)
    return mean, (0.0 if math.isnan(half) else half)


def _means(res: Results, column: str) -> np.ndarray:
    s = res.summary()
    if column not in s.columns:
        return np.zeros(len(res.mechanisms))
    return np.nan_to_num(np.array([_mean_ci(s.loc[s["mechanism"] == m, column].tolist())[0]
                                   for m in res.mechanisms], dtype=float))


def _usd_axis(ax) -> None:
    from matplotlib.ticker import FuncFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))


def _seeds_text(res: Results) -> str:
    n = len(res.seeds)
    return f"{n} seed{'s' if n != 1 else ''}"


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, format="png", metadata=_META)
    return path


def _panels(n: int, height: float = 2.6) -> tuple[Figure, list]:
    fig = Figure(figsize=(10, 1.2 + height * n), dpi=110)
    axes = [fig.add_subplot(n, 1, i + 1) for i in range(n)]
    for ax in axes[1:]:
        ax.sharex(axes[0])
    return fig, axes


def _settle_shading(ax, blocks) -> None:
    """Shade the settle phase (after the price path, price held)."""
    if "phase" in blocks and (blocks["phase"] == "settle").any():
        start = blocks.loc[blocks["phase"] == "settle", "seconds"].min() / 3600
        ax.axvspan(start, blocks["seconds"].max() / 3600, color="grey", alpha=0.12, lw=0,
                   label="settle phase")


def plot_outcomes(res: Results, path: Path) -> Path:
    """Stacked bars per mechanism: recovered, covered open, shortfall, bad debt (means over seeds),
    at the end of the run (solid) and at the end of the price path (hatched, left)."""
    mechanisms = res.mechanisms
    fig = Figure(figsize=(max(7, 1.9 * len(mechanisms) + 3), 5.2), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(mechanisms))
    width = 0.38
    tops = []
    for offset, index, hatch, alpha in ((-width / 2, 1, "//", 0.55), (width / 2, 0, None, 1.0)):
        bottom = np.zeros(len(mechanisms))
        for part in OUTCOME_PARTS:
            means = _means(res, part[index])
            ax.bar(x + offset, means, width * 0.95, bottom=bottom, color=part[3], alpha=alpha, hatch=hatch,
                   edgecolor="white", lw=0.5, label=part[2] if index == 0 else None)
            bottom = bottom + means
        tops.append(bottom)
    loss = _means(res, "lender_loss_usd")
    for i in range(len(mechanisms)):
        ax.annotate(f"lender loss {loss[i]:,.0f}", (x[i] + width / 2, tops[1][i]), textcoords="offset points",
                    xytext=(0, 3), ha="center", fontsize=7)
    top = float(max(np.max(t) for t in tops)) if len(mechanisms) else 0.0
    if top > 0:
        ax.set_ylim(0, top * 1.12)
    ax.set_xticks(x, [f"{m}\n(path end | final)" for m in mechanisms], fontsize=8)
    ax.set_ylabel("USD (mean over seeds)")
    _usd_axis(ax)
    ax.set_title(f"Where the debt at risk went, at the path end (hatched) and after settling ({_seeds_text(res)})",
                 fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def plot_losses_by_party(res: Results, path: Path) -> Path:
    """Grouped bars: each party's gain (+) or loss (−) per mechanism, means over seeds, each seed a
    dot; values at the market price."""
    s = res.summary()
    mechanisms = res.mechanisms
    fig = Figure(figsize=(11, 5), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(PARTIES))
    width = 0.8 / max(1, len(mechanisms))
    for i, m in enumerate(mechanisms):
        offs = x + (i - (len(mechanisms) - 1) / 2) * width
        part = s[s["mechanism"] == m]
        values = [sign * part[col].to_numpy(dtype=float) if col in part else np.zeros(0) for _, col, sign in PARTIES]
        means = [float(np.nanmean(v)) if len(v) and np.isfinite(v).any() else 0.0 for v in values]
        ax.bar(offs, means, width, color=f"C{(i + 2) % 10}", label=m)
        if len(res.seeds) > 1:
            for xo, v in zip(offs, values):
                ax.scatter(np.full(len(v), xo), v, s=8, color="black", zorder=3)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(x, [p[0] for p in PARTIES])
    ax.set_ylabel("USD: gain (+) / loss (−), mean over seeds")
    _usd_axis(ax)
    ax.set_title(f"Who gains and who loses, at the market price ({_seeds_text(res)})", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, title="mechanism")
    return _save(fig, path)


def plot_price_path(res: Results, path: Path, seed: int | None = None) -> Path:
    """One panel per mechanism: reference, oracle and AMM price, liquidations and soft band
    conversions at the reference price of their block, the settle phase shaded."""
    seed = res.seeds[0] if seed is None else seed
    mechanisms = res.mechanisms
    prices = res.prices[res.prices["seed"] == seed]
    ev = res.events
    ev = ev[ev["seed"] == seed] if not ev.empty else ev
    fig, axes = _panels(max(1, len(mechanisms)))
    for ax, m in zip(axes, mechanisms):
        p = prices[prices["mechanism"] == m]
        hours = p["seconds"] / 3600.0
        _settle_shading(ax, p)
        ax.plot(hours, p["reference_price_usd"], color="black", lw=1.4, label="reference (market)")
        ax.step(hours, p["oracle_price_usd"], where="post", color="tab:blue", lw=1.1, label="oracle")
        ax.plot(hours, p["amm_price_usd"], color="tab:purple", lw=0.9, alpha=0.8, label="AMM")
        e = ev[ev["mechanism"] == m] if not ev.empty else ev
        if not e.empty:
            liq = e[(e["contract"] == "market") & e["event"].isin(LIQUIDATION_EVENTS)].drop_duplicates(["block"])
            if len(liq):
                ax.scatter(liq["seconds"] / 3600.0, liq["reference_price_usd"], marker="v", s=30, color="tab:red",
                           edgecolors="black", linewidths=0.4, zorder=3, label=f"liquidations ({len(liq)} blocks)")
            conv = e[(e["contract"] == "mechanism") & (e["event"] == "Exchange")].drop_duplicates(["block"])
            if len(conv):
                ax.scatter(conv["seconds"] / 3600.0, conv["reference_price_usd"], marker="o", s=14,
                           color="tab:orange", edgecolors="black", linewidths=0.3, zorder=3,
                           label=f"band conversions ({len(conv)} blocks)")
        ax.set_title(m, fontsize=9, loc="left")
        ax.set_ylabel("USD / WETH")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper right", ncol=2)
    axes[-1].set_xlabel("hours since start")
    scenario = res.manifest.get("scenario", {}).get("name", "")
    fig.suptitle(f"Price path, scenario {scenario!r}, seed {seed}", fontsize=10)
    return _save(fig, path)


def plot_health(res: Results, path: Path, seed: int | None = None) -> Path:
    """One panel per mechanism: positions' health at the market price over time (median, 10–90%,
    minimum) and, on the right axis, how many were at risk at the oracle and at the market price."""
    seed = res.seeds[0] if seed is None else seed
    mechanisms = res.mechanisms
    prices = res.prices[res.prices["seed"] == seed]
    fig, axes = _panels(max(1, len(mechanisms)))
    for ax, m in zip(axes, mechanisms):
        p = prices[prices["mechanism"] == m]
        ax.set_title(m, fontsize=9, loc="left")
        if "health_ref_p50" not in p:
            ax.text(0.5, 0.5, "no health recorded in these results", ha="center", va="center", transform=ax.transAxes)
            continue
        hours = p["seconds"] / 3600.0
        _settle_shading(ax, p)
        ax.fill_between(hours, p["health_ref_p10"], p["health_ref_p90"], color="tab:green", alpha=0.25,
                        label="10–90% of positions")
        ax.plot(hours, p["health_ref_p50"], color="tab:green", lw=1.2, label="median")
        ax.plot(hours, p["health_ref_min"], color="tab:red", lw=0.9, label="lowest")
        ax.axhline(1.0, color="black", lw=0.8, ls="--")
        ax.set_ylabel("health (market price)")
        ax.grid(alpha=0.3)
        right = ax.twinx()
        right.step(hours, p["health_below_1_oracle"], where="post", color="tab:blue", lw=0.9,
                   label="at risk at the oracle")
        right.step(hours, p["health_below_1_reference"], where="post", color="black", lw=0.9, ls=":",
                   label="at risk at the market price")
        right.set_ylabel("positions at risk")
        lines = ax.get_legend_handles_labels()
        more = right.get_legend_handles_labels()
        ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc="upper right", ncol=2)
    axes[-1].set_xlabel("hours since start")
    fig.suptitle(f"Health of positions over time (collateral × LT + USD held) / debt, seed {seed}", fontsize=10)
    return _save(fig, path)


def plot_keeper_pnl(res: Results, path: Path) -> Path:
    """Grouped bars: liquidators' P&L after gas summed per strategy, mean over seeds, one bar per
    mechanism, each seed a dot; non-keepers' band conversions as "band conversions"."""
    a = res.agents
    s = res.summary()
    mechanisms = res.mechanisms
    keepers = a[a["kind"] == "keeper"] if not a.empty else a
    fig = Figure(figsize=(10, 5), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    per_run = keepers.groupby(["mechanism", "seed", "strategy"], sort=False)["pnl_usd"].sum().reset_index() \
        if not keepers.empty else None
    strategies = list(dict.fromkeys(keepers["strategy"])) if not keepers.empty else []
    has_conversions = "soft_conversions" in s and (s["soft_conversions"] > 0).any()
    labels = strategies + (["band conversions"] if has_conversions else [])
    if not labels:
        ax.text(0.5, 0.5, "no liquidators in this scenario", ha="center", va="center", transform=ax.transAxes)
    else:
        x = np.arange(len(labels))
        width = 0.8 / max(1, len(mechanisms))
        for i, m in enumerate(mechanisms):
            offs = x + (i - (len(mechanisms) - 1) / 2) * width
            values = [] if per_run is None else [
                per_run.loc[(per_run["mechanism"] == m) & (per_run["strategy"] == st), "pnl_usd"].to_numpy(dtype=float)
                for st in strategies]
            if has_conversions:
                part = s[s["mechanism"] == m]
                ledgers = res.agents[(res.agents["mechanism"] == m) & (res.agents["kind"] == "keeper")]
                by_seed = ledgers.groupby("seed")["pnl_usd"].sum()
                values.append(np.array([row["keeper_profit_usd"] - by_seed.get(row["seed"], 0.0)
                                        for _, row in part.iterrows()], dtype=float))
            means = [float(v.mean()) if len(v) else 0.0 for v in values]
            ax.bar(offs, means, width, color=f"C{(i + 2) % 10}", label=m)
            if len(res.seeds) > 1:
                for xo, v in zip(offs, values):
                    ax.scatter(np.full(len(v), xo), v, s=8, color="black", zorder=3)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xticks(x, labels)
        ax.legend(fontsize=8, title="mechanism")
    ax.set_ylabel("P&L after gas (USD, mean over seeds)")
    _usd_axis(ax)
    n = len(res.seeds)
    ax.set_title(f"Liquidators' P&L by strategy ({_seeds_text(res)}{'; dots: seeds' if n > 1 else ''})", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


# file name -> how to draw it (seed: the run shown by the per-seed charts)
PLOTS: dict[str, Callable[[Results, Path, int | None], Path]] = {
    "outcomes.png": lambda res, path, seed: plot_outcomes(res, path),
    "losses_by_party.png": lambda res, path, seed: plot_losses_by_party(res, path),
    "price_path.png": lambda res, path, seed: plot_price_path(res, path, seed=seed),
    "health.png": lambda res, path, seed: plot_health(res, path, seed=seed),
    "keeper_pnl.png": lambda res, path, seed: plot_keeper_pnl(res, path),
}
PLOT_FILES = tuple(PLOTS)


# --------------------------------------------------------------------------- sweeps

SWEEP_PLOT_METRICS = ("lender_loss_usd", "borrower_loss_usd", "keeper_profit_usd", "recovery_efficiency")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _varying(res: Results) -> list[str]:
    """The swept parameters that take more than one value across the sets."""
    out = []
    for p in res.parameters:
        values = {json.dumps(s["params"].get(p), sort_keys=True) for s in res.sets}
        if len(values) > 1:
            out.append(p)
    return out


def _band(row, metric: str) -> tuple[float, float]:
    """The interval a mean stands for: its 95% interval from five seeds, else the seeds' range."""
    from sandbox.table import MIN_SEEDS_FOR_INTERVAL

    half = row[f"{metric}_ci95"]
    if row["seeds"] >= MIN_SEEDS_FOR_INTERVAL and isinstance(half, float) and math.isfinite(half):
        return row[metric] - half, row[metric] + half
    return row[f"{metric}_min"], row[f"{metric}_max"]


def _interval_text(res: Results) -> str:
    from sandbox.table import MIN_SEEDS_FOR_INTERVAL

    n = len(res.seeds)
    return (f"{n} seeds, shaded: 95% t-interval" if n >= MIN_SEEDS_FOR_INTERVAL
            else f"{n} seed{'s' * (n != 1)}, shaded: the seeds' range")


def plot_sweep_metric(res: Results, path: Path, metric: str) -> Path:
    """``metric`` across a sweep's parameter sets, per mechanism, with intervals (see the module
    docstring for the three layouts)."""
    from sandbox.table import metric_label, short_names

    agg = res.aggregate([metric])
    varying = _varying(res)
    names = short_names(res.parameters)
    label = metric_label(metric)
    scale = 100.0 if metric == "recovery_efficiency" else 1.0
    unit = "%" if metric == "recovery_efficiency" else ("USD" if metric.endswith("_usd") else "")
    mechanisms = res.mechanisms
    numeric = all(_is_number(s["params"].get(p)) for s in res.sets for p in varying)
    grid = None
    if len(varying) == 2 and numeric:
        xs = sorted({s["params"][varying[0]] for s in res.sets})
        ys = sorted({s["params"][varying[1]] for s in res.sets})
        if len(xs) * len(ys) == len(res.sets):
            grid = (xs, ys)
    if grid is not None:
        xs, ys = grid
        fig = Figure(figsize=(4.2 * len(mechanisms) + 1, 4.2), dpi=110)
        for i, m in enumerate(mechanisms):
            ax = fig.add_subplot(1, len(mechanisms), i + 1)
            z = np.full((len(ys), len(xs)), np.nan)
            part = agg[agg["mechanism"] == m]
            for _, row in part.iterrows():
                z[ys.index(row[varying[1]]), xs.index(row[varying[0]])] = row[metric] * scale
            image = ax.imshow(z, origin="lower", aspect="auto", cmap="viridis")
            for (yi, xi), v in np.ndenumerate(z):
                if np.isfinite(v):
                    ax.text(xi, yi, f"{v:,.0f}" if abs(v) >= 10 else f"{v:.2g}", ha="center", va="center",
                            fontsize=7, color="white")
            ax.set_xticks(range(len(xs)), [f"{x:g}" for x in xs], fontsize=8)
            ax.set_yticks(range(len(ys)), [f"{y:g}" for y in ys], fontsize=8)
            ax.set_xlabel(names[varying[0]])
            ax.set_ylabel(names[varying[1]])
            ax.set_title(m, fontsize=9, loc="left")
            fig.colorbar(image, ax=ax, shrink=0.85, label=unit)
        fig.suptitle(f"{metric}: {label}, mean over {len(res.seeds)} seed{'s' * (len(res.seeds) != 1)}, per "
                     "parameter set", fontsize=10)
        return _save(fig, path)
    fig = Figure(figsize=(8.5, 4.8), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    line = len(varying) == 1 and numeric
    if line:
        x_of = {s["set"]: s["params"][varying[0]] for s in res.sets}
        ax.set_xlabel(names[varying[0]])
    else:
        x_of = {s["set"]: i for i, s in enumerate(res.sets)}
        ax.set_xticks(range(len(res.sets)), [s["label"] or str(s["set"]) for s in res.sets], rotation=20,
                      ha="right", fontsize=7)
        ax.set_xlabel("parameter set")
    width = 0.6 / max(1, len(mechanisms))
    for i, m in enumerate(mechanisms):
        part = agg[agg["mechanism"] == m]
        part = part.assign(_x=part["set"].map(x_of)).sort_values("_x")
        x = part["_x"].to_numpy(dtype=float)
        y = part[metric].to_numpy(dtype=float) * scale
        bands = np.array([_band(row, metric) for _, row in part.iterrows()], dtype=float).reshape(-1, 2) * scale
        color = f"C{(i + 2) % 10}"
        if line:
            ax.plot(x, y, marker="o", color=color, label=m)
            ax.fill_between(x, bands[:, 0], bands[:, 1], color=color, alpha=0.2, lw=0)
        else:
            offs = x + (i - (len(mechanisms) - 1) / 2) * width
            ax.errorbar(offs, y, yerr=[np.maximum(0, y - bands[:, 0]), np.maximum(0, bands[:, 1] - y)], fmt="o",
                        color=color, capsize=3, label=m)
    ax.set_ylabel(f"{label} ({unit})" if unit else label)
    if unit == "USD":
        _usd_axis(ax)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title="mechanism")
    ax.set_title(f"{metric}: {label}, per parameter set ({_interval_text(res)})", fontsize=10)
    return _save(fig, path)


def _sweep_plot(metric: str) -> Callable[[Results, Path, int | None], Path]:
    """The chart of ``metric`` in the ``PLOTS`` calling convention (the seed is not used)."""
    def draw(res: Results, path: Path, seed: int | None) -> Path:
        return plot_sweep_metric(res, path, metric)
    return draw


SWEEP_PLOTS: dict[str, Callable[[Results, Path, int | None], Path]] = {
    f"sweep_{metric}.png": _sweep_plot(metric) for metric in SWEEP_PLOT_METRICS}


def write_plots(results: Results | str | os.PathLike, out_dir: str | os.PathLike | None = None,
                seed: int | None = None) -> list[Path]:
    """Write every chart of ``PLOTS`` (a sweep: ``SWEEP_PLOTS``) into ``out_dir`` (default:
    ``<results>/plots``); their paths."""
    from sandbox.results import Results, load

    res = results if isinstance(results, Results) else load(results)
    if out_dir is None and res.path is None:
        raise ValueError("results in memory have no folder: give out_dir")
    out = Path(out_dir) if out_dir is not None else Path(res.path or ".") / "plots"
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    charts = SWEEP_PLOTS if res.kind == "sweep" else PLOTS
    return [draw(res, out / name, seed) for name, draw in charts.items()]


__all__ = ["PLOTS", "PLOT_FILES", "SWEEP_PLOTS", "SWEEP_PLOT_METRICS", "plot_health", "plot_keeper_pnl",
           "plot_losses_by_party", "plot_outcomes", "plot_price_path", "plot_sweep_metric", "write_plots"]
