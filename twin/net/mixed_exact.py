"""The exact step of the compiled mixed solver (:mod:`twin.net.mixed_kernels`): given levels, read off every flow's
bottleneck, solve the bottleneck levels from their capacity equations and accept them when the result is feasible and
every bottleneck is saturated (the max-min bottleneck property, within ``REL_TOL``).

A flow crosses at most one cell, so a cell's row of the linear system holds its own level and the wired levels only:
the cells are eliminated first (``tau_k = (c_k - sum_l B_kl lam_l) / d_k``) and only a system of the size of the
wired bottlenecks (usually 0 to 3) is solved, by Gaussian elimination with partial pivoting.
"""

from __future__ import annotations

import numpy as np

from twin.net.filling import njit

REL_TOL = 1e-9  # saturation / feasibility tolerance of an exact candidate (as twin.net.fairness)


@njit(cache=True, nogil=True)
def _solve_dense(m, rhs):  # pragma: no cover - compiled
    """Solve ``m x = rhs`` (Gaussian elimination, partial pivoting) in place; False if singular."""
    n = rhs.size
    for c in range(n):
        piv = c
        for i in range(c + 1, n):
            if abs(m[i, c]) > abs(m[piv, c]):
                piv = i
        if m[piv, c] == 0.0:
            return False
        if piv != c:
            for j in range(n):
                m[c, j], m[piv, j] = m[piv, j], m[c, j]
            rhs[c], rhs[piv] = rhs[piv], rhs[c]
        for i in range(c + 1, n):
            g = m[i, c] / m[c, c]
            if g != 0.0:
                for j in range(c, n):
                    m[i, j] -= g * m[c, j]
                rhs[i] -= g * rhs[c]
    for c in range(n - 1, -1, -1):
        s = rhs[c]
        for j in range(c + 1, n):
            s -= m[c, j] * rhs[j]
        rhs[c] = s / m[c, c]
    return True


@njit(cache=True, nogil=True, inline="always")
def _lowest(levels, f, is_cell, w, f_start, f_res, f_coef):  # pragma: no cover - compiled
    """Flow ``f``'s rate at ``levels`` (the lowest over its resources: a cell's level is air time, a wired one rate)
    and the resource that sets it (-1 when none is finite)."""
    best = np.inf
    at = -1
    for t in range(f_start[f], f_start[f + 1]):
        r = f_res[t]
        cand = levels[r] * (w[f] / f_coef[t] if is_cell[r] else w[f])
        if cand < best:
            best = cand
            at = r
    return best, at


@njit(cache=True, nogil=True)
def exact(levels, n_f, n_r, is_cell, cap, w, present, f_start, f_res, f_coef, cell_of, a, x):  # pragma: no cover
    """Solve the bottleneck levels exactly for the bottlenecks that ``levels`` imply; False if not consistent."""
    b = np.full(n_f, -1, dtype=np.int64)
    pos = np.full(n_r, -1, dtype=np.int64)
    n_k = 0
    n_w = 0
    for f in range(n_f):
        if not present[f]:
            continue
        best, r = _lowest(levels, f, is_cell, w, f_start, f_res, f_coef)
        if not best < np.inf:
            return False
        b[f] = r
        if pos[r] < 0:
            if is_cell[r]:
                pos[r] = n_k
                n_k += 1
            else:
                pos[r] = n_w
                n_w += 1
    d = np.zeros(n_k)  # cell rows: d_k tau_k + sum_l bm_kl lam_l = c_k
    bm = np.zeros((n_k, n_w))
    cm = np.zeros((n_w, n_k))  # wired rows: sum_k cm_lk tau_k + sum_m em_lm lam_m = c_l
    em = np.zeros((n_w, n_w))
    for f in range(n_f):
        if not present[f]:
            continue
        rb = b[f]
        ob = w[f] / a[f] if is_cell[rb] else w[f]  # rate per unit of the bottleneck's level
        for t in range(f_start[f], f_start[f + 1]):
            r = f_res[t]
            if pos[r] < 0:
                continue
            term = f_coef[t] * ob
            if is_cell[r]:
                if is_cell[rb]:
                    d[pos[r]] += term
                else:
                    bm[pos[r], pos[rb]] += term
            elif is_cell[rb]:
                cm[pos[r], pos[rb]] += term
            else:
                em[pos[r], pos[rb]] += term
    cell_cap = np.empty(n_k)
    wired_cap = np.empty(n_w)
    for r in range(n_r):
        if pos[r] >= 0:
            if is_cell[r]:
                cell_cap[pos[r]] = cap[r]
            else:
                wired_cap[pos[r]] = cap[r]
    for k in range(n_k):  # eliminate the cells: tau_k = (c_k - sum_l bm_kl lam_l) / d_k
        for i in range(n_w):
            if cm[i, k] != 0.0:
                g = cm[i, k] / d[k]
                wired_cap[i] -= g * cell_cap[k]
                for j in range(n_w):
                    em[i, j] -= g * bm[k, j]
    if n_w > 0 and not _solve_dense(em, wired_cap):
        return False
    full = np.full(n_r, np.inf)
    for r in range(n_r):
        if pos[r] >= 0:
            if is_cell[r]:
                k = pos[r]
                s = cell_cap[k]
                for j in range(n_w):
                    s -= bm[k, j] * wired_cap[j]
                full[r] = s / d[k]
            else:
                full[r] = wired_cap[pos[r]]
            if not (np.isfinite(full[r]) and full[r] > 0):
                return False
    load = np.zeros(n_r)
    for f in range(n_f):
        if not present[f]:
            continue
        best = _lowest(full, f, is_cell, w, f_start, f_res, f_coef)[0]
        if not best < np.inf:
            return False
        x[f] = best
        for t in range(f_start[f], f_start[f + 1]):
            load[f_res[t]] += f_coef[t] * best
    for r in range(n_r):
        if load[r] > cap[r] * (1 + REL_TOL) or (pos[r] >= 0 and load[r] < cap[r] * (1 - REL_TOL)):
            return False
    return True
