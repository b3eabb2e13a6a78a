"""Headline metrics from a run's ``rounds`` table (pandas only): time to a target accuracy and savings against a
baseline run (normally the constant schedule).

"Pushed updates" follow the study: the sum of clients selected per round up to (and including) the stop round.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


def reached_target(accuracy: pd.Series | np.ndarray, target: float, floor_decimals: int | None = None) -> np.ndarray:
    """Boolean per round: accuracy >= target (after flooring to ``floor_decimals`` when given, the study's rule)."""
    acc = np.asarray(accuracy, dtype=np.float64)
    if floor_decimals is not None:
        scale = 10.0**floor_decimals
        acc = np.floor(acc * scale + 1e-9) / scale
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(acc, nan=-np.inf) >= target - 1e-12


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
