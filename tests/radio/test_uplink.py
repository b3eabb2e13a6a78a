"""Uplink power control and link adaptation (twin.radio.uplink): hand computations, an exhaustive scalar reference,
the issue-12 acceptance properties and the interference model."""

import math

import numpy as np
import pytest

from twin.radio import cqi_gamma, cqi_table, get_preset, user_rate_bps
from twin.radio.uplink import (
    UplinkConfig,
    fullband_snr_db,
    pusch_power_dbm,
    sinr_thresholds_db,
    uplink_interference_dbm,
    uplink_link_adaptation,
    uplink_rate_bps,
)

MACRO = UplinkConfig.for_preset(get_preset("nr-macro"))
MMWAVE = UplinkConfig.for_preset(get_preset("nr-mmwave"))
# one RB of SE 1 bit/s/Hz: 12 subcarriers x 14 symbols x 2^mu slots/ms x 1000 x (1 - OH)
MACRO_RB_BPS = 12 * 14 * 2 * 1000 * (1 - 0.08)  # 309,120 bit/s (FR1 UL overhead 0.08)
MMWAVE_RB_BPS = 12 * 14 * 8 * 1000 * (1 - 0.10)  # 1,209,600 bit/s (FR2 UL overhead 0.10)


def test_config_from_presets():
    assert (MACRO.n_rb, MACRO.mu, MACRO.p_cmax_dbm, MACRO.noise_figure_db) == (273, 1, 23.0, 5.0)
    assert (MACRO.p0_dbm, MACRO.alpha, MACRO.se_method, MACRO.cqi_table, MACRO.overhead) == (-80, 0.8, "cqi", 2, 0.08)
    assert (MMWAVE.n_rb, MMWAVE.mu, MMWAVE.overhead) == (264, 3, 0.10)
    # noise of one RB: -174 + 10 log10(12 * 30 kHz) + 5 = -174 + 55.563 + 5
    assert MACRO.rb_noise_dbm == pytest.approx(-113.437, abs=1e-3)
    assert MMWAVE.rb_noise_dbm == pytest.approx(-174 + 10 * math.log10(1.44e6) + 5)
    assert MACRO.rate_per_rb_bps == pytest.approx(MACRO_RB_BPS)
    assert MMWAVE.rate_per_rb_bps == pytest.approx(MMWAVE_RB_BPS)
    assert UplinkConfig.for_preset(get_preset("nr-macro"), alpha=1.0, p0_dbm=-90).alpha == 1.0
    assert UplinkConfig(100e6, 30e3, se_method="Attenuated-Shannon").se_method == "attenuated-shannon"


def test_pusch_power_ts38213():
    # P = min(P_CMAX, P0 + 10 log10(2^mu M) + alpha PL)
    # PL 100 dB, 10 RBs at 30 kHz: -80 + 10 log10(20) + 80 = 13.01 dBm
    assert float(pusch_power_dbm(100.0, 10, mu=1)) == pytest.approx(-80 + 10 * math.log10(20) + 80)
    # PL 130 dB, 1 RB: -80 + 3.01 + 104 = 27.01 dBm > 23 -> P_CMAX
    assert float(pusch_power_dbm(130.0, 1, mu=1)) == 23.0
    # alpha 1, P0 -90 (full compensation): 1 RB at 15 kHz, PL 100 -> 10 dBm
    assert float(pusch_power_dbm(100.0, 1, mu=0, p0_dbm=-90.0, alpha=1.0)) == pytest.approx(10.0)
    got = pusch_power_dbm(np.array([80.0, 120.0]), np.array([[1], [273]]), mu=1)
    assert got.shape == (2, 2) and got[1, 1] == 23.0


def test_thresholds_are_the_mappings_steps():
    # CQI k starts where log2(1 + SINR / Gamma) = SE_k: SINR_k = Gamma (2^SE_k - 1); CQI 1 of table 2 (SE 0.1523):
    # 5.529 * (2^0.1523 - 1) = 0.6160 -> -2.107 dB
    t = sinr_thresholds_db("cqi", 2)
    assert t.shape == (15,) and t[0] == pytest.approx(-2.107, abs=1e-3)
    se = cqi_table(2)["spectral_efficiency"]
    assert np.allclose(t, 10 * np.log10(cqi_gamma() * (2**se - 1)))
    # attenuated Shannon UL: SINR_min -10 dB; 0.4 log2(1 + s) reaches 2.0 at s = 31 (14.91 dB)
    assert np.allclose(sinr_thresholds_db("attenuated-shannon"), [-10.0, 10 * math.log10(31)])


# nr-macro uplink, hand computation (no interference). Per-RB noise N = -113.437 dBm; 30 kHz: 10 log10(2^mu) = 3.01.
# Power-control target per RB = -80 + 3.01 + 0.8 PL; P_CMAX 23 dBm. CQI table 2 thresholds (dB):
# CQI1 -2.107 (SE 0.1523), CQI2 2.178 (0.3770), CQI3 6.652 (0.8770), CQI4 9.938 (1.4766), ... CQI8 16.970 (3.3223),
# CQI9 18.873 (3.9023). One RB at SE 1 carries 309,120 bit/s.
HAND_MACRO = [
    # PL 90: target per RB -80 + 3.01 + 72 = -4.99 dBm; on 273 RBs -4.99 + 24.36 = 19.37 dBm < 23: not
    # power-limited, the whole carrier. SINR per RB = -4.99 - 90 + 113.44 = 18.45 dB -> CQI 8 (16.97 <= 18.45 < 18.87).
    # rate = 273 * 3.3223 * 309,120 = 280.37 Mbit/s.
    (90.0, 273, 19.371, 18.447, 273 * 3.3223 * MACRO_RB_BPS),
    # PL 110: target per RB -80 + 3.01 + 88 = 11.01 dBm, P_CMAX reached at 10^((23 - 11.01)/10) = 15.8 RBs; beyond,
    # SINR(M) = 23 - 110 + 113.44 - 10 log10 M = 26.44 - 10 log10 M.
    #   M = 273: 26.44 - 24.36 = 2.07 dB -> CQI 1: 273 * 0.1523 = 41.6 (bit/s/Hz x RB)
    #   largest M at CQI 2: 10^((26.44 - 2.18)/10) = 266.6 -> 266 * 0.3770 = 100.3   <- best
    #   largest M at CQI 3: 10^((26.44 - 6.65)/10) = 95.3 -> 95 * 0.8770 = 83.3
    #   largest M at CQI 4: 10^((26.44 - 9.94)/10) = 44.7 -> 44 * 1.4766 = 65.0 (higher CQIs: less still)
    # M = 266, SINR 26.44 - 24.25 = 2.19 dB, rate = 266 * 0.3770 * 309,120 = 31.00 Mbit/s.
    (110.0, 266, 23.0, 26.437 - 10 * math.log10(266), 266 * 0.3770 * MACRO_RB_BPS),
    # PL 130: target per RB -80 + 3.01 + 104 = 27.01 > 23: at P_CMAX from 1 RB; SINR(1) = 23 - 130 + 113.44 = 6.44 dB.
    #   CQI 1: 10^((6.44 + 2.11)/10) = 7.16 -> 7 * 0.1523 = 1.066   <- best
    #   CQI 2: 10^((6.44 - 2.18)/10) = 2.67 -> 2 * 0.3770 = 0.754;  CQI 3: 10^((6.44 - 6.65)/10) < 1: none
    # M = 7, SINR 6.44 - 8.45 = -2.01 dB, rate = 7 * 0.1523 * 309,120 = 0.330 Mbit/s.
    (130.0, 7, 23.0, 6.437 - 10 * math.log10(7), 7 * 0.1523 * MACRO_RB_BPS),
    # PL 137 (full-band SNR 23 - 137 + 89 = -25 dB): SINR(1) = -0.56 dB >= -2.11: 1 RB at CQI 1 (2 RBs: -3.57 dB).
    (137.0, 1, 23.0, -0.563, 0.1523 * MACRO_RB_BPS),
    # PL 140: SINR(1) = 23 - 140 + 113.44 = -3.56 dB < -2.11 (CQI 1): no RB count gives a rate.
    (140.0, 0, -np.inf, -3.563, 0.0),
]


@pytest.mark.parametrize(("pl", "n_rb", "p_dbm", "sinr_db", "rate"), HAND_MACRO)
def test_best_rb_count_by_hand_nr_macro(pl, n_rb, p_dbm, sinr_db, rate):
    a = uplink_link_adaptation(pl, MACRO)
    assert int(a.n_rb) == n_rb
    assert float(a.p_tx_dbm) == pytest.approx(p_dbm, abs=1e-3)
    assert float(a.sinr_per_rb_db) == pytest.approx(sinr_db, abs=1e-3)
    assert float(a.rate_bps) == pytest.approx(rate, rel=1e-9)
    assert float(a.fullband_snr_db) == pytest.approx(23 - pl + 89.0)  # N(100 MHz, NF 5) = -89 dBm


def test_best_rb_count_by_hand_nr_mmwave():
    # PL 130, 120 kHz SCS: N = -174 + 10 log10(1.44 MHz) + 5 = -107.42 dBm; SINR(1) = 23 - 130 + 107.42 = 0.42 dB.
    # CQI 1: 10^((0.42 + 2.11)/10) = 1.79 -> 1 RB at CQI 1 (CQI 2 needs 2.18 dB): 0.1523 * 1,209,600 = 184.2 kbit/s.
    a = uplink_link_adaptation(130.0, MMWAVE)
    assert (int(a.n_rb), float(a.p_tx_dbm)) == (1, 23.0)
    assert float(a.rate_bps) == pytest.approx(0.1523 * MMWAVE_RB_BPS)
    # the old full-band model gave nothing: SNR 23 - 130 - (-174 + 86.02 + 5) = -24.02 dB -> CQI 0
    assert float(a.fullband_snr_db) == pytest.approx(-24.02, abs=0.01)
    assert float(user_rate_bps("nr-mmwave", sinr_db=float(a.fullband_snr_db), link="ul")) == 0.0


# ----------------------------------------------------------------------------------------- exhaustive reference


def _scalar_se(sinr_db: float, cfg: UplinkConfig) -> float:
    if cfg.se_method == "attenuated-shannon":  # TR 36.942 A.2, uplink
        return 0.0 if sinr_db < -10.0 else min(0.4 * math.log2(1 + 10 ** (sinr_db / 10)), 2.0)
    cap = math.log2(1 + 10 ** (sinr_db / 10) / cqi_gamma())
    return max([0.0] + [e for e in cqi_table(cfg.cqi_table)["spectral_efficiency"] if e <= cap])


def _brute_force(pl: float, cfg: UplinkConfig, i_dbm: float, m_max: int) -> tuple[int, float]:
    """Every M in 1..m_max, in scalar Python; the smallest M of the best rate."""
    mu = round(math.log2(cfg.scs_hz / 15e3))
    n_mw = 10 ** ((-174 + 10 * math.log10(12 * cfg.scs_hz) + cfg.noise_figure_db) / 10)
    ni_dbm = 10 * math.log10(n_mw + (10 ** (i_dbm / 10) if i_dbm > -math.inf else 0.0))
    rb_bps = cfg.layers * 12 * 14 * 2**mu * 1000 * (1 - cfg.overhead)
    best_m, best_rate = 0, 0.0
    for m in range(1, m_max + 1):
        p = min(cfg.p_cmax_dbm, cfg.p0_dbm + 10 * math.log10(2**mu * m) + cfg.alpha * pl)
        rate = m * rb_bps * _scalar_se(p - 10 * math.log10(m) - pl - ni_dbm, cfg)
        if rate > best_rate:
            best_m, best_rate = m, rate
    return best_m, best_rate


@pytest.mark.parametrize(
    "cfg",
    [
        MACRO,
        MMWAVE,
        UplinkConfig.for_preset(get_preset("nr-macro"), se_method="attenuated-shannon"),
        UplinkConfig.for_preset(get_preset("nr-macro"), alpha=1.0, p0_dbm=-100.0, cqi_table=1),
        UplinkConfig.for_preset(get_preset("nr-mmwave"), alpha=0.4, p0_dbm=-60.0),
        UplinkConfig.for_preset(get_preset("nr-macro"), alpha=0.0, p0_dbm=-10.0),
    ],
    ids=["macro", "mmwave", "macro-shannon", "macro-a1-table1", "mmwave-a04", "macro-a0"],
)
def test_exact_optimum_against_exhaustive_search(cfg):
    rng = np.random.default_rng(12)
    n = 120
    pl = rng.uniform(60.0, 150.0, n)
    i_dbm = np.where(rng.random(n) < 0.3, -np.inf, rng.uniform(-125.0, -100.0, n))
    m_max = rng.integers(0, cfg.n_rb + 1, n)
    m_max[:40] = cfg.n_rb  # a user alone in the cell
    a = uplink_link_adaptation(pl, cfg, interference_per_rb_dbm=i_dbm, n_rb_max=m_max)
    for u in range(n):
        m_ref, rate_ref = _brute_force(pl[u], cfg, i_dbm[u], int(m_max[u]))
        assert a.n_rb[u] == m_ref, (u, pl[u], i_dbm[u], m_max[u])
        assert a.rate_bps[u] == pytest.approx(rate_ref, rel=1e-12)
    assert np.all(a.n_rb <= m_max) and np.all(a.rate_bps[m_max == 0] == 0)


def test_rate_formula_is_the_full_cell_rate_on_all_rbs():
    # on M = N_RB the rate is the project's full-cell rate (nr_rate_bps) at the same SINR per RB
    pl = np.linspace(70.0, 135.0, 50)
    rate, sinr = uplink_rate_bps(pl, MACRO.n_rb, MACRO)
    assert np.allclose(rate, user_rate_bps("nr-macro", sinr_db=sinr, link="ul"), rtol=1e-12)


# ------------------------------------------------------------------------------------------- issue-12 acceptance


@pytest.mark.parametrize("cfg", [MACRO, MMWAVE], ids=["nr-macro", "nr-mmwave"])
def test_rate_positive_whenever_fullband_snr_at_least_minus_25_db(cfg):
    n_db = -174 + 10 * math.log10(cfg.bandwidth_hz) + cfg.noise_figure_db
    snr = np.arange(-25.0, 45.0, 0.005)
    pl = cfg.p_cmax_dbm - n_db - snr  # the coupling loss that gives this full-band SNR
    a = uplink_link_adaptation(pl, cfg)
    assert np.allclose(a.fullband_snr_db, snr)
    assert np.all(a.rate_bps > 0) and np.all(a.n_rb >= 1)
    # the full-band model this replaces had no uplink below about -7 dB
    old = user_rate_bps(get_preset("nr-macro" if cfg is MACRO else "nr-mmwave"), sinr_db=snr, link="ul")
    assert old[0] == 0 and (old == 0).mean() > 0.2


@pytest.mark.parametrize("cfg", [MACRO, MMWAVE, UplinkConfig.for_preset(get_preset("nr-macro"), alpha=1.0)])
@pytest.mark.parametrize("i_dbm", [-np.inf, -110.0])
def test_rate_never_increases_with_path_loss(cfg, i_dbm):
    pl = np.arange(40.0, 160.0, 0.01)
    a = uplink_link_adaptation(pl, cfg, interference_per_rb_dbm=i_dbm)
    assert np.all(np.diff(a.rate_bps) <= 0)
    assert a.rate_bps[0] > 0 and a.rate_bps[-1] == 0
    # more interference never helps either
    quieter = uplink_link_adaptation(pl, cfg, interference_per_rb_dbm=i_dbm - 3.0)
    assert np.all(quieter.rate_bps >= a.rate_bps)


@pytest.mark.parametrize("name", ["nr-macro", "nr-mmwave"])
@pytest.mark.parametrize("los", [True, False])
def test_rate_never_increases_with_distance(name, los):
    preset = get_preset(name)
    d = np.geomspace(1.0, 5000.0, 4000)
    a = uplink_link_adaptation(preset.pathloss_db(d, los=los), UplinkConfig.for_preset(preset))
    assert np.all(np.diff(a.rate_bps) <= 0) and a.rate_bps[0] > 0


def test_share_of_the_carrier_caps_the_rb_count():
    pl = np.array([80.0, 110.0, 130.0])
    a = uplink_link_adaptation(pl, MACRO, n_rb_max=np.array([10, 10, 10]))
    assert np.all(a.n_rb == [10, 10, 7])  # 7 was already the optimum at PL 130
    b = uplink_link_adaptation(pl[:, None], MACRO, n_rb_max=np.array([0, 1, 273]))  # broadcast: [3, 3]
    assert b.rate_bps.shape == (3, 3) and np.all(b.rate_bps[:, 0] == 0) and np.all(b.n_rb[:, 0] == 0)
    assert np.all(b.rate_bps[:, 1] <= b.rate_bps[:, 2])


def test_no_link_and_transmit_power_per_rb():
    a = uplink_link_adaptation(np.array([np.nan, np.inf, 90.0]), MACRO)
    assert list(a.n_rb) == [0, 0, 273] and list(a.rate_bps[:2]) == [0, 0]
    assert np.isneginf(a.p_tx_per_rb_dbm[:2]).all()
    assert a.p_tx_per_rb_dbm[2] == pytest.approx(-80 + 10 * math.log10(2) + 72)  # the power-control target per RB
    assert float(fullband_snr_db(100.0, MACRO)) == pytest.approx(23 - 100 + 89)


# ------------------------------------------------------------------------------------------------- interference


def test_interference_follows_rb_use_by_hand():
    # 3 UEs, 2 cells. UE0 on cell 0 (10 dBm per RB), UE1 on cell 1 (0 dBm per RB), UE2 on cell 1 (-inf: silent).
    p = np.array([10.0, 0.0, -np.inf])
    cl = np.array([[100.0, 110.0], [120.0, 90.0], [95.0, 95.0]])
    serving = np.array([0, 1, 1])
    f = np.array([0.5, 0.25, 1.0])
    i = uplink_interference_dbm(p, cl, serving, f)
    # cell 0: only UE1, 0 - 120 = -120 dBm on a quarter of the RBs -> -120 - 6.02 = -126.02 dBm
    # cell 1: only UE0, 10 - 110 = -100 dBm on half of them -> -103.01 dBm
    assert i == pytest.approx([-120 + 10 * math.log10(0.25), -100 + 10 * math.log10(0.5)])
    # both interferers on cell 0's band: UE1 and a UE1-twin attached to nothing (-1: not transmitting)
    i2 = uplink_interference_dbm(np.array([0.0, 0.0]), np.array([[120.0, 90.0], [100.0, 90.0]]), np.array([1, -1]), 1.0)
    assert i2[0] == pytest.approx(-120.0) and np.isneginf(i2[1])


def test_interference_against_scalar_sum():
    rng = np.random.default_rng(3)
    n_ue, n_cell = 40, 6
    cl = rng.uniform(80.0, 140.0, (n_ue, n_cell))
    p = rng.uniform(-20.0, 20.0, n_ue)
    serving = rng.integers(-1, n_cell, n_ue)
    f = rng.random(n_ue)
    got = uplink_interference_dbm(p, cl, serving, f)
    for k in range(n_cell):
        ref = sum(f[u] * 10 ** ((p[u] - cl[u, k]) / 10) for u in range(n_ue) if serving[u] not in (-1, k))
        assert got[k] == pytest.approx(10 * math.log10(ref))
    got32 = uplink_interference_dbm(p, cl.astype(np.float32), serving, f)
    assert got32.dtype == np.float32 and np.allclose(got32, got, atol=1e-3)


def test_interference_lowers_the_rate_through_the_link_adaptation():
    pl = np.array([100.0, 120.0])
    clean = uplink_link_adaptation(pl, MACRO)
    i_dbm = MACRO.rb_noise_dbm  # interference equal to the noise: -3.01 dB of SINR on any RB count
    noisy = uplink_link_adaptation(pl, MACRO, interference_per_rb_dbm=i_dbm)
    _, sinr_clean = uplink_rate_bps(pl, clean.n_rb, MACRO)
    _, sinr_noisy = uplink_rate_bps(pl, clean.n_rb, MACRO, interference_per_rb_dbm=i_dbm)
    assert np.allclose(sinr_noisy, sinr_clean - 10 * math.log10(2))
    assert np.all(noisy.rate_bps < clean.rate_bps)
    # at PL 100 the UE is power-limited on 273 RBs (12.08 dB); with the interference it leaves some RBs to keep a
    # higher CQI: the link adaptation reacts to the interference, not only to the noise
    assert clean.n_rb[0] == 273 and noisy.n_rb[0] < 273


# ------------------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"alpha": 0.3}, "alpha"),
        ({"p0_dbm": 30.0}, "p0_dbm"),
        ({"se_method": "magic"}, "spectral-efficiency method"),
        ({"cqi_table": 3}, "CQI table"),
        ({"scs_hz": 45e3}, "scs_hz"),
        ({"overhead": 1.0}, "overhead"),
    ],
)
def test_bad_config_names_the_field(changes, field):
    with pytest.raises(ValueError, match=field):
        UplinkConfig.for_preset(get_preset("nr-macro"), **changes)


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_rb_max"):
        uplink_link_adaptation(100.0, MACRO, n_rb_max=274)
    with pytest.raises(ValueError, match="n_rb_max"):
        uplink_link_adaptation(100.0, MACRO, n_rb_max=2.5)
    with pytest.raises(ValueError, match="interference_per_rb_dbm"):
        uplink_link_adaptation(100.0, MACRO, interference_per_rb_dbm=np.nan)
    with pytest.raises(ValueError, match="n_rb"):
        uplink_rate_bps(100.0, 0, MACRO)
    with pytest.raises(ValueError, match="rb_fraction"):
        uplink_interference_dbm([0.0], [[100.0]], [0], 1.5)
    with pytest.raises(ValueError, match="serving"):
        uplink_interference_dbm([0.0], [[100.0]], [1], 1.0)


@pytest.mark.parametrize("name", ["nr-macro", "nr-mmwave"])
@pytest.mark.parametrize(
    "changes",
    [{}, {"se_method": "attenuated-shannon"}, {"alpha": 1.0, "p0_dbm": -100.0}, {"alpha": 0.7, "p0_dbm": -120.0}],
)
def test_exact_optimum_against_every_rb_count_vectorised(name, changes):
    # the same exhaustive search on many more UEs: the rate of every M in 1..N_RB as one [n_ue, N_RB] array
    cfg = UplinkConfig.for_preset(get_preset(name), **changes)
    rng = np.random.default_rng(7)
    n = 2000
    pl = rng.uniform(40.0, 160.0, n)
    i_dbm = np.where(rng.random(n) < 0.3, -np.inf, rng.uniform(-130.0, -90.0, n))
    m_max = rng.integers(0, cfg.n_rb + 1, n)
    a = uplink_link_adaptation(pl, cfg, interference_per_rb_dbm=i_dbm, n_rb_max=m_max)
    m = np.arange(1, cfg.n_rb + 1)
    rate, _ = uplink_rate_bps(pl[:, None], m, cfg, interference_per_rb_dbm=i_dbm[:, None])
    rate = np.where(m <= m_max[:, None], rate, 0.0)
    best = rate.max(axis=1)
    assert np.array_equal(a.n_rb, np.where(best > 0, rate.argmax(axis=1) + 1, 0))
    assert np.allclose(a.rate_bps, best, rtol=1e-12, atol=0.0)


def test_docs_example_table_is_what_the_function_computes():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "radio.md").read_text(encoding="utf-8")
    lines = text[text.index("| coupling loss (dB) |") :].splitlines()[2:]
    rows = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines if ln.startswith("|")][:20]
    rows = rows[: next((i for i, r in enumerate(rows) if not r[0].replace(".", "").isdigit()), len(rows))]
    assert len(rows) >= 8
    cl = np.array([float(r[0]) for r in rows])
    a = uplink_link_adaptation(cl, MACRO)
    old = user_rate_bps("nr-macro", sinr_db=a.fullband_snr_db, link="ul")
    for r, snr, m, p, sinr, rate, full in zip(
        rows, a.fullband_snr_db, a.n_rb, a.p_tx_dbm, a.sinr_per_rb_db, a.rate_bps, old, strict=True
    ):
        assert float(r[1]) == pytest.approx(snr, abs=0.05) and int(r[2]) == m
        assert (r[3] == "-" and m == 0) or float(r[3]) == pytest.approx(p, abs=0.05)
        assert float(r[4]) == pytest.approx(sinr, abs=0.005)
        assert float(r[5]) == pytest.approx(rate / 1e6, rel=0.01, abs=1e-9)
        assert float(r[6]) == pytest.approx(full / 1e6, rel=0.01, abs=1e-9)
