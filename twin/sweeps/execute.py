"""What a worker does with one run, whichever backend started it (a pool process or a Ray task).

This module is imported by every worker, so it keeps its imports light: torch and the simulator load on first use,
after :func:`limit_threads` has pinned the math libraries to one thread (one run per core; more threads per run only
fight over the cores the other workers use).
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


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


@dataclass
class Outcome:
    run_id: str
    status: str                     # "ok" | "failed"
    error: str = ""
    summary: dict[str, Any] | None = None
    payload: tuple | None = None    # (tables, resolved_yaml, summary, log) when the driver writes the folder


def limit_threads() -> None:
    """One thread for torch / BLAS in this process (before torch is imported, and again if it already is)."""
    for var in THREAD_VARS:
        os.environ[var] = "1"
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def init_worker(driver_pid: int | None = None) -> None:
    """Pool initializer: Ctrl-C is the driver's to handle (it stops the pool), one math thread per worker, and the
    worker dies with the driver (a killed driver never leaves a worker running on alone)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(driver_pid)
    limit_threads()


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
    limit_threads()
    try:
        import yaml

        from twin.run import run_scenario
        from twin.scenario.loading import resolved_yaml
        from twin.scenario.schema import ScenarioConfig
        from twin.sim.runner import simulate
        from twin.sweeps.plan import scenario_hash

        config = ScenarioConfig.model_validate(yaml.safe_load(task.resolved_yaml))
        if scenario_hash(resolved_yaml(config)) != task.hash:
            return Outcome(task.run_id, "failed", "the scenario resolves differently on this worker than on the driver "
                                                  "(different twin versions?)")

        def tag(result) -> None:
            result.summary["sweep"] = task.sweep

        base_dir = Path(task.base_dir)
        if task.out_dir is not None:
            result = run_scenario(config, Path(task.out_dir), base_dir=base_dir, overwrite=True, before_write=tag)
            payload = None
        else:
            result = simulate(config, base_dir=base_dir)
            tag(result)
            payload = (result.tables, result.resolved_yaml, result.summary, result.log)
        summary = result.summary
        return Outcome(task.run_id, summary["status"], summary.get("exception", "") if summary["status"] != "ok"
                       else "", summary, payload)
    except Exception as exc:  # an input error found only at build time (a missing data set) or a bug: record it
        return Outcome(task.run_id, "failed", "".join(traceback.format_exception_only(exc)).strip().splitlines()[-1])
