"""Trace import: SUMO floating-car data (``sumo --fcd-output``) parsed to arrays, and replayed as a mobility source.

Only the standard library XML parser is used (streaming, so large files do not build a tree). Coordinates are taken as
SUMO network metres: do not use ``--fcd-output.geo`` (longitude / latitude) traces.
"""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .base import MobilityBase, check_dt, readonly

__all__ = ["FcdTrace", "read_fcd", "TraceMobility"]


@dataclass(frozen=True)
class FcdTrace:
    """Samples of a vehicle trace, sorted by (vehicle, time).

    Attributes:
        time_s, x_m, y_m, speed_mps: [K] float arrays, one entry per sample.
        vehicle: [K] int, index into ``vehicle_ids``.
        vehicle_ids: [V] str, in order of first appearance.
        vehicle_types: [V] str (SUMO vType id of each vehicle, "" when absent).
    """

    time_s: np.ndarray
    vehicle: np.ndarray
    x_m: np.ndarray
    y_m: np.ndarray
    speed_mps: np.ndarray
    vehicle_ids: np.ndarray
    vehicle_types: np.ndarray

    def __post_init__(self) -> None:
        k = len(self.time_s)
        for name in ("vehicle", "x_m", "y_m", "speed_mps"):
            if len(getattr(self, name)) != k:
                raise ValueError(f"FcdTrace: {name} has {len(getattr(self, name))} entries, time_s has {k}")
        if k == 0:
            raise ValueError("FcdTrace: the trace holds no vehicle samples")
        if len(self.vehicle_types) != len(self.vehicle_ids):
            raise ValueError("FcdTrace: vehicle_types and vehicle_ids differ in length")
        if np.any(self.vehicle < 0) or np.any(self.vehicle >= len(self.vehicle_ids)):
            raise ValueError("FcdTrace: vehicle index out of range of vehicle_ids")
        for name in ("time_s", "x_m", "y_m", "speed_mps"):
            if not np.all(np.isfinite(getattr(self, name))):
                raise ValueError(f"FcdTrace: {name} holds non-finite values")
        order = np.lexsort((self.time_s, self.vehicle))
        for name in ("time_s", "vehicle", "x_m", "y_m", "speed_mps"):
            object.__setattr__(self, name, readonly(np.asarray(getattr(self, name))[order].copy()))

    @property
    def n_samples(self) -> int:
        return len(self.time_s)

    @property
    def n_vehicles(self) -> int:
        return len(self.vehicle_ids)

    @property
    def t_start_s(self) -> float:
        return float(self.time_s.min())

    @property
    def t_end_s(self) -> float:
        return float(self.time_s.max())


def _float(elem: ET.Element, attr: str, where: str) -> float:
    raw = elem.get(attr)
    if raw is None:
        raise ValueError(f"{where}: <{elem.tag}> has no {attr!r} attribute")
    try:
        val = float(raw)
    except ValueError:
        raise ValueError(f"{where}: <{elem.tag}> {attr}={raw!r} is not a number") from None
    if not math.isfinite(val):
        raise ValueError(f"{where}: <{elem.tag}> {attr}={raw!r} is not finite")
    return val


def read_fcd(path: str | os.PathLike) -> FcdTrace:
    """Parse a SUMO FCD XML file (``<fcd-export><timestep time=..><vehicle id x y speed type ../>``) into arrays.

    Persons and containers are ignored. Raises FileNotFoundError (missing file) or ValueError (bad XML, missing
    attributes, no vehicle samples), each naming the file.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"path: FCD trace file not found: {str(p)!r}")
    times: list[float] = []
    vehs: list[int] = []
    xs: list[float] = []
    ys: list[float] = []
    speeds: list[float] = []
    index: dict[str, int] = {}
    types: list[str] = []
    t_now: float | None = None
    where = str(p)
    try:
        for event, elem in ET.iterparse(p, events=("start", "end")):
            if event == "start":
                if elem.tag == "timestep":
                    t_now = _float(elem, "time", where)
                continue
            if elem.tag == "vehicle":
                if t_now is None:
                    raise ValueError(f"{where}: <vehicle> outside a <timestep>")
                vid = elem.get("id")
                if vid is None:
                    raise ValueError(f"{where}: <vehicle> at time {t_now} has no 'id' attribute")
                if vid not in index:
                    index[vid] = len(index)
                    types.append(elem.get("type", ""))
                times.append(t_now)
                vehs.append(index[vid])
                xs.append(_float(elem, "x", where))
                ys.append(_float(elem, "y", where))
                speeds.append(_float(elem, "speed", where) if elem.get("speed") is not None else 0.0)
            elif elem.tag == "timestep":
                t_now = None
                elem.clear()
    except ET.ParseError as exc:
        raise ValueError(f"path: could not parse FCD XML {where!r}: {exc}") from None
    if not times:
        raise ValueError(f"path: FCD trace {where!r} holds no vehicle samples")
    return FcdTrace(
        time_s=np.asarray(times),
        vehicle=np.asarray(vehs, dtype=np.int64),
        x_m=np.asarray(xs),
        y_m=np.asarray(ys),
        speed_mps=np.asarray(speeds),
        vehicle_ids=np.array(list(index), dtype=object),
        vehicle_types=np.array(types, dtype=object),
    )


class TraceMobility(MobilityBase):
    """Replay an FCD trace with the :class:`twin.mobility.Mobility` interface.

    Positions and speeds are interpolated linearly between a vehicle's samples. A vehicle is ``active`` from its first
    sample (departure) to its last (arrival); outside that window its position is NaN and its speed 0.
    ``step_distance_m`` is the distance along the sampled polyline covered in the step.

    Args:
        trace: an :class:`FcdTrace` or the path of an FCD XML file.
        t0_s: start time (default: the trace's first sample time).
    """

    def __init__(self, trace: FcdTrace | str | os.PathLike, *, t0_s: float | None = None) -> None:
        self.trace = trace if isinstance(trace, FcdTrace) else read_fcd(trace)
        tr = self.trace
        self.n_vehicles = tr.n_vehicles
        self.vehicle_ids = readonly(tr.vehicle_ids.copy())
        self.vehicle_types = readonly(tr.vehicle_types.copy())
        counts = np.bincount(tr.vehicle, minlength=self.n_vehicles)
        self._stop = np.cumsum(counts)
        self._start = self._stop - counts
        self._t_first = tr.time_s[self._start]
        self._t_last = tr.time_s[self._stop - 1]
        step = np.hypot(np.diff(tr.x_m), np.diff(tr.y_m))
        step[np.diff(tr.vehicle) != 0] = 0.0  # no distance across vehicle boundaries
        self._cum_m = np.concatenate([[0.0], np.cumsum(step)])
        self._cum_m -= np.repeat(self._cum_m[self._start], counts)
        # composite sort key (vehicle, time); BIG is a power of two so vehicle * BIG is exact
        t_min = tr.t_start_s
        self._t_min = t_min
        self._big = float(2.0 ** math.ceil(math.log2(tr.t_end_s - t_min + 2.0)))
        self._key = tr.vehicle * self._big + (tr.time_s - t_min)
        self._t_s = float(tr.t_start_s if t0_s is None else t0_s)
        if not math.isfinite(self._t_s):
            raise ValueError(f"t0_s must be finite, got {t0_s!r}")
        self._step_distance = readonly(np.zeros(self.n_vehicles))
        self._update()

    def _interp(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sample index j, next index j2 and fraction in [0, 1] per vehicle at times t [V]."""
        v = np.arange(self.n_vehicles)
        q = v * self._big + (t - self._t_min)
        j = np.clip(np.searchsorted(self._key, q, side="right") - 1, self._start, self._stop - 1)
        j2 = np.minimum(j + 1, self._stop - 1)
        tt = self.trace.time_s
        span = tt[j2] - tt[j]
        frac = np.clip(np.divide(t - tt[j], span, out=np.zeros_like(span), where=span > 0), 0.0, 1.0)
        return j, j2, frac

    def _cum_at(self, t: float) -> np.ndarray:
        tc = np.clip(np.full(self.n_vehicles, t), self._t_first, self._t_last)
        j, j2, f = self._interp(tc)
        return self._cum_m[j] + f * (self._cum_m[j2] - self._cum_m[j])

    def _update(self) -> None:
        tr = self.trace
        t = self._t_s
        active = (self._t_first <= t) & (t <= self._t_last)
        j, j2, f = self._interp(np.full(self.n_vehicles, t))
        xy = np.stack([tr.x_m[j] + f * (tr.x_m[j2] - tr.x_m[j]), tr.y_m[j] + f * (tr.y_m[j2] - tr.y_m[j])], axis=1)
        xy[~active] = np.nan
        speed = tr.speed_mps[j] + f * (tr.speed_mps[j2] - tr.speed_mps[j])
        speed[~active] = 0.0
        self._active = readonly(active)
        self._positions = readonly(xy)
        self._speed = readonly(speed)

    def step(self, dt_s: float) -> None:
        """Advance the replay clock by ``dt_s`` seconds."""
        dt = check_dt(dt_s)
        before = self._cum_at(self._t_s)
        self._t_s += dt
        self._step_distance = readonly(self._cum_at(self._t_s) - before)
        self._update()

    def seek(self, t_s: float) -> None:
        """Jump to time ``t_s`` (forwards or backwards); ``step_distance_m`` becomes 0."""
        t = float(t_s)
        if not math.isfinite(t):
            raise ValueError(f"t_s must be finite, got {t_s!r}")
        self._t_s = t
        self._step_distance = readonly(np.zeros(self.n_vehicles))
        self._update()

    @property
    def finished(self) -> bool:
        """True once the clock is past the last sample of the trace."""
        return self._t_s > self.trace.t_end_s

