"""Run a planned sweep into its folder: skip what is done, run the rest on a backend, keep the index current.

Order of events (so that bad input writes nothing): the plan is validated and the target folder checked by the
caller; :func:`run_sweep` starts the backend (a Ray cluster may be unreachable) before it creates anything on disk.
"""

from __future__ import annotations

import fcntl
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from twin.errors import InputError
from twin.recording.run_folder import write_run_folder
from twin.sweeps import index
from twin.sweeps.execute import Outcome, Task
from twin.sweeps.plan import Plan

INDEX_EVERY_S = 1.0  # rewrite runs.parquet at most this often while runs finish (and always at the end)


@dataclass
class SweepReport:
    out: Path
    index: pd.DataFrame
    n_skipped: int                  # already done before this invocation
    n_ran: int                      # finished in this invocation (ok or failed)
    wall_s: float
    stale: list[str] = field(default_factory=list)
    cleaned: list[str] = field(default_factory=list)

    @property
    def n_failed(self) -> int:
        return int((self.index["status"] == "failed").sum())

    @property
    def n_pending(self) -> int:
        return int((self.index["status"] == "pending").sum())


def run_sweep(plan: Plan, out: Path, backend, *, progress: bool = False,
              on_result: Callable[[dict[str, Any]], None] | None = None) -> SweepReport:
    """Run every unfinished run of ``plan`` into ``out`` and return the final index.

    ``on_result(row)`` is called in the driver after each run is recorded. KeyboardInterrupt stops the backend,
    writes a consistent index (finished runs ok / failed, the rest pending) and propagates.
    """
    out = Path(out)
    index.check_out(out, plan.sweep.name)
    backend.start()  # may raise InputError (Ray missing or unreachable): nothing written yet
    wall0 = time.perf_counter()
    lock = None
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock = _lock(out)
        cleaned = index.clean_leftovers(out)
        index.write_markers(out, plan)
        (out / "runs").mkdir(exist_ok=True)
        swept = plan.sweep.spec.swept
        rows: dict[str, dict[str, Any]] = {}
        todo = []
        for run in plan.runs:
            summary = index.finished(out, run)
            if summary is not None and summary.get("status") == "ok":
                rows[run.run_id] = index.row(run, "ok", summary=summary)
            else:
                rows[run.run_id] = index.row(run)
                todo.append(run)
        n_skipped = len(plan.runs) - len(todo)
        by_id = {run.run_id: run for run in plan.runs}
        index.write_index(out, list(rows.values()), swept)
        tasks = [Task(run.run_id, run.resolved_yaml, run.hash, str(plan.base_dir),
                      str(out / run.path) if backend.writes_in_worker else None,
                      {"name": plan.sweep.name, "run_id": run.run_id, "overrides": rows[run.run_id]["overrides"]})
                 for run in todo]
        bar = _bar(plan, n_skipped, progress)
        n_ran, last_write = 0, time.monotonic()
        try:
            for outcome in backend.run(tasks) if tasks else ():
                run = by_id[outcome.run_id]
                rows[run.run_id] = _record(out, run, outcome)
                n_ran += 1
                if bar is not None:
                    bar.update(1)
                if time.monotonic() - last_write >= INDEX_EVERY_S:
                    index.write_index(out, list(rows.values()), swept)
                    last_write = time.monotonic()
                if on_result is not None:
                    on_result(rows[run.run_id])
            backend.close()
        except BaseException:  # KeyboardInterrupt above all: stop the workers, then record what is on disk
            backend.close(abort=True)
            index.clean_leftovers(out)
            for run in plan.runs:  # runs that finished on disk but whose news did not reach us
                if rows[run.run_id]["status"] == "pending":
                    summary = index.finished(out, run)
                    if summary is not None:
                        rows[run.run_id] = index.row(run, summary["status"], summary.get("exception", ""), summary)
            raise
        finally:
            if bar is not None:
                bar.close()
            df = index.write_index(out, list(rows.values()), swept)
        return SweepReport(out, df, n_skipped, n_ran, time.perf_counter() - wall0, index.stale_folders(out, plan),
                           cleaned)
    finally:
        if lock is not None:
            lock.close()
        backend.close(abort=True)


def _record(out: Path, run, outcome: Outcome) -> dict[str, Any]:
    """Write the run folder when the worker sent its tables, and make its index row."""
    if outcome.payload is not None:
        tables, resolved_yaml, summary, log, files = outcome.payload
        write_run_folder(out / run.path, tables, resolved_yaml, summary, overwrite=True, log=log, files=files)
    return index.row(run, outcome.status, outcome.error, outcome.summary)


def _lock(out: Path):
    """Hold an exclusive lock on the sweep folder while running (two sweeps into one folder would mix up runs)."""
    fh = open(out / ".lock", "w")  # noqa: SIM115 - held until the sweep ends
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise InputError(f"{out}: another sweep is running in this folder") from None
    return fh


def _bar(plan: Plan, n_done: int, progress: bool):
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=len(plan.runs), initial=n_done, unit="run", desc=plan.sweep.name, file=sys.stderr)

