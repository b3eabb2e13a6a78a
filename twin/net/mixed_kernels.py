"""Compiled mixed solver (optional: numba): equal air time in radio cells, equal rates on wired links.

The allocation and the algorithm are those of :func:`twin.net.fairness.mixed_maxmin_rates` (read its docstring): the
monotone map ``T`` on the cells' air-time levels ``tau`` (a wired max-min filling with a private cap per cell flow,
then each cell's water-filling under its flows' wired offers), each step followed by an exact attempt: every flow's
bottleneck is read off, the bottleneck levels are solved from their capacity equations, and the result is accepted
when it is feasible and every bottleneck is saturated (the max-min bottleneck property, within 1e-9). The results
equal the numpy solver's within rounding (``tests/net/test_mixed_kernels.py`` checks rtol 1e-9).

What differs is the cost. The wired filling runs on the flows' own crossings with the caps as events (no private
resources), each cell's water-filling sorts only its own flows, and the exact step eliminates the cells: a flow
crosses at most one cell, so the cell rows of the linear system are diagonal in the cell levels, and only a system
of the size of the wired bottlenecks (usually 0 to 3) is solved (Gaussian elimination with partial pivoting).

Without numba ``njit`` leaves the functions as plain Python (slow, used only by tests); the engine then takes the
numpy path (:mod:`twin.net.lazy`).
"""

from __future__ import annotations

import numpy as np

from twin.net.filling import AVAILABLE, maxmin_triplets, njit

__all__ = ["AVAILABLE", "MAX_ITERATIONS", "mixed_rates", "mixed_triplets"]

REL_TOL = 1e-9  # saturation / feasibility tolerance of an exact candidate (as twin.net.fairness)
CONVERGED = 1e-13  # relative change of every cell level that ends the plain iteration
MAX_ITERATIONS = 200
TWO_CELLS = "a flow crosses more than one time-fair resource (cell); at most one is supported"


@njit(cache=True, nogil=True)
def _wired(tau, n_f, n_r, is_cell, cap, w, present, f_start, f_res, f_coef, cell_of, a,
           r_start, r_flow, r_coef, rate, lam, offer):  # pragma: no cover - compiled
    """Max-min on the wired resources with each cell flow capped at ``tau_k w_f / a_f``: ``rate`` [flow], ``lam``
    [resource] (the level at which each wired resource saturated, inf if it did not) and ``offer`` [flow] (the
    smallest level of a flow's wired resources: its wired offer is ``offer * w``)."""
    z = np.full(n_f, np.inf)  # each flow's cap as a level
    n_z = 0
    for f in range(n_f):
        rate[f] = np.inf
        if present[f] and cell_of[f] >= 0 and np.isfinite(tau[cell_of[f]]):
            z[f] = tau[cell_of[f]] * (w[f] / a[f]) / w[f]
            n_z += 1
    order = np.argsort(z, kind="mergesort")
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
        if wired or np.isfinite(z[f]):
            n_open += 1
    n_w = 0
    wl = np.empty(n_r, dtype=np.int64)  # the wired resources with flows to freeze, and their levels
    lv = np.empty(n_r)
    for r in range(n_r):
        if cnt[r] > 0 and dem[r] > 0:
            wl[n_w] = r
            lv[n_w] = resid[r] / dem[r]
            n_w += 1
    p = 0
    newly = np.empty(n_f, dtype=np.int64)
    is_new = np.zeros(n_f, dtype=np.bool_)
    while n_open > 0:
        low = np.inf
        for i in range(n_w):
            if lv[i] < low:
                low = lv[i]
        while p < n_z and frozen[order[p]]:
            p += 1
        level = low
        if p < n_z and z[order[p]] < level:
            level = z[order[p]]
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
        while p < n_z and z[order[p]] <= thresh:
            f = order[p]
            if not frozen[f] and not is_new[f]:
                is_new[f] = True
                newly[n_new] = f
                n_new += 1
            p += 1
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
def _solve_dense(m, rhs):  # pragma: no cover - compiled
    """Solve ``m x = rhs`` (Gaussian elimination, partial pivoting) in place; False if singular."""
    n = rhs.size
    for c in range(n):
        piv = c
        for i in range(c + 1, n):
            if abs(m[i, c]) > abs(m[piv, c]):
                piv = i
        if m[piv, c] == 0.0:
            return False
        if piv != c:
            for j in range(n):
                m[c, j], m[piv, j] = m[piv, j], m[c, j]
            rhs[c], rhs[piv] = rhs[piv], rhs[c]
        for i in range(c + 1, n):
            g = m[i, c] / m[c, c]
            if g != 0.0:
                for j in range(c, n):
                    m[i, j] -= g * m[c, j]
                rhs[i] -= g * rhs[c]
    for c in range(n - 1, -1, -1):
        s = rhs[c]
        for j in range(c + 1, n):
            s -= m[c, j] * rhs[j]
        rhs[c] = s / m[c, c]
    return True


@njit(cache=True, nogil=True)
def _exact(levels, n_f, n_r, is_cell, cap, w, present, f_start, f_res, f_coef, cell_of, a, x):  # pragma: no cover
    """Solve the bottleneck levels exactly for the bottlenecks that ``levels`` imply; False if not consistent."""
    b = np.full(n_f, -1, dtype=np.int64)
    pos = np.full(n_r, -1, dtype=np.int64)
    n_k = 0
    n_w = 0
    for f in range(n_f):
        if not present[f]:
            continue
        best = np.inf
        for t in range(f_start[f], f_start[f + 1]):
            r = f_res[t]
            cand = levels[r] * (w[f] / f_coef[t] if is_cell[r] else w[f])
            if cand < best:
                best = cand
                b[f] = r
        if not best < np.inf:
            return False
        r = b[f]
        if pos[r] < 0:
            if is_cell[r]:
                pos[r] = n_k
                n_k += 1
            else:
                pos[r] = n_w
                n_w += 1
    d = np.zeros(n_k)  # cell rows: d_k tau_k + sum_l bm_kl lam_l = c_k
    bm = np.zeros((n_k, n_w))
    cm = np.zeros((n_w, n_k))  # wired rows: sum_k cm_lk tau_k + sum_m em_lm lam_m = c_l
    em = np.zeros((n_w, n_w))
    for f in range(n_f):
        if not present[f]:
            continue
        rb = b[f]
        ob = w[f] / a[f] if is_cell[rb] else w[f]  # rate per unit of the bottleneck's level
        for t in range(f_start[f], f_start[f + 1]):
            r = f_res[t]
            if pos[r] < 0:
                continue
            term = f_coef[t] * ob
            if is_cell[r]:
                if is_cell[rb]:
                    d[pos[r]] += term
                else:
                    bm[pos[r], pos[rb]] += term
            elif is_cell[rb]:
                cm[pos[r], pos[rb]] += term
            else:
                em[pos[r], pos[rb]] += term
    cell_cap = np.empty(n_k)
    wired_cap = np.empty(n_w)
    for r in range(n_r):
        if pos[r] >= 0:
            if is_cell[r]:
                cell_cap[pos[r]] = cap[r]
            else:
                wired_cap[pos[r]] = cap[r]
    for k in range(n_k):  # eliminate the cells: tau_k = (c_k - sum_l bm_kl lam_l) / d_k
        for i in range(n_w):
            if cm[i, k] != 0.0:
                g = cm[i, k] / d[k]
                wired_cap[i] -= g * cell_cap[k]
                for j in range(n_w):
                    em[i, j] -= g * bm[k, j]
    if n_w > 0 and not _solve_dense(em, wired_cap):
        return False
    full = np.full(n_r, np.inf)
    for r in range(n_r):
        if pos[r] >= 0:
            if is_cell[r]:
                k = pos[r]
                s = cell_cap[k]
                for j in range(n_w):
                    s -= bm[k, j] * wired_cap[j]
                full[r] = s / d[k]
            else:
                full[r] = wired_cap[pos[r]]
            if not (np.isfinite(full[r]) and full[r] > 0):
                return False
    load = np.zeros(n_r)
    for f in range(n_f):
        if not present[f]:
            continue
        best = np.inf
        for t in range(f_start[f], f_start[f + 1]):
            r = f_res[t]
            cand = full[r] * (w[f] / f_coef[t] if is_cell[r] else w[f])
            if cand < best:
                best = cand
        if not best < np.inf:
            return False
        x[f] = best
        for t in range(f_start[f], f_start[f + 1]):
            load[f_res[t]] += f_coef[t] * best
    for r in range(n_r):
        if load[r] > cap[r] * (1 + REL_TOL) or (pos[r] >= 0 and load[r] < cap[r] * (1 - REL_TOL)):
            return False
    return True


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
