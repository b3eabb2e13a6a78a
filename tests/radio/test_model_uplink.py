"""RadioModel's uplink: link adaptation per vehicle, interference that follows the other cells' users' RB x air-time
use of the previous step, the proportional-fair gain on the SINR per RB, DRIVE presets unchanged."""

import numpy as np
import pytest

from twin.radio import LinkQuality, get_preset
from twin.radio.model import RadioModel, Tier
from twin.radio.uplink import uplink_interference_dbm, uplink_link_adaptation

MACRO = get_preset("nr-macro")
# vehicle 0 on cell 0 at the edge (power-limited), vehicle 1 on cell 1 close to cell 0 (a strong interferer there)
RX_UL = np.array([[-108.0, -118.0], [-75.0, -60.0]])
RX_DL = RX_UL + 23.0
SERVING = np.array([0, 1])


def _model(interference="activity", sharing="round-robin", preset=MACRO):
    tier = Tier("t", preset, np.array([0, 1]), floor_dbm=-200.0)
    return RadioModel([tier], np.array([[0.0, 0.0], [500.0, 0.0]]), 2, rng=np.random.default_rng(0),
                      interference=interference, sharing=sharing, shadowing=False, penetration_loss=False)


def _ul(model, airtime, users=None):
    _, sinr, _, rate = model.link_quality(RX_DL, RX_UL, SERVING, np.ones(2), np.ones(2), users, users,
                                          airtime_ul=np.asarray(airtime, dtype=float))
    return sinr, rate


def test_uplink_rate_is_link_adapted_per_vehicle():
    sinr, rate = _ul(_model(interference="none"), [0.0, 0.0])
    alone = uplink_link_adaptation(MACRO.ue_p_tx_dbm - RX_UL[[0, 1], SERVING], MACRO.uplink)
    assert rate == pytest.approx(alone.rate_bps, rel=1e-12) and sinr == pytest.approx(alone.sinr_per_rb_db)
    assert 0 < alone.n_rb[0] < MACRO.n_rb  # the edge vehicle concentrates its power on fewer RBs
    full_band_sinr = RX_UL[0, 0] - MACRO.noise_dbm("ul")
    assert float(MACRO.sinr_rate_bps(full_band_sinr, "ul")) < rate[0]  # more than the old full-band rate


def test_interference_follows_last_steps_rb_and_air_time_use():
    model = _model()
    _, first = _ul(model, [0.0, 0.0])  # no previous allocation: no interference
    _, idle = _ul(model, [0.0, 0.0])  # vehicle 1 used no air time
    assert idle[0] == first[0]
    _, busy = _ul(model, [0.0, 1.0])  # vehicle 1 transmitted all the time on its RBs
    assert busy[0] < idle[0]
    _, half = _ul(model, [0.0, 0.5])
    assert busy[0] <= half[0] <= idle[0]
    # the interference is exactly vehicle 1's power per RB at cell 0 weighted by its RB share x air time
    model2 = _model()
    _ul(model2, [0.0, 0.0])
    p_rb, share = model2.ul_p_rb_dbm.copy(), model2.ul_rb_share.copy()
    _, rate = _ul(model2, [0.0, 0.5])
    i_dbm = uplink_interference_dbm(p_rb, MACRO.ue_p_tx_dbm - RX_UL, SERVING, share * 0.5)
    want = MACRO.rate_bps(LinkQuality(rx_power_dbm=RX_UL[0, 0], interference_per_rb_dbm=i_dbm[0]), "ul")
    assert rate[0] == pytest.approx(float(want), rel=1e-12)
    assert share[1] == model2.ul_rb_share[1] and 0 < share[1] <= 1


def test_full_buffer_counts_every_attached_vehicle_and_none_counts_nobody():
    fb = _model(interference="full-buffer")
    _ul(fb, [0.0, 0.0])
    _, rate_fb = _ul(fb, [0.0, 0.0])  # air time ignored: every attached vehicle transmits
    none = _model(interference="none")
    _ul(none, [0.0, 1.0])
    _, rate_none = _ul(none, [0.0, 1.0])
    assert rate_fb[0] < rate_none[0]


def test_proportional_fair_gain_raises_the_uplink_sinr_per_rb():
    rr, pf = _model(sharing="round-robin"), _model(sharing="proportional-fair")
    users = np.array([3, 1])
    s_rr, r_rr = _ul(rr, [0.0, 0.0], users)
    s_pf, r_pf = _ul(pf, [0.0, 0.0], users)
    gain = 10 * np.log10(1 + 1 / 2 + 1 / 3)
    assert r_pf[0] > r_rr[0] and r_pf[1] == r_rr[1]  # alone in cell 1: no gain
    alloc = uplink_link_adaptation(MACRO.ue_p_tx_dbm - RX_UL[0, 0], MACRO.uplink, sinr_gain_db=gain)
    assert r_pf[0] == pytest.approx(float(alloc.rate_bps), rel=1e-12)


def test_drive_presets_keep_the_table_rate_on_the_uplink():
    lte = get_preset("drive-lte")
    assert lte.uplink is None and lte.uplink_allocation(LinkQuality(rx_power_dbm=-80.0)) is None
    model = _model(preset=lte)
    _, rate = _ul(model, [1.0, 1.0])
    assert rate.tolist() == lte.table_rate_bps(RX_UL[[0, 1], [0, 1]]).tolist()
