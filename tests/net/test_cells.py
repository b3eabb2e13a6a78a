"""Radio cells in the flow engine: equal air time in a cell, equal rates on wired links, and both at once."""

import math

import numpy as np
import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

import twin.radio as radio
from twin.net.cells import Cell, NoCoverage
from twin.net.engine import FlowNetwork
from twin.net.fairness import _Problem, mixed_maxmin_rates
from twin.net.flow import LinkDirection

MB = 1e6


def _net():
    env = simpy.Environment()
    return env, FlowNetwork(env)


def _cell(net, name="cell.0", latency_s=0.0):
    cell = Cell.make(0, name, "bs.0", latency_s=latency_s)
    net.add_resource(cell.dl)
    net.add_resource(cell.ul)
    return cell


def _rates_at(env, net, t):
    out = {}

    def probe():
        yield env.timeout(t)
        out.update({f.name: net.rate_of(f) for f in net.active_flows})

    env.process(probe())
    return out


def _check_bottlenecks(li, fi, co, cap, tf, x, w=None, tol=1e-7):
    """Feasible, and every flow has a saturated resource where its share (rate or air time) is the largest."""
    w = np.ones(x.size) if w is None else w
    load = np.bincount(li, weights=co * x[fi], minlength=cap.size)
    assert np.all(load <= cap * (1 + tol))
    share = np.where(tf[li], co * x[fi], x[fi]) / w[fi]
    top = np.zeros(cap.size)
    np.maximum.at(top, li, share)
    for f in range(x.size):
        mine = fi == f
        ok = (load[li[mine]] >= cap[li[mine]] * (1 - tol)) & (share[mine] >= top[li[mine]] * (1 - tol))
        assert ok.any(), f"flow {f} has no bottleneck"


# ------------------------------------------------------------------------------------------------ acceptance


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_n_users_of_equal_sinr_get_one_nth_each(n):
    env, net = _net()
    cell = _cell(net)
    backhaul = net.add_resource(LinkDirection("backhaul", 10e9, 0.0))
    r = 120e6
    for i in range(n):
        cell.set_rates(f"c{i}", r, r / 2)
    flows = [net.start([backhaul, cell.dl], 5 * MB, name=f"f{i}", user=f"c{i}") for i in range(n)]
    rates = _rates_at(env, net, 1e-6)
    env.run()
    assert list(rates.values()) == pytest.approx([r / n] * n, rel=1e-12)
    assert all(f.done.triggered for f in flows)
    assert env.now == pytest.approx(8 * 5 * MB * n / r, rel=1e-12)


def test_user_at_the_cell_edge_is_slower_than_one_near_the_site():
    preset = radio.get_preset("nr-macro")
    d = np.array([50.0, 400.0])  # both NLOS, no shadowing, no interference
    rx = preset.rx_power_dbm(preset.pathloss_db(d, los=False))
    rate = radio.user_rate_bps(preset, sinr_db=rx - preset.noise_dbm("dl"))
    assert rate[0] > rate[1] > 0
    times = []
    for r in rate:
        env, net = _net()
        cell = _cell(net)
        cell.set_rates("ue", float(r), float(r))
        net.start([cell.dl], 10 * MB, user="ue")
        env.run()
        times.append(env.now)
    assert times[1] > times[0]
    assert times == pytest.approx(8 * 10 * MB / rate)


def test_different_sinr_share_equal_air_time_when_the_cell_is_the_bottleneck():
    env, net = _net()
    cell = _cell(net)
    backhaul = net.add_resource(LinkDirection("backhaul", 10e9, 0.0))
    cell.set_rates("near", 300e6, 0)
    cell.set_rates("edge", 30e6, 0)
    net.start([backhaul, cell.dl], 50 * MB, name="near", user="near")
    net.start([backhaul, cell.dl], 50 * MB, name="edge", user="edge")
    rates = _rates_at(env, net, 1e-6)
    env.run(until=0.5)
    assert rates == pytest.approx({"near": 150e6, "edge": 15e6})


def test_shared_wired_link_splits_equally_not_by_radio_rate():
    # 300 uploads from 30 cells through one 1 Gbit/s server link, users of very different radio rates: the server
    # link is the bottleneck and TCP-like max-min gives every upload the same rate.
    env, net = _net()
    server = net.add_resource(LinkDirection("server", 1e9, 0.0))
    cells = []
    for k in range(30):
        cell = Cell.make(k, f"cell.{k}", f"bs.{k}")
        net.add_resource(cell.dl)
        net.add_resource(cell.ul)
        cells.append(cell)
    rng = np.random.default_rng(3)
    for i in range(300):
        cell = cells[i % 30]
        cell.ul.set_rate(f"c{i}", float(rng.uniform(200e6, 2e9)))
        net.start([cell.ul, server], 10 * MB, name=f"up{i}", user=f"c{i}")
    rates = _rates_at(env, net, 1e-6)
    env.run(until=0.01)
    assert list(rates.values()) == pytest.approx([1e9 / 300] * 300, rel=1e-9)


def test_mixed_hand_solved_example():
    # Cell A: users r = 100 and r = 10 Mbit/s, both through a 30 Mbit/s link that a third, wired-only flow also uses.
    # Flow 2 is cell-limited (air time 1 - 10.526/100), flows 1 and 3 share the link equally:
    # x1 = x3 = (30 - x2) / 2 and x1 / 100 + x2 / 10 = 1  ->  x2 = 8.947, x1 = x3 = 10.526 Mbit/s.
    env, net = _net()
    cell = _cell(net)
    link = net.add_resource(LinkDirection("link", 30e6, 0.0))
    cell.dl.set_rate("u1", 100e6)
    cell.dl.set_rate("u2", 10e6)
    net.start([link, cell.dl], 100 * MB, name="f1", user="u1")
    net.start([link, cell.dl], 100 * MB, name="f2", user="u2")
    net.start([link], 100 * MB, name="f3")
    rates = _rates_at(env, net, 1e-6)
    env.run(until=1.0)
    x2 = 30e6 * 170 / 190 / 3  # from 0.3 - x2/100e6 ... solved by hand: x2 = 8.947368 Mbit/s
    assert rates["f2"] == pytest.approx(8.947368421e6, rel=1e-9)
    assert rates["f1"] == pytest.approx(10.526315789e6, rel=1e-9)
    assert rates["f3"] == pytest.approx(rates["f1"], rel=1e-12)
    assert x2 == pytest.approx(rates["f2"], rel=1e-9)


def test_handover_mid_transfer_adds_the_interruption_and_the_rate_change():
    env, net = _net()
    a = _cell(net, "cell.a", latency_s=0.004)
    b = Cell.make(1, "cell.b", "bs.1", latency_s=0.004)
    net.add_resource(b.dl)
    net.add_resource(b.ul)
    gap = net.add_resource(NoCoverage())
    backhaul = net.add_resource(LinkDirection("backhaul", 10e9, 0.001))
    size, ra, rb, t_h, interruption = 20 * MB, 80e6, 40e6, 1.0, 0.05
    a.dl.set_rate("ue", ra)
    flow = net.start([backhaul, a.dl], size, user="ue")
    left = {}

    def handover():
        yield env.timeout(t_h)
        left["before"] = net.bytes_left(flow)
        net.reroute(flow, [gap])  # stall during the interruption
        a.remove("ue")
        yield env.timeout(interruption)
        left["after_gap"] = net.bytes_left(flow)
        b.dl.set_rate("ue", rb)
        net.reroute(flow, [backhaul, b.dl])

    env.process(handover())
    env.run()
    assert left["before"] == pytest.approx(size - ra * t_h / 8)
    assert left["after_gap"] == pytest.approx(left["before"])  # nothing moves while stalled
    expected = t_h + interruption + left["before"] * 8 / rb + 0.001 + 0.004
    assert flow.tx_end_t + flow.latency_s == pytest.approx(expected, rel=1e-12)
    no_handover = size * 8 / ra + 0.005
    assert expected - no_handover == pytest.approx(interruption + left["before"] * 8 * (1 / rb - 1 / ra))


def test_no_coverage_stalls_until_cancelled():
    env, net = _net()
    cell = _cell(net)
    flow = net.start([cell.ul], 1 * MB, user="ghost")  # no rate: infinite coefficient
    env.run(until=100.0)
    assert not flow.done.triggered and net.rate_of(flow) == 0.0
    assert net.bytes_left(flow) == pytest.approx(1 * MB)
    net.cancel(flow)
    env.run()
    assert not net.active_flows


def test_rate_change_takes_effect_at_resources_changed():
    env, net = _net()
    cell = _cell(net)
    cell.dl.set_rate("ue", 10e6)
    flow = net.start([cell.dl], 10 * MB, user="ue")

    def faster():
        yield env.timeout(4.0)
        cell.dl.set_rate("ue", 20e6)
        net.resources_changed([cell.dl, cell.ul])

    env.process(faster())
    env.run()
    assert flow.tx_end_t == pytest.approx(4.0 + (10 * MB - 5 * MB) * 8 / 20e6)


# -------------------------------------------------------------------------------------------- properties


@st.composite
def _coupled(draw):
    n_cells = draw(st.integers(1, 4))
    n_wired = draw(st.integers(1, 4))
    n_flows = draw(st.integers(1, 12))
    li, fi, co = [], [], []
    for f in range(n_flows):
        cell = draw(st.integers(-1, n_cells - 1))
        wired = draw(st.sets(st.integers(0, n_wired - 1), max_size=n_wired))
        if cell < 0 and not wired:
            wired = {0}
        if cell >= 0:
            li.append(cell)
            fi.append(f)
            co.append(1.0 / draw(st.floats(1.0, 1000.0)))
        for link in sorted(wired):
            li.append(n_cells + link)
            fi.append(f)
            co.append(draw(st.sampled_from([1.0, 1514 / 1448])))
    cap = np.concatenate([np.ones(n_cells), draw(st.lists(st.floats(1.0, 500.0), min_size=n_wired,
                                                          max_size=n_wired))])
    tf = np.arange(n_cells + n_wired) < n_cells
    w = np.array(draw(st.lists(st.sampled_from([1.0, 2.0, 0.5]), min_size=n_flows, max_size=n_flows)))
    return np.array(li), np.array(fi), np.array(co), cap, tf, w


@settings(max_examples=150, deadline=None)
@given(_coupled())
def test_mixed_solver_is_feasible_and_every_flow_has_a_bottleneck(problem):
    li, fi, co, cap, tf, w = problem
    stats = {}
    x = mixed_maxmin_rates(li, fi, co, cap, tf, w, stats=stats)
    assert stats["exact"]
    assert np.all(np.isfinite(x)) and np.all(x > 0)
    _check_bottlenecks(li, fi, co, cap, tf, x, w)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 8), st.integers(0, 2**32 - 1))
def test_engine_with_cells_conserves_bytes_and_never_exceeds_capacity(n_cells, n_flows, seed):
    rng = np.random.default_rng(seed)
    env, net = _net()
    server = net.add_resource(LinkDirection("server", float(rng.uniform(5e6, 200e6)), 0.0))
    cells = []
    for k in range(n_cells):
        cell = Cell.make(k, f"cell.{k}", f"bs.{k}")
        net.add_resource(cell.dl)
        net.add_resource(cell.ul)
        cells.append(cell)
    caps = np.array([r.capacity for r in net.resources])
    sent: dict[str, float] = {}
    recompute, advance = net._recompute, net._advance

    def checked_recompute():
        recompute()
        assert np.all(net.resource_load() <= caps * (1 + 1e-9))

    def counted_advance():  # every byte the engine moves goes through _advance
        dt = env.now - net._last_update
        for f in net.active_flows:
            sent[f.name] = sent.get(f.name, 0.0) + net._rate[f.slot] * dt / 8  # (rate_of would flush)
        advance()

    net._recompute, net._advance = checked_recompute, counted_advance
    flows = []

    def job(i):
        yield env.timeout(float(rng.uniform(0, 2)))
        cell = cells[int(rng.integers(n_cells))]
        cell.dl.set_rate(f"u{i}", float(rng.uniform(1e6, 300e6)))
        flows.append(net.start([server, cell.dl], float(rng.uniform(1e4, 5e6)), name=f"f{i}",
                               user=f"u{i}"))

    def churn():
        for _ in range(5):
            yield env.timeout(float(rng.uniform(0.1, 1.0)))
            for cell in cells:
                for user in list(cell.dl.rates_bps):
                    cell.dl.set_rate(user, float(rng.uniform(1e6, 300e6)))
            net.resources_changed([c.dl for c in cells])

    for i in range(n_flows):
        env.process(job(i))
    env.process(churn())
    env.run()
    assert len(flows) == n_flows and all(f.done.triggered for f in flows)
    assert all(math.isfinite(f.tx_end_t) for f in flows)
    for f in flows:
        assert sent.get(f.name, 0.0) == pytest.approx(f.size_bytes, rel=1e-9)


def _plain_iteration(li, fi, co, cap, tf, w):
    """The monotone fixed-point iteration alone, run to convergence (the slow reference of the exact finish)."""
    p = _Problem(li, fi, co, cap, tf, w, w.size)
    tau = p.cell_levels(np.full(p.c_flow.size, np.inf))
    for _ in range(20_000):
        rates, _, offers = p.wired_offers(tau)
        new = p.cell_levels(offers)
        if np.allclose(new, tau, rtol=1e-14, atol=0) or np.array_equal(new, tau):
            return rates
        tau = new
    raise AssertionError("the plain iteration did not converge")


@settings(max_examples=60, deadline=None)
@given(_coupled())
def test_exact_finish_equals_the_plain_fixed_point_iteration(problem):
    li, fi, co, cap, tf, w = problem
    exact = mixed_maxmin_rates(li, fi, co, cap, tf, w)
    assert exact == pytest.approx(_plain_iteration(li, fi, co, cap, tf, w), rel=1e-6)
