"""The sweep folder: its marker files, the index ``runs.parquet`` (CONTRACT with twin.analysis: the column names are
fixed, see docs/sweeps.md), and what is already on disk (which runs are done, leftovers of killed writes).

```
DIR/sweep.json        {"name", "n_runs", "base", "created"}: marks DIR as a sweep folder
DIR/sweep.yaml        the sweep as resolved (reruns with: python -m twin.sweep DIR/sweep.yaml --out DIR)
DIR/runs.parquet      one row per run
DIR/runs/<run_id>/    one run folder each, exactly as python -m twin.run writes it
```
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from twin.errors import InputError
from twin.recording.run_folder import is_complete
from twin.sweeps.plan import Plan, PlannedRun, scenario_hash
from twin.sweeps.spec import flow

MARKER = "sweep.json"
INDEX = "runs.parquet"

# column -> pandas dtype, in order; the swept fields' columns go between "overrides" and "error"
HEAD = {"run_id": "string", "path": "string", "status": "string", "hash": "string", "seed": "int64",
        "overrides": "string"}
TAIL = {"error": "string", "rounds": "Int64", "stop_reason": "string", "final_accuracy": "float64",
        "best_accuracy": "float64", "sim_time_s": "float64", "bytes_down": "float64", "bytes_up": "float64",
        "participations": "Int64", "time_to_target_s": "float64", "time_to_target_round": "float64",
        "wall_s": "float64"}
METRICS = tuple(TAIL)[1:]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give; mkstemp's files are private (0600)


def check_out(out: Path, name: str) -> bool:
    """May the sweep ``name`` write into ``out``? True when ``out`` already holds this sweep (a resume)."""
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    if not out.is_dir() or not any(out.iterdir()):
        return False
    marker = out / MARKER
    if not marker.is_file():
        raise InputError(f"{out}: folder exists, is not empty and is not a sweep folder (no {MARKER}); "
                         "choose another --out")
    try:
        previous = json.loads(marker.read_text(encoding="utf-8"))["name"]
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(f"{marker}: damaged sweep marker; choose another --out") from None
    if previous != name:
        raise InputError(f"{out}: holds the sweep {previous!r}, not {name!r}; choose another --out")
    return True


def write_markers(out: Path, plan: Plan) -> None:
    """``sweep.yaml`` (the sweep as resolved) and ``sweep.json`` (kept ``created`` when resuming)."""
    created = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    try:
        created = json.loads((out / MARKER).read_text(encoding="utf-8")).get("created", created)
    except (OSError, ValueError):
        pass
    resolved = plan.sweep.resolved(plan.base_ref)
    atomic_write(out / "sweep.yaml", yaml.safe_dump(resolved, sort_keys=False, width=120, default_flow_style=None).encode())
    marker = {"name": plan.sweep.name, "n_runs": len(plan.runs), "base": plan.base_ref, "created": created}
    atomic_write(out / MARKER, (json.dumps(marker, indent=2) + "\n").encode())


def atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def clean_leftovers(out: Path) -> list[str]:
    """Remove the temporary folders and files of writes that were killed half way; return their names."""
    removed = []
    for folder in (out, out / "runs"):
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if entry.name.startswith(".") and (".tmp-" in entry.name or ".old-" in entry.name):
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
                removed.append(entry.name)
    return removed


def stale_folders(out: Path, plan: Plan) -> list[str]:
    """Run folders under ``out/runs`` that belong to no run of this sweep (left in place, reported)."""
    ids = {run.run_id for run in plan.runs}
    runs = out / "runs"
    return sorted(p.name for p in runs.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in ids) \
        if runs.is_dir() else []


def finished(out: Path, run: PlannedRun) -> dict | None:
    """The summary of a run already on disk for this exact resolved scenario, else None (it must run)."""
    folder = out / run.path
    if not is_complete(folder):
        return None
    try:
        if scenario_hash((folder / "scenario.resolved.yaml").read_text(encoding="utf-8")) != run.hash:
            return None
        return json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def row(run: PlannedRun, status: str = "pending", error: str = "", summary: dict | None = None) -> dict[str, Any]:
    """One index row. Swept fields keep their values (mappings and lists as YAML flow text)."""
    out: dict[str, Any] = {"run_id": run.run_id, "path": run.path, "status": status, "hash": run.hash,
                           "seed": run.seed, "overrides": flow(run.point.overrides) if run.point.overrides else "{}"}
    for key, value in run.point.swept.items():
        out[key] = flow(value) if isinstance(value, (dict, list)) else value
    out["error"] = error
    out.update(dict.fromkeys(METRICS))
    if summary is not None:
        hit = summary.get("time_to_target") or {}
        out.update(rounds=summary.get("rounds"), stop_reason=summary.get("stop_reason"),
                   final_accuracy=summary.get("final_accuracy"), best_accuracy=summary.get("best_accuracy"),
                   sim_time_s=summary.get("sim_time_s"), bytes_down=summary.get("bytes_down"),
                   bytes_up=summary.get("bytes_up"), participations=summary.get("participations"),
                   time_to_target_s=hit.get("sim_time_s"), time_to_target_round=hit.get("round"),
                   wall_s=(summary.get("runtime_s") or {}).get("total"))
    return out


def index_frame(rows: list[dict[str, Any]], swept: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=[*HEAD, *swept, *TAIL])
    for column, dtype in {**HEAD, **TAIL}.items():
        values = df[column].map(lambda v: math.nan if v is None else v) if dtype.startswith("float") else df[column]
        df[column] = values.astype(dtype)
    for column in swept:
        df[column] = _uniform(df[column])
    return df


def _uniform(column: pd.Series) -> pd.Series:
    """A swept column Parquet can store: numbers stay numbers, bools bools, anything mixed becomes text."""
    values = list(column)
    kinds = {type(v) for v in values if v is not None}
    if kinds <= {int, float} or kinds <= {bool} or kinds <= {str}:
        return column
    return column.map(lambda v: None if v is None else (v if isinstance(v, str) else flow(v))).astype("string")


def write_index(out: Path, rows: list[dict[str, Any]], swept: list[str]) -> pd.DataFrame:
    """Rewrite ``out/runs.parquet`` atomically (temp file, then os.replace)."""
    df = index_frame(rows, swept)
    fd, tmp = tempfile.mkstemp(prefix=f".{INDEX}.tmp-", dir=out)
    os.fchmod(fd, _FILE_MODE)
    os.close(fd)
    try:
        df.to_parquet(tmp, index=False)
        os.replace(tmp, out / INDEX)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return df
