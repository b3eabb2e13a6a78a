"""The FL server process: per round select -> broadcast -> local training -> upload -> aggregate -> evaluate.

Only scheduling lives here: bytes, work and learning come from the workload, capacity sharing from the flow network.
A round waits for every selected client or for the deadline, whichever comes first; clients still busy at the
deadline are dropped (their flows are cancelled, freeing capacity at once).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Generator
from typing import Any

import simpy

from twin.sim.env import TwinEnv
from twin.sim.runlog import log_round
from twin.sim.tags import RoundFlow
from twin.sim.workload import Participation


class RoundStats:
    """Per-round counters the client processes update."""

    def __init__(self) -> None:
        self.bytes_down = 0.0
        self.bytes_up = 0.0
        self.completed: list[Participation] = []
        self.drop_reasons: Counter[str] = Counter()


def run_client(env: TwinEnv, round_: int, p: Participation, stats: RoundStats) -> Generator[simpy.Event, Any, None]:
    """One participation: download the model, train, upload the update. Interrupted at the deadline."""
    client = env.clients[p.client]
    rec = env.recorder
    flow = None
    transfers = [[env.now, math.inf]]  # the participation's download and upload intervals (the last one open)
    phase = "download"
    try:
        size = env.workload.download_bytes(round_)
        tag = RoundFlow(src=env.server, dst=client.name, direction="down", round=round_, client=client.name,
                        slot=p.slot)
        flow = env.network.start(env.access.route_of(p.client, "down"), size, name=f"down.{round_}.{p.slot}",
                                 tag=tag, user=client.name)
        yield flow.done
        stats.bytes_down += size
        flow = None
        phase = "compute"
        transfers[-1][1] = env.now
        flops = env.workload.train_flops(round_, p)
        compute_s = flops / client.flops_per_s
        rec.emit("train_start", env.now, client.name, round_, client=client.name, slot=p.slot, flops=flops)
        yield env.timeout(compute_s)
        rec.emit("train_end", env.now, client.name, round_, client=client.name, slot=p.slot, compute_s=compute_s)
        size = env.workload.upload_bytes(round_, p)
        phase = "upload"
        transfers.append([env.now, math.inf])
        tag = RoundFlow(src=client.name, dst=env.server, direction="up", round=round_, client=client.name, slot=p.slot)
        flow = env.network.start(env.access.route_of(p.client, "up"), size, name=f"up.{round_}.{p.slot}",
                                 tag=tag, user=client.name)
        yield flow.done
        stats.bytes_up += size
        flow = None
        rec.emit("upload_done", env.now, client.name, round_, client=client.name, slot=p.slot, bytes=size)
        stats.completed.append(p)
    except simpy.Interrupt as stop:
        if flow is not None:
            done = flow.size_bytes - env.network.bytes_left(flow)
            env.network.cancel(flow)
            if tag.direction == "down":
                stats.bytes_down += done
            else:
                stats.bytes_up += done
        causes = drop_causes(env.access, p.client, transfers, phase)
        stats.drop_reasons[causes[-1]] += 1
        rec.emit("client_dropped", env.now, client.name, round_, client=client.name, slot=p.slot,
                 reason=str(stop.cause), phase=phase, cause=causes[-1], causes=">".join(causes))


def drop_causes(access, client: int, transfers: list[list[float]], phase: str) -> list[str]:
    """Why a participation missed the deadline in phase ``phase``: the chain of causes in time order, the one holding
    it at the deadline last. Stalls during its transfers (``transfers``: [start, end] of its download and upload;
    ``handover``, ``coverage``, or any other reason the access layer gives; a stall while computing costs nothing and
    is left out) come first, then what it was doing at the deadline: ``unavailable`` (its vehicle left the
    simulation), ``compute`` (still training), the reason of the stall under way, or ``low_rate`` (a transfer running,
    too slowly: a weak radio link or a congested one)."""
    chain: list[str] = []
    for begin, end, reason in access.stalls(client, transfers[0][0]):
        if any(begin <= b and end >= a for a, b in transfers) and (not chain or chain[-1] != reason):
            chain.append(reason)
    if not access.available(client):
        final = "unavailable"
    elif phase == "compute":
        final = "compute"
    else:
        final = access.stalled_now(client) or "low_rate"
    if not chain or chain[-1] != final:
        chain.append(final)
    return chain


def run_server(env: TwinEnv, on_round: Callable[[int, dict], None] | None = None
               ) -> Generator[simpy.Event, Any, None]:
    """The whole FL job: ``fl.rounds`` rounds (or fewer if a stop rule fires). Each round's row goes to the recorder
    and to the log (:func:`twin.sim.runlog.log_round`), then to ``on_round(round, row)``."""
    cfg = env.config.fl
    rec = env.recorder
    rec.emit("run_start", env.now, "fl.server", n_clients=len(env.clients))
    reason = "max_rounds"
    for round_ in range(1, len(env.cohort_sizes) + 1):
        t0 = float(env.now)
        k = int(env.cohort_sizes[round_ - 1])
        picked = env.select(k)
        selected = [Participation(int(c), slot) for slot, c in enumerate(picked)]
        env.round_in_progress = round_
        rec.emit("round_start", t0, "fl.server", round_, n_selected=len(selected))
        for p in selected:
            rec.emit("select", t0, env.clients[p.client].name, round_, client=env.clients[p.client].name, slot=p.slot)
        env.workload.begin_round(round_, selected)
        stats = RoundStats()
        procs = [env.process(run_client(env, round_, p, stats)) for p in selected]
        everyone = env.all_of(procs)
        if cfg.deadline_s is not None:
            yield everyone | env.timeout(cfg.deadline_s)
        else:
            yield everyone
        late = [(p, proc) for p, proc in zip(selected, procs, strict=True) if proc.is_alive]
        for _, proc in late:
            proc.interrupt("deadline")
        if late:
            yield env.timeout(0)  # let the interrupted clients record their drop at this instant
        dropped = [p for p, _ in late]
        completed = sorted(stats.completed, key=lambda p: p.slot)
        server_s = cfg.aggregation_s + env.workload.server_flops(round_, completed) / cfg.server_flops_per_s
        if server_s > 0:
            yield env.timeout(server_s)
        rec.emit("aggregate", env.now, "fl.server", round_, n_completed=len(completed))
        outcome = env.workload.end_round(round_, completed, dropped)
        if not math.isnan(outcome.accuracy):
            rec.emit("evaluate", env.now, "fl.server", round_, accuracy=outcome.accuracy, loss=outcome.loss)
        rec.emit("round_end", env.now, "fl.server", round_, n_completed=len(completed), n_dropped=len(dropped))
        env.round_in_progress = None
        row = {
            "round": round_, "t_start": t0, "t_end": env.now, "duration_s": env.now - t0,
            "n_selected": len(selected), "n_unique": len({p.client for p in selected}),
            "n_completed": len(completed), "n_dropped": len(dropped),
            "bytes_down": stats.bytes_down, "bytes_up": stats.bytes_up,
            "accuracy": outcome.accuracy, "loss": outcome.loss, **outcome.extra,
        }
        rec.round_row(**row)
        log_round(round_, len(env.cohort_sizes), row, stats.drop_reasons)
        if on_round is not None:
            on_round(round_, row)
        stop = env.stop_reason(round_, outcome, env.now)
        if stop:
            reason = stop
            break
    env.finished_reason = reason
    rec.emit("run_end", env.now, "fl.server", reason=reason)
