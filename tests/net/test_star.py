"""The star filling (one hub every flow crosses, private resources otherwise: the burst of a round) gives exactly the
rates of the full progressive filling, :func:`twin.net.sharing.maxmin_rates`."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.net.sharing import maxmin_rates
from twin.net.star import star_rates


@st.composite
def stars(draw):
    n = draw(st.integers(1, 30))
    hub_cap = draw(st.sampled_from([1e6, 1e7, 1e9]) | st.floats(1e4, 1e10))
    hub_c = [draw(st.sampled_from([1.0, 1.0, 1.04]) | st.floats(0.1, 10)) for _ in range(n)]
    weight = [draw(st.sampled_from([1.0, 1.0, 2.0, 0.5]) | st.floats(0.1, 5)) for _ in range(n)]
    private = [draw(st.lists(st.tuples(st.sampled_from([1e5, 1e6, 2e6]) | st.floats(1e4, 1e9),
                                       st.sampled_from([1.0, 1.04]) | st.floats(0.1, 10)), max_size=2))
               for _ in range(n)]
    return hub_cap, np.array(hub_c), np.array(weight), private


def _triplets(hub_c, private):
    link, flow, coef, caps = [], [], [], []
    for f, (c, own) in enumerate(zip(hub_c, private, strict=True)):
        link.append(0)
        flow.append(f)
        coef.append(c)
        for cap, pc in own:
            caps.append(cap)
            link.append(len(caps))
            flow.append(f)
            coef.append(pc)
    return np.array(link), np.array(flow), np.array(coef), caps


def _star(hub_cap, hub_c, weight, private):
    n = weight.size
    priv = np.array([min(((cap if cap > 0 else 0.0) / (pc * w) for cap, pc in own), default=math.inf)
                     for own, w in zip(private, weight, strict=True)])
    rate = np.empty(n)
    work = [np.empty(n), np.empty(n, dtype=np.int64), np.zeros(n, dtype=bool), np.empty(n, dtype=np.int64),
            np.empty(n)]
    star_rates(np.arange(n), n, hub_c, weight, priv, hub_cap, rate, *work)
    assert not work[2].any()  # the work flags are restored
    return rate


@settings(max_examples=400, deadline=None)
@given(stars())
def test_star_filling_is_bit_identical_to_maxmin_rates(problem):
    hub_cap, hub_c, weight, private = problem
    link, flow, coef, caps = _triplets(hub_c, private)
    want = maxmin_rates(link, flow, coef, np.array([hub_cap, *caps]), weight, weight.size)
    assert np.array_equal(_star(hub_cap, hub_c, weight, private), want)


def test_burst_shape_private_caps_below_and_above_the_hub_level():
    # 10 flows on a 100 bit/s hub: 3 capped privately below the fair share, the rest share what they leave.
    caps = [1.0, 2.0, 3.0] + [1e3] * 7
    rate = _star(100.0, np.ones(10), np.ones(10), [[(c, 1.0)] for c in caps])
    assert np.allclose(rate, [1, 2, 3] + [94 / 7] * 7, rtol=1e-12)
