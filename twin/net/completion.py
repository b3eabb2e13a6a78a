"""One compiled call per completion event of the lazy flow engine (optional: numba; see :mod:`twin.net.lazy`).

A completion used to cost a handful of compiled calls and their Python glue: move every flow forward, find the
finished ones, free each one's slot, recompute the rates, find the next finish. :func:`complete` does all of it in
one call, with the same operations in the same order as those steps (:func:`twin.net.kernels.advance`,
:func:`~twin.net.kernels.finished_slots`, :func:`~twin.net.kernels.unlink`, the slot clearing of
``FlowRates._release``, :func:`~twin.net.kernels.lazy_recompute`), so the results are the same; the Python side keeps
only the flow objects (their dict, arrival events).
"""

from __future__ import annotations

import numpy as np

from twin.net.filling import njit
from twin.net.kernels import active_slots, lazy_recompute, unlink

__all__ = ["complete"]


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
    n_act = 0
    seeded = False
    n = 0
    best = -1
    best_left = np.inf
    best_seq = 0
    for s in range(cap):
        if active[s]:
            r = rate[s]
            if dt > 0 and r > 0:
                remaining[s] -= r * dt / 8.0 * 1.0
            listed[n_act] = s
            n_act += 1
            seeded = seeded or seed[s]
            left = remaining[s] * 8.0 / r if r > 0 else np.inf
            if left <= threshold:
                done[n] = s
                n += 1
            if best < 0 or left < best_left or (left == best_left and seq[s] < best_seq):
                best, best_left, best_seq = s, left, seq[s]
    if n == 0 and best >= 0:
        done[0] = best
        n = 1
    for i in range(1, n):
        if seq[done[i]] < seq[done[i - 1]]:
            done[:n] = done[:n][np.argsort(seq[done[:n]])]
            break
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
    kept = 0
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
                                  head, nxt, remaining, ints, floats, flags, R, C, CK, kept, seeded)
    return n, n_rec, first
