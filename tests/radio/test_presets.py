"""Technology presets and the full-cell user rate."""

import dataclasses

import numpy as np
import pytest

from twin.radio import PRESETS, NrPreset, TablePreset, get_preset, pathloss_db, user_rate_bps


def test_preset_values_follow_the_reference():
    macro, mmw = get_preset("nr-macro"), get_preset("nr-mmwave")
    assert isinstance(macro, NrPreset) and isinstance(mmw, NrPreset)
    assert (macro.fc_hz, macro.bandwidth_hz, macro.scs_hz, macro.n_rb, macro.mu) == (3.5e9, 100e6, 30e3, 273, 1)
    assert 46 <= macro.p_tx_dbm <= macro.p_tx_max_dbm == 49
    assert (mmw.fc_hz, mmw.bandwidth_hz, mmw.scs_hz, mmw.n_rb, mmw.mu) == (28e9, 400e6, 120e3, 264, 3)
    assert 30 <= mmw.p_tx_dbm <= mmw.p_tx_max_dbm == 33
    assert macro.frequency_range == "fr1" and mmw.frequency_range == "fr2"
    assert macro.ue_p_tx_dbm == 23 and macro.ue_noise_figure_db == 9 and macro.bs_noise_figure_db == 5
    assert macro.noise_dbm("dl") == pytest.approx(-85.0) and macro.noise_dbm("ul") == pytest.approx(-89.0)
    lte, ad = get_preset("drive-lte"), get_preset("drive-80211ad")
    assert isinstance(lte, TablePreset) and isinstance(ad, TablePreset)
    assert (lte.fc_hz, lte.bandwidth_hz, lte.p_tx_dbm, lte.g_bs_dbi, lte.max_tx_distance_m) == (
        2.6e9,
        20e6,
        15,
        18,
        1000,
    )
    assert (ad.fc_hz, ad.bandwidth_hz, ad.p_tx_dbm, ad.g_bs_dbi, ad.g_ue_dbi, ad.max_tx_distance_m) == (
        60e9,
        2.16e9,
        20,
        pytest.approx(22.6327, abs=1e-4),  # DRIVE's antennaGainFemto(15) = 10 log10(4 pi (180/pi)^2 / 15^2)
        pytest.approx(22.6327, abs=1e-4),
        200,
    )


def test_presets_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PRESETS["nr-macro"].p_tx_dbm = 49.0  # type: ignore[misc]
    louder = dataclasses.replace(PRESETS["nr-macro"], p_tx_dbm=49.0)
    assert louder.p_tx_dbm == 49 and PRESETS["nr-macro"].p_tx_dbm == 46


def test_nr_rate_hand_computation():
    re_per_s = 273 * 12 * 14 * 2 * 1000  # RE/s of 100 MHz at 30 kHz
    # 30 dB -> CQI 15 of table 2: 7.4063 bit/RE; DL overhead 0.14
    assert float(user_rate_bps("nr-macro", sinr_db=30.0)) == pytest.approx(7.4063 * re_per_s * 0.86)
    # attenuated Shannon, 10 dB, UL: 0.4 log2(11) bit/RE, UL overhead 0.08
    got = user_rate_bps("nr-macro", sinr_db=10.0, link="ul", method="attenuated-shannon")
    assert float(got) == pytest.approx(0.4 * np.log2(11) * re_per_s * 0.92)
    assert float(user_rate_bps("nr-mmwave", sinr_db=-20.0)) == 0.0
    r = user_rate_bps("nr-mmwave", sinr_db=np.array([[0.0, 10.0], [20.0, 30.0]]))
    assert r.shape == (2, 2) and np.all(np.diff(r.ravel()) > 0)


@pytest.mark.parametrize(
    ("rx_dbm", "mbps"),
    [
        (-60.0, 97.896),
        (-72.0, 97.896),
        (-72.5, 75.376),
        (-77.0, 75.376),
        (-83.0, 30.576),
        (-90.0, 15.84),
        (-94.0, 15.84),
        (-94.1, 0.0),
    ],
)
def test_drive_lte_table(rx_dbm, mbps):
    assert float(user_rate_bps("drive-lte", rx_power_dbm=rx_dbm)) == pytest.approx(mbps * 1e6)


@pytest.mark.parametrize(
    ("rx_dbm", "mbps"),
    [
        (-40.0, 6756.75),
        (-47.0, 6756.75),
        (-50.0, 5197.5),
        (-54.0, 4158.0),
        (-63.0, 1386.0),
        (-63.5, 866.25),
        (-68.0, 385.0),
        (-70.0, 27.5),
        (-78.0, 27.5),
        (-79.0, 0.0),
    ],
)
def test_drive_80211ad_table(rx_dbm, mbps):
    assert float(user_rate_bps("drive-80211ad", rx_power_dbm=rx_dbm)) == pytest.approx(mbps * 1e6)


def test_drive_mimo_and_vectorised():
    lte4 = dataclasses.replace(get_preset("drive-lte"), mimo_factor=4)
    np.testing.assert_allclose(user_rate_bps(lte4, rx_power_dbm=[-70.0, -100.0, np.nan]), [4 * 97.896e6, 0.0, 0.0])


def test_drive_pathloss_uses_los_and_nlos_models():
    lte = get_preset("drive-lte")
    d = np.array([100.0, 500.0])
    got = lte.pathloss_db(d, los=[True, False])
    assert got[0] == pytest.approx(float(pathloss_db("tr36873-uma", 100.0, 2.6e9)))
    assert got[1] == pytest.approx(float(pathloss_db("cost231-hata", 500.0, 2.6e9, h_bs_m=40, h_ut_m=1.5)))
    ad = get_preset("drive-80211ad")
    diff = ad.pathloss_db(50.0, los=False) - ad.pathloss_db(50.0, los=True)
    assert float(diff) == pytest.approx(20.0)
    # received power: tx 20 dBm + 2 x 22.633 dBi - PL
    pl = ad.pathloss_db(50.0, los=True)
    assert float(ad.rx_power_dbm(pl)) == pytest.approx(20 + 2 * 22.63273 - float(pl))


def test_nr_budget():
    macro = get_preset("nr-macro")
    pl = macro.pathloss_db(np.array([100.0, 1000.0]), los=False)
    np.testing.assert_allclose(macro.rx_power_dbm(pl), 46.0 - pl)
    np.testing.assert_allclose(macro.rx_power_dbm(pl, link="ul"), 23.0 - pl)


def test_bad_input():
    with pytest.raises(
        ValueError, match="unknown radio preset 'lte'; valid: nr-macro, nr-mmwave, drive-lte, drive-80211ad"
    ):
        get_preset("lte")
    with pytest.raises(ValueError, match="sinr_db is required"):
        user_rate_bps("nr-macro", rx_power_dbm=-80.0)
    with pytest.raises(ValueError, match="rx_power_dbm is required"):
        user_rate_bps("drive-lte", sinr_db=10.0)
    with pytest.raises(ValueError, match="bandwidth_hz"):
        dataclasses.replace(get_preset("nr-macro"), bandwidth_hz=90e6)


# ------------------------------------------------------------------------------------------- the Preset interface


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_implements_the_interface(name):
    from twin.radio import LinkQuality, Preset

    p = get_preset(name)
    assert isinstance(p, Preset)
    pl = p.pathloss_db(np.array([50.0, 150.0]), los=[True, False])
    for link in ("dl", "ul"):
        rx = p.rx_power_dbm(pl, link, loss_db=3.0)
        assert rx.shape == (2,) and np.all(rx < p.rx_power_dbm(pl, link))
        assert -130 < p.noise_dbm(link) < -50
        rate = p.rate_bps(LinkQuality(sinr_db=rx - p.noise_dbm(link), rx_power_dbm=rx), link)
        assert rate.shape == (2,) and rate[0] >= rate[1] >= 0
    floor = p.sensitivity_floor_dbm()
    q = LinkQuality(sinr_db=np.array([floor, floor - 0.5]) - p.noise_dbm("dl"), rx_power_dbm=[floor, floor - 0.5])
    assert p.rate_bps(q)[0] > 0 and p.rate_bps(q)[1] == 0  # the floor is where the rate starts
    assert p.los_model in ("uma", "umi") and p.shadowing_model
    with pytest.raises(ValueError, match="has no field 'p_tx_w'"):
        p.replace(p_tx_w=1.0)
    assert p.replace(p_tx_dbm=1.0).describe()["p_tx_dbm"] == 1.0


def test_interface_values_of_the_presets():
    from twin.radio import LinkQuality

    macro, lte, ad = get_preset("nr-macro"), get_preset("drive-lte"), get_preset("drive-80211ad")
    # NR floor: noise -85 dBm + the lowest SINR whose CQI (table 2, ns-3 rule) is >= 1, on the 0.01 dB grid
    sinr = np.arange(-30.0, 30.0, 0.01)
    first = sinr[np.flatnonzero(radio_cqi(sinr) >= 1)[0]]
    assert macro.sensitivity_floor_dbm() == pytest.approx(-85.0 + first)
    assert (lte.sensitivity_floor_dbm(), ad.sensitivity_floor_dbm()) == (-94.0, -78.0)
    assert (macro.max_range_m, lte.max_range_m, ad.max_range_m) == (np.inf, 1000.0, 200.0)
    assert (lte.los_model, ad.los_model, macro.los_model) == ("uma", "umi", "uma")
    assert lte.noise_dbm("dl") == pytest.approx(-174 + 10 * np.log10(20e6) + 9)
    assert lte.noise_dbm("ul") == pytest.approx(-174 + 10 * np.log10(20e6) + 5)
    # DRIVE: one table, in downlink received power, on both links; NR: the scheduler gain adds to the SINR
    pl = lte.pathloss_db(300.0, los=False)
    assert float(lte.rx_power_dbm(pl, "ul")) == float(lte.rx_power_dbm(pl, "dl"))
    assert float(lte.rate_bps(LinkQuality(rx_power_dbm=-80.0), "ul")) == pytest.approx(30.576e6)
    np.testing.assert_allclose(user_rate_bps(macro, sinr_db=[0.0, 10.0, 20.0]) / 1e6, [12.0, 116.5, 307.8], atol=0.1)
    boosted = macro.rate_bps(LinkQuality(sinr_db=5.0, gain_db=3.0))
    assert float(boosted) == float(macro.rate_bps(LinkQuality(sinr_db=8.0)))
    with pytest.raises(ValueError, match="sinr_db is required"):
        macro.rate_bps(LinkQuality(rx_power_dbm=-80.0))
    with pytest.raises(ValueError, match="link"):
        lte.rate_bps(LinkQuality(rx_power_dbm=-80.0), "sideways")


def radio_cqi(sinr_db):
    from twin.radio import cqi_from_sinr

    return cqi_from_sinr(sinr_db, table=2)
