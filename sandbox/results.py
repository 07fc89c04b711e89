"""Results of a comparison or a sweep: one object (``Results``) in memory and on disk.

``run_comparison`` returns a ``Results``; ``Results.load(path)`` reads a comparison folder or a
sweep folder back. Either way the same methods: ``summary()`` (one row per run), ``aggregate()``
(per mechanism, or per parameter set and mechanism: means with 95% intervals and the seeds'
range), ``table()`` (the table as text), ``plot()`` (the PNG charts, ``sandbox.plots``),
``save(path)`` (write a folder atomically) and the run tables as DataFrames (``events``,
``positions``, ``prices``, ``txs``, ``agents``).

A comparison folder holds ``summary.csv`` (one row per finished mechanism x seed run: mechanism,
seed, the metric columns), ``events.parquet`` (every recorded event of every run, with numeric
amounts parsed by ``sandbox.metrics.enrich_events``), ``positions.parquet``, ``prices.parquet``
(the per-block table), ``txs.parquet``, ``agents.parquet`` (P&L of every agent, keepers by
strategy) and ``manifest.json`` (the resolved scenario, every mechanism's parameters, seeds,
backend, versions, git commit when known, and one entry per run: its transaction count and wall
time, or, for a run that failed, its error line and traceback). The same scenario and seeds give
byte-identical ``summary.csv`` and parquet tables: rows are in a fixed order (mechanism order,
seed, block, tx_index, log_index), floats are written with a fixed format, and wall times live
only in the manifest.

A sweep folder (``kind: "sweep"`` in its manifest, written by ``sandbox.sweep.store``) holds
``summary.csv`` (one row per parameter set x mechanism x seed: set, the swept parameters,
mechanism, seed, run, the metrics), ``aggregate.csv`` (per set and mechanism), and one folder per
run table (``events/``, ``positions/``, ``prices/``, ``txs/``, ``agents/``) with one Parquet part
per distinct run (``run-000042.parquet``, rows tagged with their ``run``); its tables are read
on first use, so loading a sweep of a thousand runs costs only its summary.

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
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import pandas as pd

from sandbox.errors import SandboxError

if TYPE_CHECKING:
    from sandbox.runs import RunFailure, RunRecord
    from sandbox.scenarios import Scenario

FORMAT = "liqsandbox-results"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
FLOAT_FORMAT = "%.10g"
KINDS = ("comparison", "sweep")
# file name -> Results attribute
PARQUET_FILES = {
    "events.parquet": "events",
    "positions.parquet": "positions",
    "prices.parquet": "prices",
    "txs.parquet": "txs",
    "agents.parquet": "agents",
}
TABLES = tuple(PARQUET_FILES.values())
SUMMARY = "summary.csv"
AGGREGATE = "aggregate.csv"
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


class Results:
    """A comparison (mechanisms x seeds) or a sweep (parameter sets x mechanisms x seeds).

    Made by ``sandbox.compare.run_comparison`` (in memory, ``path`` None until ``save``) or by
    ``Results.load`` (from a folder). ``runs`` holds the in-memory runs' records (empty once
    loaded); everything else is the same for both.
    """

    def __init__(self, manifest: dict, summary: pd.DataFrame, tables: dict[str, Any] | None = None,
                 path: Path | None = None, runs: Sequence["RunRecord"] = (), scenario: "Scenario | None" = None):
        """``tables``: name -> DataFrame, or a callable that reads it on first use."""
        self.manifest = manifest
        self.path = path
        self.runs = list(runs)
        self.scenario = scenario
        self._summary = summary
        self._tables = dict(tables or {})

    def __repr__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        return (f"<Results {self.kind}{where}: {len(self.mechanisms)} mechanisms x {len(self.seeds)} seeds"
                f"{f' x {len(self.sets)} sets' if self.kind == 'sweep' else ''}>")

    # --- made from runs -----------------------------------------------------------------------
    @classmethod
    def from_runs(cls, scenario: "Scenario", mechanisms: Sequence[str], seeds: Sequence[int], backend: str,
                  runs: Sequence["RunRecord"], failures: Sequence["RunFailure"] = ()) -> "Results":
        """A comparison in memory: ``runs`` (finished) and ``failures``, in (mechanism, seed) order."""
        from sandbox.runs import summary_frame

        mechanisms = list(mechanisms)
        manifest = build_manifest(scenario, mechanisms, seeds, backend, runs, failures)
        summary = _ordered(summary_frame(runs), mechanisms, ())
        tables = {name: (lambda name=name: run_table(runs, mechanisms, name, scenario.market)) for name in TABLES}
        return cls(manifest, summary, tables, runs=runs, scenario=scenario)

    # --- what it is -------------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        """"comparison" or "sweep"."""
        return self.manifest.get("kind", "comparison")

    @property
    def mechanisms(self) -> list[str]:
        return list(self.manifest.get("mechanisms") or dict.fromkeys(self._summary["mechanism"]))

    @property
    def seeds(self) -> list[int]:
        return [int(s) for s in self.manifest.get("seeds") or sorted(set(self._summary["seed"]))]

    @property
    def backend(self) -> str:
        return self.manifest.get("backend", "")

    @property
    def mechanism_params(self) -> dict:
        return self.manifest.get("mechanism_params", {})

    @property
    def sets(self) -> list[dict]:
        """A sweep's parameter sets: ``{"set": i, "label": ..., "name": ..., "params": {path: value}}``;
        a comparison is one set without parameters."""
        if self.kind != "sweep":
            return [{"set": 0, "label": "", "params": {}}]
        return list(self.manifest["sweep"]["sets"])

    @property
    def parameters(self) -> list[str]:
        """The dotted paths a sweep varies (none for a comparison)."""
        return list(self.manifest.get("sweep", {}).get("parameters", []))

    @property
    def failures(self) -> list["RunFailure"]:
        """The runs that failed (``sandbox.runs.RunFailure``), from the manifest."""
        from sandbox.runs import RunFailure

        return [RunFailure(mechanism=r["mechanism"], seed=int(r["seed"]), error=r.get("error", ""),
                           traceback=r.get("traceback", ""), internal=bool(r.get("internal_error", True)))
                for r in self.manifest.get("runs", []) if r.get("status") == "failed"]

    # --- the numbers ------------------------------------------------------------------------------
    def summary(self) -> pd.DataFrame:
        """One row per run (a sweep: per set x mechanism x seed, with the set's parameters)."""
        return self._summary.copy()

    def aggregate(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Per mechanism (a sweep: per set and mechanism, with the set's parameters) and metric:
        the mean over seeds, ``_ci95`` (half-width of the 95% t-interval, from five seeds), and
        ``_min``/``_max`` (the seeds' range); ``seeds`` counts them (``sandbox.table.aggregate``).
        ``columns``: the metrics (default: every one of ``METRIC_COLUMNS``)."""
        from sandbox.metrics import METRIC_COLUMNS
        from sandbox.table import aggregate

        columns = list(columns or METRIC_COLUMNS)
        if self.kind != "sweep":
            return aggregate(self._summary, self.mechanisms, columns)
        frames = []
        for s in self.sets:
            part = self._summary[self._summary["set"] == s["set"]]
            agg = aggregate(part, self.mechanisms, columns)
            front = {"set": s["set"], **{p: _cell(s["params"].get(p)) for p in self.parameters}}
            for i, (key, value) in enumerate(front.items()):
                agg.insert(i, key, [value] * len(agg))
            frames.append(agg)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def table(self, columns: Sequence[str] | None = None) -> str:
        """The table as text: a comparison's grouped table (``sandbox.table.format_table``); a
        sweep's one row per set and mechanism with ``columns`` (default ``SWEEP_COLUMNS``)."""
        from sandbox.table import format_table

        if self.kind != "sweep":
            return format_table(self._summary, self.mechanisms, failures=self.failures)
        from sandbox.table import SWEEP_COLUMNS, format_sweep_table

        columns = list(columns or SWEEP_COLUMNS)
        names = {s["set"]: s.get("name", "") for s in self.sets}
        return format_sweep_table(self.aggregate(columns), self.parameters, columns, failures=self.failures,
                                  mechanisms=self.mechanisms, names=names if any(names.values()) else None)

    def plot(self, out_dir: str | os.PathLike | None = None, seed: int | None = None) -> list[Path]:
        """Write the PNG charts (``sandbox.plots``) into ``out_dir`` (default ``<path>/plots``)."""
        from sandbox.plots import write_plots

        return write_plots(self, out_dir, seed=seed)

    # --- run tables -------------------------------------------------------------------------------
    def _table(self, name: str) -> pd.DataFrame:
        value = self._tables.get(name)
        if value is None:
            return pd.DataFrame()
        if callable(value):
            value = self._tables[name] = value()
        return value

    @property
    def events(self) -> pd.DataFrame:
        return self._table("events")

    @property
    def positions(self) -> pd.DataFrame:
        return self._table("positions")

    @property
    def prices(self) -> pd.DataFrame:
        return self._table("prices")

    @property
    def txs(self) -> pd.DataFrame:
        return self._table("txs")

    @property
    def agents(self) -> pd.DataFrame:
        return self._table("agents")

    # --- disk ---------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write a folder at ``path`` in one rename (see the module docstring); ``path`` then."""
        out = write_folder(path, self._fill)
        self.path = out
        return out

    def _fill(self, folder: Path) -> None:
        if self.kind == "sweep":
            _fill_sweep_copy(self, folder)
            return
        self._summary.to_csv(folder / SUMMARY, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
        _checkpoint(SUMMARY)
        for filename, attr in PARQUET_FILES.items():
            _write_parquet(self._table(attr), folder / filename)
            _checkpoint(filename)
        write_manifest(folder, self.manifest)  # last: a folder with our manifest is a complete one

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Results":
        """A comparison folder or a sweep folder (``ResultsError`` naming it if neither)."""
        return load(path)


def _cell(value: Any) -> Any:
    """A parameter value as a table cell: scalars as they are, anything else as JSON text."""
    return value if isinstance(value, (str, int, float, bool)) or value is None else json.dumps(value)


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


# --------------------------------------------------------------------------- tables and manifest


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


def _stacked(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The run tables stacked (empty runs' tables skipped; columns of the first with any)."""
    frames = [f for f in frames if len(f.columns)]
    if not frames:
        return pd.DataFrame()
    nonempty = [f for f in frames if len(f)]
    if not nonempty:
        return frames[0].iloc[0:0].copy()
    return pd.concat(nonempty, ignore_index=True)


def run_table(records: Sequence["RunRecord"], mechanisms: Sequence[str], name: str,
              market: str = "lending") -> pd.DataFrame:
    """Table ``name`` (a ``TABLES`` entry) of ``records`` as written to disk: events enriched
    (``sandbox.metrics.enrich_events`` with the ``market``'s rules), rows in (mechanism order,
    seed, block, tx, log) order."""
    from sandbox.metrics import enrich_events

    source, keys = _SOURCES[name]
    df = _stacked([r.tables[source] for r in records if source in r.tables])
    if name == "events":
        df = enrich_events(df, market)
    return _ordered(df, list(mechanisms), keys)



def result_tables(results: Results) -> dict[str, pd.DataFrame]:
    """The parquet tables (by Results attribute name), rows in the fixed order."""
    return {name: results._table(name) for name in TABLES}


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    df.to_parquet(path, index=False, engine="pyarrow", compression="snappy")


def parquet_bytes(df: pd.DataFrame) -> bytes:
    """``df`` as the bytes of a Parquet file, written as ``_write_parquet`` writes it."""
    import io

    buffer = io.BytesIO()
    df.to_parquet(buffer, index=False, engine="pyarrow", compression="snappy")
    return buffer.getvalue()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (NaN as null, numpy scalars as Python ones)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and value != value:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        try:
            return jsonable(value.item())
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


def environment() -> dict:
    """What made the results: package version, source commit, Python, platform, libraries, time."""
    return {
        "package_version": _version("liquidation-sandbox"),
        **_provenance(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": {name: _version(name) for name in LIBRARIES},
        "created_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def build_manifest(scenario: "Scenario", mechanisms: Sequence[str], seeds: Sequence[int], backend: str,
                   runs: Sequence["RunRecord"], failures: Sequence["RunFailure"] = ()) -> dict:
    params: dict[str, dict] = {}
    for run in runs:
        params.setdefault(run.mechanism, run.mechanism_params)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": "comparison",
        "scenario": jsonable(scenario.as_dict()),
        "mechanisms": list(mechanisms),
        "mechanism_params": jsonable(params),
        "seeds": [int(s) for s in seeds],
        "backend": backend,
        **environment(),
        "files": [SUMMARY, *PARQUET_FILES, MANIFEST],
        "runs": run_entries(mechanisms, runs, failures),
    }


def run_entry(run: "RunRecord | RunFailure") -> dict:
    """A run's manifest entry: ``status`` "ok" with its transactions and wall time, or "failed"
    with the error line and the traceback to report."""
    from sandbox.runs import RunFailure

    if isinstance(run, RunFailure):
        return {"mechanism": run.mechanism, "seed": int(run.seed), "status": "failed", "error": run.error,
                "internal_error": bool(run.internal), "traceback": run.traceback}
    return {"mechanism": run.mechanism, "seed": int(run.seed), "status": "ok", "transactions": int(run.transactions),
            "blocks": int(run.blocks), "settle_blocks": int(run.settle_blocks),
            "settle_reason": str(run.settle_reason), "wall_seconds": round(float(run.wall_seconds), 3)}


def run_entries(mechanisms: Sequence[str], runs: Sequence["RunRecord"],
                failures: Sequence["RunFailure"] = ()) -> list[dict]:
    """One entry per run in (mechanism order, seed) order (``run_entry``)."""
    rank = {m: i for i, m in enumerate(mechanisms)}
    outcomes: list[RunRecord | RunFailure] = [*runs, *failures]
    entries = [run_entry(r) for r in outcomes]
    entries.sort(key=lambda e: (rank.get(e["mechanism"], len(rank)), e["seed"]))
    return entries


def write_manifest(folder: Path, manifest: dict) -> None:
    text = json.dumps(manifest, indent=2, sort_keys=False, allow_nan=False)
    (folder / MANIFEST).write_text(text + "\n", encoding="utf-8")
    _checkpoint(MANIFEST)


def _fill_sweep_copy(results: Results, folder: Path) -> None:
    """A loaded sweep written again elsewhere: its files copied, the manifest last."""
    assert results.path is not None  # loaded from a folder
    for name in (SUMMARY, AGGREGATE):
        shutil.copy2(results.path / name, folder / name)
        _checkpoint(name)
    for table in TABLES:
        shutil.copytree(results.path / table, folder / table)
        _checkpoint(table)
    write_manifest(folder, results.manifest)


# --------------------------------------------------------------------------- writing


def _checkpoint(step: str) -> None:
    """Called after every change a write makes on disk; tests stop the writer here to check
    that a kill at any point leaves complete results."""


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


def write_folder(out_dir: str | os.PathLike, fill: Callable[[Path], None]) -> Path:
    """``fill(folder)`` writes a results folder (its manifest last); it is put at ``out_dir`` in
    one rename (see the module docstring).

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
        fill(version)
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


def write_results(results: Results, *where: Any) -> Path:
    """``results.save(out_dir)``; the older ``write_results(results, scenario, out_dir)`` form
    (the scenario is in the results) still works."""
    if len(where) not in (1, 2):
        raise TypeError("write_results(results, out_dir)")
    return results.save(where[-1])


# --------------------------------------------------------------------------- reading


def load(path: str | os.PathLike) -> Results:
    """A results folder's tables (pandas DataFrames) and manifest: a comparison or a sweep."""
    folder = Path(path)
    try:
        return _load(folder)
    except OSError as e:  # unreadable files of the user's: one line, not a traceback
        raise ResultsError(f"{e.filename or folder}: cannot read ({e.strerror or e})") from None


def _read_manifest(folder: Path) -> dict:
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
    if manifest.get("kind", "comparison") not in KINDS:
        raise ResultsError(f"{folder}: unknown kind of results {manifest.get('kind')!r} (a newer liqsandbox?)")
    return manifest


def _read_summary(folder: Path, name: str = SUMMARY) -> pd.DataFrame:
    try:
        summary = pd.read_csv(folder / name)
    except FileNotFoundError:
        raise ResultsError(f"{folder}: incomplete results folder (no {name})") from None
    except (ValueError, pd.errors.ParserError) as e:
        raise ResultsError(f"{folder / name}: malformed ({str(e).splitlines()[0]})") from None
    if name == SUMMARY and not {"mechanism", "seed"} <= set(summary.columns):
        raise ResultsError(f"{folder / name}: malformed (no mechanism and seed columns)")
    return summary


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path, engine="pyarrow")
    except Exception as e:  # pyarrow raises several kinds for a damaged file
        raise ResultsError(f"{path}: malformed parquet ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None


def _load(folder: Path) -> Results:
    manifest = _read_manifest(folder)
    summary = _read_summary(folder)
    if manifest.get("kind") == "sweep":
        return _load_sweep(folder, manifest, summary)
    tables: dict[str, pd.DataFrame] = {}
    for filename, attr in PARQUET_FILES.items():
        p = folder / filename
        if not p.is_file():
            raise ResultsError(f"{folder}: incomplete results folder (no {filename})")
        tables[attr] = _read_parquet(p)
    return Results(manifest, summary, tables, path=folder)


def part_name(run: int) -> str:
    """The file of run ``run``'s rows in each table folder of a sweep."""
    return f"run-{int(run):06d}.parquet"


def _load_sweep(folder: Path, manifest: dict, summary: pd.DataFrame) -> Results:
    runs = [int(r["run"]) for r in manifest.get("runs", []) if r.get("status") == "ok"]
    for table in TABLES:
        if not (folder / table).is_dir():
            raise ResultsError(f"{folder}: incomplete sweep folder (no {table}/)")
        missing = [r for r in runs if not (folder / table / part_name(r)).is_file()]
        if missing:
            raise ResultsError(f"{folder}: incomplete sweep folder ({table}/{part_name(missing[0])} is missing)")
    tables = {table: (lambda table=table: _stacked([_read_parquet(folder / table / part_name(r)) for r in runs]))
              for table in TABLES}
    return Results(manifest, summary, tables, path=folder)


__all__ = ["AGGREGATE", "FORMAT", "MANIFEST", "Results", "ResultsError", "SUMMARY", "TABLES", "build_manifest",
           "check_out_dir", "check_writable", "environment", "is_results_folder", "jsonable", "leftovers", "load",
           "parquet_bytes", "part_name", "result_tables", "run_entry", "run_table", "write_folder",
           "write_manifest", "write_results"]
