"""Results folders: ``results/<name>/`` replaced atomically, read back with ``load``.

A folder holds ``summary.csv`` (one row per finished mechanism x seed run: mechanism, seed, the
metric columns), ``events.parquet`` (every recorded event of every run, with numeric amounts
parsed by ``sandbox.metrics.enrich_events``), ``positions.parquet``, ``prices.parquet`` (the
per-block table), ``txs.parquet``, ``agents.parquet`` (P&L of every agent, keepers by strategy)
and ``manifest.json`` (the resolved scenario, every mechanism's parameters, seeds, backend,
versions, git commit when known, and one entry per run: its transaction count and wall time,
or, for a run that failed, its error line and traceback). The same scenario and seeds give
byte-identical ``summary.csv`` and parquet tables: rows are in a fixed order (mechanism order,
seed, block, tx_index, log_index), floats are written with a fixed format, and wall times live
only in the manifest.

Atomic replacement. ``results/<name>`` is a symbolic link to a version folder inside a stable
parent next to it, ``results/.<name>.versions/<version>/``. A write fills a new version folder
(the manifest last), makes a new link to it under a temporary name, and renames that link over
``results/<name>``: one ``rename``, so a reader or a ``kill -9`` at any moment finds either the
whole old results or the whole new ones, never a gap, and nothing has to be recovered on the
next start. (The alternative — moving the old folder aside and the new one into place — needs
two renames, leaves no folder between them, and needs recovery on the next start.) Paths through
the link work unchanged (``load``, ``show``, ``plot``, ``pandas.read_csv("results/x/summary.csv")``).
Leftovers of a killed write (version folders nothing links to, temporary links, and the
``.<name>.tmp-*`` / ``.<name>.old-*`` folders of the previous scheme) are removed by the next
write to the same name (two writers of one name at the same time are not supported). A results
folder written before this scheme (a real folder) is moved into the versions folder by its first
rewrite: that one replacement takes two renames.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import shutil
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

    @property
    def failures(self) -> list:
        """The runs that failed (``sandbox.compare.RunFailure``), from the manifest."""
        from sandbox.compare import RunFailure

        return [RunFailure(mechanism=r["mechanism"], seed=int(r["seed"]), error=r.get("error", ""),
                           traceback=r.get("traceback", ""), internal=bool(r.get("internal_error", True)))
                for r in self.manifest.get("runs", []) if r.get("status") == "failed"]


# --------------------------------------------------------------------------- checks


def is_results_folder(path: str | os.PathLike) -> bool:
    """True if ``path`` is a folder (or our link to one) whose manifest.json we wrote."""
    manifest = Path(path) / MANIFEST
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT


def _present(path: Path) -> bool:
    """True if anything is at ``path``, a link to nothing included."""
    return path.exists() or path.is_symlink()


def _versions_dir(out: Path) -> Path:
    """The stable parent of ``out``'s version folders: ``.<name>.versions`` next to it."""
    return out.parent / f".{out.name}.versions"


def _is_our_link(out: Path) -> bool:
    """True if ``out`` is a link this module made (even one whose version folder is gone)."""
    if not out.is_symlink():
        return False
    target = Path(os.readlink(out))
    return not target.is_absolute() and target.parent == Path(_versions_dir(out).name)


def check_writable(path: str | os.PathLike, option: str = "--out") -> Path:
    """``path`` as a Path if a folder can be made there: a non-empty name, nothing but folders
    above it, and the nearest existing one writable (probed by making and removing a folder)."""
    text = os.fspath(path)
    if not text.strip():
        raise ResultsError(f"{option}: must not be empty")
    out = Path(text)
    if out.name in ("", ".", "..") and not out.is_dir():
        raise ResultsError(f"{option} {text}: not a folder name")
    existing = out.absolute().parent
    while not _present(existing):
        existing = existing.parent
    if not existing.is_dir():
        raise ResultsError(f"{text}: cannot be created under {existing} (a file, not a folder)")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".liqsandbox-probe-", dir=existing))
    except OSError as e:
        raise ResultsError(f"{text}: cannot write in {existing} ({e.strerror or e})") from None
    return out


def check_out_dir(out_dir: str | os.PathLike) -> Path:
    """``out_dir`` as a Path if results may be written there: writable (``check_writable``), and
    absent, our link, or a results folder of ours; anything else is refused, untouched."""
    out = check_writable(out_dir)
    if _is_our_link(out):
        return out
    if _present(out):
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


def _provenance() -> dict:
    """The package's source commit (``sandbox.provenance``: the checkout, else the build record)."""
    from sandbox.provenance import source_info

    info = source_info()
    return {"git_commit": info["commit"], "git_dirty": info["dirty"], "git_commit_source": info["source"]}


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
        **_provenance(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": {name: _version(name) for name in LIBRARIES},
        "created_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "files": [SUMMARY, *PARQUET_FILES, MANIFEST],
        "runs": _run_entries(comparison),
    }


def _run_entries(comparison: "Comparison") -> list[dict]:
    """One entry per run in (mechanism order, seed) order: ``status`` "ok" with its transactions
    and wall time, or "failed" with the error line and the traceback to report."""
    rank = {m: i for i, m in enumerate(comparison.mechanisms)}
    entries = [(r.mechanism, int(r.seed), {
        "mechanism": r.mechanism, "seed": int(r.seed), "status": "ok", "transactions": int(r.transactions),
        "blocks": int(r.blocks), "settle_blocks": int(r.settle_blocks),
        "wall_seconds": round(float(r.wall_seconds), 3)}) for r in comparison.runs]
    entries += [(f.mechanism, int(f.seed), {
        "mechanism": f.mechanism, "seed": int(f.seed), "status": "failed", "error": f.error,
        "internal_error": bool(f.internal), "traceback": f.traceback}) for f in comparison.failures]
    entries.sort(key=lambda e: (rank.get(e[0], len(rank)), e[1]))
    return [e[2] for e in entries]


def result_tables(comparison: "Comparison") -> dict[str, pd.DataFrame]:
    """The parquet tables (by Results attribute name), rows in the fixed order."""
    from sandbox.metrics import enrich_events

    out: dict[str, pd.DataFrame] = {}
    for name, (source, keys) in _SOURCES.items():
        df = comparison.table(source)
        if name == "events":
            df = enrich_events(df, getattr(comparison.scenario, "market", "lending"))
        out[name] = _ordered(df, comparison.mechanisms, keys)
    return out


def _checkpoint(step: str) -> None:
    """Called after every change a write makes on disk; tests stop the writer here to check
    that a kill at any point leaves complete results."""


def _write_all(comparison: "Comparison", scenario: "Scenario", folder: Path) -> None:
    summary = _ordered(comparison.summary, comparison.mechanisms, ())
    summary.to_csv(folder / SUMMARY, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    _checkpoint(SUMMARY)
    tables = result_tables(comparison)
    for filename, attr in PARQUET_FILES.items():
        _write_parquet(tables[attr], folder / filename)
        _checkpoint(filename)
    # the manifest last: a folder with our manifest is a complete one
    text = json.dumps(build_manifest(comparison, scenario), indent=2, sort_keys=False, allow_nan=False)
    (folder / MANIFEST).write_text(text + "\n", encoding="utf-8")
    _checkpoint(MANIFEST)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _remove(path: Path) -> None:
    """Remove a file, link or folder tree; whatever is already gone is fine."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.exists():
        shutil.rmtree(path, ignore_errors=True)


def leftovers(out: str | os.PathLike) -> list[Path]:
    """What killed writes to ``out`` left behind: version folders the link does not point to,
    temporary links, and the previous scheme's ``.<name>.tmp-*`` / ``.<name>.old-*`` folders."""
    out = Path(out)
    versions = _versions_dir(out)
    current = Path(os.readlink(out)).name if _is_our_link(out) else None
    found = sorted(e for e in versions.iterdir() if e.name != current) if versions.is_dir() else []
    for pattern in (f".{out.name}.tmp-*", f".{out.name}.old-*", f".{out.name}.link-*"):
        found += sorted(out.parent.glob(pattern))
    return found


def _remove_leftovers(out: Path) -> None:
    for entry in leftovers(out):
        _remove(entry)
        _checkpoint("leftover removed")


def write_results(comparison: "Comparison", scenario: "Scenario", out_dir: str | os.PathLike) -> Path:
    """Write the results and put them at ``out_dir`` in one rename (see the module docstring).

    An existing ``out_dir`` is replaced only if it is results of ours; otherwise ``ResultsError``
    and nothing is written. An error (Ctrl-C included) leaves the previous results in place and
    removes what this write made."""
    out = check_out_dir(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(out)
    versions = _versions_dir(out)
    versions.mkdir(exist_ok=True)
    _checkpoint("versions folder")
    version = Path(tempfile.mkdtemp(prefix="v-", dir=versions))
    _checkpoint("version folder")
    link = out.parent / f".{out.name}.link-{version.name}"
    previous = out.parent / os.readlink(out) if _is_our_link(out) else None
    legacy: Path | None = None
    try:
        os.chmod(version, 0o777 & ~_umask())  # mkdtemp makes it private; a results folder is not
        _write_all(comparison, scenario, version)
        os.symlink(Path(versions.name) / version.name, link)
        _checkpoint("new link")
        if previous is None and _present(out):
            check_out_dir(out)  # still ours?
            if not out.is_symlink():  # a results folder from before links (a link of the user's
                legacy = versions / f"legacy-{version.name}"  # is replaced like ours, target kept)
                os.replace(out, legacy)
                _checkpoint("old results moved")
        os.replace(link, out)
    except BaseException as exc:
        if legacy is not None and not _present(out):
            os.replace(legacy, out)  # put the previous results back
        _remove(link)
        _remove(version)
        with contextlib.suppress(OSError):
            versions.rmdir()  # only if nothing else is in it (the first write to this name)
        if isinstance(exc, OSError):
            raise ResultsError(f"{out}: cannot write results ({exc.strerror or exc})") from exc
        raise
    _checkpoint("link replaced")
    for old in (previous, legacy):
        if old is not None:
            _remove(old)
            _checkpoint("old version removed")
    return out


# --------------------------------------------------------------------------- reading


def load(path: str | os.PathLike) -> Results:
    """A results folder's tables (pandas DataFrames) and manifest."""
    folder = Path(path)
    try:
        return _load(folder)
    except OSError as e:  # unreadable files of the user's: one line, not a traceback
        raise ResultsError(f"{e.filename or folder}: cannot read ({e.strerror or e})") from None


def _load(folder: Path) -> Results:
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


__all__ = ["FORMAT", "Results", "ResultsError", "build_manifest", "check_out_dir", "check_writable",
           "is_results_folder", "leftovers", "load", "result_tables", "write_results"]
