"""Results folders: ``results/<name>/`` written atomically, read back with ``load``.

A folder holds ``summary.csv`` (one row per mechanism x seed: mechanism, seed, the metric
columns), ``events.parquet`` (every recorded event of every run, with numeric amounts parsed
by ``sandbox.metrics.enrich_events``), ``positions.parquet``, ``prices.parquet`` (the per-block
table), ``txs.parquet``, ``agents.parquet`` (P&L of every agent, keepers by strategy) and
``manifest.json`` (the resolved scenario, every mechanism's parameters, seeds, backend,
versions, git commit when known, and one entry per run with its transaction count and wall
time). The same scenario and seeds give byte-identical ``summary.csv`` and parquet tables:
rows are in a fixed order (mechanism order, seed, block, tx_index, log_index), floats are
written with a fixed format, and wall times live only in the manifest.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from sandbox.errors import SandboxError

if TYPE_CHECKING:
    from sandbox.compare import Comparison
    from sandbox.scenarios import Scenario

FORMAT = "liqsandbox-results"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
FLOAT_FORMAT = "%.10g"
# file name -> Results attribute
PARQUET_FILES = {
    "events.parquet": "events",
    "positions.parquet": "positions",
    "prices.parquet": "prices",
    "txs.parquet": "txs",
    "agents.parquet": "agents",
}
SUMMARY = "summary.csv"
# run table behind each parquet file, and the columns (after mechanism, seed) that order its rows
_SOURCES = {
    "events": ("events", ("block", "tx_index", "log_index")),
    "positions": ("positions", ()),
    "prices": ("blocks", ("block",)),
    "txs": ("txs", ("block", "tx_index")),
    "agents": ("agents", ()),
}
LIBRARIES = ("numpy", "pandas", "pyarrow", "click", "matplotlib", "py-evm", "eth-tester", "web3", "eth-abi")


class ResultsError(SandboxError, ValueError):
    """A results folder that cannot be written or read; one line naming the folder."""


@dataclass
class Results:
    path: Path
    manifest: dict
    summary: pd.DataFrame
    events: pd.DataFrame = field(repr=False)
    positions: pd.DataFrame = field(repr=False)
    prices: pd.DataFrame = field(repr=False)
    txs: pd.DataFrame = field(repr=False)
    agents: pd.DataFrame = field(repr=False)

    @property
    def mechanisms(self) -> list[str]:
        return list(self.manifest.get("mechanisms") or dict.fromkeys(self.summary["mechanism"]))

    @property
    def seeds(self) -> list[int]:
        return [int(s) for s in self.manifest.get("seeds") or sorted(set(self.summary["seed"]))]


# --------------------------------------------------------------------------- checks


def is_results_folder(path: str | os.PathLike) -> bool:
    """True if ``path`` is a folder whose manifest.json we wrote."""
    manifest = Path(path) / MANIFEST
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT


def check_out_dir(out_dir: str | os.PathLike) -> Path:
    """``out_dir`` as a Path if it may be (over)written: absent, or a results folder of ours."""
    out = Path(out_dir)
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise ResultsError(f"{out}: exists and is not a results folder (a file); choose another --out")
        if not is_results_folder(out):
            raise ResultsError(f"{out}: exists and is not a results folder (no manifest.json of ours); "
                               "choose another --out or remove it")
    return out


# --------------------------------------------------------------------------- writing


def _ordered(df: pd.DataFrame, mechanisms: list[str], keys: tuple[str, ...]) -> pd.DataFrame:
    """Rows sorted by (mechanism order, seed, *keys) with a stable sort; fresh index."""
    if df.empty or "mechanism" not in df.columns:
        return df.reset_index(drop=True)
    rank = {m: i for i, m in enumerate(mechanisms)}
    tmp = df.copy()
    tmp["__rank"] = tmp["mechanism"].map(rank).fillna(len(rank)).astype("int64")
    by = ["__rank"] + [c for c in ("seed", *keys) if c in tmp.columns]
    tmp = tmp.sort_values(by, kind="mergesort").drop(columns="__rank")
    return tmp.reset_index(drop=True)


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    df.to_parquet(path, index=False, engine="pyarrow", compression="snappy")


def _git_commit() -> str | None:
    """HEAD of the checkout the package runs from (None when unknown; never fails)."""
    try:
        import sandbox

        root = Path(sandbox.__file__).resolve().parent.parent
        if not (root / ".git").exists():
            return None
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=False)
        commit = out.stdout.strip()
        return commit if out.returncode == 0 and len(commit) >= 40 else None
    except Exception:
        return None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and value != value:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        try:
            return _jsonable(value.item())
        except Exception:
            return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def build_manifest(comparison: "Comparison", scenario: "Scenario") -> dict:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "scenario": _jsonable(scenario.as_dict()),
        "mechanisms": list(comparison.mechanisms),
        "mechanism_params": _jsonable(comparison.mechanism_params),
        "seeds": [int(s) for s in comparison.seeds],
        "backend": comparison.backend,
        "package_version": _version("liquidation-sandbox"),
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": {name: _version(name) for name in LIBRARIES},
        "created_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "files": [SUMMARY, *PARQUET_FILES, MANIFEST],
        "runs": [
            {"mechanism": r.mechanism, "seed": int(r.seed), "transactions": int(r.transactions),
             "blocks": int(r.blocks), "wall_seconds": round(float(r.wall_seconds), 3)}
            for r in comparison.runs
        ],
    }


def result_tables(comparison: "Comparison") -> dict[str, pd.DataFrame]:
    """The parquet tables (by Results attribute name), rows in the fixed order."""
    from sandbox.metrics import enrich_events

    out: dict[str, pd.DataFrame] = {}
    for name, (source, keys) in _SOURCES.items():
        df = comparison.table(source)
        if name == "events":
            df = enrich_events(df)
        out[name] = _ordered(df, comparison.mechanisms, keys)
    return out


def _write_all(comparison: "Comparison", scenario: "Scenario", folder: Path) -> None:
    summary = _ordered(comparison.summary, comparison.mechanisms, ())
    summary.to_csv(folder / SUMMARY, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    tables = result_tables(comparison)
    for filename, attr in PARQUET_FILES.items():
        _write_parquet(tables[attr], folder / filename)
    # the manifest last: a folder with our manifest is a complete one
    text = json.dumps(build_manifest(comparison, scenario), indent=2, sort_keys=False, allow_nan=False)
    (folder / MANIFEST).write_text(text + "\n", encoding="utf-8")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_results(comparison: "Comparison", scenario: "Scenario", out_dir: str | os.PathLike) -> Path:
    """Write the results folder atomically: everything goes into a temporary folder next to
    ``out_dir``, which then replaces it. An existing ``out_dir`` is replaced only if it is a
    results folder; otherwise ``ResultsError`` and nothing is written."""
    out = check_out_dir(out_dir)
    parent = out.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; a results folder is not
        _write_all(comparison, scenario, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old: Path | None = None
    try:
        if out.exists():
            check_out_dir(out)  # still ours?
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=parent))
            os.replace(out, old / out.name)
        os.replace(tmp, out)
    except BaseException:
        if old is not None and (old / out.name).exists() and not out.exists():
            os.replace(old / out.name, out)  # put the previous results back
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return out


# --------------------------------------------------------------------------- reading


def load(path: str | os.PathLike) -> Results:
    """A results folder's tables (pandas DataFrames) and manifest."""
    folder = Path(path)
    if not folder.exists():
        raise ResultsError(f"{folder}: no such results folder")
    if not folder.is_dir():
        raise ResultsError(f"{folder}: not a results folder (a file)")
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise ResultsError(f"{folder}: not a results folder (no {MANIFEST})")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ResultsError(f"{manifest_path}: malformed manifest ({str(e).splitlines()[0]})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ResultsError(f"{folder}: not a results folder ({MANIFEST} was not written by liqsandbox)")
    try:
        summary = pd.read_csv(folder / SUMMARY)
    except FileNotFoundError:
        raise ResultsError(f"{folder}: incomplete results folder (no {SUMMARY})") from None
    except (ValueError, pd.errors.ParserError) as e:
        raise ResultsError(f"{folder / SUMMARY}: malformed ({str(e).splitlines()[0]})") from None
    if not {"mechanism", "seed"} <= set(summary.columns):
        raise ResultsError(f"{folder / SUMMARY}: malformed (no mechanism and seed columns)")
    tables: dict[str, pd.DataFrame] = {}
    for filename, attr in PARQUET_FILES.items():
        p = folder / filename
        if not p.is_file():
            raise ResultsError(f"{folder}: incomplete results folder (no {filename})")
        try:
            tables[attr] = pd.read_parquet(p, engine="pyarrow")
        except Exception as e:  # pyarrow raises several kinds for a damaged file
            raise ResultsError(f"{p}: malformed parquet ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    return Results(path=folder, manifest=manifest, summary=summary, **tables)


__all__ = ["FORMAT", "Results", "ResultsError", "build_manifest", "check_out_dir", "is_results_folder", "load",
           "result_tables", "write_results"]
