"""Exact line of sight between antennas through extruded building footprints (vectorised, shapely 2 + STRtree).

A link is LOS when the 3D segment between the antennas passes through no building below its roof: no point of the
segment lies in the interior of a footprint (2D) at a height below that building's roof. Touching a wall or a corner,
running along a wall, or grazing a roof edge (height equal to the roof) is LOS: only the open interior blocks.

An antenna standing on a roof (inside a footprint, at or above its roof height) does not see that building as an
obstacle: it stands on a mast at the roof's edge (DRIVE's rooftop LTE), unless the other end is inside that building.
An endpoint strictly inside a footprint below its roof is inside the building: blocked.

Method, per candidate (segment, building) pair of the STRtree (2D intersection): the height along the segment is
linear, so the part of it below the roof ``h`` is one sub-segment ``[t0, t1]`` of parameters; the pair blocks iff that
2D sub-segment meets the footprint's interior (DE-9IM ``T********``).
"""

from __future__ import annotations

import numpy as np
import shapely

from .buildings import Buildings

__all__ = ["los_exact", "blocking_building"]


def _xyz(name: str, value) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"{name} must have shape [N, 3] (x, y, z in metres), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} holds non-finite coordinates")
    return arr


def _blocked_pairs(tx: np.ndarray, rx: np.ndarray, buildings: Buildings) -> tuple[np.ndarray, np.ndarray]:
    """(segment, building) index pairs where the building blocks the segment."""
    empty = np.empty(0, dtype=np.int64)
    if len(buildings) == 0 or len(tx) == 0:
        return empty, empty
    seg2d = np.stack([tx[:, :2], rx[:, :2]], axis=1)  # [N, 2, 2]
    flat = np.all(tx[:, :2] == rx[:, :2], axis=1)  # vertical segments: a point in 2D
    geoms = np.where(flat, shapely.points(tx[:, :2]), shapely.linestrings(seg2d))
    s, b = buildings.tree.query(geoms, predicate="intersects")
    if s.size == 0:
        return empty, empty
    polys, h = buildings.footprints[b], buildings.heights_m[b]
    a, c = tx[s], rx[s]
    # a rooftop antenna (inside or on the footprint, at or above the roof) ignores that building
    # (unless the other end is inside that building, below its roof)
    in_a = shapely.contains_xy(polys, a[:, 0], a[:, 1]) & (a[:, 2] < h)
    in_c = shapely.contains_xy(polys, c[:, 0], c[:, 1]) & (c[:, 2] < h)
    on_roof = (shapely.intersects_xy(polys, a[:, 0], a[:, 1]) & (a[:, 2] >= h) & ~in_c) | (
        shapely.intersects_xy(polys, c[:, 0], c[:, 1]) & (c[:, 2] >= h) & ~in_a)
    dz = c[:, 2] - a[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        t_star = (h - a[:, 2]) / dz
    t0 = np.where(dz < 0, np.clip(t_star, 0.0, 1.0), 0.0)
    t1 = np.where(dz > 0, np.clip(t_star, 0.0, 1.0), 1.0)
    level = dz == 0
    below = np.where(level, a[:, 2] < h, t1 > t0)  # some part of the segment is below the roof
    out = np.zeros(s.size, dtype=bool)
    vertical = flat[s]
    pick = below & ~on_roof & vertical
    if pick.any():  # a vertical segment below the roof: blocked when strictly inside the footprint
        out[pick] = shapely.contains_xy(polys[pick], a[pick, 0], a[pick, 1])
    pick = below & ~on_roof & ~vertical
    if pick.any():
        p0 = a[pick, :2] + (c[pick, :2] - a[pick, :2]) * t0[pick, None]
        p1 = a[pick, :2] + (c[pick, :2] - a[pick, :2]) * t1[pick, None]
        sub = shapely.linestrings(np.stack([p0, p1], axis=1))
        out[pick] = shapely.relate_pattern(sub, polys[pick], "T********")
    return s[out], b[out]


def los_exact(tx_xyz, rx_xyz, buildings: Buildings) -> np.ndarray:
    """``bool[N]``: True where the segment ``tx_xyz[i] -> rx_xyz[i]`` (each ``[N, 3]``, metres) is line of sight
    through ``buildings``. ``tx_xyz`` may be a single ``[3]`` point (broadcast to every receiver)."""
    tx, rx = _xyz("tx_xyz", tx_xyz), _xyz("rx_xyz", rx_xyz)
    if len(tx) == 1 and len(rx) != 1:
        tx = np.broadcast_to(tx, rx.shape)
    if tx.shape != rx.shape:
        raise ValueError(f"tx_xyz {tx.shape} and rx_xyz {rx.shape} must have the same shape")
    s, _ = _blocked_pairs(tx, rx, buildings)
    out = np.ones(len(tx), dtype=bool)
    out[s] = False
    return out


def blocking_building(tx_xyz, rx_xyz, buildings: Buildings) -> np.ndarray:
    """``int[N]``: the index of one building blocking each segment (the tallest), -1 where LOS."""
    tx, rx = _xyz("tx_xyz", tx_xyz), _xyz("rx_xyz", rx_xyz)
    if len(tx) == 1 and len(rx) != 1:
        tx = np.broadcast_to(tx, rx.shape)
    s, b = _blocked_pairs(tx, rx, buildings)
    out = np.full(len(tx), -1, dtype=np.int64)
    order = np.argsort(buildings.heights_m[b], kind="stable") if b.size else b
    out[s[order]] = b[order]
    return out
