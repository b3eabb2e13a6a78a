"""The max-min solver on hand-made cases and random ones (hypothesis)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.net.sharing import link_load, maxmin_rates


def _triplets(routes, coefs=None):
    li, fi, ci = [], [], []
    for f, route in enumerate(routes):
        for j, link in enumerate(route):
            li.append(link)
            fi.append(f)
            ci.append(1.0 if coefs is None else coefs[f][j])
    return np.array(li), np.array(fi), np.array(ci, dtype=float)


def test_classic_parking_lot():
    # Links 0 and 1 of capacity 1; flow 0 crosses both, flows 1 and 2 one each: everyone gets 1/2.
    li, fi, ci = _triplets([[0, 1], [0], [1]])
    assert maxmin_rates(li, fi, ci, np.array([1.0, 1.0])) == pytest.approx([0.5, 0.5, 0.5])


def test_bottleneck_chain():
    # Link 0 (cap 10) holds flows 0,1,2; link 1 (cap 2) holds flow 0 only -> flow 0 = 2, the others 4 each.
    li, fi, ci = _triplets([[0, 1], [0], [0]])
    assert maxmin_rates(li, fi, ci, np.array([10.0, 2.0])) == pytest.approx([2.0, 4.0, 4.0])


def test_weights_split_in_proportion():
    li, fi, ci = _triplets([[0], [0]])
    assert maxmin_rates(li, fi, ci, np.array([9.0]), weight=np.array([1.0, 2.0])) == pytest.approx([3.0, 6.0])


def test_time_fair_cell_via_coefficients_and_weights():
    # A cell (capacity 1 = all its air time); users with full-cell rates 10 and 40. With weights = rates, each gets
    # half the time: 5 and 20.
    r = np.array([10.0, 40.0])
    li, fi, ci = _triplets([[0], [0]], coefs=[[1 / r[0]], [1 / r[1]]])
    assert maxmin_rates(li, fi, ci, np.array([1.0]), weight=r) == pytest.approx([5.0, 20.0])


def test_infinite_coefficient_stalls_only_that_flow():
    li, fi, ci = _triplets([[0], [0]], coefs=[[np.inf], [1.0]])
    assert maxmin_rates(li, fi, ci, np.array([4.0])) == pytest.approx([0.0, 4.0])


@st.composite
def _problems(draw):
    n_links = draw(st.integers(1, 6))
    n_flows = draw(st.integers(1, 12))
    routes = [sorted(draw(st.sets(st.integers(0, n_links - 1), min_size=1, max_size=n_links)))
              for _ in range(n_flows)]
    caps = np.array(draw(st.lists(st.floats(0.1, 1e3), min_size=n_links, max_size=n_links)))
    weights = np.array(draw(st.lists(st.floats(0.1, 10), min_size=n_flows, max_size=n_flows)))
    return routes, caps, weights


@settings(max_examples=200, deadline=None)
@given(_problems())
def test_maxmin_properties(problem):
    routes, caps, weights = problem
    li, fi, ci = _triplets(routes)
    rates = maxmin_rates(li, fi, ci, caps, weight=weights, n_flows=len(routes))
    load = link_load(li, fi, ci, rates, len(caps))
    # feasible: no link above capacity
    assert np.all(load <= caps * (1 + 1e-9))
    # every flow has a saturated bottleneck on which its normalised rate is the largest (max-min optimality)
    for f, route in enumerate(routes):
        norm = rates[f] / weights[f]
        ok = False
        for link in route:
            users = [g for g, r in enumerate(routes) if link in r]
            if load[link] >= caps[link] * (1 - 1e-9) and all(rates[g] / weights[g] <= norm * (1 + 1e-9)
                                                              for g in users):
                ok = True
        assert ok, f"flow {f} has no bottleneck"
