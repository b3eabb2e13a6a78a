"""SINR with co-channel interference, link budgets and the uplink interference model."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from twin.radio import (
    UE_TX_POWER_DBM,
    candidate_sinr_db,
    downlink_noise_dbm,
    downlink_rx_power_dbm,
    sinr_db,
    uplink_noise_dbm,
    uplink_rx_power_dbm,
    uplink_sinr_db,
)

FAST = settings(max_examples=40, deadline=None, derandomize=True)  # keep the suite fast and reproducible


def mw(dbm):
    return 10 ** (dbm / 10)


def ref_sinr(rx, serving, noise, activity, channel=None):
    out = []
    for u in range(rx.shape[0]):
        s = serving[u]
        if s < 0:
            out.append(-math.inf)
            continue
        i = 0.0
        for c in range(rx.shape[1]):
            if c != s and (channel is None or channel[c] == channel[s]):
                i += activity[c] * mw(rx[u, c])
        n = noise[u] if np.ndim(noise) else noise
        out.append(10 * math.log10(mw(rx[u, s]) / (i + mw(n))))
    return np.array(out)


def test_hand_example():
    rx = np.array([[-70.0, -80.0, -90.0], [-85.0, -75.0, -75.0]])
    # UE 0 served by cell 0: I = 1e-8 + 1e-9 mW, N = -90 dBm = 1e-9 mW -> SINR = 1e-7 / 1.2e-8
    # UE 1 served by cell 2 with activity 0.5 on cell 1: I = 0.5 * 10^-7.5 + 10^-8.5
    got = sinr_db(rx, np.array([0, 2]), -90.0, [1.0, 0.5, 1.0])
    assert got[0] == pytest.approx(10 * math.log10(1e-7 / (0.5e-8 + 1e-9 + 1e-9)))
    assert got[1] == pytest.approx(10 * math.log10(10**-7.5 / (0.5 * 10**-7.5 + 10**-8.5 + 1e-9)))
    full = sinr_db(rx, np.array([0, 2]), -90.0)
    assert full[0] == pytest.approx(10 * math.log10(1e-7 / (1e-8 + 1e-9 + 1e-9)))


def test_channels_and_no_serving_cell():
    rx = np.array([[-70.0, -70.0, -70.0]])
    # cells 0 and 1 share a channel, cell 2 is another layer: only cell 1 interferes with cell 0
    got = sinr_db(rx, np.array([0]), -200.0, channel=np.array([0, 0, 1]))
    assert got[0] == pytest.approx(0.0, abs=1e-9)
    alone = sinr_db(rx, np.array([2]), -90.0, channel=np.array([0, 0, 1]))
    assert alone[0] == pytest.approx(20.0)  # noise only
    assert sinr_db(rx, np.array([-1]), -90.0)[0] == -np.inf


@st.composite
def cases(draw):
    n_ue, n_cell = draw(st.integers(1, 6)), draw(st.integers(1, 5))
    rx = draw(hnp.arrays(np.float64, (n_ue, n_cell), elements=st.floats(-140.0, -40.0)))
    serving = draw(hnp.arrays(np.int64, (n_ue,), elements=st.integers(-1, n_cell - 1)))
    noise = draw(
        st.one_of(st.floats(-120.0, -80.0), hnp.arrays(np.float64, (n_ue,), elements=st.floats(-120.0, -80.0)))
    )
    activity = draw(hnp.arrays(np.float64, (n_cell,), elements=st.floats(0.0, 1.0)))
    channel = draw(st.one_of(st.none(), hnp.arrays(np.int64, (n_cell,), elements=st.integers(0, 2))))
    return rx, serving, noise, activity, channel


@FAST
@given(cases())
def test_vectorised_equals_scalar_reference(case):
    rx, serving, noise, activity, channel = case
    got = sinr_db(rx, serving, noise, activity, channel=channel)
    np.testing.assert_allclose(got, ref_sinr(rx, serving, noise, activity, channel), rtol=0, atol=1e-9)
    # candidate SINR for every cell equals the SINR if that cell served
    cand = candidate_sinr_db(rx, noise, activity, channel=channel)
    for c in range(rx.shape[1]):
        want = ref_sinr(rx, np.full(rx.shape[0], c), noise, activity, channel)
        np.testing.assert_allclose(cand[:, c], want, rtol=0, atol=1e-6)


def test_float32_stays_float32():
    rx = np.random.default_rng(0).uniform(-120, -60, size=(50, 8)).astype(np.float32)
    s = np.argmax(rx, axis=1)
    got = sinr_db(rx, s, -85.0, np.full(8, 0.7))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, sinr_db(rx.astype(np.float64), s, -85.0, np.full(8, 0.7)), atol=1e-3)


def test_budgets():
    pl = np.array([100.0, 120.0])
    np.testing.assert_allclose(
        downlink_rx_power_dbm(pl, p_tx_dbm=46.0, g_bs_dbi=8.0, g_ue_dbi=0.0, loss_db=9.0), [-55.0, -75.0]
    )
    np.testing.assert_allclose(uplink_rx_power_dbm(pl), [UE_TX_POWER_DBM - 100.0, UE_TX_POWER_DBM - 120.0])
    assert UE_TX_POWER_DBM == 23.0
    assert float(downlink_noise_dbm(100e6)) == pytest.approx(-85.0)
    assert float(uplink_noise_dbm(100e6)) == pytest.approx(-89.0)


def ref_uplink(rx, serving, noise, activity):
    n_ue, n_cell = rx.shape
    members = {c: [u for u in range(n_ue) if serving[u] == c] for c in range(n_cell)}
    out = []
    for u in range(n_ue):
        s = serving[u]
        if s < 0:
            out.append(-math.inf)
            continue
        i = 0.0
        for c in range(n_cell):
            if c != s and members[c]:
                i += activity[c] * sum(mw(rx[v, s]) for v in members[c]) / len(members[c])
        out.append(10 * math.log10(mw(rx[u, s]) / (i + mw(noise))))
    return np.array(out)


def test_uplink_hand_example():
    # UE 0, 1 in cell 0; UE 2 in cell 1. At cell 0 the interference is UE 2's power there.
    rx = np.array([[-80.0, -100.0], [-90.0, -95.0], [-105.0, -85.0]])
    got = uplink_sinr_db(rx, np.array([0, 0, 1]), -110.0)
    assert got[0] == pytest.approx(10 * math.log10(1e-8 / (10**-10.5 + 1e-11)))
    # at cell 1 the interference is the mean of UE 0 and UE 1 powers there
    assert got[2] == pytest.approx(10 * math.log10(10**-8.5 / ((1e-10 + 10**-9.5) / 2 + 1e-11)))


@FAST
@given(cases())
def test_uplink_equals_scalar_reference(case):
    rx, serving, _, activity, _ = case
    got = uplink_sinr_db(rx, serving, -100.0, activity)
    np.testing.assert_allclose(got, ref_uplink(rx, serving, -100.0, activity), rtol=0, atol=1e-9)


def test_bad_input():
    rx = np.zeros((2, 3))
    with pytest.raises(ValueError, match="serving"):
        sinr_db(rx, np.array([0, 3]), -90.0)
    with pytest.raises(ValueError, match="serving"):
        sinr_db(rx, np.array([0.0, 1.0]), -90.0)
    with pytest.raises(ValueError, match="rx_power_dbm"):
        sinr_db(np.zeros(3), np.array([0]), -90.0)
    with pytest.raises(ValueError, match="activity"):
        sinr_db(rx, np.array([0, 1]), -90.0, [1.0, 2.0, 0.0])
    with pytest.raises(ValueError, match="channel"):
        sinr_db(rx, np.array([0, 1]), -90.0, channel=np.array([0, 1]))
