"""OpenStreetMap road networks through osmnx, from local files only (the ``osm`` extra).

Nothing is downloaded: :func:`load_osm` reads an ``.osm`` XML file (``osmnx.graph_from_xml``), :func:`load_graphml` a
GraphML file saved by osmnx (``osmnx.load_graphml``). Graphs in longitude / latitude are projected to the local UTM zone
(pyproj's bundled database, offline), so ``x`` / ``y`` are metres.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import networkx as nx

from ._extras import require
from .network import RoadNetwork

__all__ = ["load_osm", "load_graphml", "NON_DRIVABLE_HIGHWAYS"]

#: OSM ``highway`` values dropped when ``drivable_only`` is set.
NON_DRIVABLE_HIGHWAYS = frozenset(
    {
        "footway", "path", "cycleway", "steps", "pedestrian", "bridleway", "corridor", "elevator", "platform",
        "proposed", "construction", "abandoned", "bus_guideway", "escape", "raceway", "busway", "via_ferrata",
    }
)  # fmt: skip


def _highways(value: Any) -> set[str]:
    if value is None:
        return set()
    if isinstance(value, (list, tuple, set)):
        return {str(v) for v in value}
    return {str(value)}


def _to_road_network(
    g: nx.MultiDiGraph, ox: Any, *, name: str, default_speed_mps: float, drivable_only: bool
) -> RoadNetwork:
    crs = g.graph.get("crs")
    if crs is None or not ox.projection.is_projected(crs):
        g = ox.project_graph(g)
    if not any("speed_kph" in d for _, _, d in g.edges(data=True)):
        g = ox.add_edge_speeds(g, fallback=default_speed_mps * 3.6)
    out = nx.MultiDiGraph(crs=str(g.graph.get("crs")), source=name)
    for n, d in g.nodes(data=True):
        out.add_node(n, x=float(d["x"]), y=float(d["y"]))
    for u, v, k, d in g.edges(keys=True, data=True):
        if drivable_only and _highways(d.get("highway")) & NON_DRIVABLE_HIGHWAYS:
            continue
        speed_kph = d.get("speed_kph")
        try:
            speed_mps = float(speed_kph) / 3.6
        except (TypeError, ValueError):
            speed_mps = default_speed_mps
        if not (math.isfinite(speed_mps) and speed_mps > 0):
            speed_mps = default_speed_mps
        attrs: dict[str, Any] = {
            "length_m": max(float(d.get("length", 0.0) or 0.0), 1e-3),
            "speed_mps": speed_mps,
            "lanes": d.get("lanes"),
            "osmid": d.get("osmid"),
            "name": d.get("name"),
            "highway": d.get("highway"),
        }
        geom = d.get("geometry")
        if geom is not None and hasattr(geom, "coords"):
            attrs["geometry_xy"] = [tuple(c[:2]) for c in geom.coords]
        out.add_edge(u, v, key=k, **attrs)
    out.remove_nodes_from([n for n in list(out.nodes) if out.degree(n) == 0])
    if out.number_of_edges() == 0:
        raise ValueError(f"path: {name!r} holds no drivable roads")
    return RoadNetwork(out, name=name)


def _check(path: str | os.PathLike, what: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"path: {what} not found: {str(p)!r}")
    return p


def load_osm(
    path: str | os.PathLike,
    *,
    simplify: bool = True,
    retain_all: bool = False,
    default_speed_mps: float = 13.89,
    drivable_only: bool = True,
) -> RoadNetwork:
    """Read a local OpenStreetMap ``.osm`` XML file into a projected :class:`RoadNetwork`.

    One-way streets stay one-way. Speeds come from ``maxspeed`` (osmnx imputes missing ones per highway type, else
    ``default_speed_mps``); ``length_m`` is osmnx's great-circle length; curved roads keep their geometry.
    """
    p = _check(path, "OSM XML file")
    ox = require("osmnx", "osm")
    try:
        g = ox.graph_from_xml(p, simplify=simplify, retain_all=retain_all)
    except Exception as exc:  # XML errors, empty data (osmnx raises its own types)
        raise ValueError(f"path: could not read OSM XML {str(p)!r}: {exc}") from None
    return _to_road_network(g, ox, name=p.name, default_speed_mps=default_speed_mps, drivable_only=drivable_only)


def load_graphml(
    path: str | os.PathLike, *, default_speed_mps: float = 13.89, drivable_only: bool = True
) -> RoadNetwork:
    """Read a GraphML file saved by osmnx (``osmnx.save_graphml``) into a projected :class:`RoadNetwork`."""
    p = _check(path, "GraphML file")
    ox = require("osmnx", "osm")
    try:
        g = ox.load_graphml(p)
    except Exception as exc:
        raise ValueError(f"path: could not read GraphML {str(p)!r}: {exc}") from None
    return _to_road_network(g, ox, name=p.name, default_speed_mps=default_speed_mps, drivable_only=drivable_only)
