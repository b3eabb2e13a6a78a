"""The per-resource counters (twin.net.counting): the compiled pass adds exactly what the numpy path adds."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.net import counting


def _numpy(monkeypatch, *args):
    monkeypatch.setattr(counting, "AVAILABLE", False)
    counting.count_moving(*args)
    monkeypatch.undo()


@pytest.mark.skipif(not counting.AVAILABLE, reason="numba not installed")
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_slots=st.integers(1, 40), k=st.integers(1, 4), n_res=st.integers(1, 12))
def test_compiled_equals_numpy_bit_for_bit(seed, n_slots, k, n_res):
    rng = np.random.default_rng(seed)
    links = rng.integers(0, n_res, size=(n_slots, k))
    coef = rng.uniform(0.5, 2.0, size=(n_slots, k)) * (rng.random((n_slots, k)) < 0.8)  # unused hops: 0
    rate = rng.uniform(1e6, 1e8, size=n_slots) * (rng.random(n_slots) < 0.8)  # stalled flows: 0 ...
    coef[rate == 0, 0] = np.inf  # ... with an infinite coefficient (no coverage)
    slots = rng.permutation(n_slots)[: rng.integers(1, n_slots + 1)]  # active ones, in some admission order
    dt = float(rng.uniform(1e-6, 2.0))
    start = rng.uniform(0, 1e6, size=n_res)
    got_c, got_b = start.copy(), start.copy()
    counting.count_moving(slots, links, coef, rate, got_c, got_b, dt)
    want_c, want_b = start.copy(), start.copy()
    with pytest.MonkeyPatch.context() as mp:
        _numpy(mp, slots, links, coef, rate, want_c, want_b, dt)
    assert np.array_equal(got_c, want_c) and np.array_equal(got_b, want_b)


def test_counts_one_flow_exactly():
    carried, busy = np.zeros(3), np.zeros(3)
    counting.count_moving(np.array([0]), np.array([[0, 2]]), np.array([[1.0, 0.5]]), np.array([8e6]), carried, busy,
                          2.0)
    assert carried.tolist() == [2e6, 0.0, 2e6] and busy.tolist() == [16e6, 0.0, 8e6]
