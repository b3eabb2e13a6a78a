"""Technology presets (frozen dataclasses behind one :class:`Preset` interface) and the full-cell user rate.

* ``nr-macro`` / ``nr-mmwave`` (:class:`NrPreset`): 5G NR carriers; downlink rate from the full-band SINR
  (``nr_rate_bps``), uplink from open-loop power control and link adaptation over the RB count (``twin.radio.uplink``).
* ``drive-lte`` / ``drive-80211ad`` (:class:`TablePreset`): DRIVE's (Mavromatis et al., ISCC 2020) rate /
  sensitivity tables; the rate is the highest table rate whose sensitivity is <= the received power.

Callers use the interface only (path loss, received power, noise, rate from a :class:`LinkQuality`, LOS and
shadowing models, sensitivity floor, range, overrides), never the concrete class.
Antenna gains of the NR presets are 0 dBi (the reference gives none): set ``g_bs_dbi`` / ``g_ue_dbi`` for an array.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from ._checks import choice, float_array, los_mask
from .drive import DriveLink, drive_link
from .interface import LINKS, LinkQuality, Preset
from .nr import frequency_range, max_rbs, nr_rate_bps, numerology
from .nr import overhead as nr_overhead
from .pathloss import pathloss_db
from .sinr import downlink_rx_power_dbm, uplink_rx_power_dbm
from .spectral import GNB_NOISE_FIGURE_DB, UE_NOISE_FIGURE_DB, noise_power_dbm, spectral_efficiency
from .uplink import ALPHA, ALPHAS, P0_DBM, P0_RANGE_DBM, UplinkAllocation, UplinkConfig, uplink_link_adaptation

__all__ = ["LINKS", "LinkQuality", "NrPreset", "PRESETS", "Preset", "TablePreset", "get_preset", "replace",
           "user_rate_bps"]

class _PresetBase:
    """What the concrete presets share: overrides and description."""

    def replace(self, **changes):
        names = {f.name for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"preset {self.name!r} has no field {unknown[0]!r}; fields: {', '.join(sorted(names))}")
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    def describe(self) -> dict:
        out = {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        out.update(kind=type(self).__name__, los_model=self.los_model, shadowing_model=self.shadowing_model,
                   max_range_m=_plain(self.max_range_m), sensitivity_floor_dbm=self.sensitivity_floor_dbm())
        return out


def _plain(value):
    return [_plain(v) for v in value] if isinstance(value, tuple) else value


def _need(value, what: str, preset: str):
    if value is None:
        raise ValueError(f"{what} is required for the rate of preset {preset!r}")
    return value


@dataclass(frozen=True)
class NrPreset(_PresetBase):
    """A 5G NR carrier (one cell layer). Powers in dBm, gains in dBi, heights in m."""

    name: str
    fc_hz: float
    bandwidth_hz: float
    scs_hz: float
    p_tx_dbm: float  # cell transmit power used by the budget
    p_tx_max_dbm: float  # upper end of the class's range (reference only)
    pathloss_model: str  # a 38.901 model name for pathloss_db
    h_bs_m: float
    h_ut_m: float = 1.5
    g_bs_dbi: float = 0.0
    g_ue_dbi: float = 0.0
    ue_p_tx_dbm: float = 23.0
    ue_noise_figure_db: float = UE_NOISE_FIGURE_DB
    bs_noise_figure_db: float = GNB_NOISE_FIGURE_DB
    layers: int = 1
    se_method: str = "cqi"
    cqi_table: int = 2
    ul_p0_dbm: float = P0_DBM  # PUSCH open-loop power control, TS 38.213 7.1.1 (P_CMAX is ue_p_tx_dbm)
    ul_alpha: float = ALPHA

    def __post_init__(self):
        max_rbs(self.bandwidth_hz, self.scs_hz)  # validates the pair
        choice("spectral-efficiency method", self.se_method, ("attenuated-shannon", "cqi"))
        choice("CQI table", self.cqi_table, (1, 2))
        if self.layers < 1:
            raise ValueError(f"layers must be >= 1, got {self.layers}")
        if not any(abs(self.ul_alpha - a) < 1e-9 for a in ALPHAS):
            raise ValueError(f"ul_alpha must be one of {', '.join(map(str, ALPHAS))} (TS 38.331), got {self.ul_alpha}")
        if not P0_RANGE_DBM[0] <= self.ul_p0_dbm <= P0_RANGE_DBM[1]:
            raise ValueError(f"ul_p0_dbm must lie in [-202, 24] dBm (TS 38.331), got {self.ul_p0_dbm}")

    @property
    def uplink(self) -> UplinkConfig:
        """The carrier's uplink: numerology, gNB noise figure, P_CMAX = ``ue_p_tx_dbm``, P0, alpha, SE mapping."""
        return UplinkConfig.for_preset(self, p0_dbm=self.ul_p0_dbm, alpha=self.ul_alpha)

    @property
    def n_rb(self) -> int:
        """Maximum RBs for the bandwidth and SCS (TS 38.101)."""
        return max_rbs(self.bandwidth_hz, self.scs_hz)

    @property
    def mu(self) -> int:
        return numerology(self.scs_hz)

    @property
    def frequency_range(self) -> str:
        return frequency_range(self.fc_hz)

    def overhead(self, link: str = "dl") -> float:
        return nr_overhead(self.fc_hz, link)

    def noise_dbm(self, link: str = "dl") -> float:
        """Noise over the channel bandwidth at the receiver of ``link`` (UE for DL, gNB for UL)."""
        nf = self.ue_noise_figure_db if choice("link", link, ("dl", "ul")) == "dl" else self.bs_noise_figure_db
        return float(noise_power_dbm(self.bandwidth_hz, nf))

    def pathloss_db(self, d2d_m, *, los, h_ut_m=None, h_bs_m=None) -> np.ndarray:
        return pathloss_db(
            self.pathloss_model,
            d2d_m,
            self.fc_hz,
            los=los,
            h_bs_m=self.h_bs_m if h_bs_m is None else h_bs_m,
            h_ut_m=self.h_ut_m if h_ut_m is None else h_ut_m,
        )

    @property
    def car_penetration_loss(self) -> bool:
        return True  # TR 38.901 7.4.3.2 O2I car loss

    def rx_power_dbm(self, pathloss_db, link: str = "dl", loss_db=0.0) -> np.ndarray:
        if choice("link", link, ("dl", "ul")) == "dl":
            return downlink_rx_power_dbm(
                pathloss_db, p_tx_dbm=self.p_tx_dbm, g_bs_dbi=self.g_bs_dbi, g_ue_dbi=self.g_ue_dbi, loss_db=loss_db
            )
        return uplink_rx_power_dbm(
            pathloss_db, p_tx_dbm=self.ue_p_tx_dbm, g_ue_dbi=self.g_ue_dbi, g_bs_dbi=self.g_bs_dbi, loss_db=loss_db
        )

    @property
    def los_model(self) -> str:
        return self.pathloss_model

    @property
    def shadowing_model(self) -> str:
        return self.pathloss_model

    @property
    def max_range_m(self) -> float:
        return math.inf

    def sinr_rate_bps(self, sinr_db, link: str = "dl", *, method: str | None = None,
                      table: int | None = None) -> np.ndarray:
        """Full-band rate (bit/s) at ``sinr_db`` (any shape): all ``n_rb`` RBs at the spectral efficiency of the
        preset's mapping (``method`` / ``table`` override it)."""
        se = spectral_efficiency(sinr_db, method or self.se_method, link, table or self.cqi_table)
        return nr_rate_bps(se, n_prb=self.n_rb, scs_hz=self.scs_hz, layers=self.layers, overhead=self.overhead(link))

    def rate_bps(self, quality: LinkQuality, link: str = "dl") -> np.ndarray:
        """Full-cell rate (bit/s). Downlink: full-band allocation at the SINR plus the scheduler's gain. Uplink with
        ``rx_power_dbm``: link adaptation (``uplink_allocation``); uplink with only ``sinr_db``: the full-band rate
        at that SINR (the model without power control, kept for comparison)."""
        if choice("link", link, LINKS) == "ul" and quality.rx_power_dbm is not None:
            return self.uplink_allocation(quality).rate_bps
        sinr = float_array("sinr_db", _need(quality.sinr_db, "sinr_db", self.name))
        return self.sinr_rate_bps(sinr + quality.gain_db, link)

    def uplink_allocation(self, quality: LinkQuality) -> UplinkAllocation:
        """``uplink_link_adaptation`` at the coupling loss ``ue_p_tx_dbm - rx_power_dbm`` (path loss + shadowing +
        penetration - antenna gains), the interference per RB and the scheduler's gain (added to the SINR per RB)."""
        rx = float_array("rx_power_dbm", _need(quality.rx_power_dbm, "rx_power_dbm", self.name))
        return uplink_link_adaptation(self.ue_p_tx_dbm - rx.astype(np.float64), self.uplink,
                                      interference_per_rb_dbm=quality.interference_per_rb_dbm,
                                      sinr_gain_db=quality.gain_db)

    def drive_link(self, d3d_m, los, *, p_tx_dbm=None, nlos_quirk: bool = False):
        """ValueError: DRIVE's link model is for the DRIVE presets only."""
        raise ValueError(f"preset {self.name!r} is not a DRIVE preset: DRIVE's link model (profile drive) needs "
                         f"{' or '.join(n for n, p in PRESETS.items() if isinstance(p, TablePreset))}")

    def sensitivity_floor_dbm(self) -> float:
        """Noise plus the lowest SINR (0.01 dB grid from -30 dB) at which the downlink rate is positive."""
        sinr = np.arange(-30.0, 30.0, 0.01)
        ok = np.flatnonzero(self.sinr_rate_bps(sinr, "dl") > 0)
        return float(self.noise_dbm("dl") + sinr[ok[0]])


@dataclass(frozen=True)
class TablePreset(_PresetBase):
    """A DRIVE technology: rate = highest table rate whose sensitivity <= received power, the same on both links
    (DRIVE uses one table, in received power, for both). Path loss: ``pathloss_los`` where LOS, ``pathloss_nlos``
    elsewhere; LOS state from ``los_model``'s LOS probability (the path-loss models have none of their own)."""

    name: str
    fc_hz: float
    bandwidth_hz: float
    p_tx_dbm: float
    g_bs_dbi: float
    g_ue_dbi: float
    h_bs_m: float
    h_ut_m: float
    max_tx_distance_m: float  # DRIVE ignores base stations farther than this
    pathloss_los: str  # path-loss model where LOS
    pathloss_nlos: str  # path-loss model where not LOS
    rates_bps: tuple[float, ...]
    sensitivity_dbm: tuple[float, ...]
    los_model: str = "uma"  # LOS-probability model (DRIVE's LTE macro layer: urban macro; its 802.11ad: street canyon)
    los_params: tuple[tuple[str, float], ...] = ()
    nlos_params: tuple[tuple[str, float], ...] = ()
    mimo_factor: float = 1.0  # DRIVE LTE: 4 for 4x4 MIMO
    distance_step_m: float = 1.0  # DRIVE rounds distances to 1 m (macro) or 0.1 m (femto) (radio.profile: drive)
    ue_noise_figure_db: float = UE_NOISE_FIGURE_DB
    bs_noise_figure_db: float = GNB_NOISE_FIGURE_DB

    def __post_init__(self):
        if len(self.rates_bps) != len(self.sensitivity_dbm) or not self.rates_bps:
            raise ValueError(f"{self.name}: rates_bps and sensitivity_dbm must be non-empty and of equal length")
        if self.mimo_factor <= 0:
            raise ValueError(f"mimo_factor must be > 0, got {self.mimo_factor}")
        if self.distance_step_m not in (1.0, 0.1):
            raise ValueError(f"distance_step_m must be 1 or 0.1 (DRIVE's rounding), got {self.distance_step_m}")

    def pathloss_db(self, d2d_m, *, los, h_ut_m=None, h_bs_m=None) -> np.ndarray:
        """DRIVE's path loss: ``pathloss_los`` where LOS, ``pathloss_nlos`` elsewhere."""
        args = dict(h_bs_m=self.h_bs_m if h_bs_m is None else h_bs_m,
                    h_ut_m=self.h_ut_m if h_ut_m is None else h_ut_m)
        pl_los = pathloss_db(self.pathloss_los, d2d_m, self.fc_hz, los=True, **args, **dict(self.los_params))
        pl_nlos = pathloss_db(self.pathloss_nlos, d2d_m, self.fc_hz, los=False, **args, **dict(self.nlos_params))
        return np.where(los_mask(los), pl_los, pl_nlos)

    @property
    def shadowing_model(self) -> str:
        return self.pathloss_los  # DRIVE's models have no shadow fading (sigma 0)

    @property
    def car_penetration_loss(self) -> bool:
        return False  # DRIVE has no in-car loss

    @property
    def max_range_m(self) -> float:
        return self.max_tx_distance_m

    def rx_power_dbm(self, pathloss_db, link: str = "dl", loss_db=0.0) -> np.ndarray:
        """Downlink received power; DRIVE's table is in downlink power, so ``ul`` gives the same (one table)."""
        choice("link", link, LINKS)
        return downlink_rx_power_dbm(
            pathloss_db, p_tx_dbm=self.p_tx_dbm, g_bs_dbi=self.g_bs_dbi, g_ue_dbi=self.g_ue_dbi, loss_db=loss_db
        )

    def noise_dbm(self, link: str = "dl") -> float:
        """Noise over the channel bandwidth at the receiver of ``link`` (UE for DL, base station for UL)."""
        nf = self.ue_noise_figure_db if choice("link", link, LINKS) == "dl" else self.bs_noise_figure_db
        return float(noise_power_dbm(self.bandwidth_hz, nf))

    def rate_bps(self, quality: LinkQuality, link: str = "dl") -> np.ndarray:
        """The table rate at ``quality.rx_power_dbm`` on either link (SINR and scheduler gain are not used)."""
        choice("link", link, LINKS)
        return self.table_rate_bps(_need(quality.rx_power_dbm, "rx_power_dbm", self.name))

    @property
    def uplink(self) -> None:
        return None

    def uplink_allocation(self, quality: LinkQuality) -> None:
        """None: DRIVE's UE sends at a fixed power over the whole channel, at the table rate (no power control)."""
        return None

    def drive_link(self, d3d_m, los, *, p_tx_dbm=None, nlos_quirk: bool = False) -> DriveLink:
        """DRIVE's link model at 3D distances ``d3d_m`` (:func:`twin.radio.drive.drive_link`)."""
        return drive_link(self, d3d_m, los, p_tx_dbm=p_tx_dbm, nlos_quirk=nlos_quirk)

    def sensitivity_floor_dbm(self) -> float:
        """The lowest table sensitivity."""
        return float(min(self.sensitivity_dbm))

    def table_rate_bps(self, rx_power_dbm) -> np.ndarray:
        """Table rate (bit/s, x ``mimo_factor``) for received power (dBm, any shape); 0 below the lowest sensitivity."""
        rx = float_array("rx_power_dbm", rx_power_dbm)
        sens = np.asarray(self.sensitivity_dbm, dtype=np.float64)
        order = np.argsort(sens, kind="stable")
        best = np.maximum.accumulate(np.asarray(self.rates_bps, dtype=np.float64)[order])  # best rate reachable
        lut = np.concatenate(([0.0], best)) * self.mimo_factor
        idx = np.searchsorted(sens[order], rx, side="right")  # thresholds <= rx
        out = lut[idx]
        return np.where(np.isnan(rx), 0.0, out)


_MBPS = 1e6
_G_15 = 10.0 * math.log10(4.0 * math.pi * (180.0 / math.pi) ** 2 / 15.0**2)  # DRIVE antennaGainFemto(15): 22.633 dBi
PRESETS: dict[str, Preset] = {
    "nr-macro": NrPreset(
        name="nr-macro", fc_hz=3.5e9, bandwidth_hz=100e6, scs_hz=30e3, p_tx_dbm=46.0, p_tx_max_dbm=49.0,
        pathloss_model="uma", h_bs_m=25.0,
    ),
    "nr-mmwave": NrPreset(
        name="nr-mmwave", fc_hz=28e9, bandwidth_hz=400e6, scs_hz=120e3, p_tx_dbm=30.0, p_tx_max_dbm=33.0,
        pathloss_model="umi", h_bs_m=10.0,
    ),
    "drive-lte": TablePreset(
        name="drive-lte", fc_hz=2.6e9, bandwidth_hz=20e6, p_tx_dbm=15.0, g_bs_dbi=18.0, g_ue_dbi=0.0,
        h_bs_m=40.0, h_ut_m=1.5, max_tx_distance_m=1000.0, pathloss_los="tr36873-uma", pathloss_nlos="cost231-hata",
        los_model="uma",
        rates_bps=tuple(r * _MBPS for r in (97.896, 75.376, 30.576, 15.84)),
        sensitivity_dbm=(-72.0, -77.0, -83.0, -94.0),
        los_params=(("dhb_m", 20.0),), nlos_params=(("cm_db", 3.0),),
    ),
    "drive-80211ad": TablePreset(
        name="drive-80211ad", fc_hz=60e9, bandwidth_hz=2.16e9, p_tx_dbm=20.0, g_bs_dbi=_G_15, g_ue_dbi=_G_15,
        h_bs_m=10.0, h_ut_m=1.5, max_tx_distance_m=200.0, pathloss_los="freespace", pathloss_nlos="freespace",
        los_model="umi",
        rates_bps=tuple(r * _MBPS for r in (6756.75, 5197.5, 4158.0, 1386.0, 866.25, 385.0, 27.5)),
        sensitivity_dbm=(-47.0, -51.0, -54.0, -63.0, -64.0, -68.0, -78.0),
        los_params=(("nlos_loss_db", 20.0),), nlos_params=(("nlos_loss_db", 20.0),), distance_step_m=0.1,
    ),
}  # fmt: skip


def get_preset(preset: str | Preset) -> Preset:
    """A preset by name (``nr-macro``, ``nr-mmwave``, ``drive-lte``, ``drive-80211ad``), or the object itself."""
    if not isinstance(preset, str):
        return preset
    return PRESETS[choice("radio preset", preset, tuple(PRESETS))]


def user_rate_bps(
    preset: str | Preset, *, sinr_db=None, rx_power_dbm=None, link: str = "dl", method=None, table=None
) -> np.ndarray:
    """Full-cell rate (bit/s) of a user alone in a cell of ``preset``, any array shape.

    NR presets: ``preset.rate_bps`` (``sinr_db``: full band; uplink with ``rx_power_dbm``: link adaptation), with the
    preset's SE method and CQI table unless ``method`` / ``table`` override them. DRIVE presets need ``rx_power_dbm``.
    """
    p = get_preset(preset)
    overrides = {k: v for k, v in (("se_method", method), ("cqi_table", table)) if v is not None}
    if overrides:
        p = p.replace(**overrides)
    return p.rate_bps(LinkQuality(sinr_db=sinr_db, rx_power_dbm=rx_power_dbm), choice("link", link, LINKS))


def replace(preset: str | Preset, **changes) -> Preset:
    """A preset given by name or object with fields replaced (e.g. ``replace('nr-macro', p_tx_dbm=49)``)."""
    return get_preset(preset).replace(**changes)
