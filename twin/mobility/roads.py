"""Road network sources: a generated grid (Manhattan), and a registry ``kind -> loader`` for SUMO / OSM / GraphML files."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import networkx as nx

from .network import RoadNetwork
from .osm import load_graphml, load_osm
from .sumo import load_sumo_net

__all__ = ["grid_network", "build_road_network", "ROAD_NETWORK_KINDS"]


def _positive(name: str, value: float) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not (math.isfinite(out) and out > 0):
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return out


def grid_network(
    *,
    rows: int,
    cols: int,
    block_length_m: float = 200.0,
    speed_mps: float = 13.89,
    lanes: int = 1,
) -> RoadNetwork:
    """A Manhattan grid of ``rows x cols`` junctions with two-way streets.

    Node ``r * cols + c`` sits at ``x = c * block_length_m``, ``y = r * block_length_m`` (attributes ``row``, ``col``).
    Every street is a pair of opposite directed edges of ``length_m = block_length_m`` at ``speed_mps``.
    Edge count: ``2 * (rows * (cols - 1) + cols * (rows - 1))``.
    """
    for name, value in (("rows", rows), ("cols", cols), ("lanes", lanes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if rows * cols < 2:
        raise ValueError(f"rows x cols must give at least 2 junctions, got {rows}x{cols}")
    block = _positive("block_length_m", block_length_m)
    speed = _positive("speed_mps", speed_mps)
    g = nx.MultiDiGraph(crs="local metres", source=f"grid {rows}x{cols}")
    for r in range(rows):
        for c in range(cols):
            g.add_node(r * cols + c, x=c * block, y=r * block, row=r, col=c)
    for r in range(rows):
        for c in range(cols):
            n = r * cols + c
            for nb in ((n + 1) if c + 1 < cols else None, (n + cols) if r + 1 < rows else None):
                if nb is not None:
                    for a, b in ((n, nb), (nb, n)):
                        g.add_edge(a, b, length_m=block, speed_mps=speed, lanes=lanes)
    return RoadNetwork(g, name=f"grid {rows}x{cols}")


ROAD_NETWORK_KINDS: dict[str, Callable[..., RoadNetwork]] = {
    "grid": grid_network,
    "manhattan": grid_network,
    "sumo": load_sumo_net,
    "osm": load_osm,
    "graphml": load_graphml,
}


def build_road_network(kind: str, **params: Any) -> RoadNetwork:
    """Build a road network by kind: ``grid`` / ``manhattan`` (rows, cols, block_length_m, speed_mps, lanes),
    ``sumo`` (path, vclass), ``osm`` (path, ...), ``graphml`` (path, ...). Keyword names equal the config fields.
    """
    try:
        loader = ROAD_NETWORK_KINDS[kind]
    except (KeyError, TypeError):
        raise ValueError(
            f"kind: unknown road network kind {kind!r}; expected one of {sorted(ROAD_NETWORK_KINDS)}"
        ) from None
    try:
        inspect.signature(loader).bind(**params)
    except TypeError as exc:  # unexpected / missing keyword
        raise ValueError(f"road network kind {kind!r}: {exc}") from None
    return loader(**params)
