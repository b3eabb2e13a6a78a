"""Buildings from files: OpenStreetMap XML (``.osm``) and SUMO polygon files (``.poly.xml``, as ``polyconvert`` makes
them from OSM). Local files only; every error is a ``ValueError`` / ``FileNotFoundError`` naming the file.

Heights, in this order: the ``height`` tag / parameter (metres; ``ft`` or ``'`` converted), ``building:levels`` x
``level_height_m`` (3 m), else ``default_height_m`` (a number, or a (low, high) pair drawn uniformly), else DRIVE's
U(15, 50) m draw (``polygonToolbox/add3rdDimension.m``), seeded by ``rng``.
"""

from __future__ import annotations

import math
import os
import re
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from .buildings import Buildings, draw_heights_m, make_buildings

__all__ = ["buildings_from_osm", "buildings_from_sumo_poly", "parse_height_m", "NoBuildingsWarning"]

LEVEL_HEIGHT_M = 3.0
_NUMBER = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*(m|meters|metres|ft|feet|')?\s*$", re.IGNORECASE)


class NoBuildingsWarning(UserWarning):
    """A map file holds no buildings: geometric LOS would see none (use stochastic LOS)."""


def parse_height_m(value: str | None, what: str) -> float | None:
    """A height tag in metres (``"12"``, ``"12.5 m"``, ``"40 ft"``); None for None or an unparsable value; negative
    heights are an error naming ``what``."""
    if value is None:
        return None
    m = _NUMBER.match(str(value))
    if m is None:
        return None
    h = float(m.group(1)) * (0.3048 if (m.group(2) or "").lower() in ("ft", "feet", "'") else 1.0)
    if h < 0:
        raise ValueError(f"{what}: negative height {value!r}")
    return h if h > 0 else None


def _heights(tags: list[dict], what: list[str], *, level_height_m: float, default_height_m, rng) -> np.ndarray:
    out = np.full(len(tags), np.nan)
    for i, t in enumerate(tags):
        h = parse_height_m(t.get("height"), what[i])
        if h is None:
            levels = parse_height_m(t.get("building:levels"), what[i] + " building:levels")
            h = levels * level_height_m if levels is not None else None
        if h is not None:
            out[i] = h
    missing = np.isnan(out)
    if missing.any():
        out[missing] = draw_heights_m(int(missing.sum()), rng=rng, height_m=default_height_m)
    return out


def _projector(crs: str | None, lon: np.ndarray, lat: np.ndarray, name: str):
    try:
        import pyproj
    except ImportError as exc:  # pragma: no cover - pyproj comes with the osm extra
        raise ValueError(f"{name}: projecting longitude / latitude needs pyproj: pip install 'twin[osm]'") from exc
    if crs is None or crs in ("", "None"):
        zone = int(math.floor((float(np.mean(lon)) + 180.0) / 6.0) % 60) + 1
        crs = f"+proj=utm +zone={zone} +ellps=WGS84 +datum=WGS84 +units=m +no_defs" + (
            " +south" if float(np.mean(lat)) < 0 else "")
    try:
        tf = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    except Exception as exc:
        raise ValueError(f"{name}: unknown CRS {crs!r}: {exc}") from None
    return tf


def _check(path: str | os.PathLike, what: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"path: {what} not found: {str(p)!r}")
    return p


def buildings_from_osm(path: str | os.PathLike, *, crs: str | None = None, level_height_m: float = LEVEL_HEIGHT_M,
                       default_height_m=None, rng: np.random.Generator | None = None) -> Buildings:
    """Buildings of an OSM XML file: closed ways tagged ``building`` and ``type=multipolygon`` relations tagged
    ``building`` (their outer rings), projected to ``crs`` (the road graph's CRS, e.g. ``RoadNetwork.graph.graph
    ['crs']``; None: the UTM zone of the data, as osmnx does). A file without buildings gives none and a
    :class:`NoBuildingsWarning`."""
    p = _check(path, "OSM XML file")
    rng = rng if rng is not None else np.random.default_rng(0)
    nodes: dict[str, tuple[float, float]] = {}
    ways: dict[str, tuple[list[str], dict]] = {}
    relations: list[tuple[str, list[tuple[str, str]], dict]] = []
    try:
        for _, el in ET.iterparse(p, events=("end",)):
            if el.tag == "node":
                nodes[el.get("id")] = (float(el.get("lon")), float(el.get("lat")))
                el.clear()
            elif el.tag == "way":
                ways[el.get("id")] = ([nd.get("ref") for nd in el.findall("nd")],
                                      {t.get("k"): t.get("v") for t in el.findall("tag")})
                el.clear()
            elif el.tag == "relation":
                relations.append((el.get("id"), [(m.get("ref"), m.get("role")) for m in el.findall("member")
                                                 if m.get("type") == "way"],
                                  {t.get("k"): t.get("v") for t in el.findall("tag")}))
                el.clear()
    except (ET.ParseError, TypeError, ValueError) as exc:
        raise ValueError(f"path: could not read OSM XML {str(p)!r}: {exc}") from None

    def is_building(tags: dict) -> bool:
        return tags.get("building", "no") != "no"

    rings, tags, names = [], [], []
    for wid, (refs, t) in ways.items():
        if is_building(t):
            rings.append(refs)
            tags.append(t)
            names.append(f"{p.name}: way {wid}")
    for rid, members, t in relations:
        if t.get("type") == "multipolygon" and is_building(t):
            for ref, role in members:
                if role in ("outer", "") and ref in ways:
                    rings.append(ways[ref][0])
                    tags.append({**ways[ref][1], **t})
                    names.append(f"{p.name}: relation {rid} way {ref}")
    if not rings:
        warnings.warn(f"{p.name}: the OSM file holds no buildings; geometric LOS needs them (use los: stochastic)",
                      NoBuildingsWarning, stacklevel=2)
        return make_buildings([], [], source=p.name)
    heights = _heights(tags, names, level_height_m=level_height_m, default_height_m=default_height_m, rng=rng)
    lonlat = []
    for name, refs in zip(names, rings, strict=True):
        missing = [r for r in refs if r not in nodes]
        if missing:
            raise ValueError(f"{name}: node {missing[0]} is not in the file")
        lonlat.append(np.array([nodes[r] for r in refs], dtype=float).reshape(-1, 2))
    allpts = np.concatenate(lonlat)
    tf = _projector(crs, allpts[:, 0], allpts[:, 1], f"path: {p.name}")
    xy = [np.column_stack(tf.transform(ll[:, 0], ll[:, 1])) for ll in lonlat]
    for name, ring in zip(names, xy, strict=True):
        if len(np.unique(ring, axis=0)) < 3:
            raise ValueError(f"path: {name}: a building needs at least 3 points, got {len(np.unique(ring, axis=0))}")
    return make_buildings(xy, heights, source=p.name, what=f"path: {p.name}")


def buildings_from_sumo_poly(path: str | os.PathLike, *, level_height_m: float = LEVEL_HEIGHT_M,
                             default_height_m=None, rng: np.random.Generator | None = None,
                             crs: str | None = None, types: str = "building") -> Buildings:
    """Buildings of a SUMO polygon file (``<poly id type shape="x,y x,y ...">``, polyconvert's output): polygons whose
    ``type`` starts with ``types``; heights from the ``height`` attribute, ``<param key="height">`` or
    ``building:levels`` (polyconvert ``--all-attributes``). Coordinates are the network's metres (polyconvert ``--net-file``); polygons marked
    ``geo="1"`` are longitude / latitude and are projected to ``crs``."""
    p = _check(path, "SUMO polygon file")
    rng = rng if rng is not None else np.random.default_rng(0)
    try:
        root = ET.parse(p).getroot()
    except ET.ParseError as exc:
        raise ValueError(f"path: could not parse SUMO polygon file {str(p)!r}: {exc}") from None
    rings, tags, names, geo = [], [], [], []
    for el in root.iter("poly"):
        if not (el.get("type") or "").startswith(types):
            continue
        if any(q.get("key") == "building" and q.get("value") == "no" for q in el.findall("param")):
            continue  # polyconvert types OSM's building=no as a building too
        name = f"{p.name}: poly {el.get('id')!r}"
        try:
            pts = [tuple(float(v) for v in pair.split(",")[:2]) for pair in (el.get("shape") or "").split()]
            ring = np.array(pts, dtype=float).reshape(-1, 2)
        except ValueError:
            raise ValueError(f"path: {name} has a malformed shape {el.get('shape')!r}") from None
        if len(np.unique(ring, axis=0)) < 3:
            raise ValueError(f"path: {name}: a building needs at least 3 points, got {len(np.unique(ring, axis=0))}")
        rings.append(ring)
        tag = {q.get("key"): q.get("value") for q in el.findall("param")}
        if el.get("height") is not None:  # polyconvert writes the OSM height (metres) as an attribute
            tag["height"] = el.get("height")
        tags.append(tag)
        names.append(name)
        geo.append(el.get("geo") in ("1", "true"))
    if not rings:
        warnings.warn(f"{p.name}: the polygon file holds no buildings (type {types}*); geometric LOS needs them",
                      NoBuildingsWarning, stacklevel=2)
        return make_buildings([], [], source=p.name)
    heights = _heights(tags, names, level_height_m=level_height_m, default_height_m=default_height_m, rng=rng)
    if any(geo):
        allpts = np.concatenate([r for r, g in zip(rings, geo, strict=True) if g])
        tf = _projector(crs, allpts[:, 0], allpts[:, 1], f"path: {p.name}")
        rings = [np.column_stack(tf.transform(r[:, 0], r[:, 1])) if g else r for r, g in zip(rings, geo, strict=True)]
    return make_buildings(rings, heights, source=p.name, what=f"path: {p.name}")
