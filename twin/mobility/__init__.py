"""Mobility: road graphs, vehicles moving on them, traces from SUMO, and base-station placement.

Import cost is numpy + networkx only; sumolib / traci / eclipse-sumo (extra ``sumo``) and osmnx (extra ``osm``) are
imported when a function that needs them runs. Every mobility source offers the :class:`Mobility` interface
(``step(dt_s)``, ``positions_m`` [n, 2], ``active`` [n], ``speeds_mps`` [n], ``step_distance_m`` [n]).
See ``docs/mobility.md``.
"""

from ._extras import MissingExtraError, sumo_binary
from .base import Mobility
from .network import RoadNetwork
from .osm import load_graphml, load_osm
from .placement import (
    PLACEMENTS,
    GreedyPlacement,
    Sites,
    canyon_los_covers,
    distance_covers,
    explicit_sites,
    greedy_small_cells,
    hex_grid,
    small_cell_candidates,
)
from .roads import ROAD_NETWORK_KINDS, build_road_network, grid_network
from .sumo import load_sumo_net, netgenerate_grid, random_trips, run_sumo_fcd, write_vtype_distribution
from .trace import FcdTrace, TraceMobility, read_fcd
from .traci_live import TraciMobility
from .vehicles import DRIVE_VEHICLE_TYPES, RandomTripMobility, VehicleType, assign_vehicle_types

__all__ = [
    "MissingExtraError",
    "sumo_binary",
    "Mobility",
    "RoadNetwork",
    "ROAD_NETWORK_KINDS",
    "build_road_network",
    "grid_network",
    "load_sumo_net",
    "load_osm",
    "load_graphml",
    "netgenerate_grid",
    "random_trips",
    "run_sumo_fcd",
    "write_vtype_distribution",
    "VehicleType",
    "DRIVE_VEHICLE_TYPES",
    "assign_vehicle_types",
    "RandomTripMobility",
    "FcdTrace",
    "read_fcd",
    "TraceMobility",
    "TraciMobility",
    "Sites",
    "hex_grid",
    "explicit_sites",
    "small_cell_candidates",
    "distance_covers",
    "canyon_los_covers",
    "GreedyPlacement",
    "greedy_small_cells",
    "PLACEMENTS",
]
