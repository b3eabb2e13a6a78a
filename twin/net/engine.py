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
"""

from __future__ import annotations

import itertools
from collections.abc import Generator, Sequence
from typing import Any

import numpy as np
import simpy

from twin.net.fairness import mixed_maxmin_rates
from twin.net.flow import Flow, FlowObserver, LinkDirection, Resource, SlowStart
from twin.net.sharing import maxmin_rates
from twin.net.tcp import slow_start_stall_s

__all__ = ["Flow", "FlowNetwork", "FlowObserver", "LinkDirection", "Resource"]

_EPS_S = 1e-12  # flows whose finish time is this close (relative) are finished together


class FlowNetwork:
    """All active flows and their fair shares. ``env.process(net.transfer(...))`` moves bytes."""

    def __init__(self, env: simpy.Environment, *, observer: FlowObserver | None = None,
                 slow_start: SlowStart | None = None) -> None:
        self.env = env
        self.observer = observer  # told of every flow's start, end and cancellation
        self.slow_start = slow_start
        self._resources: list[Resource] = []
        self._res_index: dict[int, int] = {}
        self._flows: dict[int, Flow] = {}  # slot -> flow
        self._free: list[int] = []
        self._cap = 0
        self._k = 1
        self._links = np.zeros((0, 1), dtype=np.int64)
        self._coef = np.zeros((0, 1))
        self._remaining = np.zeros(0)
        self._rate = np.zeros(0)
        self._weight = np.zeros(0)
        self._capacity = np.zeros(0)
        self._time_fair = np.zeros(0, dtype=bool)
        self._any_time_fair = False
        self._pending: dict[int, Flow] = {}  # started, waiting for their slow-start delay (keyed by id)
        self._last_update = env.now
        self._generation = 0
        self._recompute_pending = False
        self._ids = itertools.count()
        self.n_recomputes = 0
        self.n_flow_events = 0
        self._carried: np.ndarray | None = None  # per resource: payload bytes carried (None: nobody asked)
        self._busy = np.zeros(0)  # per resource: capacity x seconds in use
        self._counted_t = env.now

    # ---------------------------------------------------------------------------------------------- resources

    def add_resource(self, resource: Resource) -> Resource:
        self._res_index[id(resource)] = len(self._resources)
        self._resources.append(resource)
        self._capacity = np.append(self._capacity, float(resource.capacity))
        self._time_fair = np.append(self._time_fair, bool(resource.time_fair))
        self._any_time_fair = bool(self._time_fair.any())
        return resource

    @property
    def resources(self) -> list[Resource]:
        return list(self._resources)

    def resource_changed(self, resource: Resource) -> None:
        """Call after a resource's capacity or coefficients change (e.g. a new SINR)."""
        self.resources_changed([resource])

    def resources_changed(self, resources: Sequence[Resource]) -> None:
        """Like :meth:`resource_changed` for several resources at once (one pass over the flows)."""
        self._count()  # the coefficients change now: count the interval so far with the old ones
        changed = set()
        for resource in resources:
            self._capacity[self._res_index[id(resource)]] = float(resource.capacity)
            changed.add(id(resource))
        for slot, flow in self._flows.items():
            if any(id(r) in changed for r in flow.route):
                self._set_route(slot, flow)
        self._schedule_recompute()

    # ---------------------------------------------------------------------------------------------- flow slots

    def _grow(self, need_k: int) -> None:
        cap = max(16, self._cap * 2) if len(self._free) == 0 else self._cap
        k = max(self._k, need_k)
        links = np.zeros((cap, k), dtype=np.int64)
        coef = np.zeros((cap, k))
        links[: self._cap, : self._k] = self._links
        coef[: self._cap, : self._k] = self._coef
        self._links, self._coef, self._k = links, coef, k
        if cap > self._cap:
            self._remaining = np.concatenate([self._remaining, np.zeros(cap - self._cap)])
            self._rate = np.concatenate([self._rate, np.zeros(cap - self._cap)])
            self._weight = np.concatenate([self._weight, np.zeros(cap - self._cap)])
            self._free.extend(range(cap - 1, self._cap - 1, -1))
            self._cap = cap

    def _set_route(self, slot: int, flow: Flow) -> None:
        if len(flow.route) > self._k:
            self._grow(len(flow.route))
        self._links[slot] = 0
        self._coef[slot] = 0.0
        for j, res in enumerate(flow.route):
            idx = self._res_index.get(id(res))
            if idx is None:
                raise ValueError(f"flow {flow.name} crosses {res.name}, which is not part of this network")
            self._links[slot, j] = idx
            self._coef[slot, j] = res.coefficient(flow)

    # ------------------------------------------------------------------------------------------------- progress

    def _advance(self) -> None:
        """Move every active flow forward to ``env.now`` at its current rate."""
        self._count()
        dt = self.env.now - self._last_update
        if dt > 0 and self._flows:
            slots = np.fromiter(self._flows, dtype=np.int64, count=len(self._flows))
            self._remaining[slots] -= self._rate[slots] * dt / 8.0 * (self._rate[slots] > 0)
        self._last_update = self.env.now

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

    def _recompute(self) -> None:
        self._advance()
        self.n_recomputes += 1
        self._generation += 1
        if not self._flows:
            return
        slots = np.fromiter(self._flows, dtype=np.int64, count=len(self._flows))
        n = slots.size
        coef = self._coef[slots]
        if self._any_time_fair:
            used = coef != 0
            fi = np.repeat(np.arange(n), self._k).reshape(coef.shape)[used]
            rates = mixed_maxmin_rates(self._links[slots][used], fi, coef[used], self._capacity, self._time_fair,
                                       self._weight[slots], n)
        elif self._k == 1:
            rates = maxmin_rates(self._links[slots, 0], np.arange(n), coef[:, 0], self._capacity,
                                 self._weight[slots], n)
        else:
            used = coef != 0
            fi = np.repeat(np.arange(n), self._k).reshape(coef.shape)[used]
            rates = maxmin_rates(self._links[slots][used], fi, coef[used], self._capacity, self._weight[slots], n)
        self._rate[slots] = rates
        with np.errstate(divide="ignore", invalid="ignore"):
            finish = np.where(rates > 0, self._remaining[slots] * 8.0 / rates, np.inf)
        finish = np.maximum(finish, 0.0)
        first = finish.min()
        if np.isfinite(first):
            generation = self._generation
            self.env.timeout(float(first)).callbacks.append(lambda _event: self._on_complete(generation))

    def _on_complete(self, generation: int) -> None:
        if generation != self._generation:
            return  # rates changed since; a newer completion is scheduled
        self._advance()
        slots = np.fromiter(self._flows, dtype=np.int64, count=len(self._flows))
        rates = self._rate[slots]
        with np.errstate(divide="ignore", invalid="ignore"):
            left_s = np.where(rates > 0, self._remaining[slots] * 8.0 / rates, np.inf)
        finished = slots[left_s <= _EPS_S * max(1.0, self.env.now)]
        if finished.size == 0:  # rounding left a sliver: finish the earliest anyway
            finished = slots[[int(np.argmin(left_s))]]
        for slot in finished.tolist():
            self._finish_tx(slot)
        self._recompute()

    def _finish_tx(self, slot: int) -> None:
        flow = self._flows.pop(slot)
        self._remaining[slot] = 0.0
        self._rate[slot] = 0.0
        self._free.append(slot)
        flow.slot = None
        flow.tx_end_t = self.env.now
        self.n_flow_events += 1
        self._deliver(flow)

    def _deliver(self, flow: Flow) -> None:
        """The last byte has left: it arrives after the route's latency."""

        def arrive(_event: simpy.Event) -> None:
            if not flow.cancelled:
                if self.observer is not None:
                    self.observer.flow_ended(flow, self.env.now)
                flow.done.succeed(flow)

        self.env.timeout(flow.latency_s).callbacks.append(arrive)

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
        self._pending.pop(id(flow), None)
        if flow.cancelled:
            return
        if not self._free:
            self._grow(len(flow.route))
        slot = self._free.pop()
        flow.slot = slot
        self._flows[slot] = flow
        self._remaining[slot] = flow.size_bytes
        self._rate[slot] = 0.0
        self._weight[slot] = flow.weight
        self._set_route(slot, flow)
        self._schedule_recompute()

    def _startup_delay(self, flow: Flow) -> float:
        rtt = 2 * flow.latency_s
        rate = min(r.capacity / max(r.coefficient(flow), 1e-300) for r in flow.route)
        if not rate > 0:  # no coverage now: only the set-up; the flow stalls once admitted
            return self.slow_start.setup_rtts * rtt
        mss_bits = 8 * self.slow_start.mss_bytes
        return self.slow_start.setup_rtts * rtt + slow_start_stall_s(8 * flow.size_bytes, mss_bits, rate, rtt)

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
            slot = flow.slot
            del self._flows[slot]
            self._remaining[slot] = 0.0
            self._rate[slot] = 0.0
            self._free.append(slot)
            flow.slot = None
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

    def _count(self) -> None:
        """Add ``[last count, now]`` at the current rates and coefficients to the per-resource counters."""
        if self._carried is None:
            return
        dt = self.env.now - self._counted_t
        self._counted_t = self.env.now
        if dt <= 0 or not self._flows:
            return
        if self._carried.size < len(self._resources):  # resources added after counting began
            grow = len(self._resources) - self._carried.size
            self._carried = np.concatenate([self._carried, np.zeros(grow)])
            self._busy = np.concatenate([self._busy, np.zeros(grow)])
        slots = np.fromiter(self._flows, dtype=np.int64, count=len(self._flows))
        rate = self._rate[slots]
        coef = self._coef[slots]
        used = (coef != 0) & (rate > 0)[:, None]  # a moving flow's coefficients are finite
        if not used.any():
            return
        links = self._links[slots][used]
        moving = np.broadcast_to(rate[:, None], coef.shape)[used]
        np.add.at(self._carried, links, moving * (dt / 8.0))
        np.add.at(self._busy, links, coef[used] * moving * dt)

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

    def resource_load(self) -> np.ndarray:
        """[n_resources] capacity in use now (same units as capacity)."""
        self._flush()
        load = np.zeros(len(self._resources))
        if self._flows:
            slots = np.fromiter(self._flows, dtype=np.int64, count=len(self._flows))
            r = self._rate[slots][:, None]
            coef = self._coef[slots]
            with np.errstate(invalid="ignore"):  # inf x 0 for stalled flows
                use = np.where((coef > 0) & np.isfinite(coef) & (r > 0), coef * r, 0.0)
            np.add.at(load, self._links[slots].ravel(), use.ravel())
        return load

    def resource_flow_counts(self) -> np.ndarray:
        counts = np.zeros(len(self._resources), dtype=np.int64)
        if self._flows:
            slots = np.fromiter(self._flows, dtype=np.int64, count=len(self._flows))
            used = self._coef[slots] != 0
            np.add.at(counts, self._links[slots][used], 1)
        return counts
