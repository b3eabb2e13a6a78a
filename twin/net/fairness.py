"""Fair shares when radio cells (equal air time) and wired links (equal rate) meet on the same flows.

Resources come in two kinds:

* rate-fair (wired link directions): among the flows bottlenecked there, rates are equal (weighted: ``x_f / w_f``);
* time-fair (radio cells, capacity 1 = all the air time): flow f uses ``a_kf = 1 / r_f`` of the air time per bit/s
  (``r_f`` its full-cell rate), and among the flows bottlenecked there, *air times* are equal (weighted:
  ``a_kf x_f / w_f``): round robin. n users of equal SINR get ``r / n`` each; users of different SINR get equal time.

The allocation is the one with the bottleneck property of max-min fairness, each resource measuring shares in its own
unit: it is feasible (``sum_f a_lf x_f <= c_l``) and every flow has a saturated resource on its route where its share
is the largest of all flows crossing it. With only rate-fair resources this is weighted max-min fairness
(:func:`twin.net.sharing.maxmin_rates`, called unchanged). With both kinds a single progressive filling cannot work:
a cell's fast user that is held back by a wired link gives air time back to the slow users of the same cell, so the
slow users' rates *fall* as the wired level rises. Example (the test's): cell A with users of full-cell rates 100 and
10 Mbit/s, both crossing a 30 Mbit/s link with a third, wired-only flow: x2 = 8.947 (cell-limited, air time 0.895),
x1 = x3 = 10.526 (link-limited, equal rates), and the cell and the link are both full.

Algorithm (each flow crosses at most one time-fair resource). Let ``tau_k`` be cell k's air-time level (a flow it limits
gets ``tau_k w_f / a_kf``). Given ``tau``, the wired problem with a private cap per cell flow is plain max-min
(``maxmin_rates``); it gives each cell flow a wired offer ``u_f`` (its links' saturation levels). Given the offers,
each cell water-fills its air time with caps ``u_f``: that is ``T(tau)``. T is monotone (a higher tau lowers the
offers, which raises the cells' levels), so iterating from the caps-free levels ``tau_k = c_k / sum w`` climbs to the
fixed point. T is piecewise affine: after each step the bottleneck of every flow is read off, the levels of the
bottleneck resources are solved exactly from their capacity equations (a small linear system), and the result is
accepted when it is feasible and every bottleneck is saturated, which is exactly the property above. Typical problems
finish in one or two steps; the plain iteration (feasible at every step) is the fallback.

This is the reference. The engine with numba uses its compiled twin, :mod:`twin.net.mixed_kernels` (the same steps,
equal within rounding), on the component an event reaches (:mod:`twin.net.mixed_lazy`).
"""

from __future__ import annotations

import numpy as np

from twin.net.sharing import maxmin_rates

_REL_TOL = 1e-9  # saturation / feasibility tolerance of an exact candidate
_CONVERGED = 1e-13  # relative change of every cell level that ends the plain iteration
MAX_ITERATIONS = 200


def mixed_maxmin_rates(
    link_idx: np.ndarray,
    flow_idx: np.ndarray,
    coef: np.ndarray,
    capacity: np.ndarray,
    time_fair: np.ndarray,
    weight: np.ndarray | None = None,
    n_flows: int | None = None,
    stats: dict | None = None,
) -> np.ndarray:
    """Rates with equal air time in cells and equal rates on wired links (see the module docstring).

    Args:
        link_idx, flow_idx, coef, capacity, weight, n_flows: as :func:`twin.net.sharing.maxmin_rates`.
        time_fair: [n_links] bool, True for time-fair resources (cells). A flow may cross at most one of them.
        stats: optional dict, receives ``iterations`` and ``exact`` (False only when the iteration limit was hit; the
            rates are then feasible but fair only approximately).

    Returns:
        [n_flows] rates; 0 for a flow with an infinite coefficient (no coverage), ``inf`` for one crossing nothing.
    """
    link_idx = np.asarray(link_idx, dtype=np.int64)
    flow_idx = np.asarray(flow_idx, dtype=np.int64)
    coef = np.asarray(coef, dtype=np.float64)
    capacity = np.asarray(capacity, dtype=np.float64)
    tf = np.asarray(time_fair, dtype=bool)
    if n_flows is None:
        n_flows = int(flow_idx.max()) + 1 if flow_idx.size else 0
    w = np.ones(n_flows) if weight is None else np.asarray(weight, dtype=np.float64)
    if stats is not None:
        stats.update(iterations=0, exact=True)
    if not tf[link_idx].any():
        return maxmin_rates(link_idx, flow_idx, coef, capacity, w, n_flows)
    if np.any(capacity <= 0):
        raise ValueError("every resource capacity must be positive")

    rate = np.full(n_flows, np.inf)
    blocked = np.zeros(n_flows, dtype=bool)
    blocked[flow_idx[np.isinf(coef)]] = True
    rate[blocked] = 0.0
    keep = (coef > 0) & ~blocked[flow_idx]
    problem = _Problem(link_idx[keep], flow_idx[keep], coef[keep], capacity, tf, w, n_flows)
    if problem.cell_pos.size == 0:
        solved = maxmin_rates(problem.link, problem.flow, problem.coef, capacity, w, n_flows)
        rate[problem.present] = solved[problem.present]
        return rate
    solved, iterations, exact = problem.solve()
    if stats is not None:
        stats.update(iterations=iterations, exact=exact)
    rate[problem.present] = solved[problem.present]
    return rate


class _Problem:
    """One coupled problem: crossings split into cell ones (at most one per flow) and wired ones."""

    def __init__(self, link, flow, coef, capacity, tf, w, n_flows) -> None:
        self.link, self.flow, self.coef, self.capacity, self.w, self.n_flows = link, flow, coef, capacity, w, n_flows
        self.n_links = capacity.shape[0]
        is_cell = tf[link]
        self.cell_pos = np.flatnonzero(is_cell)
        self.c_link, self.c_flow, self.c_coef = link[is_cell], flow[is_cell], coef[is_cell]
        if np.unique(self.c_flow).size != self.c_flow.size:
            raise ValueError("a flow crosses more than one time-fair resource (cell); at most one is supported")
        wired = ~is_cell
        self.w_link, self.w_flow, self.w_coef = link[wired], flow[wired], coef[wired]
        self.present = np.zeros(n_flows, dtype=bool)
        self.present[flow] = True
        self.c_weight = w[self.c_flow]
        # rate of flow f per unit of a resource's level: w_f on wired links, w_f / a_kf in cells
        self.omega = w[flow] / np.where(is_cell, coef, 1.0)
        self.c_omega = self.c_weight / self.c_coef

    # ---------------------------------------------------------------------------------------------- the map T

    def wired_offers(self, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Max-min on the wired resources with each cell flow capped at ``tau_k w_f / a_kf``.

        Returns (rates [n_flows], wired levels [n_links] (inf where not saturated), offers [n cell flows]).
        """
        cap = tau[self.c_link] * self.c_omega
        capped = np.isfinite(cap)
        n_cap = int(capped.sum())
        private = self.n_links + np.arange(n_cap)
        links = np.concatenate([self.w_link, private])
        flows = np.concatenate([self.w_flow, self.c_flow[capped]])
        coefs = np.concatenate([self.w_coef, np.ones(n_cap)])
        caps = np.concatenate([self.capacity, cap[capped]])
        levels = np.empty(self.n_links + n_cap)
        rates = maxmin_rates(links, flows, coefs, caps, self.w, self.n_flows, levels=levels)
        lam = levels[: self.n_links]
        best = np.full(self.n_flows, np.inf)
        np.minimum.at(best, self.w_flow, lam[self.w_link])
        return rates, lam, best[self.c_flow] * self.c_weight

    def cell_levels(self, offers: np.ndarray) -> np.ndarray:
        """Each cell's air-time level when its flows are capped at ``offers`` (inf: the cell is not full)."""
        cell, wgt = self.c_link, self.c_weight
        cap_air = self.capacity[cell]
        z = self.c_coef * offers / wgt  # the level at which a flow's wired offer caps it
        z = np.where(z * wgt >= cap_air, np.inf, z)  # a cap above the whole cell never binds
        order = np.lexsort((z, cell))
        cs, ws, zs = cell[order], wgt[order], z[order]
        m = cs.size
        start = np.ones(m, dtype=bool)
        start[1:] = cs[1:] != cs[:-1]
        gstart = np.flatnonzero(start)
        gid = np.cumsum(start) - 1
        wz = np.where(np.isfinite(zs), ws * zs, 0.0)
        cw_ex = np.cumsum(ws) - ws
        cwz_ex = np.cumsum(wz) - wz
        pre_w = cw_ex - cw_ex[gstart][gid]
        pre_wz = cwz_ex - cwz_ex[gstart][gid]
        rest_w = np.add.reduceat(ws, gstart)[gid] - pre_w
        level = (self.capacity[cs] - pre_wz) / rest_w  # the level if flows j.. of the cell are not capped
        idx = np.where(level <= zs, np.arange(m), m)
        first = np.minimum.reduceat(idx, gstart)
        tau = np.full(self.n_links, np.inf)
        tau[cs[gstart]] = np.where(first < m, level[np.minimum(first, m - 1)], np.inf)
        return tau

    # ------------------------------------------------------------------------------------------ exact finish

    def exact(self, levels: np.ndarray) -> np.ndarray | None:
        """Solve the bottleneck levels exactly for the bottlenecks that ``levels`` imply; None if not consistent."""
        cand = levels[self.link] * self.omega  # rate each crossing's resource would give the flow
        order = np.lexsort((cand, self.flow))
        fs = self.flow[order]
        first = np.ones(fs.size, dtype=bool)
        first[1:] = fs[1:] != fs[:-1]
        b_cross = order[first]  # the bottleneck crossing of each present flow (ascending flow id)
        if not np.all(np.isfinite(cand[b_cross])):
            return None
        b_res = np.full(self.n_flows, -1)
        b_omega = np.zeros(self.n_flows)
        b_res[self.flow[b_cross]] = self.link[b_cross]
        b_omega[self.flow[b_cross]] = self.omega[b_cross]
        bottlenecks = np.unique(self.link[b_cross])
        pos = np.full(self.n_links, -1)
        pos[bottlenecks] = np.arange(bottlenecks.size)
        rows = pos[self.link]
        sel = rows >= 0
        matrix = np.zeros((bottlenecks.size, bottlenecks.size))
        np.add.at(matrix, (rows[sel], pos[b_res[self.flow[sel]]]),
                  self.coef[sel] * b_omega[self.flow[sel]])
        try:
            solved = np.linalg.solve(matrix, self.capacity[bottlenecks])
        except np.linalg.LinAlgError:
            return None
        if not (np.all(np.isfinite(solved)) and np.all(solved > 0)):
            return None
        full = np.full(self.n_links, np.inf)
        full[bottlenecks] = solved
        x = np.full(self.n_flows, np.inf)
        np.minimum.at(x, self.flow, full[self.link] * self.omega)
        if not np.all(np.isfinite(x[self.present])):
            return None
        load = np.bincount(self.link, weights=self.coef * x[self.flow], minlength=self.n_links)
        cap = self.capacity
        if np.any(load > cap * (1 + _REL_TOL)) or np.any(load[bottlenecks] < cap[bottlenecks] * (1 - _REL_TOL)):
            return None
        return x

    def solve(self) -> tuple[np.ndarray, int, bool]:
        tau = self.cell_levels(np.full(self.c_flow.size, np.inf))
        cells = np.unique(self.c_link)
        rates = None
        for iteration in range(1, MAX_ITERATIONS + 1):
            rates, lam, offers = self.wired_offers(tau)
            new = self.cell_levels(offers)
            a, b = tau[cells], new[cells]
            with np.errstate(invalid="ignore"):
                same = (a == b) | (np.abs(a - b) <= _CONVERGED * np.minimum(a, b))  # inf vs finite: never
            if np.all(same):
                return rates, iteration, True
            levels = lam.copy()
            levels[cells] = new[cells]
            x = self.exact(levels)
            if x is not None:
                return x, iteration, True
            tau = new
        return rates, MAX_ITERATIONS, False
