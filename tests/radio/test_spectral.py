"""Noise power, attenuated Shannon (TR 36.942 A.2) and the TS 38.214 CQI mapping."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.radio import (
    cqi_from_sinr,
    cqi_gamma,
    cqi_spectral_efficiency,
    cqi_table,
    noise_power_dbm,
    spectral_efficiency,
)

# TS 38.214 Table 5.2.2.1-2 (table 1) and 5.2.2.1-3 (table 2), efficiency column, CQI 1..15.
TS_EFFICIENCY = {
    1: [
        0.1523,
        0.2344,
        0.3770,
        0.6016,
        0.8770,
        1.1758,
        1.4766,
        1.9141,
        2.4063,
        2.7305,
        3.3223,
        3.9023,
        4.5234,
        5.1152,
        5.5547,
    ],
    2: [
        0.1523,
        0.3770,
        0.8770,
        1.4766,
        1.9141,
        2.4063,
        2.7305,
        3.3223,
        3.9023,
        4.5234,
        5.1152,
        5.5547,
        6.2266,
        6.9141,
        7.4063,
    ],
}
GAMMA = -math.log(5 * 5e-5) / 1.5

FAST = settings(max_examples=40, deadline=None, derandomize=True)  # keep the suite fast and reproducible


def test_noise_power_hand_values():
    assert float(noise_power_dbm(100e6, 9.0)) == pytest.approx(-85.0, abs=1e-12)
    assert float(noise_power_dbm(20e6, 5.0)) == pytest.approx(-174 + 10 * math.log10(20e6) + 5, abs=1e-12)  # -95.99
    assert float(noise_power_dbm(400e6, 9.0)) == pytest.approx(-78.97940, abs=1e-5)
    np.testing.assert_allclose(noise_power_dbm([1e6, 1e7], [0.0, 3.0]), [-114.0, -101.0])
    with pytest.raises(ValueError, match="bandwidth_hz"):
        noise_power_dbm(0.0, 9.0)


@pytest.mark.parametrize(
    ("sinr_db", "link", "expected"),
    [
        (10.0, "dl", 0.6 * math.log2(11)),  # 2.0757
        (10.0, "ul", 0.4 * math.log2(11)),  # 1.3838
        (0.0, "dl", 0.6),
        (-10.0, "dl", 0.6 * math.log2(1.1)),  # SINR_min is inside the range
        (-10.01, "dl", 0.0),
        (-30.0, "ul", 0.0),
        (22.0, "dl", 0.6 * math.log2(1 + 10**2.2)),  # 4.3904, just below Thr_max
        (30.0, "dl", 4.4),
        (30.0, "ul", 2.0),
        (5.0, "ul", 0.4 * math.log2(1 + 10**0.5)),
    ],
)
def test_attenuated_shannon_hand_values(sinr_db, link, expected):
    assert float(spectral_efficiency(sinr_db, link=link)) == pytest.approx(expected, abs=1e-4)


def ref_attenuated_shannon(s_db, link):
    alpha, s_min, thr_max = {"dl": (0.6, -10.0, 4.4), "ul": (0.4, -10.0, 2.0)}[link]
    if s_db < s_min:
        return 0.0
    return min(alpha * math.log2(1 + 10 ** (s_db / 10)), thr_max)


def ref_cqi(s_db, table):
    cap = math.log2(1 + 10 ** (s_db / 10) / GAMMA)
    cqi = 0
    for k, eff in enumerate(TS_EFFICIENCY[table], start=1):
        if eff <= cap:
            cqi = k
    return cqi


@FAST
@given(st.lists(st.floats(-40.0, 60.0), min_size=1, max_size=30), st.sampled_from(["dl", "ul"]))
def test_attenuated_shannon_equals_scalar_reference(s, link):
    got = spectral_efficiency(np.array(s), link=link)
    np.testing.assert_allclose(got, [ref_attenuated_shannon(x, link) for x in s], rtol=1e-12, atol=1e-12)


@FAST
@given(st.lists(st.floats(-40.0, 60.0), min_size=1, max_size=30), st.sampled_from([1, 2]))
def test_cqi_equals_scalar_reference(s, table):
    s = np.array(s)
    cqi = cqi_from_sinr(s, table)
    want = [ref_cqi(x, table) for x in s]
    # a SINR within 1e-9 dB of a threshold may round either way; elsewhere they must agree exactly
    cap = np.log2(1 + 10 ** (s / 10) / GAMMA)
    near = np.min(np.abs(cap[:, None] - np.array(TS_EFFICIENCY[table])[None, :]), axis=1) < 1e-9
    np.testing.assert_array_equal(cqi[~near], np.array(want)[~near])
    se = spectral_efficiency(s, method="cqi", table=table)
    np.testing.assert_array_equal(se, np.concatenate(([0.0], TS_EFFICIENCY[table]))[cqi])


@pytest.mark.parametrize("table", [1, 2])
def test_cqi_table_reproduces_ts_efficiency_column_exactly(table):
    t = cqi_table(table)
    np.testing.assert_array_equal(t["cqi"], np.arange(1, 16))
    assert list(t["spectral_efficiency"]) == TS_EFFICIENCY[table]
    # the TS column is Qm * R / 1024 printed to 4 decimals
    np.testing.assert_allclose(t["qm"] * t["code_rate_x1024"] / 1024, t["spectral_efficiency"], atol=5e-5)
    # the mapping reaches every entry, exactly, at SINR just above the ns-3 threshold Gamma (2^SE - 1)
    eff = np.array(TS_EFFICIENCY[table])
    thr_db = 10 * np.log10(GAMMA * (2**eff - 1))
    se_at = spectral_efficiency(thr_db + 1e-6, method="cqi", table=table)
    se_below = spectral_efficiency(thr_db - 1e-6, method="cqi", table=table)
    assert list(se_at) == TS_EFFICIENCY[table]
    assert list(se_below) == [0.0] + TS_EFFICIENCY[table][:-1]
    np.testing.assert_array_equal(cqi_from_sinr(thr_db + 1e-6, table), np.arange(1, 16))
    # a dense sweep yields exactly the column (and 0), monotonically
    sweep = spectral_efficiency(np.linspace(-20, 40, 6001), method="cqi", table=table)
    assert set(sweep.tolist()) == {0.0, *TS_EFFICIENCY[table]}
    assert np.all(np.diff(sweep) >= 0)


def test_cqi_hand_values():
    assert cqi_gamma() == pytest.approx(5.5294, abs=1e-4)  # 7.43 dB
    assert 10 * math.log10(cqi_gamma()) == pytest.approx(7.427, abs=1e-3)
    # 20 dB: log2(1 + 100 / 5.529) = 4.2578 -> table 1: CQI 12 (3.9023 <= 4.2578 < 4.5234)
    assert int(cqi_from_sinr(20.0, 1)) == 12
    assert float(spectral_efficiency(20.0, method="cqi", table=1)) == 3.9023
    # -10 dB is below CQI 1 (needs 0.1523 -> SINR >= -1.39 dB ... Gamma(2^0.1523-1) = 0.6104 -> -2.14 dB)
    assert int(cqi_from_sinr(-10.0)) == 0
    assert float(spectral_efficiency(-10.0, method="cqi")) == 0.0
    assert int(cqi_from_sinr(np.nan)) == 0
    np.testing.assert_array_equal(cqi_spectral_efficiency([0, 1, 15], table=2), [0.0, 0.1523, 7.4063])


def test_shapes_and_dtypes():
    s = np.zeros((4, 3), dtype=np.float32)
    assert spectral_efficiency(s).shape == (4, 3) and spectral_efficiency(s).dtype == np.float32
    assert spectral_efficiency(s, method="cqi").shape == (4, 3)
    assert cqi_from_sinr(s).dtype == np.int64
    assert spectral_efficiency(3.0).shape == ()


def test_bad_input_names_the_choice():
    with pytest.raises(
        ValueError, match="unknown spectral-efficiency method 'shannon'; valid: attenuated-shannon, cqi"
    ):
        spectral_efficiency(1.0, method="shannon")
    with pytest.raises(ValueError, match="unknown link 'down'; valid: dl, ul"):
        spectral_efficiency(1.0, link="down")
    with pytest.raises(ValueError, match="unknown CQI table 3"):
        spectral_efficiency(1.0, method="cqi", table=3)
    with pytest.raises(ValueError, match="cqi"):
        cqi_spectral_efficiency([16])
