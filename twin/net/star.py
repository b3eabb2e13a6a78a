"""Compiled max-min filling of a *star* component (optional: numba; see :mod:`twin.net.kernels`).

A star: one resource (the hub, e.g. a server link) is crossed once by every flow of the component, and each of the
other resources is crossed by one flow only (its access link). That is the burst of a federated round: every client
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

from twin.net.filling import _pop, _sift_down, njit

__all__ = ["star_rates"]


@njit(cache=True, nogil=True)
def star_rates(hub_c, w, priv, n, hub_cap, rate, hk, hv, frozen, newly, prefix):  # pragma: no cover - compiled
    """``rate[:n]`` = the weighted max-min rates of ``n`` flows crossing one hub (coefficient ``hub_c[i]``, residual
    capacity ``hub_cap``), flow ``i`` also limited at level ``priv[i]`` by its private resources (``inf``: none).

    ``hk``, ``hv``, ``frozen``, ``newly``, ``prefix``: work arrays of at least ``n`` entries (``frozen`` all False;
    restored).
    Flows are in the order the full filling numbers them (admission order), which fixes the order of every sum.
    """
    demand = 0.0
    pmin = np.inf
    for i in range(n):
        demand += hub_c[i] * w[i]
        if priv[i] < pmin:
            pmin = priv[i]
    residual = hub_cap
    hub_level = (residual if residual > 0.0 else 0.0) / demand if demand > 0 else np.inf
    lam = hub_level if hub_level < pmin else pmin
    if hub_level <= lam * (1 + 1e-9) + 1e-300:  # the hub saturates first: one step freezes everyone
        for i in range(n):
            rate[i] = lam * w[i]
        return
    # Private levels below the hub's freeze their flows first: a heap of them, popped in level order.
    size = 0
    for i in range(n):
        hk[size] = priv[i]
        hv[size] = i
        size += 1
    for i in range((size - 2) // 2, -1, -1):
        _sift_down(hk, hv, i, hk[i], hv[i], size)
    uniform = True
    acc = 0.0
    for i in range(n):  # sequential sums of the hub's terms, read when all terms are equal
        term = hub_c[i] * w[i]
        acc += term
        prefix[i] = acc
        if term != hub_c[0] * w[0]:
            uniform = False
    left = n
    while left > 0:
        lam = hub_level if size == 0 or hub_level < hk[0] else hk[0]
        thresh = lam * (1 + 1e-9) + 1e-300
        if hub_level <= thresh:  # the hub is a bottleneck now: every flow left freezes at this level
            for i in range(n):
                if not frozen[i]:
                    rate[i] = lam * w[i]
            break
        n_new = 0
        while size > 0 and hk[0] <= thresh:
            newly[n_new] = hv[0]
            n_new += 1
            size = _pop(hk, hv, size)
        nw = np.sort(newly[:n_new])  # the full filling charges the step's flows in flow order
        charge = 0.0
        for f in nw:
            rate[f] = lam * w[f]
            charge += hub_c[f] * rate[f]
            frozen[f] = True
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
                    demand += hub_c[i] * w[i]
        hub_level = (residual if residual > 0.0 else 0.0) / demand if demand > 0 else np.inf
    for i in range(n):
        frozen[i] = False

