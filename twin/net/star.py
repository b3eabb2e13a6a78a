"""Compiled max-min filling of a *star* (optional: numba; see :mod:`twin.net.kernels`).

A star: one resource (the hub, e.g. a server link) is crossed once by every transmitting flow, and each of the other
resources is crossed by one flow only (its access link). That is the burst of a federated round: every client
downloads the model through the server link at once, and every completion changes every rate. The general filling
(:func:`twin.net.filling.maxmin_triplets`) needs triplet tables, a heap of every resource and per-resource demand
sums; here a flow's private resources reduce to one level (the lowest: ``capacity / (coefficient * weight)``), the hub
to one running residual and demand, and when the hub is the first bottleneck (the common case: the server link is
saturated) every rate is ``level * weight`` after one pass.

The arithmetic is that of :func:`twin.net.sharing.maxmin_rates` operation for operation and in the same order (the
hub's demand summed in flow order, each step's charge summed in flow order, then subtracted), so the rates are
bit-identical to it (``tests/net/test_star.py``).
"""

from __future__ import annotations

import numpy as np

from twin.net.filling import heap_pop, heap_sift_down, njit

__all__ = ["leaf_level", "leaf_star_extend", "leaf_star_shape", "star_extend", "star_fill", "star_rates", "star_shape", "star_solve"]


@njit(cache=True, nogil=True)
def star_rates(order, n, hub_c, w, priv, hub_cap, rate, hk, hv, frozen, newly, prefix):  # pragma: no cover - compiled
    """``rate[order[:n]]`` = the weighted max-min rates of the flows ``order[:n]`` crossing one hub (coefficient
    ``hub_c[s]``, capacity ``hub_cap``), flow ``s`` also limited at level ``priv[s]`` by its private resources
    (``inf``: none). ``hub_c``, ``w``, ``priv``, ``rate``: indexed by slot.

    ``hk``, ``hv``, ``frozen``, ``newly``, ``prefix``: work arrays of at least ``n`` entries (``frozen`` all False;
    restored). The flows are in the order the full filling numbers them (admission order), which fixes the order of
    every sum.
    """
    demand = 0.0
    pmin = np.inf
    for i in range(n):
        s = order[i]
        demand += hub_c[s] * w[s]
        if priv[s] < pmin:
            pmin = priv[s]
    lam = star_fill(order, n, hub_c, w, priv, hub_cap, demand, pmin, rate, hk, hv, frozen, newly, prefix)
    if lam >= 0:
        for i in range(n):
            rate[order[i]] = lam * w[order[i]]


@njit(cache=True, nogil=True)
def star_fill(order, n, hub_c, w, priv, hub_cap, demand, pmin, rate, hk, hv, frozen, newly,
              prefix):  # pragma: no cover - compiled
    """:func:`star_rates` after its first pass (``demand``: the hub's terms summed in flow order; ``pmin``: the
    lowest private level). When the hub saturates first, every flow gets ``level * w``: returns that level and writes
    nothing (the caller writes the rates in its own pass); else writes ``rate`` and returns -1."""
    residual = hub_cap
    hub_level = (residual if residual > 0.0 else 0.0) / demand if demand > 0 else np.inf
    lam = hub_level if hub_level < pmin else pmin
    if hub_level <= lam * (1 + 1e-9) + 1e-300:  # the hub saturates first: one step freezes everyone
        return lam
    # Private levels below the hub's freeze their flows first: a heap of them, popped in level order.
    for i in range(n):
        hk[i] = priv[order[i]]
        hv[i] = i
    size = n
    for i in range((size - 2) // 2, -1, -1):
        heap_sift_down(hk, hv, i, hk[i], hv[i], size)
    uniform = True
    acc = 0.0
    first_term = hub_c[order[0]] * w[order[0]]
    for i in range(n):  # sequential sums of the hub's terms, read when all terms are equal
        term = hub_c[order[i]] * w[order[i]]
        acc += term
        prefix[i] = acc
        if term != first_term:
            uniform = False
    left = n
    while left > 0:
        lam = hub_level if size == 0 or hub_level < hk[0] else hk[0]
        thresh = lam * (1 + 1e-9) + 1e-300
        if hub_level <= thresh:  # the hub is a bottleneck now: every flow left freezes at this level
            for i in range(n):
                if not frozen[i]:
                    rate[order[i]] = lam * w[order[i]]
            break
        n_new = 0
        while size > 0 and hk[0] <= thresh:
            newly[n_new] = hv[0]
            n_new += 1
            size = heap_pop(hk, hv, size)
        nw = np.sort(newly[:n_new])  # the full filling charges the step's flows in flow order
        charge = 0.0
        for i in nw:
            s = order[i]
            rate[s] = lam * w[s]
            charge += hub_c[s] * rate[s]
            frozen[i] = True
        residual -= charge
        left -= n_new
        if left == 0:
            break
        if uniform:  # equal terms: the sum of the first ``left`` of them is the sum of any ``left``
            demand = prefix[left - 1]
        else:
            demand = 0.0
            for i in range(n):
                if not frozen[i]:
                    demand += hub_c[order[i]] * w[order[i]]
        hub_level = (residual if residual > 0.0 else 0.0) / demand if demand > 0 else np.inf
    for i in range(n):
        frozen[i] = False
    return -1.0


@njit(cache=True, nogil=True)
def star_shape(order, n, links, coef, weight, capacity, head, nxt, hub_c, priv):  # pragma: no cover - compiled
    """The hub if the flows ``order[:n]`` (every transmitting flow, in any order) form a star, else -1; fills
    ``hub_c`` and ``priv`` (each flow's lowest private level, by slot) for :func:`star_rates`. Writes nothing else.

    A star: one resource every flow crosses once (its crossings list holds exactly these flows), every other
    resource crossed by one crossing alone (its list has one entry), every coefficient positive and finite.
    """
    if n == 0:
        return -1
    k = links.shape[1]
    s = order[0]
    hub = -1
    for j in range(k):  # the first flow's shared resource (any resource of it when it is alone)
        if coef[s, j] != 0:
            x = s * k + j
            if hub < 0 and n == 1:
                hub = links[s, j]
            elif n > 1 and (head[links[s, j]] != x or nxt[x] >= 0):
                if hub >= 0:
                    return -1  # two shared resources
                hub = links[s, j]
    if hub < 0:
        return -1
    for i in range(n):
        s = order[i]
        p = _private_level(s, hub, links, coef, weight, capacity, head, nxt, hub_c)
        if p < 0:
            return -1
        priv[s] = p
    return hub


@njit(cache=True, nogil=True, inline="always")
def _private_level(s, hub, links, coef, weight, capacity, head, nxt, hub_c):  # pragma: no cover - compiled
    """Flow ``s``'s lowest private level (``inf``: none) if it crosses ``hub`` once and otherwise only resources
    no other flow crosses, with coefficients positive and finite (``hub_c[s]`` set); else -1."""
    k = links.shape[1]
    n_hub = 0
    p = np.inf
    for j in range(k):
        c = coef[s, j]
        if c != 0:
            if not (c > 0) or np.isinf(c):
                return -1.0
            li = links[s, j]
            if li == hub:
                n_hub += 1
                hub_c[s] = c
                continue
            x = s * k + j
            if head[li] != x or nxt[x] >= 0:
                return -1.0  # shared with another flow (or crossed twice)
            d = c * weight[s]
            lv = (capacity[li] if capacity[li] > 0.0 else 0.0) / d if d > 0 else np.inf
            if lv < p:
                p = lv
    return p if n_hub == 1 else -1.0


@njit(cache=True, nogil=True)
def star_extend(order, n, hub, seed, links, coef, weight, capacity, head, nxt, hub_c, priv):  # pragma: no cover
    """Whether the flows ``order[:n]`` still form the star kept around ``hub`` (:func:`star_shape` found it, and
    since then flows only left it or were seeded) when only the seeded flows (new, re-routed or re-weighted) are
    checked: each crosses the hub once and otherwise only resources no other flow crosses, every coefficient positive
    and finite. Fills ``hub_c`` and ``priv`` of the seeded flows; the others keep theirs (a changed resource seeds
    every flow on it, so theirs did not change). With ``n >= 2`` the hub is then the one resource every flow crosses,
    which :func:`star_shape` would return with the same ``hub_c`` and ``priv``: the same star, found in the time of
    the seeded flows instead of every flow (a round's uploads start one by one, each a seeded flow in a star of
    hundreds)."""
    if n < 2:
        return False
    for i in range(n):
        s = order[i]
        if seed[s]:
            p = _private_level(s, hub, links, coef, weight, capacity, head, nxt, hub_c)
            if p < 0:
                return False
            priv[s] = p
    return True


@njit(cache=True, nogil=True)
def leaf_star_extend(order, n, hub, seed, links, coef, weight, capacity, head, nxt, seq, hub_c,
                     priv):  # pragma: no cover - compiled
    """:func:`star_extend` for a star with shared leaves (kept since :func:`leaf_star_shape` found it): whether each
    seeded flow crosses the hub once and exactly one other resource, its leaf, with coefficients positive and
    finite. Fills ``hub_c`` of the seeded flows and ``priv`` of every flow on their leaves (a leaf's level is its
    capacity over all its flows' terms, so a flow joining a leaf moves its mates' level too), as
    :func:`leaf_star_shape` computes them; the other flows' leaves did not change."""
    if n < 2:
        return False
    for i in range(n):
        s = order[i]
        if seed[s]:
            leaf = _leaf_of(s, hub, links, coef, hub_c)
            if leaf < 0:
                return False
            leaf_level(links[s, leaf], links, coef, weight, capacity, head, nxt, seq, priv)
    return True


@njit(cache=True, nogil=True, inline="always")
def _leaf_of(s, hub, links, coef, hub_c):  # pragma: no cover - compiled
    """The hop of flow ``s``'s leaf if it crosses ``hub`` once and exactly one other resource, with coefficients
    positive and finite (``hub_c[s]`` set); else -1."""
    k = links.shape[1]
    n_hub = 0
    leaf = -1
    for j in range(k):
        c = coef[s, j]
        if c != 0:
            if not (c > 0) or np.isinf(c):
                return -1
            if links[s, j] == hub:
                n_hub += 1
                hub_c[s] = c
            elif leaf < 0:
                leaf = j
            else:
                return -1  # a second leaf
    return leaf if n_hub == 1 else -1


@njit(cache=True, nogil=True, inline="always")
def _leaf_demand(li, links, coef, weight, head, nxt, seq):  # pragma: no cover - compiled
    """(the terms (coefficient x weight) of the flows on leaf ``li`` summed as the full filling sums a resource's
    demand: one flow's own term, two added as the list holds them (their sum does not depend on the order), more
    from 0 in admission order; how many flows)."""
    k = links.shape[1]
    m = 0
    x = head[li]
    while x >= 0:
        m += 1
        x = nxt[x]
    x = head[li]
    s2 = x // k
    if m == 1:
        return coef[s2, x - s2 * k] * weight[s2], m
    if m == 2:
        d = 0.0 + coef[s2, x - s2 * k] * weight[s2]
        x = nxt[x]
        s2 = x // k
        d += coef[s2, x - s2 * k] * weight[s2]
        return d, m
    keys = np.empty(m, dtype=np.int64)
    terms = np.empty(m)
    for q in range(m):
        s2 = x // k
        keys[q] = seq[s2]
        terms[q] = coef[s2, x - s2 * k] * weight[s2]
        x = nxt[x]
    d = 0.0
    for q in np.argsort(keys):
        d += terms[q]
    return d, m


@njit(cache=True, nogil=True)
def leaf_level(li, links, coef, weight, capacity, head, nxt, seq, priv):  # pragma: no cover - compiled
    """Set ``priv`` of every flow on leaf ``li`` to the leaf's level (its capacity over its flows' terms,
    :func:`_leaf_demand`), as :func:`leaf_star_shape` computes it."""
    k = links.shape[1]
    d, _ = _leaf_demand(li, links, coef, weight, head, nxt, seq)
    level = (capacity[li] if capacity[li] > 0.0 else 0.0) / d if d > 0 else np.inf
    x = head[li]
    while x >= 0:
        priv[x // k] = level
        x = nxt[x]


@njit(cache=True, nogil=True)
def star_solve(order, n, hub, weight, rate, capacity, remaining, seed, hub_c, priv, hk, hv, frozen, newly,
               prefix):  # pragma: no cover - compiled
    """Every transmitting flow (``order[:n]``, a star around ``hub``, see :func:`star_shape`) gets its max-min
    rate; ``seed`` is cleared. Returns the earliest finish time from now. Two passes over the flows when the hub
    saturates first (the burst's usual case). Reads capacities, never loads: the caller rebuilds those when the
    network leaves the star shape (:func:`twin.net.kernels.rebuild_loads`)."""
    demand = 0.0
    pmin = np.inf
    for i in range(n):
        s = order[i]
        seed[s] = False
        demand += hub_c[s] * weight[s]
        if priv[s] < pmin:
            pmin = priv[s]
    lam = star_fill(order, n, hub_c, weight, priv, capacity[hub], demand, pmin, rate, hk, hv, frozen, newly, prefix)
    first = np.inf
    for i in range(n):
        s = order[i]
        r = lam * weight[s] if lam >= 0 else rate[s]
        rate[s] = r
        f = remaining[s] * 8.0 / r if r > 0 else np.inf
        if f < 0.0:
            f = 0.0
        if f < first:
            first = f
    return first


@njit(cache=True, nogil=True)
def leaf_star_shape(order, n, links, coef, weight, capacity, head, nxt, seq, hub_c, priv, hint):  # pragma: no cover
    """Like :func:`star_shape` for a star whose leaves may be shared: one resource (the hub) every flow crosses once,
    and besides it exactly one resource per flow, its *leaf*, crossed by one or several of these flows (a client
    drawn twice in a round, its two transfers on one access link); every coefficient positive and finite. Returns
    (the hub or -1, whether a leaf is shared); fills ``hub_c`` and ``priv``. ``hint``: the hub to try (-1: none,
    look for it); -2 when the flows are no star around the hint (look again without one).

    A flow's ``priv`` is its leaf's level as the full filling computes it first: the leaf's capacity over its terms
    (coefficient * weight) summed in admission order (``seq``). The level holds until the leaf's flows freeze, and
    they freeze together, at its level or at the hub's, since none has another constraint; so the star filling
    (:func:`star_rates`, flows with equal ``priv`` frozen in one step) gives the full filling's rates."""
    if n < 2:
        return -1, False
    k = links.shape[1]
    hub = hint
    if hub < 0:
        s = order[0]
        for j in range(k):  # the hub: a resource of the first flow that every flow crosses
            if coef[s, j] != 0:
                m = 0
                x = head[links[s, j]]
                while x >= 0:
                    m += 1
                    x = nxt[x]
                if m == n:
                    hub = links[s, j]
                    break
        if hub < 0:
            return -1, False
    shared = False
    for i in range(n):  # every flow crosses the hub once (so its list holds them all) and one leaf
        s = order[i]
        leaf = _leaf_of(s, hub, links, coef, hub_c)
        if leaf < 0:
            return (-2 if hint >= 0 else -1), False  # -2: not around the hint (the caller looks again without it)
        li = links[s, leaf]
        d, m = _leaf_demand(li, links, coef, weight, head, nxt, seq)
        shared = shared or m > 1
        priv[s] = (capacity[li] if capacity[li] > 0.0 else 0.0) / d if d > 0 else np.inf
    return hub, shared
