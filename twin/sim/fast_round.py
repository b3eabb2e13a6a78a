"""A synchronous FL round in one compiled call, where nothing but the round can happen while it runs.

:func:`twin.sim.rounds.run_server` times a round with one SimPy process per participation (download, train,
upload: :func:`twin.sim.rounds.run_client`) and one :class:`~twin.net.flow.Flow` per transfer. On a wired network
where the round is alone (no other traffic, no deadline, no availability, no hierarchy, no periodic probe, max-min
sharing without slow start) the participations cannot be interrupted and nothing else reads or moves the network
while they run, so :func:`twin.net.chains.run_chains` runs the whole round at once: the same flow-engine kernels on
the engine's own arrays, events in SimPy's order. This module prepares its inputs, records the timeline rows the
processes would have recorded (same rows, same order, same values), updates the round's byte counts and completed
participations, the engine's counters and the bytes per tier, and returns the time the round's last upload arrived.

Results are the same to the bit either way (``tests/sim/test_fast_round.py`` compares every table and the
summary); only the wall time differs. ``ENABLED = False`` (or ``TWIN_FAST_ROUNDS=0``) always uses the processes.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

import numpy as np

from twin.net import kernels
from twin.net.chains import DELAY_START, DONE, END, run_chains
from twin.net.flow import LinkDirection
from twin.net.lazy import FINISH_EPS_S
from twin.sim.timeline import FlowTimeline
from twin.sim.wired import WiredAccess

if TYPE_CHECKING:
    from twin.sim.env import TwinEnv
    from twin.sim.workload import Participation

ENABLED = os.environ.get("TWIN_FAST_ROUNDS", "1") != "0"

# the timeline columns of each row kind, in the order run_client and FlowTimeline record them
LAYOUT = {
    "flow_start": ("flow", "src", "dst", "bytes", "direction", "client", "slot"),
    "flow_end": ("flow", "src", "dst", "bytes", "direction", "duration_s", "rate_bps", "client", "slot"),
    "train_start": ("client", "slot", "flops"),
    "train_end": ("client", "slot", "compute_s"),
    "upload_done": ("client", "slot", "bytes"),
}


def usable(env: TwinEnv) -> bool:
    """Whether this run's rounds may use the compiled path (checked once per run; each round checks the rest)."""
    if not (ENABLED and kernels.AVAILABLE):
        return False
    cfg, parts, net = env.config, env.parts, env.network
    traffic = parts.traffic
    return (net.incremental and net.slow_start is None and net.sharing is None
            and isinstance(net.observer, FlowTimeline) and isinstance(parts.access, WiredAccess)
            and all(type(r) is LinkDirection for r in net.resources)
            and parts.hierarchy is None and parts.availability is None
            and cfg.fl.deadline_s is None and cfg.fl.selection.kind != "oversample"
            and cfg.output.sample_period_s == 0
            and (traffic is None or (not traffic.scripted and not traffic.background and traffic.duration_s is None)))


class FastRounds:
    """The compiled round path of one run: the routes' arrays, kept per client and direction."""

    def __init__(self, env: TwinEnv) -> None:
        self.env = env
        self._routes: dict[tuple[int, str], tuple[list[int], list[float], float, tuple[str, ...]]] = {}

    def _route(self, client: int, direction: str) -> tuple[list[int], list[float], float, tuple[str, ...]]:
        """(resource indices, coefficients, latency as ``Flow.latency_s`` sums it, tiers) of a client's route."""
        key = (client, direction)
        got = self._routes.get(key)
        if got is None:
            net = self.env.network
            route = self.env.access.route_of(client, direction)
            latency = 0
            for r in route:
                latency += r.latency_s
            got = ([net._res_index[id(r)] for r in route], [r.coefficient(None) for r in route], latency,
                   net.observer._tiers_of(route) if net.observer.tier_of else ())
            self._routes[key] = got
        return got

    def ready(self, round_: int, selected: list[Participation]) -> bool:
        """Whether this round can run compiled: participants, a network at rest, slots and hops enough for them (the
        engine grows its arrays as flows come: left to the processes), bytes in every transfer."""
        net, wl = self.env.network, self.env.workload
        n = len(selected)
        if n == 0 or net._flows or net._pending or net._young or net._recompute_pending or net._carried is not None:
            return False
        if len(net._free) < n or not wl.download_bytes(round_) > 0:
            return False
        return all(len(self._route(p.client, d)[0]) <= net._k for p in selected for d in ("down", "up")) and \
            all(wl.upload_bytes(round_, p) > 0 for p in selected)

    def run(self, round_: int, selected: list[Participation], stats) -> float:
        """Run the round's participations (after :meth:`ready`); returns when the last one ended."""
        env = self.env
        net, wl = env.network, env.workload
        n, k = len(selected), net._k
        route = np.zeros((2 * n, k), dtype=np.int64)
        coef = np.zeros((2 * n, k))
        size = np.empty(2 * n)
        latency = np.empty(2 * n)
        tiers: list[tuple[str, ...]] = [()] * (2 * n)
        names = [env.clients[p.client].name for p in selected]
        flops = [wl.train_flops(round_, p) for p in selected]
        speed = np.array([env.clients[p.client].flops_per_s for p in selected], dtype=np.float64)
        down = wl.download_bytes(round_)
        for i, p in enumerate(selected):
            for f, direction, nbytes in ((i, "down", down), (n + i, "up", wl.upload_bytes(round_, p))):
                links, cs, lat, tier = self._route(p.client, direction)
                route[f, :len(links)] = links
                coef[f, :len(cs)] = cs
                size[f], latency[f], tiers[f] = nbytes, lat, tier
        delay = np.asarray(flops, dtype=np.float64) / speed  # compute_s = flops / client.flops_per_s
        scratch = net._scratch
        scratch.fit(len(net._resources), net._cap, k)
        if net._done.size < net._cap:
            net._done = np.empty(net._cap, dtype=np.int64)
        free = np.asarray(net._free, dtype=np.int64)
        start_t = np.empty(2 * n)
        log_kind = np.empty(7 * n, dtype=np.int64)
        log_t = np.empty(7 * n)
        log_i = np.empty(7 * n, dtype=np.int64)
        t0 = float(env.now)
        m, t_end, net._last_update, net._n_admitted, n_free, n_rec, n_flows_rec, n_events, pending = \
            run_chains(t0, float(net._last_update), FINISH_EPS_S, net._n_admitted, free, free.size, route, coef, size,
                        latency, delay, net._remaining, net._rate, net._active, net._seq, net._links, net._coef,
                        net._weight, net._use, net._head, net._nxt, net._prv, net._load, net._saturated, net._dirty,
                        net._seed, net._capacity, net._n_on, scratch.ints, scratch.floats, scratch.flags, scratch.r,
                        scratch.c, scratch.ck, net._done, start_t, log_kind, log_t, log_i)
        if m != 7 * n or pending:
            raise RuntimeError(f"round {round_}: the compiled round ended early ({m} of {7 * n} events)")
        net._free[:] = free[:n_free].tolist()
        net.n_recomputes += n_rec
        net._generation += n_rec
        net.n_flows_recomputed += n_flows_rec
        net.n_flow_events += n_events
        self._record(round_, selected, names, flops, delay, size, start_t, tiers, log_kind, log_t, log_i, stats)
        return float(t_end)

    def _record(self, round_, selected, names, flops, delay, size, start_t, tiers, log_kind, log_t, log_i,
                stats) -> None:
        """The timeline rows, byte counts, completed participations and bytes per tier, in the processes' order."""
        env = self.env
        n = len(selected)
        server = env.server
        observer = env.network.observer
        tier_bytes = observer.tier_bytes
        kinds = np.array(["flow_start", "flow_end", "train_start", "train_end", "upload_done"], dtype=object)
        is_flow = log_kind <= 1
        i = np.where(is_flow, log_i % n, log_i)  # the participation of each row
        up = is_flow & (log_i >= n)
        slot = np.array([p.slot for p in selected], dtype=np.int64)
        names_a = np.array(names, dtype=object)
        client = names_a[i]
        flow_names = np.array([f"down.{round_}.{p.slot}" for p in selected] + [f"up.{round_}.{p.slot}" for p in selected],
                              dtype=object)
        flow = flow_names[log_i % (2 * n)]
        entity = np.where(is_flow, flow, client)
        src = np.where(up, client, server)
        dst = np.where(up, server, client)
        nbytes = np.where(is_flow, size[log_i % (2 * n)], size[n + i])
        with np.errstate(divide="ignore"):
            duration = log_t - start_t[log_i % (2 * n)]
            rate = np.where(duration > 0, 8 * nbytes / duration, math.inf)
        columns = {"flow": flow, "src": src, "dst": dst, "bytes": nbytes,
                   "direction": np.where(up, "up", "down").astype(object), "duration_s": duration, "rate_bps": rate,
                   "client": client, "slot": slot[i], "flops": np.asarray(flops, dtype=np.float64)[i],
                   "compute_s": delay[i]}
        env.recorder.emit_many(kinds[log_kind], log_t, entity, round_, columns, LAYOUT)
        sizes = size.tolist()  # the workload's floats, as the processes add them
        for kind, x in zip(log_kind.tolist(), log_i.tolist(), strict=True):
            if kind == END:  # a flow's bytes count on its route's tiers when it arrives (FlowTimeline._count)
                for tier in tiers[x]:
                    tier_bytes[tier] = tier_bytes.get(tier, 0.0) + sizes[x]
            elif kind == DELAY_START:  # the download is in: run_client counts it and starts training
                stats.bytes_down += sizes[x]
            elif kind == DONE:
                stats.bytes_up += sizes[n + x]
                stats.completed.append(selected[x])


def delay_to(now: float, t: float) -> float:
    """A delay ``d`` with ``now + d == t`` exactly (SimPy adds delays to the clock): ``t - now`` rounded, nudged by
    an ulp where the sum would miss ``t`` (``t`` is reachable: ``d <= t``, so a step of ``d`` moves the sum by at most
    one step of ``t``)."""
    d = t - now
    for _ in range(4):
        got = now + d
        if got == t:
            return d
        d = float(np.nextafter(d, np.inf if got < t else -np.inf))
    raise RuntimeError(f"no delay from {now!r} reaches {t!r}")
