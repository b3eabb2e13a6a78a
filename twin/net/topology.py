"""Wired topologies as networkx directed graphs, and routing over them.

Nodes carry ``role`` (server, router, client, site); each directed edge (u, v) carries ``bandwidth_bps`` and
``latency_s`` of that direction, so a full-duplex link is two edges. Generators take plain numbers (the scenario layer
converts configs); routing is the latency-weighted shortest path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import networkx as nx

from twin.errors import InputError


@dataclass(frozen=True)
class Link:
    """A full-duplex link's two directions: forward (a->b) and reverse (b->a)."""

    bandwidth_bps: float
    latency_s: float = 0.0
    reverse_bandwidth_bps: float | None = None
    reverse_latency_s: float | None = None


class NoRouteError(InputError):
    """A client cannot reach the server."""


def add_link(graph: nx.DiGraph, a: str, b: str, link: Link) -> None:
    """Add both directions of ``link`` between nodes ``a`` and ``b``."""
    rbw = link.bandwidth_bps if link.reverse_bandwidth_bps is None else link.reverse_bandwidth_bps
    rlat = link.latency_s if link.reverse_latency_s is None else link.reverse_latency_s
    for u, v, bw, lat in ((a, b, link.bandwidth_bps, link.latency_s), (b, a, rbw, rlat)):
        if not bw > 0:
            raise InputError(f"link {u}->{v}: bandwidth_bps must be positive, got {bw}")
        if not lat >= 0:
            raise InputError(f"link {u}->{v}: latency_s must be non-negative, got {lat}")
        graph.add_edge(u, v, bandwidth_bps=float(bw), latency_s=float(lat))


def star(n_clients: int, client_link: Link, server_link: Link) -> nx.DiGraph:
    """``server`` - ``switch`` - ``client.0 .. client.{n-1}``. Client links are given switch -> client (downlink)."""
    g = nx.DiGraph()
    g.add_node("server", role="server")
    g.add_node("switch", role="router")
    add_link(g, "server", "switch", server_link)
    for i in range(n_clients):
        g.add_node(f"client.{i}", role="client")
        add_link(g, "switch", f"client.{i}", client_link)
    return g


def tree(fanout: Sequence[int], level_links: Sequence[Link], server_link: Link) -> nx.DiGraph:
    """``server`` - ``core``; each level-i node has ``fanout[i]`` children over ``level_links[i]``; leaves are clients."""
    if len(fanout) != len(level_links):
        raise InputError("tree: give one link per fanout level")
    g = nx.DiGraph()
    g.add_node("server", role="server")
    g.add_node("core", role="router")
    add_link(g, "server", "core", server_link)
    parents = ["core"]
    n_clients = 0
    for depth, (k, link) in enumerate(zip(fanout, level_links, strict=True)):
        leaf = depth == len(fanout) - 1
        children = []
        for parent in parents:
            for _ in range(k):
                name = f"client.{n_clients}" if leaf else f"router.{depth + 1}.{len(children)}"
                n_clients += leaf
                g.add_node(name, role="client" if leaf else "router")
                add_link(g, parent, name, link)
                children.append(name)
        parents = children
    return g


def ring(n_sites: int, clients_per_site: int, ring_link: Link, access_link: Link, server_link: Link) -> nx.DiGraph:
    """A ring ``site.0 .. site.{n-1}``; ``server`` on site 0; clients numbered site by site."""
    g = nx.DiGraph()
    g.add_node("server", role="server")
    for s in range(n_sites):
        g.add_node(f"site.{s}", role="site")
    add_link(g, "server", "site.0", server_link)
    for s in range(n_sites):
        add_link(g, f"site.{s}", f"site.{(s + 1) % n_sites}", ring_link)
    c = 0
    for s in range(n_sites):
        for _ in range(clients_per_site):
            g.add_node(f"client.{c}", role="client")
            add_link(g, f"site.{s}", f"client.{c}", access_link)
            c += 1
    return g


def explicit(nodes: Sequence[tuple[str, str]], links: Sequence[tuple[str, str, Link]]) -> nx.DiGraph:
    """Nodes as (name, role), links as (a, b, Link)."""
    g = nx.DiGraph()
    for name, role in nodes:
        g.add_node(name, role=role)
    for a, b, link in links:
        for end in (a, b):
            if end not in g:
                raise InputError(f"link {a}-{b} names unknown node {end!r}")
        add_link(g, a, b, link)
    return g


def from_graphml(path: str | Path, *, role_attr: str = "role", bandwidth_attr: str = "bandwidth_bps",
                 latency_attr: str = "latency_s", parse_rate: Callable[[object], float] = float,
                 parse_time: Callable[[object], float] = float) -> nx.DiGraph:
    """Read a GraphML file. Undirected edges become full-duplex links; directed edges one direction each.

    ``parse_rate`` / ``parse_time`` convert attribute values (the scenario layer passes unit-aware parsers).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: GraphML file not found")
    try:
        raw = nx.read_graphml(path)
    except Exception as exc:  # networkx raises several types for malformed XML
        raise InputError(f"{path}: cannot read GraphML: {exc}") from None
    g = nx.DiGraph()
    for node, data in raw.nodes(data=True):
        role = data.get(role_attr, "router")
        if role not in ("server", "router", "client", "site"):
            raise InputError(f"{path}: node {node!r} has {role_attr}={role!r}; use server, router, client or site")
        g.add_node(str(node), role=role)
    for u, v, data in raw.edges(data=True):
        where = f"{path}: edge {u}-{v}"
        if bandwidth_attr not in data:
            raise InputError(f"{where} has no {bandwidth_attr!r} attribute")
        try:
            bw = parse_rate(data[bandwidth_attr])
            lat = parse_time(data.get(latency_attr, 0.0))
        except ValueError as exc:
            raise InputError(f"{where}: {exc}") from None
        link = Link(bw, lat)
        if raw.is_directed():
            if not bw > 0 or not lat >= 0:
                raise InputError(f"{where}: bandwidth must be positive and latency non-negative")
            g.add_edge(str(u), str(v), bandwidth_bps=bw, latency_s=lat)
        else:
            try:
                add_link(g, str(u), str(v), link)
            except InputError as exc:
                raise InputError(f"{path}: {exc}") from None
    servers = [n for n, r in g.nodes(data="role") if r == "server"]
    if len(servers) != 1:
        raise InputError(f"{path}: exactly one node must have {role_attr}=server, found {len(servers)}")
    return g


def server_of(graph: nx.DiGraph) -> str:
    servers = [n for n, r in graph.nodes(data="role") if r == "server"]
    if len(servers) != 1:
        raise InputError(f"the topology needs exactly one server node, found {len(servers)}")
    return servers[0]


def clients_of(graph: nx.DiGraph) -> list[str]:
    """Client node names in a stable order (numeric suffixes sorted as numbers)."""

    def key(name: str) -> tuple:
        head, _, tail = name.rpartition(".")
        return (head, int(tail)) if tail.isdigit() else (name, -1)

    return sorted((n for n, r in graph.nodes(data="role") if r == "client"), key=key)


def routes_from(graph: nx.DiGraph, src: str) -> dict[str, list[tuple[str, str]]]:
    """Latency-weighted shortest routes from ``src`` to every reachable node (one Dijkstra), as directed edges."""
    paths = nx.single_source_dijkstra_path(graph, src, weight="latency_s")
    return {node: list(zip(p[:-1], p[1:], strict=True)) for node, p in paths.items()}


def routes_to(graph: nx.DiGraph, dst: str) -> dict[str, list[tuple[str, str]]]:
    """Latency-weighted shortest routes from every node that can reach ``dst`` to it (one Dijkstra on the reverse)."""
    paths = nx.single_source_dijkstra_path(graph.reverse(copy=False), dst, weight="latency_s")
    return {node: list(zip(p[::-1][:-1], p[::-1][1:], strict=True)) for node, p in paths.items()}


def shortest_route(graph: nx.DiGraph, src: str, dst: str) -> list[tuple[str, str]]:
    """The latency-weighted shortest path from ``src`` to ``dst`` as a list of directed edges."""
    try:
        nodes = nx.shortest_path(graph, src, dst, weight="latency_s")
    except nx.NetworkXNoPath:
        raise NoRouteError(f"{src} cannot reach {dst}: no path in the topology") from None
    except nx.NodeNotFound as exc:
        raise NoRouteError(str(exc)) from None
    return list(zip(nodes[:-1], nodes[1:], strict=True))
