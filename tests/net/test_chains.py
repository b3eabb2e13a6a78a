"""Chains of transfers run in one compiled call (twin.net.chains.run_on) against the same chains as SimPy processes on
the flow engine: every flow's start and end, the event order and the engine's state and counters, to the bit."""

from __future__ import annotations

import numpy as np
import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.net import chains
from twin.net.engine import FlowNetwork
from twin.net.flow import LinkDirection
from twin.net.kernels import AVAILABLE
from twin.net.lazy import FINISH_EPS_S

pytestmark = pytest.mark.skipif(not AVAILABLE, reason="the compiled chains need numba")


def _network(leaf_caps, hub_cap, latency):
    env = simpy.Environment()
    net = FlowNetwork(env)
    hub_down = net.add_resource(LinkDirection("hub.down", hub_cap, 0.001))
    hub_up = net.add_resource(LinkDirection("hub.up", hub_cap, 0.001))
    down = [net.add_resource(LinkDirection(f"leaf{i}.down", c, latency)) for i, c in enumerate(leaf_caps)]
    up = [net.add_resource(LinkDirection(f"leaf{i}.up", c / 4, latency)) for i, c in enumerate(leaf_caps)]
    return env, net, [([hub_down, d], [u, hub_up]) for d, u in zip(down, up, strict=True)]


def _warm(env, net, routes):
    """One burst as processes first, so the engine has slots and hops (as a round 1 gives them)."""
    for down, _ in routes:
        net.start(down, 1e5)
    env.run()


def _as_processes(env, net, routes, leaves, sizes, delays):
    log = []

    def chain(i):
        down, up = routes[leaves[i]]
        log.append(("start", env.now, i))
        flow = net.start(down, sizes[i])
        yield flow.done
        log.append(("end", env.now, i))
        yield env.timeout(delays[i])
        log.append(("start", env.now, len(leaves) + i))
        flow = net.start(up, sizes[len(leaves) + i])
        yield flow.done
        log.append(("end", env.now, len(leaves) + i))

    procs = [env.process(chain(i)) for i in range(len(leaves))]
    env.run(env.all_of(procs))
    return log, env.now


def _compiled(env, net, routes, leaves, sizes, delays):
    n = len(leaves)
    flows = [routes[c][0] for c in leaves] + [routes[c][1] for c in leaves]
    route = np.array([[net.index_of(r) for r in rs] for rs in flows], dtype=np.int64)
    coef = np.array([[r.coefficient(None) for r in rs] for rs in flows])
    latency = np.array([sum(r.latency_s for r in rs) for rs in flows])
    assert chains.at_rest(net, n, route.shape[1])
    out = chains.run_on(net, route, coef, np.asarray(sizes, dtype=float), latency, np.asarray(delays, dtype=float),
                        FINISH_EPS_S)
    names = {chains.START: "start", chains.END: "end"}
    log = [(names[k], t, i) for k, t, i in zip(out.kind.tolist(), out.t.tolist(), out.i.tolist(), strict=True)
           if k in names]
    return log, out.t_end


def _state(net):
    return (net.n_recomputes, net.n_flows_recomputed, net.n_flow_events, net._generation, net._n_admitted,
            list(net._free), net._last_update, net._remaining.tobytes(), net._rate.tobytes(), net._seq.tobytes(),
            net._links.tobytes(), net._head.tobytes(), net._nxt.tobytes(), net._scratch.ints.tobytes(),
            net._scratch.floats.tobytes())


@settings(max_examples=40, deadline=None)
@given(n_leaves=st.integers(2, 8), n=st.integers(1, 14), hub=st.sampled_from([3e6, 5e7, 1e9]),
       latency=st.sampled_from([0.0, 0.004]), seed=st.integers(0, 10_000))
def test_chains_run_as_the_processes_would(n_leaves, n, hub, latency, seed):
    rng = np.random.default_rng(seed)
    leaf_caps = rng.choice([1e6, 1e7, 2e7], n_leaves)
    leaves = rng.integers(0, n_leaves, n).tolist()  # a leaf drawn twice: two flows share it
    sizes = rng.choice([1.0, 3e4, 3e4, 2e5], 2 * n).tolist()
    delays = rng.choice([0.0, 0.01, 0.01, 0.3], n) * rng.uniform(0.5, 1.5, n)
    results = []
    for run in (_as_processes, _compiled):
        env, net, routes = _network(leaf_caps, hub, latency)
        _warm(env, net, routes)
        log, t_end = run(env, net, routes, leaves, sizes, delays.tolist())
        results.append((log, t_end, _state(net)))
    (log_p, end_p, state_p), (log_c, end_c, state_c) = results
    assert log_c == log_p
    assert end_c == end_p
    assert state_c == state_p


def test_a_network_that_is_not_at_rest_is_left_to_the_engine():
    env, net, routes = _network([1e7, 1e7], 1e9, 0.0)
    assert not chains.at_rest(net, 2, 2)  # no slots yet: the engine grows its arrays as flows come
    _warm(env, net, routes)
    assert chains.at_rest(net, 2, 2)
    assert not chains.at_rest(net, 2, 3)  # routes longer than any before
    assert not chains.at_rest(net, 0, 2)
    net.start(routes[0][0], 1e6)
    assert not chains.at_rest(net, 2, 2)  # a flow under way
