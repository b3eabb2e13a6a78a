"""Run a built scenario to the end and collect its tables and summary (no file I/O here; see twin.run)."""

from __future__ import annotations

import logging
import platform
import resource
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import simpy

from twin.scenario.loading import resolved_yaml
from twin.scenario.schema import ScenarioConfig
from twin.sim.access import Access
from twin.sim.build import build
from twin.sim.derived import derive
from twin.sim.env import TwinEnv
from twin.sim.probes import NetworkProbe
from twin.sim.rounds import run_server
from twin.sim.runlog import capture, log


@dataclass
class RunResult:
    config: ScenarioConfig
    tables: dict[str, pd.DataFrame]
    summary: dict[str, Any]
    resolved_yaml: str
    env: TwinEnv
    log: str = ""  # the run's log lines (run.log)
    files: dict[str, bytes] = field(default_factory=dict)  # more run-folder files (the TensorBoard event file)


def _peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("twin", "simpy", "numpy", "pandas", "networkx", "torch"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def simulate(config: ScenarioConfig, *, base_dir: Path | None = None,
             on_round: Callable[[int, dict], None] | None = None, log_level: int = logging.INFO) -> RunResult:
    """Build and run a scenario; returns its tables, summary and log (every ``twin`` log record of ``log_level`` and
    above while it ran). Input errors raise InputError before time starts."""
    if config.output.tensorboard:
        from twin.sim import tensorboard

        tensorboard.check_available()  # before time starts, like every input error
    with capture(log_level) as lines:
        result = _simulate(config, base_dir, on_round)
    result.log = "\n".join(lines) + "\n" if lines else ""
    if config.output.tensorboard:
        result.files.update(tensorboard.event_files(result.tables["rounds"]))
    return result


def _simulate(config: ScenarioConfig, base_dir: Path | None, on_round: Callable[[int, dict], None] | None
              ) -> RunResult:
    wall0 = time.perf_counter()
    log.debug("building %s (seed %d)", config.name, config.seed)
    env = build(config, base_dir=base_dir)
    build_s = time.perf_counter() - wall0
    try:
        end = _start_processes(env, on_round)
        if isinstance(env.access, Access):
            env.process(env.access.run())
            if config.output.sample_period_s > 0:
                env.process(env.access.sample(config.output.sample_period_s,
                                              config.radio.sample_vehicles == "all"))
        probe = NetworkProbe(env, config.output.sample_period_s) if config.output.sample_period_s > 0 else None
        if probe is not None:
            env.process(probe.run())
        run0 = time.perf_counter()
        log.info("built in %.2f s: %d clients, %d network resources; simulating %s", run0 - wall0,
                 len(env.clients), len(env.network.resources), _plan(env))
        failure = None
        try:
            env.run(until=end)
            _finish(env)
        except Exception as exc:  # a bug or a numerical failure mid-run: keep what was recorded, say what happened
            failure = exc
            env.finished_reason = "failed"
            log.error("the simulation failed at t=%.6g s: %s", env.now, exc)
        if probe is not None and failure is None:
            probe.finish()
        run_s = time.perf_counter() - run0
    finally:
        env.close()
    tables = {"timeline": env.recorder.timeline(), "rounds": env.recorder.rounds(), "samples": env.recorder.samples(),
              "clients": clients_table(env), **env.extra_tables}
    summary = make_summary(env, tables["rounds"], tables["timeline"], wall_s=time.perf_counter() - wall0,
                           build_s=build_s, run_s=run_s)
    log.info("finished (%s) after %d rounds at t=%.3f s; wall time %.2f s", env.finished_reason,
             len(tables["rounds"]), env.now, summary["runtime_s"]["total"])
    if failure is not None:
        summary["status"] = "failed"
        summary["exception"] = "".join(traceback.format_exception_only(failure)).strip()
        summary["traceback"] = "".join(traceback.format_exception(failure))
    return RunResult(config, tables, summary, resolved_yaml(config, derive(config)), env)


def _start_processes(env: TwinEnv, on_round: Callable[[int, dict], None] | None) -> simpy.Event:
    """Start the FL server (when the scenario has FL) and the traffic sources; returns the event that ends the run:
    the FL job's end, else the last scripted flow's arrival, or ``traffic.duration_s`` if that comes first."""
    traffic = env.parts.traffic
    scripted_done = traffic.start(env, env.network)
    if env.config.fl is not None:
        end = env.process(run_server(env, on_round))
    else:
        env.recorder.emit("run_start", env.now, "traffic", n_clients=0)
        end = scripted_done
    if traffic.duration_s is not None:
        deadline = env.timeout(traffic.duration_s)
        end = deadline if end is None else end | deadline
    return end


def _finish(env: TwinEnv) -> None:
    """Say why a run that the FL server did not end stopped (``traffic_done`` or ``duration``)."""
    if env.finished_reason:
        return
    traffic = env.parts.traffic
    ended = traffic.duration_s is not None and env.now >= traffic.duration_s
    env.finished_reason = "duration" if ended else "traffic_done"
    env.recorder.emit("run_end", env.now, "fl.server" if env.config.fl is not None else "traffic",
                      reason=env.finished_reason)


def _plan(env: TwinEnv) -> str:
    if env.config.fl is None:
        d = env.parts.traffic.duration_s
        return "a pure network run" + (f" of up to {d:g} s" if d is not None else "")
    return f"up to {len(env.cohort_sizes)} rounds"


def dry_build(config: ScenarioConfig, *, base_dir: Path | None = None) -> str:
    """Build everything a run of ``config`` needs and close it again, simulating nothing: files (GraphML, data set,
    road net, trace), topology and routes, vehicles and the clients on them, cells and radio, data set and partition,
    model. Raises what a run would raise at build time (an :class:`~twin.errors.InputError` naming the field or file);
    returns a one-line account of what was built."""
    wall0 = time.perf_counter()
    env = build(config, base_dir=base_dir)
    try:
        parts = [f"{len(env.clients)} clients", f"{len(env.network.resources)} link / cell directions"]
        if isinstance(env.access, Access):
            parts.append(f"{len(env.access.cells)} cells, {env.access.model.n_vehicles} vehicles")
        fl = env.workload.describe() if env.workload is not None else {}
        if "data" in fl:
            parts.append(f"data set {fl['data']} ({fl['n_train']} train, {fl['n_test']} test), model of "
                         f"{fl['model_params']} parameters")
        parts.append(f"{len(env.cohort_sizes)} rounds planned" if env.config.fl is not None else
                     f"{len(env.parts.traffic.scripted)} scripted and {len(env.parts.traffic.background)} background "
                     "traffic sources")
    finally:
        env.close()
    return f"built {', '.join(parts)} in {time.perf_counter() - wall0:.1f} s; nothing simulated"


def clients_table(env: TwinEnv) -> pd.DataFrame:
    """One row per client: its id (``client``, as in the timeline and samples) and index, where it sits, how fast it
    computes, and its data (samples, labels) when training. Columns: docs/tables.md."""
    df = pd.DataFrame({"client": pd.array([c.name for c in env.clients], dtype="string"),
                       "client_index": np.array([c.index for c in env.clients], dtype=np.int64),
                       "node": pd.array([c.node for c in env.clients], dtype="string"),
                       "flops_per_s": np.array([c.flops_per_s for c in env.clients], dtype=np.float64)})
    table = env.workload.clients_table() if env.workload is not None else None
    if table is not None:
        table = table.drop(columns=["name"], errors="ignore").rename(columns={"client": "client_index"})
        df = df.merge(table, on="client_index", how="left")
    return df


def drop_causes(timeline: pd.DataFrame) -> dict[str, int]:
    """Dropped participations per cause (what held them at the deadline: ``low_rate``, ``coverage``, ``handover``,
    ``compute``, ``unavailable`` ...), most frequent first."""
    if "cause" not in timeline:
        return {}
    counts = timeline.loc[timeline["kind"] == "client_dropped", "cause"].value_counts()
    return {str(k): int(v) for k, v in counts.items()}


def make_summary(env: TwinEnv, rounds: pd.DataFrame, timeline: pd.DataFrame, *, wall_s: float, build_s: float,
                 run_s: float) -> dict:
    cfg = env.config
    n = len(rounds)
    last = rounds.iloc[-1] if n else None
    access = env.access
    return {
        "status": "ok",
        "name": cfg.name,
        "seed": cfg.seed,
        "stop_reason": env.finished_reason,
        "rounds": n,
        "sim_time_s": float(env.now),
        "bytes_down": float(rounds["bytes_down"].sum()) if n else 0.0,
        "bytes_up": float(rounds["bytes_up"].sum()) if n else 0.0,
        "participations": int(rounds["n_selected"].sum()) if n else 0,
        "completed": int(rounds["n_completed"].sum()) if n else 0,
        "dropped": int(rounds["n_dropped"].sum()) if n else 0,
        "drop_causes": drop_causes(timeline),
        "mean_round_s": float(rounds["duration_s"].mean()) if n else 0.0,
        "final_accuracy": float(last["accuracy"]) if last is not None and pd.notna(last["accuracy"]) else None,
        "best_accuracy": float(rounds["accuracy"].max()) if n and rounds["accuracy"].notna().any() else None,
        "target_accuracy": cfg.fl.stop.target_accuracy if cfg.fl is not None else None,
        "time_to_target": _time_to_target(env, rounds),
        "fl": env.workload.describe() if env.workload is not None else {},
        "traffic": traffic_summary(timeline),
        "n_clients": len(env.clients),
        "engine": {"flow_events": env.network.n_flow_events, "rate_recomputations": env.network.n_recomputes,
                   "timeline_events": env.recorder.n_events},
        **({"radio": {"cells": len(access.cells), "vehicles": access.model.n_vehicles,
                      "handovers": access.n_handovers, "stalls": access.n_stalls}} if isinstance(access, Access) else {}),
        "runtime_s": {"total": wall_s, "build": build_s, "simulate": run_s},
        "peak_rss_mb": _peak_rss_mb(),
        "versions": _versions(),
    }


def traffic_summary(timeline: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per traffic class (``fl`` for the FL rounds' flows, a ``traffic_class`` otherwise, e.g. ``scripted``,
    ``background``): flows started, completed, cancelled and still under way at the end, bytes delivered (whole
    flows that arrived plus the bytes of cancelled ones) and the mean completion time of those that arrived."""
    if "flow" not in timeline:
        return {}
    flows = timeline[timeline["kind"].isin(["flow_start", "flow_end", "flow_cancel"])]
    cls = (flows["traffic_class"] if "traffic_class" in flows else pd.Series(pd.NA, index=flows.index, dtype="string"))
    cls = cls.fillna("fl").astype(str)
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(cls.unique()):
        rows = flows[cls == name]
        ends, cancels = rows[rows["kind"] == "flow_end"], rows[rows["kind"] == "flow_cancel"]
        started = int((rows["kind"] == "flow_start").sum())
        out[name] = {"flows": started, "completed": len(ends), "cancelled": len(cancels),
                     "unfinished": started - len(ends) - len(cancels),
                     "bytes": float(ends["bytes"].sum() + (cancels["bytes_done"].sum() if len(cancels) else 0.0)),
                     "mean_completion_s": float(ends["duration_s"].mean()) if len(ends) else None}
    return out


def _time_to_target(env: TwinEnv, rounds: pd.DataFrame) -> dict[str, Any] | None:
    """Totals up to the round that reached ``fl.stop.target_accuracy``: the stop rule ends the run at the first such
    round, so it is the last round of a run that stopped for that reason (None otherwise)."""
    if env.finished_reason != "target_accuracy" or rounds.empty:
        return None
    down, up = float(rounds["bytes_down"].sum()), float(rounds["bytes_up"].sum())
    return {"sim_time_s": float(rounds["t_end"].iloc[-1]), "bytes_down": down, "bytes_up": up,
            "bytes_total": down + up, "pushed_updates": int(rounds["n_selected"].sum()),
            "completed_updates": int(rounds["n_completed"].sum()), "round": int(rounds["round"].iloc[-1]),
            "accuracy": float(rounds["accuracy"].iloc[-1])}
