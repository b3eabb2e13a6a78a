"""SUMO FCD parsing and TraceMobility replay on a hand-written trace."""

from __future__ import annotations

import numpy as np
import pytest

from twin.mobility import FcdTrace, Mobility, TraceMobility, read_fcd

FCD = """<?xml version="1.0" encoding="UTF-8"?>
<fcd-export xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
    <timestep time="0.00">
        <vehicle id="car" x="0.00" y="0.00" angle="90.00" type="passenger" speed="10.00" pos="5.10" lane="A_0"/>
    </timestep>
    <timestep time="1.00">
        <vehicle id="car" x="10.00" y="0.00" angle="90.00" type="passenger" speed="10.00" pos="15.10" lane="A_0"/>
        <person id="p0" x="3.00" y="4.00" speed="1.00"/>
    </timestep>
    <timestep time="2.00">
        <vehicle id="car" x="20.00" y="0.00" angle="90.00" type="passenger" speed="10.00" pos="25.10" lane="A_0"/>
        <vehicle id="amb" x="100.00" y="0.00" angle="0.00" type="ambulance" speed="0.00" pos="5.10" lane="B_0"/>
    </timestep>
    <timestep time="3.00">
        <vehicle id="car" x="20.00" y="10.00" angle="0.00" type="passenger" speed="10.00" pos="5.00" lane="C_0"/>
        <vehicle id="amb" x="100.00" y="20.00" angle="0.00" type="ambulance" speed="20.00" pos="25.10" lane="B_0"/>
    </timestep>
    <timestep time="4.00">
        <vehicle id="amb" x="100.00" y="40.00" angle="0.00" type="ambulance" speed="20.00" pos="45.10" lane="B_0"/>
    </timestep>
</fcd-export>
"""


@pytest.fixture
def fcd_path(tmp_path):
    p = tmp_path / "fcd.xml"
    p.write_text(FCD)
    return p


def test_read_fcd_arrays(fcd_path):
    tr = read_fcd(fcd_path)
    assert list(tr.vehicle_ids) == ["car", "amb"]
    assert list(tr.vehicle_types) == ["passenger", "ambulance"]
    assert tr.n_samples == 7 and tr.n_vehicles == 2
    assert (tr.t_start_s, tr.t_end_s) == (0.0, 4.0)
    car = tr.vehicle == 0
    assert tr.time_s[car].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert tr.x_m[car].tolist() == [0.0, 10.0, 20.0, 20.0]
    assert tr.y_m[tr.vehicle == 1].tolist() == [0.0, 20.0, 40.0]
    assert tr.speed_mps[tr.vehicle == 1].tolist() == [0.0, 20.0, 20.0]


def test_trace_mobility_interpolates_and_masks(fcd_path):
    mob = TraceMobility(fcd_path)
    assert isinstance(mob, Mobility)
    assert mob.t_s == 0.0
    assert mob.active.tolist() == [True, False]
    assert np.isnan(mob.positions_m[1]).all() and mob.speeds_mps[1] == 0.0
    mob.step(0.5)
    assert np.allclose(mob.positions_m[0], [5.0, 0.0])
    assert np.allclose(mob.step_distance_m, [5.0, 0.0])
    mob.step(2.0)  # t = 2.5: car half way up the corner segment, amb half way to its second sample
    assert mob.active.tolist() == [True, True]
    assert np.allclose(mob.positions_m, [[20.0, 5.0], [100.0, 10.0]])
    assert np.allclose(mob.speeds_mps, [10.0, 10.0])
    # the car drove 15 m (5 + 10 straight) then 5 m up; amb 10 m since its departure at t = 2
    assert np.allclose(mob.step_distance_m, [20.0, 10.0])
    mob.step(1.0)  # t = 3.5: car has arrived (last sample at 3), amb at y = 30
    assert mob.active.tolist() == [False, True]
    assert np.isnan(mob.positions_m[0]).all()
    assert np.allclose(mob.positions_m[1], [100.0, 30.0])
    assert np.allclose(mob.step_distance_m, [5.0, 20.0])  # car: 5 m before its arrival
    mob.step(1.0)
    assert mob.active.tolist() == [False, False] and mob.finished
    assert np.allclose(mob.step_distance_m, [0.0, 10.0])
    mob.seek(1.0)
    assert np.allclose(mob.positions_m[0], [10.0, 0.0]) and mob.step_distance_m.tolist() == [0.0, 0.0]


def test_trace_mobility_start_time_and_from_arrays():
    tr = FcdTrace(
        time_s=np.array([5.0, 4.0, 4.0]),
        vehicle=np.array([0, 0, 1]),
        x_m=np.array([10.0, 0.0, 7.0]),
        y_m=np.zeros(3),
        speed_mps=np.array([10.0, 10.0, 0.0]),
        vehicle_ids=np.array(["a", "b"], dtype=object),
        vehicle_types=np.array(["", ""], dtype=object),
    )
    assert tr.time_s[tr.vehicle == 0].tolist() == [4.0, 5.0]  # sorted by (vehicle, time)
    mob = TraceMobility(tr, t0_s=4.25)
    assert np.allclose(mob.positions_m[0], [2.5, 0.0])
    assert mob.active.tolist() == [True, False]  # b exists only at t = 4 exactly
    mob.seek(4.0)
    assert mob.active.tolist() == [True, True]


def test_fcd_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="path: FCD trace file not found"):
        read_fcd(tmp_path / "missing.xml")
    bad = tmp_path / "bad.xml"
    bad.write_text("<fcd-export><timestep time='0'><vehicle id='a' x='1'")
    with pytest.raises(ValueError, match="could not parse FCD XML"):
        read_fcd(bad)
    empty = tmp_path / "empty.xml"
    empty.write_text("<fcd-export><timestep time='0'/></fcd-export>")
    with pytest.raises(ValueError, match="no vehicle samples"):
        read_fcd(empty)
    noy = tmp_path / "noy.xml"
    noy.write_text("<fcd-export><timestep time='0'><vehicle id='a' x='1' speed='0'/></timestep></fcd-export>")
    with pytest.raises(ValueError, match="no 'y' attribute"):
        read_fcd(noy)
    mob = TraceMobility(FcdTrace(np.zeros(1), np.zeros(1, int), np.zeros(1), np.zeros(1), np.zeros(1),
                                 np.array(["a"], dtype=object), np.array([""], dtype=object)))  # fmt: skip
    with pytest.raises(ValueError, match="dt_s"):
        mob.step(float("nan"))
