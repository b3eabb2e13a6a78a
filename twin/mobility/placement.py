"""Base-station placement: hexagonal macro grid, explicit sites, small-cell candidates on roads, DRIVE's greedy choice.

Every function returns :class:`Sites` (``xy_m`` [n, 2] metres, ``kind`` [n] labels such as ``macro`` / ``small``).
"""

from __future__ import annotations

import heapq
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .drive_placement import LosFn, coverage_matrices, drive_candidates, drive_greedy, drive_random, drive_tiles
from .network import RoadNetwork

__all__ = [
    "Sites",
    "CoversFn",
    "hex_grid",
    "explicit_sites",
    "small_cell_candidates",
    "distance_covers",
    "canyon_los_covers",
    "GreedyPlacement",
    "greedy_small_cells",
]

#: ``covers(candidate_xy [2], points_xy [P, 2]) -> bool [P]``: which points a site at ``candidate_xy`` serves.
CoversFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Sites:
    """Base-station sites: ``xy_m`` [n, 2] (metres), ``kind`` [n] (str labels) and optionally antenna heights
    ``h_m`` [n] (metres; NaN or None: the tier's preset height)."""

    xy_m: np.ndarray
    kind: np.ndarray
    h_m: np.ndarray | None = None

    def __post_init__(self) -> None:
        xy = np.asarray(self.xy_m, dtype=float).reshape(-1, 2) if np.size(self.xy_m) else np.zeros((0, 2))
        kind = np.asarray(self.kind, dtype=object).reshape(-1)
        if len(kind) != len(xy):
            raise ValueError(f"Sites: {len(xy)} coordinates but {len(kind)} kind labels")
        if not np.all(np.isfinite(xy)):
            raise ValueError("Sites: coordinates must be finite")
        h = np.full(len(xy), np.nan) if self.h_m is None else np.asarray(self.h_m, dtype=float).reshape(-1)
        if len(h) != len(xy):
            raise ValueError(f"Sites: {len(xy)} coordinates but {len(h)} heights")
        object.__setattr__(self, "xy_m", xy)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "h_m", h)

    def __len__(self) -> int:
        return len(self.xy_m)

    def __add__(self, other: Sites) -> Sites:
        return Sites(np.vstack([self.xy_m, other.xy_m]), np.concatenate([self.kind, other.kind]),
                     np.concatenate([self.h_m, other.h_m]))

    def of_kind(self, kind: str) -> Sites:
        mask = self.kind == kind
        return Sites(self.xy_m[mask], self.kind[mask], self.h_m[mask])


def _bbox(bbox_m: Sequence[float]) -> tuple[float, float, float, float]:
    try:
        xmin, ymin, xmax, ymax = (float(v) for v in bbox_m)
    except (TypeError, ValueError):
        raise ValueError(f"bbox_m must be (xmin, ymin, xmax, ymax), got {bbox_m!r}") from None
    if not all(math.isfinite(v) for v in (xmin, ymin, xmax, ymax)) or xmax < xmin or ymax < ymin:
        raise ValueError(f"bbox_m must be finite with xmin <= xmax and ymin <= ymax, got {bbox_m!r}")
    return xmin, ymin, xmax, ymax


def hex_grid(bbox_m: Sequence[float], isd_m: float, *, margin_m: float = 0.0, kind: str = "macro") -> Sites:
    """Sites of a hexagonal lattice with inter-site distance ``isd_m``, centred on the box, inside it (+ ``margin_m``).

    Rows are ``isd_m * sqrt(3) / 2`` apart, every other row shifted by ``isd_m / 2``, so each site's nearest
    neighbours are exactly ``isd_m`` away. The site at the box centre is always included.
    ``bbox_m`` is ``(xmin, ymin, xmax, ymax)``, e.g. :attr:`RoadNetwork.bbox_m`.
    """
    if not (isinstance(isd_m, (int, float)) and math.isfinite(isd_m) and isd_m > 0):
        raise ValueError(f"isd_m must be > 0, got {isd_m!r}")
    if not (isinstance(margin_m, (int, float)) and math.isfinite(margin_m) and margin_m >= 0):
        raise ValueError(f"margin_m must be >= 0, got {margin_m!r}")
    xmin, ymin, xmax, ymax = _bbox(bbox_m)
    xmin, ymin, xmax, ymax = xmin - margin_m, ymin - margin_m, xmax + margin_m, ymax + margin_m
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    dy = isd_m * math.sqrt(3) / 2
    eps = 1e-9 * max(1.0, isd_m)
    nr = int(math.floor((ymax - cy) / dy + 1e-9))
    nc = int(math.floor((xmax - cx) / isd_m + 1e-9)) + 1
    pts = []
    for r in range(-nr, nr + 1):
        shift = isd_m / 2 if r % 2 else 0.0
        for c in range(-nc, nc + 1):
            x, y = cx + c * isd_m + shift, cy + r * dy
            if xmin - eps <= x <= xmax + eps and ymin - eps <= y <= ymax + eps:
                pts.append((x, y))
    xy = np.array(pts, dtype=float).reshape(-1, 2)
    return Sites(xy, np.full(len(xy), kind, dtype=object))


def explicit_sites(xy_m: Sequence[Sequence[float]] | np.ndarray, *, kind: str | Sequence[str] = "macro") -> Sites:
    """Sites at given coordinates [n, 2]; ``kind`` is one label for all or one per site."""
    xy = np.asarray(xy_m, dtype=float)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"xy_m must have shape [n, 2], got {xy.shape}")
    kinds = np.full(len(xy), kind, dtype=object) if isinstance(kind, str) else np.asarray(list(kind), dtype=object)
    return Sites(xy, kinds)


def small_cell_candidates(
    network: RoadNetwork,
    *,
    at_junctions: bool = True,
    every_m: float | None = 100.0,
    min_degree: int = 1,
    kind: str = "small",
) -> Sites:
    """Candidate small-cell sites: junctions (nodes with >= ``min_degree`` roads) and points along every road at
    most ``every_m`` apart (``None``: none), as DRIVE does before its greedy choice."""
    parts = []
    if at_junctions:
        parts.append(network.junction_xy_m(min_degree))
    if every_m is not None:
        parts.append(network.sample_points(every_m, include_nodes=False))
    if not parts:
        raise ValueError("small_cell_candidates: at_junctions is False and every_m is None, so there are no candidates")
    xy = np.vstack(parts)
    return Sites(xy, np.full(len(xy), kind, dtype=object))


def distance_covers(max_range_m: float) -> CoversFn:
    """``covers`` that accepts every point within ``max_range_m`` of the site."""

    def covers(candidate_xy: np.ndarray, points_xy: np.ndarray) -> np.ndarray:
        return np.hypot(*(np.asarray(points_xy) - np.asarray(candidate_xy)).T) <= max_range_m

    return covers


def canyon_los_covers(
    network: RoadNetwork, *, max_range_m: float, street_width_m: float = 20.0, step_m: float = 5.0
) -> CoversFn:
    """Line of sight in an urban canyon: everything off the roads is a building.

    A point is covered when it is within ``max_range_m`` and the straight line from the site stays within
    ``street_width_m / 2`` of some road (checked every ``step_m`` metres). On a grid this means "same street".
    """
    half = street_width_m / 2

    def covers(candidate_xy: np.ndarray, points_xy: np.ndarray) -> np.ndarray:
        c = np.asarray(candidate_xy, dtype=float)
        pts = np.asarray(points_xy, dtype=float).reshape(-1, 2)
        d = np.hypot(*(pts - c).T)
        ok = d <= max_range_m
        idx = np.flatnonzero(ok)
        if len(idx) == 0:
            return ok
        k = max(2, int(math.ceil(float(d[idx].max()) / step_m)) + 1)
        t = np.linspace(0.0, 1.0, k)
        probes = c + t[None, :, None] * (pts[idx] - c)[:, None, :]  # [m, k, 2]
        near = network.distance_to_road_m(probes.reshape(-1, 2), within_m=half).reshape(len(idx), k) <= half
        ok[idx] = near.all(axis=1)
        return ok

    return covers


@dataclass(frozen=True)
class GreedyPlacement:
    """Result of :func:`greedy_small_cells`.

    ``sites``: the chosen sites in pick order; ``chosen``: their candidate indices; ``gains``: points each pick added;
    ``covered``: [P] bool per road point; ``coverage_fraction``: covered share; ``reached``: target met.
    """

    sites: Sites
    chosen: np.ndarray
    gains: np.ndarray
    covered: np.ndarray
    coverage_fraction: float
    reached: bool


def greedy_small_cells(
    candidates: Sites | np.ndarray,
    points_xy: np.ndarray,
    *,
    target_fraction: float = 0.9,
    max_range_m: float = 200.0,
    covers: CoversFn | None = None,
    max_cells: int | None = None,
    strict: bool = True,
    count: int | None = None,
) -> GreedyPlacement:
    """DRIVE's greedy small-cell choice: pick the candidate covering the most uncovered road points, repeat until
    ``target_fraction`` of ``points_xy`` is covered (lazy greedy; ties go to the lower candidate index).

    ``count``: exactly that many cells instead: the same picks, going on past ``target_fraction`` (ignored) until
    there are ``count``; ValueError when fewer candidates add coverage (every point covered, or no candidate left).

    ``covers(candidate_xy, points_xy) -> bool mask`` decides coverage (default: distance <= ``max_range_m``); it is
    only asked about points within ``max_range_m`` (pass ``math.inf`` to disable that pre-filter).
    With ``strict`` an unreachable target raises ValueError; otherwise a warning is issued and the best cover returned.
    """
    cand = candidates if isinstance(candidates, Sites) else explicit_sites(candidates, kind="small")
    pts = np.asarray(points_xy, dtype=float)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0:
        raise ValueError(f"points_xy must have shape [P >= 1, 2], got {pts.shape}")
    if len(cand) == 0:
        raise ValueError("candidates: no candidate sites")
    if not (0 < target_fraction <= 1):
        raise ValueError(f"target_fraction must be in (0, 1], got {target_fraction!r}")
    if not max_range_m > 0:
        raise ValueError(f"max_range_m must be > 0, got {max_range_m!r}")
    if max_cells is not None and max_cells < 1:
        raise ValueError(f"max_cells must be >= 1, got {max_cells!r}")
    if count is not None and (count < 1 or max_cells is not None):
        raise ValueError(f"count must be >= 1 and without max_cells, got count={count!r}, max_cells={max_cells!r}")
    fn = covers if covers is not None else distance_covers(max_range_m)

    covered_by: list[np.ndarray] = []
    for i, c in enumerate(cand.xy_m):
        near = np.flatnonzero(np.hypot(*(pts - c).T) <= max_range_m)
        mask = np.asarray(fn(c, pts[near]), dtype=bool) if len(near) else np.zeros(0, dtype=bool)
        if mask.shape != near.shape:
            raise ValueError(f"covers returned shape {mask.shape} for candidate {i}, expected {near.shape}")
        covered_by.append(near[mask])

    need = math.ceil(target_fraction * len(pts) - 1e-9) if count is None else len(pts)
    covered = np.zeros(len(pts), dtype=bool)
    n_cov = 0
    heap = [(-len(s), i) for i, s in enumerate(covered_by)]
    heapq.heapify(heap)
    chosen: list[int] = []
    gains: list[int] = []
    limit = len(cand) if max_cells is None and count is None else min(max_cells or count, len(cand))
    while n_cov < need and heap and len(chosen) < limit:
        neg, i = heapq.heappop(heap)
        gain = int(np.count_nonzero(~covered[covered_by[i]]))
        if gain == 0:
            continue
        if gain < -neg and heap and (-gain, i) > heap[0]:  # stale bound: re-queue with the fresh gain
            heapq.heappush(heap, (-gain, i))
            continue
        covered[covered_by[i]] = True
        n_cov += gain
        chosen.append(i)
        gains.append(gain)
    frac = n_cov / len(pts)
    if count is not None and len(chosen) < count:
        raise ValueError(f"greedy_small_cells: only {len(chosen)} of the {len(cand)} candidates add coverage "
                         f"({frac:.1%} of the road points covered), fewer than count={count}; lower count or add "
                         f"candidates (every_m)")
    reached = n_cov >= need if count is None else True
    if not reached:
        msg = (
            f"greedy_small_cells: reached {frac:.1%} coverage with {len(chosen)} cells, below target_fraction="
            f"{target_fraction}; add candidates, raise max_range_m or max_cells"
        )
        if strict:
            raise ValueError(msg)
        warnings.warn(msg, stacklevel=2)
    idx = np.asarray(chosen, dtype=np.int64)
    return GreedyPlacement(
        sites=Sites(cand.xy_m[idx], cand.kind[idx]),
        chosen=idx,
        gains=np.asarray(gains, dtype=np.int64),
        covered=covered,
        coverage_fraction=frac,
        reached=reached,
    )


# ------------------------------------------------------------------------------------------ placement schemes (registry)
# One function per ``radio.tiers[].placement.kind``: the road network, then the fields of its schema class with the
# same names and defaults (tests/test_registries.py). The schema checks the values.


def hex_placement(network: RoadNetwork, *, isd_m: float = 500.0, margin_m: float = 0.0) -> Sites:
    """A hexagonal grid ``isd_m`` apart over the road network's bounding box grown by ``margin_m``."""
    return hex_grid(network.bbox_m, isd_m, margin_m=margin_m)


def explicit_placement(network: RoadNetwork, *, sites_m: Sequence[Sequence[float]]) -> Sites:
    """Sites at the given (x, y) in metres."""
    return explicit_sites(sites_m)


def roadside_placement(network: RoadNetwork, *, at_junctions: bool = True, every_m: float | None = None,
                       min_degree: int = 3) -> Sites:
    """Every junction of ``min_degree`` roads and / or every ``every_m`` along the roads."""
    return small_cell_candidates(network, at_junctions=at_junctions, every_m=every_m, min_degree=min_degree)


def greedy_placement(network: RoadNetwork, *, at_junctions: bool = True, every_m: float | None = 100.0,
                     min_degree: int = 1, target_fraction: float = 0.9, max_range_m: float = 200.0,
                     covers: str = "canyon", street_width_m: float = 20.0, point_spacing_m: float = 10.0,
                     max_cells: int | None = None, count: int | None = None) -> Sites:
    """DRIVE's greedy cover of the road points (every ``point_spacing_m``) from the roadside candidates; ``covers``:
    ``canyon`` (same street, within range) or ``distance`` (within range); ``count``: exactly that many cells (the
    greedy goes on past ``target_fraction``)."""
    cand = small_cell_candidates(network, at_junctions=at_junctions, every_m=every_m, min_degree=min_degree)
    fn = canyon_los_covers(network, max_range_m=max_range_m, street_width_m=street_width_m) if covers == "canyon" \
        else None
    return greedy_small_cells(cand, network.sample_points(point_spacing_m), target_fraction=target_fraction,
                              max_range_m=max_range_m, covers=fn, max_cells=max_cells, count=count).sites


def _drive_candidates(network: RoadNetwork, spacing_m: float, height_m, rng) -> tuple[np.ndarray, np.ndarray]:
    if rng is None:
        raise ValueError("DRIVE's placements draw antenna heights: give rng")
    xy = drive_candidates(network, spacing_m=spacing_m)
    lo, hi = height_m
    return xy, rng.integers(int(lo), int(hi), size=len(xy), endpoint=True).astype(float)  # randi([lo hi])


def drive_greedy_placement(network: RoadNetwork, *, spacing_m: float = 100.0, tile_m: float = 16.0,
                           tolerance: float = 0.1, border_m: float = 300.0, max_range_m: float = 200.0,
                           height_m: tuple[int, int] = (5, 15), los_of: LosFn | None = None,
                           buildings=None, rng: np.random.Generator | None = None) -> Sites:
    """DRIVE's greedyAddition.m over its candidates and tiles (:mod:`twin.mobility.drive_placement`); given by the
    build: ``los_of``, line of sight through the scenario's ``buildings`` (``bounds``: the tiles' extent, as DRIVE's;
    ``index_at(xy)``: -1 outdoors, the tiles kept)."""
    if los_of is None or buildings is None:
        raise ValueError("drive_greedy needs buildings for line of sight (a grid city, or the scenario's buildings)")
    xy, h = _drive_candidates(network, spacing_m, height_m, rng)
    tiles = drive_tiles(buildings.bounds, tile_m)
    tiles = tiles[np.asarray(buildings.index_at(tiles)) < 0]  # tilesWithinAreas.m: outdoor tiles only
    los, reach = coverage_matrices(np.column_stack([xy, h]), tiles, max_range_m, los_of)
    res = drive_greedy(los, reach, xy, network.bbox_m, tolerance=tolerance, border_m=border_m)
    if not res.reached:
        warnings.warn(f"drive_greedy: the goal of {res.goal} tiles is not reached; {res.covered} covered by "
                      f"{len(res.chosen)} cells (DRIVE: 'Maximum value will not achieved')", stacklevel=2)
    return Sites(xy[res.chosen], np.full(len(res.chosen), "small", dtype=object), h[res.chosen])


def drive_random_placement(network: RoadNetwork, *, count: int = 50, spacing_m: float = 100.0,
                           height_m: tuple[int, int] = (5, 15), rng: np.random.Generator | None = None) -> Sites:
    """DRIVE's randomChosen.m: ``count`` of its candidates at random (all of them when fewer)."""
    xy, h = _drive_candidates(network, spacing_m, height_m, rng)
    pick = drive_random(len(xy), count, rng)
    return Sites(xy[pick], np.full(len(pick), "small", dtype=object), h[pick])


PLACEMENTS: dict[str, Callable[..., Sites]] = {"hex": hex_placement, "explicit": explicit_placement,
                                               "roadside": roadside_placement, "greedy": greedy_placement,
                                               "drive_greedy": drive_greedy_placement,
                                               "drive_random": drive_random_placement}
