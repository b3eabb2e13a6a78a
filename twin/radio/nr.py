"""NR numerology, resource blocks and rates (TS 38.101 max RBs, TS 38.306 clause 4.1.2 peak rate)."""

from __future__ import annotations

import numpy as np

from ._checks import choice, float_array

# TS 38.101-1 / -2 maximum transmission bandwidth N_RB, keyed by (SCS kHz, channel bandwidth MHz).
MAX_RBS = {
    (15, 5): 25, (15, 10): 52, (15, 20): 106, (15, 50): 270,
    (30, 20): 51, (30, 50): 133, (30, 100): 273,
    (60, 50): 66, (60, 100): 132, (60, 200): 264,
    (120, 50): 32, (120, 100): 66, (120, 200): 132, (120, 400): 264,
}  # fmt: skip

# TS 38.306 4.1.2 overhead OH, keyed by (frequency range, link).
OVERHEAD = {("fr1", "dl"): 0.14, ("fr2", "dl"): 0.18, ("fr1", "ul"): 0.08, ("fr2", "ul"): 0.10}
FR1_MAX_HZ = 7.125e9  # TS 38.104: FR1 410 MHz - 7.125 GHz, FR2 from 24.25 GHz
SYMBOLS_PER_SLOT = 14
SUBCARRIERS_PER_RB = 12
R_MAX = 948.0 / 1024.0


def numerology(scs_hz: float) -> int:
    """mu such that SCS = 15 kHz * 2^mu (mu in 0..4)."""
    for mu in range(5):
        if abs(scs_hz - 15e3 * 2**mu) < 1e-6:
            return mu
    raise ValueError(f"scs_hz must be one of 15e3, 30e3, 60e3, 120e3, 240e3, got {scs_hz!r}")


def max_rbs(bandwidth_hz: float, scs_hz: float) -> int:
    """Maximum number of RBs N_RB for a channel bandwidth and SCS (TS 38.101; table in radio.md)."""
    key = (round(scs_hz / 1e3), round(bandwidth_hz / 1e6))
    if key not in MAX_RBS or abs(bandwidth_hz - key[1] * 1e6) > 1.0 or abs(scs_hz - key[0] * 1e3) > 1e-6:
        valid = ", ".join(f"{s} kHz/{b} MHz" for s, b in MAX_RBS)
        raise ValueError(f"no max-RB entry for bandwidth_hz={bandwidth_hz!r} with scs_hz={scs_hz!r}; valid: {valid}")
    return MAX_RBS[key]


def frequency_range(fc_hz: float) -> str:
    """``fr1`` for fc <= 7.125 GHz, else ``fr2``."""
    if not fc_hz > 0:
        raise ValueError(f"fc_hz must be > 0, got {fc_hz!r}")
    return "fr1" if fc_hz <= FR1_MAX_HZ else "fr2"


def overhead(fc_hz: float, link: str = "dl") -> float:
    """TS 38.306 overhead OH: 0.14 FR1 DL, 0.18 FR2 DL, 0.08 FR1 UL, 0.10 FR2 UL."""
    return OVERHEAD[(frequency_range(fc_hz), choice("link", link, ("dl", "ul")))]


def nr_rate_bps(
    spectral_efficiency, *, n_prb: int, scs_hz: float, layers: int = 1, overhead: float = 0.0
) -> np.ndarray:
    """Rate in bit/s for a spectral efficiency per resource element (any shape).

    ``rate = layers * SE * N_PRB * 12 / T_s * (1 - OH)``, ``T_s = 1e-3 / (14 * 2^mu)`` the average
    OFDM symbol duration (TS 38.306 4.1.2 with ``Qm * f * R`` replaced by the SE of the link).
    """
    if n_prb <= 0 or layers <= 0 or not (0.0 <= overhead < 1.0):
        raise ValueError(f"need n_prb > 0, layers > 0, 0 <= overhead < 1; got {n_prb}, {layers}, {overhead}")
    mu = numerology(scs_hz)
    re_per_s = n_prb * SUBCARRIERS_PER_RB * SYMBOLS_PER_SLOT * 2**mu * 1e3
    se = float_array("spectral_efficiency", spectral_efficiency)
    return se * (layers * re_per_s * (1.0 - overhead))


def nr_peak_rate_bps(
    *, n_prb: int, scs_hz: float, layers: int = 1, qm: int = 8, scaling: float = 1.0, overhead: float = 0.14
) -> float:
    """TS 38.306 clause 4.1.2 peak rate of one carrier, bit/s.

    ``layers * Qm * f * (948/1024) * N_PRB * 12 / (1e-3 / (14 * 2^mu)) * (1 - OH)``.
    """
    if qm not in (1, 2, 4, 6, 8):
        raise ValueError(f"qm must be 1, 2, 4, 6 or 8, got {qm!r}")
    if scaling not in (0.4, 0.75, 0.8, 1.0):
        raise ValueError(f"scaling must be 0.4, 0.75, 0.8 or 1 (TS 38.306), got {scaling!r}")
    return float(nr_rate_bps(qm * scaling * R_MAX, n_prb=n_prb, scs_hz=scs_hz, layers=layers, overhead=overhead))
