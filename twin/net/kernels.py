"""Compiled kernels of the lazy flow engine (optional: numba). Without numba, ``AVAILABLE`` is False and the engine
uses its numpy path (:mod:`twin.net.lazy`).

The kernels repeat the arithmetic of :func:`twin.net.sharing.maxmin_rates` and of the engine's numpy path operation for
operation and in the same order (sums run in the order of the flows' admission, as ``np.bincount`` does), so the
results are bit-identical: ``tests/net/test_lazy.py`` checks ``array_equal`` against the numpy functions.
"""

from __future__ import annotations

import numpy as np

try:  # pragma: no cover - exercised when numba is installed
    from numba import njit

    AVAILABLE = True
except ImportError:  # pragma: no cover - the numpy path is used
    AVAILABLE = False

    def njit(*_args, **_kwargs):
        def wrap(fn):
            return fn

        return wrap


SAT_TOL = 1e-7  # a resource whose load is within this of its capacity counts as saturated (a superset is safe)


@njit(cache=True, nogil=True)
def advance(remaining, rate, active, dt):  # pragma: no cover - compiled
    """``remaining -= rate * dt / 8 * (rate > 0)`` over the active slots (the numpy path's expression)."""
    for s in range(remaining.size):
        if active[s] and rate[s] > 0:
            remaining[s] -= rate[s] * dt / 8.0 * 1.0


@njit(cache=True, nogil=True)
def first_finish(remaining, rate, active):  # pragma: no cover - compiled
    """The earliest finish time from now over the active slots (``inf`` if every flow is stalled)."""
    first = np.inf
    for s in range(remaining.size):
        if active[s]:
            r = rate[s]
            f = remaining[s] * 8.0 / r if r > 0 else np.inf
            if f < 0.0:
                f = 0.0
            if f < first:
                first = f
    return first


@njit(cache=True, nogil=True)
def maxmin_triplets(t_link, t_flow, t_coef, n_trip, capacity, w, n_flows, rate, residual, demand, charge, newly):
    """In place: ``rate[:n_flows]`` = weighted max-min rates of the triplets (bit-identical to ``maxmin_rates``).

    ``residual``, ``demand``, ``charge`` are [n_links] work arrays (``charge`` all zero), ``newly`` a [n_flows] bool
    work array. The triplet arrays are compacted in place as flows freeze.
    """  # pragma: no cover - compiled
    for f in range(n_flows):
        rate[f] = np.inf
        newly[f] = False
    for t in range(n_trip):  # flows that cannot use a resource stall at rate 0
        if np.isinf(t_coef[t]):
            newly[t_flow[t]] = True
    m = 0
    for t in range(n_trip):  # keep coef > 0 of flows not blocked, in order
        f = t_flow[t]
        if newly[f]:
            rate[f] = 0.0
        elif t_coef[t] > 0:
            t_link[m] = t_link[t]
            t_flow[m] = f
            t_coef[m] = t_coef[t]
            m += 1
    for t in range(m):
        residual[t_link[t]] = capacity[t_link[t]]
    while m > 0:
        for t in range(m):
            demand[t_link[t]] = 0.0
            newly[t_flow[t]] = False
        for t in range(m):
            demand[t_link[t]] += t_coef[t] * w[t_flow[t]]
        lam = np.inf
        for t in range(m):
            li = t_link[t]
            d = demand[li]
            lv = (residual[li] if residual[li] > 0.0 else 0.0) / d if d > 0 else np.inf
            if lv < lam:
                lam = lv
        thresh = lam * (1 + 1e-9) + 1e-300
        for t in range(m):
            li = t_link[t]
            d = demand[li]
            lv = (residual[li] if residual[li] > 0.0 else 0.0) / d if d > 0 else np.inf
            if lv <= thresh:
                newly[t_flow[t]] = True
        for t in range(m):
            f = t_flow[t]
            if newly[f]:
                rate[f] = lam * w[f]
                charge[t_link[t]] += t_coef[t] * rate[f]
        for t in range(m):
            li = t_link[t]
            if newly[t_flow[t]]:
                residual[li] -= charge[li]
                charge[li] = 0.0  # subtracted once per resource
        k = 0
        for t in range(m):
            if not newly[t_flow[t]]:
                t_link[k] = t_link[t]
                t_flow[k] = t_flow[t]
                t_coef[k] = t_coef[t]
                k += 1
        m = k


@njit(cache=True, nogil=True)
def lazy_recompute(links, coef, weight, active, seed, seq, rate, capacity, saturated, dirty, full):  # pragma: no cover
    """Recompute the rates of the flows connected to the ``dirty`` resources through saturated resources.

    The component grows from the ``seed`` flows (new or re-routed) and the dirty resources (changed ones, saturated
    ones a flow left): every active flow crossing it joins, and so does every saturated
    resource such a flow crosses. The flows are solved (max-min on the component's resources only, in admission
    order), then every resource they cross outside the component is checked: one that would now be (nearly) full
    joins the component and the solve is redone. The result is the global max-min allocation (see docs).
    ``saturated`` is refreshed from the new loads; ``dirty`` and ``seed`` are cleared. Returns the number of flows recomputed.
    """
    cap, k = links.shape
    n_res = capacity.size
    in_r = np.zeros(n_res, dtype=np.bool_)
    for li in range(n_res):
        in_r[li] = full or dirty[li]
        dirty[li] = False
    in_f = np.zeros(cap, dtype=np.bool_)
    load = np.zeros(n_res)
    residual = np.zeros(n_res)
    demand = np.zeros(n_res)
    charge = np.zeros(n_res)
    n_f = 0
    while True:
        grew = True
        while grew:  # closure: flows crossing R, and the saturated resources they cross
            grew = False
            for s in range(cap):
                if not active[s] or in_f[s]:
                    continue
                hit = seed[s] or full
                for j in range(k):
                    if coef[s, j] != 0 and in_r[links[s, j]]:
                        hit = True
                        break
                if hit:
                    in_f[s] = True
                    n_f += 1
                    for j in range(k):
                        li = links[s, j]
                        if coef[s, j] != 0 and saturated[li] and not in_r[li]:
                            in_r[li] = True
                            grew = True
        if n_f == 0:
            break
        slots = np.empty(n_f, dtype=np.int64)
        i = 0
        for s in range(cap):
            if in_f[s]:
                slots[i] = s
                i += 1
        slots = slots[np.argsort(seq[slots], kind="mergesort")]
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
                if c != 0 and (in_r[links[s, j]] or np.isinf(c)):  # an infinite one stalls the flow anywhere
                    t_link[n_trip] = links[s, j]
                    t_flow[n_trip] = i
                    t_coef[n_trip] = coef[s, j]
                    n_trip += 1
        sub_rate = np.empty(n_f)
        newly = np.zeros(n_f, dtype=np.bool_)
        maxmin_triplets(t_link, t_flow, t_coef, n_trip, capacity, w, n_f, sub_rate, residual, demand, charge, newly)
        for i in range(n_f):
            rate[slots[i]] = sub_rate[i]
        # loads now; a resource outside R that the component's flows would fill joins R
        for li in range(n_res):
            load[li] = 0.0
        for s in range(cap):
            r = rate[s]
            if active[s] and r > 0:
                for j in range(k):
                    c = coef[s, j]
                    if c > 0 and np.isfinite(c):
                        load[links[s, j]] += c * r
        again = False
        for i in range(n_f):
            s = slots[i]
            for j in range(k):
                li = links[s, j]
                if coef[s, j] != 0 and not in_r[li] and load[li] >= capacity[li] * (1 - SAT_TOL):
                    in_r[li] = True
                    again = True
        if not again:
            break
    for s in range(cap):
        seed[s] = False
    if n_f > 0:
        for li in range(n_res):
            saturated[li] = load[li] >= capacity[li] * (1 - SAT_TOL)
    return n_f


@njit(cache=True, nogil=True)
def finished_slots(remaining, rate, active, seq, threshold):  # pragma: no cover - compiled
    """Active slots whose time left is within ``threshold`` in admission order; else the earliest one alone."""
    cap = remaining.size
    out = np.empty(cap, dtype=np.int64)
    n = 0
    best = -1
    best_left = np.inf
    best_seq = 0
    for s in range(cap):
        if active[s]:
            r = rate[s]
            left = remaining[s] * 8.0 / r if r > 0 else np.inf
            if left <= threshold:
                out[n] = s
                n += 1
            if best < 0 or left < best_left or (left == best_left and seq[s] < best_seq):
                best, best_left, best_seq = s, left, seq[s]
    if n == 0:
        if best < 0:
            return out[:0]
        out[0] = best
        return out[:1]
    out = out[:n]
    return out[np.argsort(seq[out])]
