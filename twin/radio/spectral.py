"""Noise power and SINR -> spectral efficiency (TR 36.942 Annex A.2, TS 38.214 CQI tables).

Shapes: every function maps an array of any shape elementwise (numpy broadcasting).
"""

from __future__ import annotations

import csv
import io
import math
from functools import cache
from importlib import resources

import numpy as np

from ._checks import choice, float_array, positive

THERMAL_NOISE_DBM_PER_HZ = -174.0  # kT at 290 K
UE_NOISE_FIGURE_DB = 9.0
GNB_NOISE_FIGURE_DB = 5.0

# TR 36.942 Annex A.2 attenuated Shannon: (alpha, SINR_min dB, Thr_max bit/s/Hz) per link.
ATTENUATED_SHANNON = {"dl": (0.6, -10.0, 4.4), "ul": (0.4, -10.0, 2.0)}

# ns-3's SINR -> CQI rule: highest CQI with efficiency <= log2(1 + SINR / Gamma).
CQI_BER = 5e-5
SE_METHODS = ("attenuated-shannon", "cqi")
LINKS = ("dl", "ul")
CQI_TABLES = (1, 2)


def noise_power_dbm(bandwidth_hz, noise_figure_db) -> np.ndarray:
    """Thermal noise power ``N = -174 + 10 log10(B_Hz) + NF`` in dBm (broadcast of the inputs).

    Typical noise figures: UE 9 dB (``UE_NOISE_FIGURE_DB``), gNB 5 dB (``GNB_NOISE_FIGURE_DB``).
    """
    b = positive("bandwidth_hz", float_array("bandwidth_hz", bandwidth_hz))
    nf = float_array("noise_figure_db", noise_figure_db)
    return THERMAL_NOISE_DBM_PER_HZ + 10.0 * np.log10(b) + nf


def _sinr_linear(sinr_db: np.ndarray) -> np.ndarray:
    return np.exp(sinr_db * (math.log(10.0) / 10.0))


def attenuated_shannon(sinr_db, *, alpha: float, sinr_min_db: float, thr_max: float) -> np.ndarray:
    """TR 36.942 A.2: 0 below ``sinr_min_db``, ``alpha log2(1 + SINR)`` capped at ``thr_max`` (bit/s/Hz)."""
    s0 = float_array("sinr_db", sinr_db)
    s = np.atleast_1d(s0)
    se = np.log2(1.0 + _sinr_linear(s))
    se *= alpha
    np.minimum(se, thr_max, out=se)
    se[s < sinr_min_db] = 0.0  # NaN SINR stays NaN
    return se.reshape(s0.shape)


@cache
def _load_cqi_tables() -> dict[int, dict[str, np.ndarray]]:
    text = resources.files("twin.radio").joinpath("cqi_tables_38214.csv").read_text(encoding="utf-8")
    rows = [
        r for r in csv.DictReader(io.StringIO("".join(ln for ln in text.splitlines(True) if not ln.startswith("#"))))
    ]
    tables: dict[int, dict[str, np.ndarray]] = {}
    for t in CQI_TABLES:
        sel = sorted((r for r in rows if int(r["table"]) == t), key=lambda r: int(r["cqi"]))
        cols = {
            "cqi": np.array([int(r["cqi"]) for r in sel]),
            "qm": np.array([int(r["qm"]) for r in sel]),
            "code_rate_x1024": np.array([float(r["code_rate_x1024"]) for r in sel]),
            "spectral_efficiency": np.array([float(r["spectral_efficiency"]) for r in sel]),
            "modulation": np.array([r["modulation"] for r in sel]),
        }
        if not np.array_equal(cols["cqi"], np.arange(1, 16)) or np.any(np.diff(cols["spectral_efficiency"]) <= 0):
            raise ValueError(f"cqi_tables_38214.csv: table {t} must list CQI 1..15 with increasing efficiency")
        for v in cols.values():
            v.flags.writeable = False
        tables[t] = cols
    return tables


def cqi_table(table: int = 1) -> dict[str, np.ndarray]:
    """TS 38.214 CQI table 1 (Table 5.2.2.1-2, 64QAM) or 2 (Table 5.2.2.1-3, 256QAM) for CQI 1..15.

    Returns read-only arrays ``cqi``, ``modulation``, ``qm``, ``code_rate_x1024``,
    ``spectral_efficiency`` (bit/s/Hz, as printed in the TS: ``qm * rate / 1024`` to 4 decimals).
    """
    t = choice("CQI table", table, CQI_TABLES)
    return dict(_load_cqi_tables()[t])


def cqi_gamma(ber: float = CQI_BER) -> float:
    """SNR gap ``Gamma = -ln(5 BER) / 1.5`` (linear) of ns-3's SINR -> CQI rule (5.53, 7.43 dB at BER 5e-5)."""
    if not (0 < ber < 0.2):
        raise ValueError(f"ber must lie in (0, 0.2), got {ber!r}")
    return -math.log(5.0 * ber) / 1.5


def cqi_from_sinr(sinr_db, table: int = 1, *, ber: float = CQI_BER) -> np.ndarray:
    """CQI index (int64, 0 = out of range) for ``sinr_db`` (any shape).

    ns-3 rule: the highest CQI whose TS 38.214 spectral efficiency is <= ``log2(1 + SINR / Gamma)``,
    ``Gamma = -ln(5 BER) / 1.5`` with BER = 5e-5. NaN SINR gives CQI 0.
    """
    t = choice("CQI table", table, CQI_TABLES)
    s0 = float_array("sinr_db", sinr_db)
    s = np.atleast_1d(s0)
    se_cap = np.log2(1.0 + _sinr_linear(s) / cqi_gamma(ber))
    eff = _load_cqi_tables()[t]["spectral_efficiency"]
    cqi = np.searchsorted(eff, se_cap, side="right").astype(np.int64)  # count of efficiencies <= se_cap
    cqi[np.isnan(s)] = 0  # NaN would sort past the end
    return cqi.reshape(s0.shape)


def cqi_spectral_efficiency(cqi, table: int = 1) -> np.ndarray:
    """Spectral efficiency (bit/s/Hz) of CQI indices 0..15 (CQI 0 -> 0) from TS 38.214."""
    t = choice("CQI table", table, CQI_TABLES)
    c = np.asarray(cqi)
    if c.dtype.kind not in "iu" or (c.size and (c.min() < 0 or c.max() > 15)):
        raise ValueError("cqi must be integers in 0..15")
    lut = np.concatenate(([0.0], _load_cqi_tables()[t]["spectral_efficiency"]))
    return lut[c]


def spectral_efficiency(sinr_db, method: str = "attenuated-shannon", link: str = "dl", table: int = 1) -> np.ndarray:
    """Spectral efficiency in bit/s/Hz for SINR in dB (any shape).

    Args:
        sinr_db: SINR (dB), array of any shape.
        method: ``attenuated-shannon`` (TR 36.942 Annex A.2: DL alpha 0.6, SINR_min -10 dB,
            Thr_max 4.4; UL alpha 0.4, SINR_min -10 dB, Thr_max 2.0) or ``cqi`` (TS 38.214 table
            efficiency of ``cqi_from_sinr``; CQI 0 gives 0).
        link: ``dl`` or ``ul`` (selects the attenuated-Shannon parameters; the CQI mapping is the same).
        table: CQI table 1 (64QAM) or 2 (256QAM), for ``method="cqi"``.
    """
    method = choice("spectral-efficiency method", method, SE_METHODS)
    link = choice("link", link, LINKS)
    if method == "attenuated-shannon":
        alpha, sinr_min_db, thr_max = ATTENUATED_SHANNON[link]
        return attenuated_shannon(sinr_db, alpha=alpha, sinr_min_db=sinr_min_db, thr_max=thr_max)
    return cqi_spectral_efficiency(cqi_from_sinr(sinr_db, table), table)
