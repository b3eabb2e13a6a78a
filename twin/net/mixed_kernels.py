"""Compiled mixed solver (optional: numba): equal air time in radio cells, equal rates on wired links.

The allocation and the algorithm are those of :func:`twin.net.fairness.mixed_maxmin_rates` (read its docstring): the
monotone map ``T`` on the cells' air-time levels ``tau`` (a wired max-min filling with a private cap per cell flow,
then each cell's water-filling under its flows' wired offers), each step followed by an exact attempt: every flow's
bottleneck is read off, the bottleneck levels are solved from their capacity equations, and the result is accepted
when it is feasible and every bottleneck is saturated (the max-min bottleneck property, within 1e-9). The results
equal the numpy solver's within rounding (``tests/net/test_mixed_kernels.py`` checks rtol 1e-9).

What differs is the cost. The wired filling runs on the flows' own crossings with the caps as events from a heap (no
private resources), each cell's water-filling sorts only its own flows, and the exact step
(:mod:`twin.net.mixed_exact`) eliminates the cells: a flow crosses at most one cell, so only a system of the size of
the wired bottlenecks (usually 0 to 3) is solved.

Without numba ``njit`` leaves the functions as plain Python (slow, used only by tests); the engine then takes the
numpy path (:mod:`twin.net.lazy`).
"""

from __future__ import annotations

import numpy as np

from twin.net.filling import AVAILABLE, heap_pop, heap_sift_down, maxmin_triplets, njit
from twin.net.mixed_exact import exact as _exact

__all__ = ["AVAILABLE", "MAX_ITERATIONS", "mixed_rates", "mixed_triplets"]

CONVERGED = 1e-13  # relative change of every cell level that ends the plain iteration
MAX_ITERATIONS = 200
TWO_CELLS = "a flow crosses more than one time-fair resource (cell); at most one is supported"


@njit(cache=True, nogil=True)
def _wired(tau, n_f, n_r, is_cell, cap, w, present, f_start, f_res, f_coef, cell_of, a,
           r_start, r_flow, r_coef, rate, lam, offer):  # pragma: no cover - compiled
    """Max-min on the wired resources with each cell flow capped at ``tau_k w_f / a_f``: ``rate`` [flow], ``lam``
    [resource] (the level at which each wired resource saturated, inf if it did not) and ``offer`` [flow] (the
    smallest level of a flow's wired resources: its wired offer is ``offer * w``)."""
    hz = np.empty(n_f)  # a min-heap of the flows' caps as levels (keys hz, flows hf)
    hf = np.empty(n_f, dtype=np.int64)
    n_z = 0
    for f in range(n_f):
        rate[f] = np.inf
        if present[f] and cell_of[f] >= 0 and np.isfinite(tau[cell_of[f]]):
            hz[n_z] = tau[cell_of[f]] * (w[f] / a[f]) / w[f]
            hf[n_z] = f
            n_z += 1
    for i in range(n_z // 2 - 1, -1, -1):
        heap_sift_down(hz, hf, i, hz[i], hf[i], n_z)
    frozen = np.zeros(n_f, dtype=np.bool_)
    resid = np.empty(n_r)
    dem = np.zeros(n_r)
    cnt = np.zeros(n_r, dtype=np.int64)
    n_open = 0
    for r in range(n_r):
        lam[r] = np.inf
        resid[r] = cap[r]
    for f in range(n_f):
        if not present[f]:
            continue
        wired = False
        for t in range(f_start[f], f_start[f + 1]):
            r = f_res[t]
            if not is_cell[r]:
                dem[r] += f_coef[t] * w[f]
                cnt[r] += 1
                wired = True
        if wired or (cell_of[f] >= 0 and np.isfinite(tau[cell_of[f]])):
            n_open += 1
    n_w = 0
    wl = np.empty(n_r, dtype=np.int64)  # the wired resources with flows to freeze, and their levels
    lv = np.empty(n_r)
    for r in range(n_r):
        if cnt[r] > 0 and dem[r] > 0:
            wl[n_w] = r
            lv[n_w] = resid[r] / dem[r]
            n_w += 1
    newly = np.empty(n_f, dtype=np.int64)
    is_new = np.zeros(n_f, dtype=np.bool_)
    while n_open > 0:
        low = np.inf
        for i in range(n_w):
            if lv[i] < low:
                low = lv[i]
        while n_z > 0 and frozen[hf[0]]:
            n_z = heap_pop(hz, hf, n_z)
        level = low
        if n_z > 0 and hz[0] < level:
            level = hz[0]
        if not level < np.inf:
            break
        thresh = level * (1 + 1e-9) + 1e-300
        n_new = 0
        i = 0
        while i < n_w:
            if lv[i] <= thresh:
                r = wl[i]
                lam[r] = level
                for j in range(r_start[r], r_start[r + 1]):
                    f = r_flow[j]
                    if not frozen[f] and not is_new[f]:
                        is_new[f] = True
                        newly[n_new] = f
                        n_new += 1
                n_w -= 1  # every flow on it freezes now: it leaves the list
                wl[i] = wl[n_w]
                lv[i] = lv[n_w]
            else:
                i += 1
        while n_z > 0 and hz[0] <= thresh:
            f = hf[0]
            if not frozen[f] and not is_new[f]:
                is_new[f] = True
                newly[n_new] = f
                n_new += 1
            n_z = heap_pop(hz, hf, n_z)
        for i in range(n_new):
            f = newly[i]
            is_new[f] = False
            frozen[f] = True
            rate[f] = level * w[f]
            n_open -= 1
            for t in range(f_start[f], f_start[f + 1]):
                r = f_res[t]
                if not is_cell[r]:
                    resid[r] -= f_coef[t] * rate[f]
                    dem[r] -= f_coef[t] * w[f]
                    cnt[r] -= 1
        if n_new > 0:
            i = 0
            while i < n_w:
                r = wl[i]
                if cnt[r] > 0 and dem[r] > 0:
                    lv[i] = (resid[r] if resid[r] > 0.0 else 0.0) / dem[r]
                    i += 1
                else:  # no flow left to freeze on it
                    n_w -= 1
                    wl[i] = wl[n_w]
                    lv[i] = lv[n_w]
    for f in range(n_f):
        best = np.inf
        for t in range(f_start[f], f_start[f + 1]):
            r = f_res[t]
            if not is_cell[r] and lam[r] < best:
                best = lam[r]
        offer[f] = best


@njit(cache=True, nogil=True)
def _cell_levels(offer, n_r, is_cell, cap, w, c_start, c_flow, a, tau):  # pragma: no cover - compiled
    """Each cell's air-time level when its flows are capped at their wired offers (inf: the cell is not full)."""
    for r in range(n_r):
        tau[r] = np.inf
        if not is_cell[r]:
            continue
        m = c_start[r + 1] - c_start[r]
        zs = np.empty(m)
        for i in range(m):
            f = c_flow[c_start[r] + i]
            zf = a[f] * (offer[f] * w[f]) / w[f]  # the level at which its wired offer caps it
            zs[i] = np.inf if zf * w[f] >= cap[r] else zf  # a cap above the whole cell never binds
        order = np.argsort(zs, kind="mergesort")
        rest_w = 0.0
        for i in range(m):
            rest_w += w[c_flow[c_start[r] + i]]
        pre_wz = 0.0
        for i in range(m):
            f = c_flow[c_start[r] + order[i]]
            zi = zs[order[i]]
            level = (cap[r] - pre_wz) / rest_w  # the level if flows i.. of the cell are not capped
            if level <= zi:
                tau[r] = level
                break
            pre_wz += w[f] * zi
            rest_w -= w[f]


@njit(cache=True, nogil=True)
def mixed_triplets(t_link, t_flow, t_coef, n_trip, capacity, time_fair, w, n_flows, rate, loc):  # pragma: no cover
    """``rate[:n_flows]``: the mixed max-min rates of the triplets (as :func:`twin.net.fairness.mixed_maxmin_rates`).

    Returns (iterations, exact); iterations -1 when a flow crosses two time-fair resources (nothing solved).
    ``loc`` is an [n_links] int work array filled with -1 (restored on return).
    """
    blocked = np.zeros(n_flows, dtype=np.bool_)
    for f in range(n_flows):
        rate[f] = np.inf
    for t in range(n_trip):
        if np.isinf(t_coef[t]):
            blocked[t_flow[t]] = True
    res = np.empty(n_trip, dtype=np.int64)  # local resource -> global link
    n_r = 0
    any_cell = False
    f_count = np.zeros(n_flows + 1, dtype=np.int64)
    for t in range(n_trip):
        if t_coef[t] > 0 and not blocked[t_flow[t]]:
            li = t_link[t]
            if loc[li] < 0:
                loc[li] = n_r
                res[n_r] = li
                n_r += 1
            f_count[t_flow[t] + 1] += 1
            any_cell = any_cell or time_fair[li]
    if not any_cell:
        for r in range(n_r):
            loc[res[r]] = -1
        maxmin_triplets(t_link, t_flow, t_coef, n_trip, capacity, w, n_flows, rate, loc)
        return 0, True
    f_start = np.cumsum(f_count)
    fill = f_start[:-1].copy()
    m = f_start[n_flows]
    f_res = np.empty(m, dtype=np.int64)  # each flow's crossings, in triplet order
    f_coef = np.empty(m)
    for t in range(n_trip):
        f = t_flow[t]
        if t_coef[t] > 0 and not blocked[f]:
            f_res[fill[f]] = loc[t_link[t]]
            f_coef[fill[f]] = t_coef[t]
            fill[f] += 1
    for r in range(n_r):
        loc[res[r]] = -1
    is_cell = np.empty(n_r, dtype=np.bool_)
    cap = np.empty(n_r)
    for r in range(n_r):
        is_cell[r] = time_fair[res[r]]
        cap[r] = capacity[res[r]]
    present = np.zeros(n_flows, dtype=np.bool_)
    cell_of = np.full(n_flows, -1, dtype=np.int64)
    a = np.ones(n_flows)
    r_count = np.zeros(n_r + 1, dtype=np.int64)
    for f in range(n_flows):
        if blocked[f]:
            rate[f] = 0.0
        present[f] = f_start[f + 1] > f_start[f]
        for t in range(f_start[f], f_start[f + 1]):
            r_count[f_res[t] + 1] += 1
            if is_cell[f_res[t]]:
                if cell_of[f] >= 0:
                    return -1, False  # two cells on one route: the caller raises
                cell_of[f] = f_res[t]
                a[f] = f_coef[t]
    r_start = np.cumsum(r_count)
    fill = r_start[:-1].copy()
    r_flow = np.empty(m, dtype=np.int64)  # each resource's flows (a cell's: its c_flow list)
    r_coef = np.empty(m)
    for f in range(n_flows):
        for t in range(f_start[f], f_start[f + 1]):
            r = f_res[t]
            r_flow[fill[r]] = f
            r_coef[fill[r]] = f_coef[t]
            fill[r] += 1
    tau = np.empty(n_r)
    new = np.empty(n_r)
    lam = np.empty(n_r)
    offer = np.full(n_flows, np.inf)
    w_rate = np.empty(n_flows)
    x = np.empty(n_flows)
    _cell_levels(offer, n_r, is_cell, cap, w, r_start, r_flow, a, tau)
    for it in range(1, MAX_ITERATIONS + 1):
        _wired(tau, n_flows, n_r, is_cell, cap, w, present, f_start, f_res, f_coef, cell_of, a,
               r_start, r_flow, r_coef, w_rate, lam, offer)
        _cell_levels(offer, n_r, is_cell, cap, w, r_start, r_flow, a, new)
        same = True
        for r in range(n_r):
            if is_cell[r]:
                u, v = tau[r], new[r]
                if not (u == v or abs(u - v) <= CONVERGED * min(u, v)):
                    same = False
                    break
        if same:
            for f in range(n_flows):
                if present[f]:
                    rate[f] = w_rate[f]
            return it, True
        for r in range(n_r):
            lam[r] = new[r] if is_cell[r] else lam[r]
        if _exact(lam, n_flows, n_r, is_cell, cap, w, present, f_start, f_res, f_coef, cell_of, a, x):
            for f in range(n_flows):
                if present[f]:
                    rate[f] = x[f]
            return it, True
        for r in range(n_r):
            tau[r] = new[r]
    for f in range(n_flows):
        if present[f]:
            rate[f] = w_rate[f]
    return MAX_ITERATIONS, False


def mixed_rates(link_idx, flow_idx, coef, capacity, time_fair, weight=None, n_flows=None, stats=None) -> np.ndarray:
    """:func:`twin.net.fairness.mixed_maxmin_rates`'s interface on the compiled solver (tests and benchmarks)."""
    link_idx = np.ascontiguousarray(link_idx, dtype=np.int64)
    flow_idx = np.ascontiguousarray(flow_idx, dtype=np.int64)
    coef = np.ascontiguousarray(coef, dtype=np.float64)
    capacity = np.ascontiguousarray(capacity, dtype=np.float64)
    if n_flows is None:
        n_flows = int(flow_idx.max()) + 1 if flow_idx.size else 0
    w = np.ones(n_flows) if weight is None else np.ascontiguousarray(weight, dtype=np.float64)
    rate = np.empty(n_flows)
    loc = np.full(capacity.size, -1, dtype=np.int64)
    iterations, exact = mixed_triplets(link_idx, flow_idx, coef, link_idx.size, capacity,
                                       np.ascontiguousarray(time_fair, dtype=np.bool_), w, n_flows, rate, loc)
    if iterations < 0:
        raise ValueError(TWO_CELLS)
    if stats is not None:
        stats.update(iterations=int(iterations), exact=bool(exact))
    return rate
