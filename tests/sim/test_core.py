"""The simulation core: parts built once and frozen, routes owned by the access layer, flow tags mapped to timeline
columns in twin.sim, cleanups run once, and the summary's time to target from the one stop rule."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import simpy

import twin.sim.access_build as access_build
from twin.analysis.metrics import time_to_target
from twin.errors import InputError
from twin.fl.stopping import StopRule, floor_to, reached_target
from twin.mobility import grid_network
from twin.net.engine import FlowNetwork
from twin.net.flow import LinkDirection
from twin.recording.recorder import Recorder
from twin.scenario.loading import load_scenario, validate
from twin.sim.build import build
from twin.sim.env import Client
from twin.sim.runner import simulate
from twin.sim.tags import AsyncFlow, FlowTag, RoundFlow, TrafficFlow, direction_of
from twin.sim.timeline import FlowTimeline
from twin.sim.workload import FixedWorkload, RoundOutcome


def test_parts_are_built_once_and_frozen():
    env = build(load_scenario("wired_star"))
    parts = env.parts
    with pytest.raises(dataclasses.FrozenInstanceError):
        parts.clients = ()
    with pytest.raises(RuntimeError, match="already set"):
        env.freeze(parts)
    with pytest.raises(ValueError):
        env.cohort_sizes[0] = 99  # the schedule is read-only
    assert env.network is parts.network and env.clients is parts.clients and env.reachable.all()
    assert not any(hasattr(c, "route_down") or hasattr(c, "route_up") for c in env.clients)


def test_wired_routes_come_from_the_access_layer():
    env = build(load_scenario("wired_star"))
    down, up = env.access.route_of(2, "down"), env.access.route_of(2, "up")
    assert [r.name for r in down] == ["server->switch", "switch->client.2"]
    assert [r.name for r in up] == ["client.2->switch", "switch->server"]


def test_tags_become_timeline_columns():
    env = simpy.Environment()
    rec = Recorder()
    net = FlowNetwork(env, observer=FlowTimeline(rec))
    link = net.add_resource(LinkDirection("l", 8e6, 0.0))
    net.start([link], 1e6, name="r", tag=RoundFlow(src="server", dst="c0", direction="down", round=4, client="c0",
                                                    slot=1))
    net.start([link], 1e6, name="a", tag=AsyncFlow(src="c1", dst="server", direction="up", client="c1", version=7))
    net.start([link], 1e6, name="t", tag=TrafficFlow(src="cam.3", dst="server", direction="up", name="cam",
                                                      traffic_class="video"))
    plain = net.start([link], 1e6, name="p")
    env.run()
    tl = rec.timeline().set_index(["kind", "flow"])
    r, a, t, p = (tl.loc[("flow_end", n)] for n in "ratp")
    assert (r["round"], r["client"], r["slot"], r["src"], r["direction"]) == (4, "c0", 1, "server", "down")
    assert pd.isna(a["round"]) and (a["client"], a["version"], a["direction"]) == ("c1", 7, "up")
    assert (t["traffic"], t["traffic_class"]) == ("cam", "video") and pd.isna(t["client"])
    assert (p["src"], p["dst"], p["direction"]) == ("", "", "") and pd.isna(p["round"])
    assert tl["version"].dtype == "Int64" and tl["traffic_class"].dtype == "string"
    with pytest.raises(TypeError, match="no FlowTag"):
        direction_of(plain)
    with pytest.raises(dataclasses.FrozenInstanceError):
        FlowTag(src="a", dst="b", direction="up").src = "c"


def test_vectorised_stop_rule_agrees_with_the_round_loop():
    rng = np.random.default_rng(1)
    acc = np.round(rng.uniform(0.7, 0.9, 200), 4)
    acc[::7] = np.nan
    for floor in (None, 2):
        rule = StopRule(max_rounds=1000, target_accuracy=0.8, floor_decimals=floor)
        loop = [rule.should_stop(1, None if math.isnan(a) else a, 0.0) == "target_accuracy" for a in acc]
        assert reached_target(acc, 0.8, floor).tolist() == loop
    assert floor_to([0.29, 0.8049, math.nan], 2)[:2].tolist() == [0.29, 0.80]


def _rising(self, round_, completed, dropped):
    return RoundOutcome(accuracy=0.5 + 0.1 * round_)


def test_summary_time_to_target_is_the_stop_round(monkeypatch):
    monkeypatch.setattr(FixedWorkload, "end_round", _rising)
    result = simulate(load_scenario("wired_star", ["fl.rounds=10", "fl.stop.target_accuracy=0.8"]))
    rounds = result.tables["rounds"]
    assert result.summary["stop_reason"] == "target_accuracy" and len(rounds) == 3
    assert result.summary["time_to_target"] == time_to_target(rounds, 0.8)
    other = simulate(load_scenario("wired_star", ["fl.rounds=2", "fl.stop.target_accuracy=0.8"]))
    assert other.summary["time_to_target"] is None


class _Still:
    finished = False

    def __init__(self, n):
        self.n_vehicles = n
        self.vehicle_ids = np.array([str(i) for i in range(n)], dtype=object)
        self.vehicle_types = np.array(["passenger"] * n, dtype=object)
        self.positions_m = np.array([[100.0, 0.0]] * n)
        self.active = np.ones(n, dtype=bool)
        self.step_distance_m = np.zeros(n)
        self.closed = 0

    def step(self, dt_s):
        pass

    def close(self):
        self.closed += 1


def _radio(**clients):
    return {
        "name": "core_test", "seed": 1,
        "topology": {"kind": "explicit",
                     "nodes": [{"name": "server", "role": "server"}, {"name": "site.0", "role": "site"}],
                     "links": [{"a": "server", "b": "site.0", "bandwidth_bps": "1 Gbit/s", "latency_s": "1 ms"}]},
        "mobility": {"kind": "grid", "rows": 2, "cols": 2, "block_length_m": "1 km", "n_vehicles": 2, "step_s": 1.0},
        "radio": {"kind": "cellular", "tiers": [{"name": "macro", "placement": {"kind": "explicit",
                                                                             "sites_m": [[0, 0]]}}],
                  "los": "los", "shadowing": False, "coverage": {"enabled": False}},
        "clients": {"device": {"flops_per_s": 1e9}, **clients},
        "fl": {"rounds": 1, "schedule": {"kind": "constant", "start": 2},
               "model": {"kind": "fixed", "size_bytes": 1e5, "train_flops": 0}},
    }


def test_radio_routes_reachability_and_cleanups(monkeypatch):
    made = []

    def fake(cfg, base, rng):
        made.append((_Still(2), []))
        return grid_network(rows=2, cols=2, block_length_m=1000.0), made[-1][0], lambda: made[-1][1].append("gone")

    monkeypatch.setattr(access_build, "build_mobility", fake)
    env = build(validate(_radio()))
    route = env.access.route_of(0, "up")
    assert route[0].name == "cell.0.ul" and route[-1].name == "site.0->server"
    assert env.access.route_of(1, "down")[-1].name == "cell.0.dl"
    assert env.reachable.tolist() == [True, True] and isinstance(env.clients[0], Client)
    env.close()
    env.close()  # every cleanup runs once
    assert made[0][0].closed == 1 and made[0][1] == ["gone"]
    with pytest.raises(InputError, match="clients.vehicles.count"):
        build(validate(_radio(vehicles={"count": 5})))  # fails after the mobility source was made
    assert made[1][0].closed == 1 and made[1][1] == ["gone"]


def test_twin_env_binds_simpy_event_constructors_once():
    """env.timeout, env.event, env.process ... are bound to the environment once (as SimPy does for its own class),
    not rebuilt at every call, and still build the events of that environment."""
    from twin.sim.env import TwinEnv

    env = TwinEnv(load_scenario("quickstart"))
    for name in ("process", "timeout", "event", "all_of", "any_of"):
        assert name in vars(env), name
    ev = env.timeout(1.5)
    assert isinstance(ev, simpy.Timeout) and ev.env is env
    env.run()
    assert env.now == 1.5
