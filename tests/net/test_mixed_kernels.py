"""The compiled mixed solver equals the numpy one (``mixed_maxmin_rates``) within rtol 1e-9, and the lazy engine with
radio cells re-solves only what an event reaches and gives the full recomputation's completion times."""

import math

import numpy as np
import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.net import kernels
from twin.net.cells import Cell
from twin.net.engine import FlowNetwork
from twin.net.fairness import mixed_maxmin_rates
from twin.net.flow import LinkDirection
from twin.net.mixed_kernels import mixed_rates

MB = 1e6
lazy_only = pytest.mark.skipif(not kernels.AVAILABLE, reason="the lazy engine needs numba")


@st.composite
def mixed_problems(draw):
    """Random mixes of cells (time-fair, capacity 1 or a residual) and wired links; weights; stalled flows (inf),
    flows a cell does not limit (coefficient 0) and wired-only flows."""
    n_cells = draw(st.integers(1, 5))
    n_wired = draw(st.integers(1, 4))
    n_flows = draw(st.integers(1, 30))
    li, fi, co = [], [], []
    for f in range(n_flows):
        cell = draw(st.integers(-1, n_cells - 1))
        wired = draw(st.sets(st.integers(0, n_wired - 1), max_size=n_wired))
        if cell < 0 and not wired:
            wired = {0}
        if cell >= 0:
            li.append(cell)
            fi.append(f)
            co.append(draw(st.sampled_from([math.inf, 0.0]) | st.floats(1.0, 1000.0).map(lambda r: 1.0 / r)))
        for link in sorted(wired):
            li.append(n_cells + link)
            fi.append(f)
            co.append(draw(st.sampled_from([1.0, 1514 / 1448])))
    cap = np.concatenate([draw(st.lists(st.sampled_from([1.0]) | st.floats(0.05, 1.0), min_size=n_cells,
                                        max_size=n_cells)),
                          draw(st.lists(st.sampled_from([10.0, 100.0]) | st.floats(1.0, 500.0), min_size=n_wired,
                                        max_size=n_wired))])
    tf = np.arange(n_cells + n_wired) < n_cells
    w = np.array(draw(st.lists(st.sampled_from([1.0, 2.0, 0.5]), min_size=n_flows, max_size=n_flows)))
    return np.array(li), np.array(fi), np.array(co), cap, tf, w


@settings(max_examples=400, deadline=None)
@given(mixed_problems())
def test_compiled_mixed_solver_equals_the_numpy_one(problem):
    li, fi, co, cap, tf, w = problem
    want_stats, got_stats = {}, {}
    want = mixed_maxmin_rates(li, fi, co, cap, tf, w, stats=want_stats)
    got = mixed_rates(li, fi, co, cap, tf, w, stats=got_stats)
    assert got == pytest.approx(want, rel=1e-9)
    assert got_stats["exact"] == want_stats["exact"]


def test_hand_solved_example_of_the_fairness_docstring():
    # Cell (users of 100 and 10 Mbit/s) and a 30 Mbit/s link that both and a wired-only flow cross.
    li = np.array([1, 0, 1, 0, 1])
    fi = np.array([0, 0, 1, 1, 2])
    co = np.array([1.0, 1 / 100e6, 1.0, 1 / 10e6, 1.0])
    x = mixed_rates(li, fi, co, np.array([1.0, 30e6]), np.array([True, False]))
    assert x == pytest.approx([10.526315789e6, 8.947368421e6, 10.526315789e6], rel=1e-9)


def test_a_flow_in_two_cells_is_refused():
    with pytest.raises(ValueError, match="more than one time-fair"):
        mixed_rates(np.array([0, 1]), np.array([0, 0]), np.array([0.1, 0.1]), np.ones(2), np.array([True, True]))


# ------------------------------------------------------------------------------------------------- engine


def _city(n_cells, backhaul_bps, server_bps, shared=True):
    """Cells behind their own backhaul links, all through one server link."""
    env = simpy.Environment()
    net = FlowNetwork(env)
    server = net.add_resource(LinkDirection("server", server_bps, 0.001))
    cells, backhauls = [], []
    for k in range(n_cells):
        cell = Cell.make(k, f"cell.{k}", f"bs.{k}", shared=shared)
        net.add_resource(cell.ul)
        cells.append(cell)
        backhauls.append(net.add_resource(LinkDirection(f"bh.{k}", backhaul_bps, 0.001)))
    return env, net, server, cells, backhauls


@lazy_only
def test_a_flow_ending_in_one_cell_recomputes_that_cell_only():
    env, net, server, cells, backhauls = _city(5, 10e9, 100e9)  # the wired links are never full
    for k, cell in enumerate(cells):
        for u in range(4):
            cell.ul.set_rate(f"u{k}.{u}", 10e6 * (u + 1))
            net.start([cell.ul, backhauls[k], server], (1 + u + k / 10) * MB, user=f"u{k}.{u}")
    env.run(until=1e-9)
    before = net.n_flows_recomputed
    env.run()
    assert net.n_recomputes > 15  # the ends come apart
    assert net.n_flows_recomputed - before <= 3 * 20  # each end re-shares its own cell's other flows (every flow: 190)


@lazy_only
def test_unchanged_radio_rates_recompute_nothing_and_a_changed_one_its_cell():
    env, net, server, cells, backhauls = _city(3, 10e9, 100e9)
    for k, cell in enumerate(cells):
        for u in range(3):
            cell.ul.set_rate(f"u{k}.{u}", 20e6)
            net.start([cell.ul, backhauls[k], server], 100 * MB, user=f"u{k}.{u}")
    env.run(until=1.0)
    before = net.n_flows_recomputed
    net.resources_changed([c.ul for c in cells])  # nothing moved
    env.run(until=1.5)
    assert net.n_flows_recomputed == before
    cells[1].ul.set_rate("u1.2", 40e6)
    net.resources_changed([c.ul for c in cells])
    env.run(until=2.0)
    assert net.n_flows_recomputed - before == 3
    rates = {f.user: net.rate_of(f) for f in net.active_flows}
    # equal air time in cell 1: 1/3 each of 20, 20 and 40 Mbit/s
    assert [rates[f"u1.{u}"] for u in range(3)] == pytest.approx([20e6 / 3, 20e6 / 3, 40e6 / 3], rel=1e-12)
    assert rates["u0.0"] == pytest.approx(20e6 / 3, rel=1e-12)


def _mobility(seed, shared, incremental, server_bps):
    """Flows arrive in 6 cells behind 2 backhauls; every 0.3 s some users' rates change (some to 0: no service)."""
    rng = np.random.default_rng(seed)
    env = simpy.Environment()
    net = FlowNetwork(env, incremental=incremental)
    server = net.add_resource(LinkDirection("server", server_bps, 0.001))
    bh = [net.add_resource(LinkDirection(f"bh.{j}", 60e6, 0.001)) for j in range(2)]
    cells = [Cell.make(k, f"cell.{k}", f"bs.{k}", shared=shared) for k in range(6)]
    for cell in cells:
        net.add_resource(cell.ul)
    users = [(int(rng.integers(6)), f"u{i}") for i in range(40)]
    for k, u in users:
        cells[k].ul.set_rate(u, float(rng.uniform(1e6, 100e6)))
    flows = []

    def arrivals():
        for i, (k, u) in enumerate(users):
            yield env.timeout(float(rng.exponential(0.05)))
            route = [cells[k].ul, bh[k % 2], server] if i % 5 else [bh[k % 2]]
            flows.append(net.start(route, float(rng.uniform(0.1, 4)) * MB, user=u, name=f"f{i}"))

    def fading():
        for _ in range(40):
            yield env.timeout(0.3)
            for k, u in users:
                if rng.random() < 0.3:
                    cells[k].ul.set_rate(u, 0.0 if rng.random() < 0.1 else float(rng.uniform(1e6, 100e6)))
            net.resources_changed([c.ul for c in cells])
        for k, u in users:  # everyone served again at the end
            cells[k].ul.set_rate(u, 10e6)
        net.resources_changed([c.ul for c in cells])

    env.process(arrivals())
    env.process(fading())
    env.run()
    return {f.name: f.tx_end_t for f in flows}


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("server_bps", [50e6, 1e9])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lazy_cells_with_partial_rate_changes_finish_as_the_full_recomputation(seed, server_bps, shared):
    got = _mobility(seed, shared, True, server_bps)
    want = _mobility(seed, shared, False, server_bps)
    assert got.keys() == want.keys()
    for name, t in want.items():
        assert got[name] == pytest.approx(t, rel=1e-9), name


@pytest.mark.parametrize("shared", [True, False])
def test_without_numba_the_numpy_path_gives_the_same_times(monkeypatch, shared):
    compiled = _mobility(3, shared, True, 50e6)
    monkeypatch.setattr(kernels, "AVAILABLE", False)  # as without numba: every flow with mixed_maxmin_rates
    numpy_path = _mobility(3, shared, True, 50e6)
    assert compiled.keys() == numpy_path.keys()
    for name, t in numpy_path.items():
        assert compiled[name] == pytest.approx(t, rel=1e-9), name
