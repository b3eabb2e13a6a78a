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

import numpy as np
import simpy

from twin.sim import fast_round
from twin.sim.env import TwinEnv
from twin.sim.runlog import log_round
from twin.sim.selecting import Selector
from twin.sim.tags import RoundFlow
from twin.sim.tiers import TIERS
from twin.sim.workload import Participation


class RoundStats:
    """Per-round counters the client processes update. ``keep``: with ``fl.selection: oversample``, how many updates
    the round keeps (``enough`` fires when they are in)."""

    def __init__(self, keep: int | None = None, enough: simpy.Event | None = None) -> None:
        self.bytes_down = 0.0
        self.bytes_up = 0.0
        self.completed: list[Participation] = []
        self.dropped: list[Participation] = []  # ended early on their own (offline, lost at an edge)
        self.cancelled: list[Participation] = []  # oversampled participations no longer needed
        self.drop_reasons: Counter[str] = Counter()
        self.keep, self.enough = keep, enough


class Lost(Exception):
    """A participation lost on its own (hierarchical FL: its edge changed under ``handover: drop``)."""


# Interrupt causes that name their own drop cause (the others: what held the client, see drop_causes)
OWN_CAUSES = ("offline", "oversample", "edge_handover")
SELECT_LAYOUT = {"select": ("client", "slot")}  # the columns of a select row


def run_client(env: TwinEnv, round_: int, p: Participation, stats: RoundStats) -> Generator[simpy.Event, Any, None]:
    """One participation: download the model, train, upload the update. Interrupted at the deadline."""
    client = env.clients[p.client]
    rec = env.recorder
    hier = env.parts.hierarchy
    peer = env.server if hier is None or hier.start_edge.get(p.slot, -1) < 0 else \
        hier.edges[hier.start_edge[p.slot]].node  # where the model comes from and the update goes
    flow = None
    transfers = [[env.now, math.inf]]  # the participation's download and upload intervals (the last one open)
    phase = "download"
    try:
        size = env.workload.download_bytes(round_)
        tag = RoundFlow(src=peer, dst=client.name, direction="down", round=round_, client=client.name,
                        slot=p.slot)
        flow = env.network.start(env.access.route_of(p.client, "down"), size, name=f"down.{round_}.{p.slot}",
                                 tag=tag, user=client.name)
        yield flow.done
        stats.bytes_down += size
        flow = None
        phase = "compute"
        transfers[-1][1] = env.now
        if hier is not None and hier.moved(p):
            raise Lost("edge_handover")
        flops = env.workload.train_flops(round_, p)
        compute_s = flops / client.flops_per_s
        rec.emit("train_start", env.now, client.name, round_, client=client.name, slot=p.slot, flops=flops)
        yield env.timeout(compute_s)
        rec.emit("train_end", env.now, client.name, round_, client=client.name, slot=p.slot, compute_s=compute_s)
        if hier is not None and hier.moved(p):
            raise Lost("edge_handover")
        size = env.workload.upload_bytes(round_, p)
        if hier is not None and hier.edge_now(p.client) >= 0:
            peer = hier.edges[hier.edge_now(p.client)].node  # the edge it uploads to (forwarded after a handover)
        phase = "upload"
        transfers.append([env.now, math.inf])
        tag = RoundFlow(src=client.name, dst=peer, direction="up", round=round_, client=client.name, slot=p.slot)
        flow = env.network.start(env.access.route_of(p.client, "up"), size, name=f"up.{round_}.{p.slot}",
                                 tag=tag, user=client.name)
        yield flow.done
        stats.bytes_up += size
        flow = None
        lost = hier.deliver(p) if hier is not None else None
        if lost is not None:
            raise Lost(lost)
        rec.emit("upload_done", env.now, client.name, round_, client=client.name, slot=p.slot, bytes=size)
        stats.completed.append(p)
        if stats.enough is not None and len(stats.completed) >= stats.keep and not stats.enough.triggered:
            stats.enough.succeed()
    except (simpy.Interrupt, Lost) as stop:
        why = str(stop.cause if isinstance(stop, simpy.Interrupt) else stop)
        if flow is not None:
            done = flow.size_bytes - env.network.bytes_left(flow)
            env.network.cancel(flow)
            if tag.direction == "down":
                stats.bytes_down += done
            else:
                stats.bytes_up += done
        causes = drop_causes(env.access, p.client, transfers, phase, final=why if why in OWN_CAUSES else None)
        stats.drop_reasons[causes[-1]] += 1
        (stats.cancelled if why == "oversample" else stats.dropped).append(p)
        rec.emit("client_dropped", env.now, client.name, round_, client=client.name, slot=p.slot,
                 reason=why, phase=phase, cause=causes[-1], causes=">".join(causes))


def drop_causes(access, client: int, transfers: list[list[float]], phase: str, final: str | None = None
                ) -> list[str]:
    """Why a participation missed the deadline in phase ``phase``: the chain of causes in time order, the one holding
    it at the deadline last. Stalls during its transfers (``transfers``: [start, end] of its download and upload;
    ``handover``, ``coverage``, or any other reason the access layer gives; a stall while computing costs nothing and
    is left out) come first, then what it was doing at the deadline: ``unavailable`` (its vehicle left the
    simulation), ``compute`` (still training), the reason of the stall under way, or ``low_rate`` (a transfer running,
    too slowly: a weak radio link or a congested one). ``final`` overrides the last: a participation ended for its own
    reason (``offline``: its client went off; ``oversample``: cancelled, enough updates were in; ``edge_handover``)."""
    chain: list[str] = []
    for begin, end, reason in access.stalls(client, transfers[0][0]):
        if any(begin <= b and end >= a for a, b in transfers) and (not chain or chain[-1] != reason):
            chain.append(reason)
    if final is not None:
        pass
    elif not access.available(client):
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
    hier = env.parts.hierarchy
    avail = env.parts.availability
    selector = Selector(env, avail)
    tiers = env.network.observer if hier is not None else None
    fast = fast_round.FastRounds(env) if fast_round.usable(env) else None
    rec.emit("run_start", env.now, "fl.server", n_clients=len(env.clients))
    reason = "max_rounds"
    for round_ in range(1, len(env.cohort_sizes) + 1):
        tier0 = dict(tiers.tier_bytes) if tiers is not None else {}
        k = int(env.cohort_sizes[round_ - 1])
        picked, keep = selector.draw(round_, k)
        while avail is not None and k > 0 and picked.size == 0 and math.isfinite(avail.next_on(env.now)):
            yield env.timeout(avail.next_on(env.now) - env.now)  # nobody to select: idle until a client comes on
            picked, keep = selector.draw(round_, k)
        t0 = float(env.now)
        selected = [Participation(int(c), slot) for slot, c in enumerate(picked)]
        env.round_in_progress = round_
        rec.emit("round_start", t0, "fl.server", round_, n_selected=len(selected))
        names = [env.clients[p.client].name for p in selected]
        rec.emit_many(["select"] * len(selected), np.full(len(selected), t0), names, round_,
                      {"client": names, "slot": [p.slot for p in selected]}, SELECT_LAYOUT)
        env.workload.begin_round(round_, selected)
        oversample = cfg.selection.kind == "oversample"
        stats = RoundStats(keep, env.event()) if oversample else RoundStats()
        t_end = fast.run(round_, selected, stats) if fast is not None else None  # one compiled call, if it can
        if t_end is not None:
            yield env.timeout_at(t_end)
        else:
            yield from _run_clients(env, round_, selected, stats, oversample)
        dropped = sorted(stats.dropped, key=lambda p: p.slot)
        completed = sorted(stats.completed, key=lambda p: p.slot)
        if hier is not None:
            yield from hier.server_steps(env, round_, completed, env.workload.weight_of)
        else:
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
            **_network_columns(env, selector, stats, tiers, tier0),
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


def _run_clients(env: TwinEnv, round_: int, selected: list[Participation], stats: RoundStats, oversample: bool
                 ) -> Generator[simpy.Event, Any, None]:
    """The round's participations as SimPy processes, until all are done or the deadline (or, oversampling, enough
    updates); the late ones are interrupted and record their drop."""
    cfg = env.config.fl
    avail = env.parts.availability
    procs = [env.process(run_client(env, round_, p, stats)) for p in selected]
    if avail is not None:
        for p, proc in zip(selected, procs, strict=True):
            _watch_offline(env, avail, p, proc)
    waits = [env.all_of(procs)]
    if oversample:
        waits.append(stats.enough)
    if cfg.deadline_s is not None:
        waits.append(env.timeout(cfg.deadline_s))
    yield waits[0] if len(waits) == 1 else env.any_of(waits)
    late = [(p, proc) for p, proc in zip(selected, procs, strict=True) if proc.is_alive]
    cause = "oversample" if oversample and stats.enough.triggered else "deadline"
    for _, proc in late:
        proc.interrupt(cause)
    if late:
        yield env.timeout(0)  # let the interrupted clients record their drop at this instant


def _watch_offline(env: TwinEnv, avail, p: Participation, proc: simpy.Process) -> None:
    """Interrupt ``proc`` when its client goes off (``fl.availability``)."""
    t_off = avail.next_off(p.client, float(env.now))
    if math.isfinite(t_off):
        def off(_event, proc=proc) -> None:
            if proc.is_alive:
                proc.interrupt("offline")

        env.timeout(max(0.0, t_off - env.now)).callbacks.append(off)


def _network_columns(env: TwinEnv, selector: Selector, stats: RoundStats, tiers, tier0: dict) -> dict:
    """The rounds-table columns of the network-aware features, present only when they are configured."""
    cfg = env.config.fl
    out: dict[str, Any] = {}
    if cfg.selection.kind in ("deadline_aware", "coverage_aware"):
        out["n_skipped"] = sum(selector.skip_counts.values())
    if cfg.selection.kind == "oversample":
        out["n_cancelled"] = len(stats.cancelled)
    if selector.availability is not None:
        out["n_available"] = selector.last_available
    hier = env.parts.hierarchy
    if hier is not None:
        out["n_edges"] = len({hier.delivered[p.slot] for p in stats.completed})
        out["synced"] = int(hier.synced)
        out["bytes_sync_up"], out["bytes_sync_down"] = hier.sync_bytes["up"], hier.sync_bytes["down"]
        for tier in TIERS:
            out[f"bytes_{tier}"] = tiers.tier_bytes.get(tier, 0.0) - tier0.get(tier, 0.0)
    return out
