"""What a worker does with one run, whichever backend started it (a pool process or a Ray task).

This module is imported by every worker, so it keeps its imports light: torch and the simulator load on first use,
after :func:`limit_threads` has pinned the math libraries to the task's thread count (``twin.threads``; 1 unless the
sweep's ``--threads`` says otherwise: one run per core, more threads per run only fight over the cores the other
workers use).
"""

from __future__ import annotations

import os
import signal
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Task:
    """One run to execute. ``out_dir`` set: the worker writes the run folder there itself (workers share the disk
    with the driver); ``None``: it returns the tables and the driver writes them (a Ray cluster's other nodes)."""

    run_id: str
    resolved_yaml: str
    hash: str
    base_dir: str
    out_dir: str | None
    sweep: dict[str, Any]           # recorded in summary.json under "sweep" (name, run_id, overrides)
    threads: int = 1                # math threads of the run (the sweep's --threads; one per worker by default)


@dataclass
class Outcome:
    run_id: str
    status: str                     # "ok" | "failed"
    error: str = ""
    summary: dict[str, Any] | None = None
    payload: tuple | None = None    # (tables, resolved_yaml, summary, log, files) when the driver writes the folder


def limit_threads(n: int = 1) -> None:
    """``n`` threads for torch / BLAS in this process (before torch is imported, and again if it already is)."""
    from twin.threads import apply_threads

    apply_threads(n)


def init_worker(driver_pid: int | None = None, threads: int = 1) -> None:
    """Pool initializer: Ctrl-C is the driver's to handle (it stops the pool), the sweep's math threads (one by
    default) set before torch starts, and the worker dies with the driver (a killed driver never leaves a worker
    running on alone)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(driver_pid)
    limit_threads(threads)


def die_with_parent(parent: int | None = None) -> None:
    """Linux: ask the kernel to SIGKILL this process when its parent dies (prctl PR_SET_PDEATHSIG); elsewhere nothing.
    ``parent``: the pid the parent had when it started us (it may already be gone by the time we get here)."""
    parent = os.getppid() if parent is None else parent
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def run_task(task: Task) -> Outcome:
    """Run one scenario. Never raises for a failing run: the failure comes back as an ``Outcome`` to record."""
    limit_threads(task.threads)
    try:
        import yaml

        from twin.run import run_scenario, simulate_with_threads
        from twin.scenario.loading import resolved_yaml
        from twin.scenario.schema import ScenarioConfig
        from twin.sweeps.plan import scenario_hash

        config = ScenarioConfig.model_validate(yaml.safe_load(task.resolved_yaml))
        if scenario_hash(resolved_yaml(config)) != task.hash:
            return Outcome(task.run_id, "failed", "the scenario resolves differently on this worker than on the driver "
                                                  "(different twin versions?)")

        def tag(result) -> None:
            result.summary["sweep"] = task.sweep

        base_dir = Path(task.base_dir)
        if task.out_dir is not None:
            result = run_scenario(config, Path(task.out_dir), base_dir=base_dir, overwrite=True, before_write=tag,
                                  threads=(task.threads, "sweep"))
            payload = None
        else:
            result = simulate_with_threads(config, base_dir=base_dir, threads=(task.threads, "sweep"))
            tag(result)
            payload = (result.tables, result.resolved_yaml, result.summary, result.log, result.files)
        summary = result.summary
        return Outcome(task.run_id, summary["status"], summary.get("exception", "") if summary["status"] != "ok"
                       else "", summary, payload)
    except Exception as exc:  # an input error found only at build time (a missing data set) or a bug: record it
        return Outcome(task.run_id, "failed", "".join(traceback.format_exception_only(exc)).strip().splitlines()[-1])
