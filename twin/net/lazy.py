"""The rate machinery of :class:`twin.net.engine.FlowNetwork`: slot arrays, progress, and lazy recomputation.

Every transmitting flow has a slot in fixed arrays (route resources and coefficients [slot, hop], bytes remaining,
rate, weight, admission number), grown by doubling, never re-allocated per event. An event (flows start, finish, are
cancelled or re-routed, resources change) marks the resources it touches *dirty*; the next recomputation solves only
the flows connected to them (SimGrid's lazy LMM): the component grows from the dirty resources through every active
flow that crosses it and every *saturated* resource such a flow crosses. A resource that is not saturated constrains
nobody, so flows beyond it keep their rates, unless the new rates fill it: then it joins and the component is solved
again. Flows outside keep their bottleneck (saturated, untouched) and so their max-min rates; the result is the
global max-min allocation.

The component is solved in admission order with the arithmetic of :func:`twin.net.sharing.maxmin_rates`, so the rates
are bit-identical to a full recomputation (barring two components whose levels are within 1e-9 of each other, which
the full progressive filling would freeze together). When every transmitting flow forms a star (a server link and
private access links: the burst of a round) the star filling (:mod:`twin.net.star`) solves them all in a pass or two.
With numba (:mod:`twin.net.kernels`) the whole recomputation is one compiled call, and so is a completion on a wired
network (:mod:`twin.net.completion`); with radio cells (time-fair resources, :mod:`twin.net.fairness`) the same
component rule runs with the compiled mixed solver (:mod:`twin.net.mixed_lazy`, equal within rtol 1e-9). Without
numba, or with ``FlowNetwork(..., incremental=False)`` (the reference), every flow is recomputed with numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from twin.net import kernels, mixed_lazy
from twin.net.cells import CellDirection
from twin.net.completion import on_complete
from twin.net.counting import count_moving
from twin.net.fairness import mixed_maxmin_rates
from twin.net.scratch import Scratch
from twin.net.sharing import maxmin_rates

if TYPE_CHECKING:
    from twin.net.flow import Flow, Resource

_RES_FILL = (0.0, False, False, False, 0.0, -1, 0)  # the per-resource arrays' buffers: capacity ... head, n_on
FINISH_EPS_S = 1e-12  # flows whose finish time is this close (relative) are finished together


class FlowRates:
    """Mixin of FlowNetwork: the slot arrays and the rate recomputation (needs ``env``, ``_flows``, ``_generation``)."""

    def _init_rates(self, incremental: bool) -> None:
        self.incremental = bool(incremental)
        self._resources: list[Resource] = []
        self._res_index: dict[int, int] = {}
        self._flows: dict[int, Flow] = {}  # slot -> flow, in admission order
        self._free: list[int] = []
        self._cap = 0
        self._k = 1
        self._links = np.zeros((0, 1), dtype=np.int64)
        self._coef = np.zeros((0, 1))
        self._use = np.zeros((0, 1))  # [slot, hop] capacity in use, as counted in _load
        self._remaining = np.zeros(0)
        self._rate = np.zeros(0)
        self._weight = np.zeros(0)
        self._seq = np.zeros(0, dtype=np.int64)
        self._active = np.zeros(0, dtype=bool)
        self._seed = np.zeros(0, dtype=bool)  # flows to recompute (new or re-routed)
        self._n_admitted = 0
        self._capacity = np.zeros(0)
        self._time_fair = np.zeros(0, dtype=bool)
        self._any_time_fair = False
        self._dirty = np.zeros(0, dtype=bool)  # resources to re-share at the next recomputation
        self._saturated = np.zeros(0, dtype=bool)
        self._load = np.zeros(0)  # capacity in use per resource (kept by the lazy path)
        self._head = np.zeros(0, dtype=np.int64)  # per resource: its first crossing (slot * k + hop), -1 if none
        self._n_on = np.zeros(0, dtype=np.int64)  # per resource: transmitting flows on it (kept when _track_on)
        self._track_on = False
        self._rbuf = [np.zeros(0, dtype=a.dtype) for a in (self._capacity, self._time_fair, self._dirty,
                                                            self._saturated, self._load, self._head, self._n_on)]
        self._nxt = np.zeros(0, dtype=np.int64)  # per crossing: the next and previous one on the same resource
        self._prv = np.zeros(0, dtype=np.int64)
        self._last_update = self.env.now
        self.n_recomputes = 0
        self.n_flows_recomputed = 0
        self._carried: np.ndarray | None = None  # per resource: payload bytes carried (None: nobody asked)
        self._busy = np.zeros(0)  # per resource: capacity x seconds in use
        self._counted_t = self.env.now
        self._scratch = Scratch()  # work arrays of the compiled recomputation
        self._done = np.zeros(0, dtype=np.int64)  # the slots a completion finished (twin.net.completion)

    def _work_arrays(self) -> Scratch:
        """The compiled recomputation's work arrays, and the finished-slot buffer, sized for the network now."""
        self._scratch.fit(len(self._resources), self._cap, self._k)
        if self._done.size < self._cap:
            self._done = np.empty(self._cap, dtype=np.int64)
        return self._scratch

    @property
    def _lazy(self) -> bool:
        return self.incremental and kernels.AVAILABLE  # with cells: mixed_lazy (same numba condition)

    # ---------------------------------------------------------------------------------------------- resources

    def add_resource(self, resource: Resource) -> Resource:
        capacity = float(resource.capacity)
        if not capacity > 0:
            raise ValueError(f"resource {resource.name}: capacity must be positive, got {capacity}")
        n = len(self._resources)
        self._res_index[id(resource)] = n
        self._resources.append(resource)
        if n == len(self._rbuf[0]):  # grow the per-resource arrays by doubling (a big star adds 200,000 resources)
            self._rbuf = [np.concatenate([b, np.full(max(16, n), fill, dtype=b.dtype)])
                          for b, fill in zip(self._rbuf, _RES_FILL, strict=True)]
        for b, value in zip(self._rbuf, (capacity, bool(resource.time_fair), False, False, 0.0, -1, 0), strict=True):
            b[n] = value
        # views of the first n + 1 entries: the rest of the machinery sees arrays of one entry per resource
        self._capacity, self._time_fair, self._dirty, self._saturated, self._load, self._head, self._n_on = \
            (b[: n + 1] for b in self._rbuf)
        self._any_time_fair = self._any_time_fair or bool(resource.time_fair)
        return resource

    def index_of(self, resource: Resource) -> int:
        """The resource's index in the engine's per-resource arrays (its order of :meth:`add_resource`)."""
        return self._res_index[id(resource)]

    def resources_changed(self, resources: Sequence[Resource]) -> None:
        """Like :meth:`resource_changed` for several resources at once (one pass over the flows)."""
        self._count()  # the coefficients change now: count the interval so far with the old ones
        hit: set[int] = set()
        cells: list[tuple[Resource, int]] = []
        for resource in resources:
            index = self._res_index[id(resource)]
            if not resource.capacity > 0:
                raise ValueError(f"resource {resource.name}: capacity must be positive, got {resource.capacity}")
            if isinstance(resource, CellDirection):  # re-read below, in one batch: only flows whose coefficient moved
                self._dirty[index] |= self._capacity[index] != float(resource.capacity)
                self._capacity[index] = float(resource.capacity)
                cells.append((resource, index))
                continue
            self._capacity[index] = float(resource.capacity)
            self._dirty[index] = True
            crossing = int(self._head[index])  # the flows on it, from its crossing list (not a scan of every flow)
            while crossing >= 0:
                hit.add(crossing // self._k)
                crossing = int(self._nxt[crossing])
        if cells:
            hit.update(mixed_lazy.refresh_coefficients(self, [c for c, _ in cells], [i for _, i in cells]))
        for slot in sorted(hit, key=self._seq.__getitem__):  # admission order, as a scan of the flows would visit them
            self._set_route(slot, self._flows[slot])
        self._schedule_recompute()

    # ---------------------------------------------------------------------------------------------- flow slots

    def _grow(self, need_k: int) -> None:
        cap = max(16, self._cap * 2) if len(self._free) == 0 else self._cap
        k = max(self._k, need_k)
        links = np.zeros((cap, k), dtype=np.int64)
        coef = np.zeros((cap, k))
        use = np.zeros((cap, k))
        links[: self._cap, : self._k] = self._links
        coef[: self._cap, : self._k] = self._coef
        use[: self._cap, : self._k] = self._use
        self._links, self._coef, self._use, self._k = links, coef, use, k
        if cap > self._cap:
            extra = cap - self._cap
            self._remaining = np.concatenate([self._remaining, np.zeros(extra)])
            self._rate = np.concatenate([self._rate, np.zeros(extra)])
            self._weight = np.concatenate([self._weight, np.zeros(extra)])
            self._seq = np.concatenate([self._seq, np.zeros(extra, dtype=np.int64)])
            self._active = np.concatenate([self._active, np.zeros(extra, dtype=bool)])
            self._seed = np.concatenate([self._seed, np.zeros(extra, dtype=bool)])
            self._free.extend(range(cap - 1, self._cap - 1, -1))
            self._cap = cap
        self._nxt = np.full(cap * k, -1, dtype=np.int64)  # crossing numbers changed: relink every flow
        self._prv = np.full(cap * k, -1, dtype=np.int64)
        self._head[:] = -1
        for slot in self._flows:
            kernels.link(slot, self._links, self._coef, self._head, self._nxt, self._prv)

    def _set_route(self, slot: int, flow: Flow, fresh: bool = False) -> None:
        """(Re)write the slot's route; ``fresh``: the slot was free (its rows are zero and linked nowhere)."""
        if len(flow.route) > self._k:
            self._grow(len(flow.route))
        if not fresh:
            self._unlink(slot)
            if self._track_on:
                self._tally(slot, -1)
            self._links[slot] = 0
            self._coef[slot] = 0.0
        self._seed[slot] = True
        links, coef, index = self._links, self._coef, self._res_index
        for j, res in enumerate(flow.route):
            idx = index.get(id(res))
            if idx is None:
                raise ValueError(f"flow {flow.name} crosses {res.name}, which is not part of this network")
            links[slot, j] = idx
            coef[slot, j] = res.coefficient(flow)
        kernels.link(slot, links, coef, self._head, self._nxt, self._prv)
        if self._track_on:
            self._tally(slot, 1)

    def _tally(self, slot: int, sign: int) -> None:
        """Count (+1) or uncount (-1) the flow in ``slot`` on the resources it crosses (:attr:`_n_on`)."""
        hops = self._coef[slot] != 0
        np.add.at(self._n_on, self._links[slot][hops], sign)

    def _unlink(self, slot: int) -> None:
        """The flow leaves its route: the saturated resources on it re-share (unsaturated ones limit nobody)."""
        kernels.unlink(slot, self._links, self._coef, self._use, self._head, self._nxt, self._prv, self._load,
                       self._saturated, self._dirty)

    def _occupy(self, flow: Flow, weight: float) -> int:
        """Give ``flow`` a free slot (growing the arrays if needed) and return it."""
        if not self._free:
            self._grow(len(flow.route))
        slot = self._free.pop()
        flow.slot = slot
        self._flows[slot] = flow
        self._remaining[slot] = flow.size_bytes  # a free slot's rate, route and coefficients are zero already
        self._weight[slot] = weight
        self._seq[slot] = self._n_admitted
        self._n_admitted += 1
        self._active[slot] = True
        self._set_route(slot, flow, fresh=True)
        return slot

    def _release(self, slot: int) -> Flow:
        """Free a slot (the flow finished or was cancelled); its resources are re-shared at the next recomputation."""
        flow = self._flows.pop(slot)
        self._unlink(slot)
        if self._track_on:
            self._tally(slot, -1)
        self._remaining[slot] = 0.0
        self._rate[slot] = 0.0
        self._active[slot] = False
        self._seed[slot] = False
        self._links[slot] = 0
        self._coef[slot] = 0.0
        self._free.append(slot)
        flow.slot = None
        return flow

    def _slots(self) -> np.ndarray:
        """Active slots in admission order."""
        return np.fromiter(self._flows, dtype=np.int64, count=len(self._flows))

    # ------------------------------------------------------------------------------------------------- progress

    def _advance(self) -> None:
        """Move every active flow forward to ``env.now`` at its current rate."""
        self._count()
        dt = self.env.now - self._last_update
        if dt > 0 and self._flows:
            if kernels.AVAILABLE:
                kernels.advance(self._remaining, self._rate, self._active, dt)
            else:
                slots = self._slots()
                self._remaining[slots] -= self._rate[slots] * dt / 8.0 * (self._rate[slots] > 0)
        self._last_update = self.env.now

    def _count(self) -> None:
        """Add ``[last count, now]`` at the current rates and coefficients to the per-resource counters
        (:meth:`FlowNetwork.count_carried`); nothing when nobody asked."""
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
        count_moving(self._slots(), self._links, self._coef, self._rate, self._carried, self._busy, dt)

    def _recompute(self) -> None:
        self._advance()
        self.n_recomputes += 1
        self._generation += 1
        if not self._flows:
            self._dirty[:] = False
            self._saturated[:] = False
            return
        if self._lazy and self._any_time_fair:
            self._unstale()
            self.n_flows_recomputed += mixed_lazy.recompute(self)
            first = kernels.first_finish(self._remaining, self._rate, self._active)
        elif self._lazy:
            scratch = self._work_arrays()
            n, first = kernels.lazy_recompute(
                self._links, self._coef, self._weight, self._active, self._seed, self._seq, self._rate, self._capacity,
                self._saturated, self._dirty, self._load, self._use, self._head, self._nxt, self._remaining,
                scratch.ints, scratch.floats, scratch.flags, scratch.r, scratch.c, scratch.ck)
            self.n_flows_recomputed += n
        else:
            first = self._recompute_all()
        if np.isfinite(first):
            generation = self._generation
            self.env.timeout(float(first)).callbacks.append(lambda _event: self._on_complete(generation))

    def _unstale(self) -> None:
        """Rebuild the loads that star solves left stale (:mod:`twin.net.scratch`) before another solver reads them."""
        state = self._scratch.ints[-3:]
        if state.size and state[2] == 1:
            state[1] = state[2] = 0
            kernels.rebuild_loads(self._slots(), len(self._flows), self._links, self._coef, self._rate, self._capacity,
                                  self._saturated, self._dirty, self._load, self._use, self._head)

    def _recompute_all(self) -> float:
        """The reference: every flow's rate from scratch with numpy; returns the earliest finish time from now."""
        self._dirty[:] = False
        self._seed[:] = False
        slots = self._slots()
        n = slots.size
        self.n_flows_recomputed += n
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
        return float(np.maximum(finish, 0.0).min())

    def _on_complete(self, generation: int) -> None:
        if generation != self._generation:
            return  # rates changed since; a newer completion is scheduled
        if self._lazy and not self._young and not self._any_time_fair:  # wired only: the fused completion
            on_complete(self, FINISH_EPS_S)
            return
        self._advance()
        if kernels.AVAILABLE:
            finished = kernels.finished_slots(self._remaining, self._rate, self._active, self._seq,
                                              FINISH_EPS_S * max(1.0, self.env.now))
            for slot in finished.tolist():
                self._finish_tx(slot)
            self._recompute()
            return
        slots = self._slots()
        rates = self._rate[slots]
        with np.errstate(divide="ignore", invalid="ignore"):
            left_s = np.where(rates > 0, self._remaining[slots] * 8.0 / rates, np.inf)
        finished = slots[left_s <= FINISH_EPS_S * max(1.0, self.env.now)]
        if finished.size == 0:  # rounding left a sliver: finish the earliest anyway
            finished = slots[[int(np.argmin(left_s))]]
        for slot in finished.tolist():
            self._finish_tx(slot)
        self._recompute()

    def _finish_tx(self, slot: int) -> None:
        flow = self._release(slot)
        flow.tx_end_t = self.env.now
        self.n_flow_events += 1
        self._deliver(flow)

    # -------------------------------------------------------------------------------------------------- probes

    def resource_load(self) -> np.ndarray:
        """[n_resources] capacity in use now (same units as capacity)."""
        self._flush()
        load = np.zeros(len(self._resources))
        if self._flows:
            slots = self._slots()
            r = self._rate[slots][:, None]
            coef = self._coef[slots]
            with np.errstate(invalid="ignore"):  # inf x 0 for stalled flows
                use = np.where((coef > 0) & np.isfinite(coef) & (r > 0), coef * r, 0.0)
            np.add.at(load, self._links[slots].ravel(), use.ravel())
        return load

    def resource_flow_counts(self) -> np.ndarray:
        counts = np.zeros(len(self._resources), dtype=np.int64)
        if self._flows:
            slots = self._slots()
            used = self._coef[slots] != 0
            np.add.at(counts, self._links[slots][used], 1)
        return counts
