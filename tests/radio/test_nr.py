"""NR numerology, maximum RBs (TS 38.101) and the TS 38.306 peak-rate formula."""

import pytest

from twin.radio import max_rbs, nr_peak_rate_bps, nr_rate_bps, numerology, overhead


@pytest.mark.parametrize(
    ("scs_khz", "bw_mhz", "n_rb"),
    [(15, 5, 25), (15, 10, 52), (15, 20, 106), (15, 50, 270), (30, 20, 51), (30, 50, 133), (30, 100, 273),
     (60, 50, 66), (60, 100, 132), (60, 200, 264), (120, 50, 32), (120, 100, 66), (120, 200, 132), (120, 400, 264)],
)  # fmt: skip
def test_max_rbs_table(scs_khz, bw_mhz, n_rb):
    assert max_rbs(bw_mhz * 1e6, scs_khz * 1e3) == n_rb


def test_numerology_and_overhead():
    assert [numerology(s * 1e3) for s in (15, 30, 60, 120)] == [0, 1, 2, 3]
    assert overhead(3.5e9, "dl") == 0.14 and overhead(28e9, "dl") == 0.18
    assert overhead(3.5e9, "ul") == 0.08 and overhead(28e9, "ul") == 0.10
    with pytest.raises(ValueError, match="scs_hz"):
        numerology(20e3)
    with pytest.raises(ValueError, match="bandwidth_hz"):
        max_rbs(40e6, 30e3)


def test_peak_rate_hand_computation():
    # FR1, 100 MHz, 30 kHz: 4 layers, 256QAM, f = 1, OH 0.14
    want = 4 * 8 * 1.0 * (948 / 1024) * 273 * 12 / (1e-3 / (14 * 2)) * (1 - 0.14)
    assert nr_peak_rate_bps(n_prb=273, scs_hz=30e3, layers=4, qm=8, overhead=0.14) == pytest.approx(want, rel=1e-12)
    assert want == pytest.approx(2.337e9, rel=1e-3)
    # FR2, 400 MHz, 120 kHz, 2 layers, 64QAM, OH 0.18
    want2 = 2 * 6 * (948 / 1024) * 264 * 12 / (1e-3 / (14 * 8)) * 0.82
    assert nr_peak_rate_bps(n_prb=264, scs_hz=120e3, layers=2, qm=6, overhead=0.18) == pytest.approx(want2, rel=1e-12)


def test_rate_from_spectral_efficiency():
    r = nr_rate_bps([0.0, 1.0, 2.0], n_prb=273, scs_hz=30e3, overhead=0.14)
    re_per_s = 273 * 12 * 14 * 2 * 1000
    assert list(r) == pytest.approx([0.0, re_per_s * 0.86, 2 * re_per_s * 0.86])
    with pytest.raises(ValueError, match="n_prb"):
        nr_rate_bps(1.0, n_prb=0, scs_hz=30e3)
    with pytest.raises(ValueError, match="qm"):
        nr_peak_rate_bps(n_prb=273, scs_hz=30e3, qm=5)
