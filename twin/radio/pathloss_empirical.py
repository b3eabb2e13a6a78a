"""Path-loss models outside TR 38.901: free space (Friis) and DRIVE's two LTE models (TR 36.942, COST-231 Hata).

None of them has shadow fading in its source (sigma 0, as DRIVE runs them).
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import in_range, positive
from .pathloss_model import PathLossModel, d_km, lg, log10_d3d_sq, scalar_or_array

C_M_S = 299792458.0  # Friis with the exact speed of light, as DRIVE's freespace.m (the 38.901 models use 3e8)


def freespace_pathloss_db(d, fc_hz, los, h_bs, h_ut, *, nlos_loss_db):
    """Friis: 20 log10(d3D) + 20 log10(fc_Hz) + 20 log10(4 pi / c), c = 299 792 458 m/s; plus ``nlos_loss_db`` where
    not LOS (DRIVE: 20 dB)."""
    lg2 = log10_d3d_sq(d, h_bs - h_ut)
    pl = 10.0 * lg2 + (20.0 * lg(fc_hz) + 20.0 * math.log10(4.0 * math.pi / C_M_S))
    if los is True or (isinstance(nlos_loss_db, (int, float)) and nlos_loss_db == 0.0):
        return pl
    if los is False:
        return pl + nlos_loss_db
    return np.where(los, pl, pl + nlos_loss_db)


def tr36942_macro_pathloss_db(d, fc_hz, los, h_bs, h_ut, *, dhb_m):
    """DRIVE's LTE LOS model, named 'TR 36.873 UMa (dhb 20 m)' in our reference notes.

    The reference gives it as ``36.8 log10(d_km) + 128.30`` at 2.6 GHz, which is exactly the
    urban macro-cell model of TR 36.942 clause 4.5.2 with Dhb = 20 m, and that is what we evaluate:
    ``L = 40 (1 - 4e-3 Dhb) log10(R_km) - 18 log10(Dhb) + 21 log10(f_MHz) + 80``, Dhb the BS
    antenna height above the mean rooftop (``dhb_m``), R the 2D distance. Heights are not used.
    """
    dhb = scalar_or_array("dhb_m", dhb_m)
    positive("dhb_m", np.asarray(dhb))
    in_range("dhb_m", np.asarray(dhb), 0.0, 50.0, "TR 36.942 macro model validity (0-50 m)")
    slope = 40.0 * (1.0 - 4e-3 * dhb)
    const = -18.0 * lg(dhb) + 21.0 * lg(fc_hz / 1e6) + 80.0
    return slope * np.log10(d_km(d)) + const


def cost231_hata_pathloss_db(d, fc_hz, los, h_bs, h_ut, *, cm_db):
    """COST-231 Hata (large city): ``46.3 + 33.9 log10(f_MHz) - 13.82 log10(hb) - a(hm) + (44.9 - 6.55 log10(hb)) log10(d_km) + Cm``.

    ``a(hm) = 3.2 (log10(11.75 hm))^2 - 4.97``; DRIVE: hb 40 m, hm 1.5 m, Cm 3 dB, 2.6 GHz gives
    ``142.93 + 34.41 log10(d_km)``. COST 231 specifies 1.5-2 GHz; DRIVE uses it at 2.6 GHz.
    """
    lhb = lg(h_bs)
    a_hm = 3.2 * lg(11.75 * h_ut) ** 2 - 4.97
    const = 46.3 + 33.9 * lg(fc_hz / 1e6) - 13.82 * lhb - a_hm + cm_db
    return (44.9 - 6.55 * lhb) * np.log10(d_km(d)) + const


MODELS = (
    PathLossModel("freespace", freespace_pathloss_db, "Friis free-space equation (DRIVE's 802.11ad: + 20 dB NLOS)",
                  (0.0, math.inf), h_bs_m=1.5, params={"nlos_loss_db": 0.0}),
    PathLossModel("tr36873-uma", tr36942_macro_pathloss_db,
                  "TR 36.942 clause 4.5.2 urban macro (DRIVE's LTE LOS model, 'TR 36.873 UMa')", (0.15e9, 6e9),
                  h_bs_m=25.0, params={"dhb_m": 20.0}),
    PathLossModel("cost231-hata", cost231_hata_pathloss_db,
                  "COST 231 Hata, large city (DRIVE's LTE NLOS model; specified for 1.5-2 GHz)", (0.15e9, 6e9),
                  h_bs_m=40.0, params={"cm_db": 3.0}),
)
