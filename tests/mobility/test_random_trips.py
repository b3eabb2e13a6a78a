"""Random-trip vehicles: stay on roads, respect speeds, follow routes, deterministic per seed."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.mobility import (
    DRIVE_VEHICLE_TYPES,
    Mobility,
    RandomTripMobility,
    RoadNetwork,
    VehicleType,
    assign_vehicle_types,
    grid_network,
)


def _run(net, n, seed, steps, dt, types=DRIVE_VEHICLE_TYPES):
    mob = RandomTripMobility(net, n_vehicles=n, rng=np.random.default_rng(seed), vehicle_types=types)
    out = [mob.positions_m]
    dists = []
    for _ in range(steps):
        mob.step(dt)
        out.append(mob.positions_m)
        dists.append(mob.step_distance_m)
    return mob, np.stack(out), np.stack(dists)


def test_interface_and_shapes():
    net = grid_network(rows=3, cols=3, block_length_m=100)
    mob = RandomTripMobility(net, n_vehicles=7, rng=np.random.default_rng(0))
    assert isinstance(mob, Mobility)
    assert mob.positions_m.shape == (7, 2) and mob.speeds_mps.shape == (7,)
    assert mob.active.all() and mob.step_distance_m.tolist() == [0.0] * 7
    assert list(mob.vehicle_ids) == [str(i) for i in range(7)]
    with pytest.raises(ValueError):  # read-only views
        mob.positions_m[0, 0] = 1.0
    mob.step(2.5)
    assert mob.t_s == 2.5
    with mob as same:
        assert same is mob


def test_vehicles_stay_on_roads_and_respect_speed():
    net = grid_network(rows=4, cols=4, block_length_m=80, speed_mps=15.0)
    dt = 1.7
    mob, pos, dist = _run(net, 60, seed=3, steps=150, dt=dt)
    on_road = net.distance_to_road_m(pos.reshape(-1, 2))
    assert on_road.max() <= 1e-6
    vmax = np.minimum(mob.max_speed_mps, mob.speed_factor * 15.0)
    assert np.all(dist <= vmax * dt + 1e-9)
    # constant speed model: every vehicle covers exactly min(type max, edge speed) * dt per step
    assert np.allclose(dist, vmax * dt)
    # the straight-line displacement can never exceed the distance driven
    disp = np.hypot(*np.moveaxis(np.diff(pos, axis=0), -1, 0))
    assert np.all(disp <= dist + 1e-9)
    assert np.allclose(mob.odometer_m, dist.sum(axis=0))
    # vehicles do reach their destinations and start new trips: they travel far beyond one block
    assert np.median(mob.odometer_m) > 10 * 80


def test_speed_is_min_of_type_max_and_factor_times_edge_speed():
    net = grid_network(rows=3, cols=3, block_length_m=100, speed_mps=13.89)
    mob = RandomTripMobility(net, n_vehicles=40, rng=np.random.default_rng(1))
    mob.step(1.0)
    is_amb = mob.vehicle_types == "ambulance"
    assert np.allclose(mob.speeds_mps[is_amb], 20.0)  # min(20, 2 x 13.89)
    assert np.allclose(mob.speeds_mps[~is_amb], 10.0)
    assert is_amb.sum() == 6  # 15 % of 40


def test_same_seed_same_trajectories_other_seed_differs():
    net = grid_network(rows=5, cols=5, block_length_m=100)
    _, a, da = _run(net, 30, seed=42, steps=80, dt=1.0)
    _, b, db = _run(net, 30, seed=42, steps=80, dt=1.0)
    _, c, _ = _run(net, 30, seed=43, steps=80, dt=1.0)
    assert np.array_equal(a, b) and np.array_equal(da, db)
    assert not np.array_equal(a, c)


def test_one_large_step_equals_the_same_route_as_small_steps():
    # the route is fixed by the RNG; where a vehicle is after 10 s must not depend on dt (constant speeds)
    net = grid_network(rows=4, cols=4, block_length_m=60)
    m1, p1, _ = _run(net, 20, seed=5, steps=10, dt=1.0)
    m2, p2, _ = _run(net, 20, seed=5, steps=1, dt=10.0)
    assert np.allclose(p1[-1], p2[-1], atol=1e-9)
    assert np.allclose(m1.odometer_m, m2.odometer_m)


def test_vehicles_drive_along_their_route():
    net = grid_network(rows=3, cols=3, block_length_m=100)
    mob = RandomTripMobility(net, n_vehicles=1, rng=np.random.default_rng(9), vehicle_types=[VehicleType("car", 10.0)])
    route = mob._routes[0]
    e0 = int(mob.edge_index[0])
    seen = [e0]
    for _ in range(60):
        mob.step(1.0)
        e = int(mob.edge_index[0])
        if e != seen[-1]:
            seen.append(e)
    # consecutive edges are connected, and the first ones after the start edge are the planned route
    for a, b in zip(seen[:-1], seen[1:], strict=True):
        assert net.edge_v[a] == net.edge_u[b]
    assert tuple(seen[1 : 1 + len(route)]) == route[: len(seen) - 1]


def test_trips_stay_in_the_strongly_connected_part():
    # a ring a<->b<->c plus a one-way spur c->d: no vehicle may ever get stuck in d
    g = nx.MultiDiGraph()
    for n, x in zip("abcd", [0, 100, 200, 300], strict=True):
        g.add_node(n, x=float(x), y=0.0)
    for u, v in ["ab", "ba", "bc", "cb", "cd"]:
        g.add_edge(u, v, length_m=100.0, speed_mps=10.0)
    net = RoadNetwork(g)
    mob, pos, _ = _run(net, 10, seed=0, steps=100, dt=3.0, types=[VehicleType("car", 10.0)])
    assert pos[..., 0].max() <= 200.0 + 1e-9


def test_assign_vehicle_types_exact_shares():
    types = [VehicleType("a", 5.0, 0.5), VehicleType("b", 6.0, 0.3), VehicleType("c", 7.0, 0.2)]
    idx = assign_vehicle_types(11, types, np.random.default_rng(0))
    assert sorted(np.bincount(idx, minlength=3).tolist()) == sorted([6, 3, 2])
    with pytest.raises(ValueError, match="duplicate"):
        assign_vehicle_types(3, [VehicleType("a", 1.0), VehicleType("a", 2.0)], np.random.default_rng(0))


def test_bad_arguments():
    net = grid_network(rows=2, cols=2)
    with pytest.raises(ValueError, match="max_speed_mps must be > 0"):
        VehicleType("car", -5.0)
    with pytest.raises(ValueError, match="share"):
        VehicleType("car", 5.0, share=-1)
    with pytest.raises(ValueError, match="n_vehicles"):
        RandomTripMobility(net, n_vehicles=-1, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="rng must be a numpy.random.Generator"):
        RandomTripMobility(net, n_vehicles=1, rng=42)
    mob = RandomTripMobility(net, n_vehicles=1, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="dt_s"):
        mob.step(-1.0)
    g = nx.MultiDiGraph()
    g.add_node(0, x=0, y=0)
    g.add_node(1, x=1, y=0)
    g.add_edge(0, 1, length_m=1.0, speed_mps=1.0)
    with pytest.raises(ValueError, match="mutually reachable"):
        RandomTripMobility(RoadNetwork(g), n_vehicles=1, rng=np.random.default_rng(0))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.integers(2, 4),
    cols=st.integers(2, 4),
    block=st.floats(5.0, 300.0),
    dt=st.floats(0.05, 40.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_on_road_and_within_speed(rows, cols, block, dt, seed):
    net = grid_network(rows=rows, cols=cols, block_length_m=block, speed_mps=12.0)
    mob, pos, dist = _run(net, 8, seed=seed, steps=6, dt=dt)
    assert net.distance_to_road_m(pos.reshape(-1, 2)).max() <= 1e-6
    assert np.all(dist <= np.minimum(mob.max_speed_mps, mob.speed_factor * 12.0) * dt * (1 + 1e-12) + 1e-9)


def test_drive_ambulances_drive_twice_the_limit_capped_at_their_top_speed():
    """DRIVE's additional.type.xml: ambulances speedFactor 2, maxSpeed 20 -> 20 m/s on 13.89 m/s roads; passenger
    cars (maxSpeed 10) 10 m/s."""
    net = grid_network(rows=3, cols=3, block_length_m=200, speed_mps=13.89)
    mob, _, dist = _run(net, 40, seed=5, steps=20, dt=1.0)
    amb = np.asarray(mob.vehicle_types) == "ambulance"
    assert amb.any() and (~amb).any()
    assert np.allclose(dist[:, amb], 20.0)
    assert np.allclose(dist[:, ~amb], 10.0)
    fast = RandomTripMobility(net, n_vehicles=4, rng=np.random.default_rng(1),
                              vehicle_types=(VehicleType("x", 40.0, 1.0, speed_factor=1.5),))
    fast.step(1.0)
    assert np.allclose(fast.step_distance_m, 1.5 * 13.89)
    with pytest.raises(ValueError, match="speed_factor"):
        VehicleType("y", 10.0, speed_factor=0.0)
