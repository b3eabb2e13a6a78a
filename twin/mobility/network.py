"""RoadNetwork: a directed road graph in projected metres, with the array views that vehicles and placement need.

The graph is a :class:`networkx.MultiDiGraph` whose nodes carry ``x``, ``y`` (metres, projected) and whose edges carry
``length_m`` (> 0), ``speed_mps`` (> 0) and optionally ``lanes`` (int) and ``geometry_xy`` (an ``[k, 2]`` polyline from
the edge's start node to its end node; osmnx's shapely ``geometry`` is accepted too). Without a geometry an edge is the
straight segment between its junctions.

Two lengths exist per edge: ``length_m`` (the attribute; it weights routing) and the geometric length of the polyline in
the x-y plane (``edge_geom_length_m``). Vehicles move along the polyline, so the distance they cover in the plane is the
distance their speed allows. On a generated grid both lengths are equal.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from itertools import pairwise

import networkx as nx
import numpy as np

from .dijkstra import adjacency, bidirectional_dijkstra

__all__ = ["RoadNetwork", "point_segment_distance_m"]

_ROUTE_CACHE_SIZE = 65536


def _parse_lanes(value: object) -> int:
    """Lane count from a graph attribute (int, float, '2', '2;3', ['2', '3']); 0 when unknown."""
    if value is None:
        return 0
    if isinstance(value, (list, tuple)):
        return max((_parse_lanes(v) for v in value), default=0)
    if isinstance(value, str):
        return max((_safe_int(p) for p in value.replace(",", ";").split(";")), default=0)
    return _safe_int(value)


def _safe_int(value: object) -> int:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0
    return int(out) if math.isfinite(out) and out > 0 else 0


def _geometry_points(data: dict) -> np.ndarray | None:
    geom = data.get("geometry_xy")
    if geom is None and data.get("geometry") is not None and hasattr(data["geometry"], "coords"):
        geom = list(data["geometry"].coords)
    if geom is None:
        return None
    pts = np.asarray(geom, dtype=float)
    if pts.ndim != 2 or pts.shape[0] < 2 or pts.shape[1] < 2:
        raise ValueError(f"edge geometry must be an [k>=2, 2] polyline, got shape {pts.shape}")
    return pts[:, :2]


def point_segment_distance_m(points_xy: np.ndarray, seg_a: np.ndarray, seg_b: np.ndarray) -> np.ndarray:
    """Distance [P, S] from each point [P, 2] to each segment a->b ([S, 2] each), metres."""
    p = np.asarray(points_xy, dtype=float)[:, None, :]
    a = np.asarray(seg_a, dtype=float)[None, :, :]
    d = np.asarray(seg_b, dtype=float)[None, :, :] - a
    dd = np.einsum("psk,psk->ps", d, d)
    num = np.einsum("psk,psk->ps", p - a, d)
    t = np.clip(np.divide(num, dd, out=np.zeros_like(num), where=dd > 0), 0.0, 1.0)
    diff = p - (a + t[..., None] * d)
    return np.sqrt(np.einsum("psk,psk->ps", diff, diff))


class RoadNetwork:
    """A validated road graph plus array views (node coordinates, edge lengths / speeds, polyline segments).

    Args:
        graph: ``nx.MultiDiGraph`` or ``nx.DiGraph`` (an undirected graph is made two-way). Not modified.
        name: label for messages (a file name, ``"grid 6x6"``).

    Raises:
        ValueError: empty graph, a node without finite ``x``/``y``, an edge without positive ``length_m`` / ``speed_mps``.
    """

    def __init__(self, graph: nx.Graph, *, name: str = "road network") -> None:
        if not isinstance(graph, nx.Graph):
            raise ValueError(f"graph: expected a networkx graph, got {type(graph).__name__}")
        if not graph.is_directed():
            graph = graph.to_directed()
        if not graph.is_multigraph():
            graph = nx.MultiDiGraph(graph)
        self.name = name
        self.graph: nx.MultiDiGraph = graph
        if graph.number_of_nodes() == 0:
            raise ValueError(f"{name}: graph is empty (no nodes)")
        if graph.number_of_edges() == 0:
            raise ValueError(f"{name}: graph has no edges (no roads)")

        self.node_ids: list[Hashable] = list(graph.nodes)
        self.node_index: dict[Hashable, int] = {n: i for i, n in enumerate(self.node_ids)}
        xy = np.empty((len(self.node_ids), 2))
        for i, (n, data) in enumerate(graph.nodes(data=True)):
            try:
                xy[i] = float(data["x"]), float(data["y"])
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"{name}: node {n!r} needs numeric 'x' and 'y' attributes (metres)") from None
        if not np.all(np.isfinite(xy)):
            raise ValueError(f"{name}: node coordinates must be finite")
        self.node_xy_m = xy

        self.edge_keys: list[tuple[Hashable, Hashable, Hashable]] = []
        n_e = graph.number_of_edges()
        self.edge_u = np.empty(n_e, dtype=np.int64)
        self.edge_v = np.empty(n_e, dtype=np.int64)
        self.edge_length_m = np.empty(n_e)
        self.edge_speed_mps = np.empty(n_e)
        self.edge_lanes = np.zeros(n_e, dtype=np.int64)
        polylines: list[np.ndarray] = []
        for e, (u, v, k, data) in enumerate(graph.edges(keys=True, data=True)):
            self.edge_keys.append((u, v, k))
            iu, iv = self.node_index[u], self.node_index[v]
            self.edge_u[e], self.edge_v[e] = iu, iv
            for attr, arr in (("length_m", self.edge_length_m), ("speed_mps", self.edge_speed_mps)):
                try:
                    val = float(data[attr])
                except (KeyError, TypeError, ValueError):
                    raise ValueError(f"{name}: edge {(u, v, k)!r} needs a numeric {attr!r} attribute") from None
                if not (math.isfinite(val) and val > 0):
                    raise ValueError(f"{name}: edge {(u, v, k)!r} has {attr}={val}; it must be > 0")
                arr[e] = val
            self.edge_lanes[e] = _parse_lanes(data.get("lanes"))
            polylines.append(self._polyline(_geometry_points(data), xy[iu], xy[iv]))
        self.edge_travel_time_s = self.edge_length_m / self.edge_speed_mps
        self._build_segments(polylines)
        self._route_graphs: dict[float | None, tuple[nx.DiGraph, dict[tuple[int, int], int]]] = {}
        self._route_adjacency: dict[int, tuple] = {}  # id(routing graph) -> its (successors, predecessors) lists
        self._route_cache: OrderedDict[tuple[float | None, int, int], tuple[int, ...]] = OrderedDict()

    # ------------------------------------------------------------------ geometry
    @staticmethod
    def _polyline(geom: np.ndarray | None, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        if geom is None:
            pts = np.stack([start, end])
        else:
            pts = geom
            # orient from the start node to the end node, then make sure it touches both junctions
            if np.hypot(*(pts[0] - end)) + np.hypot(*(pts[-1] - start)) < np.hypot(*(pts[0] - start)) + np.hypot(
                *(pts[-1] - end)
            ):
                pts = pts[::-1]
            if np.hypot(*(pts[0] - start)) > 1e-9:
                pts = np.vstack([start, pts])
            if np.hypot(*(pts[-1] - end)) > 1e-9:
                pts = np.vstack([pts, end])
        keep = np.ones(len(pts), dtype=bool)
        keep[1:] = np.hypot(*(np.diff(pts, axis=0).T)) > 1e-9
        pts = pts[keep]
        if len(pts) < 2:  # degenerate: both junctions at one point
            pts = np.vstack([pts[:1], pts[:1]])
        return pts

    def _build_segments(self, polylines: list[np.ndarray]) -> None:
        counts = np.array([len(p) - 1 for p in polylines], dtype=np.int64)
        self.edge_seg_start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        self.edge_seg_stop = self.edge_seg_start + counts
        self.seg_a_m = np.concatenate([p[:-1] for p in polylines])
        self.seg_b_m = np.concatenate([p[1:] for p in polylines])
        self.seg_edge = np.repeat(np.arange(len(polylines)), counts)
        self.seg_length_m = np.hypot(*(self.seg_b_m - self.seg_a_m).T)
        cum = np.concatenate([[0.0], np.cumsum(self.seg_length_m)])
        self.seg_cum0_m = cum[:-1]
        self.edge_cum0_m = cum[self.edge_seg_start]
        self.edge_geom_length_m = cum[self.edge_seg_stop] - self.edge_cum0_m

    @property
    def n_nodes(self) -> int:
        return len(self.node_ids)

    @property
    def n_edges(self) -> int:
        return len(self.edge_keys)

    @property
    def bbox_m(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) over junctions and edge geometry, metres."""
        pts = np.vstack([self.node_xy_m, self.seg_a_m, self.seg_b_m])
        return (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))

    @property
    def total_length_m(self) -> float:
        """Sum of the geometric lengths of all directed edges, metres."""
        return float(self.edge_geom_length_m.sum())

    def position_on_edge(self, edge: np.ndarray | int, offset_m: np.ndarray | float) -> np.ndarray:
        """Points [n, 2] at ``offset_m`` metres along the polylines of ``edge`` (indices), clipped to the edge."""
        e = np.atleast_1d(np.asarray(edge, dtype=np.int64))
        s = np.clip(np.broadcast_to(np.asarray(offset_m, dtype=float), e.shape), 0.0, self.edge_geom_length_m[e])
        g = self.edge_cum0_m[e] + s
        idx = np.searchsorted(self.seg_cum0_m, g, side="right") - 1
        idx = np.clip(idx, self.edge_seg_start[e], self.edge_seg_stop[e] - 1)
        seg_len = self.seg_length_m[idx]
        frac = np.divide(g - self.seg_cum0_m[idx], seg_len, out=np.zeros_like(g), where=seg_len > 0)
        frac = np.clip(frac, 0.0, 1.0)
        a = self.seg_a_m[idx]
        return a + frac[:, None] * (self.seg_b_m[idx] - a)

    def distance_to_road_m(self, points_xy: np.ndarray, *, chunk_elems: int = 2_000_000,
                           within_m: float | None = None) -> np.ndarray:
        """Distance [P] from each point [P, 2] to the nearest edge polyline, metres (exact, brute force in chunks).

        With ``within_m`` only the segments that can be that close to some point are searched (a bounding-box
        filter): distances up to ``within_m`` are exact, larger ones come back as some value above ``within_m``
        (possibly inf). Enough for a threshold test, and far cheaper on a big network.
        """
        pts = np.asarray(points_xy, dtype=float).reshape(-1, 2)
        seg_a, seg_b = self.seg_a_m, self.seg_b_m
        if within_m is not None and len(pts):
            lo, hi = pts.min(axis=0) - within_m, pts.max(axis=0) + within_m
            keep = (np.all(np.minimum(seg_a, seg_b) <= hi, axis=1) & np.all(np.maximum(seg_a, seg_b) >= lo, axis=1))
            if not keep.any():
                return np.full(len(pts), np.inf)
            seg_a, seg_b = seg_a[keep], seg_b[keep]
        out = np.empty(len(pts))
        step = max(1, chunk_elems // max(1, len(seg_a)))
        for i in range(0, len(pts), step):
            out[i : i + step] = point_segment_distance_m(pts[i : i + step], seg_a, seg_b).min(axis=1)
        return out

    # ------------------------------------------------------------------ junctions and sample points
    def node_degree(self) -> np.ndarray:
        """Number of distinct neighbouring junctions of each node (direction ignored, self loops ignored)."""
        deg = np.zeros(self.n_nodes, dtype=np.int64)
        pairs = {
            (min(a, b), max(a, b)) for a, b in zip(self.edge_u.tolist(), self.edge_v.tolist(), strict=True) if a != b
        }
        for a, b in pairs:
            deg[a] += 1
            deg[b] += 1
        return deg

    def junction_nodes(self, min_degree: int = 3) -> list[Hashable]:
        """Node ids where at least ``min_degree`` roads meet (3: T-junctions and crossings; 1: every node)."""
        deg = self.node_degree()
        return [self.node_ids[i] for i in np.flatnonzero(deg >= min_degree)]

    def junction_xy_m(self, min_degree: int = 3) -> np.ndarray:
        """Coordinates [J, 2] of :meth:`junction_nodes`."""
        deg = self.node_degree()
        return self.node_xy_m[deg >= min_degree].copy()

    def road_edges(self) -> np.ndarray:
        """Edge indices with one direction per two-way road (the reverse twin with the same length is dropped)."""
        seen: set[tuple[int, int, float]] = set()
        keep = []
        for e in range(self.n_edges):
            a, b = int(self.edge_u[e]), int(self.edge_v[e])
            key = (min(a, b), max(a, b), round(float(self.edge_geom_length_m[e]), 2))
            if key not in seen:
                seen.add(key)
                keep.append(e)
        return np.asarray(keep, dtype=np.int64)

    def sample_points(self, spacing_m: float, *, include_nodes: bool = True) -> np.ndarray:
        """Points [P, 2] along every road, at most ``spacing_m`` apart (each road cut into equal pieces).

        Two-way roads are sampled once. With ``include_nodes`` the junctions (and dead ends) are included.
        """
        if not (spacing_m > 0 and math.isfinite(spacing_m)):
            raise ValueError(f"spacing_m must be > 0, got {spacing_m}")
        edges = self.road_edges()
        length = self.edge_geom_length_m[edges]
        pieces = np.maximum(1, np.ceil(length / spacing_m - 1e-9).astype(np.int64))
        n_inner = pieces - 1
        e_rep = np.repeat(edges, n_inner)
        k = np.arange(n_inner.sum()) - np.repeat(np.cumsum(n_inner) - n_inner, n_inner) + 1
        offsets = k * np.repeat(length / pieces, n_inner)
        inner = self.position_on_edge(e_rep, offsets) if len(e_rep) else np.empty((0, 2))
        return np.vstack([self.node_xy_m, inner]) if include_nodes else inner

    # ------------------------------------------------------------------ routing
    def largest_component_nodes(self) -> np.ndarray:
        """Node indices of the largest strongly connected component (the set where any trip has a route)."""
        comps = list(nx.strongly_connected_components(self._routing_graph(None)[0]))
        best = max(comps, key=lambda c: (len(c), -min(c)))
        return np.asarray(sorted(best), dtype=np.int64)

    def _routing_graph(self, max_speed_mps: float | None,
                       speed_factor: float = 1.0) -> tuple[nx.DiGraph, dict[tuple[int, int], int]]:
        key = None if max_speed_mps is None else float(max_speed_mps)
        if speed_factor != 1.0:
            key = (key, float(speed_factor))
        if key not in self._route_graphs:
            speed = self.edge_speed_mps * speed_factor
            if max_speed_mps is not None:
                speed = np.minimum(speed, float(max_speed_mps))
            weight = self.edge_length_m / speed
            g = nx.DiGraph()
            g.add_nodes_from(range(self.n_nodes))
            best: dict[tuple[int, int], int] = {}
            for e in np.argsort(weight, kind="stable").tolist():
                pair = (int(self.edge_u[e]), int(self.edge_v[e]))
                if pair not in best:
                    best[pair] = e
                    g.add_edge(*pair, w=float(weight[e]))
            self._route_graphs[key] = (g, best)
        return self._route_graphs[key]

    def route_edges(self, origin: int, destination: int, *, max_speed_mps: float | None = None,
                    speed_factor: float = 1.0) -> tuple[int, ...]:
        """Fastest route between node *indices* as a tuple of edge indices (cached).

        Travel time per edge is ``length_m / min(speed_factor x speed_mps, max_speed_mps)``. Raises ValueError when
        there is no route.
        """
        key = (None if max_speed_mps is None else float(max_speed_mps), int(origin), int(destination))
        if speed_factor != 1.0:
            key = (*key, float(speed_factor))
        hit = self._route_cache.get(key)
        if hit is not None:
            self._route_cache.move_to_end(key)
            return hit
        g, best = self._routing_graph(key[0], speed_factor)
        if origin == destination:
            route: tuple[int, ...] = ()
        else:
            if id(g) not in self._route_adjacency:  # networkx's bidirectional Dijkstra on plain lists (same paths)
                self._route_adjacency[id(g)] = adjacency(g)
            try:
                _, nodes = bidirectional_dijkstra(*self._route_adjacency[id(g)], int(origin), int(destination))
            except nx.NetworkXNoPath:
                raise ValueError(
                    f"{self.name}: no route from node {self.node_ids[origin]!r} to {self.node_ids[destination]!r}"
                ) from None
            route = tuple(best[(a, b)] for a, b in pairwise(nodes))
        self._route_cache[key] = route
        if len(self._route_cache) > _ROUTE_CACHE_SIZE:
            self._route_cache.popitem(last=False)
        return route

    def shortest_path(self, origin: Hashable, destination: Hashable, *, max_speed_mps: float | None = None) -> list:
        """Fastest route by travel time between node *ids*, as the list of node ids (origin first)."""
        for label, node in (("origin", origin), ("destination", destination)):
            if node not in self.node_index:
                raise ValueError(f"{label}: node {node!r} is not in {self.name}")
        edges = self.route_edges(self.node_index[origin], self.node_index[destination], max_speed_mps=max_speed_mps)
        return [origin] + [self.node_ids[int(self.edge_v[e])] for e in edges]

    def path_travel_time_s(self, nodes: Sequence[Hashable]) -> float:
        """Travel time of a node path at edge speeds (fastest parallel edge per hop), seconds."""
        _, best = self._routing_graph(None)
        idx = [self.node_index[n] for n in nodes]
        return float(sum(self.edge_travel_time_s[best[(a, b)]] for a, b in pairwise(idx)))

    def __repr__(self) -> str:
        return f"RoadNetwork({self.name!r}, nodes={self.n_nodes}, edges={self.n_edges})"
