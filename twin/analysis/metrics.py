"""Headline metrics from a run's ``rounds`` table (pandas only): time, bytes and pushed updates to a target accuracy,
savings against a baseline run (normally the constant schedule), mean / p95 round time, dropped clients, and
:func:`run_metrics`, the flat row of all of them that the analysis tables carry.

"Pushed updates" follow the study: the sum of clients selected per round up to (and including) the stop round.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from twin.fl.stopping import reached_target  # the stop rule's own test, vectorised (one home for the rule)

__all__ = ["dropped_clients", "fixed_cohort", "reached_target", "reduction_pct", "round_times", "run_metrics",
           "savings", "time_to_target", "totals"]


def time_to_target(rounds: pd.DataFrame, target: float, floor_decimals: int | None = None) -> dict[str, Any] | None:
    """The first round reaching ``target``: its number, simulated end time, and totals up to it; None if never."""
    if rounds.empty or "accuracy" not in rounds:
        return None
    hit = np.flatnonzero(reached_target(rounds["accuracy"], target, floor_decimals))
    if hit.size == 0:
        return None
    upto = rounds.iloc[: hit[0] + 1]
    return totals(upto) | {"round": int(upto["round"].iloc[-1]), "accuracy": float(upto["accuracy"].iloc[-1])}


def totals(rounds: pd.DataFrame) -> dict[str, float]:
    """Totals over the given rounds: simulated time (end of the last), bytes, pushed updates, completed updates."""
    if rounds.empty:
        return {"sim_time_s": 0.0, "bytes_down": 0.0, "bytes_up": 0.0, "bytes_total": 0.0, "pushed_updates": 0,
                "completed_updates": 0}
    down, up = float(rounds["bytes_down"].sum()), float(rounds["bytes_up"].sum())
    return {"sim_time_s": float(rounds["t_end"].iloc[-1]), "bytes_down": down, "bytes_up": up,
            "bytes_total": down + up, "pushed_updates": int(rounds["n_selected"].sum()),
            "completed_updates": int(rounds["n_completed"].sum())}


def savings(rounds: pd.DataFrame, baseline: pd.DataFrame, *, target: float | None = None,
            floor_decimals: int | None = None) -> dict[str, Any]:
    """What a run saves against a baseline run: per metric the baseline value, this run's value and the reduction
    in percent (positive = this run uses less). With a target, both runs are cut at the round that reaches it (the
    comparison is marked ``reached: false`` if either never does, and then uses whole runs)."""
    basis = "whole run"
    mine, theirs = totals(rounds), totals(baseline)
    reached = None
    if target is not None:
        a, b = time_to_target(rounds, target, floor_decimals), time_to_target(baseline, target, floor_decimals)
        reached = a is not None and b is not None
        if reached:
            mine, theirs, basis = a, b, f"until accuracy {target}"
    out: dict[str, Any] = {"basis": basis}
    if reached is not None:
        out["reached"] = reached
    for key in ("pushed_updates", "bytes_total", "bytes_up", "bytes_down", "sim_time_s"):
        base, value = float(theirs[key]), float(mine[key])
        out[key] = {"baseline": base, "run": value, "saved": base - value,
                    "reduction_pct": 100.0 * (base - value) / base if base > 0 else math.nan}
    return out


def savings_text(vs: dict[str, Any]) -> str:
    """One line of a :func:`savings` result in the convention of every table and plot: percent saved against the
    baseline, positive = less than the baseline, negative = more: ``saved: updates 68.3%, bytes 40.1%, time -5.0%
    (until accuracy 0.9)``."""
    parts = [f"{label} {vs[key]['reduction_pct']:.1f}%" for label, key in
             (("updates", "pushed_updates"), ("bytes", "bytes_total"), ("time", "sim_time_s"))]
    return f"saved: {', '.join(parts)} ({vs['basis']}; negative: more than the baseline)"


def round_times(rounds: pd.DataFrame) -> dict[str, float]:
    """Mean and 95th percentile of the round duration (simulated seconds); NaN for an empty table."""
    d = rounds["duration_s"].to_numpy(dtype=np.float64) if len(rounds) else np.empty(0)
    if d.size == 0:
        return {"mean_round_s": math.nan, "p95_round_s": math.nan}
    return {"mean_round_s": float(d.mean()), "p95_round_s": float(np.percentile(d, 95))}


def dropped_clients(rounds: pd.DataFrame) -> dict[str, float]:
    """Participations dropped (deadline, lost coverage) over the run, and their share of the participations."""
    dropped = int(rounds["n_dropped"].sum()) if len(rounds) else 0
    selected = int(rounds["n_selected"].sum()) if len(rounds) else 0
    return {"dropped": dropped, "drop_rate": dropped / selected if selected else math.nan}


def fixed_cohort(rounds: pd.DataFrame) -> float:
    """Clients per round when every round selects the same number (a constant schedule), else NaN."""
    n = rounds["n_selected"].dropna().unique() if len(rounds) else []
    return float(n[0]) if len(n) == 1 else math.nan


def reduction_pct(value: float, baseline: float) -> float:
    """How much less ``value`` is than ``baseline``, in percent of the baseline (positive = less)."""
    if baseline is None or value is None or not np.isfinite(baseline) or not np.isfinite(value) or baseline <= 0:
        return math.nan
    return 100.0 * (baseline - value) / baseline


def run_metrics(rounds: pd.DataFrame, target: float | None = None,
                floor_decimals: int | None = None) -> dict[str, Any]:
    """Every per-run metric the analysis tables carry, computed from one ``rounds`` table.

    Whole run: ``sim_time_s``, ``bytes_total``, ``pushed_updates`` (clients selected, summed), ``completed_updates``,
    ``dropped`` / ``drop_rate``, ``mean_round_s`` / ``p95_round_s``, ``final_accuracy`` / ``best_accuracy``,
    ``clients_per_round`` (NaN unless fixed). With a ``target``: ``reached`` and, when reached, ``time_to_target_s``,
    ``time_to_target_round``, ``updates_to_target`` and ``bytes_to_target`` (all up to and including the first round
    reaching it); NaN otherwise.
    """
    whole = totals(rounds)
    acc = rounds["accuracy"].dropna() if "accuracy" in rounds else pd.Series(dtype=np.float64)
    out: dict[str, Any] = {
        "sim_time_s": whole["sim_time_s"], "bytes_total": whole["bytes_total"],
        "pushed_updates": whole["pushed_updates"], "completed_updates": whole["completed_updates"],
        **dropped_clients(rounds), **round_times(rounds),
        "final_accuracy": float(acc.iloc[-1]) if len(acc) else math.nan,
        "best_accuracy": float(acc.max()) if len(acc) else math.nan,
        "clients_per_round": fixed_cohort(rounds),
        "target": math.nan if target is None else float(target),
        "reached": False, "time_to_target_s": math.nan, "time_to_target_round": math.nan,
        "updates_to_target": math.nan, "bytes_to_target": math.nan,
    }
    hit = time_to_target(rounds, target, floor_decimals) if target is not None else None
    if hit is not None:
        out.update(reached=True, time_to_target_s=hit["sim_time_s"], time_to_target_round=hit["round"],
                   updates_to_target=hit["pushed_updates"], bytes_to_target=hit["bytes_total"])
    return out
