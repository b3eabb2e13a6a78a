"""The round's draw in simulated time: ``fl.selection`` and ``fl.availability`` applied to the twin's current state.

:class:`Selector` masks the reachable clients with their availability, then asks the policy
(:mod:`twin.fl.selection_policies`) with what the twin knows now: for ``deadline_aware`` each client's expected
download, compute and upload time at the rates of its current route (a wired link's bandwidth, or its full-cell rate
on its cell, shared with the expected number of other selected clients on that link or cell: ``k`` times the share
of the candidates that cross it); for ``coverage_aware`` each vehicle's predicted dwell in good coverage along its
path extrapolated from its last step. A passed-over client gets a ``skip`` event (client, reason). With
``uniform`` and no availability the draw is exactly :meth:`twin.sim.env.TwinEnv.select`.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from twin.fl import selection_policies as P
from twin.net.cells import NoCoverage
from twin.sim.env import TwinEnv


class Selector:
    """Draws each round's cohort (see the module docstring). ``availability``: a
    :class:`twin.sim.availability.ClientAvailability` or None."""

    def __init__(self, env: TwinEnv, availability=None) -> None:
        self.env = env
        self.cfg = env.config.fl
        self.policy = self.cfg.selection
        self.availability = availability
        self.last_available: int | None = None

    def draw(self, round_: int, k: int) -> tuple[np.ndarray, int]:
        """(client ids drawn, how many updates the round keeps)."""
        env = self.env
        mask = np.array(env.reachable, dtype=bool)
        if self.availability is not None:
            mask &= self.availability.available_at(float(env.now))
            self.last_available = int(mask.sum())
        kind = self.policy.kind
        if kind == "uniform":
            return env.select(k, mask if self.availability is not None else None), k
        if kind == "oversample":
            return env.select(P.oversample_count(k, self.policy.factor), mask), k
        replace = self.cfg.replacement
        if kind == "deadline_aware":
            deadline = self.policy.deadline_s if self.policy.deadline_s is not None else self.cfg.deadline_s
            expected = self.expected_times(k, mask)
            eligible = expected <= deadline * self.policy.slack
            picked = P.select_eligible(k, mask, eligible, env.selection_rng, replace=replace, reason="deadline")
        else:  # coverage_aware
            horizon = self.policy.horizon_s if self.policy.horizon_s is not None else self.cfg.deadline_s
            dwell = self.dwell(mask, horizon)
            picked = P.select_eligible(k, mask, dwell >= horizon, env.selection_rng, replace=replace,
                                       reason="coverage", fill_score=dwell)
        self._record_skips(round_, picked)
        ids = picked.selection.client_ids
        return (ids if replace else np.sort(ids)), k

    def _record_skips(self, round_: int, picked: P.PolicySelection) -> None:
        rec, now = self.env.recorder, self.env.now
        for c, why in zip(picked.skipped.tolist(), picked.reasons, strict=True):
            name = self.env.clients[c].name
            rec.emit("skip", now, name, round_, client=name, reason=why)
        self.skip_counts = Counter(picked.reasons)

    # ---------------------------------------------------------------------------------------------- estimates

    def expected_rates(self, k: int, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[n] expected download and upload rates (bit/s) of every candidate in ``mask`` (0 elsewhere)."""
        env = self.env
        cand = np.flatnonzero(mask)
        out = []
        for direction in ("down", "up"):
            routes = {int(c): env.access.route_of(int(c), direction) for c in cand}
            crossing: Counter[int] = Counter()
            for route in routes.values():
                crossing.update({id(r) for r in route})
            share = k / max(1, cand.size)
            rate = np.zeros(len(env.clients))
            for c, route in routes.items():
                name = env.clients[c].name
                best = math.inf
                for r in route:
                    users = max(1.0, share * crossing[id(r)])
                    if isinstance(r, NoCoverage):
                        cap = 0.0
                    elif hasattr(r, "rates_bps"):  # a cell direction: the client's full-cell rate, equal air time
                        cap = r.rates_bps.get(name, 0.0)
                    else:  # a wired link direction: payload rate
                        cap = r.capacity / getattr(r, "overhead", 1.0)
                    best = min(best, cap / users)
                rate[c] = best if math.isfinite(best) else 0.0
            out.append(rate)
        return out[0], out[1]

    def expected_times(self, k: int, mask: np.ndarray) -> np.ndarray:
        """[n] expected participation time (s) of every client (inf outside ``mask``)."""
        env = self.env
        down, up = self.expected_rates(k, mask)
        work = env.workload
        flops = work.expected_flops(np.arange(len(env.clients)))
        fps = np.array([c.flops_per_s for c in env.clients])
        down_b, up_b = work.download_bytes(0), work.expected_upload_bytes()
        t = P.expected_round_time(down_b, up_b, flops, fps, down, up)
        return np.where(mask, t, np.inf)

    def dwell(self, mask: np.ndarray, horizon_s: float) -> np.ndarray:
        """[n] predicted seconds in good coverage (0 outside ``mask``; wired clients: ``horizon_s``)."""
        access = self.env.access
        n = len(self.env.clients)
        if not hasattr(access, "mobility"):
            return np.where(mask, horizon_s, 0.0)
        veh = access.client_vehicle
        xy = np.asarray(access.mobility.positions_m, dtype=float)[veh]
        prev = getattr(access, "prev_xy", None)
        vel = np.zeros_like(xy) if prev is None else (xy - np.asarray(prev, dtype=float)[veh]) / access.step_s
        cand = np.flatnonzero(mask)
        out = np.zeros(n)
        if cand.size:
            out[cand] = P.predicted_dwell(
                xy[cand], vel[cand], lambda pts: access.model.coverage(pts)[0],
                horizon_s=horizon_s, step_s=self.policy.step_s, min_rate_bps=self.policy.min_rate_bps)
        return out

