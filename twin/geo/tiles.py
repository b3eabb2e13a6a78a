"""LOS tiles: per cell, the LOS state of every square tile of the map for a receiver at one antenna height, computed
once at build time (DRIVE's per-tile LOS caching, ``perTileLosNLosCaching.m``), so a mobility step is a lookup.

The shadow of a building seen from an antenna at ``c = (cx, cy, H)`` by receivers at height ``hv`` is exact and
closed-form: a receiver at ``q = c + s (p - c)`` (2D) behind the footprint point ``p`` is blocked by ``p`` iff the
segment's height there, ``H + (hv - H) / s``, is below the roof ``h``, i.e. ``s`` in ``[s_lo, s_hi)`` with
``s_lo = 1`` (or ``(hv - H) / (h - H)`` when ``H < h <= hv``) and ``s_hi = (H - hv) / (H - h)`` (infinite when
``H <= h``). For a convex piece ``P`` of a footprint the union of its homothets ``c + s (P - c)``, ``s`` in
``[s_lo, s_hi]``, is the convex hull of the two extreme copies, so a cell's NLOS region is the union of one convex
hull per convex piece (footprints split by constrained Delaunay triangulation where not convex). The tile's state is
the state of its centre in that region (interior: touching a shadow's edge is LOS, as in :func:`twin.geo.los_exact`).
It equals the exact test at tile centres (up to floating point); elsewhere it differs only within half a tile diagonal
of a shadow's edge. Points outside the tile grid are computed exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely

from .buildings import Buildings
from .los import los_exact

__all__ = ["LosTiles", "shadow_region"]


def _cell_xyz(cell_xyz) -> np.ndarray:
    arr = np.asarray(cell_xyz, dtype=float)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 3 or not np.isfinite(arr).all():
        raise ValueError(f"cell_xyz must be finite with shape [C, 3] (x, y, antenna height), got {arr.shape}")
    return arr


def host_buildings(buildings: Buildings, cell_xyz) -> list[np.ndarray]:
    """Per cell, the buildings whose footprint holds the antenna (interior or boundary). Raises ValueError when the
    antenna is below such a roof (an antenna inside a building); at or above it, it is a rooftop antenna."""
    cells = _cell_xyz(cell_xyz)
    out = [np.empty(0, dtype=np.int64) for _ in range(len(cells))]
    if len(buildings) == 0:
        return out
    c_idx, b_idx = buildings.tree.query(shapely.points(cells[:, :2]), predicate="intersects")
    for c, b in zip(c_idx.tolist(), b_idx.tolist(), strict=True):
        h = float(buildings.heights_m[b])
        if cells[c, 2] < h:
            raise ValueError(f"cell {c}: antenna at {cells[c, 2]:g} m is below the roof ({h:g} m) of building {b} "
                             f"at its position ({cells[c, 0]:g}, {cells[c, 1]:g})")
        out[c] = np.append(out[c], b)
    return out


def shadow_region(buildings: Buildings, cell_xyz, ue_height_m: float, *, far_m: float, max_range_m: float = math.inf,
                  hosts: np.ndarray | None = None):
    """The region (shapely geometry) where a receiver at ``ue_height_m`` has no LOS to the antenna ``cell_xyz[3]``,
    up to ``far_m`` metres from it; buildings farther than ``max_range_m`` and ``hosts`` (rooftop) are ignored."""
    c = _cell_xyz(cell_xyz)[0]
    H, hv = float(c[2]), float(ue_height_m)
    if hosts is None:
        hosts = host_buildings(buildings, c)[0]
    pieces, owner = buildings.convex_parts()
    if len(pieces) == 0:
        return shapely.Polygon()
    h = buildings.heights_m[owner]
    keep = ~np.isin(owner, hosts) & ((hv < h) | (H < h))
    d = shapely.distance(shapely.Point(c[0], c[1]), pieces)
    keep &= (d <= max_range_m) & (d > 0)
    pieces, h, d = pieces[keep], h[keep], d[keep]
    if len(pieces) == 0:
        return shapely.Polygon()
    with np.errstate(divide="ignore", invalid="ignore"):
        s_lo = np.where(hv < h, 1.0, (hv - H) / (h - H))
        s_hi = np.where(H > h, (H - hv) / (H - h), np.inf)
    s_hi = np.minimum(s_hi, far_m / d)  # the shadow is cut at far_m from the antenna
    ok = s_hi > s_lo
    pieces, s_lo, s_hi = pieces[ok], s_lo[ok], s_hi[ok]
    if len(pieces) == 0:
        return shapely.Polygon()
    xy, idx = shapely.get_coordinates(pieces, return_index=True)
    rel = xy - c[:2]
    near, far = c[:2] + rel * s_lo[idx, None], c[:2] + rel * s_hi[idx, None]
    both = np.stack([near, far], axis=1).reshape(-1, 2)  # near and far copies of each vertex, grouped by piece
    hulls = shapely.convex_hull(shapely.multipoints(both, indices=np.repeat(idx, 2)))
    return _union_near_first(hulls[np.argsort(d[ok], kind="stable")])


def _union_near_first(hulls: np.ndarray, first: int = 256, batch: int = 1024):
    """The union of ``hulls`` sorted nearest first: the near shadows are united first, and the far ones that already
    lie inside that union (hidden behind nearer buildings: most of them in a dense city) are dropped before they
    join (the same region, about twice as fast as one ``union_all`` on 3,000 buildings)."""
    union = shapely.union_all(hulls[:first])
    rest = hulls[first:]
    while len(rest):
        shapely.prepare(union)
        rest = rest[~shapely.contains(union, rest)]
        union = shapely.union_all(np.append(rest[:batch], union))
        rest = rest[batch:]
    return union


_SUB = 8  # sub-tiles per side of a tile crossed by a shadow's edge (one bit each, 64 per tile)
_LOS, _NLOS = -2, -1  # table codes of uniform tiles; >= 0 indexes the sub-tile bits of a mixed tile
_WEIGHTS = (np.uint64(1) << np.arange(_SUB * _SUB, dtype=np.uint64))


@dataclass(frozen=True, eq=False)
class LosTiles:
    """LOS per (cell, tile) for receivers at ``ue_height_m`` over tiles of ``tile_m`` metres whose lower-left corner is
    ``origin``. ``table[ny * nx, C]`` (int32, tile-major so a lookup gathers whole rows): ``-2`` the whole tile is
    LOS, ``-1`` NLOS, ``k >= 0`` a shadow's edge crosses the tile and ``bits[k]`` (uint64) holds the state of its
    8 x 8 sub-tiles (bit ``8 j + i``, sub-tile column i, row j); ``crossed[ny * nx]``: some cell's edge crosses the
    tile. ``los[C, ny, nx]``: the state at each tile's centre. Build with :meth:`build`; :meth:`lookup` gives
    ``bool[V, C]``."""

    table: np.ndarray
    bits: np.ndarray
    crossed: np.ndarray
    los: np.ndarray
    origin: tuple[float, float]
    tile_m: float
    cell_xyz: np.ndarray
    ue_height_m: float
    buildings: Buildings

    @classmethod
    def build(cls, buildings: Buildings, cell_xyz, *, ue_height_m: float = 1.5, tile_m: float = 10.0,
              bounds=None, max_range_m: float = math.inf) -> LosTiles:
        """Tiles covering ``bounds`` (xmin, ymin, xmax, ymax; default: the buildings' bounds plus one tile) for every
        cell of ``cell_xyz[C, 3]``; tiles farther than ``max_range_m`` from a cell are left NLOS (unusable anyway)."""
        cells = _cell_xyz(cell_xyz)
        tile = float(tile_m)
        if not (math.isfinite(tile) and tile > 0):
            raise ValueError(f"tile_m must be a positive number of metres, got {tile_m!r}")
        hv = float(ue_height_m)
        if not (math.isfinite(hv) and hv >= 0):
            raise ValueError(f"ue_height_m must be >= 0, got {ue_height_m!r}")
        if bounds is None:
            bounds = buildings.bounds if len(buildings) else (0.0, 0.0, tile, tile)
            bounds = (bounds[0] - tile, bounds[1] - tile, bounds[2] + tile, bounds[3] + tile)
        x0, y0, x1, y1 = (float(v) for v in bounds)
        if not (x1 > x0 and y1 > y0):
            raise ValueError(f"bounds must be (xmin, ymin, xmax, ymax) with xmax > xmin and ymax > ymin, got {bounds}")
        nx, ny = max(1, math.ceil((x1 - x0) / tile)), max(1, math.ceil((y1 - y0) / tile))
        gx, gy = np.meshgrid(x0 + (np.arange(nx) + 0.5) * tile, y0 + (np.arange(ny) + 0.5) * tile)
        gx, gy = gx.ravel(), gy.ravel()
        boxes = shapely.box(gx - tile / 2, gy - tile / 2, gx + tile / 2, gy + tile / 2)
        box_tree = shapely.STRtree(boxes)
        sub = (np.arange(_SUB) + 0.5) * tile / _SUB - tile / 2
        sx, sy = np.meshgrid(sub, sub)  # sub-tile centres relative to the tile centre, bit 8 j + i at [j, i]
        corners = np.array([[x0, y0], [x0 + nx * tile, y0], [x0, y0 + ny * tile], [x0 + nx * tile, y0 + ny * tile]])
        hosts = host_buildings(buildings, cells)
        table = np.full((len(cells), nx * ny), _LOS, dtype=np.int32)
        centre = np.ones((len(cells), nx * ny), dtype=bool)
        bits: list[np.ndarray] = []
        n_bits = 0
        for k, c in enumerate(cells):
            far = float(np.hypot(*(corners - c[:2]).T).max()) + tile
            region = shadow_region(buildings, c, hv, far_m=far, max_range_m=max_range_m, hosts=hosts[k])
            inside_host = [buildings.footprints[b] for b in hosts[k] if hv < buildings.heights_m[b]]
            if inside_host:  # receivers inside the antenna's own building, below its roof
                region = shapely.union_all([region, *inside_host])
            if math.isfinite(max_range_m):  # beyond the range: NLOS (the cell is unusable there anyway)
                disc = shapely.Point(c[0], c[1]).buffer(max_range_m, quad_segs=32)
                region = shapely.union(region, shapely.box(*corners.min(0) - tile, *corners.max(0) + tile).difference(
                    disc))
            if region.is_empty:
                continue
            shapely.prepare(region)
            nlos = shapely.contains_xy(region, gx, gy)
            centre[k] = ~nlos
            table[k] = np.where(nlos, _NLOS, _LOS)
            mixed = _crossed_tiles(region, box_tree)
            if mixed.size:
                px = (gx[mixed, None, None] + sx).reshape(-1)
                py = (gy[mixed, None, None] + sy).reshape(-1)
                los_sub = ~shapely.contains_xy(region, px, py).reshape(len(mixed), _SUB * _SUB)
                bits.append((los_sub.astype(np.uint64) * _WEIGHTS).sum(axis=1, dtype=np.uint64))
                table[k, mixed] = n_bits + np.arange(len(mixed), dtype=np.int32)
                n_bits += len(mixed)
        packed = np.concatenate(bits) if bits else np.zeros(0, dtype=np.uint64)
        crossed = (table >= 0).any(axis=0)
        return cls(np.ascontiguousarray(table.T), packed, crossed, centre.reshape(len(cells), ny, nx), (x0, y0), tile,
                   cells, hv, buildings)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(cells, tile rows, tile columns)."""
        return self.los.shape

    @property
    def nbytes(self) -> int:
        return int(self.table.nbytes + self.bits.nbytes + self.crossed.nbytes + self.los.nbytes)

    @property
    def mixed_fraction(self) -> float:
        """Share of (cell, tile) entries crossed by a shadow's edge (stored as 8 x 8 sub-tiles)."""
        return float(len(self.bits) / max(self.table.size, 1))

    def tile_index(self, xy) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(flat tile index, sub-tile bit, inside-grid mask) of each point ``xy[V, 2]``."""
        pts = np.asarray(xy, dtype=float).reshape(-1, 2)
        _, ny, nx = self.los.shape
        fx = (pts[:, 0] - self.origin[0]) / self.tile_m
        fy = (pts[:, 1] - self.origin[1]) / self.tile_m
        ix, iy = np.floor(fx), np.floor(fy)
        inside = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
        flat = np.where(inside, iy * nx + ix, 0).astype(np.int64)
        si = np.clip(np.floor((fx - ix) * _SUB), 0, _SUB - 1)
        sj = np.clip(np.floor((fy - iy) * _SUB), 0, _SUB - 1)
        bit = np.where(inside, sj * _SUB + si, 0).astype(np.uint64)
        return flat, bit, inside

    def lookup(self, xy, cells=None) -> np.ndarray:
        """``bool[V, C]`` LOS of receivers at ``xy[V, 2]`` (height ``ue_height_m``) to every cell (or to ``cells``, an
        index array). Points outside the grid get the exact test."""
        flat, bit, inside = self.tile_index(xy)
        n_cells = self.table.shape[1]
        cols = np.arange(n_cells) if cells is None else np.asarray(cells, dtype=np.int64)
        state = self.table[flat] if cells is None else self.table[flat][:, cols]  # [V, C]: whole rows gathered
        out = state == _LOS
        idx = np.flatnonzero(state >= 0)  # links in a tile that a shadow edge crosses (1D: 2-D nonzero is slow)
        if idx.size:
            v = idx // state.shape[1]
            out.ravel()[idx] = ((self.bits[state.ravel()[idx]] >> bit[v]) & np.uint64(1)).astype(bool)
        if not inside.all():
            pts = np.asarray(xy, dtype=float).reshape(-1, 2)[~inside]
            rx = np.column_stack([pts, np.full(len(pts), self.ue_height_m)])
            for j, k in enumerate(cols):
                out[~inside, j] = los_exact(self.cell_xyz[k], rx, self.buildings)
        return out


def _crossed_tiles(region, box_tree: shapely.STRtree) -> np.ndarray:
    """Indices of the tiles (boxes of ``box_tree``) that the boundary of ``region`` crosses."""
    rings = shapely.get_rings(shapely.get_parts(region))
    xy, idx = shapely.get_coordinates(rings, return_index=True)
    if len(xy) < 2:
        return np.empty(0, dtype=np.int64)
    same = idx[1:] == idx[:-1]
    segs = shapely.linestrings(np.stack([xy[:-1][same], xy[1:][same]], axis=1))
    _, tiles = box_tree.query(segs, predicate="intersects")
    return np.unique(tiles)
