"""The per-resource counters of :meth:`twin.net.engine.FlowNetwork.count_carried`, compiled when numba is there.

Between two instants where rates change, every moving flow adds ``rate x dt / 8`` payload bytes to each resource it
crosses and ``coefficient x rate x dt`` to that resource's busy capacity-seconds. The network probe turns them on in
every run that samples (``output.sample_period_s``), so this runs at every flow event: over every flow, one compiled
pass instead of numpy's masked gathers and ``np.add.at``. The additions run in the same order (flows in admission
order, then hops) with the same arithmetic, so both paths give the same bits.
"""

from __future__ import annotations

import numpy as np

from twin.net.filling import AVAILABLE, njit


@njit(cache=True, nogil=True)
def _count_compiled(slots, links, coef, rate, carried, busy, dt):  # pragma: no cover - compiled
    k = links.shape[1]
    for i in range(slots.size):
        s = slots[i]
        r = rate[s]
        if r > 0:
            for j in range(k):
                c = coef[s, j]
                if c != 0:
                    li = links[s, j]
                    carried[li] += r * (dt / 8.0)
                    busy[li] += c * r * dt


def count_moving(slots: np.ndarray, links: np.ndarray, coef: np.ndarray, rate: np.ndarray, carried: np.ndarray,
                 busy: np.ndarray, dt: float) -> None:
    """Add ``dt`` seconds of the flows in ``slots`` (admission order) at their rates to ``carried`` (payload bytes)
    and ``busy`` (capacity x seconds), per resource, in place."""
    if AVAILABLE:
        _count_compiled(slots, links, coef, rate, carried, busy, float(dt))
        return
    r = rate[slots]
    c = coef[slots]
    used = (c != 0) & (r > 0)[:, None]  # a moving flow's coefficients are finite
    if used.any():
        where = links[slots][used]
        moving = np.broadcast_to(r[:, None], c.shape)[used]
        np.add.at(carried, where, moving * (dt / 8.0))
        np.add.at(busy, where, c[used] * moving * dt)
