"""The asynchronous FL server process (``fl.strategy.kind`` fedasync or fedbuff): no rounds, a stream of updates.

Up to ``concurrency`` participations run at once, each on its own timeline: download the current model, compute,
upload (the same flows and compute as a synchronous round, tagged :class:`~twin.sim.tags.AsyncFlow`). An update that
arrives goes into the server's buffer; when ``buffer_size`` updates are buffered (fedasync: 1) the server takes them in
arrival order, spends its aggregation time, and steps the model (one new version; row ``i`` of ``rounds`` is the
model after step ``i``). A freed slot is refilled at once from the current model (``refill: immediate``: uniformly
among the reachable clients not already training, stream ``async_selection``), or at the next server step
(``refill: at_step``: ``env.select`` on the synchronous selection stream, in order). ``fl.deadline_s`` bounds each
participation (from its start); ``fl.rounds`` caps the server steps; the stop rule applies after every step.

Only scheduling lives here: bytes, FLOPs and learning come from :class:`twin.sim.async_work.AsyncWork`, and event
order depends on the seed and the network alone (training happens between events).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from twin.errors import InputError
from twin.fl.selection import select_clients
from twin.sim.async_work import AsyncWork, Cost
from twin.sim.env import TwinEnv
from twin.sim.rounds import drop_causes
from twin.sim.runlog import log_round
from twin.sim.tags import AsyncFlow

POLL_S = 1.0  # with nothing in flight and nobody reachable, look again this often (simulated seconds)
GIVE_UP_S = 3600.0  # ... and end the run (reason no_reachable_clients) after this long without any
FUTILE = 10  # end the run (reason no_updates) after FUTILE x concurrency drops in a row, no update arriving between


def is_async(fl_config) -> bool:
    """Whether ``fl.strategy`` is asynchronous (its schema class says so); False without an ``fl`` section."""
    return fl_config is not None and bool(getattr(fl_config.strategy, "asynchronous", False))


def check_async(fl_config, n_clients: int) -> None:
    """The checks that need the built scenario: ``concurrency`` at most the number of clients."""
    if not is_async(fl_config):
        return
    c = fl_config.strategy.concurrency
    if c > n_clients:
        raise InputError(f"fl.strategy.concurrency: {c} clients training at once, but the scenario has {n_clients} "
                         "clients; lower concurrency")


@dataclass
class Job:
    """One participation: client ``client`` (index) started from model ``version``; ``seq`` numbers them in start
    order (the timeline's ``slot``)."""

    seq: int
    client: int
    version: int
    cost: Cost
    proc: simpy.Process | None = None


@dataclass
class StepStats:
    """What happened between two server steps."""

    t_start: float
    dispatched: list[int] = field(default_factory=list)
    arrived: int = 0
    dropped: int = 0
    bytes_down: float = 0.0
    bytes_up: float = 0.0
    drop_reasons: Counter = field(default_factory=Counter)


class AsyncServer:
    def __init__(self, env: TwinEnv, on_round: Callable[[int, dict], None] | None = None) -> None:
        from twin.fl.strategies import make_strategy

        self.env = env
        self.cfg = env.config.fl
        spec = self.cfg.strategy
        self.spec = spec
        self.k = getattr(spec, "buffer_size", 1)
        self.on_round = on_round
        strategy = make_strategy(spec.kind, **spec.model_dump(exclude={"kind"}))
        self.work = AsyncWork(env.workload, strategy)
        self.rng = env.rng("async_selection")
        self.jobs: dict[int, Job] = {}
        self.buffer: list[Job] = []
        self.wake: simpy.Event = env.event()
        self.next_seq = 0
        self.stats = StepStats(0.0)
        self.totals = Counter()
        self.drops_in_a_row = 0

    # ------------------------------------------------------------------------------------------------ dispatch

    def refill(self) -> None:
        """Fill the free slots: immediate refill among idle reachable clients, or the synchronous selection."""
        free = self.spec.concurrency - len(self.jobs)
        if free <= 0:
            return
        if self.spec.refill == "at_step":
            picked = self.env.select(free)
        else:
            busy = np.zeros(len(self.env.clients), dtype=bool)
            busy[[j.client for j in self.jobs.values()]] = True
            picked = np.sort(select_clients(free, self.env.reachable & ~busy, self.rng, replace=False).client_ids)
        for c in picked:
            self.start(int(c))

    def start(self, client: int) -> None:
        env = self.env
        seq = self.next_seq
        self.next_seq += 1
        job = Job(seq, client, self.work.version, self.work.start(seq, client))
        self.jobs[seq] = job
        self.stats.dispatched.append(client)
        name = env.clients[client].name
        env.recorder.emit("dispatch", env.now, name, client=name, slot=seq, version=job.version)
        job.proc = env.process(self.participate(job))
        if self.cfg.deadline_s is not None:
            env.process(self.watchdog(job))

    def watchdog(self, job: Job) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(self.cfg.deadline_s)
        if job.proc is not None and job.proc.is_alive:
            job.proc.interrupt("deadline")

    def participate(self, job: Job) -> Generator[simpy.Event, Any, None]:
        """Download, train, upload; on arrival the update joins the buffer and the slot is freed."""
        env, rec = self.env, self.env.recorder
        client = env.clients[job.client]
        flow = tag = None
        transfers = [[env.now, math.inf]]
        phase = "download"
        try:
            tag = AsyncFlow(src=env.server, dst=client.name, direction="down", client=client.name, version=job.version)
            flow = env.network.start(env.access.route_of(job.client, "down"), job.cost.down,
                                     name=f"down.a.{job.seq}", tag=tag, user=client.name)
            yield flow.done
            self.stats.bytes_down += job.cost.down
            flow = None
            phase = "compute"
            transfers[-1][1] = env.now
            compute_s = job.cost.flops / client.flops_per_s
            rec.emit("train_start", env.now, client.name, client=client.name, slot=job.seq, flops=job.cost.flops)
            yield env.timeout(compute_s)
            rec.emit("train_end", env.now, client.name, client=client.name, slot=job.seq, compute_s=compute_s)
            phase = "upload"
            transfers.append([env.now, math.inf])
            tag = AsyncFlow(src=client.name, dst=env.server, direction="up", client=client.name, version=job.version)
            flow = env.network.start(env.access.route_of(job.client, "up"), job.cost.up, name=f"up.a.{job.seq}",
                                     tag=tag, user=client.name)
            yield flow.done
            self.stats.bytes_up += job.cost.up
            flow = None
            rec.emit("arrival", env.now, client.name, client=client.name, slot=job.seq, version=job.version,
                     staleness=self.work.version - job.version, bytes=job.cost.up)
            del self.jobs[job.seq]
            self.buffer.append(job)
            self.stats.arrived += 1
            self.drops_in_a_row = 0
        except simpy.Interrupt as stop:
            st = self.stats
            if flow is not None:
                done = flow.size_bytes - env.network.bytes_left(flow)
                env.network.cancel(flow)
                if tag.direction == "down":
                    st.bytes_down += done
                else:
                    st.bytes_up += done
            causes = drop_causes(env.access, job.client, transfers, phase)
            st.drop_reasons[causes[-1]] += 1
            st.dropped += 1
            rec.emit("client_dropped", env.now, client.name, client=client.name, slot=job.seq, reason=str(stop.cause),
                     phase=phase, cause=causes[-1], causes=">".join(causes))
            del self.jobs[job.seq]
            self.work.forget(job.seq)
            self.drops_in_a_row += 1
        if self.spec.refill == "immediate" and not self.futile:
            self.refill()
        if not self.wake.triggered:
            self.wake.succeed()

    @property
    def futile(self) -> bool:
        """Every participation of the last ``FUTILE x concurrency`` was dropped: nothing is getting through."""
        return self.drops_in_a_row >= FUTILE * self.spec.concurrency

    # ------------------------------------------------------------------------------------------------- server

    def run(self) -> Generator[simpy.Event, Any, None]:
        env, rec, cfg = self.env, self.env.recorder, self.cfg
        rec.emit("run_start", env.now, "fl.server", n_clients=len(env.clients))
        reason = "max_rounds"
        self.work.open_version()
        self.refill()
        step = 0
        while True:
            idle_since = None
            while len(self.buffer) < self.k and reason == "max_rounds":
                if self.futile:
                    reason = "no_updates"
                    break
                if not self.jobs:  # nothing in flight, so nothing will arrive: look for clients
                    self.refill()
                if not self.jobs:
                    idle_since = env.now if idle_since is None else idle_since
                    if env.now - idle_since >= GIVE_UP_S:
                        reason = "no_reachable_clients"
                        break
                    yield env.timeout(POLL_S)
                    continue
                idle_since = None
                self.wake = env.event()
                yield self.wake
            if reason != "max_rounds":
                break
            take, self.buffer = self.buffer[:self.k], self.buffer[self.k:]  # the first buffer_size to arrive
            take.sort(key=lambda j: j.seq)  # summed in start order (as a synchronous round sums in slot order)
            server_s = cfg.aggregation_s + self.work.server_flops(step + 1, len(take)) / cfg.server_flops_per_s
            if server_s > 0:
                yield env.timeout(server_s)
            step += 1
            outcome, staleness = self.work.apply(step, [j.seq for j in take])
            self.work.open_version()
            row = self.row(step, take, staleness, outcome)
            rec.emit("server_step", env.now, "fl.server", step, version=self.work.version, n_completed=len(take),
                     staleness_mean=row["staleness_mean"], staleness_max=row["staleness_max"],
                     n_selected=row["n_selected"], n_dropped=row["n_dropped"])
            if not math.isnan(outcome.accuracy):
                rec.emit("evaluate", env.now, "fl.server", step, accuracy=outcome.accuracy, loss=outcome.loss)
            rec.round_row(**row)
            log_round(step, cfg.rounds, row, self.stats.drop_reasons, unit="step")
            if self.on_round is not None:
                self.on_round(step, row)
            self.stats = StepStats(env.now)
            stop = env.stop_reason(step, outcome, env.now)
            if stop:
                reason = stop
                break
            if self.spec.refill == "at_step":
                self.refill()
        env.finished_reason = reason
        rec.emit("run_end", env.now, "fl.server", reason=reason)

    def row(self, step: int, take: list[Job], staleness: list[int], outcome) -> dict:
        st, tot, now = self.stats, self.totals, float(self.env.now)
        tot["n_selected_total"] += len(st.dispatched)
        tot["n_completed_total"] += len(take)
        tot["n_dropped_total"] += st.dropped
        tot["n_arrived_total"] += st.arrived
        tot["bytes_down_total"] += st.bytes_down
        tot["bytes_up_total"] += st.bytes_up
        return {
            "round": step, "t_start": st.t_start, "t_end": now, "duration_s": now - st.t_start,
            "n_selected": len(st.dispatched), "n_unique": len(set(st.dispatched)), "n_completed": len(take),
            "n_dropped": st.dropped, "bytes_down": st.bytes_down, "bytes_up": st.bytes_up,
            "accuracy": outcome.accuracy, "loss": outcome.loss, **outcome.extra,
            "n_arrived": st.arrived, "staleness_mean": float(np.mean(staleness)) if staleness else math.nan,
            "staleness_max": int(max(staleness)) if staleness else 0,
            "n_selected_total": tot["n_selected_total"], "n_completed_total": tot["n_completed_total"],
            "n_dropped_total": tot["n_dropped_total"], "n_arrived_total": tot["n_arrived_total"],
            "bytes_down_total": float(tot["bytes_down_total"]), "bytes_up_total": float(tot["bytes_up_total"]),
        }


def run_async_server(env: TwinEnv, on_round: Callable[[int, dict], None] | None = None
                     ) -> Generator[simpy.Event, Any, None]:
    """The asynchronous FL job (see the module docstring); the counterpart of :func:`twin.sim.rounds.run_server`."""
    return (yield from AsyncServer(env, on_round).run())
