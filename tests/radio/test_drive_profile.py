"""DRIVE's link model (``radio.profile: drive``, ``python -m twin.radio.budget --profile drive``) against an
independent port of DRIVE's MATLAB (``tools/validate_drive.py``): rates equal at every distance of DRIVE's table, LOS
and NLOS (its NLOS rate quirk off and on), path loss within 0.01 dB; hand-checked values; the demand-driven power."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from twin.radio.budget import link_budget, main
from twin.radio.drive import demand_tx_power_dbm, drive_link, drive_noise_dbm, matlab_round
from twin.radio.presets import PRESETS

_spec = importlib.util.spec_from_file_location("validate_drive",
                                               Path(__file__).resolve().parents[2] / "tools" / "validate_drive.py")
V = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(V)

CASES = [("drive-lte", "lte"), ("drive-80211ad", "mmWaves")]


@pytest.mark.parametrize("preset,rat", CASES)
@pytest.mark.parametrize("los,quirk", [(True, False), (False, False), (False, True)])
def test_rates_equal_drives_at_every_table_distance(preset, rat, los, quirk):
    bs = V.load_rat(rat)
    table = V.link_budget_calculation(bs)
    d = V.all_distances(rat)
    pl_d, rx_d, rate_d = V.drive_lookup(bs, table, d, los, quirk)
    t = link_budget(PRESETS[preset], d, los=los, profile="drive", nlos_quirk=quirk)
    assert np.max(np.abs(t["pathloss_db"] - pl_d)) < 0.01
    assert np.array_equal(t["rate_bps"], rate_d)
    inside = rx_d > -300
    assert np.array_equal(inside, t["rate_bps"] > 0)
    assert np.max(np.abs(t["rx_dbm"][inside] - rx_d[inside])) < 0.01
    # off-grid distances are rounded as DRIVE rounds them (1 m LTE, 0.1 m 802.11ad, halves away from zero)
    rng = np.random.default_rng(3)
    d2 = rng.uniform(1.0, bs["maxTXDistance"] + 5, 3000)
    _, _, rate2 = V.drive_lookup(bs, table, d2, los, quirk)
    assert np.array_equal(link_budget(PRESETS[preset], d2, los=los, profile="drive", nlos_quirk=quirk)["rate_bps"],
                          rate2)


def test_hand_values_and_ranges():
    lte, ad = PRESETS["drive-lte"], PRESETS["drive-80211ad"]
    # TR 36.942 macro at 2.6 GHz, Dhb 20: 36.8 log10(d_km) + 128.30; COST-231 Hata: 142.93 + 34.41 log10(d_km)
    los = drive_link(lte, [100.0], True)
    assert los.pathloss_db[0] == pytest.approx(36.8 * -1 + 40 * 0 + (-18 * math.log10(20) + 21 * math.log10(2600)
                                                                      + 80), abs=1e-9)
    assert drive_link(lte, [1000.0], False).pathloss_db[0] == pytest.approx(142.93, abs=0.01)
    # LTE LOS reaches 922 m (rx >= -94 dBm), NLOS 344 m; 802.11ad reaches its 200 m maxTXDistance, inclusive
    assert drive_link(lte, [922.0, 923.0], True).rate_bps.tolist() == [15.84e6, 0.0]
    assert drive_link(lte, [344.0, 345.0], False).rate_bps.tolist() == [15.84e6, 0.0]
    assert drive_link(ad, [200.04, 200.05], True).rate_bps.tolist() == [5197.5e6, 0.0]  # 200.05 rounds to 200.1
    # DRIVE's noise: -174 + 10 log10(20 MHz) - 6 dB
    assert drive_noise_dbm(20e6) == pytest.approx(-174 + 73.0103 - 6, abs=1e-4)
    # the quirk gives an NLOS link the LOS rate at its distance; its power and range stay NLOS
    off, on = drive_link(lte, [300.0], False), drive_link(lte, [300.0], False, nlos_quirk=True)
    assert off.rate_bps[0] == 15.84e6 and on.rate_bps[0] == drive_link(lte, [300.0], True).rate_bps[0] == 75.376e6
    assert on.rx_dbm[0] == off.rx_dbm[0]
    assert drive_link(lte, [400.0], False, nlos_quirk=True).rate_bps[0] == 0.0
    # per-base-station power (demand-driven LTE): +8 dB moves the LOS edge out
    assert drive_link(lte, [1000.0], True, p_tx_dbm=23.0).rate_bps[0] == 15.84e6


def test_matlab_rounding_and_demand_power():
    assert matlab_round(np.array([0.5, 1.5, 2.5, 344.5]), 1.0).tolist() == [1.0, 2.0, 3.0, 345.0]
    assert matlab_round(np.array([0.25, 0.35, 12.05]), 0.1).tolist() == pytest.approx([0.3, 0.4, 12.1])
    # runSUMO.m: round(users / 100 x 23 + 20)
    assert demand_tx_power_dbm([0, 10, 50, 100]).tolist() == [20.0, 22.0, 32.0, 43.0]


def test_budget_command_profile_drive(capsys):
    assert main(["drive-lte", "--distance", "100,344,345", "--nlos", "--profile", "drive"]) == 0
    rows = [line.split(",") for line in capsys.readouterr().out.splitlines()[1:]]
    assert [float(r[-1]) for r in rows] == [75.376e6, 15.84e6, 0.0]  # NLOS rx -75.5, -94.0, -94.1 dBm
    assert main(["nr-macro", "--distance", "100", "--profile", "drive"]) == 2
    assert "not a DRIVE preset" in capsys.readouterr().err
    assert main(["drive-lte", "--distance", "0.5", "--profile", "drive"]) == 2
    assert ">= 1" in capsys.readouterr().err
    assert main(["drive-lte", "--distance", "100", "--nlos-quirk"]) == 2
    assert "--profile drive" in capsys.readouterr().err
