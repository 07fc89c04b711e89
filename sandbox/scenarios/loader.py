"""Scenario files: TOML that maps 1:1 onto ``sandbox.scenarios.schema.Scenario``.

Every problem is a ``ScenarioError`` with one line that starts with the field path
(``borrowers.colateral_weth_median: unknown field (did you mean collateral_weth_median?)``).

Layout of a file (every key optional except where the model needs it)::

    name = "my-crash"                # defaults to the file's stem
    description = "..."
    blocks = 240
    block_time_seconds = 36
    builder_policy = "priority-fee"  # or "fifo"
    [price]        model, start_price_usd, knots = [[seconds, usd], ...], csv_file, ...
    [gas]          base_fee_gwei, background_gas_per_block, spikes = [[start_s, end_s, mult], ...]
    [oracle] [arbitrageur]
    [amm] [lending] [borrowers]      # the lending market (market = "lending", the default)
    [perp] [traders]                 # the perpetual market (market = "perp")
    [[keepers]]    strategy, count, capital_usd, tip_gwei, max_fee_cap_gwei
    [keepers.params]                 # strategy-specific values for the keeper group above
    [mechanisms.dutch-auction]       # parameter overrides, checked against the mechanism's Params
    step_seconds = 60

For the ``path`` and ``csv`` models ``start_price_usd`` defaults to the path's price at 0 s
(and must equal it when given), so the market starts where the reference path starts. A
``csv_file`` is relative to the scenario file's folder; it is resolved, checked and stored as
an absolute path.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import tomllib
import typing
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from sandbox.units import WAD, to_wad

from .population import draw_population
from .prices import read_price_csv, to_wad_prices
from .schema import (
    AmmSpec,
    ArbitrageurSpec,
    BorrowerSpec,
    GasSpec,
    KeeperSpec,
    LendingSpec,
    OracleSpec,
    PerpSpec,
    PriceSpec,
    Scenario,
    ScenarioError,
    TraderSpec,
)

BUILTIN_PACKAGE = "sandbox.scenarios"
BUILTIN_DIR = "builtin"

_SECTIONS: dict[str, type] = {
    "price": PriceSpec,
    "gas": GasSpec,
    "oracle": OracleSpec,
    "amm": AmmSpec,
    "lending": LendingSpec,
    "borrowers": BorrowerSpec,
    "arbitrageur": ArbitrageurSpec,
    "perp": PerpSpec,
    "traders": TraderSpec,
}
_TOP_SCALARS = ("name", "description", "market", "blocks", "block_time_seconds", "builder_policy",
                "settle_max_seconds", "settle_idle_seconds")
_TOP_KEYS = (*_TOP_SCALARS, *_SECTIONS, "keepers", "mechanisms")
_SPECIAL = {"source"}  # Scenario fields a file cannot set


# --------------------------------------------------------------------------- public API


def builtin_scenarios() -> list[str]:
    """Names of the scenarios shipped in ``sandbox/scenarios/builtin/``."""
    folder = resources.files(BUILTIN_PACKAGE).joinpath(BUILTIN_DIR)
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_scenario(name_or_path: str | os.PathLike) -> Scenario:
    """A built-in scenario by name, or a scenario file by path.

    Treated as a path when it ends in ``.toml``, contains a path separator, or exists on disk;
    otherwise as a built-in name (an unknown name suggests the closest built-in).
    """
    text = os.fspath(name_or_path)
    if _looks_like_path(text):
        path = Path(text).expanduser().resolve()
        if path.is_dir():
            raise ScenarioError(f"{text}: a folder, not a scenario file (pass a .toml file or a built-in name)")
        if not path.is_file():
            raise ScenarioError(f"{text}: no such scenario file")
        try:
            data = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ScenarioError(f"{text}: cannot read scenario file ({e})") from None
        return parse_scenario(data, source=str(path), base_dir=path.parent, default_name=path.stem)

    names = builtin_scenarios()
    if text not in names:
        close = difflib.get_close_matches(text, names, n=1, cutoff=0.4)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ScenarioError(f"scenario {text!r}: unknown built-in scenario{hint} (built-in: {', '.join(names)})")
    res = resources.files(BUILTIN_PACKAGE).joinpath(BUILTIN_DIR, f"{text}.toml")
    with resources.as_file(res) as real:
        data = Path(real).read_text(encoding="utf-8")
        return parse_scenario(data, source=f"builtin:{text}", base_dir=Path(real).parent, default_name=text)


def parse_scenario(text: str, *, source: str = "", base_dir: str | os.PathLike | None = None,
                   default_name: str = "") -> Scenario:
    """A Scenario from TOML text; ``base_dir`` resolves a relative ``price.csv_file``."""
    where = source or "<scenario>"
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{where}: malformed TOML: {e}") from None
    if not raw:  # most likely the wrong file; running 600 blocks of defaults would hide that
        raise ScenarioError(f"{where}: empty scenario file (nothing set; see README's example, or pass a "
                            "built-in name such as 'crash')")
    return scenario_from_dict(raw, source=source, base_dir=base_dir, default_name=default_name)


def scenario_from_dict(raw: dict[str, Any], *, source: str = "", base_dir: str | os.PathLike | None = None,
                       default_name: str = "") -> Scenario:
    """A Scenario from already-parsed TOML data (same checks as ``parse_scenario``)."""
    if not isinstance(raw, dict):
        raise ScenarioError(f"{source or '<scenario>'}: expected a table at the top level")
    _check_keys(raw, _TOP_KEYS, "")
    hints = typing.get_type_hints(Scenario)
    kwargs: dict[str, Any] = {}
    for key in _TOP_SCALARS:
        if key in raw:
            kwargs[key] = _convert(raw[key], hints[key], key)
    if "name" not in kwargs and default_name:
        kwargs["name"] = default_name

    market = kwargs.get("market", Scenario.market)
    if "market" in kwargs:
        _check_market(market)
    _check_market_sections(raw, market)
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    for section, cls in _SECTIONS.items():
        if section in raw:
            table = _expect_table(raw[section], section)
            if section == "price":
                kwargs[section] = _build_price(table, base)
            else:
                kwargs[section] = _build(cls, table, section)
    if "keepers" in raw:
        kwargs["keepers"] = _build_keepers(raw["keepers"])
    if "mechanisms" in raw:
        kwargs["mechanisms"] = _build_mechanisms(raw["mechanisms"], market)
    kwargs["source"] = source
    scenario = Scenario(**kwargs)
    _market_checks(scenario)
    return scenario


def _check_market(name: str) -> None:
    """``market`` must name an installed market plug-in."""
    from sandbox.markets import MARKETS, UnknownPlugin

    try:
        MARKETS.load(name)
    except UnknownPlugin as exc:
        raise ScenarioError(f"market: {exc}") from None


def _check_market_sections(raw: dict, market: str) -> None:
    """A section only some markets read (``MarketKind.sections``) is refused on another market:
    ``[borrowers]`` in a perp scenario, ``[perp]`` in a lending one, would be silently ignored."""
    from sandbox.markets import MARKETS

    owners: dict[str, list[str]] = {}
    for name in MARKETS.names():
        try:
            kind = MARKETS.load(name)
        except Exception:  # noqa: BLE001 - a broken plug-in is reported when it is used
            continue
        for section in getattr(kind, "sections", ()):
            owners.setdefault(section, []).append(name)
    for section in raw:
        users = owners.get(section)
        if users and market not in users:
            raise ScenarioError(f"{section}: only the {' and '.join(repr(u) for u in users)} market reads this "
                                f"section, and this scenario's market is {market!r}")


def _market_checks(scenario: Scenario) -> None:
    """The market's own cross-field checks (``MarketKind.check_scenario``)."""
    from sandbox.markets import MARKETS

    check = getattr(MARKETS.load(scenario.market), "check_scenario", None)
    if check is not None:
        try:
            check(scenario)
        except ScenarioError:
            raise
        except ValueError as exc:
            raise ScenarioError(str(exc)) from None


# --------------------------------------------------------------------------- generic conversion


def _looks_like_path(text: str) -> bool:
    seps = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    return text.endswith(".toml") or any(s in text for s in seps) or Path(text).exists()


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        if len(value) <= 6 and not any(isinstance(v, (dict, list)) for v in value):
            return "[" + ", ".join(_describe(v) for v in value) + "]"
        return f"an array of {len(value)} items"
    if isinstance(value, bool):
        return "true" if value else "false"  # as written in TOML
    return repr(value)


def _check_keys(table: dict, allowed, path: str) -> None:
    allowed = list(allowed)
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(allowed)})"
            raise ScenarioError(f"{_join(path, key)}: unknown field{hint}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _expect_table(value: Any, path: str) -> dict:
    if not isinstance(value, dict):
        raise ScenarioError(f"{path}: expected a table, got {_describe(value)}")
    return value


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScenarioError(f"{path}: expected a number, got {_describe(value)}")
    try:
        number = float(value)  # an integer of 400 digits does not fit
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ScenarioError(f"{path}: expected a finite number, got {_describe(value)}")
    return number


def _convert(value: Any, hint: Any, path: str) -> Any:
    """``value`` checked against the type annotation ``hint`` (scalars only)."""
    if hint is bool:
        if not isinstance(value, bool):
            raise ScenarioError(f"{path}: expected true or false, got {_describe(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(f"{path}: expected an integer, got {_describe(value)}")
        return value
    if hint is float:
        return _number(value, path)
    if hint is str:
        if not isinstance(value, str):
            raise ScenarioError(f"{path}: expected a string, got {_describe(value)}")
        return value
    args = typing.get_args(hint)
    if type(None) in args:  # Optional[X]: TOML has no null, so X
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _convert(value, inner[0], path)
    return value  # anything else: unchecked


def _build(cls: type, table: dict, path: str) -> Any:
    return cls(**_fields(cls, table, path))


def _fields(cls: type, table: dict, path: str, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Keyword arguments for ``cls`` from ``table``: unknown keys and wrong types rejected."""
    fields = [f.name for f in dataclasses.fields(cls) if f.name not in _SPECIAL]
    _check_keys(table, fields, path)
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        if key in skip:
            continue
        fpath = _join(path, key)
        hint = hints[key]
        origin = typing.get_origin(hint)
        if origin is tuple:
            kwargs[key] = _tuple_rows(value, hint, fpath)
        else:
            kwargs[key] = _convert(value, hint, fpath)
    return kwargs


def _tuple_rows(value: Any, hint: Any, path: str) -> tuple:
    """An array of fixed-length numeric rows (knots, spikes) as a tuple of float tuples."""
    row_hint = typing.get_args(hint)[0]
    width = len(typing.get_args(row_hint))
    shape = {"price.knots": "[seconds, price]", "gas.spikes": "[start_s, end_s, multiplier]",
             "oracle.faults": "[start_s, end_s, multiplier]"}.get(
        path, f"[{', '.join(['number'] * width)}]")
    if not isinstance(value, list):
        raise ScenarioError(f"{path}: expected an array of {shape} rows, got {_describe(value)}")
    rows = []
    for i, row in enumerate(value):
        rpath = f"{path}[{i}]"
        if not isinstance(row, list) or len(row) != width:
            kind = "pair" if width == 2 else "triple" if width == 3 else "row"
            raise ScenarioError(f"{rpath}: expected a {shape} {kind}, got {_describe(row)}")
        rows.append(tuple(_number(x, rpath) for x in row))
    return tuple(rows)


# --------------------------------------------------------------------------- sections


def _build_price(table: dict, base: Path) -> PriceSpec:
    kwargs = _fields(PriceSpec, table, "price")
    model = kwargs.get("model", PriceSpec.model)
    for i, (t, p) in enumerate(kwargs.get("knots", ())):
        if p <= 0:
            raise ScenarioError(f"price.knots[{i}]: price must be > 0, got {p:g}")
        if t < 0:
            raise ScenarioError(f"price.knots[{i}]: seconds must be >= 0, got {t:g}")
    if kwargs.get("start_price_usd", 1.0) <= 0:
        raise ScenarioError(f"price.start_price_usd: must be > 0, got {kwargs['start_price_usd']:g}")

    if kwargs.get("csv_file"):
        csv_path = Path(kwargs["csv_file"]).expanduser()
        if not csv_path.is_absolute():
            csv_path = base / csv_path
        csv_path = csv_path.resolve()
        if not csv_path.is_file():
            raise ScenarioError(f"price.csv_file: no such file {csv_path}")
        kwargs["csv_file"] = str(csv_path)

    # the market starts where the reference path starts
    at_zero = None
    if model == "path" and kwargs.get("knots"):
        knots = kwargs["knots"]
        at_zero = float(np.interp(0.0, [t for t, _ in knots], [p for _, p in knots]))
    elif model == "csv" and kwargs.get("csv_file"):
        times, prices = read_price_csv(kwargs["csv_file"])
        at_zero = float(np.interp(0.0, times, prices))
    if at_zero is not None:
        given = kwargs.get("start_price_usd")
        if given is None:
            kwargs["start_price_usd"] = at_zero
        elif not math.isclose(given, at_zero, rel_tol=1e-9):
            raise ScenarioError(f"price.start_price_usd: {given:g} differs from the {model}'s price at 0 s "
                                f"({at_zero:g}); leave it out or make them equal")
    return PriceSpec(**kwargs)


def _build_keepers(value: Any) -> tuple[KeeperSpec, ...]:
    if isinstance(value, dict):
        raise ScenarioError("keepers: expected an array of tables ([[keepers]]), got a table ([keepers])")
    if not isinstance(value, list):
        raise ScenarioError(f"keepers: expected an array of tables ([[keepers]]), got {_describe(value)}")
    out = []
    for i, table in enumerate(value):
        path = f"keepers[{i}]"
        table = _expect_table(table, path)
        if "strategy" not in table:
            raise ScenarioError(f"{path}.strategy: is required")
        kwargs = _fields(KeeperSpec, table, path, skip=("params",))
        if not kwargs["strategy"]:
            raise ScenarioError(f"{path}.strategy: must not be empty")
        if kwargs.get("max_fee_cap_gwei", 0.0) < 0:
            raise ScenarioError(f"{path}.max_fee_cap_gwei: must be >= 0 (0 = no cap)")
        for key in ("count", "capital_usd", "tip_gwei"):  # named by index, not strategy
            minimum = 1 if key == "count" else 0
            if key in kwargs and kwargs[key] < minimum:
                raise ScenarioError(f"{path}.{key}: must be >= {minimum}")
        if "params" in table:
            kwargs["params"] = _params(table["params"], f"{path}.params")
        _check_keeper_strategy(kwargs["strategy"], kwargs.get("params", {}), path)
        out.append(KeeperSpec(**kwargs))
    return tuple(out)


def _check_keeper_strategy(strategy: str, params: dict, path: str) -> None:
    """A registered strategy whose Params accept ``params`` (checked here, not in a worker)."""
    from sandbox.agents.keepers import KEEPERS
    from sandbox.plugins import UnknownPlugin

    try:
        cls = KEEPERS.load(strategy)
    except UnknownPlugin as e:
        raise ScenarioError(f"{path}.strategy: {e}") from None
    except (ImportError, AttributeError, SyntaxError):  # a broken plug-in: reported when it is used
        return
    try:
        cls.Params().replace(**params)
    except (ValueError, TypeError) as e:
        raise ScenarioError(f"{path}.params: {e}") from None


def _params(value: Any, path: str) -> dict:
    table = _expect_table(value, path)
    out = {}
    for key, v in table.items():
        if isinstance(v, dict):
            raise ScenarioError(f"{path}.{key}: expected a number, string, boolean or array, got a table")
        if isinstance(v, list):
            if any(isinstance(x, (dict, list)) for x in v):
                raise ScenarioError(f"{path}.{key}: expected an array of plain values")
            v = tuple(v)
        out[key] = v
    return out


def _build_mechanisms(value: Any, market: str = "lending") -> dict[str, dict[str, Any]]:
    table = _expect_table(value, "mechanisms")
    out: dict[str, dict[str, Any]] = {}
    for name, overrides in table.items():
        path = f"mechanisms.{name}"
        overrides = _expect_table(overrides, path)
        params_cls = _mechanism_params(name, path, market)
        if params_cls is None:  # registered but not importable here: checked when it is deployed
            out[name] = _params(overrides, path)
            continue
        fields = [f.name for f in dataclasses.fields(params_cls)]
        _check_keys(overrides, fields, path)
        hints = typing.get_type_hints(params_cls)
        checked = {k: _convert(v, hints.get(k, Any), f"{path}.{k}") for k, v in overrides.items()}
        try:
            params_cls(**checked)
        except (ValueError, TypeError) as e:
            raise ScenarioError(f"{path}: {e}") from None
        out[name] = checked
    return out


def _mechanism_params(name: str, path: str, market: str = "lending") -> type | None:
    """The Params dataclass of a registered mechanism on ``market`` (its variant there, when it
    declares one); None if it cannot be imported here or does not run on the market (refused
    when it is chosen)."""
    from sandbox.mechanisms import MECHANISMS, UnknownPlugin

    names = MECHANISMS.names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]}? " if close else ""
        raise ScenarioError(f"{path}: unknown mechanism ({hint}known: {', '.join(names)})")
    try:
        return MECHANISMS.load(name).variant_for(market).Params
    except (UnknownPlugin, ImportError, AttributeError, SyntaxError, TypeError, ValueError):
        return None


def check_mechanisms_serve(scenario: Scenario, mechanisms) -> dict:
    """Refuse ``scenario`` up front if one of ``mechanisms`` cannot serve it (e.g. loans above
    what soft can band, a private auction window that holds no block): each mechanism's
    ``check_scenario`` hook, with the scenario's overrides. Returns each mechanism's parameters."""
    from sandbox.mechanisms import MECHANISMS

    params_of = {}
    for name in mechanisms:
        cls = MECHANISMS.load(name)
        if scenario.market not in cls.markets:
            why = cls.unsupported_markets.get(scenario.market)
            raise ScenarioError(f"market: {name} does not run on the {scenario.market!r} market "
                                f"(it runs on: {', '.join(cls.markets)})" + (f": {why}" if why else ""))
        cls = cls.variant_for(scenario.market)
        try:
            params = cls.default_params().replace(**scenario.mechanism_overrides(name))
        except (ValueError, TypeError) as exc:  # overrides written for the mechanism on another market
            raise ScenarioError(f"mechanisms.{name}: {exc}") from None
        try:
            cls.check_scenario(scenario, params)
        except ScenarioError:
            raise
        except ValueError as exc:  # a hook's refusal names the field first
            raise ScenarioError(str(exc)) from None
        params_of[name] = params
    for name, params in params_of.items():  # after every mechanism's own refusal
        _check_dust(scenario, name, MECHANISMS.load(name).variant_for(scenario.market).dust_wad(params))
    return params_of


def _check_dust(scenario: Scenario, mechanism: str, dust_wad: int) -> None:
    """Refuse a scenario whose borrowers may owe less than ``mechanism``'s dust: the mechanism
    would never liquidate such a position, and the market refuses to lend it (``minDebt``)."""
    from sandbox.markets import MARKETS

    if not dust_wad or "borrowers" not in getattr(MARKETS.load(scenario.market), "sections", ()):
        return
    smallest, floor = smallest_debt_wad(scenario), to_wad(scenario.lending.min_borrow_usd)
    if smallest >= dust_wad:
        return
    sizes = (f"${_usd(floor)} lets borrowers open positions" if smallest == floor else
             f"borrowers' positions owe down to ${_usd(smallest)} (min_borrow_usd is ${_usd(floor)}),")
    raise ScenarioError(f"lending.min_borrow_usd: {sizes} below {mechanism}'s dust of ${_usd(dust_wad)}, which it "
                        f"never liquidates: raise min_borrow_usd to at least "
                        f"{format((Decimal(dust_wad) / WAD).normalize(), 'f')}")


def smallest_debt_wad(scenario: Scenario) -> int:
    """The least debt (USD WAD) a borrower of ``scenario`` can open with: ``min_borrow_usd``, as
    smaller draws are scaled up to it (``draw_population``), unless every collateral is the
    median (``collateral_weth_sigma = 0``): then the median's debt at the lowest LTV, if larger."""
    b, lending = scenario.borrowers, scenario.lending
    floor = to_wad(lending.min_borrow_usd)
    if b.collateral_weth_sigma > 0:  # lognormal sizes: any collateral down to 1e-6 WETH
        return floor
    lowest = dataclasses.replace(b, count=1, ltv_max_bps=b.ltv_min_bps)
    ((_, debt),) = draw_population(lowest, np.random.default_rng(0), to_wad_prices([scenario.price.start_price_usd])[0],
                                   lending.max_ltv_bps, floor)
    return debt


def _usd(wad: int) -> str:
    """``wad`` USD with thousands separators and no trailing zeros (2,500; 250.5)."""
    return f"{(Decimal(wad) / WAD).normalize():,f}"
