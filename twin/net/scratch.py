"""Work arrays of the compiled lazy recomputation (:func:`twin.net.kernels.lazy_recompute`), kept between events.

The recomputation runs at every flow event; allocating its work arrays each time (sized by every resource and every
slot) cost more than solving a small component. They live here instead, packed into three arrays (one numba argument
each), grown by doubling, and the kernel leaves them as it found them (flags False, ``loc`` -1, counters 0), touching
only the entries of the component it solved.

Layout (``R`` resources, ``C`` slots, ``CK`` = slots x hops, as allocated):

- ``ints``: stack_r [R], r_list [R], loc [R] (-1), members [C], slots [C], hv [C], newly [C], t_link [CK],
  t_flow [CK], star_state [3];
- ``floats``: cap_eff [R], w [C], sub_rate [C], hk [C], prefix [C], hub_c [C], priv [C], t_coef [CK];
- ``flags``: in_r [R], in_f [C], frozen [C].

Not scratch but state: ``star_state`` (the hub; 1 while every transmitting flow forms a star around it; 1 while the
loads are stale because star solves skipped them) and, by slot, ``hub_c`` and ``priv``
(:func:`twin.net.star.star_shape`). A star stays one while flows only leave it, so the shape is found again only
after a new, re-routed or re-weighted flow; growing the arrays forgets the shape (found again), never the staleness.
"""

from __future__ import annotations

import numpy as np


class Scratch:
    """The packed work arrays, at least as large as the network's resources and slots."""

    def __init__(self) -> None:
        self.r = self.c = self.ck = 0
        self.ints = np.zeros(0, dtype=np.int64)
        self.floats = np.zeros(0)
        self.flags = np.zeros(0, dtype=np.bool_)

    def fit(self, n_res: int, cap: int, k: int) -> None:
        """Grow (by doubling) so that ``n_res`` resources and ``cap`` slots of ``k`` hops fit."""
        if n_res <= self.r and cap <= self.c and cap * k <= self.ck:
            return
        r, c = max(n_res, 2 * self.r, 16), max(cap, self.c, 16)
        ck = max(c * k, self.ck)
        self.r, self.c, self.ck = r, c, ck
        state = self.ints[-3:].copy() if self.ints.size else np.zeros(3, dtype=np.int64)
        self.ints = np.zeros(3 * r + 4 * c + 2 * ck + 3, dtype=np.int64)
        self.ints[-3:] = state
        self.ints[-2] = 0  # the star's shape is found again (slots may have grown), its stale loads stay known
        self.ints[2 * r: 3 * r] = -1  # loc
        self.floats = np.zeros(r + 6 * c + ck)
        self.flags = np.zeros(r + 2 * c, dtype=np.bool_)
