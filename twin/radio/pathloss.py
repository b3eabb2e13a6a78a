"""Path loss and LOS probability (3GPP TR 38.901 Tables 7.4.1-1 and 7.4.2-1, plus DRIVE's models).

Every path-loss model is one :class:`~twin.radio.pathloss_model.PathLossModel` record in the registry
``PATHLOSS_MODELS`` (name, frequency validity, default heights, parameter table, formula, clause, shadow fading):
the TR 38.901 ones in ``pathloss_38901.py``, the others in ``pathloss_empirical.py``. This module registers the
``MODELS`` of every ``pathloss_<family>.py`` module of the package when it is imported, and :func:`pathloss_db`
checks the inputs against the record and evaluates its formula.

All functions are vectorised: ``d2d_m`` may be a scalar or an array of any shape (typically
``[n_ue, n_cell]``); ``los``, ``h_bs_m``, ``h_ut_m`` and ``fc_hz`` broadcast against it like numpy.
A float32 ``d2d_m`` with scalar heights and frequency gives a float32 result (used by the
10,000 x 100 per-step update); anything else computes in float64.

Validity ranges
---------------
* Carrier frequency outside a model's range raises ``ValueError`` (UMa / UMi / InH 0.5-100 GHz,
  RMa 0.5-30 GHz, DRIVE's two empirical models 0.15-6 GHz, free space any fc > 0).
* Distances are not clipped to the TR's 10 m - 5 km (10 km RMa) ranges: the formulas are
  extrapolated, as ns-3 does (its test vectors include InH at 1 m and RMa LOS at 10 km). Only the
  3D distance is floored at 1 m so that ``log10`` stays finite at the foot of a mast.
* UMa uses a deterministic effective environment height hE = 1 m. TR 38.901 Note 1 draws hE at
  random for hUT >= 13 m (probability 1/(1+C(d2D, hUT))); we keep hE = 1 m for every hUT, which is
  exact for vehicles (hUT < 13 m) and makes the function deterministic.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import numpy as np

from ._checks import choice, float_array, in_range, los_mask, non_negative, positive
from .pathloss_model import (
    DEFAULT_H_UT_M,
    PATHLOSS_MODELS,
    PathLossModel,
    register_pathloss_model,
    scalar_or_array,
)

__all__ = [
    "DEFAULT_H_UT_M",
    "LOS_PROBABILITY_MODELS",
    "PATHLOSS_MODELS",
    "PathLossModel",
    "los_probability",
    "pathloss_db",
    "pathloss_model",
    "register_pathloss_model",
]

LOS_PROBABILITY_MODELS = ("uma", "umi", "rma", "inh", "freespace")


def _discover() -> None:
    """Register the ``MODELS`` of every module ``twin/radio/pathloss_<family>.py`` (in name order: 38901 first)."""
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name.startswith("pathloss_"):
            module = importlib.import_module(f"{__package__}.{info.name}")
            for model in getattr(module, "MODELS", ()):
                register_pathloss_model(model)


_discover()


def pathloss_model(name: str) -> PathLossModel:
    """The registered record of path-loss model ``name`` (ValueError listing the valid names otherwise)."""
    return PATHLOSS_MODELS[choice("path-loss model", name, tuple(PATHLOSS_MODELS))]


def pathloss_db(
    model: str,
    d2d_m,
    fc_hz,
    *,
    los=None,
    h_bs_m=None,
    h_ut_m=None,
    **params,
) -> np.ndarray:
    """Path loss in dB (without shadow fading) for a registered model (``PATHLOSS_MODELS``).

    Args:
        model: ``uma``, ``umi``, ``rma``, ``inh`` (TR 38.901 Table 7.4.1-1), ``freespace`` (Friis),
            ``tr36873-uma`` or ``cost231-hata`` (DRIVE's LTE LOS / NLOS models), or any registered model.
        d2d_m: 2D (ground) distance in metres, scalar or array of any shape, >= 0.
        fc_hz: carrier frequency in Hz (scalar or broadcastable array).
        los: bool or bool array broadcastable to ``d2d_m``. Required for the 38.901 models
            (NLOS = max(PL_LOS, PL_NLOS') per the TR); ``freespace`` adds ``nlos_loss_db`` where
            False (default True); ignored by the two DRIVE models, which are single formulas.
        h_bs_m, h_ut_m: antenna heights in m; default per model (UMa 25, UMi 10, RMa 35, InH 3,
            COST-231 40; UT 1.5 m). The 3D distance is ``sqrt(d2d^2 + (h_bs - h_ut)^2)``, floored at 1 m.
        **params: model extras (the record's parameter table): RMa ``street_width_m`` (W, default 20) and
            ``building_height_m`` (h, default 5); freespace ``nlos_loss_db`` (0; DRIVE uses 20); tr36873-uma
            ``dhb_m`` (20); cost231-hata ``cm_db`` (3).

    Returns:
        Path loss in dB, shape ``broadcast(d2d_m, los, heights, fc_hz)``.

    Raises:
        ValueError: unknown model or parameter, fc outside the model's range, negative distance,
            non-positive height, missing ``los`` for a 38.901 model.
    """
    rec = pathloss_model(model)
    model = rec.name
    allowed = rec.params
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        valid = ", ".join(allowed) or "none"
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)} for path-loss model {model!r}; valid: {valid}")
    kwargs = {**allowed, **params}

    d = non_negative("d2d_m", float_array("d2d_m", d2d_m))
    fc = scalar_or_array("fc_hz", fc_hz)
    lo, hi = rec.fc_range_hz
    fc_arr = np.asarray(fc)
    positive("fc_hz", fc_arr)
    if not (np.min(fc_arr) >= lo and np.max(fc_arr) <= hi):
        raise ValueError(
            f"fc_hz={fc_hz!r} outside the validity range of path-loss model {model!r}: {lo / 1e9:g}-{hi / 1e9:g} GHz"
        )
    h_bs = scalar_or_array("h_bs_m", rec.h_bs_m if h_bs_m is None else h_bs_m)
    h_ut = scalar_or_array("h_ut_m", rec.h_ut_m if h_ut_m is None else h_ut_m)
    positive("h_bs_m", np.asarray(h_bs))
    positive("h_ut_m", np.asarray(h_ut))
    if rec.min_h_ut_m > 0 and not np.all(np.asarray(h_ut) > rec.min_h_ut_m):
        raise ValueError(f"h_ut_m must be > hE = {rec.min_h_ut_m:g} m for model {model!r} (breakpoint distance of "
                         f"{rec.clause})")

    if los is None:
        if rec.los_required:
            raise ValueError(f"los is required for path-loss model {model!r} (a bool or a bool array)")
        los_v: np.ndarray | bool = True
    else:
        los_v = los_mask(los)

    out_shape = np.broadcast_shapes(d.shape, np.shape(los_v), np.shape(fc), np.shape(h_bs), np.shape(h_ut))
    arrays = [x for x in (fc, h_bs, h_ut) if isinstance(x, np.ndarray)]
    if arrays:  # array-valued parameters: give d their full shape and dtype so in-place steps broadcast
        param_shape = np.broadcast_shapes(d.shape, *(x.shape for x in arrays))
        d = np.broadcast_to(d, param_shape).astype(np.result_type(d, *arrays))
    # 0-d inputs would turn into numpy scalars on the first operation; compute on shape (1,) instead
    out = rec.formula(d.reshape(1) if d.ndim == 0 else d, fc, los_v, h_bs, h_ut, **kwargs)
    return np.asarray(out).reshape(out_shape)


# --------------------------------------------------------------------------------------------
# LOS probability, TR 38.901 Table 7.4.2-1
# --------------------------------------------------------------------------------------------


def los_probability(model: str, d2d_m, h_ut_m=1.5) -> np.ndarray:
    """LOS probability (TR 38.901 Table 7.4.2-1), same shape as ``d2d_m``.

    * ``umi``: 1 for d <= 18 m, else ``18/d + exp(-d/36) (1 - 18/d)``.
    * ``uma``: 1 for d <= 18 m, else ``[18/d + exp(-d/63)(1 - 18/d)] [1 + C'(hUT) 5/4 (d/100)^3 exp(-d/150)]``,
      ``C' = 0`` for hUT <= 13 m, ``((hUT - 13)/10)^1.5`` for 13 < hUT <= 23 m.
    * ``rma``: 1 for d <= 10 m, else ``exp(-(d - 10)/1000)``.
    * ``inh`` (indoor mixed office): 1 for d <= 1.2 m, ``exp(-(d - 1.2)/4.7)`` for 1.2 < d < 6.5 m,
      ``0.32 exp(-(d - 6.5)/32.6)`` beyond.
    * ``freespace``: 1 everywhere.

    Args:
        d2d_m: 2D distance (m), >= 0, any shape. float32 in gives float32 out.
        h_ut_m: UT height (m), scalar or broadcastable; used by UMa only (must be <= 23 m there).
    """
    model = choice("LOS-probability model", model, LOS_PROBABILITY_MODELS)
    d = non_negative("d2d_m", float_array("d2d_m", d2d_m))
    out_shape = np.broadcast_shapes(d.shape, np.shape(h_ut_m) if model == "uma" else ())
    return _los_probability(model, d.reshape(1) if d.ndim == 0 else d, h_ut_m).reshape(out_shape)


def _los_probability(model: str, d: np.ndarray, h_ut_m) -> np.ndarray:
    if model == "freespace":
        return np.ones_like(d)
    if model == "rma":
        p = np.exp(-(d - 10.0) / 1000.0)
        return np.minimum(p, 1.0, out=p)  # d <= 10 m gives exp(>= 0) >= 1: clip to 1
    if model == "inh":
        p = np.where(d < 6.5, np.exp(-(d - 1.2) / 4.7), 0.32 * np.exp(-(d - 6.5) / 32.6))
        return np.where(d <= 1.2, np.ones_like(p), p)

    d_near = 18.0
    d_break = 63.0 if model == "uma" else 36.0
    # mask-free: inv = 18 / max(d, 18) is 1 inside 18 m, where exp(..)(1 - inv) + inv = 1 exactly
    inv = np.maximum(d, d_near)
    np.divide(d_near, inv, out=inv)
    p = d * (-1.0 / d_break)
    np.exp(p, out=p)
    one_minus = np.subtract(1.0, inv, out=np.empty_like(inv))
    p *= one_minus
    p += inv
    if model == "uma":
        h = scalar_or_array("h_ut_m", h_ut_m)
        in_range("h_ut_m", np.asarray(h), 0.0, 23.0, "UMa LOS probability (TR 38.901 Table 7.4.2-1, hUT <= 23 m)")
        c = ((np.maximum(np.asarray(h, dtype=np.float64), 13.0) - 13.0) / 10.0) ** 1.5  # C'(hUT), 0 up to 13 m
        if np.any(c > 0):
            corr = 1.0 + c * 1.25 * (d / 100.0) ** 3 * np.exp(-d / 150.0)
            p = np.where(d <= d_near, 1.0, p * corr).astype(d.dtype, copy=False)
    return p
