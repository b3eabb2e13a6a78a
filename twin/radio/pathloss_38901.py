"""The TR 38.901 path-loss models: UMa, UMi street canyon, RMa and InH office (Table 7.4.1-1).

UMa and UMi share one formula whose constants are data (:class:`UrbanCoefficients`, the rows of the table, written as
the TR writes them); RMa and InH have their own. Shadow-fading sigmas are those of Table 7.4.1-1, their decorrelation
distances those of Table 7.5-6 (part 1-2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import numpy as np

from ._checks import SPEED_OF_LIGHT_M_S, in_range
from .pathloss_model import H_E_M, PathLossModel, lg, log10_d3d_sq, max_into, scalar_or_array, select_los

TABLE = "TR 38.901 Table 7.4.1-1"


@dataclass(frozen=True)
class UrbanCoefficients:
    """One UMa / UMi row of TR 38.901 Table 7.4.1-1 (distances in m, fc in GHz, heights in m):

    - ``PL1 = los_const + los_d log10(d3D) + los_fc log10(fc)`` up to the breakpoint d'BP,
    - ``PL2 = los_const + far_d log10(d3D) + los_fc log10(fc) - bp log10(d'BP^2 + (hBS - hUT)^2)`` beyond,
    - ``PL'_NLOS = nlos_const + nlos_d log10(d3D) + nlos_fc log10(fc) - nlos_hut (hUT - 1.5)``, NLOS = max(LOS, PL').
    """

    los_const: float
    los_d: float
    los_fc: float
    far_d: float
    bp: float
    nlos_const: float
    nlos_d: float
    nlos_fc: float
    nlos_hut: float

    def __post_init__(self):
        if self.far_d - self.los_d != 2.0 * self.bp:
            raise ValueError("UrbanCoefficients: far_d - los_d must equal 2 bp (PL1 and PL2 meet at the breakpoint)")


UMA = UrbanCoefficients(los_const=28.0, los_d=22.0, los_fc=20.0, far_d=40.0, bp=9.0,
                        nlos_const=13.54, nlos_d=39.08, nlos_fc=20.0, nlos_hut=0.6)
UMI = UrbanCoefficients(los_const=32.4, los_d=21.0, los_fc=20.0, far_d=40.0, bp=9.5,
                        nlos_const=22.4, nlos_d=35.3, nlos_fc=21.3, nlos_hut=0.3)


def urban_pathloss_db(d, fc_hz, los, h_bs, h_ut, *, coef: UrbanCoefficients):
    """UMa / UMi of TR 38.901 Table 7.4.1-1 with the deterministic hE = 1 m.

    The TR's rows have far_d - los_d = 2 bp, so PL2 - PL1 = bp log10(d3D^2 / (d'BP^2 + dh^2)) has the sign of
    d2D - d'BP and "PL1 up to d'BP, PL2 beyond" is exactly max(PL1, PL2): no mask needed. ``lg2`` is log10(d3D^2),
    so each log10(d3D) coefficient is halved.
    """
    dh = h_bs - h_ut
    lg2 = log10_d3d_sq(d, dh)
    lgf = lg(fc_hz / 1e9)
    lf = coef.los_fc * lgf
    dbp = 4.0 * (h_bs - H_E_M) * (h_ut - H_E_M) * fc_hz / SPEED_OF_LIGHT_M_S
    pl = (coef.los_d / 2.0) * lg2
    pl += coef.los_const + lf
    pl2 = (coef.far_d / 2.0) * lg2
    pl2 += coef.los_const + lf - coef.bp * lg(dbp * dbp + dh * dh)
    pl = max_into(pl, pl2)

    def nlos():
        nl = (coef.nlos_d / 2.0) * lg2
        nl += coef.nlos_const + coef.nlos_fc * lgf - coef.nlos_hut * (h_ut - 1.5)
        return nl

    return select_los(los, pl, nlos)


def _rma_pl1(d3, fc_ghz, h):
    """RMa PL1 at 3D distance d3 (m); works for scalars and arrays."""
    hp = h**1.72
    a = min(0.03 * hp, 10.0) if isinstance(h, float) else np.minimum(0.03 * hp, 10.0)
    b = min(0.044 * hp, 14.77) if isinstance(h, float) else np.minimum(0.044 * hp, 14.77)
    lg3 = lg(d3) if isinstance(d3, float) else np.log10(d3)
    return 20.0 * lg(40.0 * math.pi * fc_ghz / 3.0) + (20.0 + a) * lg3 - b + 0.002 * lg(h) * d3


def rma_pathloss_db(d, fc_hz, los, h_bs, h_ut, *, street_width_m, building_height_m):
    """TR 38.901 Table 7.4.1-1 RMa; PL2 = PL1(dBP) + 40 log10(d3D / dBP), PL1(dBP) taken at d3D = dBP (as ns-3)."""
    w = scalar_or_array("street_width_m", street_width_m)
    h = scalar_or_array("building_height_m", building_height_m)
    in_range("street_width_m", np.asarray(w), 5.0, 50.0, f"RMa validity ({TABLE})")
    in_range("building_height_m", np.asarray(h), 5.0, 50.0, f"RMa validity ({TABLE})")
    fc_ghz = fc_hz / 1e9
    dh = h_bs - h_ut
    d3sq = d * d
    d3sq += dh * dh if isinstance(dh, float) else np.asarray(dh * dh, dtype=d3sq.dtype)
    d3 = np.sqrt(np.maximum(d3sq, 1.0, out=d3sq), out=d3sq)
    dbp = 2.0 * math.pi * h_bs * h_ut * fc_hz / SPEED_OF_LIGHT_M_S
    pl = _rma_pl1(d3, fc_ghz, h)
    far = d > dbp
    if np.any(far):
        pl2 = _rma_pl1(dbp, fc_ghz, h) + 40.0 * np.log10(d3 / dbp)
        pl = np.where(far, pl2, pl)

    def nlos():
        lh = lg(h_bs)
        return (
            161.04
            - 7.1 * lg(w)
            + 7.5 * lg(h)
            - (24.37 - 3.7 * (h / h_bs) ** 2) * lh
            + (43.42 - 3.1 * lh) * (np.log10(d3) - 3.0)
            + 20.0 * lg(fc_ghz)
            - (3.2 * lg(11.75 * h_ut) ** 2 - 4.97)
        )

    return select_los(los, pl, nlos)


def inh_pathloss_db(d, fc_hz, los, h_bs, h_ut):
    """TR 38.901 Table 7.4.1-1 InH office (mixed and open office share the formulas)."""
    lg2 = log10_d3d_sq(d, h_bs - h_ut)
    lf = lg(fc_hz / 1e9)
    pl = 8.65 * lg2 + (32.4 + 20.0 * lf)  # 32.4 + 17.3 log10(d3D) + 20 log10(fc)
    return select_los(los, pl, lambda: 19.15 * lg2 + (17.3 + 24.9 * lf))  # 17.3 + 38.3 log10(d3D) + 24.9 log10(fc)


MODELS = (
    PathLossModel("uma", partial(urban_pathloss_db, coef=UMA), f"{TABLE}, UMa", (0.5e9, 100e9), h_bs_m=25.0,
                  los_required=True, min_h_ut_m=H_E_M, shadow_sigma_db=(4.0, 6.0),
                  shadow_decorrelation_m=(37.0, 50.0)),
    PathLossModel("umi", partial(urban_pathloss_db, coef=UMI), f"{TABLE}, UMi street canyon", (0.5e9, 100e9),
                  h_bs_m=10.0, los_required=True, min_h_ut_m=H_E_M, shadow_sigma_db=(4.0, 7.82),
                  shadow_decorrelation_m=(10.0, 13.0)),
    PathLossModel("rma", rma_pathloss_db, f"{TABLE}, RMa", (0.5e9, 30e9), h_bs_m=35.0,
                  params={"street_width_m": 20.0, "building_height_m": 5.0}, los_required=True,
                  shadow_sigma_db=(4.0, 8.0),  # LOS: 4 dB up to dBP, 6 dB beyond (see shadow_sigma_db)
                  shadow_decorrelation_m=(37.0, 120.0)),
    PathLossModel("inh", inh_pathloss_db, f"{TABLE}, InH office", (0.5e9, 100e9), h_bs_m=3.0, los_required=True,
                  shadow_sigma_db=(3.0, 8.03), shadow_decorrelation_m=(10.0, 6.0)),
)
