"""Acceptance: netgenerate + randomTrips + sumo --fcd-output on a tiny grid, replayed in the twin; and live TraCI.

Skipped (with the reason) only when the ``sumo`` extra is not installed.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from twin.mobility import (
    DRIVE_VEHICLE_TYPES,
    MissingExtraError,
    Mobility,
    RandomTripMobility,
    TraceMobility,
    TraciMobility,
    build_road_network,
    load_sumo_net,
    netgenerate_grid,
    random_trips,
    read_fcd,
    run_sumo_fcd,
)
from twin.mobility import _extras as extras


def _sumo_missing() -> str | None:
    for mod in ("sumolib", "traci"):
        if importlib.util.find_spec(mod) is None:
            return f"{mod} not installed (pip install 'twin[sumo]')"
    try:
        extras.sumo_binary("sumo")
        extras.sumo_binary("netgenerate")
        extras.sumo_tool("randomTrips.py")
    except MissingExtraError as exc:
        return str(exc)
    return None


pytestmark = pytest.mark.skipif(_sumo_missing() is not None, reason=f"sumo extra missing: {_sumo_missing()}")

LANE_WIDTH_M = 3.2  # SUMO's default lane width: FCD points are on lane centres, edges are lane-averaged shapes


@pytest.fixture(scope="module")
def sumo_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("sumo_grid")
    net = netgenerate_grid(d / "grid.net.xml", number=3, length_m=100.0)
    routes = random_trips(net, d / "grid.rou.xml", end_s=40.0, period_s=1.0, seed=7, vehicle_types=DRIVE_VEHICLE_TYPES)
    fcd = run_sumo_fcd(net, routes, d / "fcd.xml", end_s=80.0, seed=7)
    return net, routes, fcd


def test_sumo_net_loads_as_a_3x3_grid(sumo_run):
    net_path, _, _ = sumo_run
    net = load_sumo_net(net_path)
    assert net.n_nodes == 9
    assert net.n_edges == 24  # 12 two-way streets
    assert not any(str(k).startswith(":") for _, _, k in net.edge_keys)  # internal edges dropped
    assert np.allclose(net.edge_speed_mps, 13.89)
    assert np.all(net.edge_lanes == 1)
    xmin, ymin, xmax, ymax = net.bbox_m
    assert xmin == pytest.approx(0.0, abs=LANE_WIDTH_M) and xmax == pytest.approx(200.0, abs=LANE_WIDTH_M)
    assert ymin == pytest.approx(0.0, abs=LANE_WIDTH_M) and ymax == pytest.approx(200.0, abs=LANE_WIDTH_M)
    assert np.allclose(np.sort(np.unique(net.node_xy_m[:, 0])), [0.0, 100.0, 200.0])
    path = net.shortest_path("A0", "C2")  # SUMO names grid junctions column letter + row digit
    assert path[0] == "A0" and path[-1] == "C2" and len(path) == 5
    assert build_road_network("sumo", path=net_path).n_edges == 24


def test_fcd_replay_lies_on_the_road_network(sumo_run):
    net_path, _, fcd_path = sumo_run
    net = load_sumo_net(net_path)
    trace = read_fcd(fcd_path)
    assert trace.n_vehicles >= 30
    assert set(trace.vehicle_types) <= {"passenger", "ambulance"}
    raw = net.distance_to_road_m(np.c_[trace.x_m, trace.y_m])
    assert np.median(raw) < 0.01  # on lane shapes
    mob = TraceMobility(trace)
    assert isinstance(mob, Mobility)
    seen_active = np.zeros(mob.n_vehicles, dtype=bool)
    while not mob.finished:
        mob.step(0.5)
        act = mob.active
        seen_active |= act
        assert np.all(np.isnan(mob.positions_m[~act]))
        if act.any():
            assert net.distance_to_road_m(mob.positions_m[act]).max() <= LANE_WIDTH_M
        # a vehicle never covers more than the fastest type allows
        assert np.all(mob.step_distance_m <= 20.0 * 0.5 + 1e-6)
    assert seen_active.all()
    # and the twin's own random trips run on the SUMO net too, staying exactly on its edges
    rt = RandomTripMobility(net, n_vehicles=20, rng=np.random.default_rng(0))
    for _ in range(60):
        rt.step(1.0)
        assert net.distance_to_road_m(rt.positions_m).max() <= 1e-6


def test_traci_live_steps_and_closes(sumo_run):
    net_path, routes, _ = sumo_run
    net = load_sumo_net(net_path)
    with TraciMobility(n_vehicles=5, rng=np.random.default_rng(1), net_path=net_path, routes_path=routes) as mob:
        assert isinstance(mob, Mobility)
        proc = mob._proc
        assert proc is not None and proc.poll() is None
        for _ in range(8):
            mob.step(1.0)
        assert mob.t_s == pytest.approx(8.0)
        act = mob.active
        assert act.sum() >= 3
        assert net.distance_to_road_m(mob.positions_m[act]).max() <= LANE_WIDTH_M
        assert np.all(mob.step_distance_m <= 20.0 + 1e-6) and mob.step_distance_m[act].max() > 0
        assert mob.n_untracked >= 1  # one vehicle departs per second: more than 5 slots' worth by t = 8
        assert set(mob.vehicle_ids[act]) <= {str(i) for i in range(10)}
        with pytest.raises(ValueError, match="multiple of step_length_s"):
            mob.step(0.3)
    assert proc.poll() is not None  # SUMO exited
    mob.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        mob.step(1.0)


def test_traci_reports_a_dead_sumo(sumo_run):
    net_path, routes, _ = sumo_run
    mob = TraciMobility(n_vehicles=2, rng=np.random.default_rng(0), net_path=net_path, routes_path=routes)
    mob._proc.kill()
    mob._proc.wait()
    with pytest.raises(RuntimeError, match="lost the TraCI connection"):
        mob.step(1.0)
    mob.close()


def test_sumo_net_parse_error(tmp_path):
    bad = tmp_path / "bad.net.xml"
    bad.write_text("<net><edge id='a'")
    with pytest.raises(ValueError, match="could not parse SUMO network"):
        load_sumo_net(bad)


def test_sumo_route_files_carry_drives_speed_factor(sumo_run, tmp_path):
    """DRIVE's ambulances (speedFactor 2, maxSpeed 20) drive at 20 m/s on SUMO's 13.89 m/s grid roads: the route file
    the twin writes says so and SUMO reproduces it; passenger cars stay at or below their 10 m/s."""
    import xml.etree.ElementTree as ET

    net_path, routes, _ = sumo_run
    vtypes = {v.get("id"): v.attrib for v in ET.parse(routes).getroot().iter("vType")}
    assert float(vtypes["ambulance"]["speedFactor"]) == 2.0 and float(vtypes["ambulance"]["maxSpeed"]) == 20.0
    assert "speedFactor" not in vtypes["passenger"]  # SUMO's default normc(1, 0.1, 0.2, 2), as DRIVE's cars
    long_net = netgenerate_grid(tmp_path / "long.net.xml", number=2, length_m=600.0)
    long_routes = random_trips(long_net, tmp_path / "long.rou.xml", end_s=30.0, period_s=1.0, seed=3,
                               vehicle_types=DRIVE_VEHICLE_TYPES)
    fcd = run_sumo_fcd(long_net, long_routes, tmp_path / "fcd.xml", end_s=120.0, seed=3)
    top: dict[str, float] = {}
    for v in ET.parse(fcd).getroot().iter("vehicle"):
        top[v.get("type")] = max(top.get(v.get("type"), 0.0), float(v.get("speed")))
    assert top["ambulance"] == pytest.approx(20.0, abs=0.05)
    assert top["passenger"] <= 10.0 + 1e-6
