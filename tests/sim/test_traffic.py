"""Scripted transfers (``traffic.flows``), pure network runs and runs that mix FL with traffic, timed by hand."""

import pandas as pd
import pytest

from twin.errors import InputError
from twin.recording.recorder import ROUND_COLUMNS
from twin.scenario.loading import load_scenario, validate
from twin.sim.runner import simulate

OVERHEAD = 1514 / 1448
STAR = {"kind": "star", "n_clients": 4, "client_link": {"bandwidth_bps": 50e6, "latency_s": 0.001},
        "server_link": {"bandwidth_bps": 100e6, "latency_s": 0.002}}


def pure(flows, **traffic):
    return validate({"name": "pure", "topology": STAR, "traffic": {"flows": flows, **traffic}})


def ends(result) -> pd.DataFrame:
    tl = result.tables["timeline"]
    return tl[tl["kind"] == "flow_end"].set_index("flow")


def test_one_upload_takes_latency_plus_size_over_rate():
    result = simulate(pure([{"name": "up0", "src": "client.0", "dst": "server", "size_bytes": "5 MB",
                             "start_s": 0.5}]))
    end = ends(result).loc["up0"]
    assert end["duration_s"] == pytest.approx(0.003 + 5e6 * 8 * OVERHEAD / 50e6, rel=1e-12)
    assert end["t"] == pytest.approx(0.5 + end["duration_s"], rel=1e-12)
    assert (end["src"], end["dst"], end["direction"], end["bytes"]) == ("client.0", "server", "up", 5e6)
    assert (end["traffic"], end["traffic_class"]) == ("up0", "scripted")
    assert result.summary["stop_reason"] == "traffic_done" and result.summary["sim_time_s"] == end["t"]


def test_repeats_are_named_and_start_on_schedule_without_waiting():
    # every 0.2 s a 5 MB upload that takes 0.84 s alone: they overlap on client.0's 50 Mbit/s link
    result = simulate(pure([{"name": "up", "src": "client.0", "dst": "server", "size_bytes": 5e6, "start_s": 1,
                             "repeat": {"every_s": 0.2, "count": 3}}, {"src": "server", "dst": "client.1",
                                                                       "size_bytes": 1e6}]))
    tl = result.tables["timeline"]
    starts = tl[tl["kind"] == "flow_start"].set_index("flow")["t"]
    assert starts.to_dict() == pytest.approx({"flow.1": 0.0, "up.0": 1.0, "up.1": 1.2, "up.2": 1.4})
    e = ends(result)
    # three equal flows on one link, processor sharing: the bytes all leave by 1 + 3 x 0.836 s
    assert e.loc["up.2", "t"] == pytest.approx(1 + 3 * 5e6 * 8 * OVERHEAD / 50e6 + 0.003, rel=1e-9)
    assert e.loc["up.0", "t"] < e.loc["up.1", "t"] < e.loc["up.2", "t"]
    assert set(e["traffic"]) == {"up", "flow.1"} and e.loc["flow.1", "direction"] == "down"


def test_pure_network_run_has_the_tables_with_their_schema():
    result = simulate(pure([{"src": "client.2", "dst": "client.3", "size_bytes": 1e6}]))
    rounds, clients = result.tables["rounds"], result.tables["clients"]
    assert rounds.empty and tuple(rounds.columns) == ROUND_COLUMNS
    assert str(rounds["round"].dtype) == "Int64" and str(rounds["duration_s"].dtype) == "float64"
    assert clients.empty and list(clients.columns) == ["client", "client_index", "node", "flops_per_s"]
    assert not result.tables["samples"].empty
    s = result.summary
    assert s["rounds"] == 0 and s["fl"] == {} and s["n_clients"] == 0
    assert s["traffic"] == {"scripted": {"flows": 1, "completed": 1, "cancelled": 0, "unfinished": 0,
                                         "bytes": 1e6, "mean_completion_s": pytest.approx(
                                             0.002 + 8e6 * OVERHEAD / 50e6)}}
    tl = result.tables["timeline"]
    assert tl["kind"].iloc[0] == "run_start" and tl["kind"].iloc[-1] == "run_end"
    assert tl["reason"].iloc[-1] == "traffic_done"


def test_duration_ends_a_run_and_leaves_late_flows_unfinished():
    result = simulate(pure([{"name": "big", "src": "server", "dst": "client.0", "size_bytes": "100 MB"}],
                           duration_s=2))
    assert result.summary["sim_time_s"] == 2 and result.summary["stop_reason"] == "duration"
    assert result.summary["traffic"]["scripted"]["unfinished"] == 1
    assert ends(result).empty


def test_resolved_pure_network_scenario_loads_back_as_one():
    import yaml

    from twin.scenario.loading import resolved_yaml

    cfg = pure([{"src": "server", "dst": "client.0", "size_bytes": 1e6}])
    again = validate(yaml.safe_load(resolved_yaml(cfg)))
    assert again == cfg and again.fl is None
    # a scenario without traffic keeps the default FL job, and its resolved YAML has no traffic section
    plain = validate({})
    assert plain.fl is not None and "traffic" not in resolved_yaml(plain)


def test_traffic_shares_the_network_with_fl_rounds():
    # wired_star: four 1 MB downloads on 10 Mbit/s access links; a 5 MB download to client.0 from t = 0 halves
    # client.0's share while they overlap, so round 1 takes longer, and the traffic flow is slowed too.
    base = simulate(load_scenario("wired_star"))
    mixed = simulate(load_scenario("wired_star", [
        "traffic={flows: [{name: bulk, src: server, dst: client.0, size_bytes: 5 MB}]}"]))
    assert mixed.summary["rounds"] == base.summary["rounds"] == 3
    r0, r1 = base.tables["rounds"]["duration_s"], mixed.tables["rounds"]["duration_s"]
    assert r1.iloc[0] > r0.iloc[0] * 1.2
    alone = 0.011 + 5e6 * 8 * OVERHEAD / 10e6
    assert ends(mixed).loc["bulk", "duration_s"] > alone
    classes = mixed.summary["traffic"]
    assert set(classes) == {"fl", "scripted"} and classes["fl"]["completed"] == 24
    assert classes["fl"]["bytes"] == pytest.approx(24e6)


def test_mixed_run_is_deterministic_for_a_seed():
    over = ["clients.device.heterogeneity={kind: lognormal, sigma: 0.5}",
            "traffic={flows: [{src: server, dst: client.1, size_bytes: 3 MB, start_s: 0.3, "
            "repeat: {every_s: 0.7, count: 5}}]}"]
    a = simulate(load_scenario("wired_star", over))
    b = simulate(load_scenario("wired_star", over))
    for name in ("timeline", "rounds", "samples"):
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name])


@pytest.mark.parametrize(("flows", "traffic", "needle"), [
    ([{"src": "nowhere", "dst": "server", "size_bytes": 1}], {}, "traffic.flows[0].src: unknown node 'nowhere'"),
    ([{"src": "server", "dst": "client.9", "size_bytes": 1}], {}, "traffic.flows[0].dst: unknown node 'client.9'"),
])
def test_unknown_node_is_named_at_build_time(flows, traffic, needle):
    with pytest.raises(InputError) as err:
        simulate(pure(flows, **traffic))
    assert needle in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(("traffic", "needle"), [
    ({"flows": [{"src": "server", "dst": "client.0", "size_bytes": 0}]}, "traffic.flows.0.size_bytes"),
    ({"flows": [{"src": "server", "dst": "client.0", "size_bytes": -5}]}, "traffic.flows.0.size_bytes"),
    ({"flows": [{"src": "server", "dst": "client.0", "size_bytes": 1, "start_s": 11}], "duration_s": 10},
     "flows[0] starts at 11 s, after the end of the run"),
    ({"flows": [{"src": "server", "dst": "client.0", "size_bytes": 1, "start_s": 1, "repeat": {"every_s": 5,
                                                                                             "count": 3}}],
      "duration_s": 10}, "flows[0] starts at 11 s, after the end of the run"),
    ({"flows": [{"src": "server", "dst": "server", "size_bytes": 1}]}, "src and dst are the same"),
    ({}, "a run without FL needs flows or duration_s"),
])
def test_bad_traffic_is_one_line(traffic, needle):
    with pytest.raises(InputError) as err:
        validate({"topology": STAR, "traffic": traffic})
    assert needle in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_radio_clients_send_and_receive_through_their_cell():
    result = simulate(load_scenario("city_grid", [
        "fl.rounds=1", "fl.schedule.start=2", "output.sample_period_s=0",
        "traffic={flows: [{name: x, src: server, dst: client.5, size_bytes: 5 MB, start_s: 1}, "
        "{name: y, src: client.7, dst: server, size_bytes: 5 MB}]}"]))
    e = ends(result)
    assert (e.loc["x", "direction"], e.loc["y", "direction"]) == ("down", "up")
    assert result.summary["traffic"]["scripted"]["completed"] == 2
    with pytest.raises(InputError, match="FL client 'client.5' reaches the network through its cell, so the other "
                                         "end must be the server 'server', not 'core'"):
        simulate(load_scenario("city_grid", ["traffic={flows: [{src: core, dst: client.5, size_bytes: 1}]}"]))
