"""A synchronous FL round in one compiled call, where nothing but the round can happen while it runs.

:func:`twin.sim.rounds.run_server` times a round with one SimPy process per participation (download, train,
upload: :func:`twin.sim.rounds.run_client`) and one :class:`~twin.net.flow.Flow` per transfer. On a wired network
where the round is alone (no other traffic, no deadline, no availability, no hierarchy, no periodic probe, max-min
sharing without slow start: :func:`usable`, :func:`twin.net.chains.at_rest`) the participations cannot be
interrupted and nothing else reads or moves the network while they run, so :func:`twin.net.chains.run_on` runs the
whole round at once: the same flow-engine kernels on the engine's own arrays, events in SimPy's order. This module
prepares its inputs, records the timeline rows the processes would have recorded (same rows, same order, same
values), updates the round's byte counts, completed participations and the bytes per tier, and returns the time the
round's last upload arrived.

Results are the same to the bit either way (``tests/sim/test_fast_round.py`` compares every table and the
summary); only the wall time differs. ``ENABLED = False`` (or ``TWIN_FAST_ROUNDS=0``) always uses the processes.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

import numpy as np

from twin.net import kernels
from twin.net.chains import DELAY_START, DONE, END, at_rest, run_on
from twin.net.flow import LinkDirection, route_latency_s
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
    return (isinstance(net.observer, FlowTimeline) and isinstance(parts.access, WiredAccess)
            and all(type(r) is LinkDirection for r in net.resources)
            and parts.hierarchy is None and parts.availability is None
            and cfg.fl.deadline_s is None and cfg.fl.selection.kind != "oversample"
            and cfg.output.sample_period_s == 0
            and (traffic is None or (not traffic.scripted and not traffic.background and traffic.duration_s is None)))


class _Routes:
    """Every client's route in one direction as arrays (wired routes never change): resource indices and coefficients
    [client, hop] (0 past the last hop), hops, latency (``route_latency_s``, as a flow's) and the tiers crossed
    (a mask [client, tier] over ``names``)."""

    def __init__(self, env: TwinEnv, direction: str) -> None:
        net, observer = env.network, env.network.observer
        routes = [env.access.route_of(c.index, direction) for c in env.clients]
        width = max(len(r) for r in routes)
        self.links = np.zeros((len(routes), width), dtype=np.int64)
        self.coef = np.zeros((len(routes), width))
        self.hops = np.array([len(r) for r in routes], dtype=np.int64)
        self.latency = np.empty(len(routes))
        tiers = [observer.tiers_of(r) if observer.tier_of else () for r in routes]
        self.names = list(dict.fromkeys(t for ts in tiers for t in ts))
        self.tiers = np.array([[t in ts for t in self.names] for ts in tiers], dtype=bool).reshape(len(routes), -1)
        for c, route in enumerate(routes):
            for j, r in enumerate(route):
                self.links[c, j] = net.index_of(r)
                self.coef[c, j] = r.coefficient(None)
            self.latency[c] = route_latency_s(route)


class FastRounds:
    """The compiled round path of one run (:func:`usable`): the clients' routes, names and speeds as arrays."""

    def __init__(self, env: TwinEnv) -> None:
        self.env = env
        self.down, self.up = _Routes(env, "down"), _Routes(env, "up")
        self.names = np.array([c.name for c in env.clients], dtype=object)
        self.speed = np.array([c.flops_per_s for c in env.clients], dtype=np.float64)

    def run(self, round_: int, selected: list[Participation], stats) -> float | None:
        """Run the round's participations at once; returns when the last one ended, or None (nothing done) when the
        round needs the processes: no participants, a network not at rest (:func:`twin.net.chains.at_rest`: flows
        under way, or too few slots or hops for these), a transfer of no bytes."""
        env = self.env
        net, wl = env.network, env.workload
        n = len(selected)
        clients = np.fromiter((p.client for p in selected), dtype=np.int64, count=n)
        hops = max(int(self.down.hops[clients].max()), int(self.up.hops[clients].max())) if n else 0
        if not at_rest(net, n, hops):
            return None
        down = wl.download_bytes(round_)
        up = [wl.upload_bytes(round_, p) for p in selected]
        if not (down > 0 and min(up) > 0):
            return None
        route = np.concatenate([self.down.links[clients, :hops], self.up.links[clients, :hops]])
        coef = np.concatenate([self.down.coef[clients, :hops], self.up.coef[clients, :hops]])
        size = np.array([down] * n + up, dtype=np.float64)
        latency = np.concatenate([self.down.latency[clients], self.up.latency[clients]])
        flops = np.array([wl.train_flops(round_, p) for p in selected], dtype=np.float64)
        delay = flops / self.speed[clients]  # compute_s = flops / client.flops_per_s
        log = run_on(net, route, coef, size, latency, delay, FINISH_EPS_S)
        self._rows(round_, selected, clients, flops, delay, size, log)
        self._counts(selected, clients, size, log, stats)
        return log.t_end

    def _rows(self, round_, selected, clients, flops, delay, size, log) -> None:
        """The timeline rows run_client and FlowTimeline would have recorded, in their order."""
        n = len(selected)
        server = self.env.server
        log_kind, log_t, log_i, start_t = log.kind, log.t, log.i, log.start_t
        is_flow = log_kind <= END
        f = log_i % (2 * n)
        i = np.where(is_flow, log_i % n, log_i)  # the participation of each row
        up = is_flow & (log_i >= n)
        slot = np.fromiter((p.slot for p in selected), dtype=np.int64, count=n)
        client = self.names[clients][i]
        flow_names = np.array([f"down.{round_}.{s}" for s in slot.tolist()] + [f"up.{round_}.{s}" for s in slot.tolist()],
                              dtype=object)[f]
        nbytes = np.where(is_flow, size[f], size[n + i])
        with np.errstate(divide="ignore"):
            duration = log_t - start_t[f]
            rate = np.where(duration > 0, 8 * nbytes / duration, math.inf)
        columns = {"flow": flow_names, "src": np.where(up, client, server), "dst": np.where(up, server, client),
                   "bytes": nbytes, "direction": np.where(up, "up", "down").astype(object), "duration_s": duration,
                   "rate_bps": rate, "client": client, "slot": slot[i], "flops": flops[i], "compute_s": delay[i]}
        self.env.recorder.emit_many(_KINDS[log_kind], log_t, np.where(is_flow, flow_names, client), round_, columns,
                                    LAYOUT)

    def _counts(self, selected, clients, size, log, stats) -> None:
        """The round's bytes down and up and completed participations, and the bytes per tier, added in the order
        the processes add them (sequential sums: ``np.add.accumulate``)."""
        n = len(selected)
        log_kind, log_i = log.kind, log.i
        got = log_i[log_kind == DELAY_START]  # downloads in, in the order run_client counted them
        stats.bytes_down = _sum_in_order(stats.bytes_down, size[got])
        done = log_i[log_kind == DONE]
        stats.bytes_up = _sum_in_order(stats.bytes_up, size[n + done])
        stats.completed.extend(selected[x] for x in done.tolist())
        arrived = log_i[log_kind == END]  # flows in arrival order: their bytes count on their routes' tiers
        tier_bytes = self.env.network.observer.tier_bytes
        for name in dict.fromkeys([*self.down.names, *self.up.names]):
            hits = np.zeros(arrived.size, dtype=bool)
            for table, mine in ((self.down, arrived < n), (self.up, arrived >= n)):
                if name in table.names:
                    hits |= mine & table.tiers[clients[arrived % n], table.names.index(name)]
            if hits.any():
                tier_bytes[name] = _sum_in_order(tier_bytes.get(name, 0.0), size[arrived[hits]])


_KINDS = np.array(["flow_start", "flow_end", "train_start", "train_end", "upload_done"], dtype=object)  # by log kind


def _sum_in_order(start: float, values: np.ndarray) -> float:
    """``start + values[0] + values[1] + ...`` added one after the other, as a loop of ``+=`` adds them."""
    if values.size == 0:
        return start
    return float(np.add.accumulate(np.concatenate([[start], values]))[-1])

