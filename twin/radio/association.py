"""Best-server selection with hysteresis and time-to-trigger (A3-style handover, TS 38.331 5.5.4.4).

The metric is any [n_ue, n_cell] array where larger is better: received power (dBm, the usual
RSRP-like choice) or the SINR each cell would give (``candidate_sinr_db``). Cells a UE must not
use (beyond DRIVE's ``max_tx_distance_m``, another layer) are masked with ``-inf`` by the caller.
"""

from __future__ import annotations

import numpy as np

from ._checks import float_array

_TTT_EPS_S = 1e-9  # accumulated float time steps count as reaching the TTT


def best_server(metric, *, min_metric: float = -np.inf) -> tuple[np.ndarray, np.ndarray]:
    """Strongest cell per UE.

    Args:
        metric: [n_ue, n_cell] (dBm or dB), larger is better; NaN counts as unusable.
        min_metric: floor (e.g. a sensitivity in dBm); a UE whose best is below it gets -1.

    Returns:
        ``(cell, value)``: int64 [n_ue] (-1 = no cell) and the best metric [n_ue] (-inf for none).
    """
    m = float_array("metric", metric)
    if m.ndim != 2 or m.shape[1] == 0:
        raise ValueError(f"metric must have shape [n_ue, n_cell] with n_cell >= 1, got {m.shape}")
    if np.isnan(m).any():
        m = np.where(np.isnan(m), -np.inf, m)
    cell = np.argmax(m, axis=1)
    value = m[np.arange(m.shape[0]), cell]
    ok = value >= min_metric
    ok &= value > -np.inf
    return np.where(ok, cell, -1), np.where(ok, value, -np.inf)


class Association:
    """Serving cell per UE, stepped with the metric of each mobility step.

    Rules per ``step(metric, dt_s)``:

    * A UE with no serving cell attaches at once to its best cell if that is >= ``min_metric``
      (initial access has no time-to-trigger).
    * A served UE whose serving metric falls below ``min_metric`` (or is -inf/NaN) loses the
      cell (radio link failure) and re-attaches in the same step to the best cell above the
      floor, if any, else it has none (-1).
    * Otherwise the handover condition is ``best > serving + hysteresis_db`` (strict, best being
      another cell). It must hold at consecutive steps spanning ``time_to_trigger_s``: the timer
      starts at 0 on the first step it holds and adds ``dt_s`` on each later step it still holds;
      the UE hands over to the then-best cell when the timer reaches the TTT (so TTT = 0 hands
      over at once). The timer resets when the condition fails. The target may change while the
      timer runs (the event tracks "some neighbour is better", not one neighbour).

    After each step, ``handover`` marks UEs that moved between two cells, ``attached`` those that
    gained a cell from none, ``detached`` those left without one.
    """

    def __init__(
        self, n_ue: int, *, hysteresis_db: float = 3.0, time_to_trigger_s: float = 0.16, min_metric: float = -np.inf
    ):
        if n_ue < 0:
            raise ValueError(f"n_ue must be >= 0, got {n_ue}")
        if not hysteresis_db >= 0:
            raise ValueError(f"hysteresis_db must be >= 0, got {hysteresis_db!r}")
        if not time_to_trigger_s >= 0:
            raise ValueError(f"time_to_trigger_s must be >= 0, got {time_to_trigger_s!r}")
        self.n_ue = int(n_ue)
        self.hysteresis_db = float(hysteresis_db)
        self.time_to_trigger_s = float(time_to_trigger_s)
        self.min_metric = float(min_metric)
        self._serving = np.full(self.n_ue, -1, dtype=np.int64)
        self._timer = np.zeros(self.n_ue)
        self._running = np.zeros(self.n_ue, dtype=bool)
        self.handover = np.zeros(self.n_ue, dtype=bool)
        self.attached = np.zeros(self.n_ue, dtype=bool)
        self.detached = np.zeros(self.n_ue, dtype=bool)

    @property
    def serving(self) -> np.ndarray:
        """Serving cell per UE (int64 [n_ue], -1 = none), a copy."""
        return self._serving.copy()

    @property
    def timer_s(self) -> np.ndarray:
        """Time the handover condition has held (s), 0 where it does not; a copy."""
        return np.where(self._running, self._timer, 0.0)

    def step(self, metric, dt_s: float) -> np.ndarray:
        """Advance by ``dt_s`` seconds with this step's [n_ue, n_cell] metric; return the serving cells (a copy)."""
        if not dt_s >= 0:
            raise ValueError(f"dt_s must be >= 0, got {dt_s!r}")
        m = float_array("metric", metric)
        if m.ndim != 2 or m.shape[0] != self.n_ue:
            raise ValueError(f"metric must have shape [{self.n_ue}, n_cell], got {m.shape}")
        best, best_val = best_server(m, min_metric=self.min_metric)
        prev = self._serving
        has = prev >= 0
        if has.any() and prev.max() >= m.shape[1]:
            raise ValueError(f"metric has {m.shape[1]} cells but a UE is served by cell {prev.max()}")
        cur_val = np.where(has, m[np.arange(self.n_ue), np.maximum(prev, 0)], -np.inf)
        cur_ok = has & (cur_val >= self.min_metric) & (cur_val > -np.inf)  # False for NaN too

        new = np.where(cur_ok, prev, best)  # no / lost cell: (re)attach to the best above the floor
        cond = cur_ok & (best >= 0) & (best != prev) & (best_val > cur_val + self.hysteresis_db)
        self._timer = np.where(cond & self._running, self._timer + dt_s, 0.0)
        self._running = cond
        fire = cond & (self._timer >= self.time_to_trigger_s - _TTT_EPS_S)
        new = np.where(fire, best, new)
        self._running &= ~fire
        self._timer[fire] = 0.0

        self.handover = (prev >= 0) & (new >= 0) & (new != prev)
        self.attached = (prev < 0) & (new >= 0)
        self.detached = (prev >= 0) & (new < 0)
        self._serving = new.astype(np.int64, copy=False)
        return self._serving.copy()

    def reset(self) -> None:
        """Forget all serving cells and timers."""
        self._serving[:] = -1
        self._timer[:] = 0.0
        self._running[:] = False
