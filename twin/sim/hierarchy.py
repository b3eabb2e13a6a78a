"""Hierarchical FL with edge aggregation (HierFAVG, Liu et al., ICC 2020): ``fl.hierarchy``.

Edges: with ``edge: site`` the topology's nodes of role ``site`` (for a wired client, the first site on its route to
the server; for a vehicle, the first site on its base station's route to the server); with ``edge: cell`` every
base station. :func:`build_hierarchy` points the access layer's routes at the edges, so a round's downloads and
uploads run between a client and its edge (cell, plus backhaul for a site), and the access layer moves a vehicle's
live transfers to its new cell's edge on a handover (``handover: forward``: it delivers there; ``drop``: a
participation whose edge changed during the round is lost, cause ``edge_handover``).

Every round each edge aggregates the updates delivered to it (the configured strategy, one instance per edge, from
the edge's own model; time ``aggregation_s`` + its work at ``edge_flops_per_s``, edges in parallel). Every
``edge_rounds`` rounds (and in the last one) the edges that received updates since the last synchronisation send
their models to the cloud over the core; the cloud averages them (weighted by the examples, or by the updates under
``weighting: uniform``, aggregated at each edge since then), and sends the result back to every edge. The test
accuracy is the cloud model's. With one edge and ``edge_rounds: 1`` this is FedAvg exactly (tested bit for bit).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import simpy

from twin.errors import InputError
from twin.net import topology as topo
from twin.net.engine import FlowNetwork
from twin.net.flow import LinkDirection, Resource
from twin.scenario import schema as S
from twin.sim.access import Access
from twin.sim.env import Client
from twin.sim.tags import EdgeFlow
from twin.sim.wired import WiredAccess
from twin.sim.workload import Participation, RoundOutcome


@dataclass(frozen=True)
class Edge:
    """An edge aggregator: its name (site node or cell), its node in the graph and its routes to / from the cloud."""

    name: str
    node: str
    up: tuple[Resource, ...]
    down: tuple[Resource, ...]


class Hierarchy:
    """The edges, which edge each client is at, and the server's per-round edge and cloud steps."""

    def __init__(self, cfg: S.Hierarchy, edges: list[Edge], edge_of_route: np.ndarray, access) -> None:
        self.cfg = cfg
        self.edges = edges
        self.edge_of_route = edge_of_route  # per cell (radio) or per client (wired): index into edges
        self.access = access
        self.start_edge: dict[int, int] = {}  # slot -> edge it started at
        self.delivered: dict[int, int] = {}  # slot -> edge its update reached
        self.pending: dict[int, float] = {}  # edge -> aggregation weight since the last synchronisation
        self.senders: list[int] = []  # edges that sent to the cloud in this round's synchronisation (if any)
        self.synced = False
        self.sync_bytes = {"up": 0.0, "down": 0.0}

    def edge_now(self, client: int) -> int:
        """The edge client ``client`` is at now (-1: none, out of coverage)."""
        if isinstance(self.access, Access):
            cell = int(self.access.cell[client])
            cell = cell if cell >= 0 else int(self.access.target[client])
            return int(self.edge_of_route[cell]) if cell >= 0 else -1
        return int(self.edge_of_route[client])

    def begin_round(self, selected: list[Participation]) -> None:
        self.start_edge = {p.slot: self.edge_now(p.client) for p in selected}
        self.delivered.clear()
        self.synced = False
        self.senders = []
        self.sync_bytes = {"up": 0.0, "down": 0.0}

    def deliver(self, p: Participation) -> str | None:
        """Where participation ``p``'s finished upload goes: None if it reached an edge (recorded), else the cause of
        its loss (``edge_handover`` under ``handover: drop``, ``coverage`` with no edge at all)."""
        edge = self.edge_now(p.client)
        if edge < 0:
            return "coverage"
        if self.cfg.handover == "drop" and edge != self.start_edge.get(p.slot, edge):
            return "edge_handover"
        self.delivered[p.slot] = edge
        return None

    def moved(self, p: Participation) -> bool:
        """True when ``p``'s edge changed under ``handover: drop`` (the participation is lost)."""
        return self.cfg.handover == "drop" and self.edge_now(p.client) not in (-1, self.start_edge.get(p.slot, -1))

    def server_steps(self, env, round_: int, completed: list[Participation], weight_of
                     ) -> Generator[simpy.Event, Any, None]:
        """Edge aggregation (edges in parallel), then on a synchronisation round the edges' models up to the cloud,
        the cloud's aggregation, and the new model down to every edge."""
        fl = env.config.fl
        by_edge: dict[int, list[Participation]] = {}
        for p in completed:
            by_edge.setdefault(self.delivered[p.slot], []).append(p)
        edge_fps = self.cfg.edge_flops_per_s or fl.server_flops_per_s
        busy = [fl.aggregation_s + env.workload.server_flops(round_, ps) / edge_fps for ps in by_edge.values()]
        if busy and max(busy) > 0:
            yield env.timeout(max(busy))
        for e in sorted(by_edge):
            env.recorder.emit("edge_aggregate", env.now, self.edges[e].name, round_, edge=self.edges[e].name,
                              n_completed=len(by_edge[e]))
            self.pending[e] = self.pending.get(e, 0.0) + sum(weight_of(p) for p in by_edge[e])
        if round_ % self.cfg.edge_rounds and round_ != len(env.cohort_sizes):
            return
        self.senders = sorted(self.pending)
        up = env.workload.expected_upload_bytes()
        yield from self._transfer(env, round_, [self.edges[e] for e in self.senders], "up", up)
        cloud_s = fl.aggregation_s + len(self.senders) * _per_edge_flops(env) / fl.server_flops_per_s
        if self.senders and cloud_s > 0:
            yield env.timeout(cloud_s)
        if self.senders:
            yield from self._transfer(env, round_, self.edges, "down", env.workload.download_bytes(round_))
        env.recorder.emit("cloud_sync", env.now, "fl.server", round_, n_edges=len(self.senders))
        self.synced = True

    def _transfer(self, env, round_: int, edges: list[Edge], direction: str, size: float
                  ) -> Generator[simpy.Event, Any, None]:
        flows = []
        for e in edges:
            src, dst = (e.node, env.server) if direction == "up" else (env.server, e.node)
            tag = EdgeFlow(src=src, dst=dst, direction=direction, round=round_, edge=e.name)
            flows.append(env.network.start(list(e.up if direction == "up" else e.down), size,
                                           name=f"sync.{direction}.{round_}.{e.name}", tag=tag))
        if flows:
            yield env.all_of([f.done for f in flows])
        self.sync_bytes[direction] += size * len(flows)


def _per_edge_flops(env) -> float:
    """Cloud work per edge model averaged: one decode + a multiply-add per parameter."""
    return float(env.workload.server_flops(0, [Participation(0, 0)]))


# ------------------------------------------------------------------------------------------------------ building


def _link_index(network: FlowNetwork) -> dict[tuple[str, str], LinkDirection]:
    out = {}
    for r in network.resources:
        if isinstance(r, LinkDirection):
            u, _, v = r.name.partition("->")
            out[(u, v)] = r
    return out


def _first_site(graph: nx.DiGraph, start: str, server: str) -> tuple[str, list[str]]:
    """The first node of role ``site`` on ``start``'s route to the server, and that route's nodes up to it."""
    nodes = [start] + [v for _, v in topo.shortest_route(graph, start, server)]
    for k, n in enumerate(nodes[1:], start=1):
        if graph.nodes[n].get("role") == "site":
            return n, nodes[: k + 1]
    raise InputError(f"fl.hierarchy.edge: site: the topology has no node of role 'site' between {start!r} and the "
                     f"server; add site nodes (topology kind explicit or graphml) or use edge: cell")


def build_hierarchy(cfg: S.Hierarchy, graph: nx.DiGraph, server: str, network: FlowNetwork,
                    clients: tuple[Client, ...], access):
    """The edges and their cloud routes; points ``access``'s client routes at the edges. Returns (Hierarchy,
    access): a radio access layer is changed in place, a wired one replaced."""
    links = _link_index(network)

    def path(nodes: list[str]) -> list[Resource]:
        return [links[(a, b)] for a, b in zip(nodes[:-1], nodes[1:], strict=True)]

    def cloud(name: str, node: str) -> Edge:
        return Edge(name, node, tuple(path([node] + [v for _, v in topo.shortest_route(graph, node, server)])),
                    tuple(path([server] + [v for _, v in topo.shortest_route(graph, server, node)])))

    edges: list[Edge] = []
    index: dict[str, int] = {}
    if isinstance(access, Access):
        of_cell = np.empty(len(access.cells), dtype=np.int64)
        for k, cell in enumerate(access.cells):
            if cfg.edge == "cell":
                name, below = cell.name, [cell.node]
                edge_node = cell.node
            else:
                edge_node, below = _first_site(graph, cell.node, server)
                name = edge_node
            if name not in index:
                index[name] = len(edges)
                edges.append(cloud(name, edge_node))
            of_cell[k] = index[name]
            access.routes_down[k] = path(below[::-1]) + [cell.dl]
            access.routes_up[k] = [cell.ul] + path(below)
        return Hierarchy(cfg, edges, of_cell, access), access
    if cfg.edge == "cell":
        raise InputError("fl.hierarchy.edge: cell needs base stations (radio.kind: cellular); use edge: site")
    of_client = np.empty(len(clients), dtype=np.int64)
    down, up = [], []
    for c in clients:
        site, nodes = _first_site(graph, c.node, server)
        if site not in index:
            index[site] = len(edges)
            edges.append(cloud(site, site))
        of_client[c.index] = index[site]
        up.append(path(nodes))
        down.append(path(nodes[::-1]))
    access = WiredAccess(down, up)
    return Hierarchy(cfg, edges, of_client, access), access


# -------------------------------------------------------------------------------------------------------- learning


class HierWorkload:
    """A workload seen through the hierarchy: clients train from their edge's model, edges aggregate every round, the
    cloud every ``edge_rounds`` (see the module docstring). Bytes and FLOPs are the wrapped workload's."""

    def __init__(self, inner, hierarchy: Hierarchy, cfg: S.FLConfig) -> None:
        self.inner = inner
        self.hier = hierarchy
        self.cfg = cfg
        self.learns = bool(getattr(inner, "train_enabled", False)) and hasattr(inner, "aggregate")
        if self.learns:
            from twin.fl.strategies import make_strategy

            spec = cfg.strategy
            self.edge_models = [inner.global_flat for _ in hierarchy.edges]
            self.strategies = [make_strategy(spec.kind, **spec.model_dump(exclude={"kind"})) for _ in hierarchy.edges]

    def __getattr__(self, name: str):  # bytes, FLOPs, describe, clients_table ... of the wrapped workload
        return getattr(self.inner, name)

    def weight_of(self, p: Participation) -> float:
        """A delivered update's weight in the cloud average: its examples (or 1 under ``weighting: uniform``)."""
        if getattr(self.cfg.strategy, "weighting", "num_examples") == "uniform" or not hasattr(self.inner, "sizes"):
            return 1.0
        return float(self.inner.sizes[p.client])

    def begin_round(self, round_: int, selected: list[Participation]) -> None:
        self.hier.begin_round(selected)
        if not self.learns:
            self.inner.begin_round(round_, selected)
            return
        groups: dict[int, list[Participation]] = {}
        for p in selected:
            groups.setdefault(max(self.hier.start_edge[p.slot], 0), []).append(p)
        self.inner.begin_round(round_, selected, [(self.edge_models[e], ps) for e, ps in groups.items()])

    def end_round(self, round_: int, completed: list[Participation], dropped: list[Participation]) -> RoundOutcome:
        try:
            return self._end_round(round_, completed, dropped)
        finally:
            if self.hier.synced:
                self.hier.pending.clear()

    def _end_round(self, round_: int, completed: list[Participation], dropped: list[Participation]) -> RoundOutcome:
        if not self.learns:
            return self.inner.end_round(round_, completed, dropped)
        by_edge: dict[int, list[Participation]] = {}
        for p in completed:
            by_edge.setdefault(self.hier.delivered[p.slot], []).append(p)
        for e in sorted(by_edge):
            self.edge_models[e] = self.inner.aggregate(self.edge_models[e], by_edge[e], self.strategies[e])
        if self.hier.synced and self.hier.senders:
            import torch

            from twin.fl.strategies.base import weighted_average

            weights = np.array([self.hier.pending[e] for e in self.hier.senders], dtype=np.float64)
            weights = weights / weights.sum() if weights.sum() > 0 else np.full(len(weights), 1.0 / len(weights))
            cloud = weighted_average([self.edge_models[e] for e in self.hier.senders], weights).to(torch.float32)
            self.inner.global_flat = cloud
            self.edge_models = [cloud for _ in self.edge_models]
        return self.inner.outcome(round_, completed)
