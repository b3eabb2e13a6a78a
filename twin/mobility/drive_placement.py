"""DRIVE's small-cell placement, ported from its MATLAB: candidates (``sumoFemtoPositions.m``,
``addLamppostPositions.m``), tiles (``smallerAreasSquares.m``), the greedy choice (``RSUs/greedyAddition.m``) and the
random one (``RSUs/randomChosen.m``).

Pure numpy: line of sight comes from the caller as ``los_of(tx_xyz[N, 3], rx_xyz[N, 3]) -> bool[N]`` (the build passes
the exact 3D test through the scenario's buildings, :func:`twin.geo.los_exact`), so this module needs no geometry
package.

- Candidates: every junction (DRIVE: the lane ends on the junction polygons; one point per junction here) and, on every
  road segment longer than ``spacing_m`` (DRIVE's ``femtoDistanceThreshold``, 100 m), ONE lamppost at
  ``d / ceil(d / spacing_m)`` from the segment's start: addLamppostPositions.m computes ``times - 1`` points but all
  at that same first position (its loop never multiplies by ``k``), so one candidate per segment (a street's two
  directions share it). Candidates outside the map's bounding box are dropped; each gets an antenna height
  ``randi(height_m)`` (DRIVE's mmWave ``height = [5 15]``).
- Tiles: squares of ``tile_m`` (DRIVE's ``map.tileSize``, 16 m) centred on the middle of the map's bounding box, at
  ground level; a candidate covers the tiles within ``max_range_m`` in 3D (``pdist2(..., 'Radius', maxTXDistance)``,
  inclusive), LOS or NLOS.
- Greedy (greedyAddition.m, exactly): candidates within ``border_m`` (300 m) of the bounding box are excluded from the
  search (but the first pick ignores it); the first pick is the candidate with the most LOS tiles; the goal is
  ``ceil((1 - tolerance) x`` the LOS tiles of all candidates``)`` tiles covered (LOS or NLOS, ``tolerance`` DRIVE's
  ``toleranceParam`` 0.1); then repeatedly the remaining candidate with the most tiles in range (by its own total, not
  by what it adds) is tried and kept when the covered count exceeds the previous one (the first comparison is against
  the first pick's LOS count, as in DRIVE); it stops at the goal, or when nothing is left (DRIVE's test: the last two
  discarded picks are both the first candidate, which ``max`` returns once every row is zero).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .network import RoadNetwork

__all__ = ["DriveGreedyResult", "LosFn", "drive_candidates", "drive_greedy", "drive_random", "drive_tiles"]

#: ``los_of(tx_xyz[N, 3], rx_xyz[N, 3]) -> bool[N]``: line of sight between antenna pairs.
LosFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def drive_candidates(network: RoadNetwork, *, spacing_m: float = 100.0) -> np.ndarray:
    """Candidate positions [K, 2]: the junctions, then one lamppost per road segment longer than ``spacing_m``."""
    if not spacing_m > 0:
        raise ValueError(f"spacing_m must be > 0, got {spacing_m}")
    junctions = network.junction_xy_m(1)
    a, b = network.seg_a_m, network.seg_b_m
    seen, posts = set(), []
    for p, q in zip(a.tolist(), b.tolist(), strict=True):
        key = tuple(sorted((tuple(np.round(p, 6)), tuple(np.round(q, 6)))))
        if key in seen:  # the other direction of the same street segment
            continue
        seen.add(key)
        d = math.dist(p, q)
        if d > spacing_m:
            step = d / math.ceil(d / spacing_m)
            angle = math.atan2(q[1] - p[1], q[0] - p[0])
            posts.append((p[0] + step * math.cos(angle), p[1] + step * math.sin(angle)))
    xy = np.vstack([junctions, np.asarray(posts, dtype=float).reshape(-1, 2)])
    xmin, ymin, xmax, ymax = network.bbox_m
    inside = (xy[:, 0] >= xmin) & (xy[:, 0] <= xmax) & (xy[:, 1] >= ymin) & (xy[:, 1] <= ymax)
    return xy[inside]


def _axis(lo: float, hi: float, tile: float) -> np.ndarray:
    """smallerAreasSquares.m along one axis: tile edges centred on the middle of [lo, hi]."""
    centre, times = (lo + hi) / 2, math.ceil((hi - lo) / tile)
    if times % 2:
        k = np.arange(1, times // 2 + 1)
        edges = np.concatenate([centre - k * tile, [centre], centre + k * tile])
    else:
        k = np.arange(0, times // 2)
        edges = np.concatenate([centre - k * tile - tile / 2, centre + k * tile + tile / 2])
    return np.sort(edges)


def drive_tiles(bbox_m, tile_m: float = 16.0) -> np.ndarray:
    """Tile centres [T, 2] of DRIVE's square tiles over ``bbox_m`` (xmin, ymin, xmax, ymax)."""
    if not tile_m > 0:
        raise ValueError(f"tile_m must be > 0, got {tile_m}")
    xmin, ymin, xmax, ymax = bbox_m
    ex, ey = _axis(xmin, xmax, tile_m), _axis(ymin, ymax, tile_m)
    cx, cy = (ex[:-1] + ex[1:]) / 2, (ey[:-1] + ey[1:]) / 2
    gx, gy = np.meshgrid(cx, cy, indexing="ij")
    return np.column_stack([gx.ravel(), gy.ravel()])


@dataclass(frozen=True)
class DriveGreedyResult:
    """The chosen candidates (indices, in the order picked), the tiles they cover (LOS or NLOS), the goal and the LOS
    tiles of all candidates, and whether the goal was reached."""

    chosen: np.ndarray
    covered: int
    goal: int
    los_reachable: int
    reached: bool


def drive_greedy(los: np.ndarray, reach: np.ndarray, candidates_xy: np.ndarray, bbox_m, *, tolerance: float = 0.1,
                 border_m: float = 300.0) -> DriveGreedyResult:
    """greedyAddition.m on ``los`` / ``reach`` [K, T] (LOS tiles within range / all tiles within range)."""
    los, reach = np.asarray(los, dtype=bool), np.asarray(reach, dtype=bool)
    k = len(los)
    if k == 0:
        raise ValueError("no candidate positions")
    xy = np.asarray(candidates_xy, dtype=float)
    xmin, ymin, xmax, ymax = bbox_m
    border = ((xy[:, 0] < xmin + border_m) | (xy[:, 0] > xmax - border_m)
              | (xy[:, 1] < ymin + border_m) | (xy[:, 1] > ymax - border_m))
    los = los & reach
    n_los = los.sum(axis=1)
    first = int(np.argmax(n_los))  # [~, maxIndex] = max(cellfun('length', losIDs))
    los_reachable = int(los.any(axis=0).sum())
    goal = math.ceil((1 - tolerance) * los_reachable)
    chosen = [first]
    covered = int(reach[first].sum())
    previous = int(n_los[first])  # tmpLosNumber = tilesCovered.losNumber
    tiles = reach.astype(np.int64)
    discarded = np.flatnonzero(border).tolist()
    union = reach[first].copy()
    while covered < goal:
        tiles[chosen + discarded] = 0
        if len(discarded) >= 2 and discarded[-1] == 0 and discarded[-2] == 0:
            break  # nothing left (DRIVE: "Maximum value will not achieved")
        jj = int(np.argmax(tiles.sum(axis=1)))
        trial = union | reach[jj]
        total = int(trial.sum())
        if total <= previous:
            discarded.append(jj)
        else:
            chosen.append(jj)
            union = trial
        previous = total
        covered = total
    return DriveGreedyResult(np.asarray(chosen, dtype=np.int64), int(union.sum()), goal, los_reachable,
                             int(union.sum()) >= goal)


def drive_random(n_candidates: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """randomChosen.m: ``randsample(noOfBSs, min(count, noOfBSs))`` candidate indices."""
    return np.sort(rng.choice(n_candidates, size=min(int(count), int(n_candidates)), replace=False)).astype(np.int64)


def coverage_matrices(candidates_xyz: np.ndarray, tiles_xy: np.ndarray, max_range_m: float,
                      los_of: LosFn) -> tuple[np.ndarray, np.ndarray]:
    """``(los, reach)`` [K, T]: tiles (at ground level) within ``max_range_m`` of each candidate in 3D, and those of
    them in line of sight (``los_of`` evaluated on the pairs in range only)."""
    c = np.asarray(candidates_xyz, dtype=float)
    t = np.column_stack([tiles_xy, np.zeros(len(tiles_xy))])
    d3 = np.sqrt(((c[:, None, :] - t[None, :, :]) ** 2).sum(axis=-1))
    reach = d3 <= max_range_m
    ci, ti = np.nonzero(reach)
    los = np.zeros_like(reach)
    if ci.size:
        los[ci, ti] = np.asarray(los_of(c[ci], t[ti]), dtype=bool)
    return los, reach
