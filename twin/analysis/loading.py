"""Reading saved run folders into pandas: one run, a folder of runs, or a sweep folder (``twin.sweep``'s output).

``open_runs(DIR)`` finds the runs, checks each folder and returns a :class:`RunSet`; ``load_runs`` /
``load_rounds`` / ``load_timeline`` are its tables. A run folder that is incomplete (a file missing, ``summary.json``
unreadable), corrupt (a Parquet file that does not parse), failed or still pending keeps its row in ``load_runs``
with ``status`` and ``problem`` set, raises a :class:`RunFolderWarning` naming it, and is left out of every other
table, so a damaged run is never mixed into a result silently.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from twin.analysis.labels import strategy_labels
from twin.analysis.metrics import run_metrics
from twin.errors import InputError
from twin.recording.manifest import verify_manifest
from twin.recording.run_folder import RUN_FILES
from twin.scenario.loading import compose_checked

SWEEP_MARKER = "sweep.json"
SWEEP_INDEX = "runs.parquet"
# Columns of the sweep index that are not swept fields (twin.sweep's contract).
INDEX_HEAD = ("run_id", "path", "status", "hash", "seed", "overrides")
INDEX_TAIL = ("error", "rounds", "stop_reason", "final_accuracy", "best_accuracy", "sim_time_s", "bytes_down",
              "bytes_up", "participations", "time_to_target_s", "time_to_target_round", "wall_s")
# Headline values copied from summary.json.
# Outside a sweep, runs that differ in more scenario fields than this are labelled by their folder names.
MAX_VARYING = 4
# A rounds table with this column is an asynchronous run's: one row per server step (twin.sim.async_rounds).
ASYNC_COLUMN = "staleness_mean"
SUMMARY_COLUMNS = ("rounds", "stop_reason", "bytes_down", "bytes_up", "participations", "completed", "n_clients")


class AnalysisError(InputError):
    """The folder given to the analysis cannot be read as runs (one line; the CLIs exit with status 2)."""


class RunFolderWarning(UserWarning):
    """A run folder was skipped: incomplete, corrupt, failed or pending. The message names the folder."""


@dataclass
class RunSet:
    """The runs under one folder. ``kind``: 'run' (DIR is a run folder), 'folder' (DIR holds run folders) or 'sweep'.
    ``runs``: one row per run (see :func:`load_runs`). ``swept``: the sweep's swept columns (or, outside a sweep,
    the scenario fields that differ between runs), the seed excluded."""

    root: Path
    kind: str
    runs: pd.DataFrame
    swept: list[str]
    sweep: dict[str, Any] = field(default_factory=dict)
    scenarios: dict[str, dict] = field(default_factory=dict, repr=False)  # run_id -> resolved scenario (good runs)
    _rounds: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def ok(self) -> pd.DataFrame:
        """The rows of the runs that are complete and succeeded."""
        return self.runs[self.runs["status"] == "ok"]

    def run_dir(self, run_id: str | None = None) -> Path:
        """One run's folder: ``run_id``, or the first good run. Raises AnalysisError when there is none."""
        ok = self.ok
        if run_id is None:
            if ok.empty:
                raise AnalysisError(f"{self.root}: no complete run to read")
            return Path(ok["path"].iloc[0])
        hit = self.runs[self.runs["run_id"] == str(run_id)]
        if hit.empty:
            raise AnalysisError(f"{self.root}: no run {run_id!r} (runs: {', '.join(self.runs['run_id'][:8])}"
                                f"{' ...' if len(self.runs) > 8 else ''})")
        if hit["status"].iloc[0] != "ok":
            raise AnalysisError(f"{hit['path'].iloc[0]}: run {run_id} is {hit['status'].iloc[0]}: "
                                f"{hit['problem'].iloc[0]}")
        return Path(hit["path"].iloc[0])

    def metrics(self, target: float | None, floor_decimals: int | None = None) -> pd.DataFrame:
        """The metrics of :func:`run_metrics` for every good run at one common ``target`` accuracy (indexed by
        ``run_id``); ``floor_decimals`` defaults to each run's own ``fl.stop.floor_decimals``."""
        if self.ok.empty:
            return pd.DataFrame()
        per_run = dict(tuple(self.rounds().groupby("run_id", observed=True, sort=False)))
        rows = {}
        for run_id, floor in zip(self.ok["run_id"], self.ok["floor_decimals"], strict=True):
            floor = floor_decimals if floor_decimals is not None else (None if pd.isna(floor) else int(floor))
            rows[run_id] = run_metrics(per_run.get(run_id, self.rounds().iloc[:0]), target, floor)
        return pd.DataFrame.from_dict(rows, orient="index")

    def rounds(self) -> pd.DataFrame:
        """Every good run's rounds table, stacked, with the run columns in front (read once, then cached)."""
        if self._rounds is None:
            self._rounds = self.table("rounds")
        return self._rounds

    def table(self, name: str, *, kinds: Iterable[str] | None = None, names: Iterable[str] | None = None,
              columns: list[str] | None = None, run_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """One table (rounds, timeline, samples, clients ...) of every good run, stacked, with ``run_id``, ``seed``,
        ``strategy`` and the swept columns in front. ``kinds`` filters timeline rows by kind, ``names`` samples
        by name; ``columns`` reads only those columns."""
        ok = self.ok if run_ids is None else self.ok[self.ok["run_id"].isin(list(run_ids))]
        filters = None
        if kinds is not None:
            filters = [("kind", "in", list(kinds))]
        elif names is not None:
            filters = [("name", "in", list(names))]
        front = ["run_id", "seed", "strategy", *self.swept]
        parts = []
        for _, run in ok.iterrows():
            path = Path(run["path"]) / f"{name}.parquet"
            if not path.is_file():
                continue
            try:
                df = pd.read_parquet(path, columns=columns, filters=filters)
            except Exception as exc:  # noqa: BLE001 - a file damaged since open_runs checked it, a missing column
                raise AnalysisError(f"{path}: cannot read ({type(exc).__name__}: {_first_line(exc)})") from None
            for col in reversed(front):
                df.insert(0, col, run[col]) if col not in df else None
            parts.append(df)
        if not parts:
            return pd.DataFrame(columns=front)
        out = pd.concat(parts, ignore_index=True)
        for col in ("run_id", "strategy"):
            out[col] = out[col].astype("category")
        return out


def open_runs(path: str | Path, *, target: float | None = None) -> RunSet:
    """Find and check the runs under ``path`` (a run folder, a folder of run folders, or a sweep folder).

    ``target``: the accuracy the ``*_to_target`` columns refer to (default: each run's own
    ``fl.stop.target_accuracy``, if any). Raises :class:`AnalysisError` when ``path`` holds no runs at all, or cannot
    be read (the only exception the analysis raises for anything found on disk).
    """
    try:
        return _open_runs(path, target)
    except InputError:
        raise
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise AnalysisError(f"{path}: cannot be read as runs ({type(exc).__name__}: {_first_line(exc)})") from None


def _open_runs(path: str | Path, target: float | None) -> RunSet:
    root = Path(path)
    if not root.exists():
        raise AnalysisError(f"{root}: not found")
    if not root.is_dir():
        raise AnalysisError(f"{root}: not a folder (give a run folder, a sweep folder or a folder of runs)")
    sweep: dict[str, Any] = {}
    if (root / SWEEP_MARKER).is_file():
        kind = "sweep"
        sweep, index = _read_sweep(root)
        entries = [(str(r["run_id"]), root / str(r["path"]), r) for r in index.to_dict("records")]
        inside = root.resolve()
        for i, (run_id, folder, r) in enumerate(entries):
            if not folder.resolve().is_relative_to(inside):  # a damaged or hostile index: never read outside
                entries[i] = (run_id, folder, {**r, "status": "outside"})
        swept = [c for c in index.columns if c not in INDEX_HEAD and c not in INDEX_TAIL]
    elif _looks_like_run(root):
        kind, entries, swept = "run", [(root.name, root, None)], []
    else:
        kind = "folder"
        entries = [(p.name, p, None) for p in sorted(root.iterdir())
                   if p.is_dir() and not p.name.startswith(".") and _looks_like_run(p)]
        if not entries:
            raise AnalysisError(f"{root}: not a run folder, not a sweep folder ({SWEEP_MARKER}) and holds no run "
                                "folders")
        swept = []
    rows, resolved = [], []
    for run_id, folder, index_row in entries:
        row, scenario = _read_run(run_id, folder, index_row, target)
        rows.append(row)
        resolved.append(scenario)
    _warn_problems(root, rows)
    for row in rows:
        row.pop("verified", None)
    runs = pd.DataFrame(rows)
    default = runs["scenario"] if "scenario" in runs else runs["run_id"]
    if kind != "sweep":
        swept = _varying_fields(resolved, runs["status"] == "ok")
        if len(swept) > MAX_VARYING:  # not a designed comparison: name each run by its folder
            swept, default = [], runs["run_id"]
        for col in swept:
            runs[col] = [flat(s).get(col) if s else None for s in resolved]
    runs["strategy"] = strategy_labels(runs, swept, default=default)
    scenarios = {row["run_id"]: s for row, s in zip(rows, resolved, strict=True) if row["status"] == "ok" and s}
    return RunSet(root, kind, _order(runs, swept), swept, sweep, scenarios)


def load_runs(path: str | Path, *, target: float | None = None) -> pd.DataFrame:
    """One row per run under ``path``: ``run_id``, ``path`` (absolute), ``status`` ('ok', 'failed', 'pending',
    'incomplete', 'corrupt'), ``problem``, ``seed``, ``strategy`` (a label of the swept values), the swept columns
    (sweep) or the scenario fields that differ between runs (folder of runs), the scenario's ``schedule`` kind and
    ``weighting``, headline values from ``summary.json`` and the metrics of :func:`twin.analysis.metrics.run_metrics`
    computed from ``rounds.parquet``. Rows whose status is not 'ok' carry no metrics."""
    return open_runs(path, target=target).runs


def load_rounds(path: str | Path) -> pd.DataFrame:
    """Every good run's ``rounds.parquet`` stacked, with ``run_id``, ``seed``, ``strategy`` and swept columns."""
    return open_runs(path).rounds()


def load_timeline(path: str | Path, kinds: Iterable[str] | None = None,
                  columns: list[str] | None = None) -> pd.DataFrame:
    """Every good run's ``timeline.parquet`` stacked (``kinds``: only those event kinds), with the run columns."""
    return open_runs(path).table("timeline", kinds=kinds, columns=columns)


def load_samples(path: str | Path, names: Iterable[str] | None = None) -> pd.DataFrame:
    """Every good run's ``samples.parquet`` stacked (``names``: only those probes), with the run columns."""
    return open_runs(path).table("samples", names=names)


# ------------------------------------------------------------------------------------------------------ internals


def _looks_like_run(folder: Path) -> bool:
    return any((folder / name).exists() for name in RUN_FILES)


def _read_sweep(root: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    try:
        marker = json.loads((root / SWEEP_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AnalysisError(f"{root / SWEEP_MARKER}: damaged sweep marker ({exc})") from None
    index_path = root / SWEEP_INDEX
    try:
        index = pd.read_parquet(index_path)
    except FileNotFoundError:
        raise AnalysisError(f"{index_path}: sweep index missing (the sweep never started?)") from None
    except Exception as exc:  # a damaged Parquet file has several exception types
        raise AnalysisError(f"{index_path}: cannot read the sweep index: {exc}") from None
    missing = [c for c in ("run_id", "path", "status") if c not in index]
    if missing:
        raise AnalysisError(f"{index_path}: not a sweep index (no column {', '.join(missing)})")
    if index.empty:
        raise AnalysisError(f"{root}: the sweep has no runs")
    return marker, index


def check_run_folder(folder: Path) -> tuple[str, str, dict[str, Any]]:
    """(status, problem, summary) of one run folder: 'ok' / 'failed' / 'incomplete' / 'corrupt'. A folder whose
    manifest.json does not match its files is 'corrupt'; one without a manifest (written before twin kept one) is
    accepted and its summary marked ``_unverified`` (the caller warns once)."""
    if not folder.is_dir():
        return "incomplete", "run folder missing", {}
    missing = [name for name in RUN_FILES if not (folder / name).is_file()]
    if missing:
        return "incomplete", f"missing {', '.join(missing)}", {}
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        if not isinstance(summary, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        return "incomplete", f"summary.json unreadable ({exc})", {}
    damage = verify_manifest(folder, required=RUN_FILES)
    if damage:
        return "corrupt", damage, summary if isinstance(summary, dict) else {}
    for path in sorted(folder.glob("*.parquet")):
        try:
            pq.read_metadata(path)
        except Exception as exc:  # truncated / overwritten files raise ArrowInvalid, OSError ...
            return "corrupt", f"{path.name} does not parse ({str(exc).splitlines()[0]})", summary
    if damage is None:
        summary = {**summary, "_unverified": True}
    if summary.get("status", "ok") != "ok":
        error = summary.get("error") or summary.get("exception") or "no message"
        error = error.get("message", error) if isinstance(error, dict) else error
        return "failed", f"the run failed: {str(error).splitlines()[0] if str(error) else 'no message'}", summary
    return "ok", "", summary


def _read_run(run_id: str, folder: Path, index_row: dict | None, target: float | None
              ) -> tuple[dict[str, Any], dict | None]:
    row: dict[str, Any] = {"run_id": run_id, "path": str(folder.resolve()), "status": "ok", "problem": ""}
    if index_row is not None and index_row.get("status") == "outside":
        row.update(status="corrupt", problem=f"the sweep index points outside the sweep folder ({index_row['path']})")
        return row, None
    if index_row is not None:
        row.update({k: v for k, v in index_row.items() if k not in ("run_id", "path", "status") and
                    k not in INDEX_TAIL[1:]})
        row["error"] = index_row.get("error")
        if index_row["status"] == "pending" and not (folder / "summary.json").is_file():
            row.update(status="pending", problem="not run yet")
            return row, None
    status, problem, summary = check_run_folder(folder)
    if status == "ok" and index_row is not None and index_row["status"] == "failed":
        status, problem = "failed", f"the sweep marked it failed: {index_row.get('error') or 'no message'}"
    row.update(status=status, problem=problem)
    scenario = None
    if status == "ok":
        try:
            resolved = folder / "scenario.resolved.yaml"
            scenario, _ = compose_checked(resolved.read_text(encoding="utf-8"), str(resolved))
            if not isinstance(scenario, dict):
                raise ValueError("scenario.resolved.yaml is not a mapping")
            scenario.pop("derived", None)  # values the build computed, not inputs (twin.sim.derived)
            rounds = pd.read_parquet(folder / "rounds.parquet")
            fl = _mapping(scenario.get("fl"))
            stop = _mapping(fl.get("stop"))
            goal = target if target is not None else stop.get("target_accuracy", summary.get("target_accuracy"))
            row.update({"scenario": summary.get("name", scenario.get("name")),
                        "seed": summary.get("seed", row.get("seed")),
                        "schedule": _mapping(fl.get("schedule")).get("kind"),
                        "weighting": _mapping(fl.get("strategy")).get("weighting"),
                        # fedasync / fedbuff: rows are server steps, not rounds, and fl.schedule is unused
                        "asynchronous": ASYNC_COLUMN in rounds})
            if row["asynchronous"]:
                row["schedule"] = None
            row.update({k: summary.get(k) for k in SUMMARY_COLUMNS})
            row["wall_s"] = _mapping(summary.get("runtime_s")).get("total")
            row["floor_decimals"] = stop.get("floor_decimals")
            row.update(run_metrics(rounds, goal, stop.get("floor_decimals")))
            row["verified"] = not summary.get("_unverified", False)
        except Exception as exc:  # noqa: BLE001 - any damage (schema, types, parse) makes the run 'corrupt', never a crash
            row = {k: row[k] for k in ("run_id", "path", "status", "problem") if k in row}
            row.update(status="corrupt", problem=f"cannot read ({type(exc).__name__}: {_first_line(exc)})")
            return row, None
    elif summary:
        row.update({"scenario": summary.get("name"), "seed": summary.get("seed", row.get("seed"))})
    return row, scenario


def _mapping(value: Any) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"expected a mapping, got {type(value).__name__}")
    return value


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no message"


def _warn_problems(root: Path, rows: list[dict[str, Any]]) -> None:
    unverified = [r for r in rows if r["status"] == "ok" and r.get("verified") is False]
    if unverified:
        warnings.warn(f"{root}: {len(unverified)} of {len(rows)} run folders have no manifest.json (written by an "
                      "older twin): their files cannot be checked for damage", RunFolderWarning, stacklevel=3)
    pending = [r for r in rows if r["status"] == "pending"]
    if pending:
        warnings.warn(f"{root}: {len(pending)} of {len(rows)} runs not run yet (pending); skipped",
                      RunFolderWarning, stacklevel=3)
    for r in rows:
        if r["status"] not in ("ok", "pending"):
            warnings.warn(f"{r['path']}: {r['status']} run folder: {r['problem']}; skipped", RunFolderWarning,
                          stacklevel=3)


def flat(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested scenario as {dotted.path: leaf value}."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flat(value, name + "."))
        else:
            out[name] = value
    return out


_NOT_A_STRATEGY = ("name", "description", "seed", "output.")


def _varying_fields(scenarios: list[dict | None], ok: pd.Series) -> list[str]:
    """Scenario fields (dotted) whose values differ between the good runs: what tells runs apart outside a sweep."""
    flats = [flat(s) for s, good in zip(scenarios, ok, strict=True) if s and good]
    if len(flats) < 2:
        return []
    keys = sorted(set().union(*flats), key=lambda k: list(flats[0]).index(k) if k in flats[0] else math.inf)
    return [k for k in keys if not k.startswith(_NOT_A_STRATEGY) and
            len({json.dumps(f.get(k), sort_keys=True, default=str) for f in flats}) > 1]


def _order(runs: pd.DataFrame, swept: list[str]) -> pd.DataFrame:
    first = ["run_id", "path", "status", "problem", "strategy", "seed", *swept]
    return runs[[c for c in first if c in runs] + [c for c in runs if c not in first]]
