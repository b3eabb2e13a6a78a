"""Shadow fading and LOS state along vehicle trajectories (TR 38.901 clauses 7.4.1, 7.4.4, 7.6.3).

Stateless look-ups (sigma, decorrelation distances) are functions; the state that must stay
consistent along a trajectory lives in two small classes:

* ``ShadowingProcess``: per-link log-normal shadowing, a Gudmundson AR(1) in travelled distance,
  ``S_new = R S_old + sqrt(1 - R^2) sigma N(0, 1)`` with ``R = exp(-dd / d_corr)``.
* ``LosProcess``: per-link LOS / NLOS state, ``LOS = U < p_LOS(d2D)`` with a uniform ``U`` kept
  along the trajectory and redrawn after an exponentially distributed travelled distance of mean
  ``d_corr`` (TR 38.901 Table 7.6.3.1-2 correlation distance of the LOS state).

Axis convention for both classes: axis 0 of ``shape`` is the vehicle (UE) axis, the other axes
(typically the cell axis) are links of that vehicle. ``moved_m`` is per vehicle: a scalar or an
array of shape ``[n_ue]``; it is aligned to axis 0 internally, so it never broadcasts by accident
against the cell axis.
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import choice, float_array, los_mask, non_negative
from .pathloss import PATHLOSS_MODELS  # shadow-fading sigma and decorrelation distance per path-loss model

# TR 38.901 Table 7.6.3.1-2 correlation distance of the LOS/NLOS state (m).
LOS_DECORRELATION_M = {"uma": 50.0, "umi": 50.0, "rma": 60.0, "inh": 10.0, "freespace": math.inf}

# TR 38.901 clause 7.4.3.2: O2I car penetration loss, normal in dB.
O2I_CAR_MEAN_DB = 9.0
O2I_CAR_SIGMA_DB = 5.0


def shadow_sigma_db(model: str, los, d2d_m=None, *, fc_hz=None, h_bs_m=35.0, h_ut_m=1.5) -> np.ndarray:
    """Shadow-fading standard deviation in dB (TR 38.901 Table 7.4.1-1), shape of ``los`` (x ``d2d_m``).

    Models without shadowing in their source (``freespace`` and DRIVE's two models) give 0.
    RMa LOS is 4 dB up to the breakpoint ``dBP = 2 pi hBS hUT fc / c`` and 6 dB beyond; that
    distinction needs ``d2d_m`` and ``fc_hz`` (without them RMa LOS is 4 dB).
    """
    model = choice("shadowing model", model, tuple(PATHLOSS_MODELS))
    s_los, s_nlos = PATHLOSS_MODELS[model].shadow_sigma_db
    los_v = los_mask(los)
    sigma = np.where(los_v, s_los, s_nlos)
    if model == "rma" and d2d_m is not None:
        if fc_hz is None:
            raise ValueError("fc_hz is required with d2d_m for the RMa LOS shadowing sigma (breakpoint distance)")
        d = non_negative("d2d_m", float_array("d2d_m", d2d_m))
        dbp = 2.0 * math.pi * h_bs_m * h_ut_m * float(fc_hz) / 3.0e8
        sigma = np.where(los_v, np.where(d > dbp, 6.0, 4.0), s_nlos)
    return sigma


def decorrelation_distance_m(model: str, los) -> np.ndarray:
    """Shadow-fading decorrelation distance in m (TR 38.901 Table 7.5-6): UMa 37/50, UMi 10/13,
    RMa 37/120, InH 10/6 (LOS/NLOS); ``inf`` for models without shadowing."""
    model = choice("shadowing model", model, tuple(PATHLOSS_MODELS))
    d_los, d_nlos = PATHLOSS_MODELS[model].shadow_decorrelation_m
    return np.where(los_mask(los), d_los, d_nlos)


def los_decorrelation_distance_m(model: str) -> float:
    """Correlation distance of the LOS state (TR 38.901 Table 7.6.3.1-2): UMa 50, UMi 50, RMa 60, InH 10 m."""
    model = choice("LOS-state model", model, tuple(LOS_DECORRELATION_M))
    return LOS_DECORRELATION_M[model]


def o2i_car_loss_db(
    shape, rng: np.random.Generator, *, mean_db: float = O2I_CAR_MEAN_DB, sigma_db: float = O2I_CAR_SIGMA_DB
) -> np.ndarray:
    """Draw in-vehicle (O2I car) penetration losses, N(9 dB, 5 dB) (TR 38.901 clause 7.4.3.2).

    Draw once per vehicle (``shape = n_ue``) and keep it: it describes the car body, not the
    position. Not clipped at 0, as in the TR.
    """
    if sigma_db < 0:
        raise ValueError(f"sigma_db must be >= 0, got {sigma_db}")
    return rng.normal(mean_db, sigma_db, size=shape)


def _per_vehicle(name: str, moved_m, shape: tuple[int, ...], dtype) -> np.ndarray:
    """``moved_m`` (scalar or [n_ue]) as an array aligned to axis 0 of ``shape``."""
    m = non_negative(name, np.asarray(moved_m, dtype=dtype))
    if m.ndim == 0:
        return m
    if m.shape != shape[:1]:
        raise ValueError(f"{name} must be a scalar or have shape ({shape[0]},) (one value per vehicle), got {m.shape}")
    return m.reshape(shape[:1] + (1,) * (len(shape) - 1))


def _pair(name: str, value, dtype):
    """A value or a (LOS, NLOS) pair, as arrays of ``dtype``."""
    if isinstance(value, tuple):
        if len(value) != 2:
            raise ValueError(f"{name} must be a value or a (los, nlos) pair")
        return tuple(np.asarray(v, dtype=dtype) for v in value)
    return np.asarray(value, dtype=dtype)


class ShadowingProcess:
    """Spatially correlated shadow fading for ``shape = (n_ue, ...)`` links (Gudmundson AR(1)).

    The process keeps a unit-variance state ``z`` per link and returns ``sigma * z``. Each step::

        R = exp(-moved_m / d_corr_m)
        z = R z + sqrt(1 - R^2) N(0, 1)

    which, for a fixed sigma, is exactly ``S_new = R S_old + sqrt(1 - R^2) sigma N(0, 1)``
    (TR 38.901 clause 7.4.4 exponential autocorrelation). Keeping ``z`` normalised lets sigma and
    d_corr switch with the LOS state without a transient: a link that turns NLOS has the NLOS
    variance at once.

    Args:
        shape: state shape; axis 0 is the vehicle axis (e.g. ``(n_ue, n_cell)``).
        sigma_db: shadowing sigma in dB, broadcastable to ``shape``, or a ``(los, nlos)`` pair of
            those; with a pair, ``step`` and ``value_db`` need the ``los`` mask.
        d_corr_m: decorrelation distance in m (``inf``: frozen), same forms as ``sigma_db``.
        rng: the component's ``np.random.Generator``.
        dtype: float32 halves memory traffic for 10^6 links; float64 by default.

    The initial state is drawn from the stationary law (z ~ N(0, 1)).
    """

    def __init__(self, shape, *, sigma_db, d_corr_m, rng: np.random.Generator, dtype=np.float64):
        self.shape = tuple(int(n) for n in np.atleast_1d(shape))
        if not self.shape or min(self.shape) < 0:
            raise ValueError(f"shape must be a non-empty tuple of sizes, got {shape!r}")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
        self._sigma = _pair("sigma_db", sigma_db, self.dtype)
        self._d_corr = _pair("d_corr_m", d_corr_m, self.dtype)
        for name, v in (("sigma_db", self._sigma), ("d_corr_m", self._d_corr)):
            for arr in v if isinstance(v, tuple) else (v,):
                non_negative(name, arr)
                np.broadcast_shapes(arr.shape, self.shape)
        self._rng = rng
        n = math.prod(self.shape)
        self._noise = np.empty(self.shape, dtype=self.dtype)
        self._coef = np.empty(self.shape, dtype=self.dtype)
        self._uniform = np.empty(2 * ((n + 1) // 2), dtype=np.float32)
        self._z = standard_normal(rng, np.empty(self.shape, dtype=self.dtype), self._uniform)

    @classmethod
    def for_model(cls, model: str, shape, *, rng: np.random.Generator, dtype=np.float64) -> ShadowingProcess:
        """A process with the TR 38.901 (LOS, NLOS) sigma and decorrelation distance of ``model``.

        RMa LOS uses 4 dB throughout; pass ``sigma_db`` from ``shadow_sigma_db(..., d2d_m, fc_hz=...)`` for 6 dB beyond dBP.
        """
        rec = PATHLOSS_MODELS[choice("shadowing model", model, tuple(PATHLOSS_MODELS))]
        return cls(shape, sigma_db=rec.shadow_sigma_db, d_corr_m=rec.shadow_decorrelation_m, rng=rng, dtype=dtype)

    @property
    def state(self) -> np.ndarray:
        """The unit-variance state z (read-only view), shape ``self.shape``."""
        v = self._z.view()
        v.flags.writeable = False
        return v

    def _blend(self, v, los, what: str, out: np.ndarray | None = None) -> np.ndarray:
        """``v`` or, for a (LOS, NLOS) pair, ``nlos + los * (los_value - nlos)`` (faster than np.where)."""
        if not isinstance(v, tuple):
            if out is None:
                return v
            out[...] = v
            return out
        if los is None:
            raise ValueError(f"los is required: this process has (LOS, NLOS) {what}")
        los_v = los_mask(los)
        out = np.empty(self.shape, dtype=self.dtype) if out is None else out
        if los_v is True or los_v is False:
            out[...] = v[0] if los_v else v[1]
            return out
        np.multiply(los_v, v[0] - v[1], out=out)
        out += v[1]
        return out

    def _coefficients(self, m: np.ndarray, d_corr) -> tuple[np.ndarray, np.ndarray]:
        """R = exp(-moved / d_corr) and sqrt(1 - R^2) on the small per-vehicle shape."""
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.exp(-m / d_corr)  # inf d_corr -> R = 1; 0 d_corr -> R = 0 (if moved > 0)
        r = np.where(m == 0, 1.0, r).astype(self.dtype, copy=False)  # no move: no change
        return r, np.sqrt(np.maximum(1.0 - r * r, 0.0)).astype(self.dtype, copy=False)

    def step(self, moved_m, los=None) -> np.ndarray:
        """Advance by ``moved_m`` (m, scalar or [n_ue], >= 0) and return the shadowing in dB, shape ``self.shape``."""
        m = _per_vehicle("moved_m", moved_m, self.shape, self.dtype)
        if isinstance(self._d_corr, tuple):
            (r_l, q_l), (r_n, q_n) = self._coefficients(m, self._d_corr[0]), self._coefficients(m, self._d_corr[1])
            r = self._blend((r_l, r_n), los, "decorrelation distances", out=self._coef)
            self._z *= r
            q = self._blend((q_l, q_n), los, "decorrelation distances", out=self._coef)
        else:
            r, q = self._coefficients(m, self._d_corr)
            self._z *= r
        noise = standard_normal(self._rng, self._noise, self._uniform)
        noise *= q
        self._z += noise
        return self.value_db(los)

    def value_db(self, los=None) -> np.ndarray:
        """Current shadowing in dB (``sigma * z``), a new array of shape ``self.shape``."""
        sigma = self._blend(self._sigma, los, "sigmas", out=np.empty(self.shape, dtype=self.dtype))
        sigma *= self._z
        return sigma


def standard_normal(rng: np.random.Generator, out: np.ndarray, uniform_buf: np.ndarray | None = None) -> np.ndarray:
    """Fill the contiguous float32 / float64 array ``out`` with N(0, 1) draws from ``rng``.

    Box-Muller on float32 ``rng.random`` draws: about 3.5x faster than ``rng.standard_normal``
    (ziggurat) at 10^6 values, because numpy's float32 log, sqrt, sin and cos are SIMD (its float64
    ones are not). A float64 ``out`` receives the same float32 draws, cast. The 24-bit uniforms
    quantise z finely and bound |z| by sqrt(2 ln 2^24) = 5.77 (the tail beyond has probability
    8e-9): harmless for shadowing innovations. ``uniform_buf`` (float32, size >= 2 ceil(n / 2))
    avoids an allocation.
    """
    if out.dtype != np.float32:
        tmp = standard_normal(rng, np.empty(out.shape, dtype=np.float32), uniform_buf)
        np.copyto(out, tmp)
        return out
    flat = out.reshape(-1)  # a view for a contiguous array
    n = flat.size
    if n == 0:
        return out
    h = (n + 1) // 2
    u = uniform_buf[: 2 * h] if uniform_buf is not None else np.empty(2 * h, dtype=np.float32)
    rng.random(dtype=np.float32, out=u)
    rad, ang = u[:h], u[h:]
    np.subtract(1.0, rad, out=rad)  # (0, 1]
    np.log(rad, out=rad)
    rad *= -2.0
    np.sqrt(rad, out=rad)
    ang *= 2.0 * math.pi
    np.cos(ang, out=flat[:h])
    flat[:h] *= rad
    np.sin(ang[: n - h], out=flat[h:])
    flat[h:] *= rad[: n - h]
    return out


class LosProcess:
    """LOS / NLOS state per link, consistent along each vehicle's trajectory.

    Each link holds a uniform ``U`` in [0, 1); the state is ``LOS = U < p_LOS(d2D)`` with the
    current LOS probability. ``U`` is kept while the vehicle moves and redrawn after a travelled
    distance drawn from Exp(mean ``d_corr_m``) (one renewal clock per vehicle, fresh independent
    values for each of its links). Hence:

    * the marginal state at any point has exactly the TR 38.901 Table 7.4.2-1 probability;
    * ``corr(U(x), U(x + dd)) = exp(-dd / d_corr)``: the same exponential law as the TR's
      spatially consistent LOS state (Table 7.6.3.1-2 correlation distance; UMa/UMi 50 m, RMa 60 m,
      InH 10 m), without a random field;
    * between redraws, the state changes only when ``p_LOS`` crosses ``U`` as the distance
      changes (no flicker from step-size-dependent resampling).

    Args:
        shape: ``(n_ue, ...)``, axis 0 the vehicle axis.
        d_corr_m: correlation distance in m (``inf``: never redraw, ``0``: redraw at every move).
        rng: the component's ``np.random.Generator``.
    """

    def __init__(self, shape, *, d_corr_m: float, rng: np.random.Generator, dtype=np.float64):
        self.shape = tuple(int(n) for n in np.atleast_1d(shape))
        if not self.shape or min(self.shape) < 0:
            raise ValueError(f"shape must be a non-empty tuple of sizes, got {shape!r}")
        if not (d_corr_m >= 0):
            raise ValueError(f"d_corr_m must be >= 0, got {d_corr_m!r}")
        self.d_corr_m = float(d_corr_m)
        self.dtype = np.dtype(dtype)
        self._rng = rng
        self._u = rng.random(self.shape, dtype=self.dtype)
        self._left = self._clock(self.shape[0])

    @classmethod
    def for_model(cls, model: str, shape, *, rng: np.random.Generator, dtype=np.float64) -> LosProcess:
        """A process with the TR 38.901 Table 7.6.3.1-2 LOS correlation distance of ``model``."""
        return cls(shape, d_corr_m=los_decorrelation_distance_m(model), rng=rng, dtype=dtype)

    def _clock(self, n: int) -> np.ndarray:
        if math.isinf(self.d_corr_m):
            return np.full(n, np.inf)
        if self.d_corr_m == 0.0:
            return np.zeros(n)
        return self._rng.exponential(self.d_corr_m, size=n)

    @property
    def uniform(self) -> np.ndarray:
        """The per-link uniforms U (read-only view)."""
        v = self._u.view()
        v.flags.writeable = False
        return v

    def step(self, moved_m, p_los) -> np.ndarray:
        """Advance by ``moved_m`` (m, scalar or [n_ue]) and return the LOS mask for ``p_los`` (bool, ``self.shape``)."""
        m = non_negative("moved_m", np.asarray(moved_m, dtype=np.float64))
        if m.ndim and m.shape != self.shape[:1]:
            raise ValueError(f"moved_m must be a scalar or have shape ({self.shape[0]},), got {m.shape}")
        moving = m > 0
        self._left -= m
        renew = np.flatnonzero((self._left <= 0) & moving)
        if renew.size:
            self._u[renew] = self._rng.random((renew.size,) + self.shape[1:], dtype=self.dtype)
            self._left[renew] = self._clock(renew.size)
        return self.state(p_los)

    def state(self, p_los) -> np.ndarray:
        """LOS mask for the current uniforms and ``p_los`` (broadcastable to ``self.shape``)."""
        return self._u < p_los
