"""The interface every mobility source offers (random trips, FCD trace replay, live SUMO over TraCI).

The simulation owns the clock: it calls ``step(dt_s)`` and then reads the arrays. Shapes use ``n = n_vehicles``, fixed
for the lifetime of the object; vehicle ``i`` is the same vehicle at every step (``vehicle_ids[i]``).

================  ===========  =====================================================================================
attribute         shape/type   meaning
================  ===========  =====================================================================================
``n_vehicles``    int          number of vehicle slots
``vehicle_ids``   [n] str      stable vehicle names (SUMO ids for traces / TraCI)
``vehicle_types`` [n] str      vehicle type names (``passenger``, ``ambulance``, SUMO vType ids)
``t_s``           float        current simulated time, seconds
``positions_m``   [n, 2]       x, y in metres (NaN where ``active`` is False)
``speeds_mps``    [n]          current speed, m/s (0 where inactive)
``active``        [n] bool     the vehicle is on the road now (departed and not arrived)
``step_distance_m`` [n]        distance driven during the last ``step`` (0 where inactive), for correlated shadowing
``finished``      bool         the source has nothing more to play (trace ended, SUMO emptied); random trips never
``step(dt_s)``    -> None      advance the clock by ``dt_s`` >= 0 seconds
``close()``       -> None      release resources (a SUMO process); idempotent; also via ``with``
================  ===========  =====================================================================================

Returned arrays are fresh, read-only arrays (safe to keep between steps).
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Mobility", "MobilityBase", "check_dt", "check_rng", "readonly"]


@runtime_checkable
class Mobility(Protocol):
    n_vehicles: int
    vehicle_ids: np.ndarray
    vehicle_types: np.ndarray

    @property
    def t_s(self) -> float: ...

    @property
    def positions_m(self) -> np.ndarray: ...

    @property
    def speeds_mps(self) -> np.ndarray: ...

    @property
    def active(self) -> np.ndarray: ...

    @property
    def step_distance_m(self) -> np.ndarray: ...

    @property
    def finished(self) -> bool: ...

    def step(self, dt_s: float) -> None: ...

    def close(self) -> None: ...


class MobilityBase:
    """Shared plumbing: the state accessors of the Mobility protocol (over ``_t_s``, ``_positions``, ``_speed``,
    ``_active``, ``_step_distance``, which each source keeps current), context manager, ``close`` no-op, ``__len__``."""

    n_vehicles: int
    _t_s: float
    _positions: np.ndarray
    _speed: np.ndarray
    _active: np.ndarray
    _step_distance: np.ndarray

    @property
    def t_s(self) -> float:
        return self._t_s

    @property
    def positions_m(self) -> np.ndarray:
        return self._positions

    @property
    def speeds_mps(self) -> np.ndarray:
        return self._speed

    @property
    def active(self) -> np.ndarray:
        return self._active

    @property
    def step_distance_m(self) -> np.ndarray:
        return self._step_distance

    @property
    def finished(self) -> bool:
        """False: by default a source never runs out (random trips); traces and SUMO override it."""
        return False

    def close(self) -> None:
        """Nothing to release by default."""

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self.n_vehicles


def check_dt(dt_s: float) -> float:
    try:
        dt = float(dt_s)
    except (TypeError, ValueError):
        raise ValueError(f"dt_s must be a number of seconds, got {dt_s!r}") from None
    if not (math.isfinite(dt) and dt >= 0):
        raise ValueError(f"dt_s must be finite and >= 0, got {dt_s!r}")
    return dt


def check_rng(rng: object) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}"
        )
    return rng


def readonly(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr
