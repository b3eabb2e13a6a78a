"""Random-trip vehicles on a :class:`RoadNetwork`: fastest-path routes at edge speeds, vectorised stepping.

Each vehicle starts at a uniformly random point of the road network (probability proportional to road length), drives the
fastest route to a random junction, and on arrival picks a new random destination (DRIVE / SUMO ``randomTrips`` style).
Speed on an edge is ``min(type max speed, type speed factor x edge speed_mps)`` (SUMO's rule for a vType's ``maxSpeed``
and ``speedFactor``), constant (no acceleration, no car following, no queues).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .base import MobilityBase, check_dt, check_rng, readonly
from .network import RoadNetwork

__all__ = ["VehicleType", "DRIVE_VEHICLE_TYPES", "assign_vehicle_types", "RandomTripMobility"]


@dataclass(frozen=True)
class VehicleType:
    """A vehicle class: ``name``, top speed ``max_speed_mps`` (> 0), fleet ``share`` (>= 0; shares are normalised),
    ``speed_factor`` (> 0): the multiple of a road's speed limit the vehicle drives at, capped by its top speed (SUMO's
    ``speedFactor``; DRIVE's ambulances have 2)."""

    name: str
    max_speed_mps: float
    share: float = 1.0
    sumo_vclass: str = "passenger"
    speed_factor: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"vehicle type name must be a non-empty string, got {self.name!r}")
        if not (isinstance(self.max_speed_mps, (int, float)) and math.isfinite(self.max_speed_mps)):
            raise ValueError(f"vehicle type {self.name!r}: max_speed_mps must be a number, got {self.max_speed_mps!r}")
        if self.max_speed_mps <= 0:
            raise ValueError(f"vehicle type {self.name!r}: max_speed_mps must be > 0, got {self.max_speed_mps}")
        if not (isinstance(self.share, (int, float)) and math.isfinite(self.share) and self.share >= 0):
            raise ValueError(f"vehicle type {self.name!r}: share must be >= 0, got {self.share!r}")
        if not (isinstance(self.speed_factor, (int, float)) and math.isfinite(self.speed_factor)
                and self.speed_factor > 0):
            raise ValueError(f"vehicle type {self.name!r}: speed_factor must be > 0, got {self.speed_factor!r}")

    def speed_mps(self, road_speed_mps):
        """Speed on a road of speed limit ``road_speed_mps``: ``min(max_speed_mps, speed_factor x limit)``."""
        return np.minimum(self.max_speed_mps, self.speed_factor * np.asarray(road_speed_mps, dtype=float))


#: DRIVE's mix (mobilityFiles/sumoFiles/*/additional.type.xml): 85 % passenger cars (maxSpeed 10 m/s), 15 % ambulances
#: (maxSpeed 20 m/s, speedFactor 2: 20 m/s on 13.89 m/s roads).
DRIVE_VEHICLE_TYPES: tuple[VehicleType, ...] = (
    VehicleType("passenger", 10.0, 0.85, "passenger"),
    VehicleType("ambulance", 20.0, 0.15, "emergency", speed_factor=2.0),
)


def assign_vehicle_types(n_vehicles: int, vehicle_types: Sequence[VehicleType], rng: np.random.Generator) -> np.ndarray:
    """Type index [n] per vehicle: counts by largest remainder (exact shares), order shuffled by ``rng``."""
    if not vehicle_types:
        raise ValueError("vehicle_types must name at least one VehicleType")
    names = [vt.name for vt in vehicle_types]
    if len(set(names)) != len(names):
        raise ValueError(f"vehicle_types: duplicate names {names}")
    shares = np.array([vt.share for vt in vehicle_types], dtype=float)
    if shares.sum() <= 0:
        raise ValueError("vehicle_types: shares must not all be 0")
    quota = shares / shares.sum() * n_vehicles
    counts = np.floor(quota).astype(np.int64)
    rest = n_vehicles - int(counts.sum())
    counts[np.argsort(-(quota - counts), kind="stable")[:rest]] += 1
    return rng.permutation(np.repeat(np.arange(len(vehicle_types)), counts))


class RandomTripMobility(MobilityBase):
    """Vehicles on random trips over a road network (interface: :class:`twin.mobility.Mobility`).

    Args:
        network: the road network; trips stay in its largest strongly connected component.
        n_vehicles: number of vehicles (>= 0).
        rng: the generator all randomness comes from (same seed -> identical trajectories).
        vehicle_types: the fleet mix (default DRIVE: 85 % passenger at 10 m/s, 15 % ambulance at 20 m/s).
        t0_s: start time, seconds.

    Extra state (read-only arrays): ``edge_index`` [n], ``offset_m`` [n] (metres along the edge polyline),
    ``odometer_m`` [n] (total distance), ``type_index`` [n], ``max_speed_mps`` [n], ``destination`` [n] (node index).
    """

    _MAX_HOPS_PER_STEP = 100_000

    def __init__(
        self,
        network: RoadNetwork,
        *,
        n_vehicles: int,
        rng: np.random.Generator,
        vehicle_types: Sequence[VehicleType] = DRIVE_VEHICLE_TYPES,
        t0_s: float = 0.0,
    ) -> None:
        if not isinstance(network, RoadNetwork):
            raise ValueError(f"network must be a RoadNetwork, got {type(network).__name__}")
        if isinstance(n_vehicles, bool) or not isinstance(n_vehicles, (int, np.integer)) or n_vehicles < 0:
            raise ValueError(f"n_vehicles must be an integer >= 0, got {n_vehicles!r}")
        self.rng = check_rng(rng)
        self.network = network
        self.n_vehicles = int(n_vehicles)
        self.vehicle_type_list = tuple(vehicle_types)
        self._t_s = float(t0_s)

        comp = network.largest_component_nodes()
        if len(comp) < 2:
            raise ValueError(
                f"{network.name}: needs at least 2 mutually reachable junctions for trips, found {len(comp)}"
            )
        self._dest_nodes = comp
        in_comp = np.zeros(network.n_nodes, dtype=bool)
        in_comp[comp] = True
        eligible = np.flatnonzero(
            in_comp[network.edge_u] & in_comp[network.edge_v] & (network.edge_u != network.edge_v)
        )
        weights = network.edge_geom_length_m[eligible]
        weights = weights / weights.sum() if weights.sum() > 0 else np.full(len(eligible), 1.0 / len(eligible))

        n = self.n_vehicles
        self.type_index = readonly(assign_vehicle_types(n, self.vehicle_type_list, self.rng))
        self.vehicle_types = readonly(np.array([self.vehicle_type_list[i].name for i in self.type_index], dtype=object))
        self.vehicle_ids = readonly(np.array([str(i) for i in range(n)], dtype=object))
        self.max_speed_mps = readonly(np.array([vt.max_speed_mps for vt in self.vehicle_type_list])[self.type_index])
        self.speed_factor = readonly(np.array([vt.speed_factor for vt in self.vehicle_type_list])[self.type_index])
        self._edge = self.rng.choice(eligible, size=n, p=weights).astype(np.int64) if n else np.zeros(0, np.int64)
        self._offset = self.rng.random(n) * network.edge_geom_length_m[self._edge]
        self._routes: list[tuple[int, ...]] = []
        self._route_pos = np.zeros(n, dtype=np.int64)
        self._dest = np.zeros(n, dtype=np.int64)
        for i in range(n):
            self._new_trip(i, int(network.edge_v[self._edge[i]]), first=True)
        self._odometer = np.zeros(n)
        self._step_distance = readonly(np.zeros(n))
        self._active = readonly(np.ones(n, dtype=bool))
        self._refresh()

    # ------------------------------------------------------------------ trips
    def _new_trip(self, i: int, node: int, *, first: bool = False) -> None:
        """Give vehicle ``i`` standing at (or heading to) node index ``node`` a new destination and route."""
        while True:
            dest = int(self._dest_nodes[self.rng.integers(len(self._dest_nodes))])
            if dest != node:
                break
        route = self.network.route_edges(node, dest, max_speed_mps=float(self.max_speed_mps[i]),
                                         speed_factor=float(self.speed_factor[i]))
        if first:
            self._routes.append(route)
        else:
            self._routes[i] = route
        self._route_pos[i] = 0
        self._dest[i] = dest

    def _refresh(self) -> None:
        net = self.network
        self._speed = readonly(np.minimum(self.max_speed_mps, self.speed_factor * net.edge_speed_mps[self._edge]))
        self._positions = readonly(net.position_on_edge(self._edge, self._offset))

    # ------------------------------------------------------------------ stepping
    def step(self, dt_s: float) -> None:
        """Advance every vehicle by ``dt_s`` seconds along its route (vectorised; a loop only for edge crossings)."""
        dt = check_dt(dt_s)
        net = self.network
        geom_len = net.edge_geom_length_m
        speed = np.minimum(self.max_speed_mps, self.speed_factor * net.edge_speed_mps[self._edge])
        advance = speed * dt
        room = geom_len[self._edge] - self._offset
        stay = advance < room
        offset = self._offset.copy()
        edge = self._edge.copy()
        dist = np.where(stay, advance, 0.0)
        offset[stay] += advance[stay]
        for i in np.flatnonzero(~stay).tolist():
            e, off, t_left, d = int(edge[i]), float(offset[i]), dt, 0.0
            vmax, factor = float(self.max_speed_mps[i]), float(self.speed_factor[i])
            for _ in range(self._MAX_HOPS_PER_STEP):
                v = min(vmax, factor * float(net.edge_speed_mps[e]))
                r = float(geom_len[e]) - off
                if v * t_left < r:
                    off += v * t_left
                    d += v * t_left
                    break
                t_left = max(0.0, t_left - r / v)
                d += r
                route, pos = self._routes[i], int(self._route_pos[i])
                if pos >= len(route):
                    self._new_trip(i, int(net.edge_v[e]))
                    route, pos = self._routes[i], 0
                e, off = route[pos], 0.0
                self._route_pos[i] = pos + 1
            else:  # pragma: no cover - only with a cycle of zero-length edges
                raise RuntimeError(f"vehicle {i}: more than {self._MAX_HOPS_PER_STEP} edges in one step")
            edge[i], offset[i], dist[i] = e, off, d
        self._edge, self._offset = edge, offset
        self._odometer = self._odometer + dist
        self._step_distance = readonly(dist)
        self._t_s += dt
        self._refresh()

    # ------------------------------------------------------------------ interface

    @property
    def edge_index(self) -> np.ndarray:
        return readonly(self._edge.copy())

    @property
    def offset_m(self) -> np.ndarray:
        return readonly(self._offset.copy())

    @property
    def odometer_m(self) -> np.ndarray:
        return readonly(self._odometer.copy())

    @property
    def destination(self) -> np.ndarray:
        return readonly(self._dest.copy())
