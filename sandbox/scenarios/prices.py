"""Reference (off-chain) price paths of WETH in USD, one value per block.

``reference_prices(spec, blocks, block_time_seconds, rng)`` returns ``blocks + 1`` floats:
index 0 is the start, index k the price ``k × block_time_seconds`` seconds later. Every model
is deterministic given the generator and clipped to [``spec.floor_price_usd``, ``MAX_PRICE_USD``]
(prices stay > 0 and within what the chain can hold).

Models (time in years is ``seconds / 31_536_000``):

- ``gbm``: geometric Brownian motion with ``drift_per_year`` and ``volatility_per_year``,
  sampled exactly (log-normal steps).
- ``jump``: gbm plus compound-Poisson jumps: ``jump_intensity_per_day`` expected jumps a day,
  each a normal log-size (``jump_mean``, ``jump_stdev``). The drift is not compensated: with a
  negative ``jump_mean`` the jumps pull the path down on top of the diffusion.
- ``path``: piecewise-linear interpolation of ``knots`` ([seconds, price]); flat before the
  first knot and after the last. ``noise_volatility_per_year`` > 0 multiplies the path by
  ``exp(σ·B_t)`` where B is a Brownian motion *pinned to 0 at every knot* (a Brownian bridge
  between consecutive knots, free after the last knot), so the noisy path still passes through
  every knot exactly — a scenario that says "−40 % at 7200 s" gets exactly that.
- ``bridge``: a Brownian bridge in log space from ``start_price_usd`` (t = 0) to
  ``target_price_usd`` at ``target_time_seconds`` with ``volatility_per_year``; flat at the
  target afterwards (the scenario says where the price goes; nothing random happens later).
- ``csv``: replay of a ``timestamp,price`` file (seconds from the start), linearly
  interpolated, flat outside its range. The file is read and validated once per process
  (``read_price_csv``, cached by path, size and modification time).

``to_wad_prices`` turns such floats into WAD integers the same way every time: each float is
rounded to 1e-8 USD as a decimal string, then converted exactly with ``sandbox.units.to_wad``.
"""

from __future__ import annotations

import csv
import math
import os
from functools import lru_cache

import numpy as np

from sandbox.units import to_wad

from .schema import MAX_PRICE_USD, PriceSpec, ScenarioError

SECONDS_PER_YEAR = 31_536_000
SECONDS_PER_DAY = 86_400
USD_DECIMALS = 8  # to_wad_prices rounds to 1e-8 USD first


# --------------------------------------------------------------------------- csv replay


@lru_cache(maxsize=32)
def _read_csv_cached(path: str, size: int, mtime_ns: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    field = "price.csv_file"
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise ScenarioError(f"{field}: {path} is empty (expected a header 'timestamp,price')")
            cols = [h.strip().lower() for h in header]
            if "timestamp" not in cols or "price" not in cols:
                raise ScenarioError(f"{field}: {path} needs the columns timestamp,price "
                                    f"(header is {','.join(header)!r})")
            ti, pi = cols.index("timestamp"), cols.index("price")
            times: list[float] = []
            prices: list[float] = []
            for row in reader:
                line = reader.line_num
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) <= max(ti, pi):
                    raise ScenarioError(f"{field}: {path} line {line}: expected timestamp,price, got {','.join(row)!r}")
                t = _csv_number(row[ti], path, line, "timestamp")
                p = _csv_number(row[pi], path, line, "price")
                if p <= 0:
                    raise ScenarioError(f"{field}: {path} line {line}: price must be > 0, got {row[pi].strip()}")
                if times and t <= times[-1]:
                    raise ScenarioError(f"{field}: {path} line {line}: timestamps must increase "
                                        f"({row[ti].strip()} after {times[-1]:g})")
                times.append(t)
                prices.append(p)
    except OSError as e:
        raise ScenarioError(f"{field}: cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{field}: {path} is not a UTF-8 text file") from None
    if not times:
        raise ScenarioError(f"{field}: {path} has no price rows")
    return tuple(times), tuple(prices)


def _csv_number(text: str, path: str, line: int, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ScenarioError(f"price.csv_file: {path} line {line}: {column} {text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise ScenarioError(f"price.csv_file: {path} line {line}: {column} {text.strip()!r} is not finite")
    return value


def read_price_csv(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(seconds, prices) of a ``timestamp,price`` file, validated; read once per (path, size, mtime).

    Raises ScenarioError naming ``price.csv_file`` for a missing file, a missing column, a
    non-numeric value, a non-positive price or timestamps that do not increase.
    """
    p = os.path.abspath(os.fspath(path))
    try:
        st = os.stat(p)
    except OSError:
        raise ScenarioError(f"price.csv_file: no such file {p}") from None
    times, prices = _read_csv_cached(p, st.st_size, st.st_mtime_ns)
    return np.array(times, dtype=float), np.array(prices, dtype=float)


# --------------------------------------------------------------------------- helpers


def _pinned_brownian(times: np.ndarray, pins: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A standard Brownian motion (σ = 1 per √year) at ``times``, pinned to 0 at every pin.

    Samples W exactly on the union of ``times`` and ``pins`` and subtracts the piecewise-linear
    interpolation of W through the pins: between two pins that is a Brownian bridge, after
    the last pin a free Brownian motion started at 0. ``times`` and ``pins`` must be >= 0.
    """
    grid = np.union1d(np.union1d(times, pins), [0.0])
    dt_years = np.diff(grid) / SECONDS_PER_YEAR
    w = np.concatenate([[0.0], np.cumsum(rng.standard_normal(dt_years.size) * np.sqrt(dt_years))])
    pin_w = np.interp(pins, grid, w)
    b = w - np.interp(grid, pins, pin_w)
    return np.interp(times, grid, b)  # times are grid points: exact look-up


def _gbm_log_increments(spec: PriceSpec, steps: int, dt_years: float, rng: np.random.Generator) -> np.ndarray:
    sigma = spec.volatility_per_year
    mu = (spec.drift_per_year - 0.5 * sigma * sigma) * dt_years
    return mu + sigma * math.sqrt(dt_years) * rng.standard_normal(steps)


# --------------------------------------------------------------------------- models


def reference_prices(spec: PriceSpec, blocks: int, block_time_seconds: int,
                     rng: np.random.Generator) -> np.ndarray:
    """``blocks + 1`` reference prices (USD per WETH): index k is the price at k × block time."""
    if blocks < 0:
        raise ValueError(f"blocks must be >= 0, got {blocks}")
    if block_time_seconds <= 0:
        raise ValueError(f"block_time_seconds must be > 0, got {block_time_seconds}")
    times = np.arange(blocks + 1, dtype=float) * block_time_seconds
    dt_years = block_time_seconds / SECONDS_PER_YEAR

    if spec.model in ("gbm", "jump"):
        log_steps = _gbm_log_increments(spec, blocks, dt_years, rng)
        if spec.model == "jump" and spec.jump_intensity_per_day > 0:
            lam = spec.jump_intensity_per_day * block_time_seconds / SECONDS_PER_DAY
            counts = rng.poisson(lam, blocks)
            # the sum of n normal log-sizes is normal(n·mean, √n·stdev)
            log_steps = (log_steps + counts * spec.jump_mean
                         + np.sqrt(counts) * spec.jump_stdev * rng.standard_normal(blocks))
        log_path = math.log(spec.start_price_usd) + np.concatenate([[0.0], np.cumsum(log_steps)])
        prices = np.exp(log_path)
        prices[0] = spec.start_price_usd
    elif spec.model == "path":
        knot_t = np.array([t for t, _ in spec.knots], dtype=float)
        knot_p = np.array([p for _, p in spec.knots], dtype=float)
        prices = np.interp(times, knot_t, knot_p)
        if spec.noise_volatility_per_year > 0:
            pins = np.union1d([0.0], knot_t)
            noise = _pinned_brownian(times, pins, rng)
            prices = prices * np.exp(spec.noise_volatility_per_year * noise)
            # exactly the knot prices where a block lands on a knot
            on_knot = np.isin(times, knot_t)
            prices[on_knot] = np.interp(times[on_knot], knot_t, knot_p)
    elif spec.model == "bridge":
        T = float(spec.target_time_seconds)
        a, b = math.log(spec.start_price_usd), math.log(spec.target_price_usd)
        before = times <= T
        frac = np.minimum(times / T, 1.0)
        log_path = a + frac * (b - a)
        if spec.volatility_per_year > 0:
            pins = np.array([0.0, T])
            bridge = _pinned_brownian(times[before], pins, rng)
            log_path[before] += spec.volatility_per_year * bridge
        prices = np.exp(log_path)
        prices[0] = spec.start_price_usd
        prices[~before] = spec.target_price_usd
        prices[times == T] = spec.target_price_usd
    elif spec.model == "csv":
        csv_t, csv_p = read_price_csv(spec.csv_file)
        prices = np.interp(times, csv_t, csv_p)
    else:  # pragma: no cover - PriceSpec validates the model
        raise ScenarioError(f"price.model: unknown model {spec.model!r}")

    # every model stays within the prices the chain can hold (a long gbm can run away)
    return np.clip(prices.astype(float), spec.floor_price_usd, MAX_PRICE_USD)


def to_wad_prices(prices) -> list[int]:
    """WAD integers of ``prices``: rounded to 1e-8 USD as decimals, then converted exactly (>= 1)."""
    out = []
    for p in np.asarray(prices, dtype=float).ravel():
        if not math.isfinite(p) or p <= 0:
            raise ValueError(f"prices must be finite and > 0, got {p!r}")
        out.append(max(to_wad(format(float(p), f".{USD_DECIMALS}f")), 1))
    return out
