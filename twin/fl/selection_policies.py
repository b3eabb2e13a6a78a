"""Network-aware client selection (``fl.selection``): pure numpy decisions on arrays the twin supplies.

- ``uniform``: :func:`twin.fl.selection.select_clients` (the study's draw, unchanged).
- ``oversample``: draw :func:`oversample_count` clients uniformly; the round keeps the first ``k`` updates to arrive.
- ``deadline_aware``: :func:`expected_round_time` per client from its expected rates; clients over the deadline are
  skipped (reason ``deadline``) and the draw is uniform among the rest.
- ``coverage_aware``: :func:`predicted_dwell` per client (how long its extrapolated path stays in good coverage);
  clients whose dwell covers the round are preferred (uniform among them); when they are fewer than ``k`` the rest is
  filled with the longest dwells; the clients passed over are skipped with reason ``coverage``.

Every function is deterministic for a generator state; skipped clients come back with their reason so that the
twin can record them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from twin.fl.selection import Selection, select_clients


@dataclass(frozen=True)
class PolicySelection:
    """A draw and the reachable clients the policy passed over: ``skipped`` (ids) with ``reasons`` (same length)."""

    selection: Selection
    skipped: np.ndarray
    reasons: tuple[str, ...]


def oversample_count(k: int, factor: float) -> int:
    """How many clients to draw to keep ``k``: ``ceil(factor * k)`` (``factor`` > 1)."""
    if not factor > 1:
        raise ValueError(f"oversample factor must be > 1; got {factor!r}")
    return int(math.ceil(factor * k - 1e-9))


def expected_round_time(down_bytes: float, up_bytes: float, flops: np.ndarray, flops_per_s: np.ndarray,
                        rate_down_bps: np.ndarray, rate_up_bps: np.ndarray) -> np.ndarray:
    """Expected time of one participation per client [n]: download + local work + upload (inf at rate 0)."""
    with np.errstate(divide="ignore"):
        down = np.where(rate_down_bps > 0, 8.0 * down_bytes / np.maximum(rate_down_bps, 1e-300), np.inf)
        up = np.where(rate_up_bps > 0, 8.0 * up_bytes / np.maximum(rate_up_bps, 1e-300), np.inf)
    return down + np.asarray(flops, dtype=float) / np.asarray(flops_per_s, dtype=float) + up


def predicted_dwell(xy_m: np.ndarray, velocity_mps: np.ndarray, rate_at: Callable[[np.ndarray], np.ndarray], *,
                    horizon_s: float, step_s: float, min_rate_bps: float) -> np.ndarray:
    """Seconds each vehicle [n] stays in good coverage along its path extrapolated at constant velocity: the first
    look-ahead instant (0, step, 2 step, ... up to ``horizon_s``) where ``rate_at(points)`` (best-server rate, bit/s,
    of [m, 2] points) falls below ``min_rate_bps``; ``horizon_s`` when it never does (NaN positions: 0)."""
    xy = np.asarray(xy_m, dtype=float)
    vel = np.nan_to_num(np.asarray(velocity_mps, dtype=float))
    n_steps = int(math.floor(horizon_s / step_s + 1e-9))
    times = np.arange(n_steps + 1) * step_s
    if xy.size == 0:
        return np.zeros(0)
    pts = xy[None, :, :] + times[:, None, None] * vel[None, :, :]  # [T, n, 2]
    flat = pts.reshape(-1, 2)
    good = np.zeros(flat.shape[0], dtype=bool)
    finite = np.isfinite(flat).all(axis=1)
    if finite.any():
        good[finite] = np.asarray(rate_at(flat[finite])) >= min_rate_bps
    good = good.reshape(len(times), -1)
    bad_any = ~good
    first_bad = np.where(bad_any.any(axis=0), bad_any.argmax(axis=0), -1)
    return np.where(first_bad < 0, float(horizon_s), times[np.maximum(first_bad, 0)])


def select_eligible(k: int, reachable: np.ndarray, eligible: np.ndarray, rng: np.random.Generator, *, replace: bool,
                    reason: str, fill_score: np.ndarray | None = None) -> PolicySelection:
    """Uniform draw of ``k`` among the reachable clients that are ``eligible``; the reachable ineligible ones are
    skipped with ``reason``. With ``fill_score`` a short draw is filled up with the ineligible reachable clients of the
    highest score (ties in id order), which then are not skipped."""
    reachable = np.asarray(reachable, dtype=bool)
    eligible = np.asarray(eligible, dtype=bool) & reachable
    sel = select_clients(k, eligible, rng, replace=replace)
    chosen = sel.client_ids
    passed = np.flatnonzero(reachable & ~eligible)
    if fill_score is not None and sel.shortfall > 0 and passed.size:
        order = passed[np.argsort(-np.asarray(fill_score, dtype=float)[passed], kind="stable")]
        extra = order[: sel.shortfall]
        chosen = np.concatenate([chosen, extra]).astype(np.int64)
        passed = np.setdiff1d(passed, extra)
        sel = Selection(client_ids=chosen, requested=k, num_reachable=int(reachable.sum()))
    else:
        sel = Selection(client_ids=chosen, requested=k, num_reachable=int(reachable.sum()))
    return PolicySelection(sel, passed.astype(np.int64), (reason,) * int(passed.size))
