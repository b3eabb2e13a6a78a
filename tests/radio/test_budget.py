"""The link-budget command (``python -m twin.radio.budget``): CSV format, the issue-12 acceptance properties (uplink
rate > 0 down to -25 dB full-channel SNR, rate non-increasing with distance), a hand computation of the best RB count,
and one-line errors."""

import math
import subprocess
import sys

import numpy as np
import pytest

from twin.radio.budget import HEADER, link_budget, main
from twin.radio.presets import PRESETS
from twin.radio.uplink import uplink_link_adaptation

NR = ("nr-macro", "nr-mmwave")
RB_RATE = 12 * 14 * 2 * 1e3 * (1 - 0.08)  # nr-macro, bit/s per RB per bit/s/Hz (30 kHz SCS, FR1 UL overhead)
GAMMA = -math.log(5 * 5e-5) / 1.5  # ns-3's SNR gap (BER 5e-5)
CQI2_SE = (0.1523, 0.377, 0.877, 1.4766, 1.9141, 2.4063, 2.7305, 3.3223, 3.9023, 4.5234, 5.1152, 5.5547, 6.2266,
           6.9141, 7.4063)  # TS 38.214 Table 5.2.2.1-3


def _csv(capsys, *argv):
    assert main(list(argv)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == HEADER
    return [dict(zip(HEADER.split(","), line.split(","), strict=True)) for line in lines[1:]]


def _distances(preset):
    p = PRESETS[preset]
    dh = abs(p.h_bs_m - p.h_ut_m)
    return np.unique(np.concatenate([dh + np.geomspace(0.01, 5000, 400), [dh]]))


def test_rows_follow_the_distances_given(capsys):
    rows = _csv(capsys, "nr-macro", "--distance", "500,30,100", "--nlos")
    assert [r["distance_m"] for r in rows] == ["500", "30", "100"]
    assert {r["los"] for r in rows} == {"false"}
    assert float(rows[1]["rate_bps"]) > float(rows[2]["rate_bps"]) > float(rows[0]["rate_bps"]) > 0
    los = _csv(capsys, "nr-macro", "--link", "dl", "--distance", "100")  # dl and LOS by default
    assert los == _csv(capsys, "nr-macro", "--distance", "100", "--los")
    assert los[0]["los"] == "true"


@pytest.mark.parametrize("preset", NR)
@pytest.mark.parametrize("los", [True, False])
def test_uplink_keeps_a_rate_down_to_minus_25_db(preset, los):
    t = link_budget(PRESETS[preset], _distances(preset), link="ul", los=los)
    reach = t["sinr_db"] >= -25.0
    assert reach.sum() > 50 and (t["sinr_db"] < -25).any()  # the grid spans the threshold
    assert (t["rate_bps"][reach] > 0).all()


@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.parametrize("link", ["dl", "ul"])
@pytest.mark.parametrize("los", [True, False])
def test_rate_never_increases_with_distance(preset, link, los):
    t = link_budget(PRESETS[preset], _distances(preset), link=link, los=los)
    assert np.all(np.diff(t["rate_bps"]) <= 0)
    assert t["rate_bps"][0] > 0


def test_best_rb_count_by_hand_power_limited(capsys):
    # nr-macro UL, NLOS, 500 m: UMa NLOS PL' = 13.54 + 39.08 lg(500) + 20 lg(3.5) (above PL_LOS; d_BP' = 560 m)
    pl = 13.54 + 39.08 * math.log10(500) + 20 * math.log10(3.5)
    n_rb = -174 + 10 * math.log10(12 * 30e3) + 5  # noise in one RB, gNB NF 5 dB
    s_pc = 10 ** ((-80 + 10 * math.log10(2) + (0.8 - 1) * pl - n_rb) / 10)  # P0 -80, alpha 0.8: 10.5 dB
    s0 = 10 ** ((23 - pl - n_rb) / 10)  # all of P_CMAX on one RB: 6.5 dB
    # M RBs at SINR min(S_pc, S0 / M); CQI k needs log2(1 + SINR / Gamma) >= SE_k
    best = max((m * max([se for se in CQI2_SE if math.log2(1 + min(s_pc, s0 / m) / GAMMA) >= se], default=0), m)
               for m in range(1, 274))
    assert best[1] == 7  # 7 RBs at CQI 1 (QPSK 78/1024)
    row = _csv(capsys, "nr-macro", "--link", "ul", "--distance", "500", "--nlos")[0]
    assert float(row["pathloss_db"]) == pytest.approx(pl, abs=1e-3)
    assert float(row["sinr_db"]) == pytest.approx(23 - pl - (-174 + 80 + 5), abs=1e-3)  # full 100 MHz, noise only
    assert float(row["rate_bps"]) == pytest.approx(best[0] * RB_RATE, abs=0.1)
    alloc = uplink_link_adaptation(pl, PRESETS["nr-macro"].uplink)
    assert int(alloc.n_rb) == 7


def test_best_rb_count_by_hand_power_control_target():
    # nr-macro UL, LOS, 100 m (below d_BP'): PL = 28 + 22 lg(100) + 20 lg(3.5); power control sets the SINR per RB
    # to P0 + 10 lg 2 - 0.2 PL - N_RB = 19.9 dB on every RB, well below P_CMAX on all 273: CQI 9
    pl = 28 + 22 * math.log10(100) + 20 * math.log10(3.5)
    n_rb = -174 + 10 * math.log10(12 * 30e3) + 5
    sinr = -80 + 10 * math.log10(2) - 0.2 * pl - n_rb
    assert -80 + 10 * math.log10(2 * 273) + 0.8 * pl < 23
    se = max(s for s in CQI2_SE if math.log2(1 + 10 ** (sinr / 10) / GAMMA) >= s)
    assert se == 3.9023
    t = link_budget(PRESETS["nr-macro"], [math.hypot(100, 23.5)], link="ul", los=True)
    assert t["rate_bps"][0] == pytest.approx(273 * se * RB_RATE, rel=1e-12)


@pytest.mark.parametrize("argv, message", [
    (["nr-nope", "--distance", "100"], "unknown preset 'nr-nope'"),
    (["nr-macro", "--distance", "100,-5"], "positive"),
    (["nr-macro", "--distance", "0"], "positive"),
    (["nr-macro", "--distance", "10"], "shorter than the 23.5 m between the antennas"),
    (["nr-macro", "--distance", "ten"], "not a number"),
    (["nr-macro", "--distance", "100", "--link", "both"], "--link must be dl or ul"),
    (["nr-macro", "--distance", "100", "--profile", "measured"], "unknown profile 'measured'"),
    (["nr-macro"], "--distance"),
    (["nr-macro", "--distance", "100", "--los", "--nlos"], "not allowed"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and message in err


def test_runs_as_a_module():
    done = subprocess.run([sys.executable, "-m", "twin.radio.budget", "nr-mmwave", "--link", "ul", "--distance",
                           "20,200"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.splitlines()[0] == HEADER and len(done.stdout.splitlines()) == 3
    bad = subprocess.run([sys.executable, "-m", "twin.radio.budget", "nr-mmwave", "--distance", "-1"],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1 and "Traceback" not in bad.stderr
