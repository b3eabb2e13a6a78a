"""Geometry of a place: buildings (footprints and roof heights) and line of sight through them. Pure: numpy and
shapely, no simpy.

* :class:`Buildings` and its makers: :func:`grid_blocks` (the blocks of a generated grid), :func:`blocks_from_roads` (the
  blocks of any road network), :func:`buildings_from_osm`
  (OSM XML), :func:`buildings_from_sumo_poly` (SUMO ``.poly.xml``), :func:`make_buildings` (rings + heights).
* :func:`los_exact`: the exact 3D segment-vs-buildings test, vectorised over segments.
* :class:`LosTiles`: LOS per (cell, tile) precomputed from exact building shadows; ``lookup(xy)`` -> ``bool[V, C]``.
"""

from .buildings import DRIVE_HEIGHT_RANGE_M, Buildings, blocks_from_roads, draw_heights_m, grid_blocks, make_buildings
from .los import blocking_building, los_exact
from .parsers import NoBuildingsWarning, buildings_from_osm, buildings_from_sumo_poly, parse_height_m
from .tiles import LosTiles, host_buildings, shadow_region

__all__ = [
    "Buildings", "DRIVE_HEIGHT_RANGE_M", "LosTiles", "NoBuildingsWarning", "blocking_building", "blocks_from_roads", "buildings_from_osm",
    "buildings_from_sumo_poly", "draw_heights_m", "grid_blocks", "host_buildings", "los_exact", "make_buildings",
    "parse_height_m", "shadow_region",
]
