"""Compiled progressive filling (optional: numba), bit-identical to :func:`twin.net.sharing.maxmin_rates`.

Without numba, ``AVAILABLE`` is False, ``njit`` leaves functions as they are (plain Python), and the engine uses its
numpy path. The kernel repeats the arithmetic of ``maxmin_rates`` operation for operation and in the same order (each
resource's sums run in triplet order, as ``np.bincount`` does): ``tests/net/test_lazy.py`` checks ``array_equal``.
"""

from __future__ import annotations

import numpy as np

from twin.compiled import AVAILABLE, njit  # noqa: F401 - AVAILABLE is read from here by the engine


@njit(cache=True, nogil=True, inline="always")
def heap_push(hk, hv, size, key, val):  # pragma: no cover - compiled
    """Binary min-heap on arrays (keys ``hk``, values ``hv``); returns the new size."""
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        if hk[parent] <= key:
            break
        hk[i] = hk[parent]
        hv[i] = hv[parent]
        i = parent
    hk[i] = key
    hv[i] = val
    return size + 1


@njit(cache=True, nogil=True, inline="always")
def heap_sift_down(hk, hv, i, key, val, size):  # pragma: no cover - compiled
    """Put (``key``, ``val``) into the hole at ``i`` of a heap of ``size`` entries, moving it down to its place."""
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and hk[child + 1] < hk[child]:
            child += 1
        if hk[child] >= key:
            break
        hk[i] = hk[child]
        hv[i] = hv[child]
        i = child
    hk[i] = key
    hv[i] = val


@njit(cache=True, nogil=True, inline="always")
def heap_pop(hk, hv, size):  # pragma: no cover - compiled
    """Remove the top of the heap (read it first from ``hk[0]``, ``hv[0]``); returns the new size."""
    size -= 1
    heap_sift_down(hk, hv, 0, hk[size], hv[size], size)
    return size


@njit(cache=True, nogil=True)
def _one_step(tl, tf, tc, m, capacity, w, n_flows, frozen, rate):  # pragma: no cover - compiled
    """The first filling step alone; True (and ``rate`` set) when it freezes every flow, as when all share one
    bottleneck. The arithmetic is that of the first step of the full filling."""
    demand = np.empty(capacity.size)
    for t in range(m):
        demand[tl[t]] = 0.0
    for t in range(m):
        demand[tl[t]] += tc[t] * w[tf[t]]
    lam = np.inf
    for t in range(m):
        li = tl[t]
        lv = (capacity[li] if capacity[li] > 0.0 else 0.0) / demand[li] if demand[li] > 0 else np.inf
        if lv < lam:
            lam = lv
    thresh = lam * (1 + 1e-9) + 1e-300
    hit = np.zeros(n_flows, dtype=np.bool_)
    for t in range(m):
        li = tl[t]
        lv = (capacity[li] if capacity[li] > 0.0 else 0.0) / demand[li] if demand[li] > 0 else np.inf
        if lv <= thresh:
            hit[tf[t]] = True
    for f in range(n_flows):
        if not frozen[f] and not hit[f]:
            return False
    for f in range(n_flows):
        if not frozen[f]:
            rate[f] = lam * w[f]
    return True


@njit(cache=True, nogil=True)
def maxmin_triplets(t_link, t_flow, t_coef, n_trip, capacity, w, n_flows, rate, loc):  # pragma: no cover
    """``rate[:n_flows]`` = weighted max-min rates of flow-major triplets, bit-identical to ``maxmin_rates``.

    The progressive filling of :func:`twin.net.sharing.maxmin_rates` step for step, but each step touches only the
    resources whose flows froze: levels sit in a heap, a resource's demand is re-summed (in triplet order, as
    ``np.bincount`` does) only when it lost flows, and read from a prefix table when all its terms are equal.
    ``loc`` is an [n_links] int work array filled with -1 (restored on return).
    """
    frozen = np.zeros(n_flows, dtype=np.bool_)
    for f in range(n_flows):
        rate[f] = np.inf
    for t in range(n_trip):  # flows that cannot use a resource stall at rate 0
        if np.isinf(t_coef[t]):
            frozen[t_flow[t]] = True
            rate[t_flow[t]] = 0.0
    keep = np.empty(n_trip, dtype=np.int64)
    m = 0
    for t in range(n_trip):
        if not frozen[t_flow[t]] and t_coef[t] > 0:
            keep[m] = t
            m += 1
    if m == 0:
        return
    tl, tf, tc = t_link[keep[:m]], t_flow[keep[:m]], t_coef[keep[:m]]
    if _one_step(tl, tf, tc, m, capacity, w, n_flows, frozen, rate):
        return
    f_start = np.full(n_flows + 1, m, dtype=np.int64)
    for t in range(m - 1, -1, -1):
        f_start[tf[t]] = t
    for f in range(n_flows - 1, -1, -1):
        f_start[f] = min(f_start[f], f_start[f + 1])
    res = np.empty(m, dtype=np.int64)  # local resource -> global link
    n_res = 0
    t_res = np.empty(m, dtype=np.int64)
    for t in range(m):
        li = tl[t]
        if loc[li] < 0:
            loc[li] = n_res
            res[n_res] = li
            n_res += 1
        t_res[t] = loc[li]
    count = np.zeros(n_res + 1, dtype=np.int64)
    for t in range(m):
        count[t_res[t] + 1] += 1
    start = np.cumsum(count)
    fill = start[:-1].copy()
    by_res = np.empty(m, dtype=np.int64)  # triplets grouped by resource, in triplet order
    for t in range(m):
        by_res[fill[t_res[t]]] = t
        fill[t_res[t]] += 1
    term = np.empty(m)  # coef * w in triplet order
    for t in range(m):
        term[t] = tc[t] * w[tf[t]]
    prefix = np.empty(m)  # sequential sums of each resource's terms, for the uniform ones
    uniform = np.ones(n_res, dtype=np.bool_)
    residual = np.empty(n_res)
    demand = np.empty(n_res)
    level = np.empty(n_res)
    left = np.empty(n_res, dtype=np.int64)
    cap_heap = 2 * m + n_res + 1  # every push follows a triplet's freezing, plus the first ones
    hk = np.empty(cap_heap)
    hv = np.empty(cap_heap, dtype=np.int64)
    for r in range(n_res):
        residual[r] = capacity[res[r]]
        acc = 0.0
        first = term[by_res[start[r]]]
        for i in range(start[r], start[r + 1]):
            acc += term[by_res[i]]
            prefix[i] = acc
            if term[by_res[i]] != first:
                uniform[r] = False
        demand[r] = acc
        left[r] = start[r + 1] - start[r]
        level[r] = (residual[r] if residual[r] > 0.0 else 0.0) / acc if acc > 0 else np.inf
        hk[r] = level[r]
        hv[r] = r
    size = n_res
    for i in range((n_res - 2) // 2, -1, -1):  # heapify
        heap_sift_down(hk, hv, i, hk[i], hv[i], size)
    n_open = 0  # flows still unfrozen
    for f in range(n_flows):
        if not frozen[f]:
            n_open += 1
    charge = np.zeros(n_res)
    taken = np.zeros(n_res, dtype=np.bool_)
    newly = np.empty(n_flows, dtype=np.int64)
    touched = np.empty(n_res, dtype=np.int64)
    is_new = np.zeros(n_flows, dtype=np.bool_)
    bott = np.empty(n_res, dtype=np.int64)
    while size > 0 and n_open > 0:
        lv, r = hk[0], hv[0]
        size = heap_pop(hk, hv, size)
        if left[r] == 0 or lv != level[r]:
            continue  # stale entry
        lam = lv
        thresh = lam * (1 + 1e-9) + 1e-300
        n_b = 0
        bott[n_b] = r
        taken[r] = True
        n_b += 1
        while size > 0 and hk[0] <= thresh:
            lv2, r2 = hk[0], hv[0]
            size = heap_pop(hk, hv, size)
            if left[r2] > 0 and lv2 == level[r2] and not taken[r2]:
                bott[n_b] = r2
                taken[r2] = True
                n_b += 1
        n_new = 0
        for b in range(n_b):
            rb = bott[b]
            taken[rb] = False
            for i in range(start[rb], start[rb + 1]):
                f = tf[by_res[i]]
                if not frozen[f] and not is_new[f]:
                    is_new[f] = True
                    newly[n_new] = f
                    n_new += 1
        if n_new * 16 > n_flows:  # many: a scan in flow order; few: sort them
            nw = np.empty(n_new, dtype=np.int64)
            j = 0
            for f in range(n_flows):
                if is_new[f]:
                    nw[j] = f
                    j += 1
        else:
            nw = np.sort(newly[:n_new])
        n_t = 0
        for f in nw:
            rate[f] = lam * w[f]
            for t in range(f_start[f], f_start[f + 1]):
                rr = t_res[t]
                if not taken[rr]:
                    taken[rr] = True
                    touched[n_t] = rr
                    n_t += 1
                charge[rr] += tc[t] * rate[f]
                left[rr] -= 1
        n_open -= n_new
        for f in nw:
            frozen[f] = True
            is_new[f] = False
        for i in range(n_t):
            rr = touched[i]
            taken[rr] = False
            residual[rr] -= charge[rr]
            charge[rr] = 0.0
            if left[rr] == 0:
                continue
            if uniform[rr]:
                d = prefix[start[rr] + left[rr] - 1]
            else:
                d = 0.0
                for j in range(start[rr], start[rr + 1]):
                    if not frozen[tf[by_res[j]]]:
                        d += term[by_res[j]]
            demand[rr] = d
            level[rr] = (residual[rr] if residual[rr] > 0.0 else 0.0) / d if d > 0 else np.inf
            size = heap_push(hk, hv, size, level[rr], rr)
    for r in range(n_res):
        loc[res[r]] = -1


@njit(cache=True, nogil=True)
def by_admission(order, seq):  # pragma: no cover - compiled
    """The slots ``order`` sorted by admission (``seq``, unique): placed by their admission number when those span
    few values (the flows of a round: slots are reused out of order, admission numbers are close together), in
    time linear in their number, else sorted. A new array either way."""
    n = order.size
    lo = seq[order[0]]
    hi = lo
    for i in range(1, n):
        v = seq[order[i]]
        if v < lo:
            lo = v
        elif v > hi:
            hi = v
    span = hi - lo + 1
    if span > 8 * n + 64:
        return order[np.argsort(seq[order])]
    at = np.full(span, -1, dtype=np.int64)
    for i in range(n):
        at[seq[order[i]] - lo] = order[i]
    out = np.empty(n, dtype=np.int64)
    m = 0
    for v in at:
        if v >= 0:
            out[m] = v
            m += 1
    return out
