"""Lazy recomputation for networks with radio cells (time-fair resources), compiled with numba (optional).

The component rule of :mod:`twin.net.lazy` holds for the mixed allocation of :mod:`twin.net.fairness` too: every flow
has a saturated bottleneck where its share (rate per weight on a wired link, air time per weight in a cell) is the
largest of the flows crossing it, so a flow whose bottleneck is outside the component, untouched, keeps its rate,
and a resource that is not saturated constrains nobody. :func:`lazy_recompute_mixed` grows the component from the
changed flows and resources through saturated resources exactly as :func:`twin.net.kernels.lazy_recompute` does and
solves it with the compiled mixed solver (:func:`twin.net.mixed_kernels.mixed_triplets`); a boundary resource (not
saturated, also crossed by flows outside) enters with what the outside leaves of it (air time for a cell) and joins
when the new rates fill it. A cell with an active user is normally full, so an event re-solves its cell and what its
flows reach through saturated wired links, not every cell; the rates equal the full recomputation within rounding
(rtol 1e-9: the solver is not bit-identical to the numpy one).

:func:`refresh_coefficients` is the cheap part of ``resources_changed`` for cells: it re-reads the coefficients of
the flows on the changed resources in one batch per resource and marks only the flows whose coefficient moved.
"""

from __future__ import annotations

import numpy as np

from twin.net.cells import coefficients as cell_coefficients
from twin.net.filling import njit
from twin.net.kernels import SAT_TOL, close_component, component_order, component_seeds, release_component
from twin.net.mixed_kernels import TWO_CELLS, mixed_triplets

__all__ = ["crossings", "lazy_recompute_mixed", "refresh_coefficients"]


@njit(cache=True, nogil=True)
def crossings(indices, head, nxt):  # pragma: no cover - compiled
    """The crossings (``slot * k + hop``) on the resources ``indices``, from their lists, and which one each is on."""
    n = 0
    for i in range(indices.size):
        x = head[indices[i]]
        while x >= 0:
            n += 1
            x = nxt[x]
    out = np.empty(n, dtype=np.int64)
    owner = np.empty(n, dtype=np.int64)
    n = 0
    for i in range(indices.size):
        x = head[indices[i]]
        while x >= 0:
            out[n] = x
            owner[n] = i
            n += 1
            x = nxt[x]
    return out, owner


@njit(cache=True, nogil=True)
def lazy_recompute_mixed(links, coef, weight, active, seed, seq, rate, capacity, time_fair, saturated, dirty, load,
                         use, head, nxt):  # pragma: no cover - compiled
    """:func:`twin.net.kernels.lazy_recompute` with the mixed solver; returns how many flows were recomputed, or -1
    when a flow crosses two cells (nothing changed then)."""
    cap, k = links.shape
    n_res = capacity.size
    in_r = np.zeros(n_res, dtype=np.bool_)
    in_f = np.zeros(cap, dtype=np.bool_)
    stack_r = np.empty(n_res, dtype=np.int64)
    r_list = np.empty(n_res, dtype=np.int64)  # the resources the component marks (this caller needs in_r only)
    members = np.empty(cap, dtype=np.int64)
    n_stack, n_rl, n_f = component_seeds(dirty, seed, active, in_r, in_f, stack_r, r_list, members)
    done = 0
    loc = np.full(n_res, -1, dtype=np.int64)
    cap_eff = np.empty(n_res)
    while True:
        n_f, done, n_rl = close_component(links, coef, saturated, head, nxt, in_r, in_f, stack_r, n_stack, r_list,
                                          n_rl, members, n_f, done)
        n_stack = 0
        if n_f == 0:
            for li in range(n_res):
                if in_r[li] and head[li] < 0:
                    load[li] = 0.0
                    saturated[li] = False
            return 0
        slots = component_order(in_f, seq, np.empty(n_f, dtype=np.int64), n_f)
        n_rl = release_component(slots, n_f, links, coef, use, load, head, nxt, in_f, in_r, r_list, n_rl)
        t_link = np.empty(n_f * k, dtype=np.int64)
        t_flow = np.empty(n_f * k, dtype=np.int64)
        t_coef = np.empty(n_f * k)
        w = np.empty(n_f)
        n_trip = 0
        for i in range(n_f):
            s = slots[i]
            w[i] = weight[s]
            for j in range(k):
                c = coef[s, j]
                if c != 0:
                    li = links[s, j]
                    t_link[n_trip] = li
                    t_flow[n_trip] = i
                    t_coef[n_trip] = c
                    n_trip += 1
                    # a boundary resource keeps what the outside flows leave (air time, for a cell)
                    cap_eff[li] = capacity[li] if in_r[li] else max(capacity[li] - load[li], 0.0)
        sub_rate = np.empty(n_f)
        iterations, _exact = mixed_triplets(t_link, t_flow, t_coef, n_trip, cap_eff, time_fair, w, n_f, sub_rate,
                                            loc)
        if iterations < 0:
            return -1
        again = False
        for i in range(n_f):
            s = slots[i]
            r = sub_rate[i]
            rate[s] = r
            for j in range(k):
                c = coef[s, j]
                if c > 0 and np.isfinite(c) and r > 0:
                    use[s, j] = c * r
                    load[links[s, j]] += use[s, j]
        for i in range(n_f):
            s = slots[i]
            for j in range(k):
                li = links[s, j]
                full = load[li] >= capacity[li] * (1 - SAT_TOL)
                if coef[s, j] != 0 and not in_r[li] and full:  # filled by the new rates: solve again with it
                    in_r[li] = True
                    stack_r[n_stack] = li
                    n_stack += 1
                    again = True
                saturated[li] = full
        if not again:
            for li in range(n_res):
                if in_r[li]:
                    if head[li] < 0:
                        load[li] = 0.0
                    saturated[li] = load[li] >= capacity[li] * (1 - SAT_TOL)
            return n_f


def recompute(net) -> int:  # net: a twin.net.lazy.FlowRates (not imported: lazy imports this module)
    """One lazy recomputation of ``net`` (a FlowRates with cells); returns how many flows were recomputed."""
    n = lazy_recompute_mixed(net._links, net._coef, net._weight, net._active, net._seed, net._seq, net._rate,
                             net._capacity, net._time_fair, net._saturated, net._dirty, net._load, net._use, net._head,
                             net._nxt)
    if n < 0:
        raise ValueError(TWO_CELLS)
    return n


def refresh_coefficients(net, directions: list, indices: list[int]) -> list[int]:  # net: a FlowRates
    """New coefficients of the flows on the cell ``directions`` (at ``indices``), read in one batch: written in
    place, their flows marked for recomputation and their direction dirty when one moved. Returns the slots whose
    coefficient turned to or from 0 (their crossing lists change: the caller re-sets their routes)."""
    k = net._k
    idx = np.asarray(indices, dtype=np.int64)
    xs, owner = crossings(idx, net._head, net._nxt)
    if xs.size == 0:
        return []
    slots, hops = xs // k, xs % k
    flows = net._flows
    new = cell_coefficients(directions, owner, [flows[s].user for s in slots.tolist()])
    old = net._coef[slots, hops]
    moved = new != old
    if not moved.any():
        return []
    relink = moved & ((new == 0) | (old == 0))
    keep = moved & ~relink
    net._coef[slots[keep], hops[keep]] = new[keep]
    net._seed[slots[keep]] = True
    net._dirty[idx[owner[moved]]] = True
    return slots[relink].tolist()
