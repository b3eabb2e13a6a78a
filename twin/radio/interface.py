"""The interface of a technology preset (:class:`Preset`) and what a link's rate may depend on (:class:`LinkQuality`).

The concrete presets live in :mod:`twin.radio.presets`; callers use this interface only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from .uplink import UplinkAllocation, UplinkConfig

LINKS = ("dl", "ul")


@dataclass(frozen=True)
class LinkQuality:
    """What the rate of one link direction may depend on, for the users of one channel (arrays of one shape).

    ``sinr_db``: full-band SINR (dB) with interference; ``rx_power_dbm``: received power (dBm) of the serving link at
    the preset's transmit power (path loss, gains, shadowing and penetration loss included); ``gain_db``: the
    scheduler's selection gain on the SINR (proportional fair; 0 for round robin); ``interference_per_rb_dbm``: the
    uplink interference per resource block at the serving cell (uplink link adaptation; -inf: none). A preset reads
    what its rate model needs and raises ValueError naming a missing one.
    """

    sinr_db: np.ndarray | float | None = None
    rx_power_dbm: np.ndarray | float | None = None
    gain_db: np.ndarray | float = 0.0
    interference_per_rb_dbm: np.ndarray | float = -np.inf


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

    @property
    def car_penetration_loss(self) -> bool:
        """Whether a vehicle's in-car loss applies by default (NR: TR 38.901's O2I car loss; DRIVE: none)."""
        ...

    def pathloss_db(self, d2d_m, *, los, h_ut_m=None, h_bs_m=None) -> np.ndarray:
        """Path loss (dB) at 2D distance ``d2d_m`` (any shape) for LOS state ``los`` (bool or bool array); antenna
        heights ``h_ut_m`` / ``h_bs_m`` (broadcastable; default the preset's) give the 3D distance where the model
        defines one."""
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

    @property
    def uplink(self) -> UplinkConfig | None:
        """The uplink power control and link adaptation parameters; None: fixed UE power over the whole channel."""
        ...

    def uplink_allocation(self, quality: LinkQuality) -> UplinkAllocation | None:
        """Uplink power control and link adaptation (RB count, power, rate) from ``quality.rx_power_dbm`` (at the
        UE's maximum power), ``interference_per_rb_dbm`` and ``gain_db``; None for a preset whose UE transmits a fixed
        power over the whole channel (its uplink rate is ``rate_bps(quality, "ul")``)."""
        ...

    def sensitivity_floor_dbm(self) -> float:
        """Lowest received power (dBm) at which the preset gives a positive rate without interference."""
        ...

    def drive_link(self, d3d_m, los, *, p_tx_dbm=None, nlos_quirk: bool = False):
        """DRIVE's link model (``twin.radio.drive.drive_link``: ``radio.profile: drive``) at 3D distances ``d3d_m``;
        ValueError for a preset DRIVE does not have."""
        ...

    def replace(self, **changes) -> Preset:
        """A copy with fields replaced (``dataclasses.replace``; ValueError naming an unknown field)."""
        ...

    def describe(self) -> dict:
        """Every field and derived value (n_rb, floor, range, models) as plain Python values."""
        ...
