"""Technology presets (frozen dataclasses behind one :class:`Preset` interface) and the full-cell user rate.

* ``nr-macro`` / ``nr-mmwave`` (:class:`NrPreset`): 5G NR carriers; rate from SINR via a spectral-efficiency
  mapping, the TS 38.101 maximum RBs and the TS 38.306 overheads (``nr_rate_bps``).
* ``drive-lte`` / ``drive-80211ad`` (:class:`TablePreset`): DRIVE's (Mavromatis et al., ISCC 2020) rate /
  sensitivity tables; the rate is the highest table rate whose sensitivity is <= the received power.

Callers use the interface only (path loss, received power, noise, rate from a :class:`LinkQuality`, LOS and
shadowing models, sensitivity floor, range, overrides), never the concrete class.

Antenna gains of the NR presets are 0 dBi: the reference gives none, so the budget is that of
isotropic antennas; set ``g_bs_dbi`` / ``g_ue_dbi`` with ``dataclasses.replace`` for a known array.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from ._checks import choice, float_array, los_mask
from .nr import frequency_range, max_rbs, nr_rate_bps, numerology
from .nr import overhead as nr_overhead
from .pathloss import pathloss_db
from .sinr import downlink_rx_power_dbm, uplink_rx_power_dbm
from .spectral import GNB_NOISE_FIGURE_DB, UE_NOISE_FIGURE_DB, noise_power_dbm, spectral_efficiency

LINKS = ("dl", "ul")


@dataclass(frozen=True)
class LinkQuality:
    """What the rate of one link direction may depend on, for the users of one channel (arrays of one shape).

    ``sinr_db``: full-band SINR (dB) with interference; ``rx_power_dbm``: received power (dBm) of the serving link at
    the preset's transmit power (path loss, gains, shadowing and penetration loss included); ``gain_db``: the
    scheduler's selection gain on the SINR (proportional fair; 0 for round robin). A preset reads what its rate model
    needs and raises ValueError naming a missing one. New inputs (e.g. the interference per resource block for uplink
    link adaptation) are added here as optional fields, so callers and presets that do not use them do not change.
    """

    sinr_db: np.ndarray | float | None = None
    rx_power_dbm: np.ndarray | float | None = None
    gain_db: np.ndarray | float = 0.0


@runtime_checkable
class Preset(Protocol):
    """The interface every technology preset implements (frozen dataclasses; powers dBm, gains dBi, heights m)."""

    name: str
    fc_hz: float
    bandwidth_hz: float
    p_tx_dbm: float
    g_bs_dbi: float
    g_ue_dbi: float
    h_bs_m: float
    h_ut_m: float

    @property
    def los_model(self) -> str:
        """LOS-probability model (TR 38.901 Table 7.4.2-1 scenario) of the links, for ``los_probability``."""
        ...

    @property
    def shadowing_model(self) -> str:
        """Path-loss model whose shadow-fading table (sigma, decorrelation distance) applies to the links."""
        ...

    @property
    def max_range_m(self) -> float:
        """Cells farther than this are not usable (inf: no limit)."""
        ...

    def pathloss_db(self, d2d_m, *, los, h_ut_m=None) -> np.ndarray:
        """Path loss (dB) at 2D distance ``d2d_m`` (any shape) for LOS state ``los`` (bool or bool array)."""
        ...

    def rx_power_dbm(self, pathloss_db, link: str = "dl", loss_db=0.0) -> np.ndarray:
        """Received power (dBm) on ``link`` ("dl" | "ul") over ``pathloss_db`` plus extra ``loss_db``."""
        ...

    def noise_dbm(self, link: str = "dl") -> float:
        """Thermal noise (dBm) over the channel bandwidth at the receiver of ``link``."""
        ...

    def rate_bps(self, quality: LinkQuality, link: str = "dl") -> np.ndarray:
        """Full-cell rate (bit/s) of a user alone in the cell, shape of the quality's arrays."""
        ...

    def sensitivity_floor_dbm(self) -> float:
        """Lowest received power (dBm) at which the preset gives a positive rate without interference."""
        ...

    def replace(self, **changes) -> Preset:
        """A copy with fields replaced (``dataclasses.replace``; ValueError naming an unknown field)."""
        ...

    def describe(self) -> dict:
        """Every field and derived value (n_rb, floor, range, models) as plain Python values."""
        ...


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

    def __post_init__(self):
        max_rbs(self.bandwidth_hz, self.scs_hz)  # validates the pair
        choice("spectral-efficiency method", self.se_method, ("attenuated-shannon", "cqi"))
        choice("CQI table", self.cqi_table, (1, 2))
        if self.layers < 1:
            raise ValueError(f"layers must be >= 1, got {self.layers}")

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

    def pathloss_db(self, d2d_m, *, los, h_ut_m=None) -> np.ndarray:
        return pathloss_db(
            self.pathloss_model,
            d2d_m,
            self.fc_hz,
            los=los,
            h_bs_m=self.h_bs_m,
            h_ut_m=self.h_ut_m if h_ut_m is None else h_ut_m,
        )

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
        """Full-cell rate (bit/s): full-band allocation at the SINR plus the scheduler's gain (both links today;
        uplink link adaptation replaces the ``ul`` branch, reading ``quality.rx_power_dbm`` for the coupling loss)."""
        sinr = float_array("sinr_db", _need(quality.sinr_db, "sinr_db", self.name))
        return self.sinr_rate_bps(sinr + quality.gain_db, link)

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
    ue_noise_figure_db: float = UE_NOISE_FIGURE_DB
    bs_noise_figure_db: float = GNB_NOISE_FIGURE_DB

    def __post_init__(self):
        if len(self.rates_bps) != len(self.sensitivity_dbm) or not self.rates_bps:
            raise ValueError(f"{self.name}: rates_bps and sensitivity_dbm must be non-empty and of equal length")
        if self.mimo_factor <= 0:
            raise ValueError(f"mimo_factor must be > 0, got {self.mimo_factor}")

    def pathloss_db(self, d2d_m, *, los, h_ut_m=None) -> np.ndarray:
        """DRIVE's path loss: ``pathloss_los`` where LOS, ``pathloss_nlos`` elsewhere."""
        args = dict(h_bs_m=self.h_bs_m, h_ut_m=self.h_ut_m if h_ut_m is None else h_ut_m)
        pl_los = pathloss_db(self.pathloss_los, d2d_m, self.fc_hz, los=True, **args, **dict(self.los_params))
        pl_nlos = pathloss_db(self.pathloss_nlos, d2d_m, self.fc_hz, los=False, **args, **dict(self.nlos_params))
        return np.where(los_mask(los), pl_los, pl_nlos)

    @property
    def shadowing_model(self) -> str:
        return self.pathloss_los  # DRIVE's models have no shadow fading (sigma 0)

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
        name="drive-80211ad", fc_hz=60e9, bandwidth_hz=2.16e9, p_tx_dbm=20.0, g_bs_dbi=22.63, g_ue_dbi=22.63,
        h_bs_m=10.0, h_ut_m=1.5, max_tx_distance_m=200.0, pathloss_los="freespace", pathloss_nlos="freespace",
        los_model="umi",
        rates_bps=tuple(r * _MBPS for r in (6756.75, 5197.5, 4158.0, 1386.0, 866.25, 385.0, 27.5)),
        sensitivity_dbm=(-47.0, -51.0, -54.0, -63.0, -64.0, -68.0, -78.0),
        los_params=(("nlos_loss_db", 20.0),), nlos_params=(("nlos_loss_db", 20.0),),
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

    NR presets need ``sinr_db`` (``layers * SE(SINR) * N_RB * 12 * 14 * 2^mu * 1e3 * (1 - OH)``, SE
    from ``spectral_efficiency`` with the preset's method and CQI table unless ``method`` / ``table``
    override them). DRIVE presets need ``rx_power_dbm`` (their tables are in received power; DRIVE uses
    the same table for both links).
    """
    p = get_preset(preset)
    overrides = {k: v for k, v in (("se_method", method), ("cqi_table", table)) if v is not None}
    if overrides:
        p = p.replace(**overrides)
    return p.rate_bps(LinkQuality(sinr_db=sinr_db, rx_power_dbm=rx_power_dbm), choice("link", link, LINKS))


def replace(preset: str | Preset, **changes) -> Preset:
    """A preset given by name or object with fields replaced (e.g. ``replace('nr-macro', p_tx_dbm=49)``)."""
    return get_preset(preset).replace(**changes)
