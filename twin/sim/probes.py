"""The network's samples (``samples.parquet``): what each resource (link direction, cell direction) is doing.

Every ``output.sample_period_s``: ``utilisation`` (share of capacity in use at that instant) and ``active_flows``
(flows crossing it then), and, measured over the interval that ends at the sample time (exact, from the flow
engine's per-resource counters: :meth:`twin.net.engine.FlowNetwork.count_carried`), ``bytes`` (payload bytes it
carried) and ``mean_utilisation`` (the mean share of its capacity in use; a cell's air time). The last interval, cut
short by the end of the run, is recorded when the run ends (:meth:`NetworkProbe.finish`). A cell's air time carries
the cell's id in the ``cell`` column.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from twin.net.cells import CellDirection
from twin.sim.env import TwinEnv


class NetworkProbe:
    def __init__(self, env: TwinEnv, period_s: float) -> None:
        self.env, self.period_s = env, float(period_s)
        resources = env.network.resources
        self.names = [r.name for r in resources]
        self.cells = [r.name.rsplit(".", 1)[0] if isinstance(r, CellDirection) else None for r in resources]
        self.capacity = np.array([r.capacity for r in resources], dtype=float)
        env.network.count_carried()
        self._last_t = float(env.now)
        self._last = env.network.carried()

    def run(self) -> Generator[simpy.Event, Any, None]:
        """Process: sample at 0, ``period_s``, ``2 period_s`` ... until the run ends."""
        while True:
            self.sample()
            yield self.env.timeout(self.period_s)

    def sample(self) -> None:
        env, rec = self.env, self.env.recorder
        load = env.network.resource_load()
        rec.samples_many(env.now, "utilisation", self.names, load / self.capacity, self.cells)
        rec.samples_many(env.now, "active_flows", self.names, env.network.resource_flow_counts(), self.cells)
        self._interval()

    def finish(self) -> None:
        """Record the last, partial interval (the run ended between two samples)."""
        self._interval()

    def _interval(self) -> None:
        env = self.env
        dt = float(env.now) - self._last_t
        if dt <= 0:
            return
        carried, busy = env.network.carried()
        rec = env.recorder
        rec.samples_many(env.now, "bytes", self.names, carried - self._last[0], self.cells)
        rec.samples_many(env.now, "mean_utilisation", self.names, (busy - self._last[1]) / (self.capacity * dt),
                         self.cells)
        self._last, self._last_t = (carried, busy), float(env.now)
