"""A sweep on disk: streamed while it runs, resumable after a kill, published atomically at the end.

While it runs, a sweep lives in an in-progress folder next to its results,
``<parent>/.<name>.sweep-partial/`` (hidden, and never mistaken for results: it has no
``manifest.json``):

* ``sweep.json``: the sweep's fingerprint and size (``--resume`` continues only the same sweep);
* ``<table>/run-000042.parquet``: each finished run's tables, one Parquet part per table, written
  under a temporary name and renamed into place;
* ``runs.jsonl``: one line per finished run (its summary metrics and manifest entry), appended
  after its parts are in place. A run is finished when its line is complete; a line cut short by
  a kill is dropped on resume, and a part without a line is simply written again.

Nothing is held in memory but the runs in flight and the lines of the journal. When every run
has a line, ``publish`` builds the final folder (``sandbox.results`` layout for sweeps: the
parts hard-linked, ``summary.csv`` and ``aggregate.csv`` in the canonical order, the manifest
last) and puts it at ``<parent>/<name>`` in one rename (``sandbox.results.write_folder``); only
then is the in-progress folder removed. A kill at any point leaves either the in-progress folder
(``--resume`` goes on) or the whole results, or both (``--resume`` publishes again: the same
bytes). A sweep with failed runs is published with them (in its manifest and its table) and
keeps its in-progress folder, so that ``--resume`` can run them again. The tables and summaries
depend only on the runs, never on the order they finished in,
the executor or the number of workers: an interrupted and resumed sweep writes the same
``summary.csv``, ``aggregate.csv`` and parquet parts as one that ran through.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pandas as pd

from sandbox.results import (
    AGGREGATE,
    FLOAT_FORMAT,
    SUMMARY,
    TABLES,
    Results,
    ResultsError,
    check_out_dir,
    environment,
    part_name,
    write_folder,
    write_manifest,
)

from .executors import RunOutput
from .spec import SweepSpec

JOURNAL = "runs.jsonl"
SPEC = "sweep.json"


def _checkpoint(step: str) -> None:
    """Called after every change the store makes on disk (tests stop it here)."""


def partial_dir(out: Path) -> Path:
    """The in-progress folder of the sweep whose results go to ``out``."""
    return out.parent / f".{out.name}.sweep-partial"


class SweepStore:
    """The in-progress folder of one sweep (see the module docstring)."""

    def __init__(self, spec: SweepSpec, out: str | os.PathLike):
        self.spec = spec
        self.out = check_out_dir(out)
        self.folder = partial_dir(self.out)

    # --- opening ---------------------------------------------------------------------------------
    @property
    def interrupted(self) -> bool:
        """True if an interrupted sweep waits at this folder."""
        return (self.folder / SPEC).is_file()

    def open(self, resume: bool = False, restart: bool = False) -> dict[int, dict]:
        """Get the folder ready; the runs already finished (``--resume``), by run number."""
        if self.folder.exists() and not self.interrupted:
            shutil.rmtree(self.folder)  # killed before its first file: nothing to keep
        if self.interrupted:
            if restart:
                shutil.rmtree(self.folder)
            elif not resume:
                raise ResultsError(f"{self.out}: an interrupted sweep is in {self.folder} (use --resume to go on, "
                                   "or --restart to discard its runs)")
            else:
                self._check_same_sweep()
        if not self.interrupted:
            tmp = self.folder.with_name(self.folder.name + ".new")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            for table in TABLES:
                (tmp / table).mkdir()
            (tmp / SPEC).write_text(json.dumps({"fingerprint": self.spec.fingerprint, "name": self.spec.name,
                                                "runs": len(self.spec.runs), "rows": len(self.spec.rows)},
                                               indent=2) + "\n", encoding="utf-8")
            os.replace(tmp, self.folder)  # the folder appears whole, with its spec
            _checkpoint("partial folder")
        return self.finished()

    def _check_same_sweep(self) -> None:
        try:
            recorded = json.loads((self.folder / SPEC).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ResultsError(f"{self.folder / SPEC}: unreadable ({e}); --restart to discard the interrupted sweep") from None
        if recorded.get("fingerprint") != self.spec.fingerprint:
            raise ResultsError(f"{self.folder}: the interrupted sweep is not this one (its file, options or "
                               "seeds changed); --restart to discard it, or run it with its own settings")

    def finished(self) -> dict[int, dict]:
        """The journal's complete lines, by run number (a later line for a run wins). A last
        line cut short by a kill is cut off the file, so appends start on a line of their own."""
        path = self.folder / JOURNAL
        if not path.is_file():
            return {}
        data = path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end != len(data):
            with open(path, "r+b") as f:
                f.truncate(end)
        done: dict[int, dict] = {}
        for line in data[:end].splitlines():
            record = json.loads(line)
            done[int(record["run"])] = record
        return done

    # --- streaming ---------------------------------------------------------------------------------
    def record(self, output: RunOutput) -> None:
        """Store one finished run: its parts in place first, then its journal line."""
        for table, data in output.parts.items():
            target = self.folder / table / part_name(output.run)
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
        _checkpoint("parts")
        line = json.dumps({"run": output.run, "status": output.status, "entry": output.entry,
                           "metrics": output.metrics}, allow_nan=True, sort_keys=True)
        with open(self.folder / JOURNAL, "a", encoding="utf-8") as f:
            f.write(line + "\n")
        _checkpoint("journal")

    # --- the end -------------------------------------------------------------------------------------
    def publish(self, extra: dict | None = None) -> Path:
        """Build the final folder from the journal and put it at ``out`` in one rename; then
        remove the in-progress folder, unless some runs failed (``--resume`` runs them again and
        publishes anew). ``extra`` goes into the manifest (executor, wall time)."""
        done = self.finished()
        summary = self.summary(done)
        manifest = self.manifest(done, extra or {})
        results = Results(manifest, summary, path=None)
        aggregate = results.aggregate()

        def fill(folder: Path) -> None:
            summary.to_csv(folder / SUMMARY, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
            _checkpoint(SUMMARY)
            aggregate.to_csv(folder / AGGREGATE, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
            _checkpoint(AGGREGATE)
            ok = sorted(r for r, rec in done.items() if rec["status"] == "ok")
            for table in TABLES:
                (folder / table).mkdir()
                for run in ok:
                    _link(self.folder / table / part_name(run), folder / table / part_name(run))
                _checkpoint(table)
            write_manifest(folder, manifest)

        path = write_folder(self.out, fill)
        _checkpoint("published")
        if not missing_runs(self.spec, done):  # with failed runs it stays, for --resume to retry them
            shutil.rmtree(self.folder)
            _checkpoint("partial removed")
        return path

    def summary(self, done: dict[int, dict]) -> pd.DataFrame:
        """One row per (set, mechanism, seed) whose run finished: set, the parameters, mechanism,
        seed, run, the metrics; in the sweep's order."""
        from sandbox.metrics import METRIC_COLUMNS

        spec = self.spec
        rows = []
        for row in spec.rows:
            record = done.get(row.run)
            if record is None or record["status"] != "ok":
                continue
            params = spec.sets[row.set].params
            metrics = record["metrics"]
            rows.append({"set": row.set, **{p: _cell(params.get(p)) for p in spec.parameters},
                         "mechanism": row.mechanism, "seed": row.seed, "run": row.run,
                         **{c: _number(metrics.get(c)) for c in METRIC_COLUMNS}})
        columns = ["set", *spec.parameters, "mechanism", "seed", "run", *METRIC_COLUMNS]
        return pd.DataFrame(rows, columns=columns)

    def manifest(self, done: dict[int, dict], extra: dict) -> dict:
        from sandbox.results import FORMAT, FORMAT_VERSION, MANIFEST, jsonable
        from sandbox.simulation import check_scenario

        spec = self.spec
        runs = []
        for run in spec.runs:
            record = done.get(run.run)
            entry = dict(record["entry"]) if record else {"run": run.run, "mechanism": run.mechanism,
                                                          "seed": run.seed, "status": "missing"}
            entry["sets"] = sorted({r.set for r in spec.rows if r.run == run.run})
            runs.append(entry)
        params = {str(s.index): {m: check_scenario(sc, m).as_dict() for m in spec.mechanisms}
                  for s, sc in zip(spec.sets, spec.scenarios)}
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION, "kind": "sweep",
            "scenario": jsonable(spec.base.as_dict()),
            "sweep": jsonable(spec.manifest()),
            "mechanisms": list(spec.mechanisms),
            "mechanism_params": jsonable(params),
            "seeds": [int(s) for s in spec.seeds],
            "backend": spec.backend,
            **jsonable(extra),
            **environment(),
            "files": [SUMMARY, AGGREGATE, *(f"{t}/" for t in TABLES), MANIFEST],
            "runs": runs,
        }


def _link(source: Path, target: Path) -> None:
    """``target`` as a hard link to ``source`` (a copy where links are not possible)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _cell(value):
    return value if isinstance(value, (str, int, float, bool)) or value is None else json.dumps(value)


def _number(value) -> float:
    """A metric from the journal (JSON: NaN and infinities as written by Python's json)."""
    if value is None:
        return math.nan
    return value


def missing_runs(spec: SweepSpec, done: dict[int, dict]) -> list[int]:
    """The runs still to do: never finished, or failed (a resume tries a failed run again)."""
    return [r.run for r in spec.runs if done.get(r.run, {}).get("status") != "ok"]


__all__ = ["JOURNAL", "SweepStore", "missing_runs", "partial_dir"]
