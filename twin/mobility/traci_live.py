"""Live SUMO over TraCI (loopback) with the :class:`twin.mobility.Mobility` interface (the ``sumo`` extra).

SUMO decides how many vehicles exist and when; the twin needs fixed arrays. So the object has ``n_vehicles`` slots,
filled in order of departure: the first vehicle to appear takes slot 0 and keeps it for its whole trip (a slot is
never reused, so slot ``i`` is always the same vehicle, and the same FL client). Vehicles that appear once every slot
is taken are not tracked; ``n_untracked`` counts them.
"""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._extras import require, sumo_binary, sumo_home
from .base import MobilityBase, check_dt, check_rng, readonly

__all__ = ["TraciMobility"]


class TraciMobility(MobilityBase):
    """Start ``sumo`` (headless) with a TraCI server on a free loopback port and step it from Python.

    Args:
        n_vehicles: number of slots (see module doc).
        rng: seeds SUMO (``--seed`` drawn from it), so the same generator state gives the same run.
        net_path, routes_path: a ``.net.xml`` and a route file (e.g. from :func:`twin.mobility.random_trips`), or
        sumocfg_path: a ``.sumocfg`` instead of both.
        step_length_s: SUMO's time step; ``step(dt_s)`` needs ``dt_s`` to be a multiple of it.
        extra_args: more SUMO command-line options.
        start_timeout_s: how long to wait for SUMO's TraCI server.
    """

    def __init__(
        self,
        *,
        n_vehicles: int,
        rng: np.random.Generator,
        net_path: str | os.PathLike | None = None,
        routes_path: str | os.PathLike | None = None,
        sumocfg_path: str | os.PathLike | None = None,
        step_length_s: float = 1.0,
        extra_args: Sequence[str] = (),
        start_timeout_s: float = 30.0,
    ) -> None:
        self._conn = None
        self._proc: subprocess.Popen | None = None
        if isinstance(n_vehicles, bool) or not isinstance(n_vehicles, (int, np.integer)) or n_vehicles < 0:
            raise ValueError(f"n_vehicles must be an integer >= 0, got {n_vehicles!r}")
        if not (isinstance(step_length_s, (int, float)) and math.isfinite(step_length_s) and step_length_s > 0):
            raise ValueError(f"step_length_s must be > 0, got {step_length_s!r}")
        rng = check_rng(rng)
        args: list[str] = []
        if sumocfg_path is not None:
            args += ["-c", str(self._file("sumocfg_path", sumocfg_path))]
        elif net_path is not None and routes_path is not None:
            args += ["-n", str(self._file("net_path", net_path)), "-r", str(self._file("routes_path", routes_path))]
        else:
            raise ValueError("TraciMobility needs sumocfg_path, or both net_path and routes_path")
        self._traci = require("traci", "sumo")
        sumolib = require("sumolib", "sumo")
        self.n_vehicles = int(n_vehicles)
        self.step_length_s = float(step_length_s)
        self.seed = int(rng.integers(0, 2**31 - 1))
        self._ids = np.array([""] * self.n_vehicles, dtype=object)
        self._types = np.array([""] * self.n_vehicles, dtype=object)
        self._slot: dict[str, int] = {}
        self._untracked: set[str] = set()
        self._odometer = np.zeros(self.n_vehicles)
        n = self.n_vehicles
        self._positions = readonly(np.full((n, 2), np.nan))
        self._speed = readonly(np.zeros(n))
        self._active = readonly(np.zeros(n, dtype=bool))
        self._step_distance = readonly(np.zeros(n))

        port = int(sumolib.miscutils.getFreeSocketPort())
        cmd = [
            sumo_binary("sumo"), *args, "--step-length", f"{self.step_length_s:g}", "--seed", str(self.seed),
            "--no-step-log", "true", "--duration-log.disable", "true", *extra_args,
            "--remote-port", str(port), "--num-clients", "1",
        ]  # fmt: skip
        self._stderr = tempfile.TemporaryFile(mode="w+")
        env = dict(os.environ, SUMO_HOME=sumo_home())
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self._stderr, env=env)
        self._conn = self._connect(port, start_timeout_s)
        self._t_s = float(self._conn.simulation.getTime())
        self._collect(first=True)

    @staticmethod
    def _file(param: str, path: str | os.PathLike) -> Path:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"{param}: file not found: {str(p)!r}")
        return p

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        lines = self._stderr.read().strip().splitlines()
        return " | ".join(lines[-3:]) or "(no output)"

    def _connect(self, port: int, timeout_s: float):
        traci = self._traci
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return traci.connect(port=port, numRetries=0, host="localhost", proc=self._proc)
            except (traci.exceptions.FatalTraCIError, traci.exceptions.TraCIException, OSError):
                if self._proc.poll() is not None:
                    code = self._proc.returncode
                    self._proc = None
                    raise RuntimeError(
                        f"sumo exited (code {code}) before TraCI connected: {self._stderr_tail()}"
                    ) from None
                if time.monotonic() > deadline:
                    self.close()
                    raise RuntimeError(f"no TraCI connection to sumo on port {port} within {timeout_s} s") from None
                time.sleep(0.02)

    def _collect(self, *, first: bool = False) -> None:
        traci, conn = self._traci, self._conn
        tc = traci.constants
        for vid in conn.vehicle.getIDList():
            if vid in self._slot or vid in self._untracked:
                continue
            if len(self._slot) >= self.n_vehicles:
                self._untracked.add(vid)
                continue
            i = len(self._slot)
            self._slot[vid] = i
            self._ids[i] = vid
            self._types[i] = conn.vehicle.getTypeID(vid)
            conn.vehicle.subscribe(vid, [tc.VAR_POSITION, tc.VAR_SPEED, tc.VAR_DISTANCE])
        results = conn.vehicle.getAllSubscriptionResults()
        n = self.n_vehicles
        xy = np.full((n, 2), np.nan)
        speed = np.zeros(n)
        active = np.zeros(n, dtype=bool)
        dist = np.zeros(n)
        for vid, res in results.items():
            i = self._slot.get(vid)
            if i is None:
                continue
            active[i] = True
            xy[i] = res[tc.VAR_POSITION][:2]
            speed[i] = res[tc.VAR_SPEED]
            odo = float(res[tc.VAR_DISTANCE])
            dist[i] = 0.0 if first else max(0.0, odo - self._odometer[i])
            self._odometer[i] = odo
        self._positions, self._speed = readonly(xy), readonly(speed)
        self._active, self._step_distance = readonly(active), readonly(dist)

    def step(self, dt_s: float) -> None:
        """Advance SUMO by ``dt_s`` seconds (a multiple of ``step_length_s``) and read every tracked vehicle."""
        dt = check_dt(dt_s)
        if self._conn is None:
            raise RuntimeError("TraciMobility is closed")
        n_steps = dt / self.step_length_s
        if abs(n_steps - round(n_steps)) > 1e-6:
            raise ValueError(f"dt_s={dt_s} must be a multiple of step_length_s={self.step_length_s}")
        if round(n_steps) == 0:
            self._step_distance = readonly(np.zeros(self.n_vehicles))
            return
        try:
            self._conn.simulationStep(self._t_s + dt)
            self._t_s = float(self._conn.simulation.getTime())
            self._collect()
        except (self._traci.exceptions.FatalTraCIError, OSError) as exc:
            t, tail = self._t_s, self._stderr_tail()
            self.close()
            raise RuntimeError(f"lost the TraCI connection to sumo at t={t} s: {exc}; sumo said: {tail}") from None

    @property
    def finished(self) -> bool:
        """True when SUMO has no vehicles running or waiting to depart."""
        return self._conn is None or self._conn.simulation.getMinExpectedNumber() == 0

    @property
    def n_untracked(self) -> int:
        return len(self._untracked)

    def close(self) -> None:
        """Close the TraCI connection and wait for SUMO to exit (kill it after 10 s). Idempotent."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close(wait=False)
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        stderr = getattr(self, "_stderr", None)
        if stderr is not None and not stderr.closed:
            stderr.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    @property
    def vehicle_ids(self) -> np.ndarray:  # type: ignore[override]
        return readonly(self._ids.copy())

    @property
    def vehicle_types(self) -> np.ndarray:  # type: ignore[override]
        return readonly(self._types.copy())

