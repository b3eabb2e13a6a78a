"""Wired parts: link directions in the flow engine for graph edges (the one place that makes them), and clients on
the topology's client nodes with their fixed routes (:class:`WiredAccess`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import networkx as nx
import numpy as np

from twin.errors import InputError
from twin.net import topology as topo
from twin.net.engine import FlowNetwork
from twin.net.flow import LinkDirection, Resource
from twin.scenario import schema as S
from twin.sim.devices import device_flops
from twin.sim.env import Client
from twin.sim.tags import Direction

Links = dict[tuple[str, str], LinkDirection]


def wire_links(network: FlowNetwork, graph: nx.DiGraph, edges: Iterable[tuple[str, str]], *, overhead: float
               ) -> Links:
    """A :class:`LinkDirection` per directed edge ``(u, v)`` of ``graph`` (its ``bandwidth_bps``, ``latency_s``),
    registered in ``network``; ``overhead`` = wire bits per payload bit (``frame_bytes / payload_bytes``)."""
    links: Links = {}
    for u, v in edges:
        data = graph.edges[u, v]
        links[(u, v)] = network.add_resource(
            LinkDirection(f"{u}->{v}", data["bandwidth_bps"], data["latency_s"], overhead=overhead))
    for (u, v), link in links.items():  # each direction knows the other (a flow's round trip goes back that way)
        link.reverse = links.get((v, u))
    return links


class WiredAccess:
    """Fixed routes: every client is always reachable and always takes its shortest path."""

    def __init__(self, down: Sequence[Sequence[Resource]], up: Sequence[Sequence[Resource]]) -> None:
        self._routes: dict[Direction, list[list[Resource]]] = {"down": [list(r) for r in down],
                                                               "up": [list(r) for r in up]}
        self._reachable = np.ones(len(down), dtype=bool)
        self._reachable.flags.writeable = False

    def route_of(self, client: int, direction: Direction) -> list[Resource]:
        return self._routes[direction][client]

    @property
    def reachable(self) -> np.ndarray:
        return self._reachable

    def stalls(self, client: int, since: float) -> list[tuple[float, float, str]]:
        return []  # wired routes never stall

    def stalled_now(self, client: int) -> str | None:
        return None

    def available(self, client: int) -> bool:
        return True


def wired_clients(graph: nx.DiGraph, server: str, links: Links, device: S.DeviceProfile, rng: np.random.Generator
                  ) -> tuple[tuple[Client, ...], WiredAccess]:
    """A client per node of role ``client`` (FLOP/s drawn from ``device``) and their routes to and from ``server``."""
    names = topo.clients_of(graph)
    if not names:
        raise InputError("topology: it has no client nodes (role 'client')")
    flops = device_flops(device, len(names), rng)
    down_routes = topo.routes_from(graph, server)
    up_routes = topo.routes_to(graph, server)
    clients, down, up = [], [], []
    for i, node in enumerate(names):
        if node not in down_routes or node not in up_routes:
            raise topo.NoRouteError(f"topology: client {node!r} cannot reach server {server!r} "
                                    "(no path in both directions)")
        down.append([links[e] for e in down_routes[node]])
        up.append([links[e] for e in up_routes[node]])
        clients.append(Client(i, node, node, float(flops[i])))
    return tuple(clients), WiredAccess(down, up)
