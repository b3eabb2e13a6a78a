"""LOS probability (TR 38.901 Table 7.4.2-1) against hand computations and a scalar reference."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.radio import LOS_PROBABILITY_MODELS, los_probability

FAST = settings(max_examples=40, deadline=None, derandomize=True)  # keep the suite fast and reproducible


def ref(model, d, h_ut=1.5):
    if model == "freespace":
        return 1.0
    if model == "umi":
        return 1.0 if d <= 18 else 18 / d + math.exp(-d / 36) * (1 - 18 / d)
    if model == "uma":
        if d <= 18:
            return 1.0
        c = 0.0 if h_ut <= 13 else ((h_ut - 13) / 10) ** 1.5
        return (18 / d + math.exp(-d / 63) * (1 - 18 / d)) * (1 + c * 5 / 4 * (d / 100) ** 3 * math.exp(-d / 150))
    if model == "rma":
        return 1.0 if d <= 10 else math.exp(-(d - 10) / 1000)
    if model == "inh":  # mixed office
        if d <= 1.2:
            return 1.0
        if d < 6.5:
            return math.exp(-(d - 1.2) / 4.7)
        return math.exp(-(d - 6.5) / 32.6) * 0.32
    raise AssertionError(model)


@pytest.mark.parametrize(
    ("model", "d", "h_ut", "expected"),
    [
        ("uma", 10.0, 1.5, 1.0),
        ("uma", 50.0, 1.5, 0.36 + math.exp(-50 / 63) * 0.64),  # 0.649402
        ("uma", 200.0, 1.5, 0.09 + math.exp(-200 / 63) * 0.91),  # 0.128048
        ("uma", 100.0, 18.0, (0.18 + math.exp(-100 / 63) * 0.82) * (1 + 0.5**1.5 * 1.25 * math.exp(-100 / 150))),
        ("umi", 18.0, 1.5, 1.0),
        ("umi", 30.0, 1.5, 0.6 + math.exp(-30 / 36) * 0.4),  # 0.773839
        ("rma", 510.0, 1.5, math.exp(-0.5)),
        ("inh", 3.0, 1.5, math.exp(-1.8 / 4.7)),
        ("inh", 39.1, 1.5, 0.32 * math.exp(-1.0)),
        ("freespace", 5000.0, 1.5, 1.0),
    ],
)
def test_hand_values(model, d, h_ut, expected):
    assert float(los_probability(model, d, h_ut_m=h_ut)) == pytest.approx(expected, abs=1e-12)


def test_hand_values_printed_to_six_digits():
    np.testing.assert_allclose(los_probability("uma", [50.0, 200.0]), [0.649402, 0.128048], atol=1e-6)
    np.testing.assert_allclose(los_probability("umi", 30.0), 0.773839, atol=1e-6)


@pytest.mark.parametrize("model", LOS_PROBABILITY_MODELS)
def test_vectorised_equals_scalar_reference(model):
    @FAST
    @given(st.lists(st.floats(0.0, 20_000.0), min_size=1, max_size=20), st.floats(1.0, 23.0))
    def check(d, h_ut):
        got = los_probability(model, np.array(d), h_ut_m=h_ut)
        np.testing.assert_allclose(got, [ref(model, x, h_ut) for x in d], rtol=1e-12, atol=1e-15)

    check()


def test_shapes_dtypes_and_range():
    d = np.random.default_rng(0).uniform(0, 3000, size=(50, 7)).astype(np.float32)
    for model in LOS_PROBABILITY_MODELS:
        p = los_probability(model, d)
        assert p.shape == d.shape and p.dtype == np.float32
        assert np.all((p >= 0) & (p <= 1))
    assert los_probability("uma", 5.0).shape == ()


def test_bad_input():
    with pytest.raises(ValueError, match="unknown LOS-probability model 'tr36873-uma'.*uma, umi, rma, inh, freespace"):
        los_probability("tr36873-uma", 10.0)
    with pytest.raises(ValueError, match="d2d_m"):
        los_probability("uma", -1.0)
    with pytest.raises(ValueError, match="h_ut_m"):
        los_probability("uma", 100.0, h_ut_m=30.0)
