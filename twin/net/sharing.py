"""Max-min fair sharing of capacity among flows: the pure arithmetic of the flow-level model (SimGrid's LMM).

Flows f cross resources l. Each resource has a capacity ``c_l`` and each (resource, flow) pair a coefficient
``a_lf`` (capacity consumed per unit of the flow's rate; 0 where the flow does not cross the resource). The
allocation is the weighted max-min fair one under ``sum_f a_lf x_f <= c_l`` found by progressive filling: all
unfrozen flows grow together as ``x_f = lambda w_f``; the resource that saturates first freezes the flows crossing it;
repeat. For wired links (``a_lf`` = wire bytes per payload byte, ``w_f = 1``) this is the classic bottleneck max-min
fairness; a radio cell can enter as a resource of capacity 1 (its air time) with ``a_lf = 1 / r_f`` (``r_f`` the
flow's full-cell rate), and a flow that has lost coverage as an infinite coefficient (its rate is 0, it stalls).

The sparse form (one triplet per crossing) keeps each filling step O(crossings), so thousands of flows are cheap.
"""

from __future__ import annotations

import numpy as np


def maxmin_rates(
    link_idx: np.ndarray,
    flow_idx: np.ndarray,
    coef: np.ndarray,
    capacity: np.ndarray,
    weight: np.ndarray | None = None,
    n_flows: int | None = None,
    levels: np.ndarray | None = None,
) -> np.ndarray:
    """Weighted max-min fair rates.

    Args:
        link_idx, flow_idx, coef: [nnz] triplets: flow ``flow_idx[k]`` consumes ``coef[k]`` units of resource
            ``link_idx[k]`` per unit of rate. ``coef`` >= 0; ``inf`` marks a resource the flow cannot use (rate 0).
        capacity: [n_links] capacities (> 0; units of the coefficients times rate, e.g. bit/s).
        weight: [n_flows] positive weights (default 1): unfrozen flows grow as ``lambda * weight``.
        n_flows: number of flows (default ``flow_idx.max() + 1``).
        levels: optional [n_links] output, filled with the filling level ``lambda`` at which each resource saturated
            (``inf`` for resources that never did): a flow bottlenecked at resource l gets ``levels[l] * weight``.

    Returns:
        [n_flows] rates. A flow that crosses no resource with a positive coefficient gets ``inf``.
    """
    link_idx = np.asarray(link_idx, dtype=np.int64)
    flow_idx = np.asarray(flow_idx, dtype=np.int64)
    coef = np.asarray(coef, dtype=np.float64)
    capacity = np.asarray(capacity, dtype=np.float64)
    if n_flows is None:
        n_flows = int(flow_idx.max()) + 1 if flow_idx.size else 0
    w = np.ones(n_flows) if weight is None else np.asarray(weight, dtype=np.float64)
    n_links = capacity.shape[0]
    rate = np.full(n_flows, np.inf)
    if levels is not None:
        levels[:] = np.inf
    if n_flows == 0:
        return rate
    if np.any(capacity <= 0):
        raise ValueError("every resource capacity must be positive")

    frozen = np.zeros(n_flows, dtype=bool)
    # Flows that cannot use one of their resources (infinite coefficient) stall at rate 0.
    blocked = np.isinf(coef)
    if blocked.any():
        frozen[flow_idx[blocked]] = True
        rate[frozen] = 0.0
        keep = (coef > 0) & ~frozen[flow_idx]
        link_idx, flow_idx, coef = link_idx[keep], flow_idx[keep], coef[keep]
    elif not np.all(coef > 0):
        keep = coef > 0
        link_idx, flow_idx, coef = link_idx[keep], flow_idx[keep], coef[keep]

    residual = capacity.copy()
    while link_idx.size:
        demand = np.bincount(link_idx, weights=coef * w[flow_idx], minlength=n_links)
        with np.errstate(divide="ignore", invalid="ignore"):
            level = np.where(demand > 0, np.maximum(residual, 0.0) / demand, np.inf)
        lam = level.min()
        # Every resource saturating at this level (within rounding) is a bottleneck now.
        bottleneck = level <= lam * (1 + 1e-9) + 1e-300
        if levels is not None:
            levels[bottleneck] = lam
        newly = np.zeros(n_flows, dtype=bool)
        newly[flow_idx[bottleneck[link_idx]]] = True
        rate[newly] = lam * w[newly]
        frozen |= newly
        # Charge the newly frozen flows' consumption to every resource they cross; drop their crossings.
        charge = newly[flow_idx]
        residual -= np.bincount(link_idx[charge], weights=coef[charge] * rate[flow_idx[charge]], minlength=n_links)
        rest = ~charge
        link_idx, flow_idx, coef = link_idx[rest], flow_idx[rest], coef[rest]
    return rate


def link_load(link_idx: np.ndarray, flow_idx: np.ndarray, coef: np.ndarray, rate: np.ndarray, n_links: int) -> np.ndarray:
    """[n_links] capacity used by the given rates (0 x inf counts as 0)."""
    r = rate[flow_idx]
    use = np.where((r > 0) & np.isfinite(coef), coef * r, 0.0)
    return np.bincount(link_idx, weights=use, minlength=n_links)
