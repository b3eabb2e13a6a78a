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


@njit(cache=True, nogil=True, inline="always")
def _push(hk, hv, size, key, val):  # pragma: no cover - compiled
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
def _pop(hk, hv, size):  # pragma: no cover - compiled
    """Remove the top of the heap (read it first from ``hk[0]``, ``hv[0]``); returns the new size."""
    size -= 1
    key, val = hk[size], hv[size]
    i = 0
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
        key, val = hk[i], hv[i]
        j = i
        while True:
            child = 2 * j + 1
            if child >= size:
                break
            if child + 1 < size and hk[child + 1] < hk[child]:
                child += 1
            if hk[child] >= key:
                break
            hk[j] = hk[child]
            hv[j] = hv[child]
            j = child
        hk[j] = key
        hv[j] = val
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
        size = _pop(hk, hv, size)
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
            size = _pop(hk, hv, size)
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
            size = _push(hk, hv, size, level[rr], rr)
    for r in range(n_res):
        loc[res[r]] = -1


@njit(cache=True, nogil=True)
def link(slot, links, coef, head, nxt, prv):  # pragma: no cover - compiled
    """Insert the slot's crossings (``slot * k + hop``) into their resources' lists."""
    k = links.shape[1]
    for j in range(k):
        if coef[slot, j] != 0:
            x = slot * k + j
            li = links[slot, j]
            nxt[x] = head[li]
            prv[x] = -1
            if head[li] >= 0:
                prv[head[li]] = x
            head[li] = x


@njit(cache=True, nogil=True)
def unlink(slot, links, coef, use, head, nxt, prv, load, saturated, dirty):  # pragma: no cover - compiled
    """Remove the slot's crossings from the lists and its ``use`` from ``load``; its saturated resources re-share."""
    k = links.shape[1]
    for j in range(k):
        c = coef[slot, j]
        if c != 0:
            x = slot * k + j
            li = links[slot, j]
            if prv[x] >= 0:
                nxt[prv[x]] = nxt[x]
            else:
                head[li] = nxt[x]
            if nxt[x] >= 0:
                prv[nxt[x]] = prv[x]
            if saturated[li]:
                dirty[li] = True
        load[links[slot, j]] -= use[slot, j]
        use[slot, j] = 0.0


@njit(cache=True, nogil=True)
def lazy_recompute(links, coef, weight, active, seed, seq, rate, capacity, saturated, dirty, load, use, head, nxt):
    """Recompute the rates of the flows connected to the change, in place; returns how many were recomputed.

    The component grows from the ``seed`` flows (new or re-routed) and the ``dirty`` resources (changed ones,
    saturated ones a flow left): every active flow crossing a component resource joins, and so does every saturated
    resource such a flow crosses. The flows are solved (max-min on the component's resources only, in admission
    order; a resource they cross outside the component enters with what the other flows leave of it), then every such
    boundary resource is checked: one the new rates would fill joins and the solve is redone. ``load`` (capacity in use per resource, the sum of the flows' ``use`` [slot, hop]) and
    ``saturated`` are kept up to date;
    ``dirty`` and ``seed`` are cleared. ``head``/``nxt``: each resource's list of crossings (see :func:`link`).
    """  # pragma: no cover - compiled
    cap, k = links.shape
    n_res = capacity.size
    in_r = np.zeros(n_res, dtype=np.bool_)
    in_f = np.zeros(cap, dtype=np.bool_)
    stack_r = np.empty(n_res, dtype=np.int64)
    n_stack = 0
    for li in range(n_res):
        if dirty[li]:
            dirty[li] = False
            in_r[li] = True
            stack_r[n_stack] = li
            n_stack += 1
    members = np.empty(cap, dtype=np.int64)
    n_f = 0
    for s in range(cap):
        if seed[s]:
            seed[s] = False
            if active[s]:
                in_f[s] = True
                members[n_f] = s
                n_f += 1
    done = 0  # members whose resources were visited
    loc = np.full(n_res, -1, dtype=np.int64)
    cap_eff = np.empty(n_res)
    while True:
        while n_stack > 0 or done < n_f:  # closure through the lists
            while n_stack > 0:
                n_stack -= 1
                x = head[stack_r[n_stack]]
                while x >= 0:
                    s = x // k
                    if not in_f[s]:
                        in_f[s] = True
                        members[n_f] = s
                        n_f += 1
                    x = nxt[x]
            while done < n_f:
                s = members[done]
                done += 1
                for j in range(k):
                    li = links[s, j]
                    if coef[s, j] != 0 and saturated[li] and not in_r[li]:
                        in_r[li] = True
                        stack_r[n_stack] = li
                        n_stack += 1
        if n_f == 0:
            for li in range(n_res):
                if in_r[li] and head[li] < 0:
                    load[li] = 0.0
                    saturated[li] = False
            return 0
        slots = np.empty(n_f, dtype=np.int64)  # slot order, usually admission order too
        i = 0
        for s in range(cap):
            if in_f[s]:
                slots[i] = s
                i += 1
        for i in range(1, n_f):
            if seq[slots[i]] < seq[slots[i - 1]]:
                slots = slots[np.argsort(seq[slots])]
                break
        for i in range(n_f):  # take the component's old use off the loads: what is left is the outside's
            s = slots[i]
            for j in range(k):
                li = links[s, j]
                load[li] -= use[s, j]
                use[s, j] = 0.0
                if coef[s, j] != 0 and not in_r[li]:  # a resource crossed by component flows only is in it
                    x = head[li]
                    while x >= 0 and in_f[x // k]:
                        x = nxt[x]
                    in_r[li] = x < 0
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
                    # a boundary resource keeps what the outside flows leave (it must not become a bottleneck)
                    cap_eff[li] = capacity[li] if in_r[li] else max(capacity[li] - load[li], 0.0)
        sub_rate = np.empty(n_f)
        maxmin_triplets(t_link, t_flow, t_coef, n_trip, cap_eff, w, n_f, sub_rate, loc)
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
                        load[li] = 0.0  # no flow left: no rounding residue
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
