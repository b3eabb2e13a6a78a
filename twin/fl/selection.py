"""Client selection: ``k`` clients uniformly at random among the reachable ones, with or without replacement.

The study sampled WITH replacement (``np.random.choice(ids, n)``): a client drawn twice takes part twice (two local
trainings, two uploads) and counts twice in "pushed model updates". Without replacement, when fewer than ``k`` clients are
reachable all of them are taken and the shortfall is reported. Same generator state -> same selection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Selection:
    """Result of one draw. ``client_ids`` is int64 in draw order (may repeat when sampled with replacement)."""

    client_ids: np.ndarray
    requested: int
    num_reachable: int

    @property
    def shortfall(self) -> int:
        """How many of the ``requested`` clients could not be selected (0 unless too few were reachable)."""
        return self.requested - int(self.client_ids.size)


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"k (clients to select) must be an integer >= 0; got {k!r}")
    return int(k)


def select_clients(
    k: int,
    reachable: np.ndarray,
    rng: np.random.Generator,
    *,
    replace: bool = True,
    client_ids: np.ndarray | None = None,
) -> Selection:
    """Select ``k`` clients uniformly at random among those with ``reachable[i] == True``.

    reachable: bool array, shape (num_clients,). client_ids: optional ids, shape (num_clients,) (default ``arange``).
    rng: the selection component's ``np.random.Generator``. replace: sample with replacement (the study) or without.
    With replacement and no reachable client, or without replacement and fewer reachable than ``k``, the result is short
    and ``Selection.shortfall`` says by how many.
    """
    k = _check_k(k)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator; got {type(rng).__name__}")
    mask = np.asarray(reachable)
    if mask.ndim != 1 or mask.dtype != np.bool_:
        raise ValueError(f"reachable must be a 1-D bool array; got dtype {mask.dtype} shape {mask.shape}")
    if client_ids is None:
        ids = np.flatnonzero(mask).astype(np.int64)
    else:
        all_ids = np.asarray(client_ids, dtype=np.int64)
        if all_ids.shape != mask.shape:
            raise ValueError(f"client_ids must have the shape of reachable {mask.shape}; got {all_ids.shape}")
        ids = all_ids[mask]
    n = int(ids.size)
    if k == 0 or n == 0:
        chosen = np.empty(0, dtype=np.int64)
    elif replace:
        chosen = ids[rng.integers(0, n, size=k)]
    elif n <= k:
        chosen = ids[rng.permutation(n)]
    else:
        chosen = ids[rng.choice(n, size=k, replace=False)]
    return Selection(client_ids=chosen.astype(np.int64), requested=k, num_reachable=n)


class UniformSelection:
    """Config-facing wrapper: ``UniformSelection(replace=True).select(k, reachable, rng)``."""

    def __init__(self, *, replace: bool = True) -> None:
        if not isinstance(replace, (bool, np.bool_)):
            raise ValueError(f"replace must be true or false; got {replace!r}")
        self.replace = bool(replace)

    def select(self, k: int, reachable: np.ndarray, rng: np.random.Generator, *, client_ids=None) -> Selection:
        return select_clients(k, reachable, rng, replace=self.replace, client_ids=client_ids)

    def __repr__(self) -> str:
        return f"UniformSelection(replace={self.replace})"
