"""Compiled kernels of the lazy flow engine (optional: numba; see :mod:`twin.net.lazy`). Without numba,
``AVAILABLE`` is False and the engine uses its numpy path; :func:`link` and :func:`unlink` then run as plain Python.

The kernels repeat the arithmetic of the numpy path operation for operation and in the same order, so the results
are bit-identical to a full recomputation (``tests/net/test_lazy.py``).
"""

from __future__ import annotations

import numpy as np

from twin.net.filling import AVAILABLE, by_admission, maxmin_triplets, njit
from twin.net.star import leaf_star_extend, leaf_star_shape, star_extend, star_shape, star_solve

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


@njit(cache=True, nogil=True, inline="always")
def component_seeds(dirty, seed, active, in_r, in_f, stack_r, r_list, members):  # pragma: no cover - compiled
    """Start a lazy recomputation's component: every dirty resource (marked in ``in_r``, listed in ``r_list`` and
    ``stack_r``) and every seeded active flow (marked in ``in_f``, listed in ``members``); ``dirty`` and ``seed`` are
    cleared. Returns (resources on the stack, resources listed, flows listed)."""
    n = 0
    for li in range(dirty.size):
        if dirty[li]:
            dirty[li] = False
            in_r[li] = True
            r_list[n] = li
            stack_r[n] = li
            n += 1
    n_f = 0
    for s in range(seed.size):
        if seed[s]:
            seed[s] = False
            if active[s]:
                in_f[s] = True
                members[n_f] = s
                n_f += 1
    return n, n, n_f


@njit(cache=True, nogil=True, inline="always")
def close_component(links, coef, saturated, head, nxt, in_r, in_f, stack_r, n_stack, r_list, n_rl, members, n_f,
                    done):  # pragma: no cover - compiled
    """Grow the component to closure: every active flow crossing a resource on the stack joins (``members``), and
    every saturated resource a member crosses joins (``in_r``, ``r_list``) and is visited. Returns (flows listed,
    members visited, resources listed); the stack is left empty."""
    k = links.shape[1]
    while n_stack > 0 or done < n_f:
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
                    r_list[n_rl] = li
                    n_rl += 1
                    stack_r[n_stack] = li
                    n_stack += 1
    return n_f, done, n_rl


@njit(cache=True, nogil=True, inline="always")
def component_order(in_f, seq, slots, n_f):  # pragma: no cover - compiled
    """The component's ``n_f`` flows (``in_f``) listed in ``slots`` in slot order, which is usually admission order
    too; sorted by admission (``seq``) when it is not. Returns the list (a view of ``slots``, or a sorted copy)."""
    i = 0
    for s in range(in_f.size):
        if in_f[s]:
            slots[i] = s
            i += 1
    order = slots[:n_f]
    for i in range(1, n_f):
        if seq[order[i]] < seq[order[i - 1]]:
            return by_admission(order, seq)
    return order


@njit(cache=True, nogil=True, inline="always")
def release_component(order, n_f, links, coef, use, load, head, nxt, in_f, in_r, r_list, n_rl
                      ):  # pragma: no cover - compiled
    """Take the component's old use off the loads, so what is left is the outside flows'; a resource crossed by
    component flows only joins the component (``in_r``, ``r_list``). Returns the resources listed."""
    k = links.shape[1]
    for i in range(n_f):
        s = order[i]
        for j in range(k):
            li = links[s, j]
            load[li] -= use[s, j]
            use[s, j] = 0.0
            if coef[s, j] != 0 and not in_r[li]:
                x = head[li]
                while x >= 0 and in_f[x // k]:
                    x = nxt[x]
                if x < 0:
                    in_r[li] = True
                    r_list[n_rl] = li
                    n_rl += 1
    return n_rl


@njit(cache=True, nogil=True)
def lazy_recompute(links, coef, weight, active, seed, seq, rate, capacity, saturated, dirty, load, use, head, nxt,
                   remaining, ints, floats, flags, R, C, CK, n_known=-1, seeded=False,
                   leaves_kept=False):  # pragma: no cover - compiled
    """Recompute the rates of the flows connected to the change, in place; returns (how many were recomputed, the
    earliest finish time from now over every active flow).

    When every transmitting flow forms a star (one hub every flow crosses once, every other resource private to one
    flow: :func:`twin.net.star.star_shape`), they are all solved by :func:`twin.net.star.star_solve`, which reads
    capacities only; ``load``, ``use``, ``saturated`` and ``dirty`` then go stale until the network leaves the star
    shape, when :func:`rebuild_loads` restores them and marks every resource with a flow dirty.

    Otherwise the component grows from the ``seed`` flows (new or re-routed) and the ``dirty`` resources (changed
    ones, saturated ones a flow left): every active flow crossing a component resource joins, and so does every
    saturated resource such a flow crosses. The flows are solved by :func:`twin.net.filling.maxmin_triplets`
    (max-min on the component's resources only, in admission order; a resource they cross outside the component
    enters with what the other flows leave of it). Then every boundary resource is checked: one the new rates would
    fill joins and the solve is redone. ``load`` (capacity in use per resource, the sum of the flows' ``use`` [slot,
    hop]) and ``saturated`` are kept up to date; ``dirty`` and ``seed`` are cleared. ``head``/``nxt``: each resource's list of crossings (see :func:`link`). ``ints``, ``floats``,
    ``flags``: the work arrays of :class:`twin.net.scratch.Scratch` (``R``, ``C``, ``CK`` its sizes), left as found.
    ``n_known`` >= 0: the caller already listed the transmitting slots in slot order (:func:`active_slots`), and
    ``seeded`` says whether one of them is a seed. ``leaves_kept``: flows only left a star with shared leaves, and
    the caller gave the leaves that lost some their new levels (:func:`twin.net.completion.complete`): it stays one.
    """
    cap, k = links.shape
    stack_r, r_list, loc = ints[0:R], ints[R:2 * R], ints[2 * R:3 * R]
    o = 3 * R
    members, slots, hv, newly = ints[o:o + C], ints[o + C:o + 2 * C], ints[o + 2 * C:o + 3 * C], ints[o + 3 * C:o + 4 * C]
    o += 4 * C
    t_link, t_flow, star_state = ints[o:o + CK], ints[o + CK:o + 2 * CK], ints[o + 2 * CK:o + 2 * CK + 3]
    cap_eff = floats[0:R]
    o = R
    w, sub_rate, hk, prefix = floats[o:o + C], floats[o + C:o + 2 * C], floats[o + 2 * C:o + 3 * C], floats[o + 3 * C:o + 4 * C]
    hub_c, priv, t_coef = floats[o + 4 * C:o + 5 * C], floats[o + 5 * C:o + 6 * C], floats[o + 6 * C:o + 6 * C + CK]
    in_r, in_f, frozen = flags[0:R], flags[R:R + C], flags[R + C:R + 2 * C]
    n_act = n_known  # every transmitting flow, in slot order (usually admission order too)
    if n_act < 0:
        n_act = 0
        for s in range(cap):
            if active[s]:
                slots[n_act] = s
                n_act += 1
                seeded = seeded or seed[s]
    order = slots[:n_act]
    # A star stays one while flows only leave it (no new, re-routed or re-weighted flow): its shape is kept; new,
    # re-routed or re-weighted (seeded) flows that join it as plain leaves extend it (star_extend).
    # A star with shared leaves (state 2: twin.net.star.leaf_star_shape) is found again at every change, as a leaf's
    # level moves when one of its flows leaves; it is tried first while the last shape was one.
    kind = star_state[1]
    if kind == 1 and (not seeded or star_extend(order, n_act, star_state[0], seed, links, coef, weight, capacity, head,
                                                nxt, hub_c, priv)):
        hub = star_state[0]  # kept, or extended by the seeded flows alone
    elif kind == 2 and (leaves_kept and not seeded or seeded and leaf_star_extend(
            order, n_act, star_state[0], seed, links, coef, weight, capacity, head, nxt, seq, hub_c, priv)):
        hub = star_state[0]
    else:
        hub, shared = -1, False
        if kind == 2:
            hub, shared = leaf_star_shape(order, n_act, links, coef, weight, capacity, head, nxt, seq, hub_c, priv,
                                          star_state[0])
            if hub == -2:
                hub, shared = leaf_star_shape(order, n_act, links, coef, weight, capacity, head, nxt, seq, hub_c,
                                              priv, -1)
        if hub < 0:
            hub = star_shape(order, n_act, links, coef, weight, capacity, head, nxt, hub_c, priv)
        if hub < 0 and kind != 2:
            hub, shared = leaf_star_shape(order, n_act, links, coef, weight, capacity, head, nxt, seq, hub_c, priv,
                                          -1)
        kind = 2 if shared else 1
    star_state[0], star_state[1] = hub, kind if hub >= 0 else 0
    if hub >= 0:  # a star (the burst): solve every flow at once, in admission order, as the full recomputation does
        for i in range(1, n_act):
            if seq[order[i]] < seq[order[i - 1]]:
                order = by_admission(order, seq)
                break
        star_state[2] = 1  # the star solve reads capacities only: use, load, saturated and dirty go stale
        return n_act, star_solve(order, n_act, hub, weight, rate, capacity, remaining, seed, hub_c, priv, hk, hv,
                                 frozen, newly, prefix)
    if star_state[2] == 1:  # out of a star: the loads from the rates, and every flow re-shared
        star_state[2] = 0
        rebuild_loads(order, n_act, links, coef, rate, capacity, saturated, dirty, load, use, head)
    # resources marked in_r (r_list, to clear at the end), to visit (stack_r), and the component's flows (members)
    n_stack, n_rl, n_f = component_seeds(dirty, seed, active, in_r, in_f, stack_r, r_list, members)
    done = 0  # members whose resources were visited
    n_solved = 0
    while True:
        n_f, done, n_rl = close_component(links, coef, saturated, head, nxt, in_r, in_f, stack_r, n_stack, r_list,
                                          n_rl, members, n_f, done)
        n_stack = 0
        if n_f == 0:
            break
        n_solved = n_f
        order = component_order(in_f, seq, slots, n_f)
        n_rl = release_component(order, n_f, links, coef, use, load, head, nxt, in_f, in_r, r_list, n_rl)
        n_trip = 0
        for i in range(n_f):  # the triplets; a boundary resource keeps what the outside flows leave
            s = order[i]
            w[i] = weight[s]
            for j in range(k):
                c = coef[s, j]
                if c != 0:
                    li = links[s, j]
                    t_link[n_trip] = li
                    t_flow[n_trip] = i
                    t_coef[n_trip] = c
                    n_trip += 1
                    cap_eff[li] = capacity[li] if in_r[li] else max(capacity[li] - load[li], 0.0)
        maxmin_triplets(t_link, t_flow, t_coef, n_trip, cap_eff, w, n_f, sub_rate, loc)
        for i in range(n_f):
            s = order[i]
            r = sub_rate[i]
            rate[s] = r
            for j in range(k):
                c = coef[s, j]
                if c > 0 and np.isfinite(c) and r > 0:
                    use[s, j] = c * r
                    load[links[s, j]] += use[s, j]
        again = False
        for i in range(n_f):
            s = order[i]
            for j in range(k):
                li = links[s, j]
                full = load[li] >= capacity[li] * (1 - SAT_TOL)
                if coef[s, j] != 0 and not in_r[li] and full:  # filled by the new rates: solve again with it
                    in_r[li] = True
                    r_list[n_rl] = li
                    n_rl += 1
                    stack_r[n_stack] = li
                    n_stack += 1
                    again = True
                saturated[li] = full
        if not again:
            break
    for i in range(n_rl):
        li = r_list[i]
        in_r[li] = False
        if head[li] < 0:
            load[li] = 0.0  # no flow left: no rounding residue
            saturated[li] = False
        elif n_solved > 0:
            saturated[li] = load[li] >= capacity[li] * (1 - SAT_TOL)
    for i in range(n_f):
        in_f[members[i]] = False
    return n_solved, first_finish(remaining, rate, active)


@njit(cache=True, nogil=True)
def rebuild_loads(order, n, links, coef, rate, capacity, saturated, dirty, load, use, head):  # pragma: no cover
    """``use``, ``load`` and ``saturated`` from the flows ``order[:n]`` (every transmitting flow) and their rates, as
    the general path keeps them; every resource with a flow on it is marked dirty (its flows re-share)."""
    k = links.shape[1]
    load[:] = 0.0
    for i in range(n):
        s = order[i]
        r = rate[s]
        for j in range(k):
            c = coef[s, j]
            use[s, j] = 0.0
            if c > 0 and np.isfinite(c) and r > 0:
                use[s, j] = c * r
                load[links[s, j]] += use[s, j]
    for li in range(load.size):
        saturated[li] = head[li] >= 0 and load[li] >= capacity[li] * (1 - SAT_TOL)
        dirty[li] = head[li] >= 0


@njit(cache=True, nogil=True, inline="always")
def active_slots(ints, R, C):  # pragma: no cover - compiled
    """The scratch list :func:`lazy_recompute` reads the transmitting slots from (see ``n_known``)."""
    return ints[3 * R + C:3 * R + 2 * C]


@njit(cache=True, nogil=True, inline="always")
def star_views(ints, floats, R, C, CK):  # pragma: no cover - compiled
    """The star's kept state in the scratch arrays: (star_state, hub_c, priv), see :mod:`twin.net.scratch`."""
    o = R + 4 * C
    return ints[3 * R + 4 * C + 2 * CK:3 * R + 4 * C + 2 * CK + 3], floats[o:o + C], floats[o + C:o + 2 * C]


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
