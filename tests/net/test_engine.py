"""Analytic cases of the flow-level engine: exact times, fair shares, freed capacity, conserved bytes."""

import math

import pytest
import simpy

from twin.net.engine import FlowNetwork
from twin.net.flow import LinkDirection
from twin.net.tcp import slow_start_latency_s


def _net(*links, slow_start=None):
    env = simpy.Environment()
    net = FlowNetwork(env, slow_start=slow_start)
    made = [net.add_resource(LinkDirection(f"l{i}", bw, lat)) for i, (bw, lat) in enumerate(links)]
    return env, net, made


def _finish_times(env, net, jobs):
    """jobs: list of (start_t, route, bytes); returns the arrival time of each."""
    done = {}

    def job(i, t0, route, size):
        yield env.timeout(t0)
        yield env.process(net.transfer(route, size))
        done[i] = env.now

    for i, (t0, route, size) in enumerate(jobs):
        env.process(job(i, t0, route, size))
    env.run()
    return [done[i] for i in range(len(jobs))]


def test_one_flow_takes_latency_plus_size_over_bandwidth():
    env, net, (link,) = _net((100e6, 0.010))
    (t,) = _finish_times(env, net, [(0.0, [link], 1_000_000)])
    assert t == pytest.approx(0.010 + 8e6 / 100e6, rel=1e-12)


def test_overhead_scales_goodput():
    env = simpy.Environment()
    net = FlowNetwork(env)
    link = net.add_resource(LinkDirection("l", 100e6, 0.0, overhead=1514 / 1448))
    (t,) = _finish_times(env, net, [(0.0, [link], 1448 * 1000)])
    assert t == pytest.approx(1514 * 1000 * 8 / 100e6, rel=1e-12)


@pytest.mark.parametrize("n", [2, 5, 17])
def test_equal_flows_share_bottleneck_equally(n):
    env, net, (link,) = _net((60e6, 0.0))
    rates = []

    def probe():
        yield env.timeout(0.001)
        rates.extend(net.rate_of(f) for f in net.active_flows)

    env.process(probe())
    times = _finish_times(env, net, [(0.0, [link], 1e6)] * n)
    assert rates == pytest.approx([60e6 / n] * n)
    assert times == pytest.approx([8e6 * n / 60e6] * n)


def test_flow_on_two_links_gets_smaller_share():
    # l0 carries 3 flows (one of them also crosses l1 of 20 Mbit/s): the two-link flow is held to 20 Mbit/s,
    # the others share the rest of l0 equally (max-min): (100 - 20) / 2 = 40 Mbit/s each.
    env, net, (l0, l1) = _net((100e6, 0.0), (20e6, 0.0))
    rates = {}

    def probe():
        yield env.timeout(1e-6)
        for f in net.active_flows:
            rates[f.name] = net.rate_of(f)

    env.process(probe())
    net_flows = [net.start([l0, l1], 1e7, name="long"), net.start([l0], 1e7, name="a"),
                 net.start([l0], 1e7, name="b")]
    env.run()
    assert rates == pytest.approx({"long": 20e6, "a": 40e6, "b": 40e6})
    assert all(f.done.triggered for f in net_flows)


def test_ending_flow_frees_capacity_at_that_instant():
    # Two flows share 10 Mbit/s. The small one (1 Mbit) ends at t = 0.2 s; the big one then runs alone.
    env, net, (link,) = _net((10e6, 0.0))
    small, big = 1e6 / 8, 4e6 / 8
    t_small, t_big = _finish_times(env, net, [(0.0, [link], small), (0.0, [link], big)])
    assert t_small == pytest.approx(0.2)
    # big sent 1 Mbit by 0.2 s, the remaining 3 Mbit at full rate: 0.3 s more.
    assert t_big == pytest.approx(0.5)


def test_late_arrival_reshares():
    env, net, (link,) = _net((8e6, 0.0))
    t1, t2 = _finish_times(env, net, [(0.0, [link], 1e6), (0.5, [link], 1e6)])
    # flow 1 alone for 0.5 s (4 Mbit of 8), then both at 4 Mbit/s: flow 1 needs 1 s more.
    assert t1 == pytest.approx(1.5)
    # flow 2 sent 4 Mbit by 1.5 s, then 4 Mbit alone at 8 Mbit/s.
    assert t2 == pytest.approx(2.0)


def test_bytes_are_conserved_under_churn():
    import numpy as np

    rng = np.random.default_rng(3)
    env, net, links = _net((50e6, 0.001), (30e6, 0.002), (80e6, 0.0))
    jobs = []
    for _ in range(60):
        k = int(rng.integers(1, 4))
        route = [links[j] for j in sorted(rng.choice(3, size=k, replace=False))]
        jobs.append((float(rng.uniform(0, 2)), route, float(rng.uniform(1e4, 2e6))))
    delivered = []

    def job(t0, route, size):
        yield env.timeout(t0)
        f = yield env.process(net.transfer(route, size))
        delivered.append((f.size_bytes, f.tx_end_t - f.start_t))

    for j in jobs:
        env.process(job(*j))
    env.run()
    assert len(delivered) == len(jobs)
    assert sum(d[0] for d in delivered) == pytest.approx(sum(j[2] for j in jobs))
    # total bytes cannot beat the busiest link's capacity
    assert not net.active_flows


def test_cancel_frees_capacity_and_reports_partial_bytes():
    env, net, (link,) = _net((8e6, 0.0))
    a = net.start([link], 1e6, name="a")
    b = net.start([link], 1e6, name="b")

    def stopper():
        yield env.timeout(0.5)
        assert net.bytes_left(a) == pytest.approx(1e6 - 0.5 * 4e6 / 8)
        net.cancel(a)

    env.process(stopper())
    env.run()
    assert not a.done.triggered
    # b: 2 Mbit at 4 Mbit/s by 0.5 s, then 6 Mbit alone at 8 Mbit/s -> 0.75 s more
    assert b.tx_end_t == pytest.approx(1.25)


def test_reroute_mid_transfer_keeps_sent_bytes():
    env, net, (fast, slow) = _net((8e6, 0.0), (2e6, 0.0))
    f = net.start([fast], 1e6)

    def handover():
        yield env.timeout(0.5)  # 4 Mbit sent
        net.reroute(f, [slow])

    env.process(handover())
    env.run()
    assert f.tx_end_t == pytest.approx(0.5 + 4e6 / 2e6)


def test_zero_byte_flow_takes_latency_only():
    env, net, (link,) = _net((1e6, 0.25))
    (t,) = _finish_times(env, net, [(0.0, [link], 0)])
    assert t == pytest.approx(0.25)


def test_slow_start_reproduces_kurose_ross_textbook_case():
    # O/S = 15, S/R = 10 ms, RTT = 20 ms -> 0.220 s. The engine pays setup_rtts x RTT + stall before sending and
    # the one-way latency after, so setup_rtts = 1.5 gives the textbook's 2 RTT.
    class SS:
        mss_bytes = 1000
        setup_rtts = 1.5

    mss_bits = 8000.0
    rate = mss_bits / 0.010
    env, net, (link,) = _net((rate, 0.010), slow_start=SS())
    (t,) = _finish_times(env, net, [(0.0, [link], 15 * 1000)])
    assert t == pytest.approx(0.220, abs=1e-9)
    assert slow_start_latency_s(15 * mss_bits, mss_bits, rate, 0.020) == pytest.approx(0.220)


def test_stalled_flow_resumes_when_resource_recovers():
    class Cell:
        name = "cell"
        latency_s = 0.0
        time_fair = False

        def __init__(self):
            self.capacity = 1.0
            self.rate = 0.0

        def coefficient(self, flow):
            return math.inf if self.rate == 0 else 1.0 / self.rate

    env = simpy.Environment()
    net = FlowNetwork(env)
    cell = net.add_resource(Cell())
    f = net.start([cell], 1e6)

    def coverage():
        yield env.timeout(2.0)
        cell.rate = 8e6
        net.resource_changed(cell)

    env.process(coverage())
    env.run()
    assert f.tx_end_t == pytest.approx(2.0 + 1.0)


def test_carried_bytes_are_exact_per_resource_and_interval():
    """Per resource: payload bytes carried and capacity used, integrated between rate changes (count_carried)."""
    env, net, (a, b) = _net((100e6, 0.0), (10e6, 0.0))
    net.count_carried()
    seen = {}

    def probe():
        yield env.timeout(0.5)
        seen[0.5] = net.carried()

    env.process(probe())
    # flow 1 alone on a (fast), flow 2 on a + b (b is its bottleneck, 10 Mbit/s), starting at 0.2 s
    _finish_times(env, net, [(0.0, [a], 2_000_000), (0.2, [a, b], 1_000_000)])
    carried, busy = net.carried()
    assert carried == pytest.approx([3_000_000, 1_000_000], rel=1e-12)
    coef = a.coefficient(None)
    assert busy == pytest.approx([3_000_000 * 8 * coef, 1_000_000 * 8 * coef], rel=1e-12)
    # at 0.5 s: flow 2 has moved 0.3 s at b's payload rate 10e6 / coef; a carried all of that and flow 1's share
    rate2 = 10e6 / coef
    assert seen[0.5][0][1] == pytest.approx(0.3 * rate2 / 8, rel=1e-12)
    assert seen[0.5][1][1] == pytest.approx(0.3 * 10e6, rel=1e-12)  # b saturated for 0.3 s (bit/s x s)


def test_carried_is_off_until_asked():
    env, net, (a,) = _net((100e6, 0.0))
    _finish_times(env, net, [(0.0, [a], 1000)])
    with pytest.raises(RuntimeError, match="count_carried"):
        net.carried()


def test_flows_finishing_together_arrive_in_order_one_timer_per_instant():
    """A completion that finishes several flows delivers them through one timer per arrival instant: each arrives
    after its own route's latency, flows of one instant in admission order, and a flow of another latency in between
    does not reorder them (the same order one timer per flow gives)."""
    env = simpy.Environment()
    arrivals = []

    class Seen:
        def flow_started(self, flow, t):
            pass

        def flow_ended(self, flow, t):
            arrivals.append((flow.name, t))

        def flow_cancelled(self, flow, t, bytes_done):
            pass

    net = FlowNetwork(env, observer=Seen())
    hub = net.add_resource(LinkDirection("hub", 4e6, 0.0))
    lat = {"a": 0.010, "b": 0.030, "c": 0.010, "d": 0.0}
    legs = {n: net.add_resource(LinkDirection(n, 1e9, v)) for n, v in lat.items()}
    flows = [net.start([hub, legs[n]], 1_000_000, name=n) for n in lat]  # equal shares: they finish together
    env.run()
    tx_end = flows[0].tx_end_t
    assert all(f.tx_end_t == tx_end for f in flows)
    assert arrivals == [("d", tx_end), ("a", tx_end + 0.010), ("c", tx_end + 0.010), ("b", tx_end + 0.030)]
    assert all(f.done.triggered for f in flows)
