"""The geometry of a radio scenario: buildings (``mobility.buildings``), antenna heights per cell (``radio.tiers[i].
antenna_height``) and per vehicle (``mobility.vehicle_types[j].antenna_height_m``), and the geometric LOS lookup the
radio model calls (``radio.los: {kind: geometry}``): LOS tiles per tier and vehicle antenna height
(:class:`twin.geo.LosTiles`), precomputed here at build time. Every failure is an :class:`InputError` naming the
field or file; a map without buildings is a warning in the run's log.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from twin import geo
from twin import mobility as mob
from twin.errors import InputError
from twin.radio.model import Tier
from twin.scenario import access as A

log = logging.getLogger("twin.sim.geometry")


def _heights(value) -> float | tuple[float, float]:
    return tuple(value) if isinstance(value, (tuple, list)) else float(value)


def build_buildings(cfg: A.Mobility, road: mob.RoadNetwork, base_dir: Path,
                    rng: np.random.Generator) -> geo.Buildings | None:
    """The buildings of ``mobility.buildings`` in the road network's frame, or None (``kind: none``)."""
    spec = cfg.buildings
    if spec.kind == "none":
        return None
    where = "mobility.buildings"
    if isinstance(spec, A.BlockBuildings):
        try:
            if isinstance(cfg, A.GridMobility):
                return geo.grid_blocks(rows=cfg.rows, cols=cfg.cols, block_length_m=cfg.block_length_m,
                                       setback_m=spec.setback_m, split=spec.split, height_m=_heights(spec.height_m),
                                       rng=rng)
            return geo.blocks_from_roads(road.seg_a_m, road.seg_b_m, setback_m=spec.setback_m, split=spec.split,
                                         height_m=_heights(spec.height_m), rng=rng)
        except ValueError as exc:
            raise InputError(f"{where}: {exc}") from None
    value = spec.path if spec.path is not None else getattr(cfg, "path", None)
    if value is None:
        raise InputError(f"{where}.path: kind {spec.kind} needs a file (the mobility has no OSM file to reuse)")
    path = Path(value)
    if not path.is_absolute():
        path = base_dir / path
    if not path.is_file():
        raise InputError(f"{where}.path: file not found: {str(path)!r}")
    crs = road.graph.graph.get("crs")
    local = crs in ("sumo", "local metres")  # no geographic CRS to project OSM's longitudes / latitudes to
    kwargs = dict(level_height_m=spec.level_height_m, default_height_m=_heights(spec.default_height_m), rng=rng)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", geo.NoBuildingsWarning)
            if spec.kind == "osm":
                out = geo.buildings_from_osm(path, crs=None if local else crs, **kwargs)
            else:
                out = geo.buildings_from_sumo_poly(path, **kwargs)
    except (ValueError, OSError) as exc:
        raise InputError(f"{where}.path: {str(exc).removeprefix('path: ')}") from None
    if spec.kind == "osm" and local and len(out):
        raise InputError(f"{where}.kind: osm buildings are projected to the road network's CRS, but this network has "
                         f"none ({crs}); for a SUMO network convert them with polyconvert --net-file and use "
                         f"kind: sumo_poly")
    for w in caught:
        if issubclass(w.category, geo.NoBuildingsWarning):
            log.warning("%s: %s", where, w.message)
    return out


def cell_heights(rcfg: A.CellularRadio, tiers: list[Tier], cell_xy: np.ndarray, buildings: geo.Buildings | None,
                 rng: np.random.Generator) -> np.ndarray:
    """Antenna height (m) of every cell from its tier's ``antenna_height``."""
    out = np.empty(len(cell_xy))
    for i, (spec, tier) in enumerate(zip(rcfg.tiers, tiers, strict=True)):
        where = f"radio.tiers[{i}].antenna_height"
        h, cells = spec.antenna_height, tier.cells
        fixed = float(tier.preset.h_bs_m)
        if isinstance(h, A.PerSiteHeight):
            if len(h.heights_m) != cells.size:
                raise InputError(f"{where}.heights_m: {len(h.heights_m)} heights for {cells.size} sites")
            out[cells] = h.heights_m
        elif isinstance(h, A.RooftopHeight):
            if buildings is None:
                raise InputError(f"{where}: kind rooftop needs buildings (mobility.buildings)")
            roof = buildings.height_at(cell_xy[cells])
            out[cells] = np.where(roof > 0, roof + h.mast_m, fixed)
        elif isinstance(h, A.UniformIntHeight):
            out[cells] = rng.integers(h.low, h.high + 1, cells.size)
        else:
            out[cells] = fixed
    return out


def vehicle_heights(cfg: A.Mobility, types: np.ndarray) -> np.ndarray:
    """Antenna height (m) of every vehicle from its type; NaN where the type gives none (each preset's then)."""
    by_type = {v.name: v.antenna_height_m for v in getattr(cfg, "vehicle_types", [])}
    return np.array([np.nan if by_type.get(str(t)) is None else by_type[str(t)] for t in types], dtype=float)


class GeometryLos:
    """The radio model's LOS lookup from buildings: ``(tier, xy[N, 2], heights[N]) -> bool[N, cells of the tier]``,
    from LOS tiles per (tier, receiver antenna height), built on first use (at build time: the initial attachment
    and the coverage map)."""

    def __init__(self, buildings: geo.Buildings, tiers: list[Tier], cell_xyz: np.ndarray, *, tile_m: float,
                 bounds: tuple[float, float, float, float]) -> None:
        self.buildings, self.tiers, self.cell_xyz = buildings, tiers, cell_xyz
        self.tile_m, self.bounds = float(tile_m), bounds
        self._tiles: dict[tuple[int, float], geo.LosTiles] = {}

    def tiles(self, tier: int, height_m: float) -> geo.LosTiles:
        key = (tier, float(height_m))
        if key not in self._tiles:
            t = self.tiers[tier]
            self._tiles[key] = geo.LosTiles.build(self.buildings, self.cell_xyz[t.cells], ue_height_m=height_m,
                                                  tile_m=self.tile_m, bounds=self.bounds,
                                                  max_range_m=t.max_range_m)
        return self._tiles[key]

    def __call__(self, tier: int, xy: np.ndarray, heights_m: np.ndarray) -> np.ndarray:
        heights = np.broadcast_to(np.asarray(heights_m, dtype=float), (len(xy),))
        out = np.empty((len(xy), self.tiers[tier].cells.size), dtype=bool)
        for h in np.unique(heights):
            rows = heights == h
            out[rows] = self.tiles(tier, float(h)).lookup(xy[rows])
        return out


def check_antennas(buildings: geo.Buildings, tiers: list[Tier], cell_xyz: np.ndarray) -> None:
    """A base station below the roof of the building at its position is an error (with geometric LOS)."""
    for i, t in enumerate(tiers):
        roof = buildings.height_at(cell_xyz[t.cells, :2])
        bad = np.flatnonzero(cell_xyz[t.cells, 2] < roof)
        if bad.size:
            k = int(bad[0])
            raise InputError(f"radio.tiers[{i}].antenna_height: site {k} at ({cell_xyz[t.cells[k], 0]:.1f}, "
                             f"{cell_xyz[t.cells[k], 1]:.1f}) m has its antenna at {cell_xyz[t.cells[k], 2]:g} m, "
                             f"below the roof ({roof[k]:g} m) of the building it stands on; raise h_bs_m or use "
                             f"antenna_height: {{kind: rooftop}}")


def geometry_los(rcfg: A.CellularRadio, buildings: geo.Buildings | None, road: mob.RoadNetwork, tiers: list[Tier],
                 cell_xyz: np.ndarray) -> GeometryLos | None:
    """The LOS lookup of ``radio.los: {kind: geometry}`` (None for the other kinds)."""
    if rcfg.los.kind != "geometry":
        return None
    if buildings is None:
        raise InputError("radio.los: kind geometry needs buildings; set mobility.buildings (blocks, osm or "
                         "sumo_poly) or use los: stochastic")
    if len(buildings) == 0:
        raise InputError(f"radio.los: kind geometry, but {buildings.source or 'the map'} holds no buildings; use "
                         f"los: stochastic")
    check_antennas(buildings, tiers, cell_xyz)
    xmin, ymin, xmax, ymax = road.bbox_m
    bx = buildings.bounds
    pad = max(rcfg.coverage.margin_m, rcfg.los.tile_m) if rcfg.coverage.enabled else rcfg.los.tile_m
    bounds = (min(xmin, bx[0]) - pad, min(ymin, bx[1]) - pad, max(xmax, bx[2]) + pad, max(ymax, bx[3]) + pad)
    return GeometryLos(buildings, tiers, cell_xyz, tile_m=rcfg.los.tile_m, bounds=bounds)


def buildings_table(buildings: geo.Buildings | None) -> pd.DataFrame | None:
    """``buildings.parquet``: one row per footprint vertex (building, vertex, x, y, height_m), rings closed."""
    if buildings is None or len(buildings) == 0:
        return None
    rings = buildings.coords()
    n = np.array([len(r) for r in rings])
    xy = np.concatenate(rings)
    return pd.DataFrame({"building": np.repeat(np.arange(len(rings)), n),
                         "vertex": np.concatenate([np.arange(k) for k in n]),
                         "x": xy[:, 0], "y": xy[:, 1], "height_m": np.repeat(buildings.heights_m, n)})

