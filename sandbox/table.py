"""The comparison table: per-mechanism statistics over seeds (mean, 95% t-interval, the seeds'
range), the clearly best mechanism per metric, and the table as text.

Used by comparisons and sweeps alike (``sandbox.results.Results.table`` and ``aggregate``); it
reads summary frames only (one row per run: mechanism, seed, the metric columns) and runs nothing.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import pandas as pd

if TYPE_CHECKING:
    from sandbox.runs import RunFailure

# two-sided 95%: t(0.975, df) for df = 1..30
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
         2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
         2.052, 2.048, 2.045, 2.042)
# Fewer seeds than this: no t-interval (it would be meaningless); the seeds' range instead.
MIN_SEEDS_FOR_INTERVAL = 5


def t975(df: int) -> float:
    """Student's t quantile t(0.975, df): table up to 30, Cornish-Fisher expansion beyond."""
    if df < 1:
        raise ValueError("t quantile needs df >= 1")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def _values(values) -> list[float]:
    """The defined values: NaN and None dropped, infinities kept (e.g. "never covered")."""
    xs = [float(v) for v in values if v is not None]
    return [x for x in xs if not math.isnan(x)]


def mean_interval(values) -> tuple[float, float, int]:
    """(mean, half-width of the 95% t-interval, n) over the defined values; half-width is NaN
    with fewer than two values or any infinite one, mean is NaN with none."""
    xs = _values(values)
    n = len(xs)
    if n == 0:
        return math.nan, math.nan, 0
    if any(math.isinf(x) for x in xs):
        return sum(xs) / n, math.nan, n  # inf (or NaN when both signs): no interval
    mean = sum(xs) / n
    if n == 1:
        return mean, math.nan, 1
    var = sum((x - mean) ** 2 for x in xs) / (n - 1)
    return mean, t975(n - 1) * math.sqrt(var) / math.sqrt(n), n


def aggregate(summary: pd.DataFrame, mechanisms: Sequence[str] | None = None,
              columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Per mechanism (rows, in ``mechanisms`` order) and metric: ``<metric>`` (mean over seeds),
    ``<metric>_ci95`` (half-width of the 95% t-interval, only with ``MIN_SEEDS_FOR_INTERVAL``
    seeds or more, else NaN), ``<metric>_min`` and ``<metric>_max`` (the seeds' range), plus
    ``seeds`` (how many)."""
    from sandbox.metrics import HEADLINE_METRICS

    columns = list(columns or HEADLINE_METRICS)
    if mechanisms is None:
        mechanisms = list(dict.fromkeys(summary["mechanism"]))
    rows = []
    for m in mechanisms:
        part = summary[summary["mechanism"] == m]
        row: dict = {"mechanism": m, "seeds": int(len(part))}
        for c in columns:
            xs = _values(part[c].tolist() if c in part else [])
            mean, half, n = mean_interval(xs)
            row[c] = mean
            row[f"{c}_ci95"] = half if n >= MIN_SEEDS_FOR_INTERVAL else math.nan
            row[f"{c}_min"] = min(xs) if xs else math.nan
            row[f"{c}_max"] = max(xs) if xs else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _interval(row, column: str) -> tuple[float, float]:
    """The uncertainty a cell stands for: the t-interval when there is one, else the seeds' range
    (a point with one seed)."""
    half = row[f"{column}_ci95"]
    if isinstance(half, (int, float)) and math.isfinite(half):
        return row[column] - half, row[column] + half
    return row[f"{column}_min"], row[f"{column}_max"]


def best_mechanisms(agg: pd.DataFrame, column: str) -> set[str]:
    """Mechanisms clearly best in ``column``: those tied at the best mean, marked only when each
    one's interval (or range, below ``MIN_SEEDS_FOR_INTERVAL`` seeds) lies strictly on the better
    side of every other mechanism's. Empty when the column has no direction, when all tie, or
    when the best overlaps the next one."""
    from sandbox.metrics import HIGHER_IS_BETTER, LOWER_IS_BETTER

    if column not in HIGHER_IS_BETTER and column not in LOWER_IS_BETTER:
        return set()
    higher = column in HIGHER_IS_BETTER
    rows = {r["mechanism"]: r for _, r in agg.iterrows()
            if isinstance(r[column], (int, float)) and not math.isnan(r[column])}
    if len(rows) < 2:
        return set()
    target = max(r[column] for r in rows.values()) if higher else min(r[column] for r in rows.values())
    tol = 1e-9 * max(1.0, abs(target)) if math.isfinite(target) else 0.0
    best = {m for m, r in rows.items() if r[column] == target or abs(r[column] - target) <= tol}
    if len(best) == len(rows):
        return set()  # all tied: nothing to mark
    for b in best:
        lo_b, hi_b = _interval(rows[b], column)
        for m, r in rows.items():
            if m in best:
                continue
            lo, hi = _interval(r, column)
            if (higher and not lo_b > hi) or (not higher and not hi_b < lo):
                return set()  # overlaps: not clearly better
    return best


_LABELS = {
    "debt_at_risk_usd": "debt at risk",
    "debt_recovered_usd": "recovered",
    "debt_open_covered_usd": "open, covered by collateral",
    "shortfall_usd": "open, shortfall (uncovered)",
    "bad_debt_usd": "bad debt (written off)",
    "lender_loss_usd": "lender loss = shortfall + bad",
    "unliquidatable_positions": "unliquidatable at the end (number)",
    "unliquidatable_debt_usd": "unliquidatable debt",
    "recovery_efficiency": "recovery efficiency",
    "borrower_loss_usd": "loss at the market price",
    "borrower_loss_vs_hold_usd": "loss vs holding",
    "borrower_penalty_oracle_usd": "penalty at the oracle price",
    "wrongful_liquidations": "wrongful liquidations (number)",
    "wrongful_liquidation_value_usd": "value taken wrongfully",
    "keeper_profit_usd": "liquidators' profit",
    "mev_leaked_usd": "MEV leaked to builders",
    "gas_spent_usd": "gas spent",
    "protocol_revenue_usd": "revenue",
    "liquidations": "liquidations (incl. band conversions)",
    "soft_conversions": "soft band conversions",
    "failed_liquidation_txs": "failed liquidation txs",
    "median_time_to_liquidate_s": "median time to liquidate",
    "median_time_to_safety_s": "median time to safety",
    "max_price_impact_bps": "max price impact (bps)",
    "over_liquidation_usd": "over-liquidation",
    "debt_at_risk_at_path_end_usd": "debt at risk by then",
    "debt_recovered_at_path_end_usd": "recovered",
    "debt_open_covered_at_path_end_usd": "open, covered",
    "shortfall_at_path_end_usd": "open, shortfall",
    "bad_debt_at_path_end_usd": "bad debt",
    # the perpetual market's own rows
    "insurance_fund_drawdown_usd": "insurance fund drawn",
    "adl_covered_usd": "deficits covered by ADL",
    "adl_volume_usd": "ADL volume (notional)",
    "funding_paid_usd": "funding paid",
    "liquidation_slippage_usd": "liquidation-price slippage",
    "liquidation_slippage_bps": "slippage vs market (bps)",
}


def metric_label(column: str) -> str:
    return _LABELS.get(column, column.replace("_", " "))


def _number(column: str, value: float) -> str:
    if math.isinf(value):
        return "never" if value > 0 and column.endswith("_s") else ("∞" if value > 0 else "-∞")
    if column == "recovery_efficiency":
        return f"{value * 100:.1f}%"
    if column.endswith("_s"):
        return f"{value:,.0f} s"
    if column.endswith("_bps"):
        return f"{value:,.1f}"
    if column.endswith("_usd"):
        return f"{value:,.0f}"
    return f"{value:,.1f}" if value != int(value) else f"{int(value):,}"


def format_value(column: str, value: float, half: float = math.nan,
                 low: float = math.nan, high: float = math.nan) -> str:
    """A mean in human units (USD with thousands separators, efficiency as %, times in seconds,
    "never" for a time that never came), then ± the 95% half-width when given, else the seeds'
    range [low–high] when given and not a single point."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    text = _number(column, value)
    if isinstance(half, (int, float)) and math.isfinite(half):
        unit = " s" if column.endswith("_s") else ""
        scaled = half * 100 if column == "recovery_efficiency" else half
        body = text[:-2] if unit and text.endswith(" s") else text
        digits = ".1f" if column == "recovery_efficiency" or column.endswith("_bps") else ",.0f" \
            if column.endswith(("_usd", "_s")) else ",.1f"
        return f"{body} ± {scaled:{digits}}{unit}"
    if all(isinstance(x, (int, float)) and not math.isnan(x) for x in (low, high)) and low != high:
        return f"{text} [{_number(column, low).removesuffix(' s')}–{_number(column, high)}]"
    return text


def table_legend(n_seeds: Sequence[int]) -> str:
    """The one-line legend under the table: what the cells and the marker mean for these seeds."""
    most = max(n_seeds) if n_seeds else 0
    seeds = "/".join(str(n) for n in n_seeds)
    if most >= MIN_SEEDS_FOR_INTERVAL:
        cells = f"mean over {seeds} seeds ± 95% t-interval half-width"
        marker = "* best, its interval clear of every other's"
    elif most >= 2:
        cells = (f"mean over {seeds} seeds [range of the seeds]; no intervals below "
                 f"{MIN_SEEDS_FOR_INTERVAL} seeds")
        marker = "* best, its range clear of every other's"
    else:
        cells = f"{seeds} seed, no uncertainty shown (--seeds {MIN_SEEDS_FOR_INTERVAL}+ for 95% intervals)"
        marker = "* best"
    return f"{cells}; {marker}; values at the market price unless marked oracle"


def format_table(summary: pd.DataFrame, mechanisms: Sequence[str] | None = None,
                 groups: Sequence[tuple[str, Sequence[str]]] | None = None,
                 failures: Sequence["RunFailure"] = ()) -> str:
    """The comparison as text: rows grouped by who is affected (``HEADLINE_GROUPS``: lenders,
    borrowers, keepers and builders, protocol, timing, and the outcomes at the end of the price
    path), one column per mechanism; cells as ``format_value`` (intervals only from
    ``MIN_SEEDS_FOR_INTERVAL`` seeds, ranges below); the best mechanism for a metric with a
    direction marked '*' only where it is clear of the others (``best_mechanisms``); a one-line
    legend. A mechanism whose every run failed shows "failed" in its column; every failure gets a
    line under the table."""
    from sandbox.metrics import headline_groups

    groups = [(g, list(cols)) for g, cols in (groups or headline_groups(summary.columns))]
    columns = [c for _, cols in groups for c in cols]
    if mechanisms is None:
        mechanisms = list(dict.fromkeys([*summary["mechanism"], *(f.mechanism for f in failures)]))
    mechanisms = list(mechanisms)
    agg = aggregate(summary, mechanisms, columns)
    failed = {f.mechanism for f in failures}
    all_failed = {m for m, n in zip(mechanisms, agg["seeds"]) if n == 0 and m in failed}
    n_seeds = sorted(set(int(n) for n in agg["seeds"] if n)) or [0]
    body: list[list[str] | str] = []
    for group, cols in groups:
        body.append(group)
        for c in cols:
            best = best_mechanisms(agg, c)
            cells = ["  " + metric_label(c)]
            for m, (_, row) in zip(mechanisms, agg.iterrows()):
                cell = ("failed" if m in all_failed
                        else format_value(c, row[c], row[f"{c}_ci95"], row[f"{c}_min"], row[f"{c}_max"]))
                cells.append(cell + (" *" if m in best else "  "))
            body.append(cells)
    header = ["metric", *mechanisms]
    rows = [r for r in body if isinstance(r, list)]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    # cells end in " *" or two spaces: right-align the names with the numbers
    lines = ["  ".join([header[0].ljust(widths[0])] + [(h.rjust(w - 2) + "  ") for h, w in zip(header[1:], widths[1:])]).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for r in body:
        if isinstance(r, str):
            lines.append(r)
        else:
            lines.append("  ".join([r[0].ljust(widths[0])] + [v.rjust(w) for v, w in zip(r[1:], widths[1:])]).rstrip())
    lines.append("")
    lines.append(table_legend(n_seeds))
    lines += failure_lines(failures, mechanisms)
    return "\n".join(lines)


def failure_lines(failures: Sequence["RunFailure"], mechanisms: Sequence[str]) -> list[str]:
    """One line per mechanism and error: which seeds failed and why (same order whatever the jobs)."""
    rank = {m: i for i, m in enumerate(mechanisms)}
    grouped: dict[tuple[str, str], list[int]] = {}
    for f in sorted(failures, key=lambda f: (rank.get(f.mechanism, len(rank)), f.mechanism, f.seed)):
        grouped.setdefault((f.mechanism, f.error), []).append(f.seed)
    return [f"FAILED {m} (seed{'s' * (len(seeds) > 1)} {', '.join(map(str, seeds))}): {error}"
            for (m, error), seeds in grouped.items()]


# --------------------------------------------------------------------------- sweeps

# The metrics a sweep's text table shows by default (one row per set and mechanism).
SWEEP_COLUMNS = ("lender_loss_usd", "bad_debt_usd", "borrower_loss_usd", "keeper_profit_usd", "recovery_efficiency")


def short_names(paths: Sequence[str]) -> dict[str, str]:
    """Each dotted path by its shortest trailing part that no other path shares
    (``mechanisms.fixed-fee.bonus_bps`` -> ``bonus_bps``)."""
    out = {}
    for path in paths:
        parts = path.split(".")
        for k in range(1, len(parts) + 1):
            name = ".".join(parts[-k:])
            if not any(other != path and (other == name or other.endswith("." + name)) for other in paths):
                break
        out[path] = name
    return out


def format_sweep_table(agg: pd.DataFrame, parameters: Sequence[str], columns: Sequence[str] | None = None,
                       failures: Sequence["RunFailure"] = (), mechanisms: Sequence[str] = (),
                       names: dict[int, str] | None = None) -> str:
    """A sweep as text: one row per parameter set and mechanism (``Results.aggregate``), the
    set's name (when ``names`` are given) and parameter values, then ``columns`` (default
    ``SWEEP_COLUMNS``) as ``format_value`` cells (95% intervals from five seeds, the seeds' range
    below); a legend; failure lines."""
    columns = list(columns or SWEEP_COLUMNS)
    short = short_names(parameters)
    named = ["name"] if names else []
    header = ["set", *named, *(short[p] for p in parameters), "mechanism", "seeds", *(metric_label(c) for c in columns)]
    rows = []
    for _, row in agg.iterrows():
        cells = [str(row["set"]), *([names.get(int(row["set"]), "")] if names else []),
                 *(_parameter_text(row[p]) for p in parameters), str(row["mechanism"]), str(int(row["seeds"]))]
        cells += [format_value(c, row[c], row[f"{c}_ci95"], row[f"{c}_min"], row[f"{c}_max"]) for c in columns]
        rows.append(cells)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    left = 2 + len(named) + len(parameters)  # set, name, parameters, mechanism: left-aligned; numbers right

    def line(cells):
        return "  ".join(c.ljust(w) if i <= left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    lines = [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows), ""]
    n_seeds = (sorted(set(int(n) for n in agg["seeds"] if n)) if len(agg) else []) or [0]
    legend = table_legend(n_seeds)
    lines.append(legend.split("; *")[0] + "; values at the market price unless marked oracle")
    lines += failure_lines(failures, list(mechanisms) or list(dict.fromkeys(agg.get("mechanism", []))))
    return "\n".join(lines)


def _parameter_text(value) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return f"{int(value)}"
    return f"{value:g}" if isinstance(value, float) else str(value)


__all__ = ["MIN_SEEDS_FOR_INTERVAL", "aggregate", "best_mechanisms", "failure_lines", "format_table",
           "format_sweep_table", "format_value", "mean_interval", "metric_label", "short_names", "t975",
           "table_legend", "SWEEP_COLUMNS"]
