"""The lazy flow engine gives the completion times of the full recomputation (``incremental=False``), with and without
the compiled kernels, on random flow sets: random topologies, arrivals, cancels, reroutes, capacity changes, weights,
and radio cells with time-fair sharing."""

import math

import numpy as np
import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.net import filling, kernels
from twin.net.cells import Cell
from twin.net.engine import FlowNetwork
from twin.net.flow import LinkDirection
from twin.net.sharing import maxmin_rates


@st.composite
def flow_sets(draw, cells=False):
    n_links = draw(st.integers(1, 6))
    caps = draw(st.lists(st.sampled_from([1e6, 2e6, 5e6]) | st.floats(1e5, 1e8), min_size=n_links,
                         max_size=n_links))
    lats = draw(st.lists(st.floats(0, 0.05), min_size=n_links, max_size=n_links))
    n_cells = draw(st.integers(1, 3)) if cells else 0
    flows = draw(st.lists(st.fixed_dictionaries({
        "t0": st.sampled_from([0.0, 0.5]) | st.floats(0, 3),
        "size": st.sampled_from([1e5, 2e5]) | st.floats(0, 1e6),
        "route": st.sets(st.integers(0, n_links - 1), min_size=0 if cells else 1, max_size=3),
        "weight": st.sampled_from([1.0, 1.0, 2.0, 0.5]),
        "cell": st.integers(0, max(n_cells - 1, 0)),
        "cancel_at": st.none() | st.floats(0, 4),
        "reroute_at": st.none() | st.floats(0, 4),
        "reroute": st.sets(st.integers(0, n_links - 1), min_size=1, max_size=3),
    }), min_size=1, max_size=20))
    changes = draw(st.lists(st.tuples(st.floats(0, 4), st.integers(0, n_links - 1), st.floats(1e5, 1e8)),
                            max_size=4))
    fading = draw(st.lists(st.floats(0, 4), max_size=3)) if cells else []
    seed = draw(st.integers(0, 2**32 - 1))
    return caps, lats, n_cells, flows, changes, fading, seed


def run(case, incremental: bool) -> dict[str, tuple[float, float]]:
    """Simulate; returns {flow: (end of transmission, arrival)} (nan for a cancelled flow's arrival)."""
    caps, lats, n_cells, flows, changes, fading, seed = case
    rng = np.random.default_rng(seed)
    env = simpy.Environment()
    net = FlowNetwork(env, incremental=incremental)
    links = [net.add_resource(LinkDirection(f"l{i}", c, lat)) for i, (c, lat) in enumerate(zip(caps, lats, strict=True))]
    cells = [Cell.make(k, f"cell.{k}", f"bs.{k}") for k in range(n_cells)]
    for cell in cells:
        net.add_resource(cell.ul)
    out: dict[str, tuple[float, float]] = {}

    def job(i, spec):
        yield env.timeout(spec["t0"])
        route = [links[j] for j in sorted(spec["route"])]
        user = None
        if cells:
            user = f"u{i}"
            cells[spec["cell"]].ul.set_rate(f"u{i}", float(rng.uniform(1e6, 1e8)))
            route = [cells[spec["cell"]].ul, *route]
        flow = net.start(route, spec["size"], name=f"f{i}", weight=spec["weight"], user=user)
        events = sorted((t, kind) for t, kind in ((spec["cancel_at"], "cancel"), (spec["reroute_at"], "reroute"))
                        if t is not None and t > spec["t0"])
        for t, kind in events:
            yield env.timeout(t - env.now) | flow.done
            if flow.done.triggered:
                break
            if kind == "cancel":
                net.cancel(flow)
                break
            new = [links[j] for j in sorted(spec["reroute"])]
            net.reroute(flow, [cells[spec["cell"]].ul, *new] if cells else new)
        if not flow.cancelled:
            yield flow.done
        out[flow.name] = (flow.tx_end_t if flow.tx_end_t is not None else math.nan,
                          env.now if not flow.cancelled else math.nan)

    def change(t, j, capacity):
        yield env.timeout(t)
        links[j].capacity = capacity
        net.resources_changed([links[j]])

    def fade(t):
        yield env.timeout(t)
        for cell in cells:
            for user in list(cell.ul.rates_bps):
                cell.ul.set_rate(user, float(rng.uniform(1e6, 1e8)))
        net.resources_changed([c.ul for c in cells])

    for i, spec in enumerate(flows):
        env.process(job(i, spec))
    for t, j, capacity in changes:
        env.process(change(t, j, capacity))
    for t in fading:
        env.process(fade(t))
    env.run()
    assert not net.active_flows
    return out


def assert_same(got, want):
    assert got.keys() == want.keys()
    for name, (tx, arrival) in want.items():
        assert got[name][0] == pytest.approx(tx, rel=1e-9, nan_ok=True), name
        assert got[name][1] == pytest.approx(arrival, rel=1e-9, nan_ok=True), name


@settings(max_examples=150, deadline=None)
@given(flow_sets())
def test_lazy_engine_finishes_every_flow_when_the_full_recomputation_does(case):
    assert_same(run(case, incremental=True), run(case, incremental=False))


@settings(max_examples=40, deadline=None)
@given(flow_sets(cells=True))
def test_lazy_engine_with_time_fair_cells(case):
    assert_same(run(case, incremental=True), run(case, incremental=False))


@settings(max_examples=40, deadline=None)
@given(flow_sets())
def test_numpy_path_without_numba_gives_the_same_times(case):
    compiled = run(case, incremental=True)
    available = kernels.AVAILABLE
    kernels.AVAILABLE = False  # as without numba: the numpy path
    try:
        assert_same(run(case, incremental=True), compiled)
    finally:
        kernels.AVAILABLE = available


@st.composite
def triplets(draw):
    n_links = draw(st.integers(1, 7))
    n_flows = draw(st.integers(1, 25))
    link, flow, coef = [], [], []
    for f in range(n_flows):
        for li in sorted(draw(st.sets(st.integers(0, n_links - 1), min_size=1, max_size=4))):
            link.append(li)
            flow.append(f)
            coef.append(draw(st.sampled_from([1.0, 1.0, 1.04, math.inf]) | st.floats(0.1, 10)))
    capacity = draw(st.lists(st.sampled_from([1e6, 2e6]) | st.floats(1e4, 1e9), min_size=n_links, max_size=n_links))
    weight = draw(st.lists(st.sampled_from([1.0, 2.0]) | st.floats(0.1, 5), min_size=n_flows, max_size=n_flows))
    return np.array(link), np.array(flow), np.array(coef), np.array(capacity), np.array(weight)


@settings(max_examples=300, deadline=None)
@given(triplets())
def test_compiled_filling_is_bit_identical_to_maxmin_rates(problem):
    link, flow, coef, capacity, weight = problem
    n = weight.size
    want = maxmin_rates(link, flow, coef, capacity, weight, n)
    got = np.empty(n)
    filling.maxmin_triplets(link.copy(), flow.copy(), coef.copy(), link.size, capacity, weight, n, got,
                            np.full(capacity.size, -1))
    assert np.array_equal(got, want)


def test_lazy_recomputation_touches_only_the_connected_flows():
    # Two independent links: a flow ending on one re-shares that link only.
    env = simpy.Environment()
    net = FlowNetwork(env)
    a, b = net.add_resource(LinkDirection("a", 1e6, 0.0)), net.add_resource(LinkDirection("b", 1e6, 0.0))
    for i in range(10):
        net.start([a], 1e4 * (i + 1))
        net.start([b], 1e6)
    env.run(until=1e-9)
    before = net.n_flows_recomputed
    env.run(until=1.0)  # the first flow on a has ended (8e4 bit at 1e5 bit/s: 0.8 s), none on b
    if net._lazy:
        assert net.n_flows_recomputed - before == 9
    else:
        assert net.n_flows_recomputed - before == 19
