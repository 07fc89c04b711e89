"""A sweep file: a base scenario plus a ``[sweep]`` section, expanded into parameter sets and runs.

Layout (every ``[sweep]`` key optional except that something must vary or be run)::

    # the base scenario: any scenario keys, over the base named by sweep.scenario if given
    blocks = 60
    [borrowers]
    count = 5

    [sweep]
    scenario = "crash"                 # a built-in name or a .toml path (relative to this file)
    mechanisms = ["fixed-fee", "dutch-auction"]   # default: the default comparison
    seeds = 5                          # 0..4; or a list: [3, 7, 11]
    backend = "eth-tester"

    [sweep.grid]                       # every combination of these values ...
    "mechanisms.fixed-fee.bonus_bps" = [300, 500, 800]
    "amm.liquidity_weth" = [1000.0, 5000.0]

    [[sweep.sets]]                     # ... and/or an explicit list of parameter sets
    label = "tight"                    # optional name of the set
    "lending.max_ltv_bps" = 7000
    "lending.liquidation_threshold_bps" = 7500

A parameter is a dotted path into the scenario (``amm.liquidity_weth``, ``price.knots``,
``keepers[0].tip_gwei``) or into a mechanism's parameters (``mechanisms.<name>.<param>``); a
quoted key (``"a.b" = 1``) and a TOML dotted key (``a.b = 1``) mean the same. With both a grid
and sets, every set is combined with every grid point. Each set's scenario is the base TOML
data with the set's values written in, checked by the scenario loader itself, so every field
check and every limit applies, and every mechanism's own parameter check; a problem is one
``ScenarioError`` line naming the set and the dotted path.

Runs. The rows of a sweep are (set, mechanism, seed), in that order. Two rows whose mechanism
sees the same scenario (e.g. sets that differ only in another mechanism's parameters) are the
same simulation: it runs once (a distinct ``RunSpec``, numbered in row order) and both rows
read it. ``fingerprint`` names the whole expansion, so an interrupted sweep is resumed only by
the very same sweep.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import itertools
import json
import os
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

from sandbox.scenarios import RUN_LIMITS, Scenario, ScenarioError, builtin_scenarios, check_mechanisms_serve
from sandbox.scenarios.loader import BUILTIN_DIR, BUILTIN_PACKAGE, _check_keys, scenario_from_dict

SWEEP_KEYS = ("scenario", "mechanisms", "seeds", "backend", "grid", "sets")
SET_LABEL = "label"
# A sweep's size: parameter sets, and rows (sets x mechanisms x seeds). Runs stream to disk, so
# the bound is time and files (one Parquet part per table and run), not memory.
SWEEP_LIMITS = {"sets": 10_000, "rows": 1_000_000}
_INDEX = re.compile(r"^(?P<key>[A-Za-z_][\w-]*)\[(?P<index>\d+)\]$")


@dataclass(frozen=True)
class ParameterSet:
    """One combination of swept values: ``params`` maps dotted paths to values."""

    index: int
    label: str  # the name given in the file, then the grid's values; or every value
    params: dict
    name: str = ""  # the name given in the file ([[sweep.sets]] label), if any

    def as_dict(self) -> dict:
        return {"set": self.index, "label": self.label, "name": self.name, "params": self.params}


@dataclass(frozen=True)
class RunSpec:
    """One distinct simulation of a sweep: ``scenario`` (the set's), ``mechanism``, ``seed``."""

    run: int
    mechanism: str
    seed: int
    scenario: Scenario
    key: str  # fingerprint of what the mechanism sees, the seed and the backend


@dataclass(frozen=True)
class Row:
    """One row of the sweep's summary: a set, a mechanism, a seed, and the run that serves it."""

    set: int
    mechanism: str
    seed: int
    run: int


@dataclass(frozen=True)
class SweepSpec:
    name: str
    source: str
    base: Scenario
    parameters: tuple[str, ...]
    sets: tuple[ParameterSet, ...]
    scenarios: tuple[Scenario, ...]  # per set
    mechanisms: tuple[str, ...]
    seeds: tuple[int, ...]
    backend: str
    rows: tuple[Row, ...]
    runs: tuple[RunSpec, ...]
    fingerprint: str

    def describe(self) -> str:
        """"S sets x M mechanisms x N seeds = R rows, D distinct runs"."""
        n_sets, n_mech, n_seeds = len(self.sets), len(self.mechanisms), len(self.seeds)
        text = (f"{n_sets} parameter set{'s' * (n_sets != 1)} × {n_mech} mechanism{'s' * (n_mech != 1)} × "
                f"{n_seeds} seed{'s' * (n_seeds != 1)} = {len(self.rows):,} runs")
        if len(self.runs) != len(self.rows):
            text += (f", {len(self.runs):,} distinct (a set that changes only another mechanism's "
                     "parameters shares that mechanism's runs)")
        return text

    def manifest(self) -> dict:
        """The sweep's part of a manifest: where it came from, what varies, the sets."""
        return {"name": self.name, "source": self.source, "parameters": list(self.parameters),
                "sets": [s.as_dict() for s in self.sets], "fingerprint": self.fingerprint}


# --------------------------------------------------------------------------- reading


def load_sweep(path: str | os.PathLike, *, seeds: int | Sequence[int] | None = None,
               backend: str | None = None, mechanisms: Sequence[str] | None = None) -> SweepSpec:
    """A sweep file, expanded and checked; ``seeds``, ``backend`` and ``mechanisms`` override
    the file's (the command line's options)."""
    file = Path(path).expanduser()
    if file.is_dir():
        raise ScenarioError(f"{path}: a folder, not a sweep file")
    if not file.is_file():
        raise ScenarioError(f"{path}: no such sweep file")
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError(f"{path}: cannot read sweep file ({e})") from None
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{path}: malformed TOML: {e}") from None
    return parse_sweep(raw, source=str(file.resolve()), base_dir=file.resolve().parent, default_name=file.stem,
                       seeds=seeds, backend=backend, mechanisms=mechanisms)


def parse_sweep(raw: dict, *, source: str = "", base_dir: str | os.PathLike | None = None,
                default_name: str = "sweep", seeds: int | Sequence[int] | None = None,
                backend: str | None = None, mechanisms: Sequence[str] | None = None) -> SweepSpec:
    """A sweep from parsed TOML data (``load_sweep`` without the file)."""
    raw = copy.deepcopy(raw)
    base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
    sweep = raw.pop("sweep", None)
    if sweep is None:
        raise ScenarioError(f"{source or '<sweep>'}: no [sweep] section (a plain scenario runs with "
                            "`liqsandbox compare --scenario`)")
    if not isinstance(sweep, dict):
        raise ScenarioError("sweep: expected a table ([sweep])")
    _check_keys(sweep, SWEEP_KEYS, "sweep")
    given_name = raw.get("name")
    name: str = given_name if isinstance(given_name, str) and given_name else default_name
    base_raw = _base(sweep.get("scenario"), raw, base_dir)
    base = _scenario(base_raw, source, base_dir, name, where="the base scenario")
    mechs = _mechanisms(sweep.get("mechanisms") if mechanisms is None else list(mechanisms))
    seed_list = _seeds(sweep.get("seeds", 1) if seeds is None else seeds)
    backend = backend or _string(sweep.get("backend", "eth-tester"), "sweep.backend")
    grid = _grid(sweep.get("grid"))
    explicit = _sets(sweep.get("sets"))
    both = set(grid) & {p for s in explicit for p in s[1]}
    if both:
        raise ScenarioError(f"sweep: {sorted(both)[0]} is both in sweep.grid and in sweep.sets; give it in one")
    combos = _combine(explicit, grid)
    if len(combos) > SWEEP_LIMITS["sets"]:
        raise ScenarioError(f"sweep: {len(combos):,} parameter sets, above the {SWEEP_LIMITS['sets']:,} a sweep "
                            "can run; split it or use fewer values")
    rows_total = len(combos) * len(mechs) * len(seed_list)
    if rows_total > SWEEP_LIMITS["rows"]:
        raise ScenarioError(f"sweep: {rows_total:,} runs, above the {SWEEP_LIMITS['rows']:,} a sweep can run")
    parameters = tuple(dict.fromkeys(p for _, params in combos for p in params))
    for p in parameters:  # each value alone first, so that a bad one is named by its path
        _check_mechanism_path(p, mechs)
        values = {_show(params[p]): params[p] for _, params in combos if p in params}
        for shown, value in values.items():
            _scenario(_with(base_raw, {p: value}), source, base_dir, name, where=f"{p} = {shown}")
    sets, scenarios = [], []
    for i, (given, params) in enumerate(combos):
        keys = [p for p in params if p in grid] if given else list(params)
        label = ", ".join([given] * bool(given) + [f"{_short(p, parameters)}={_show(params[p])}" for p in keys])
        where = f"sweep set {i} ({label})" if params else f"sweep set {i}"
        scenario = _scenario(_with(base_raw, params), source, base_dir, name, where=where)
        try:
            check_mechanisms_serve(scenario, mechs)
        except ScenarioError as e:
            raise ScenarioError(f"{where}: {e}") from None
        sets.append(ParameterSet(index=i, label=label, params=params, name=given))
        scenarios.append(scenario)
    rows, runs = _expand(scenarios, mechs, seed_list, backend)
    fingerprint = hashlib.sha256(json.dumps(
        {"rows": [dataclasses.astuple(r) for r in rows], "runs": [r.key for r in runs]},
        sort_keys=True).encode()).hexdigest()
    return SweepSpec(name=name, source=source, base=base, parameters=parameters, sets=tuple(sets),
                     scenarios=tuple(scenarios), mechanisms=tuple(mechs), seeds=tuple(seed_list), backend=backend,
                     rows=tuple(rows), runs=tuple(runs), fingerprint=fingerprint)


def run_key(scenario: Scenario, mechanism: str, seed: int, backend: str) -> str:
    """What a run depends on, hashed: the scenario as ``mechanism`` sees it (its own overrides
    only), the mechanism, the seed, the backend."""
    data = scenario.as_dict()
    data["mechanisms"] = {mechanism: scenario.mechanism_overrides(mechanism)}
    text = json.dumps({"scenario": data, "mechanism": mechanism, "seed": int(seed), "backend": backend},
                      sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def _expand(scenarios: Sequence[Scenario], mechanisms: Sequence[str], seeds: Sequence[int],
            backend: str) -> tuple[list[Row], list[RunSpec]]:
    rows: list[Row] = []
    runs: list[RunSpec] = []
    by_key: dict = {}
    for i, scenario in enumerate(scenarios):
        for m in mechanisms:
            for s in seeds:
                key = run_key(scenario, m, s, backend)
                if key not in by_key:
                    by_key[key] = len(runs)
                    runs.append(RunSpec(run=len(runs), mechanism=m, seed=int(s), scenario=scenario, key=key))
                rows.append(Row(set=i, mechanism=m, seed=int(s), run=by_key[key]))
    return rows, runs


# --------------------------------------------------------------------------- the pieces


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise ScenarioError(f"{path}: expected a name, got {_show(value)}")
    return value


def _base(name: Any, raw: dict, base_dir: Path) -> dict:
    """The base scenario's TOML data: ``sweep.scenario``'s (if any) with the file's keys over it."""
    if name is None:
        if not raw:
            raise ScenarioError("sweep: no base scenario (set sweep.scenario = \"crash\", or scenario keys at the "
                                "top of the file)")
        return raw
    name = _string(name, "sweep.scenario")
    if name.endswith(".toml") or "/" in name:
        path = (base_dir / name).resolve()
        if not path.is_file():
            raise ScenarioError(f"sweep.scenario: no such scenario file {path}")
        text = path.read_text(encoding="utf-8")
        folder = path.parent
    else:
        if name not in builtin_scenarios():
            raise ScenarioError(f"sweep.scenario: unknown built-in scenario {name!r} "
                                f"(built-in: {', '.join(builtin_scenarios())})")
        res = resources.files(BUILTIN_PACKAGE).joinpath(BUILTIN_DIR, f"{name}.toml")
        text = res.read_text(encoding="utf-8")
        folder = None
    try:
        below = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"sweep.scenario {name}: malformed TOML: {e}") from None
    price = below.get("price")
    if isinstance(price, dict) and isinstance(price.get("csv_file"), str) and folder is not None:
        price["csv_file"] = str((folder / price["csv_file"]).resolve())  # relative to its own file
    return _merge(below, raw)


def _merge(below: dict, above: dict) -> dict:
    """``above`` over ``below``: tables merged key by key, anything else replaced."""
    out = copy.deepcopy(below)
    for key, value in above.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _scenario(raw: dict, source: str, base_dir: Path, name: str, where: str) -> Scenario:
    try:
        return scenario_from_dict(raw, source=source, base_dir=base_dir, default_name=name)
    except ScenarioError as e:
        raise ScenarioError(f"{where}: {e}") from None


def _mechanisms(value: Any) -> list[str]:
    from sandbox.compare import check_mechanism_list
    from sandbox.mechanisms import MECHANISMS, default_mechanisms

    if value is None:
        return default_mechanisms()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ScenarioError(f"sweep.mechanisms: expected a list of mechanism names, got {_show(value)}")
    try:
        mechanisms = check_mechanism_list(value)
    except ValueError as e:
        raise ScenarioError(f"sweep.mechanisms: {e}") from None
    for name in mechanisms:
        try:
            MECHANISMS.load(name)
        except LookupError as e:
            raise ScenarioError(f"sweep.mechanisms: {e}") from None
    return mechanisms


def _seeds(value: Any) -> list[int]:
    lo, hi = RUN_LIMITS["seeds"]
    if isinstance(value, int) and not isinstance(value, bool):
        if not lo <= value <= hi:
            raise ScenarioError(f"sweep.seeds: {value:,} seeds is outside {lo} … {hi:,}")
        return list(range(value))
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, int) and not isinstance(v, bool)
                                                          for v in value):
        if len(set(value)) != len(value):
            raise ScenarioError("sweep.seeds: a seed is listed twice")
        if len(value) > hi or not all(0 <= v <= 2**32 - 1 for v in value):
            raise ScenarioError(f"sweep.seeds: at most {hi:,} seeds, each within 0 … {2**32 - 1}")
        return [int(v) for v in value]
    raise ScenarioError(f"sweep.seeds: expected a number of seeds or a list of seeds, got {_show(value)}")


def _flatten(table: dict, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}, "c.d": 2}`` -> ``{"a.b": 1, "c.d": 2}`` (TOML dotted keys and quoted ones)."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(_flatten(value, path))
        else:
            out[path] = value
    return out


def _plain(value: Any) -> Any:
    """A TOML value as plain JSON-able data (datetimes refused)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)):
        return value
    raise ScenarioError(f"sweep: unsupported value {value!r} (numbers, strings, booleans and arrays only)")


def _grid(value: Any) -> dict[str, list]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ScenarioError("sweep.grid: expected a table of parameter = [values]")
    out = {}
    for path, values in _flatten(value).items():
        if not isinstance(values, list) or not values:
            raise ScenarioError(f"sweep.grid.{path}: expected a non-empty list of values, got {_show(values)}")
        out[path] = [_plain(v) for v in values]
    return out


def _sets(value: Any) -> list[tuple[str, dict]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ScenarioError("sweep.sets: expected an array of tables ([[sweep.sets]])")
    out = []
    for i, table in enumerate(value):
        table = dict(table)
        label = table.pop(SET_LABEL, "")
        if not isinstance(label, str):
            raise ScenarioError(f"sweep.sets[{i}].label: expected a string, got {_show(label)}")
        out.append((label, {p: _plain(v) for p, v in _flatten(table).items()}))
    return out


def _combine(explicit: list[tuple[str, dict]], grid: dict[str, list]) -> list[tuple[str, dict]]:
    """Every explicit set with every grid point (one empty set when there are none)."""
    points = [dict(zip(grid, values)) for values in itertools.product(*grid.values())] if grid else [{}]
    sets = explicit or [("", {})]
    return [(label, {**params, **point}) for label, params in sets for point in points]


def _check_mechanism_path(path: str, mechanisms: Sequence[str]) -> None:
    parts = path.split(".")
    if parts[0] == "mechanisms":
        if len(parts) != 3:
            raise ScenarioError(f"{path}: a mechanism parameter is mechanisms.<mechanism>.<parameter>")
        if parts[1] not in mechanisms:
            from sandbox.mechanisms import MECHANISMS

            if parts[1] in MECHANISMS.names():
                raise ScenarioError(f"{path}: {parts[1]} is not among this sweep's mechanisms "
                                    f"({', '.join(mechanisms)})")


def _with(raw: dict, params: dict) -> dict:
    """A copy of the TOML data ``raw`` with each dotted path set to its value."""
    out = copy.deepcopy(raw)
    for path, value in params.items():
        _assign(out, path, copy.deepcopy(value))
    return out


def _assign(raw: dict, path: str, value: Any) -> None:
    parts = path.split(".")
    if any(not p for p in parts):
        raise ScenarioError(f"{path}: not a dotted path (a.b.c)")
    node: Any = raw
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[:depth + 1])
        m = _INDEX.match(part)
        if m:
            key, index = m["key"], int(m["index"])
            items = node.get(key)
            if not isinstance(items, list) or index >= len(items):
                n = len(items) if isinstance(items, list) else 0
                raise ScenarioError(f"{path}: {where} does not exist ({key} has {n} entr{'y' if n == 1 else 'ies'})")
            if last:
                items[index] = value
                return
            if not isinstance(items[index], dict):
                raise ScenarioError(f"{path}: {where} is not a table")
            node = items[index]
            continue
        if last:
            node[part] = value
            return
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ScenarioError(f"{path}: {where} is not a table")
        node = child


def _show(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else repr(value)


def _short(path: str, paths: Sequence[str]) -> str:
    from sandbox.table import short_names

    return short_names(list(paths))[path]


__all__ = ["ParameterSet", "Row", "RunSpec", "SWEEP_LIMITS", "SweepSpec", "load_sweep", "parse_sweep", "run_key"]
