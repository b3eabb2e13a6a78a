"""The flow-level network engine on SimPy: transfers share capacity max-min fairly, with no per-packet events.

A :class:`Flow` carries S payload bytes over a route of resources (wired link directions now; radio cells later). While
it transmits, its rate is its share from :func:`twin.net.sharing.maxmin_rates`, recomputed whenever a flow starts,
ends, is re-routed or a resource changes. When its last byte has left it still propagates for the route's latency,
so one flow alone takes ``latency + S / (B * payload fraction)``. Flows that start at the same instant are
batched into one recomputation.

Flows, resources and the observer protocol live in :mod:`twin.net.flow` (re-exported here). Resources: anything with
``name``, ``capacity``, ``latency_s``, ``time_fair`` and ``coefficient(flow)`` (capacity used per bit/s of the flow's
goodput; ``inf`` = cannot carry it now, the flow stalls). :class:`LinkDirection` is the wired one (its flows share
rate max-min fairly); a ``time_fair`` resource (a radio cell, :mod:`twin.net.cells`) shares its capacity in equal
*usage* (air time) instead, and then :func:`twin.net.fairness.mixed_maxmin_rates` computes the shares. The engine
reports each flow's start, arrival and cancellation to its :class:`~twin.net.flow.FlowObserver`, passing the flow's
opaque ``tag`` along untouched.

Transport (docs/network.md, "Transport"): ``slow_start`` delays a flow's first byte by set-up round trips and the
Kurose-Ross stall (round trip = the route's forward + reverse latency, rate = its fair share when it starts);
``sharing`` (:class:`~twin.net.tcp.TcpSharing`, ``transport.sharing: tcp``) weighs young flows unevenly, as real TCP
shares a bottleneck; without it the shares are exact max-min.
"""

from __future__ import annotations

import itertools
from collections.abc import Generator, Sequence
from typing import Any

import numpy as np
import simpy

from twin.net.flow import Flow, FlowObserver, LinkDirection, Resource, SlowStart
from twin.net.lazy import FlowRates
from twin.net.tcp import TcpSharing, slow_start_stall_s

__all__ = ["Flow", "FlowNetwork", "FlowObserver", "LinkDirection", "Resource"]


class FlowNetwork(FlowRates):
    """All active flows and their fair shares. ``env.process(net.transfer(...))`` moves bytes.

    ``incremental=False`` recomputes every flow at every event (the reference of the lazy recomputation, see
    :mod:`twin.net.lazy`); both give the same rates.
    """

    def __init__(self, env: simpy.Environment, *, observer: FlowObserver | None = None,
                 slow_start: SlowStart | None = None, sharing: TcpSharing | None = None,
                 incremental: bool = True) -> None:
        self.env = env
        self.observer = observer  # told of every flow's start, end and cancellation
        self.slow_start = slow_start
        self.sharing = sharing  # None: exact max-min (transport.sharing: maxmin); else the calibrated TCP weights
        self._init_rates(incremental)
        self._track_on = slow_start is not None  # flows per resource, for the slow-start stall at the fair share
        self._young: list[Flow] = []  # admitted since the last recomputation (transport.sharing: tcp)
        self._pending: dict[int, Flow] = {}  # started, waiting for their slow-start delay (keyed by id)
        self._generation = 0
        self._recompute_pending = False
        self._ids = itertools.count()
        self.n_flow_events = 0

    # ---------------------------------------------------------------------------------------------- resources

    @property
    def resources(self) -> list[Resource]:
        return list(self._resources)

    def resource_changed(self, resource: Resource) -> None:
        """Call after a resource's capacity or coefficients change (e.g. a new SINR)."""
        self.resources_changed([resource])

    # ------------------------------------------------------------------------------------------------- progress

    def _schedule_recompute(self) -> None:
        """Recompute at the end of this instant, so flows starting together cost one recomputation."""
        if not self._recompute_pending:
            self._recompute_pending = True
            self.env.timeout(0).callbacks.append(self._on_recompute)

    def _on_recompute(self, _event: simpy.Event) -> None:
        if self._recompute_pending:  # else a probe already flushed it (see _flush)
            self._recompute_pending = False
            self._recompute()

    def _flush(self) -> None:
        """Recompute now if one is pending, so probes never mix new coefficients with old rates."""
        if self._recompute_pending:
            self._recompute_pending = False
            self._recompute()

    def _deliver(self, flow: Flow) -> None:
        """The last byte has left: it arrives after the route's latency."""

        def arrive(_event: simpy.Event) -> None:
            self._arrive(flow)

        self.env.timeout(flow.latency_s).callbacks.append(arrive)

    def _deliver_many(self, flows: list[Flow]) -> None:
        """:meth:`_deliver` for flows whose last bytes left together, in this order: one timer per arrival time.
        Their timers for one instant would fire one after the other, in this order (nothing else is scheduled between
        them), so one timer that delivers them in order does the same."""
        if len(flows) == 1:
            self._deliver(flows[0])
            return
        now = self.env.now
        at: dict[float, tuple[float, list[Flow]]] = {}  # arrival time (as SimPy computes it) -> (a delay, flows)
        for flow in flows:
            latency = flow.latency_s
            at.setdefault(now + latency, (latency, []))[1].append(flow)
        for latency, group in at.values():
            def arrive(_event: simpy.Event, group: list[Flow] = group) -> None:
                for flow in group:
                    self._arrive(flow)

            self.env.timeout(latency).callbacks.append(arrive)

    def _arrive(self, flow: Flow) -> None:
        if not flow.cancelled:
            if self.observer is not None:
                self.observer.flow_ended(flow, self.env.now)
            flow.done.succeed(flow)

    # ---------------------------------------------------------------------------------------------- public API

    def start(self, route: Sequence[Resource], size_bytes: float, *, name: str | None = None, weight: float = 1.0,
              tag: object = None, user: str | None = None) -> Flow:
        """Start a flow now and return it; ``yield flow.done`` waits for its last byte to arrive. ``tag`` is reported
        to the observer with the flow; ``user`` names the radio user whose air time it uses in a cell."""
        if size_bytes < 0:
            raise ValueError(f"size_bytes must be non-negative, got {size_bytes}")
        flow = Flow(self.env, name or f"flow.{next(self._ids)}", route, size_bytes, weight=weight, tag=tag, user=user)
        if self.observer is not None:
            self.observer.flow_started(flow, self.env.now)
        self.n_flow_events += 1
        if size_bytes == 0 or not flow.route:
            flow.tx_end_t = self.env.now
            self._deliver(flow)
            return flow
        delay = self._startup_delay(flow) if self.slow_start is not None else 0.0
        if delay > 0:
            self._pending[id(flow)] = flow
            self.env.timeout(delay).callbacks.append(lambda _event: self._admit(flow))
        else:
            self._admit(flow)
        return flow

    def transfer(self, route: Sequence[Resource], size_bytes: float, **kwargs: Any) -> Generator[simpy.Event, Any, Flow]:
        """Process: move ``size_bytes`` along ``route``; returns the finished flow. Interrupting it cancels the flow."""
        flow = self.start(route, size_bytes, **kwargs)
        try:
            yield flow.done
        except simpy.Interrupt:
            self.cancel(flow)
            raise
        return flow

    def _admit(self, flow: Flow) -> None:
        """Give a flow a slot in the sharing arrays; it transmits from the next recomputation on."""
        if self._pending:
            self._pending.pop(id(flow), None)
        if flow.cancelled:
            return
        self._occupy(flow, flow.weight)
        if self.sharing is not None:  # young: an uneven weight (set with its batch's), until it settles to its own
            self._young.append(flow)
            self.env.timeout(self.sharing.settle_s).callbacks.append(lambda _event: self._settle(flow))
        self._schedule_recompute()

    def _recompute(self) -> None:
        if self._young:
            self._weigh_young()
        super()._recompute()

    def _weigh_young(self) -> None:
        """The flows admitted since the last recomputation started together: give them their young weights."""
        batch = [f for f in self._young if f.slot is not None and not f.cancelled]
        self._young.clear()
        for flow, factor in zip(batch, self.sharing.young_weights(len(batch)), strict=True):
            self._weight[flow.slot] = flow.weight * factor

    def _settle(self, flow: Flow) -> None:
        """A flow of ``transport.sharing: tcp`` has sent long enough: it takes its own weight (fair shares)."""
        if flow.slot is None or flow.cancelled:
            return  # finished (or cancelled) while young
        self._advance()
        self._weight[flow.slot] = flow.weight
        self._set_route(flow.slot, flow)  # its resources re-share with the new weight
        self._schedule_recompute()

    def _startup_delay(self, flow: Flow) -> float:
        """Set-up round trips plus the slow-start stall, at the route's round trip (forward + reverse latency) and at
        the flow's fair share now: on each resource its capacity split equally among the flows on it and this one
        (exact max-min when they share one bottleneck; never above the uncontended rate)."""
        rtt = flow.rtt_s
        rate = min(r.capacity / (max(r.coefficient(flow), 1e-300) * (1 + self._flows_on(r))) for r in flow.route)
        if not rate > 0:  # no coverage now: only the set-up; the flow stalls once admitted
            return self.slow_start.setup_rtts * rtt
        mss_bits = 8 * self.slow_start.mss_bytes
        return self.slow_start.setup_rtts * rtt + slow_start_stall_s(8 * flow.size_bytes, mss_bits, rate, rtt)

    def _flows_on(self, resource: Resource) -> int:
        index = self._res_index.get(id(resource))
        return 0 if index is None else int(self._n_on[index])

    def cancel(self, flow: Flow) -> None:
        """Stop a flow (e.g. its client missed the deadline); its capacity is freed at once."""
        if flow.cancelled or flow.done.triggered:
            return
        flow.cancelled = True
        self._pending.pop(id(flow), None)
        done = flow.size_bytes
        if flow.slot is not None:
            self._advance()
            done = flow.size_bytes - self._remaining[flow.slot]
            self._release(flow.slot)
            self._schedule_recompute()
        elif flow.tx_end_t is None:
            done = 0.0
        self.n_flow_events += 1
        if self.observer is not None:
            self.observer.flow_cancelled(flow, self.env.now, float(done))

    def reroute(self, flow: Flow, route: Sequence[Resource]) -> None:
        """Move a live flow to a new route (handover); bytes already sent stay sent."""
        flow.route = list(route)
        if flow.slot is not None:
            self._advance()
            self._set_route(flow.slot, flow)
            self._schedule_recompute()

    # -------------------------------------------------------------------------------------------------- probes

    def count_carried(self) -> None:
        """Start counting, per resource, the payload bytes it carries and the capacity it uses over time (exact: the
        rates are integrated between the instants they change). Read with :meth:`carried`. Off until called, so a
        network nobody measures pays nothing."""
        if self._carried is None:
            self._carried = np.zeros(len(self._resources))
            self._busy = np.zeros(len(self._resources))
            self._counted_t = self.env.now

    def carried(self) -> tuple[np.ndarray, np.ndarray]:
        """([n_resources] payload bytes carried, [n_resources] capacity x seconds used) since :meth:`count_carried`
        (copies; a time-fair cell's capacity is its air time, so its second array is air-time seconds)."""
        if self._carried is None:
            raise RuntimeError("count_carried() was not called")
        self._flush()
        self._count()
        return self._carried.copy(), self._busy.copy()

    def rate_of(self, flow: Flow) -> float:
        """Current goodput of a flow in bit/s (0 when it is not transmitting)."""
        self._flush()
        return float(self._rate[flow.slot]) if flow.slot is not None else 0.0

    def bytes_left(self, flow: Flow) -> float:
        if flow.slot is None:
            return 0.0 if flow.tx_end_t is not None else flow.size_bytes
        return float(self._remaining[flow.slot] - self._rate[flow.slot] * (self.env.now - self._last_update) / 8.0)

    @property
    def active_flows(self) -> list[Flow]:
        return list(self._flows.values())

    @property
    def live_flows(self) -> list[Flow]:
        """Flows started and not yet sent: the transmitting ones and those still in their slow-start delay."""
        return list(self._pending.values()) + list(self._flows.values())
