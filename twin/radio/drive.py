"""DRIVE's link model (``radio.profile: drive``): the received power and rate DRIVE gives a link, vectorised.

DRIVE (ioannismavromatis/DRIVE_Simulator, MATLAB) computes one lookup table per technology in
``ratToolbox/linkBudgetCalculation.m`` and reads it at the rounded 3D distance between a tile and a base station
(``tools/distanceFromTilesPerRAT.m``, ``ratToolbox/calculateRSSV2I.m``). This module gives the same numbers without the
table, through the twin's path-loss models (:mod:`twin.radio.pathloss`) and the preset's fields:

- distance: the 3D distance between the antennas, rounded as DRIVE rounds it (``round(d, 0)`` for a macro technology,
  ``round(d, 1)`` for a femto one: the preset's ``distance_step_m``, 1 m or 0.1 m; MATLAB rounds halves away from
  zero); DRIVE's table starts at one step, so shorter distances read its first entry;
- path loss at that distance: the preset's ``pathloss_los`` where LOS, ``pathloss_nlos`` elsewhere, taking the 3D
  distance as their distance (the COST-231 Hata NLOS model with DRIVE's fixed heights, 40 m and 1.5 m, whatever the
  antenna heights; free space with no height correction);
- received power: ``p_tx + g_bs + g_ue - PL`` (per base station: DRIVE's demand-driven LTE power changes ``p_tx``);
- range: a link exists when the rounded distance is at most ``max_tx_distance_m`` (DRIVE's ``maxTXDistance``,
  inclusive) and the received power reaches the lowest sensitivity (DRIVE cuts its table at the first distance whose
  power falls below ``sensitivityLevels(end)``; the power falls with distance, so that is the same cut);
- rate: DRIVE's ``max(SNR >= linkMargins)``: the first (fastest) entry of the rate table whose link margin
  ``sensitivity - noise`` the SNR ``rx - noise`` reaches, with DRIVE's noise ``-174 + 10 log10(B) + NF`` and its noise
  figure of -6 dB (``ratToolbox/available/*.m``; the noise cancels out of the comparison, kept for exact arithmetic),
  times the preset's ``mimo_factor``.

DRIVE's NLOS rate quirk: ``modIndexNLos = modIndexLos(1:maxBeamLengthIDNLos)`` in linkBudgetCalculation.m gives an
NLOS link the rate of a LOS link at the same distance (while its power and range stay NLOS). ``nlos_quirk=True``
reproduces it; off by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks import float_array, los_mask
from .pathloss import pathloss_db

__all__ = ["COST231_H_BS_M", "COST231_H_UT_M", "DRIVE_NOISE_FIGURE_DB", "DriveLink", "demand_tx_power_dbm",
           "drive_link", "drive_noise_dbm", "drive_pathloss_db", "matlab_round"]

DRIVE_NOISE_FIGURE_DB = -6.0  # ratToolbox/available/lte.m and mmWaves.m: noiseFigure = -6
COST231_H_BS_M, COST231_H_UT_M = 40.0, 1.5  # ratToolbox/pathLossModels/urbanMacro.m: bsHeight, mobileHeight


def matlab_round(x, step: float) -> np.ndarray:
    """MATLAB's ``round(x, n)`` for ``step = 10^-n`` (halves away from zero), the way DRIVE rounds distances."""
    x = np.asarray(x, dtype=np.float64)
    if step == 1.0:
        return np.sign(x) * np.floor(np.abs(x) + 0.5)
    scale = round(1.0 / step)
    return np.sign(x) * np.floor(np.abs(x) * scale + 0.5) / scale


def drive_noise_dbm(bandwidth_hz: float) -> float:
    """DRIVE's ``rssNoise`` (ratToolbox/loadRATs.m): ``-174 + 10 log10(B) + noiseFigure`` with noiseFigure -6 dB."""
    return -174.0 + 10.0 * np.log10(bandwidth_hz) + DRIVE_NOISE_FIGURE_DB


def drive_pathloss_db(preset, d_m, los) -> np.ndarray:
    """Path loss (dB) of a DRIVE preset at distance ``d_m`` taken as DRIVE takes it (the 3D distance, not corrected
    for heights): ``pathloss_los`` where ``los``, ``pathloss_nlos`` elsewhere."""
    out = []
    for model, params, is_los in ((preset.pathloss_los, preset.los_params, True),
                                  (preset.pathloss_nlos, preset.nlos_params, False)):
        if model == "cost231-hata":
            heights = dict(h_bs_m=COST231_H_BS_M, h_ut_m=COST231_H_UT_M)
        else:  # free space / TR 36.942: the distance as given (no antenna-height difference added)
            heights = dict(h_bs_m=preset.h_ut_m, h_ut_m=preset.h_ut_m)
        out.append(pathloss_db(model, d_m, preset.fc_hz, los=is_los, **heights, **dict(params)))
    return np.where(los_mask(los), out[0], out[1])


@dataclass(frozen=True)
class DriveLink:
    """DRIVE's view of links (arrays of one shape): rounded distance (m), path loss (dB), received power (dBm, also
    out of range), rate (bit/s; 0 out of range) and whether the link exists."""

    distance_m: np.ndarray
    pathloss_db: np.ndarray
    rx_dbm: np.ndarray
    rate_bps: np.ndarray
    in_range: np.ndarray


def _table_rate(preset, rx_dbm: np.ndarray, noise_dbm: float) -> np.ndarray:
    """DRIVE's ``[~, modIndex] = max(SNR >= linkMargins)``: the first table entry whose margin the SNR reaches."""
    sens = np.asarray(preset.sensitivity_dbm, dtype=np.float64)
    margins = sens - noise_dbm
    snr = rx_dbm - noise_dbm
    ok = snr[..., None] >= margins
    idx = np.argmax(ok, axis=-1)  # the first True; 0 when none (MATLAB's max of all-false), cut by the range below
    return np.asarray(preset.rates_bps, dtype=np.float64)[idx] * preset.mimo_factor


def drive_link(preset, d3d_m, los, *, p_tx_dbm=None, nlos_quirk: bool = False) -> DriveLink:
    """DRIVE's link from 3D distances ``d3d_m`` (m, any shape), LOS state ``los`` (bool, broadcastable) and transmit
    power ``p_tx_dbm`` (dBm, broadcastable; default the preset's). ``preset``: a DRIVE preset (table rates)."""
    d = float_array("d3d_m", d3d_m).astype(np.float64)
    step = preset.distance_step_m
    dq = np.maximum(matlab_round(d, step), step)
    los = np.broadcast_to(los_mask(los), dq.shape)
    p_tx = preset.p_tx_dbm if p_tx_dbm is None else np.asarray(p_tx_dbm, dtype=np.float64)
    gains = preset.g_bs_dbi + preset.g_ue_dbi + p_tx
    noise = drive_noise_dbm(preset.bandwidth_hz)
    pl = drive_pathloss_db(preset, dq, los)
    rx = gains - pl
    floor = preset.sensitivity_dbm[-1]  # DRIVE: sensitivityLevels(end)
    in_range = (dq <= preset.max_tx_distance_m) & (rx >= floor)
    rate_rx = rx
    if nlos_quirk and not los.all():
        rx_los = gains - drive_pathloss_db(preset, dq, True)
        rate_rx = np.where(los, rx, rx_los)
    rate = np.where(in_range, _table_rate(preset, rate_rx, noise), 0.0)
    return DriveLink(dq, pl, rx, rate, in_range)


def demand_tx_power_dbm(users, *, base_dbm: float = 20.0, span_dbm: float = 23.0, full_users: float = 100.0):
    """DRIVE's demand-driven LTE power (modeToolbox/runSUMO.m): ``round(users / 100 x 23 + 20)`` dBm per base station
    (MATLAB rounding), ``users`` the demand at the base station."""
    return matlab_round(np.asarray(users, dtype=np.float64) / full_users * span_dbm + base_dbm, 1.0)
