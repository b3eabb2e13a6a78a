"""Stop rules for the FL round loop: max rounds, target accuracy, max simulated time.

The study's rule is ``StopRule(max_rounds=150, target_accuracy=0.80, floor_decimals=2)``: stop at the first round whose
test accuracy, floored to 2 decimals, reaches 0.80 (0.7999 -> 0.79 does not; 0.8049 -> 0.80 does). Without
``floor_decimals`` the raw accuracy is compared (``floor_decimals`` is ignored when there is no target). Flooring uses a 1e-9 guard so that values like 0.29 (stored as
0.28999999999999998) floor to 0.29. ``should_stop`` is called after each round and checks, in this order, target accuracy,
max rounds, max simulated time; the first that holds is the reason returned.

:func:`reached_target` is the one home of the target test: vectorised over a whole accuracy column, it also serves
the analysis (``twin.analysis.metrics.time_to_target``, re-analysing runs with another target).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

REASONS = ("target_accuracy", "max_rounds", "max_time_s")


def floor_to(value: ArrayLike, decimals: int) -> np.ndarray:
    """``value`` (a number or an array) floored to ``decimals`` decimals, with a 1e-9 guard against binary
    representation error; NaN stays NaN."""
    scale = 10.0**decimals
    return np.floor(np.asarray(value, dtype=np.float64) * scale + 1e-9) / scale


def reached_target(accuracy: ArrayLike, target: float, floor_decimals: int | None = None) -> np.ndarray:
    """Per value: ``accuracy`` (floored to ``floor_decimals`` when given) equals or exceeds ``target``; NaN (not
    evaluated) never does. A bool array of the input's shape (0-d for a number)."""
    acc = np.asarray(accuracy, dtype=np.float64)
    if floor_decimals is not None:
        acc = floor_to(acc, floor_decimals)
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(acc, nan=-np.inf) >= target - 1e-12


def _int_or_none(name: str, value, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum} or null; got {value!r}")
    return int(value)


class StopRule:
    """When to end the run. At least one of ``max_rounds`` / ``max_time_s`` must be set (a target alone may never be met)."""

    def __init__(
        self,
        *,
        max_rounds: int | None = None,
        target_accuracy: float | None = None,
        floor_decimals: int | None = None,
        max_time_s: float | None = None,
    ) -> None:
        self.max_rounds = _int_or_none("max_rounds", max_rounds, 1)
        self.floor_decimals = _int_or_none("floor_decimals", floor_decimals, 0)
        if target_accuracy is not None:
            if (
                isinstance(target_accuracy, bool)
                or not isinstance(target_accuracy, (int, float, np.floating))
                or not (0.0 < float(target_accuracy) <= 1.0)
            ):
                raise ValueError(f"target_accuracy must be in (0, 1] or null; got {target_accuracy!r}")
            target_accuracy = float(target_accuracy)
        self.target_accuracy = target_accuracy
        if max_time_s is not None:
            if (
                isinstance(max_time_s, bool)
                or not isinstance(max_time_s, (int, float, np.floating))
                or not (0.0 < float(max_time_s) < math.inf)
            ):
                raise ValueError(f"max_time_s must be a finite number > 0 or null; got {max_time_s!r}")
            max_time_s = float(max_time_s)
        self.max_time_s = max_time_s
        if self.max_rounds is None and self.max_time_s is None:
            raise ValueError("max_rounds: set max_rounds or max_time_s (or both) so that the run ends")

    def should_stop(self, round: int, accuracy: float | None, sim_time_s: float) -> str | None:
        """After round ``round`` (1-based) ended at ``sim_time_s`` with ``accuracy`` (None when not evaluated):
        "target_accuracy" | "max_rounds" | "max_time_s", or None to go on."""
        if accuracy is not None and self.target_accuracy is not None and math.isfinite(accuracy):
            if bool(reached_target(accuracy, self.target_accuracy, self.floor_decimals)):
                return "target_accuracy"
        if self.max_rounds is not None and round >= self.max_rounds:
            return "max_rounds"
        if self.max_time_s is not None and sim_time_s >= self.max_time_s:
            return "max_time_s"
        return None

    def __repr__(self) -> str:
        return (
            f"StopRule(max_rounds={self.max_rounds!r}, target_accuracy={self.target_accuracy!r}, "
            f"floor_decimals={self.floor_decimals!r}, max_time_s={self.max_time_s!r})"
        )
