"""Path loss (TR 38.901 Table 7.4.1-1, DRIVE models) against ns-3 vectors, scalar references and hand values."""

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.radio import PATHLOSS_MODELS, pathloss_db

VECTORS = Path(__file__).resolve().parents[1] / "data" / "pathloss_ns3_vectors.csv"
C = 3e8
C_EXACT = 299792458.0  # free space (DRIVE's freespace.m); the 38.901 models use 3e8

FAST = settings(max_examples=40, deadline=None, derandomize=True)  # keep the suite fast and reproducible


def _rows():
    with VECTORS.open() as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


ROWS = _rows()


# ---------------------------------------------------------------- slow scalar references (straight from radio.md)


def ref_uma(d2d, fc_hz, los, h_bs, h_ut):
    fc = fc_hz / 1e9
    d3d = max(math.sqrt(d2d**2 + (h_bs - h_ut) ** 2), 1.0)
    dbp = 4 * (h_bs - 1) * (h_ut - 1) * fc_hz / C
    if d2d <= dbp:
        pl_los = 28.0 + 22 * math.log10(d3d) + 20 * math.log10(fc)
    else:
        pl_los = 28.0 + 40 * math.log10(d3d) + 20 * math.log10(fc) - 9 * math.log10(dbp**2 + (h_bs - h_ut) ** 2)
    if los:
        return pl_los
    return max(pl_los, 13.54 + 39.08 * math.log10(d3d) + 20 * math.log10(fc) - 0.6 * (h_ut - 1.5))


def ref_umi(d2d, fc_hz, los, h_bs, h_ut):
    fc = fc_hz / 1e9
    d3d = max(math.sqrt(d2d**2 + (h_bs - h_ut) ** 2), 1.0)
    dbp = 4 * (h_bs - 1) * (h_ut - 1) * fc_hz / C
    if d2d <= dbp:
        pl_los = 32.4 + 21 * math.log10(d3d) + 20 * math.log10(fc)
    else:
        pl_los = 32.4 + 40 * math.log10(d3d) + 20 * math.log10(fc) - 9.5 * math.log10(dbp**2 + (h_bs - h_ut) ** 2)
    if los:
        return pl_los
    return max(pl_los, 35.3 * math.log10(d3d) + 22.4 + 21.3 * math.log10(fc) - 0.3 * (h_ut - 1.5))


def ref_rma(d2d, fc_hz, los, h_bs, h_ut, w=20.0, h=5.0):
    fc = fc_hz / 1e9
    d3d = max(math.sqrt(d2d**2 + (h_bs - h_ut) ** 2), 1.0)
    dbp = 2 * math.pi * h_bs * h_ut * fc_hz / C

    def pl1(x):
        return (
            20 * math.log10(40 * math.pi * x * fc / 3)
            + min(0.03 * h**1.72, 10) * math.log10(x)
            - min(0.044 * h**1.72, 14.77)
            + 0.002 * math.log10(h) * x
        )

    pl_los = pl1(d3d) if d2d <= dbp else pl1(dbp) + 40 * math.log10(d3d / dbp)
    if los:
        return pl_los
    nlos = (
        161.04
        - 7.1 * math.log10(w)
        + 7.5 * math.log10(h)
        - (24.37 - 3.7 * (h / h_bs) ** 2) * math.log10(h_bs)
        + (43.42 - 3.1 * math.log10(h_bs)) * (math.log10(d3d) - 3)
        + 20 * math.log10(fc)
        - (3.2 * (math.log10(11.75 * h_ut)) ** 2 - 4.97)
    )
    return max(pl_los, nlos)


def ref_inh(d2d, fc_hz, los, h_bs, h_ut):
    fc = fc_hz / 1e9
    d3d = max(math.sqrt(d2d**2 + (h_bs - h_ut) ** 2), 1.0)
    pl_los = 32.4 + 17.3 * math.log10(d3d) + 20 * math.log10(fc)
    return pl_los if los else max(pl_los, 17.3 + 38.3 * math.log10(d3d) + 24.9 * math.log10(fc))


def ref_freespace(d2d, fc_hz, los, h_bs, h_ut, nlos_loss_db=0.0):
    d3d = max(math.sqrt(d2d**2 + (h_bs - h_ut) ** 2), 1.0)
    pl = 20 * math.log10(d3d) + 20 * math.log10(fc_hz) + 20 * math.log10(4 * math.pi / C_EXACT)  # Friis: exact c
    return pl if los else pl + nlos_loss_db


def ref_tr36873(d2d, fc_hz, los, h_bs, h_ut, dhb=20.0):
    r_km = max(d2d, 1.0) / 1000
    return 40 * (1 - 4e-3 * dhb) * math.log10(r_km) - 18 * math.log10(dhb) + 21 * math.log10(fc_hz / 1e6) + 80


def ref_cost231(d2d, fc_hz, los, h_bs, h_ut, cm=3.0):
    d_km = max(d2d, 1.0) / 1000
    a_hm = 3.2 * math.log10(11.75 * h_ut) ** 2 - 4.97
    return (
        46.3
        + 33.9 * math.log10(fc_hz / 1e6)
        - 13.82 * math.log10(h_bs)
        - a_hm
        + (44.9 - 6.55 * math.log10(h_bs)) * math.log10(d_km)
        + cm
    )


REFS = {
    "uma": (ref_uma, (0.5e9, 100e9), (25.0, 25.0), (1.5, 22.5)),
    "umi": (ref_umi, (0.5e9, 100e9), (10.0, 10.0), (1.5, 22.5)),
    "rma": (ref_rma, (0.5e9, 30e9), (10.0, 150.0), (1.0, 10.0)),
    "inh": (ref_inh, (0.5e9, 100e9), (3.0, 3.0), (1.0, 2.5)),
    "freespace": (ref_freespace, (1e8, 100e9), (1.5, 30.0), (1.0, 3.0)),
    "tr36873-uma": (ref_tr36873, (0.5e9, 6e9), (25.0, 25.0), (1.5, 1.5)),
    "cost231-hata": (ref_cost231, (1.5e9, 6e9), (30.0, 200.0), (1.0, 10.0)),
}


# ---------------------------------------------------------------- published vectors


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r['scenario']}-{r['d2d_m']}m-los{r['los']}")
def test_ns3_vector(row):
    got = pathloss_db(
        row["scenario"].lower(),
        float(row["d2d_m"]),
        float(row["fc_hz"]),
        los=bool(int(row["los"])),
        h_bs_m=float(row["h_bs_m"]),
        h_ut_m=float(row["h_ut_m"]),
    )
    assert got.shape == ()
    assert abs(float(got) - float(row["expected_db"])) <= 0.05


@pytest.mark.parametrize("scenario", sorted({r["scenario"] for r in ROWS}))
def test_ns3_vectors_in_one_vectorised_call(scenario):
    rows = [r for r in ROWS if r["scenario"] == scenario]
    d = np.array([float(r["d2d_m"]) for r in rows])
    los = np.array([r["los"] == "1" for r in rows])
    expected = np.array([float(r["expected_db"]) for r in rows])
    r0 = rows[0]
    got = pathloss_db(
        scenario.lower(), d, float(r0["fc_hz"]), los=los, h_bs_m=float(r0["h_bs_m"]), h_ut_m=float(r0["h_ut_m"])
    )
    np.testing.assert_allclose(got, expected, atol=0.05)


# ---------------------------------------------------------------- vectorised == scalar reference


@st.composite
def links(draw, model):
    _, (f_lo, f_hi), (hb_lo, hb_hi), (hu_lo, hu_hi) = REFS[model]
    n = draw(st.integers(1, 12))
    d = draw(st.lists(st.floats(0.0, 12_000.0), min_size=n, max_size=n))
    los = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    fc = draw(st.floats(f_lo, f_hi))
    h_bs = draw(st.floats(hb_lo, hb_hi))
    h_ut = draw(st.floats(hu_lo, hu_hi))
    return np.array(d), np.array(los), fc, h_bs, h_ut


@pytest.mark.parametrize("model", list(REFS))
def test_vectorised_equals_scalar_reference(model):
    ref = REFS[model][0]

    @FAST
    @given(links(model))
    def check(case):
        d, los, fc, h_bs, h_ut = case
        got = pathloss_db(model, d, fc, los=los, h_bs_m=h_bs, h_ut_m=h_ut)
        want = [ref(float(di), fc, bool(li), h_bs, h_ut) for di, li in zip(d, los, strict=True)]
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)

    check()


@FAST
@given(
    st.lists(st.floats(0.0, 12_000.0), min_size=1, max_size=8),
    st.floats(5.0, 50.0),
    st.floats(5.0, 50.0),
)
def test_rma_street_width_and_building_height(d, w, h):
    d = np.array(d)
    got = pathloss_db("rma", d, 3.5e9, los=False, street_width_m=w, building_height_m=h)
    want = [ref_rma(float(x), 3.5e9, False, 35.0, 1.5, w=w, h=h) for x in d]
    np.testing.assert_allclose(got, want, atol=1e-9)


def test_float32_in_float32_out_and_close_to_float64():
    rng = np.random.default_rng(3)
    d = rng.uniform(0, 5000, size=(200, 30))
    los = rng.random((200, 30)) < 0.3
    for model in ("uma", "umi", "inh", "freespace"):
        p64 = pathloss_db(model, d, 3.5e9, los=los)
        p32 = pathloss_db(model, d.astype(np.float32), 3.5e9, los=los)
        assert p32.dtype == np.float32 and p64.dtype == np.float64
        np.testing.assert_allclose(p32, p64, atol=1e-3)


def test_broadcasting_shapes():
    d = np.linspace(10, 1000, 5)[:, None]  # [5, 1]
    los = np.array([True, False, True])  # [3]
    assert pathloss_db("uma", d, 3.5e9, los=los).shape == (5, 3)
    assert pathloss_db("uma", 100.0, 3.5e9, los=los).shape == (3,)
    assert pathloss_db("uma", 100.0, 3.5e9, los=True).shape == ()
    assert pathloss_db("umi", d, np.array([3.5e9, 28e9]), los=False).shape == (5, 2)
    h_ut = np.array([1.5, 10.0])
    np.testing.assert_allclose(
        pathloss_db("uma", 300.0, 3.5e9, los=False, h_ut_m=h_ut), [ref_uma(300.0, 3.5e9, False, 25, h) for h in h_ut]
    )


def test_nlos_never_below_los():
    d = np.linspace(0, 5000, 501)
    for model in ("uma", "umi", "rma", "inh"):
        assert np.all(pathloss_db(model, d, 3.5e9, los=False) >= pathloss_db(model, d, 3.5e9, los=True))


# ---------------------------------------------------------------- DRIVE closed forms (radio.md DRIVE section)


def test_drive_lte_models_closed_forms():
    d = np.array([50.0, 200.0, 1000.0, 3000.0])
    d_km = d / 1000
    np.testing.assert_allclose(pathloss_db("tr36873-uma", d, 2.6e9), 36.8 * np.log10(d_km) + 128.30, atol=0.01)
    np.testing.assert_allclose(
        pathloss_db("cost231-hata", d, 2.6e9, h_bs_m=40, h_ut_m=1.5), 142.93 + 34.41 * np.log10(d_km), atol=0.01
    )


def test_drive_80211ad_freespace_with_nlos_penalty():
    d = np.array([10.0, 100.0])
    fs = 20 * np.log10(d) + 20 * np.log10(60e9) + 20 * np.log10(4 * np.pi / C_EXACT)
    np.testing.assert_allclose(pathloss_db("freespace", d, 60e9, h_bs_m=1.5, h_ut_m=1.5), fs, atol=1e-9)
    got = pathloss_db("freespace", d, 60e9, los=[True, False], h_bs_m=1.5, h_ut_m=1.5, nlos_loss_db=20.0)
    np.testing.assert_allclose(got, fs + [0.0, 20.0], atol=1e-9)
    assert round(float(fs[0]), 2) == 88.01  # 60 GHz free space at 10 m: 88.01 dB (exact c, as DRIVE)


# ---------------------------------------------------------------- bad input


def test_unknown_model_lists_valid_ones():
    with pytest.raises(ValueError, match="unknown path-loss model 'hata'") as e:
        pathloss_db("hata", 100.0, 3.5e9, los=True)
    for name in PATHLOSS_MODELS:
        assert name in str(e.value)


@pytest.mark.parametrize(
    ("model", "fc"),
    [("uma", 0.4e9), ("uma", 101e9), ("rma", 35e9), ("inh", 150e9), ("cost231-hata", 28e9), ("freespace", 0.0)],
)
def test_frequency_outside_validity_range_is_an_error(model, fc):
    with pytest.raises(ValueError, match="fc_hz"):
        pathloss_db(model, 100.0, fc, los=True)


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ValueError, match="d2d_m"):
        pathloss_db("uma", [-1.0, 5.0], 3.5e9, los=True)
    with pytest.raises(ValueError, match="d2d_m"):
        pathloss_db("uma", [np.nan], 3.5e9, los=True)
    with pytest.raises(ValueError, match="los is required"):
        pathloss_db("uma", 100.0, 3.5e9)
    with pytest.raises(ValueError, match="street_width"):
        pathloss_db("uma", 100.0, 3.5e9, los=True, street_width_m=20)
    with pytest.raises(ValueError, match="street_width_m"):
        pathloss_db("rma", 100.0, 3.5e9, los=True, street_width_m=100)
    with pytest.raises(ValueError, match="h_ut_m"):
        pathloss_db("uma", 100.0, 3.5e9, los=True, h_ut_m=1.0)
    with pytest.raises(ValueError, match="h_bs_m"):
        pathloss_db("umi", 100.0, 3.5e9, los=True, h_bs_m=0.0)
    with pytest.raises(ValueError, match="los"):
        pathloss_db("uma", [100.0], 3.5e9, los=[2])
