"""Compiled kernels of the lazy flow engine (optional: numba; see :mod:`twin.net.lazy`). Without numba,
``AVAILABLE`` is False and the engine uses its numpy path; :func:`link` and :func:`unlink` then run as plain Python.

The kernels repeat the arithmetic of the numpy path operation for operation and in the same order, so the results
are bit-identical to a full recomputation (``tests/net/test_lazy.py``).
"""

from __future__ import annotations

import numpy as np

from twin.net.filling import AVAILABLE, maxmin_triplets, njit

__all__ = ["AVAILABLE", "advance", "finished_slots", "first_finish", "lazy_recompute", "link", "unlink"]

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
