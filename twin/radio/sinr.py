"""Link budgets and SINR over [n_ue, n_cell] received-power arrays.

Conventions: ``rx_power_dbm[ue, cell]`` is the power UE ``ue`` receives from cell ``cell`` (DL)
or cell ``cell`` receives from UE ``ue`` (UL). ``serving[ue]`` is a cell index, or -1 for a UE
with no serving cell (its SINR is -inf). A float32 power array is processed in float32.
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import float_array
from .spectral import GNB_NOISE_FIGURE_DB, UE_NOISE_FIGURE_DB, noise_power_dbm

UE_TX_POWER_DBM = 23.0  # power class 3
_DB_TO_LN = math.log(10.0) / 10.0


def dbm_to_mw(p_dbm) -> np.ndarray:
    """10^(p/10), computed as exp(p ln10 / 10) (faster than power; keeps float32)."""
    p = float_array("p_dbm", p_dbm)
    return np.exp(p * _DB_TO_LN)


def mw_to_dbm(p_mw) -> np.ndarray:
    """10 log10(p); 0 mW gives -inf."""
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(float_array("p_mw", p_mw))


def rx_power_dbm(p_tx_dbm, pathloss_db, *, g_tx_dbi=0.0, g_rx_dbi=0.0, loss_db=0.0) -> np.ndarray:
    """Received power ``P_tx + G_tx + G_rx - PL - losses`` (dBm), broadcast of the inputs.

    ``loss_db`` collects shadowing, O2I car penetration and any other loss (dB, may be arrays).
    """
    pl = float_array("pathloss_db", pathloss_db)
    gain = p_tx_dbm + g_tx_dbi + g_rx_dbi
    out = gain - pl if np.ndim(gain) else float(gain) - pl
    if np.ndim(loss_db) or loss_db != 0.0:
        out = out - loss_db
    return out


def downlink_rx_power_dbm(pathloss_db, *, p_tx_dbm, g_bs_dbi=0.0, g_ue_dbi=0.0, loss_db=0.0) -> np.ndarray:
    """DL budget: the cell transmits ``p_tx_dbm`` (macro 46-49 dBm, small cell 30-33 dBm)."""
    return rx_power_dbm(p_tx_dbm, pathloss_db, g_tx_dbi=g_bs_dbi, g_rx_dbi=g_ue_dbi, loss_db=loss_db)


def uplink_rx_power_dbm(
    pathloss_db, *, p_tx_dbm=UE_TX_POWER_DBM, g_ue_dbi=0.0, g_bs_dbi=0.0, loss_db=0.0
) -> np.ndarray:
    """UL budget: the UE transmits ``p_tx_dbm`` (23 dBm, power class 3), no power control."""
    return rx_power_dbm(p_tx_dbm, pathloss_db, g_tx_dbi=g_ue_dbi, g_rx_dbi=g_bs_dbi, loss_db=loss_db)


def downlink_noise_dbm(bandwidth_hz, noise_figure_db=UE_NOISE_FIGURE_DB) -> np.ndarray:
    """Noise at the UE receiver (NF 9 dB by default)."""
    return noise_power_dbm(bandwidth_hz, noise_figure_db)


def uplink_noise_dbm(bandwidth_hz, noise_figure_db=GNB_NOISE_FIGURE_DB) -> np.ndarray:
    """Noise at the gNB receiver (NF 5 dB by default)."""
    return noise_power_dbm(bandwidth_hz, noise_figure_db)


def _check_rx(rx_power_dbm) -> np.ndarray:
    rx = float_array("rx_power_dbm", rx_power_dbm)
    if rx.ndim != 2:
        raise ValueError(f"rx_power_dbm must have shape [n_ue, n_cell], got {rx.shape}")
    return rx


def _check_serving(serving, n_ue: int, n_cell: int) -> np.ndarray:
    s = np.asarray(serving)
    if s.shape != (n_ue,) or s.dtype.kind not in "iu":
        raise ValueError(f"serving must be an int array of shape ({n_ue},), got {s.dtype} {s.shape}")
    if s.size and (s.min() < -1 or s.max() >= n_cell):
        raise ValueError(f"serving must hold cell indices in 0..{n_cell - 1} or -1 (none)")
    return s


def _weights(activity, channel, n_cell: int, dtype) -> tuple[np.ndarray, np.ndarray | None]:
    """Interference weights [n_cell, n_group] and each cell's group (None: one co-channel group)."""
    a = np.broadcast_to(np.asarray(activity, dtype=dtype), (n_cell,))
    if a.size and not (a.min() >= 0 and a.max() <= 1):
        raise ValueError("activity must lie in [0, 1] (fraction of time each cell transmits)")
    if channel is None:
        return a[:, None], None
    ch = np.asarray(channel)
    if ch.shape != (n_cell,) or ch.dtype.kind not in "iu":
        raise ValueError(f"channel must be an int array of shape ({n_cell},) (co-channel group of each cell)")
    groups, group_of_cell = np.unique(ch, return_inverse=True)
    w = np.zeros((n_cell, groups.size), dtype=dtype)
    w[np.arange(n_cell), group_of_cell] = a
    return w, group_of_cell


def _weighted_sum(p: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``p @ w`` without BLAS: numpy's einsum loop is single-threaded. OpenBLAS threads spin while
    waiting and, on a shared 2-core machine, turned this 0.1 ms product into 12 ms (and slowed
    the next numpy calls too)."""
    return np.einsum("uc,cg->ug", p, w)


def sinr_db(rx_power_dbm, serving, noise_dbm, activity=1.0, *, channel=None) -> np.ndarray:
    """Downlink SINR (dB) of each UE towards its serving cell, shape [n_ue].

    ``SINR_u = P[u, s_u] / (sum_{c != s_u, same channel} activity_c P[u, c] + N_u)``.

    Args:
        rx_power_dbm: [n_ue, n_cell] received power (dBm), float32 or float64.
        serving: [n_ue] serving-cell index, -1 for none (SINR -inf).
        noise_dbm: noise power (dBm), scalar or [n_ue].
        activity: [n_cell] or scalar in [0, 1]: the fraction of time each cell transmits
            (1 = full buffer); interference is weighted by it.
        channel: optional [n_cell] ints; only cells with the serving cell's channel interfere
            (e.g. the macro layer and a mmWave layer are not co-channel). None: all co-channel.
    """
    rx = _check_rx(rx_power_dbm)
    n_ue, n_cell = rx.shape
    s = _check_serving(serving, n_ue, n_cell)
    p = dbm_to_mw(rx)  # fresh [n_ue, n_cell] array we may modify
    rows = np.flatnonzero(s >= 0)
    cells = s[rows]
    sig = p[rows, cells]
    p[rows, cells] = 0.0  # the serving cell is not an interferer (no cancellation error)
    w, group_of_cell = _weights(activity, channel, n_cell, p.dtype)
    interf = _weighted_sum(p, w)  # [n_ue, n_group]
    interf = interf[:, 0] if group_of_cell is None else interf[np.arange(n_ue), group_of_cell[np.maximum(s, 0)]]
    noise = dbm_to_mw(noise_dbm)
    total = interf + noise if np.ndim(noise) else interf + float(noise)
    out = np.full(n_ue, -np.inf, dtype=p.dtype)
    out[rows] = mw_to_dbm(sig / total[rows])
    return out


def candidate_sinr_db(rx_power_dbm, noise_dbm, activity=1.0, *, channel=None) -> np.ndarray:
    """SINR (dB) each UE would have if served by each cell, [n_ue, n_cell] (for best-server by SINR).

    Same interference model as ``sinr_db``; computed as ``P_c / (I_total - a_c P_c + N)``, which
    loses relative precision only when the SINR exceeds roughly 1/eps (far above any MCS).
    """
    rx = _check_rx(rx_power_dbm)
    n_ue, n_cell = rx.shape
    p = dbm_to_mw(rx)
    w, group_of_cell = _weights(activity, channel, n_cell, p.dtype)
    total = _weighted_sum(p, w)  # [n_ue, n_group]
    if group_of_cell is not None:
        total = total[:, group_of_cell]  # [n_ue, n_cell]: co-channel total of each candidate's group
    own = p * w.sum(axis=1)  # a_c P_c
    noise = dbm_to_mw(noise_dbm)
    denom = total - own
    np.maximum(denom, 0.0, out=denom)
    denom += noise[:, None] if np.ndim(noise) else float(noise)
    return mw_to_dbm(p / denom)


def uplink_sinr_db(rx_power_dbm, serving, noise_dbm, activity=1.0) -> np.ndarray:
    """Uplink SINR (dB) at each UE's serving cell, shape [n_ue].

    Model: each cell schedules its attached UEs one at a time over the full band (round robin),
    so at cell ``s`` the interference from another cell ``c`` is the mean, over the UEs attached
    to ``c``, of their power received at ``s``, weighted by ``activity[c]`` (fraction of time
    cell c's uplink is busy). UEs of the same cell never interfere with each other.

    Args:
        rx_power_dbm: [n_ue, n_cell] power cell ``c`` receives from UE ``u`` (dBm, UL budget).
        serving: [n_ue] serving cell or -1 (not transmitting; SINR -inf).
        noise_dbm: gNB noise (dBm), scalar or [n_cell].
        activity: scalar or [n_cell] in [0, 1].
    """
    rx = _check_rx(rx_power_dbm)
    n_ue, n_cell = rx.shape
    s = _check_serving(serving, n_ue, n_cell)
    p = dbm_to_mw(rx)
    a = np.broadcast_to(np.asarray(activity, dtype=p.dtype), (n_cell,))
    if a.size and not (a.min() >= 0 and a.max() <= 1):
        raise ValueError("activity must lie in [0, 1]")
    rows = np.flatnonzero(s >= 0)
    cells = s[rows]
    counts = np.bincount(cells, minlength=n_cell)
    # mean_power[c, k]: mean over UEs attached to c of the power received at cell k
    order = np.argsort(cells, kind="stable")
    sums = np.zeros((n_cell, n_cell), dtype=np.float64)
    occupied = np.flatnonzero(counts)
    if rows.size:
        starts = np.concatenate(([0], np.cumsum(counts[occupied])[:-1]))
        sums[occupied] = np.add.reduceat(p[rows[order]], starts, axis=0)
    mean_power = sums / np.maximum(counts, 1)[:, None]
    weighted = mean_power * a[:, None]
    np.fill_diagonal(weighted, 0.0)  # a cell's own UEs are orthogonal in time
    interf_at = weighted.sum(axis=0)  # [n_cell]
    noise = np.broadcast_to(dbm_to_mw(noise_dbm), (n_cell,))
    out = np.full(n_ue, -np.inf, dtype=p.dtype)
    out[rows] = mw_to_dbm(p[rows, cells] / (interf_at[cells] + noise[cells]))
    return out
