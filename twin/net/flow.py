"""What the flow engine moves and over what: :class:`Flow`, the :class:`Resource` protocol with the wired
:class:`LinkDirection`, and the :class:`FlowObserver` the engine reports to.

A flow carries an opaque ``tag`` (any object; the engine never looks inside) and, for radio cells, the ``user`` whose
air time it uses. The engine tells its observer when a flow starts, when its last byte arrives and when it is
cancelled; the simulation maps the tag to timeline columns (``twin.sim.timeline``), so this package knows nothing of
federated learning.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import simpy


class Resource(Protocol):
    """Anything a flow crosses: ``capacity`` (its own unit), one-way ``latency_s``, and ``coefficient(flow)``, the
    capacity a flow uses per bit/s of goodput (``inf``: cannot carry it now, the flow stalls). ``time_fair``
    resources (radio cells) share their capacity in equal usage (air time) instead of equal rates."""

    name: str
    capacity: float
    latency_s: float
    time_fair: bool

    def coefficient(self, flow: Flow) -> float: ...


class LinkDirection:
    """One direction of a full-duplex wired link: capacity in bit/s on the wire, one-way latency."""

    time_fair = False

    def __init__(self, name: str, bandwidth_bps: float, latency_s: float, *, overhead: float = 1.0) -> None:
        if bandwidth_bps <= 0:
            raise ValueError(f"link {name}: bandwidth_bps must be positive, got {bandwidth_bps}")
        if latency_s < 0:
            raise ValueError(f"link {name}: latency_s must be non-negative, got {latency_s}")
        self.name = name
        self.capacity = float(bandwidth_bps)
        self.latency_s = float(latency_s)
        self.overhead = float(overhead)  # wire bits per payload bit (frame_bytes / payload_bytes)
        self.reverse: LinkDirection | None = None  # the other direction of the same link (its ACKs' way back)

    def coefficient(self, flow: Flow) -> float:
        return self.overhead

    def __repr__(self) -> str:
        return f"LinkDirection({self.name!r}, {self.capacity:g} bit/s, {self.latency_s:g} s)"


class Flow:
    """A transfer in progress. ``done`` succeeds with the flow when its last byte arrives.

    ``tag``: whatever the starter wants reported with the flow (opaque here). ``user``: the radio user whose air time
    the flow uses in a cell (:class:`twin.net.cells.CellDirection` reads it); None for wired-only flows.
    """

    def __init__(self, env: simpy.Environment, name: str, route: Sequence[Resource], size_bytes: float,
                 *, weight: float = 1.0, tag: object = None, user: str | None = None) -> None:
        self.name = name
        self.route = list(route)
        self.size_bytes = float(size_bytes)
        self.weight = float(weight)
        self.tag = tag
        self.user = user
        self.done = env.event()
        self.start_t = env.now
        self.tx_end_t: float | None = None
        self.slot: int | None = None
        self.cancelled = False

    @property
    def latency_s(self) -> float:
        """One-way propagation along the route (a link's latency is its one-way propagation delay, not a loaded RTT)."""
        return route_latency_s(self.route)

    @property
    def rtt_s(self) -> float:
        """Round trip: the route's forward latency plus the reverse path's (each resource's ``reverse`` direction
        where it has one, else its own latency: a symmetric link). Queueing delay is not part of it."""
        back = 0.0
        for r in self.route:
            rev = getattr(r, "reverse", None)
            back += rev.latency_s if rev is not None else r.latency_s
        return self.latency_s + back


def route_latency_s(route: Sequence[Resource]) -> float:
    """The one-way latency of a route: its resources' latencies added in route order (every flow's arrival delay,
    so the compiled round adds them the same way)."""
    total = 0
    for r in route:  # the additions of sum(), without a generator per call
        total += r.latency_s
    return total


class FlowObserver(Protocol):
    """Told of every flow's life by :class:`twin.net.engine.FlowNetwork`, at simulated time ``t``."""

    def flow_started(self, flow: Flow, t: float) -> None: ...

    def flow_ended(self, flow: Flow, t: float) -> None:
        """The last byte arrived (after the route's latency)."""

    def flow_cancelled(self, flow: Flow, t: float, bytes_done: float) -> None:
        """Stopped before arriving; ``bytes_done`` payload bytes had left."""


class SlowStart(Protocol):
    """TCP start-up parameters (``transport.slow_start``): segment size and set-up round trips."""

    mss_bytes: float
    setup_rtts: float
