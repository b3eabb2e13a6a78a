"""The radio state of a scenario: cells of one or more tiers seen from every vehicle, stepped with the mobility.

Composes the pure physics of :mod:`twin.radio` through the :class:`~twin.radio.presets.Preset` interface only (no
SimPy here; :mod:`twin.sim.access` steps it in simulated time): per tier, LOS state (``los="stochastic"``:
``LosProcess``, TR 38.901 LOS probability, correlated along each trajectory; ``"geometry"``: a lookup from the
buildings given by the caller; or always / never) and shadowing (``ShadowingProcess``, correlated along the
trajectory), path loss between antennas at their heights (per cell and per vehicle), an in-car penetration loss drawn
once per vehicle (on the tiers whose preset has one, unless the scenario says), received power on both links; then, given the serving
cells and each cell's activity, SINR with co-channel interference (cells of the same preset share a channel) and the
full-cell rate of each vehicle. The uplink of presets with power control (NR) is link-adapted
(``Preset.uplink_allocation``: the rate-maximising RB count under open-loop power control); its interference at a cell
is the other cells' users' power per RB weighted by the RBs x air time they actually used in the previous step. All
random draws come from the generator given to the constructor (``env.rng("radio")``).

``profile="drive"`` is DRIVE's link model instead (:mod:`twin.radio.drive`): the 3D distance between the antennas
(cell heights ``cell_h_m``, the presets' vehicle height), DRIVE's path loss, fixed power per base station (or the tier's
demand-driven power), range and table rate on both links from the received power alone (no SINR, no shadowing, no
in-car loss), DRIVE's NLOS rate quirk with ``nlos_quirk``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .association import best_server
from .drive import demand_tx_power_dbm
from .pathloss import los_probability
from .presets import LinkQuality, Preset
from .shadowing import O2I_CAR_MEAN_DB, LosProcess, ShadowingProcess, o2i_car_loss_db, shadow_sigma_db
from .sinr import candidate_sinr_db, dbm_to_mw, mw_to_dbm, sinr_db, uplink_sinr_db
from .uplink import uplink_interference_dbm

_FAR_M = 1e7  # distance given to inactive vehicles (their powers are masked anyway)
LOS_KINDS = ("geometry", "stochastic", "always", "never")
LOS_ALIASES = {"random": "stochastic", "los": "always", "nlos": "never"}  # the names of earlier versions
#: ``(tier index, xy[N, 2], receiver antenna heights[N]) -> bool[N, cells of the tier]``: LOS from geometry
LosLookup = Callable[[int, np.ndarray, np.ndarray], np.ndarray]


@dataclass
class Tier:
    """The cells ``cells`` (global indices) of one technology preset."""

    name: str
    preset: Preset
    cells: np.ndarray
    floor_dbm: float  # sensitivity floor: below it a cell is not usable
    bias_db: float = 0.0  # added to the association metric of these cells
    max_range_m: float = np.inf  # farther cells are unusable
    power_policy: DemandPolicy | None = None  # profile drive: DRIVE's demand-driven transmit power


@dataclass(frozen=True)
class DemandPolicy:
    """DRIVE's demand-driven power: at ``start_s + k period_s`` each cell sends ``round(users / full_users x span_dbm
    + base_dbm)`` dBm (:func:`twin.radio.drive.demand_tx_power_dbm`), ``users`` the vehicles it serves."""

    start_s: float = 50.0
    period_s: float = 50.0
    base_dbm: float = 20.0
    span_dbm: float = 23.0
    full_users: float = 100.0

    def due(self, t0_s: float, t1_s: float) -> bool:
        """Whether a power update time falls in ``(t0_s, t1_s]`` (or is ``t1_s == start_s``)."""
        if t1_s < self.start_s:
            return False
        k = np.floor((t1_s - self.start_s) / self.period_s + 1e-9)
        return bool(self.start_s + k * self.period_s > t0_s + 1e-9)


def sensitivity_floor_dbm(preset: Preset) -> float:
    """Lowest received power (dBm) at which ``preset`` gives a positive rate without interference."""
    return preset.sensitivity_floor_dbm()


class RadioModel:
    """Powers, SINR and rates between ``n_vehicles`` vehicles and the cells at ``cell_xy_m`` [C, 2]."""

    def __init__(self, tiers: list[Tier], cell_xy_m: np.ndarray, n_vehicles: int, *, rng: np.random.Generator,
                 los: str = "stochastic", shadowing: bool = True, penetration_loss: bool | None = None,
                 interference: str = "activity", sharing: str = "round-robin", metric: str = "rx_power",
                 cell_h_m: np.ndarray | None = None, ue_h_m: np.ndarray | None = None,
                 los_lookup: LosLookup | None = None, profile: str = "default", nlos_quirk: bool = False) -> None:
        self.tiers = tiers
        self.drive, self.nlos_quirk = profile == "drive", bool(nlos_quirk)
        if self.drive:
            shadowing = penetration_loss = False
        self.cell_xy_m = np.asarray(cell_xy_m, dtype=float)
        self.n_cells = len(self.cell_xy_m)
        self.n_vehicles = int(n_vehicles)
        los = LOS_ALIASES.get(los, los)
        if los not in LOS_KINDS:
            raise ValueError(f"los must be one of {', '.join(LOS_KINDS)}, got {los!r}")
        if (los == "geometry") != (los_lookup is not None):
            raise ValueError("los 'geometry' needs a los_lookup (and only it takes one)")
        self.los_mode, self.interference, self.sharing, self.metric = los, interference, sharing, metric
        self.los_lookup = los_lookup
        v = self.n_vehicles
        # antenna heights: per cell [C] and per vehicle [V] (NaN: the preset's), resolved per tier
        cell_h = np.full(self.n_cells, np.nan) if cell_h_m is None else np.asarray(cell_h_m, dtype=float)
        ue_h = np.full(v, np.nan) if ue_h_m is None else np.asarray(ue_h_m, dtype=float)
        self.h_bs_m = [np.where(np.isnan(cell_h[t.cells]), t.preset.h_bs_m, cell_h[t.cells]) for t in tiers]
        self.h_ut_m = [np.where(np.isnan(ue_h), t.preset.h_ut_m, ue_h) for t in tiers]
        self._los = [LosProcess.for_model(t.preset.los_model, (v, t.cells.size), rng=rng) if los == "stochastic"
                     else None for t in tiers]
        self._shadow = [ShadowingProcess.for_model(t.preset.shadowing_model, (v, t.cells.size), rng=rng)
                        if shadowing and shadow_sigma_db(t.preset.shadowing_model, True) + shadow_sigma_db(
                            t.preset.shadowing_model, False) > 0 else None for t in tiers]
        # in-car loss: the scenario's choice, else each preset's (NR: TR 38.901 O2I car loss; DRIVE: none)
        self.car_loss = [t.preset.car_penetration_loss if penetration_loss is None else bool(penetration_loss)
                         for t in tiers]
        self.o2i_db = o2i_car_loss_db(v, rng) if any(self.car_loss) else np.zeros(v)
        self.los_state = np.zeros((v, self.n_cells), dtype=bool)  # LOS of every link at the last step
        self.floor_dbm = np.empty(self.n_cells)
        self.bias_db = np.empty(self.n_cells)
        self.tier_of = np.empty(self.n_cells, dtype=np.int64)
        names = sorted({t.preset.name for t in tiers})
        self.channels = [np.concatenate([t.cells for t in tiers if t.preset.name == n]) for n in names]
        self.channel_preset = [next(t.preset for t in tiers if t.preset.name == n) for n in names]
        # the uplink allocation of the last step (link-adapted presets): power per RB (dBm) and share of the RBs
        self.ul_p_rb_dbm, self.ul_rb_share = np.full(v, -np.inf), np.zeros(v)
        self.p_tx_dbm = np.empty(self.n_cells)
        for i, t in enumerate(tiers):
            self.floor_dbm[t.cells] = t.floor_dbm
            self.bias_db[t.cells] = t.bias_db
            self.tier_of[t.cells] = i
            self.p_tx_dbm[t.cells] = t.preset.p_tx_dbm
            if self.drive:
                t.preset.drive_link(np.ones(1), True)  # ValueError naming a preset DRIVE does not have
        self._drive_rate = np.zeros((v, self.n_cells))  # profile drive: DRIVE's rate of every link, this step
        self._t_s = -np.inf

    def apply_power_policy(self, t_s: float, serving: np.ndarray) -> np.ndarray:
        """Set the transmit power of the cells whose tier has a demand policy due in (last call, ``t_s``] from the
        vehicles each serves (``serving`` [V]); returns the cells changed."""
        changed = []
        users = np.bincount(serving[serving >= 0], minlength=self.n_cells)
        for t in self.tiers:
            pol = t.power_policy
            if pol is not None and pol.due(self._t_s, t_s):
                self.p_tx_dbm[t.cells] = demand_tx_power_dbm(users[t.cells], base_dbm=pol.base_dbm,
                                                             span_dbm=pol.span_dbm, full_users=pol.full_users)
                changed.append(t.cells)
        self._t_s = t_s
        return np.concatenate(changed) if changed else np.zeros(0, dtype=np.int64)

    # ------------------------------------------------------------------------------------------------- powers

    def _budget(self, i: int, d2d: np.ndarray, los, loss_db, h_ut=None) -> tuple[np.ndarray, np.ndarray]:
        """Received power (dBm) on DL and UL [points, cells of tier i]; -inf beyond the tier's range. A tier with a
        short range (small cells) computes only the links in range: the same values, element by element."""
        tier = self.tiers[i]
        p = tier.preset
        h_ut = np.reshape(self.h_ut_m[i] if h_ut is None else h_ut, (-1, 1))
        h_bs = self.h_bs_m[i][None, :]
        near = d2d <= tier.max_range_m
        n_near = int(np.count_nonzero(near))
        if n_near > d2d.size // 4:  # most links in range: whole arrays
            pl = p.pathloss_db(d2d, los=los, h_ut_m=h_ut, h_bs_m=h_bs)
            dl, ul = p.rx_power_dbm(pl, "dl", loss_db=loss_db), p.rx_power_dbm(pl, "ul", loss_db=loss_db)
            return np.where(near, dl, -np.inf), np.where(near, ul, -np.inf)
        dl, ul = np.full(d2d.shape, -np.inf), np.full(d2d.shape, -np.inf)
        if n_near:
            r, c = np.nonzero(near)

            def at(x):  # the values at the links in range of a scalar or an array broadcast to the links' shape
                return np.broadcast_to(x, d2d.shape)[r, c] if np.ndim(x) else x

            pl = p.pathloss_db(d2d[r, c], los=at(los), h_ut_m=at(h_ut), h_bs_m=at(h_bs))
            dl[r, c] = p.rx_power_dbm(pl, "dl", loss_db=at(loss_db))
            ul[r, c] = p.rx_power_dbm(pl, "ul", loss_db=at(loss_db))
        return dl, ul

    def step(self, xy_m: np.ndarray, active: np.ndarray, moved_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Advance the LOS / shadowing processes and return received powers (dBm) [V, C] on DL and UL.

        Inactive vehicles (not on the road) get -inf everywhere."""
        xy = np.where(active[:, None], np.nan_to_num(xy_m, nan=0.0), _FAR_M)
        moved = np.where(active, np.nan_to_num(moved_m, nan=0.0), 0.0)
        rx_dl = np.empty((self.n_vehicles, self.n_cells))
        rx_ul = np.empty((self.n_vehicles, self.n_cells))
        for i, (t, los_proc, shadow) in enumerate(zip(self.tiers, self._los, self._shadow, strict=True)):
            cxy = self.cell_xy_m[t.cells]
            d2d = np.hypot(xy[:, 0:1] - cxy[:, 0], xy[:, 1:2] - cxy[:, 1])
            los = self._los_now(i, los_proc, d2d, xy, moved, active)
            self.los_state[:, t.cells] = los
            if self.drive:
                rx_dl[:, t.cells] = rx_ul[:, t.cells] = self._drive_step(i, d2d, los)
                continue
            o2i = self.o2i_db[:, None] if self.car_loss[i] else 0.0
            loss = o2i + (shadow.step(moved, los) if shadow is not None else 0.0)
            rx_dl[:, t.cells], rx_ul[:, t.cells] = self._budget(i, d2d, los, loss)
        rx_dl[~active] = -np.inf
        rx_ul[~active] = -np.inf
        return rx_dl, rx_ul

    def _drive_links(self, i: int, d2d: np.ndarray, los, h_ut=None) -> tuple[np.ndarray, np.ndarray]:
        """DRIVE's received power (-inf out of range) and rate [points, cells of tier i], at the 3D distance."""
        t = self.tiers[i]
        h_ut = self.h_ut_m[i] if h_ut is None else h_ut
        d3d = np.hypot(d2d, self.h_bs_m[i][None, :] - np.reshape(h_ut, (-1, 1)))
        link = t.preset.drive_link(d3d, los, p_tx_dbm=self.p_tx_dbm[t.cells], nlos_quirk=self.nlos_quirk)
        ok = link.in_range & (d2d <= t.max_range_m)
        return np.where(ok, link.rx_dbm, -np.inf), np.where(ok, link.rate_bps, 0.0)

    def _drive_step(self, i: int, d2d: np.ndarray, los) -> np.ndarray:
        """DRIVE's received power [V, cells of tier i]; keeps DRIVE's rates for ``link_quality``."""
        rx, self._drive_rate[:, self.tiers[i].cells] = self._drive_links(i, d2d, los)
        return rx

    def _los_now(self, i: int, los_proc, d2d: np.ndarray, xy: np.ndarray, moved: np.ndarray,
                 active: np.ndarray) -> np.ndarray:
        """[V, cells of tier i] LOS state this step (inactive vehicles: False)."""
        t = self.tiers[i]
        if self.los_mode == "geometry":
            los = np.zeros(d2d.shape, dtype=bool)
            los[active] = self.los_lookup(i, xy[active], self.h_ut_m[i][active])
            return los
        if los_proc is not None:
            return los_proc.step(moved, los_probability(t.preset.los_model, d2d, h_ut_m=self.h_ut_m[i][:, None]))
        return np.full(d2d.shape, self.los_mode == "always")

    def association_metric(self, rx_dl: np.ndarray, activity_dl: np.ndarray) -> np.ndarray:
        """[V, C] metric for :class:`twin.radio.Association`: received power or candidate SINR, plus the tier
        bias; -inf below the sensitivity floors."""
        usable = rx_dl >= self.floor_dbm
        if self.metric == "rx_power":
            return np.where(usable, rx_dl + self.bias_db, -np.inf)
        out = np.full(rx_dl.shape, -np.inf)
        act = self._activity(activity_dl)
        for cells, preset in zip(self.channels, self.channel_preset, strict=True):
            out[:, cells] = candidate_sinr_db(rx_dl[:, cells], preset.noise_dbm("dl"), act[cells])
        return np.where(usable, out + self.bias_db, -np.inf)

    def _activity(self, activity: np.ndarray) -> np.ndarray:
        if self.interference == "full-buffer":
            return np.ones(self.n_cells)
        if self.interference == "none":
            return np.zeros(self.n_cells)
        return np.clip(activity, 0.0, 1.0)

    # ------------------------------------------------------------------------------------------ SINR and rates

    def link_quality(self, rx_dl: np.ndarray, rx_ul: np.ndarray, serving: np.ndarray, activity_dl: np.ndarray,
                     activity_ul: np.ndarray, users_dl: np.ndarray | None = None,
                     users_ul: np.ndarray | None = None, airtime_ul: np.ndarray | None = None,
                     remember: bool = True) -> tuple[np.ndarray, ...]:
        """SINR (dB) and full-cell rate (bit/s) of every vehicle towards its serving cell, DL and UL, each [V].

        ``users_*`` [C]: users with traffic per cell, for the proportional-fair multi-user diversity gain.
        ``airtime_ul`` [V]: the share of its cell's uplink air time each vehicle used since the last step (the
        uplink interference of link-adapted presets; None: nobody transmitted). The uplink SINR of a link-adapted
        preset is the SINR per RB on its chosen RBs. ``remember``: keep this step's uplink allocation as the next
        step's interference (False for what-if calls such as the coverage map)."""
        v = rx_dl.shape[0]
        sinr_dl, sinr_ul = np.full(v, -np.inf), np.full(v, -np.inf)
        rate_dl, rate_ul = np.zeros(v), np.zeros(v)
        p_rb, share = np.full(v, -np.inf), np.zeros(v)
        a_dl, a_ul = self._activity(activity_dl), self._activity(activity_ul)
        for cells, preset in zip(self.channels, self.channel_preset, strict=True):
            local = np.full(self.n_cells, -1)
            local[cells] = np.arange(cells.size)
            loc = np.where(serving >= 0, local[np.maximum(serving, 0)], -1)
            mine = loc >= 0
            if not mine.any():
                continue
            s_dl = sinr_db(rx_dl[:, cells], loc, preset.noise_dbm("dl"), a_dl[cells])
            sinr_dl[mine] = s_dl[mine]
            srv = serving[mine]
            rate_dl[mine] = preset.rate_bps(LinkQuality(sinr_db=s_dl[mine], rx_power_dbm=rx_dl[mine, srv],
                                                        gain_db=self._pf_gain_db(users_dl, srv)), "dl")
            quality = LinkQuality(rx_power_dbm=rx_ul[mine, srv], gain_db=self._pf_gain_db(users_ul, srv),
                                  interference_per_rb_dbm=self._ul_interference_dbm(rx_ul[:, cells], loc, preset,
                                                                                    airtime_ul)[loc[mine]])
            alloc = preset.uplink_allocation(quality)
            if alloc is None:  # fixed UE power over the whole channel (DRIVE tables)
                s_ul = uplink_sinr_db(rx_ul[:, cells], loc, preset.noise_dbm("ul"), a_ul[cells])
                sinr_ul[mine] = s_ul[mine]
                rate_ul[mine] = preset.rate_bps(LinkQuality(sinr_db=s_ul[mine], rx_power_dbm=rx_ul[mine, srv],
                                                            gain_db=quality.gain_db), "ul")
                continue
            sinr_ul[mine], rate_ul[mine] = alloc.sinr_per_rb_db, alloc.rate_bps
            p_rb[mine], share[mine] = alloc.p_tx_per_rb_dbm, alloc.n_rb / preset.uplink.n_rb
        if remember:
            self.ul_p_rb_dbm, self.ul_rb_share = p_rb, share
        if self.drive and remember:  # DRIVE: the table rate of the serving link, the same on both links
            on = serving >= 0
            rate_dl[on] = rate_ul[on] = self._drive_rate[np.flatnonzero(on), serving[on]]
        return sinr_dl, sinr_ul, rate_dl, rate_ul

    def _ul_interference_dbm(self, rx_ul: np.ndarray, loc: np.ndarray, preset: Preset,
                             airtime_ul: np.ndarray | None) -> np.ndarray:
        """[cells of one channel] mean uplink interference per RB (dBm) from the last step's allocations: each
        vehicle's power per RB, weighted by its RB share x air time (``interference: activity``), by its RB share x
        1 / (vehicles in its cell) (``full-buffer``: every attached vehicle always has data), or nothing (``none``)."""
        n, config = rx_ul.shape[1], preset.uplink
        if self.interference == "none" or config is None or len(loc) != self.n_vehicles:  # (points: no vehicles)
            return np.full(n, -np.inf)
        if self.interference == "full-buffer":
            attached = np.bincount(loc[loc >= 0], minlength=n)
            time = np.where(loc >= 0, 1.0 / np.maximum(attached[np.maximum(loc, 0)], 1), 0.0)
        else:
            time = np.zeros(len(loc)) if airtime_ul is None else np.clip(airtime_ul, 0.0, 1.0)
        coupling = config.p_cmax_dbm - rx_ul  # the UL budget is at P_CMAX; +inf where unusable: contributes nothing
        with np.errstate(invalid="ignore"):
            return uplink_interference_dbm(self.ul_p_rb_dbm, coupling, loc, self.ul_rb_share * time)

    def _pf_gain_db(self, users: np.ndarray | None, cells: np.ndarray) -> np.ndarray | float:
        """Proportional fair: the scheduled user's SINR is boosted by the selection gain ``H_n`` (the mean of the
        largest of n unit exponentials: Rayleigh fading, n users with traffic in the cell)."""
        if self.sharing != "proportional-fair" or users is None:
            return 0.0
        n = np.maximum(users[cells], 1)
        harmonic = np.cumsum(1.0 / np.arange(1, int(n.max()) + 1))
        return 10.0 * np.log10(harmonic[n - 1])

    # -------------------------------------------------------------------------------------------- coverage map

    def coverage(self, points_xy: np.ndarray, *, penetration_db: float = O2I_CAR_MEAN_DB
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Best-server DL rate (bit/s) and cell at each point [P, 2]: mean received power over the LOS state
        (``p_LOS`` P_LOS + (1 - p_LOS) P_NLOS, no shadowing), co-channel interference from every cell at full
        activity (unless ``interference: none``), server by the association metric. Profile drive: DRIVE's rates,
        the server by mean received power, its rate the mean over the LOS state."""
        rate_dl, _, best = self.point_rates(points_xy, penetration_db=penetration_db)
        return rate_dl, best

    def point_rates(self, points_xy: np.ndarray, *, penetration_db: float = O2I_CAR_MEAN_DB
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(DL rate, UL rate (bit/s), best cell) of a user standing at each point [P, 2], served by its best cell:
        mean received power over the LOS state (``p_LOS`` P_LOS + (1 - p_LOS) P_NLOS, no shadowing; geometry: the
        point's LOS), interference from every cell at full activity (unless ``interference: none``), the vehicles'
        most common antenna height. The coverage map and the background users of ``traffic.background`` (kind
        ``cell``) use it. Profile drive: DRIVE's table rate, the same on both links. ``penetration_db`` (default:
        the TR 38.901 mean in-car loss) is added only on the tiers whose vehicles have an in-car loss (the scenario's
        ``radio.penetration_loss``, else the preset's), so callers never decide it themselves."""
        pts = np.asarray(points_xy, dtype=float)
        if self.drive:
            rate, best = self._drive_coverage(pts)
            return rate, rate.copy(), best
        rx_dl = np.empty((len(pts), self.n_cells))
        rx_ul = np.empty((len(pts), self.n_cells))
        for i, t in enumerate(self.tiers):
            cxy = self.cell_xy_m[t.cells]
            d2d = np.hypot(pts[:, 0:1] - cxy[:, 0], pts[:, 1:2] - cxy[:, 1])
            h_ut = np.full(len(pts), self._typical_h_ut(i))
            loss = penetration_db if self.car_loss[i] else 0.0
            if self.los_mode == "stochastic":
                p = los_probability(t.preset.los_model, d2d, h_ut_m=h_ut[:, None])
                los_dl, los_ul = self._budget(i, d2d, True, loss, h_ut)
                nlos_dl, nlos_ul = self._budget(i, d2d, False, loss, h_ut)
                with np.errstate(divide="ignore"):
                    rx_dl[:, t.cells] = mw_to_dbm(p * dbm_to_mw(los_dl) + (1 - p) * dbm_to_mw(nlos_dl))
                    rx_ul[:, t.cells] = mw_to_dbm(p * dbm_to_mw(los_ul) + (1 - p) * dbm_to_mw(nlos_ul))
            else:
                los = self.los_lookup(i, pts, h_ut) if self.los_mode == "geometry" else self.los_mode == "always"
                rx_dl[:, t.cells], rx_ul[:, t.cells] = self._budget(i, d2d, los, loss, h_ut)
        ones = np.ones(self.n_cells)
        best, _ = best_server(self.association_metric(rx_dl, ones))
        _, _, rate_dl, rate_ul = self.link_quality(rx_dl, rx_ul, best, ones, ones, remember=False)
        return rate_dl, rate_ul, best

    def _drive_coverage(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rx, rate = np.empty((len(pts), self.n_cells)), np.empty((len(pts), self.n_cells))
        for i, t in enumerate(self.tiers):
            cxy = self.cell_xy_m[t.cells]
            d2d = np.hypot(pts[:, 0:1] - cxy[:, 0], pts[:, 1:2] - cxy[:, 1])
            h_ut = np.full(len(pts), self._typical_h_ut(i))
            if self.los_mode == "stochastic":
                p = los_probability(t.preset.los_model, d2d, h_ut_m=h_ut[:, None])
            elif self.los_mode == "geometry":
                p = self.los_lookup(i, pts, h_ut).astype(float)
            else:
                p = np.full(d2d.shape, 1.0 if self.los_mode == "always" else 0.0)
            los_dbm, los_rate = self._drive_links(i, d2d, True, h_ut)
            nlos_dbm, nlos_rate = self._drive_links(i, d2d, False, h_ut)
            with np.errstate(divide="ignore"):
                rx[:, t.cells] = mw_to_dbm(p * dbm_to_mw(los_dbm) + (1 - p) * dbm_to_mw(nlos_dbm))
            rate[:, t.cells] = p * los_rate + (1 - p) * nlos_rate
        best, _ = best_server(self.association_metric(rx, np.ones(self.n_cells)))
        return np.where(best >= 0, rate[np.arange(len(pts)), np.maximum(best, 0)], 0.0), best

    def _typical_h_ut(self, i: int) -> float:
        """The vehicle antenna height of the coverage map: the most common among the vehicles (tier ``i``'s)."""
        values, counts = np.unique(self.h_ut_m[i], return_counts=True)
        return float(values[np.argmax(counts)]) if len(values) else float(self.tiers[i].preset.h_ut_m)
