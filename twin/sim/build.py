"""The composition root: the one place that turns a validated ScenarioConfig into wired, runnable parts.

Phases (as in desmod): validate (pydantic, before we get here) -> build (this module: every part once, in order:
topology, flow engine and links, clients with their access layer (wired routes, or the radio access network of
:mod:`twin.sim.access_build`), workload, schedule, stop rule) -> freeze (one :class:`~twin.sim.env.TwinParts`
record in the :class:`~twin.sim.env.TwinEnv`) -> start processes and run -> close (``twin.sim.runner``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from types import MappingProxyType

import networkx as nx
import numpy as np
import pandas as pd

from twin.errors import InputError
from twin.fl.schedules import clients_per_round
from twin.fl.stopping import StopRule
from twin.net import topology as topo
from twin.net.engine import FlowNetwork
from twin.net.tcp import TcpSharing
from twin.scenario import schema as S
from twin.scenario.units import parse_quantity
from twin.sim.access_build import build_access
from twin.sim.async_rounds import check_async
from twin.sim.availability import build_availability
from twin.sim.background import build_background
from twin.sim.env import TwinEnv, TwinParts
from twin.sim.hierarchy import HierWorkload, build_hierarchy
from twin.sim.tiers import tier_map
from twin.sim.timeline import FlowTimeline
from twin.sim.traffic import Endpoints, build_traffic
from twin.sim.wired import WiredAccess, wire_links, wired_clients
from twin.sim.workload import FixedWorkload, Workload


def build(config: S.ScenarioConfig, *, base_dir: Path | None = None) -> TwinEnv:
    """Wire every part of a scenario into a ready-to-run environment (no process started yet). On an error every
    cleanup registered so far (a live SUMO, temporary files) runs before the error propagates."""
    env = TwinEnv(config, base_dir=base_dir)
    cleanups = ExitStack()
    try:
        env.freeze(_build_parts(env, cleanups))
    except BaseException:
        cleanups.close()
        raise
    return env


def _build_parts(env: TwinEnv, cleanups: ExitStack) -> TwinParts:
    config = env.config
    transport = config.transport
    network = FlowNetwork(env, observer=FlowTimeline(env.recorder),
                          slow_start=transport.slow_start if transport.slow_start.enabled else None,
                          sharing=tcp_sharing(transport, env.rng("transport")))
    graph = build_graph(config.topology, env.base_dir)
    server = topo.server_of(graph)
    overhead = transport.frame_bytes / transport.payload_bytes
    links = wire_links(network, graph, graph.edges, overhead=overhead)
    extra_tables: dict[str, pd.DataFrame] = {}
    fl = config.fl
    radio = None
    if isinstance(config.radio, S.CellularRadio):
        radio = build_access(env, network, graph, server, links, overhead, cleanups)
        clients, access, extra_tables = radio.clients, radio.access, radio.tables
    elif fl is None:  # a pure network run: no FL clients
        clients, access = (), WiredAccess([], [])
    else:
        clients, access = wired_clients(graph, server, links, config.clients.device, env.rng("devices"))
    check_async(config.fl, len(clients))
    endpoints = Endpoints(graph, server, network, clients, access)
    background = build_background(config.traffic, endpoints, env.rng, radio)
    traffic = build_traffic(config.traffic, endpoints, background)
    network.observer.tier_of = tier_map(graph, server, network.resources)
    if fl is None:
        return TwinParts(graph=graph, server=server, network=network, clients=clients, access=access, workload=None,
                         schedule=np.zeros(0, dtype=np.int64), stop_rule=None,
                         extra_tables=MappingProxyType(extra_tables), cleanups=cleanups, traffic=traffic)
    workload = build_workload(fl, len(clients), env.base_dir, env.rng)
    hierarchy = availability = None
    if fl.hierarchy is not None:
        hierarchy, access = build_hierarchy(fl.hierarchy, graph, server, network, clients, access)
        workload = HierWorkload(workload, hierarchy, fl)
    if fl.availability is not None:
        availability = build_availability(fl.availability, [c.name for c in clients], env.base_dir,
                                          env.rng("availability"))
    return TwinParts(graph=graph, server=server, network=network, clients=clients, access=access,
                     workload=workload, schedule=build_schedule(fl), stop_rule=build_stop_rule(fl),
                     extra_tables=MappingProxyType(extra_tables), cleanups=cleanups, traffic=traffic,
                     availability=availability, hierarchy=hierarchy)


def tcp_sharing(transport: S.TransportConfig, rng: np.random.Generator) -> TcpSharing | None:
    """The calibrated TCP weights of ``transport.sharing: tcp`` (seeded per run), None for exact max-min."""
    if transport.sharing != "tcp":
        return None
    p = transport.tcp
    return TcpSharing(p.spread, p.newcomer, p.settle_s, rng)


# ----------------------------------------------------------------------------------------------------- topology


def _link(spec: S.LinkSpec) -> topo.Link:
    return topo.Link(spec.bandwidth_bps, spec.latency_s, spec.reverse_bandwidth_bps, spec.reverse_latency_s)


def build_graph(cfg: S.Topology, base_dir: Path) -> nx.DiGraph:
    if isinstance(cfg, S.StarTopology):
        return topo.star(cfg.n_clients, _link(cfg.client_link), _link(cfg.server_link))
    if isinstance(cfg, S.TreeTopology):
        return topo.tree(cfg.fanout, [_link(s) for s in cfg.level_links], _link(cfg.server_link))
    if isinstance(cfg, S.RingTopology):
        return topo.ring(cfg.n_sites, cfg.clients_per_site, _link(cfg.ring_link), _link(cfg.access_link),
                         _link(cfg.server_link))
    if isinstance(cfg, S.ExplicitTopology):
        return topo.explicit([(n.name, n.role) for n in cfg.nodes], [(lk.a, lk.b, _link(lk)) for lk in cfg.links])
    if isinstance(cfg, S.GraphMLTopology):
        path = Path(cfg.path)
        if not path.is_absolute():
            path = base_dir / path
        return topo.from_graphml(path, role_attr=cfg.role_attr, bandwidth_attr=cfg.bandwidth_attr,
                                 latency_attr=cfg.latency_attr, parse_rate=lambda v: parse_quantity(v, "rate"),
                                 parse_time=lambda v: parse_quantity(v, "time"))
    raise InputError(f"topology kind {cfg.kind!r} is not supported")  # pragma: no cover - schema forbids it


def build_workload(cfg: S.FLConfig, n_clients: int, base_dir: Path, rng: Callable[[str], np.random.Generator]
                   ) -> Workload:
    """A fixed stand-in model, or the real federation (data, model, training) for the scenario's clients."""
    model = cfg.model
    if isinstance(model, S.FixedModel):
        return FixedWorkload(size_bytes=model.size_bytes, train_flops=model.train_flops,
                             update_bytes=model.update_bytes)
    from twin.sim.federation import FederatedWorkload  # torch is imported only when a real model is asked for

    return FederatedWorkload(cfg=cfg, n_clients=n_clients, base_dir=base_dir, rng=rng,
                             server_flops_per_s=cfg.server_flops_per_s)


def build_schedule(cfg: S.FLConfig) -> np.ndarray:
    """Clients per round from ``fl.schedule``; errors name the field."""
    params = cfg.schedule.model_dump(exclude={"kind"}, exclude_none=True)
    start, end = params.pop("start", None), params.pop("end", None)
    try:
        return clients_per_round(cfg.schedule.kind, cfg.rounds, start, end, **params)
    except ValueError as exc:
        raise InputError(f"fl.schedule: {exc}") from None


def build_stop_rule(cfg: S.FLConfig) -> StopRule:
    try:
        return StopRule(max_rounds=cfg.rounds, target_accuracy=cfg.stop.target_accuracy,
                        floor_decimals=cfg.stop.floor_decimals, max_time_s=cfg.stop.max_time_s)
    except ValueError as exc:
        raise InputError(f"fl.stop: {exc}") from None
