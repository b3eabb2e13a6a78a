"""Random small topologies and flow arrivals: capacity is never exceeded, every flow finishes, time never goes back."""

import numpy as np
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.net.engine import FlowNetwork
from twin.net.flow import LinkDirection


@st.composite
def scenarios(draw):
    n_links = draw(st.integers(1, 5))
    caps = draw(st.lists(st.floats(1e3, 1e9), min_size=n_links, max_size=n_links))
    lats = draw(st.lists(st.floats(0, 0.1), min_size=n_links, max_size=n_links))
    flows = draw(st.lists(st.tuples(st.floats(0, 5), st.floats(0, 1e6),
                                    st.sets(st.integers(0, n_links - 1), min_size=1)), min_size=1, max_size=25))
    return caps, lats, flows


@settings(max_examples=60, deadline=None)
@given(scenarios())
def test_engine_invariants(case):
    caps, lats, flows = case
    env = simpy.Environment()
    net = FlowNetwork(env)
    links = [net.add_resource(LinkDirection(f"l{i}", c, lat)) for i, (c, lat) in enumerate(zip(caps, lats, strict=True))]
    cap = np.array(caps)
    finished = []
    times = []

    # Check the invariants after every recomputation.
    original = net._recompute

    def checked():
        original()
        times.append(env.now)
        assert np.all(net.resource_load() <= cap * (1 + 1e-9))

    net._recompute = checked

    def job(t0, size, route):
        yield env.timeout(t0)
        flow = yield env.process(net.transfer([links[i] for i in sorted(route)], size))
        finished.append(flow)

    for t0, size, route in flows:
        env.process(job(t0, size, route))
    env.run()
    assert len(finished) == len(flows)
    assert all(b >= a for a, b in zip(times, times[1:], strict=False))
    assert not net.active_flows
