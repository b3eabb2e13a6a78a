"""``transport:`` in whole runs: the slow-start round trip over asymmetric links, the TCP sharing model's switch,
and the resolved scenario (the TCP model is left out while exact max-min sharing is on)."""

import pytest

from twin.net.tcp import slow_start_stall_s
from twin.scenario.loading import resolved_yaml, validate
from twin.sim.runner import simulate

OVERHEAD = 1514 / 1448
# client_link is given switch -> client; reverse = client -> switch. server_link: server -> switch; reverse back.
STAR = {"kind": "star", "n_clients": 4,
        "client_link": {"bandwidth_bps": 50e6, "latency_s": 0.001, "reverse_latency_s": 0.003},
        "server_link": {"bandwidth_bps": 100e6, "latency_s": 0.002, "reverse_latency_s": 0.004}}


def _run(flows, **transport):
    config = validate({"name": "t", "seed": 3, "topology": STAR, "transport": transport, "traffic": {"flows": flows}})
    tl = simulate(config).tables["timeline"]
    return tl[tl["kind"] == "flow_end"].set_index("flow")["duration_s"]


def test_slow_start_round_trip_is_forward_plus_reverse_latency():
    size = 200_000
    ends = _run([{"name": "up", "src": "client.0", "dst": "server", "size_bytes": size}],
                slow_start={"enabled": True, "setup_rtts": 1.0})
    forward = 0.003 + 0.004  # client -> switch -> server
    rtt = forward + 0.002 + 0.001  # and back: server -> switch -> client
    rate = 50e6 / OVERHEAD
    expected = rtt + slow_start_stall_s(8 * size, 8 * 1448, rate, rtt) + 8 * size / rate + forward
    assert ends["up"] == pytest.approx(expected, rel=1e-12)


def test_tcp_sharing_changes_only_shared_bottlenecks_and_is_seeded():
    together = [{"name": f"d{i}", "src": "server", "dst": f"client.{i}", "size_bytes": 1e6} for i in range(4)]
    fair = _run(together)
    assert fair.nunique() == 1  # exact max-min: they finish together
    tcp = _run(together, sharing="tcp")
    assert tcp.nunique() > 1 and tcp.max() == pytest.approx(fair.max(), rel=1e-9)  # uneven, link kept full
    assert tcp.equals(_run(together, sharing="tcp"))  # deterministic for a seed
    alone = [{"name": "u", "src": "client.0", "dst": "server", "size_bytes": 1e6}]
    assert _run(alone, sharing="tcp")["u"] == _run(alone)["u"]


def test_resolved_scenario_shows_the_tcp_model_only_when_on():
    base = {"name": "t", "topology": STAR, "traffic": {"flows": [{"src": "client.0", "dst": "server",
                                                                  "size_bytes": 1}]}}
    assert "sharing" not in resolved_yaml(validate(base))
    on = resolved_yaml(validate({**base, "transport": {"sharing": "tcp"}}))
    assert "sharing: tcp" in on and "settle_s: 1.0" in on
