"""One compiled call per completion event of the lazy flow engine (optional: numba; see :mod:`twin.net.lazy`).

A completion used to cost a handful of compiled calls and their Python glue: move every flow forward, find the
finished ones, free each one's slot, recompute the rates, find the next finish. :func:`complete` does all of it in
one call, with the same operations in the same order as those steps (:func:`twin.net.kernels.advance`,
:func:`~twin.net.kernels.finished_slots`, :func:`~twin.net.kernels.unlink`, the slot clearing of
``FlowRates._release``, :func:`~twin.net.kernels.lazy_recompute`), so the results are the same; the Python side keeps
only the flow objects (their dict, arrival events): :func:`on_complete`.
"""

from __future__ import annotations

import numpy as np

from twin.net.filling import njit
from twin.net.kernels import active_slots, lazy_recompute, star_views, unlink
from twin.net.star import leaf_level, star_fill

__all__ = ["complete", "on_complete"]


def on_complete(net, eps_s: float) -> None:  # net: a twin.net.lazy.FlowRates (not imported: lazy imports this module)
    """``FlowRates._on_complete`` on a wired network in one compiled call (:func:`complete`): the same steps. Flows
    within ``eps_s`` (relative to the clock) of their end finish together."""
    net._count()
    now = net.env.now
    dt = now - net._last_update
    net._last_update = now
    scratch = net._work_arrays()
    n, n_rec, first = complete(
        dt if net._flows else 0.0, eps_s * max(1.0, now), net._track_on, net._done, net._remaining, net._rate,
        net._active, net._seq, net._links, net._coef, net._weight, net._use, net._head, net._nxt, net._prv, net._load,
        net._saturated, net._dirty, net._seed, net._capacity, net._n_on, scratch.ints, scratch.floats, scratch.flags,
        scratch.r, scratch.c, scratch.ck)
    flows, free, finished = net._flows, net._free, []
    for slot in net._done[:n].tolist():
        flow = flows.pop(slot)
        free.append(slot)
        flow.slot = None
        flow.tx_end_t = now
        finished.append(flow)
    net._deliver_many(finished)
    net.n_flow_events += n
    net.n_recomputes += 1
    net._generation += 1
    net.n_flows_recomputed += n_rec
    if first < np.inf:
        generation = net._generation
        net.env.timeout(first).callbacks.append(lambda _event: net._on_complete(generation))


@njit(cache=True, nogil=True)
def complete(dt, threshold, track, done, remaining, rate, active, seq, links, coef, weight, use, head, nxt, prv, load,
             saturated, dirty, seed, capacity, n_on, ints, floats, flags, R, C, CK):  # pragma: no cover - compiled
    """Advance every flow by ``dt`` seconds, finish the flows within ``threshold`` seconds of their end (else the
    earliest one alone), free their slots (``n_on`` counts down when ``track``), and recompute the rates.

    Writes the finished slots, in admission order, into ``done``; returns (how many finished, how many flows were
    recomputed, the earliest finish time from now: ``inf`` when nothing transmits or everything stalls).
    """
    cap, k = links.shape
    listed = active_slots(ints, R, C)
    star_state, hub_c, priv = star_views(ints, floats, R, C, CK)
    n_act = 0
    seeded = False
    in_order = True  # slot order is admission order
    last_seq = -1
    demand = 0.0  # a kept star's sums over the flows that go on (used when it stays one, see below)
    pmin = np.inf
    kept_star = star_state[1] >= 1  # a star kept since its shape was found (2: with shared leaves); else listed
    n = 0
    best = -1
    best_left = np.inf
    best_seq = 0
    for s in range(cap):
        if active[s]:
            r = rate[s]
            if dt > 0 and r > 0:
                remaining[s] -= r * dt / 8.0 * 1.0
            if not kept_star:
                listed[n_act] = s
            n_act += 1
            seeded = seeded or seed[s]
            if seq[s] < last_seq:
                in_order = False
            last_seq = seq[s]
            left = remaining[s] * 8.0 / r if r > 0 else np.inf
            if left <= threshold:
                done[n] = s
                n += 1
            elif kept_star:
                demand += hub_c[s] * weight[s]
                if priv[s] < pmin:
                    pmin = priv[s]
            if best < 0 or left < best_left or (left == best_left and seq[s] < best_seq):
                best, best_left, best_seq = s, left, seq[s]
    fast = kept_star and not seeded and in_order and n > 0 and n < n_act
    if n == 0 and best >= 0:  # rounding left a sliver: finish the earliest anyway
        done[0] = best
        n = 1
    for i in range(1, n):
        if seq[done[i]] < seq[done[i - 1]]:
            done[:n] = done[:n][np.argsort(seq[done[:n]])]
            break
    # A star with shared leaves stays one when flows leave it (two or more go on): the leaves that lose a flow and
    # keep others get their new level (their flows' priv) below; the others' levels hold.
    leaf_star = star_state[1] == 2 and not seeded and n_act - n >= 2
    moved = _leaves_kept(done, n, star_state[0], links, coef, head, nxt) if leaf_star else done[:0]
    if moved.size > 0 or (star_state[1] == 2 and not leaf_star):
        fast = False  # the first pass's lowest level may have moved, or the shape is found again
    for i in range(n):  # free the slots
        s = done[i]
        unlink(s, links, coef, use, head, nxt, prv, load, saturated, dirty)
        if track:
            for j in range(k):
                if coef[s, j] != 0:
                    n_on[links[s, j]] -= 1
        remaining[s] = 0.0
        rate[s] = 0.0
        active[s] = False
        seed[s] = False
        for j in range(k):
            links[s, j] = 0
            coef[s, j] = 0.0
    for i in range(moved.size):
        leaf_level(moved[i], links, coef, weight, capacity, head, nxt, seq, priv)
    if fast:  # a kept star, flows in admission order: the sums above are the star solve's first pass
        return n, n_act - n, _star_rest(cap, star_state[0], demand, pmin, active, weight, rate, capacity, remaining,
                                        listed, hub_c, priv, floats, flags, R, C)
    kept = 0
    if kept_star:  # the slots were not listed: list those that go on
        for s in range(cap):
            if active[s]:
                listed[kept] = s
                kept += 1
    else:
        for i in range(n_act):  # the list without the finished slots
            s = listed[i]
            if active[s]:
                listed[kept] = s
                kept += 1
    if kept == 0:
        dirty[:] = False
        saturated[:] = False
        return n, 0, np.inf
    n_rec, first = lazy_recompute(links, coef, weight, active, seed, seq, rate, capacity, saturated, dirty, load, use,
                                  head, nxt, remaining, ints, floats, flags, R, C, CK, kept, seeded, leaf_star)
    return n, n_rec, first


@njit(cache=True, nogil=True)
def _leaves_kept(done, n, hub, links, coef, head, nxt):  # pragma: no cover - compiled
    """The leaves (resources other than the hub) of the ``n`` finishing flows ``done[:n]`` (still linked) that a flow
    going on also crosses: their levels change."""
    k = links.shape[1]
    out = np.empty(n * k, dtype=np.int64)
    m = 0
    for i in range(n):
        s = done[i]
        for j in range(k):
            if coef[s, j] != 0 and links[s, j] != hub:
                x = head[links[s, j]]
                while x >= 0:
                    mate = x // k
                    finishing = False
                    for q in range(n):
                        if done[q] == mate:
                            finishing = True
                            break
                    if not finishing:
                        out[m] = links[s, j]
                        m += 1
                        break
                    x = nxt[x]
    return out[:m]


@njit(cache=True, nogil=True)
def _star_rest(cap, hub, demand, pmin, active, weight, rate, capacity, remaining, listed, hub_c, priv, floats, flags, R,
               C):  # pragma: no cover - compiled
    """The star solve (:func:`twin.net.star.star_solve`) after its first pass: the rates and the next finish."""
    residual = capacity[hub]
    hub_level = (residual if residual > 0.0 else 0.0) / demand if demand > 0 else np.inf
    lam = hub_level if hub_level < pmin else pmin
    if not hub_level <= lam * (1 + 1e-9) + 1e-300:  # private levels first: the filling needs the flows listed
        n = 0
        for s in range(cap):
            if active[s]:
                listed[n] = s
                n += 1
        o = R + C
        hk, prefix = floats[o + C:o + 2 * C], floats[o + 2 * C:o + 3 * C]
        ints_hv, ints_newly = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
        lam = star_fill(listed[:n], n, hub_c, weight, priv, residual, demand, pmin, rate, hk, ints_hv,
                        flags[R + C:R + 2 * C], ints_newly, prefix)
    first = np.inf
    for s in range(cap):
        if active[s]:
            r = lam * weight[s] if lam >= 0 else rate[s]
            rate[s] = r
            f = remaining[s] * 8.0 / r if r > 0 else np.inf
            if f < 0.0:
                f = 0.0
            if f < first:
                first = f
    return first
