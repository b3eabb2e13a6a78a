"""Chains of transfers, run to their end in one compiled call: the flow engine's events without SimPy in between.

A *chain* is a transfer ``a`` that starts now, then a delay, then a transfer ``b`` (an FL participation: download the
model, train, upload the update). :func:`run_chains` runs a batch of chains that start together on a network where
nothing else moves, until every chain's last transfer has arrived. It does what :class:`twin.net.engine.FlowNetwork`
and one SimPy process per chain would do, step for step and in the same order, so every time and every rate is the
same to the bit:

- the events are kept in a heap ordered as SimPy orders its own, by (time, the order they were scheduled in);
- a transfer is admitted as ``FlowNetwork.start`` admits it (a free slot from the end of the free list, its route
  linked, seeded), and the flows admitted at one instant are solved by one recomputation at the end of the instant
  (``_schedule_recompute``);
- a recomputation is :func:`twin.net.kernels.lazy_recompute` and a completion :func:`twin.net.completion.complete`,
  the very kernels the engine calls, on the engine's own arrays; a completion's finished flows arrive after their
  route's latency, one timer per arrival time (``_deliver_many``);
- a completion timer whose rates were recomputed since does nothing (the engine's generation check).

What happened is written to an event log (``log_kind``, ``log_t``, ``log_i``) in the order the SimPy processes would
have recorded it (:data:`START`, :data:`END`, :data:`DELAY_START`, :data:`DELAY_END`, :data:`DONE`), so the caller
records the same timeline rows. :func:`run_on` runs the chains on a :class:`~twin.net.engine.FlowNetwork` (when it
is at rest, :func:`at_rest`); :mod:`twin.sim.fast_round` is the caller and says when a round may run this way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from twin.net.completion import complete
from twin.net.filling import njit
from twin.net.kernels import advance, lazy_recompute, link

if TYPE_CHECKING:
    from twin.net.engine import FlowNetwork

__all__ = ["DELAY_END", "DELAY_START", "DONE", "END", "START", "Log", "at_rest", "run_chains", "run_on"]

# event log kinds: a transfer starts / its last byte arrives (``log_i``: the flow, chain i's a is i, its b is n + i);
# a chain's delay starts / ends, its last transfer is done (``log_i``: the chain)
START, END, DELAY_START, DELAY_END, DONE = 0, 1, 2, 3, 4
# heap event kinds
_RECOMPUTE, _COMPLETE, _ARRIVE, _RESUME, _DELAY = 0, 1, 2, 3, 4


class Log:
    """What :func:`run_on` did: the event log (``kind``, ``t``, ``i`` [7n]: see :data:`START` ...), when each flow
    started (``start_t`` [2n]) and when the last chain ended (``t_end``)."""

    def __init__(self, kind: np.ndarray, t: np.ndarray, i: np.ndarray, start_t: np.ndarray, t_end: float) -> None:
        self.kind, self.t, self.i, self.start_t, self.t_end = kind, t, i, start_t, t_end


def at_rest(net: FlowNetwork, n: int, hops: int) -> bool:
    """Whether ``net`` can run ``n`` chains of transfers of at most ``hops`` resources now: nothing transmits or
    waits to (no flow, no slow-start delay, no pending recomputation), nobody counts carried bytes, and its arrays
    hold ``n`` more flows of that many hops without growing (growing is left to the engine, as flows come)."""
    return bool(n > 0 and not net._flows and not net._pending and not net._young and not net._recompute_pending
                and net._carried is None and len(net._free) >= n and hops <= net._k and not net._any_time_fair
                and net._lazy and net.slow_start is None and net.sharing is None)


def run_on(net: FlowNetwork, route: np.ndarray, coef: np.ndarray, size: np.ndarray, latency: np.ndarray,
           delay: np.ndarray, eps_s: float) -> Log:
    """Run ``n`` chains (``delay`` [n]; ``route``, ``coef`` [2n, hops], ``size``, ``latency`` [2n]: see
    :func:`run_chains`) that start now on ``net`` (:func:`at_rest`), to their end, and leave the engine as its own
    events would have: its arrays, free slots, admission count, progress time and counters. Flows finish within
    ``eps_s`` (relative) of their end together, as the engine's completions."""
    n, k = delay.size, net._k
    if route.shape[1] < k:  # the engine's width
        route = np.pad(route, ((0, 0), (0, k - route.shape[1])))
        coef = np.pad(coef, ((0, 0), (0, k - coef.shape[1])))
    scratch = net._work_arrays()
    free = np.asarray(net._free, dtype=np.int64)
    start_t = np.empty(2 * n)
    log_kind = np.empty(7 * n, dtype=np.int64)
    log_t = np.empty(7 * n)
    log_i = np.empty(7 * n, dtype=np.int64)
    m, t_end, net._last_update, net._n_admitted, n_free, n_rec, n_flows_rec, n_events, pending = run_chains(
        float(net.env.now), float(net._last_update), eps_s, net._n_admitted, free, free.size, route, coef, size,
        latency, delay, net._remaining, net._rate, net._active, net._seq, net._links, net._coef, net._weight, net._use,
        net._head, net._nxt, net._prv, net._load, net._saturated, net._dirty, net._seed, net._capacity, net._n_on,
        scratch.ints, scratch.floats, scratch.flags, scratch.r, scratch.c, scratch.ck, net._done, start_t, log_kind,
        log_t, log_i)
    if m != 7 * n or pending:
        raise RuntimeError(f"the chains ended early ({m} of {7 * n} events)")
    net._free[:] = free[:n_free].tolist()
    net.n_recomputes += n_rec
    net._generation += n_rec
    net.n_flows_recomputed += n_flows_rec
    net.n_flow_events += n_events
    return Log(log_kind, log_t, log_i, start_t, float(t_end))


@njit(cache=True, nogil=True, inline="always")
def _before(ta, ea, tb, eb):  # pragma: no cover - compiled
    return ta < tb or (ta == tb and ea < eb)


@njit(cache=True, nogil=True)
def _push(ht, he, hk, ha, size, t, e, kind, arg):  # pragma: no cover - compiled
    """Push (t, e) -> (kind, arg) on the heap of ``size`` entries; returns the new size."""
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        if not _before(t, e, ht[parent], he[parent]):
            break
        ht[i], he[i], hk[i], ha[i] = ht[parent], he[parent], hk[parent], ha[parent]
        i = parent
    ht[i], he[i], hk[i], ha[i] = t, e, kind, arg
    return size + 1


@njit(cache=True, nogil=True)
def _pop(ht, he, hk, ha, size):  # pragma: no cover - compiled
    """Remove the heap's top (read it first at index 0); returns the new size."""
    size -= 1
    t, e, kind, arg = ht[size], he[size], hk[size], ha[size]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and _before(ht[child + 1], he[child + 1], ht[child], he[child]):
            child += 1
        if not _before(ht[child], he[child], t, e):
            break
        ht[i], he[i], hk[i], ha[i] = ht[child], he[child], hk[child], ha[child]
        i = child
    ht[i], he[i], hk[i], ha[i] = t, e, kind, arg
    return size


@njit(cache=True, nogil=True, inline="always")
def _admit(f, s, number, size, route, route_coef, remaining, weight, seq, active, seed, links, coef, head, nxt, prv,
           flow_of):  # pragma: no cover - compiled
    """Flow ``f`` takes the free slot ``s`` as ``FlowRates._occupy`` gives it (weight 1, admission ``number``, its
    route linked and seeded for the next recomputation)."""
    flow_of[s] = f
    remaining[s] = size[f]
    weight[s] = 1.0
    seq[s] = number
    active[s] = True
    seed[s] = True
    for j in range(links.shape[1]):
        links[s, j] = route[f, j]
        coef[s, j] = route_coef[f, j]
    link(s, links, coef, head, nxt, prv)


@njit(cache=True, nogil=True, inline="always")
def _started(f, now, start_t, log_kind, log_t, log_i, n_log, n_admitted, n_act, n_events, ht, he, hk, ha, h, eid,
             pending):  # pragma: no cover - compiled
    """Flow ``f`` started now (admitted: :func:`_admit`): logged, counted, and a recomputation at the end of the
    instant unless one is pending (``FlowNetwork._schedule_recompute``). Returns the updated counters, heap size,
    event number and pending flag."""
    start_t[f] = now
    log_kind[n_log], log_t[n_log], log_i[n_log] = START, now, f
    if not pending:
        h = _push(ht, he, hk, ha, h, now + 0.0, eid, _RECOMPUTE, 0)
        eid += 1
    return n_log + 1, n_admitted + 1, n_act + 1, n_events + 1, h, eid, True


@njit(cache=True, nogil=True)
def run_chains(t0, last_update, eps_s, n_admitted, free, n_free, route, route_coef, size, latency, delay,
               remaining, rate, active, seq, links, coef, weight, use, head, nxt, prv, load, saturated, dirty, seed,
               capacity, n_on, ints, floats, flags, R, C, CK, done, start_t, log_kind, log_t,
               log_i):  # pragma: no cover - compiled
    """Run ``n`` chains that start at ``t0`` to their end. Flow ``f`` (chain ``f % n``'s a for ``f < n``, its b
    after) crosses ``route[f, :]`` (resource indices, ``route_coef[f, j] == 0`` past its last hop), carries
    ``size[f] > 0`` bytes and arrives ``latency[f]`` seconds after its last byte left; chain i waits ``delay[i]`` seconds
    between its a's arrival and its b's start.

    The network arrays (``remaining`` ... ``n_on``: ``FlowRates``'s, with no flow transmitting; ``ints``, ``floats``,
    ``flags``: its :class:`~twin.net.scratch.Scratch`; ``done``: at least as many entries as slots) are updated in
    place, and so is the free list (``free[:n_free]``, popped from its end). ``last_update``: when the flows' progress
    was last computed; ``n_admitted``: flows admitted so far (their admission numbers). Fills ``start_t`` [2n] (when
    each flow started) and the event log ([7n] each). Returns (log entries, the time the last chain ended,
    ``last_update``, ``n_admitted``, ``n_free``, recomputations, flows recomputed, flow events, a recomputation still
    pending (never: every flow has arrived)).
    """
    n = delay.size
    cap = links.shape[0]
    hcap = 11 * n + 16  # every event the chains can schedule (see below), so the heap never grows
    ht = np.empty(hcap)
    he = np.empty(hcap, dtype=np.int64)
    hk = np.empty(hcap, dtype=np.int64)
    ha = np.empty(hcap, dtype=np.int64)
    h = 0
    eid = 0
    flow_of = np.full(cap, -1, dtype=np.int64)  # slot -> flow
    groups = np.empty(2 * n, dtype=np.int64)  # arrival groups' flows, one after the other
    g_start = np.empty(2 * n + 1, dtype=np.int64)
    g_end = np.empty(2 * n + 1, dtype=np.int64)
    n_groups = 0
    n_grouped = 0
    keys = np.empty(2 * n)
    n_log = 0
    n_act = 0
    generation = 0
    pending = False
    n_rec_total = 0
    n_flows_rec = 0
    n_events = 0
    n_ended = 0
    t_last = t0
    now = t0
    for f in range(n):  # every chain's a starts now: admitted in chain order, solved at the end of the instant
        n_free -= 1
        _admit(f, free[n_free], n_admitted, size, route, route_coef, remaining, weight, seq, active, seed, links, coef,
               head, nxt, prv, flow_of)
        n_log, n_admitted, n_act, n_events, h, eid, pending = _started(
            f, now, start_t, log_kind, log_t, log_i, n_log, n_admitted, n_act, n_events, ht, he, hk, ha, h, eid,
            pending)
    while h > 0 and n_ended < n:
        now, kind, arg = ht[0], hk[0], ha[0]
        h = _pop(ht, he, hk, ha, h)
        if kind == _RECOMPUTE:  # FlowNetwork._on_recompute -> FlowRates._recompute
            pending = False
            dt = now - last_update
            if dt > 0 and n_act > 0:
                advance(remaining, rate, active, dt)
            last_update = now
            n_rec_total += 1
            generation += 1
            if n_act == 0:
                dirty[:] = False
                saturated[:] = False
                continue
            m, first = lazy_recompute(links, coef, weight, active, seed, seq, rate, capacity, saturated, dirty, load,
                                      use, head, nxt, remaining, ints, floats, flags, R, C, CK)
            n_flows_rec += m
            if np.isfinite(first):
                h = _push(ht, he, hk, ha, h, now + first, eid, _COMPLETE, generation)
                eid += 1
        elif kind == _COMPLETE:  # twin.net.completion.on_complete
            if arg != generation:
                continue  # rates changed since; a newer completion is scheduled
            dt = now - last_update
            last_update = now
            m, m_rec, first = complete(dt if n_act > 0 else 0.0, eps_s * max(1.0, now), False, done, remaining, rate,
                                       active, seq, links, coef, weight, use, head, nxt, prv, load, saturated, dirty,
                                       seed, capacity, n_on, ints, floats, flags, R, C, CK)
            n_keys = 0  # FlowNetwork._deliver_many: one arrival timer per arrival time, in order of first appearance
            for x in range(m):
                s = done[x]
                free[n_free] = s
                n_free += 1
                n_act -= 1
                a = now + latency[flow_of[s]]
                found = False
                for y in range(n_keys):
                    if keys[y] == a:
                        found = True
                        break
                if not found:
                    keys[n_keys] = a
                    n_keys += 1
            for y in range(n_keys):
                g_start[n_groups] = n_grouped
                for x in range(m):
                    f = flow_of[done[x]]
                    if now + latency[f] == keys[y]:
                        groups[n_grouped] = f
                        n_grouped += 1
                g_end[n_groups] = n_grouped
                h = _push(ht, he, hk, ha, h, keys[y], eid, _ARRIVE, n_groups)
                eid += 1
                n_groups += 1
            for x in range(m):
                flow_of[done[x]] = -1
            n_events += m
            n_rec_total += 1
            generation += 1
            n_flows_rec += m_rec
            if first < np.inf:
                h = _push(ht, he, hk, ha, h, now + first, eid, _COMPLETE, generation)
                eid += 1
        elif kind == _ARRIVE:  # FlowNetwork._arrive: the flow's end is recorded, its process resumes
            for x in range(g_start[arg], g_end[arg]):
                f = groups[x]
                log_kind[n_log], log_t[n_log], log_i[n_log] = END, now, f
                n_log += 1
                h = _push(ht, he, hk, ha, h, now, eid, _RESUME, f)
                eid += 1
        elif kind == _RESUME:
            if arg < n:  # the chain's a arrived: its delay starts
                log_kind[n_log], log_t[n_log], log_i[n_log] = DELAY_START, now, arg
                n_log += 1
                h = _push(ht, he, hk, ha, h, now + delay[arg], eid, _DELAY, arg)
                eid += 1
            else:  # its b arrived: the chain is done
                log_kind[n_log], log_t[n_log], log_i[n_log] = DONE, now, arg - n
                n_log += 1
                n_ended += 1
                t_last = now
        else:  # _DELAY: the delay is over, the chain's b starts
            i = arg
            f = n + i
            log_kind[n_log], log_t[n_log], log_i[n_log] = DELAY_END, now, i
            n_log += 1
            n_free -= 1
            _admit(f, free[n_free], n_admitted, size, route, route_coef, remaining, weight, seq, active, seed, links,
                   coef, head, nxt, prv, flow_of)
            n_log, n_admitted, n_act, n_events, h, eid, pending = _started(
                f, now, start_t, log_kind, log_t, log_i, n_log, n_admitted, n_act, n_events, ht, he, hk, ha, h, eid,
                pending)
    # scheduled at most: 2n arrival timers, 2n resumptions, n delays, one recomputation per instant a flow started
    # (<= 2n) and one completion timer per recomputation or completion (<= 4n): 11n, the heap's size
    return n_log, t_last, last_update, n_admitted, n_free, n_rec_total, n_flows_rec, n_events, pending
