"""The composition root: the one place that turns a validated ScenarioConfig into wired, runnable parts.

Phases (as in desmod): validate (pydantic, before we get here) -> build (this module) -> start processes -> run ->
finalise (``twin.sim.runner``).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np
import simpy

from twin.errors import InputError
from twin.fl.schedules import clients_per_round
from twin.fl.selection import select_clients
from twin.fl.stopping import StopRule
from twin.net import topology as topo
from twin.net.engine import FlowNetwork, LinkDirection
from twin.recording.recorder import Recorder
from twin.scenario import schema as S
from twin.scenario.units import parse_quantity
from twin.sim.workload import FixedWorkload, RoundOutcome, Workload


@dataclass
class Client:
    """An FL client: where it sits in the network and how fast it computes."""

    index: int
    name: str
    node: str
    flops_per_s: float
    route_down: list[LinkDirection]
    route_up: list[LinkDirection]


class TwinEnv(simpy.Environment):
    """A SimPy environment that carries the scenario, the recorder and the seeded random streams."""

    def __init__(self, config: S.ScenarioConfig, *, base_dir: Path | None = None) -> None:
        super().__init__()
        self.config = config
        self.base_dir = base_dir or Path.cwd()
        self.recorder = Recorder()
        self.graph: nx.DiGraph = nx.DiGraph()
        self.network = FlowNetwork(self, recorder=self.recorder,
                                   slow_start=config.transport.slow_start if config.transport.slow_start.enabled
                                   else None)
        self.server = "server"
        self.clients: list[Client] = []
        self.workload: Workload = FixedWorkload(size_bytes=1, train_flops=0)
        self.cohort_sizes = np.zeros(0, dtype=np.int64)
        self.finished_reason = ""
        self.stop_rule = StopRule(max_rounds=config.fl.rounds)
        self.reachable = np.zeros(0, dtype=bool)
        self._selection_rng = self.rng("selection")
        self.access = None  # twin.sim.access.Access with radio, else None
        self.extra_tables: dict = {}  # more run-folder tables (radio: cells, roads, coverage)
        self.cleanups: list = []  # called once the run is over (SUMO processes, temporary files)

    def rng(self, component: str) -> np.random.Generator:
        """An independent random stream per named component: adding a component never shifts another's stream."""
        seq = np.random.SeedSequence(self.config.seed, spawn_key=(zlib.crc32(component.encode()),))
        return np.random.default_rng(seq)

    def select(self, k: int) -> np.ndarray:
        """Client indices for one round: uniform among reachable clients, with or without replacement."""
        picked = select_clients(k, self.reachable, self._selection_rng, replace=self.config.fl.replacement)
        ids = picked.client_ids
        return ids if self.config.fl.replacement else np.sort(ids)

    def stop_reason(self, round_: int, outcome: RoundOutcome, now: float) -> str | None:
        return self.stop_rule.should_stop(round_, outcome.accuracy, now)


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


def _device_flops(cfg: S.DeviceProfile, n: int, rng: np.random.Generator) -> np.ndarray:
    h = cfg.heterogeneity
    if isinstance(h, S.LogNormalHeterogeneity):
        factor = rng.lognormal(mean=-h.sigma**2 / 2, sigma=h.sigma, size=n)
    elif isinstance(h, S.UniformHeterogeneity):
        factor = rng.uniform(h.low, h.high, size=n)
    else:
        factor = np.ones(n)
    return cfg.flops_per_s * factor


def build_workload(env: TwinEnv) -> Workload:
    """A fixed stand-in model, or the real federation (data, model, training) for the scenario's clients."""
    cfg = env.config.fl
    model = cfg.model
    if isinstance(model, S.FixedModel):
        return FixedWorkload(size_bytes=model.size_bytes, train_flops=model.train_flops,
                             update_bytes=model.update_bytes)
    from twin.sim.federation import FederatedWorkload  # torch is imported only when a real model is asked for

    return FederatedWorkload(cfg=cfg, n_clients=len(env.clients), base_dir=env.base_dir, rng=env.rng,
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


def build(config: S.ScenarioConfig, *, base_dir: Path | None = None) -> TwinEnv:
    """Wire every part of a scenario into a ready-to-run environment (no process started yet)."""
    env = TwinEnv(config, base_dir=base_dir)
    graph = build_graph(config.topology, env.base_dir)
    env.graph = graph
    env.server = topo.server_of(graph)
    overhead = config.transport.frame_bytes / config.transport.payload_bytes
    links: dict[tuple[str, str], LinkDirection] = {}
    for u, v, data in graph.edges(data=True):
        links[(u, v)] = env.network.add_resource(
            LinkDirection(f"{u}->{v}", data["bandwidth_bps"], data["latency_s"], overhead=overhead))
    if isinstance(config.radio, S.CellularRadio):
        from twin.sim.access_build import build_access  # radio access network, vehicles, clients on vehicles

        build_access(env, links, overhead)
    else:
        _wired_clients(env, links)
    try:
        env.workload = build_workload(env)
        env.cohort_sizes = build_schedule(config.fl)
        env.stop_rule = build_stop_rule(config.fl)
    except BaseException:
        for cleanup in env.cleanups:  # a live SUMO, temporary files
            cleanup()
        raise
    if env.access is None:
        env.reachable = np.ones(len(env.clients), dtype=bool)
    return env


def _wired_clients(env: TwinEnv, links: dict[tuple[str, str], LinkDirection]) -> None:
    graph = env.graph
    names = topo.clients_of(graph)
    if not names:
        raise InputError("topology: it has no client nodes (role 'client')")
    flops = _device_flops(env.config.clients.device, len(names), env.rng("devices"))
    down_routes = topo.routes_from(graph, env.server)
    up_routes = topo.routes_to(graph, env.server)
    for i, node in enumerate(names):
        if node not in down_routes or node not in up_routes:
            raise topo.NoRouteError(f"topology: client {node!r} cannot reach server {env.server!r} "
                                    "(no path in both directions)")
        down = [links[e] for e in down_routes[node]]
        up = [links[e] for e in up_routes[node]]
        env.clients.append(Client(i, node, node, float(flops[i]), down, up))
