import pytest

from twin.net.tcp import slow_start_latency_s, slow_start_stall_s


def test_textbook_case():
    s = 8000.0
    r = s / 0.010
    # K = 4, Q = 2, P = 2: stall = 2 (RTT + S/R) - 3 S/R = 0.03 s; latency 0.22 s
    assert slow_start_stall_s(15 * s, s, r, 0.020) == pytest.approx(0.030)
    assert slow_start_latency_s(15 * s, s, r, 0.020) == pytest.approx(0.220)


def test_no_stall_for_one_segment_or_zero_rtt():
    assert slow_start_stall_s(8000, 8000, 1e6, 0.05) == 0.0
    assert slow_start_stall_s(8e6, 8000, 1e6, 0.0) == 0.0


def test_large_object_stall_is_bounded_by_q_windows():
    s, r, rtt = 12000.0, 1e8, 0.05
    q_stall = slow_start_stall_s(1e12, s, r, rtt)
    assert q_stall == slow_start_stall_s(1e13, s, r, rtt)  # P = Q once the object is large
    assert 0 < q_stall < 20 * rtt


# --------------------------------------------------------------------------- round trip, fair-share stall, TCP sharing

import math  # noqa: E402

import numpy as np  # noqa: E402
import simpy  # noqa: E402

from twin.net.engine import FlowNetwork  # noqa: E402
from twin.net.flow import Flow, LinkDirection  # noqa: E402
from twin.net.tcp import TcpSharing, boosts  # noqa: E402


class SS:
    mss_bytes = 1000
    setup_rtts = 1.5


def _ends(env, net, jobs):
    """jobs: (start_t, route, bytes); the arrival time of each."""
    done = {}

    def job(i, t0, route, size):
        yield env.timeout(t0)
        yield env.process(net.transfer(route, size))
        done[i] = env.now

    for i, job_ in enumerate(jobs):
        env.process(job(i, *job_))
    env.run()
    return [done[i] for i in range(len(jobs))]


def test_round_trip_is_forward_plus_reverse_latency():
    env = simpy.Environment()
    fwd, back = LinkDirection("a->b", 1e6, 0.010), LinkDirection("b->a", 1e6, 0.030)
    fwd.reverse, back.reverse = back, fwd
    flow = Flow(env, "f", [fwd], 1000)
    assert flow.latency_s == 0.010 and flow.rtt_s == pytest.approx(0.040)
    assert Flow(env, "g", [LinkDirection("x", 1e6, 0.010)], 1000).rtt_s == pytest.approx(0.020)  # no reverse: symmetric


def test_slow_start_uses_the_route_round_trip():
    # the textbook case (S/R = 10 ms, O/S = 15) with a 10 ms forward and 30 ms reverse latency: RTT = 40 ms
    env = simpy.Environment()
    net = FlowNetwork(env, slow_start=SS())
    rate = 8000 / 0.010
    fwd = net.add_resource(LinkDirection("a->b", rate, 0.010))
    back = net.add_resource(LinkDirection("b->a", rate, 0.030))
    fwd.reverse, back.reverse = back, fwd
    (t,) = _ends(env, net, [(0.0, [fwd], 15_000)])
    rtt = 0.040
    assert t == pytest.approx(1.5 * rtt + slow_start_stall_s(15 * 8000, 8000, rate, rtt) + 0.150 + 0.010, abs=1e-12)
    two_forward = 1.5 * 0.020 + slow_start_stall_s(15 * 8000, 8000, rate, 0.020) + 0.150 + 0.010
    assert t > two_forward + 0.01  # not the old 2 x forward latency


def test_slow_start_stall_is_computed_at_the_fair_share():
    # a long flow holds the link; a 15-segment flow joins at t = 1 and will get half the link: its stall is the one
    # at rate / 2 (Q grows with the segment time), not at the uncontended rate
    env = simpy.Environment()
    net = FlowNetwork(env, slow_start=SS())
    rate = 8000 / 0.010
    link = net.add_resource(LinkDirection("l", rate, 0.010))
    _, t = _ends(env, net, [(0.0, [link], 10_000_000), (1.0, [link], 15_000)])
    rtt, half = 0.020, rate / 2
    stall = slow_start_stall_s(15 * 8000, 8000, half, rtt)
    assert stall != pytest.approx(slow_start_stall_s(15 * 8000, 8000, rate, rtt))
    assert t == pytest.approx(1.0 + 1.5 * rtt + stall + 15 * 8000 / half + 0.010, abs=1e-9)


def test_boosts_lift_the_upper_half_only():
    assert boosts(1, 0.5).tolist() == [1.0]  # a flow that starts alone gets no boost
    b = boosts(4, 0.3)
    assert b[0] == b[1] == 1.0 and 1.0 < b[2] < b[3]
    assert b[3] == pytest.approx(math.exp(0.3 * 1.1503493803760083))
    assert np.all(boosts(100, 0.0) == 1.0)


def _tcp(seed, spread=0.3, newcomer=0.8, settle_s=1.0):
    return TcpSharing(spread, newcomer, settle_s, np.random.default_rng(seed))


def test_tcp_sharing_leaves_a_lone_flow_exact():
    env = simpy.Environment()
    net = FlowNetwork(env, sharing=_tcp(0))
    link = net.add_resource(LinkDirection("l", 100e6, 0.001))
    (t,) = _ends(env, net, [(0.0, [link], 20_000_000)])
    assert t == pytest.approx(0.001 + 1.6, rel=1e-12)


def _batch(seed, n=4, size=1_000_000, settle_s=10.0):
    env = simpy.Environment()
    net = FlowNetwork(env, sharing=_tcp(seed, settle_s=settle_s))
    link = net.add_resource(LinkDirection("l", 100e6, 0.0))
    flows = [net.start([link], size) for _ in range(n)]
    env.run(until=1e-9)
    rates = [net.rate_of(f) for f in flows]
    env.run()
    return rates, [f.done.value.tx_end_t for f in flows]


def test_tcp_sharing_equal_flows_get_uneven_shares_and_the_link_stays_full():
    rates, ends = _batch(0)
    assert sum(rates) == pytest.approx(100e6)
    assert len({round(r) for r in rates}) == 3  # two boosted flows, and the rest sharing equally
    assert sorted(rates)[0] == pytest.approx(sorted(rates)[1])
    assert max(ends) == pytest.approx(4 * 8e6 / 100e6)  # the last finisher ends when the link has carried all
    assert np.mean(ends) < max(ends)


def test_tcp_sharing_is_seeded_and_a_batch_mean_does_not_depend_on_the_seed():
    runs = [_batch(seed)[1] for seed in range(6)]
    assert runs[0] == _batch(0)[1]  # same seed, same result
    assert len({tuple(np.argsort(r)) for r in runs}) > 1  # which flow wins depends on the seed
    assert np.std([np.mean(r) for r in runs]) < 1e-12


def test_tcp_sharing_incumbent_keeps_more_until_the_newcomer_settles():
    env = simpy.Environment()
    net = FlowNetwork(env, sharing=_tcp(0, newcomer=0.8, settle_s=1.0))
    link = net.add_resource(LinkDirection("l", 100e6, 0.0))
    old = net.start([link], 1e9)
    env.run(until=2.0)  # the incumbent has settled
    new = net.start([link], 1e9)
    env.run(until=2.5)
    assert net.rate_of(old) == pytest.approx(100e6 / 1.8) and net.rate_of(new) == pytest.approx(100e6 * 0.8 / 1.8)
    env.run(until=3.5)  # the newcomer settled: fair shares
    assert net.rate_of(old) == pytest.approx(50e6) and net.rate_of(new) == pytest.approx(50e6)


def test_tcp_sharing_matches_the_reference_recomputation():
    # the lazy path and the full recomputation agree with the TCP weights too (staggered and batched flows)
    def run(incremental):
        env = simpy.Environment()
        net = FlowNetwork(env, sharing=_tcp(3), incremental=incremental)
        links = [net.add_resource(LinkDirection(f"c{i}", 50e6, 1e-5)) for i in range(4)]
        server = net.add_resource(LinkDirection("s", 100e6, 1e-5))
        jobs = [(0.5 * (i % 3), [links[i % 4], server], 2e6 + 1e5 * i) for i in range(10)]
        return _ends(env, net, jobs)

    assert run(True) == pytest.approx(run(False), rel=1e-9)
