"""Buildings: 2D footprints (shapely polygons) extruded to a roof height, in the road graph's metric frame.

A :class:`Buildings` record is immutable: footprints ``[B]`` (shapely ``Polygon``, outer ring only: holes are dropped,
as DRIVE's ``removeHoles.m`` does), heights ``heights_m[B]`` (> 0), the name of its source. Built by
:func:`grid_blocks` (the blocks of a generated Manhattan grid), :func:`twin.geo.parsers.buildings_from_osm` and
:func:`twin.geo.parsers.buildings_from_sumo_poly`. Bad input raises ``ValueError`` naming the field or file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import shapely

__all__ = ["Buildings", "DRIVE_HEIGHT_RANGE_M", "blocks_from_roads", "draw_heights_m", "grid_blocks", "make_buildings"]

#: DRIVE's building heights (polygonToolbox/add3rdDimension.m): ``rand * 35 + 15``, i.e. U(15, 50) m.
DRIVE_HEIGHT_RANGE_M = (15.0, 50.0)


@dataclass(frozen=True, eq=False)
class Buildings:
    """Footprints ``[B]`` (shapely polygons, metres) and roof heights ``heights_m[B]`` (metres above ground)."""

    footprints: np.ndarray
    heights_m: np.ndarray
    source: str = ""
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.footprints)

    @property
    def tree(self) -> shapely.STRtree:
        """STRtree over the footprints (built once)."""
        if "tree" not in self._cache:
            self._cache["tree"] = shapely.STRtree(self.footprints)
        return self._cache["tree"]

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of all footprints; NaNs when there are none."""
        if len(self) == 0:
            return (math.nan,) * 4
        b = shapely.bounds(self.footprints)
        return float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max())

    def index_at(self, xy) -> np.ndarray:
        """Index of the building whose footprint contains each point ``xy[N, 2]`` (interior or boundary), -1 if
        none (the tallest where footprints overlap)."""
        pts = np.asarray(xy, dtype=float).reshape(-1, 2)
        out = np.full(len(pts), -1, dtype=np.int64)
        if len(self) == 0 or len(pts) == 0:
            return out
        p_idx, b_idx = self.tree.query(shapely.points(pts), predicate="intersects")
        order = np.argsort(self.heights_m[b_idx], kind="stable")  # the tallest written last wins
        out[p_idx[order]] = b_idx[order]
        return out

    def height_at(self, xy) -> np.ndarray:
        """Roof height (m) of the building at each point ``xy[N, 2]``; 0 where there is none."""
        idx = self.index_at(xy)
        return np.where(idx >= 0, self.heights_m[np.maximum(idx, 0)] if len(self) else 0.0, 0.0)

    def coords(self) -> list[np.ndarray]:
        """The outer ring of each footprint as an ``[n, 2]`` array (closed: first point repeated last)."""
        return [np.asarray(shapely.get_coordinates(shapely.get_exterior_ring(p))) for p in self.footprints]

    def convex_parts(self) -> tuple[np.ndarray, np.ndarray]:
        """Convex pieces covering the footprints exactly: (``pieces[K]`` shapely polygons, ``building[K]`` index).
        A convex footprint is its own piece; others are split into constrained Delaunay triangles."""
        if "parts" not in self._cache:
            pieces, owner = [], []
            for i, poly in enumerate(self.footprints):
                hull = shapely.convex_hull(poly)
                if shapely.area(poly) >= shapely.area(hull) * (1.0 - 1e-9):
                    pieces.append(poly)
                    owner.append(i)
                    continue
                tris = shapely.get_parts(shapely.constrained_delaunay_triangles(poly))
                pieces.extend(tris)
                owner.extend([i] * len(tris))
            self._cache["parts"] = (np.asarray(pieces, dtype=object), np.asarray(owner, dtype=np.int64))
        return self._cache["parts"]

    def centres_xy(self, method: str = "drive") -> np.ndarray:
        """``[B, 2]`` a point per building: ``drive`` as DRIVE's ``buildingCentres.m`` (the mean of the incentres of
        the Delaunay triangles of the footprint's vertices), or ``centroid`` (the area centroid)."""
        if method == "centroid":
            return shapely.get_coordinates(shapely.centroid(self.footprints)).reshape(-1, 2)
        if method != "drive":
            raise ValueError(f"method must be 'drive' or 'centroid', got {method!r}")
        out = np.empty((len(self), 2))
        for i, ring in enumerate(self.coords()):
            tris = shapely.get_parts(shapely.delaunay_triangles(shapely.multipoints(np.unique(ring, axis=0))))
            v = shapely.get_coordinates(shapely.get_exterior_ring(tris)).reshape(len(tris), 4, 2)[:, :3]
            a = np.hypot(*(v[:, 1] - v[:, 2]).T)  # side lengths opposite each vertex
            b = np.hypot(*(v[:, 2] - v[:, 0]).T)
            c = np.hypot(*(v[:, 0] - v[:, 1]).T)
            inc = (a[:, None] * v[:, 0] + b[:, None] * v[:, 1] + c[:, None] * v[:, 2]) / (a + b + c)[:, None]
            out[i] = inc.mean(axis=0)
        return out

    def translated(self, dx: float, dy: float) -> Buildings:
        """The same buildings shifted by (dx, dy) metres."""
        moved = shapely.transform(self.footprints, lambda c: c + np.array([dx, dy]))
        return Buildings(moved, self.heights_m, self.source)


def make_buildings(rings, heights_m, *, source: str = "", what: str = "buildings") -> Buildings:
    """Validate and build :class:`Buildings` from outer rings (each ``[n, 2]``, closed or not) and heights.

    Errors name ``what`` and the building: fewer than 3 distinct points, a ring of zero area, a height that is not a
    positive finite number. Self-intersecting rings are repaired (``shapely.make_valid``, largest polygon kept)."""
    heights = np.asarray(heights_m, dtype=float).reshape(-1)
    rings = list(rings)
    if len(rings) != len(heights):
        raise ValueError(f"{what}: {len(rings)} footprints but {len(heights)} heights")
    polys = []
    for i, ring in enumerate(rings):
        pts = np.asarray(ring, dtype=float)
        if pts.ndim != 2 or pts.shape[1] < 2 or not np.isfinite(pts).all():
            raise ValueError(f"{what}: building {i} has malformed or non-finite coordinates")
        pts = pts[:, :2]
        if len(pts) > 1 and np.allclose(pts[0], pts[-1]):
            pts = pts[:-1]
        if len(np.unique(pts, axis=0)) < 3:
            raise ValueError(f"{what}: building {i} has fewer than 3 points ({len(np.unique(pts, axis=0))})")
        h = float(heights[i])
        if not (math.isfinite(h) and h > 0):
            raise ValueError(f"{what}: building {i} has height {h:g} m; heights must be positive")
        poly = shapely.Polygon(pts)
        if not poly.is_valid:
            fixed = shapely.get_parts(shapely.make_valid(poly))
            fixed = [g for g in fixed if isinstance(g, shapely.Polygon)]
            poly = max(fixed, key=lambda g: g.area) if fixed else poly
            poly = shapely.Polygon(shapely.get_exterior_ring(poly))
        if not poly.area > 0:
            raise ValueError(f"{what}: building {i} has a footprint of zero area")
        polys.append(poly)
    arr = np.empty(len(polys), dtype=object)
    arr[:] = polys
    return Buildings(arr, heights, source)


def draw_heights_m(n: int, *, rng: np.random.Generator, height_m=None) -> np.ndarray:
    """``n`` roof heights: ``height_m`` a number (all equal), a (low, high) pair (uniform, seeded), or None (DRIVE's
    U(15, 50) m)."""
    if height_m is None:
        height_m = DRIVE_HEIGHT_RANGE_M
    if np.ndim(height_m) == 0:
        h = float(height_m)
        if not (math.isfinite(h) and h > 0):
            raise ValueError(f"height_m must be a positive number of metres, got {height_m!r}")
        return np.full(n, h)
    lo, hi = (float(v) for v in height_m)
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi):
        raise ValueError(f"height_m must be a pair 0 < low <= high, got {tuple(height_m)!r}")
    return rng.uniform(lo, hi, n)


def grid_blocks(*, rows: int, cols: int, block_length_m: float, setback_m: float = 10.0, split: int = 1,
                height_m=None, rng: np.random.Generator | None = None, seed: int = 0) -> Buildings:
    """The buildings of a ``rows x cols`` grid road network (:func:`twin.mobility.grid_network`, junction ``(r, c)``
    at ``(c L, r L)``): each of the ``(rows - 1) x (cols - 1)`` blocks between four streets holds ``split x split``
    rectangular buildings, kept ``setback_m`` from the street centre lines, with alleys of ``2 setback_m`` between
    them; heights from :func:`draw_heights_m` (``rng``, else ``default_rng(seed)``)."""
    for name, value in (("rows", rows), ("cols", cols), ("split", split)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    block = float(block_length_m)
    setback = float(setback_m)
    if not (math.isfinite(setback) and setback >= 0):
        raise ValueError(f"setback_m must be >= 0, got {setback_m!r}")
    cell = block / split
    if not 2 * setback < cell:
        raise ValueError(f"setback_m: {setback} m leaves no room in {cell:g} m lots (block {block:g} m / {split})")
    rng = rng if rng is not None else np.random.default_rng(seed)
    rings = []
    for r in range(rows - 1):
        for c in range(cols - 1):
            for i in range(split):
                for j in range(split):
                    x0, y0 = c * block + j * cell + setback, r * block + i * cell + setback
                    x1, y1 = c * block + (j + 1) * cell - setback, r * block + (i + 1) * cell - setback
                    rings.append([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
    heights = draw_heights_m(len(rings), rng=rng, height_m=height_m)
    return make_buildings(rings, heights, source=f"grid blocks {rows}x{cols}", what="buildings")


def blocks_from_roads(seg_a_m, seg_b_m, *, setback_m: float = 10.0, split: int = 1, height_m=None,
                      rng: np.random.Generator | None = None, seed: int = 0, min_area_m2: float = 20.0) -> Buildings:
    """Buildings in the blocks of any road network given as segments ``seg_a_m[S, 2] -> seg_b_m[S, 2]``: each
    bounded face of the (noded) road lines, inset by ``setback_m``; with ``split > 1`` the face's bounding box is cut
    into ``split x split`` lots, each inset by ``setback_m`` again (alleys of ``2 setback_m``). On a grid this gives
    :func:`grid_blocks`' buildings. Pieces below ``min_area_m2`` are dropped."""
    if isinstance(split, bool) or not isinstance(split, int) or split < 1:
        raise ValueError(f"split must be an integer >= 1, got {split!r}")
    setback = float(setback_m)
    if not (math.isfinite(setback) and setback >= 0):
        raise ValueError(f"setback_m must be >= 0, got {setback_m!r}")
    rng = rng if rng is not None else np.random.default_rng(seed)
    a, b = np.asarray(seg_a_m, dtype=float), np.asarray(seg_b_m, dtype=float)
    lines = shapely.union_all(shapely.linestrings(np.stack([a, b], axis=1)))  # noded, duplicates merged
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(lines)))
    rings = []
    for face in sorted(faces, key=lambda f: (round(f.centroid.y, 6), round(f.centroid.x, 6))):
        inner = face.buffer(-setback, join_style="mitre") if setback > 0 else face
        if split > 1 and not inner.is_empty:
            x0, y0, x1, y1 = face.bounds
            wx, wy = (x1 - x0) / split, (y1 - y0) / split
            lots = [shapely.box(x0 + j * wx + setback, y0 + i * wy + setback, x0 + (j + 1) * wx - setback,
                                y0 + (i + 1) * wy - setback) for i in range(split) for j in range(split)
                    if wx > 2 * setback and wy > 2 * setback]
            pieces = [inner.intersection(lot) for lot in lots]
        else:
            pieces = [inner]
        for piece in pieces:
            for poly in shapely.get_parts(piece):
                if isinstance(poly, shapely.Polygon) and poly.area >= min_area_m2:
                    rings.append(np.asarray(poly.exterior.coords))
    heights = draw_heights_m(len(rings), rng=rng, height_m=height_m)
    return make_buildings(rings, heights, source="blocks of the road network", what="buildings")
