"""Reduction schedules: how many clients take part in each federated round.

Public entry point: :func:`clients_per_round`. It returns an ``int64`` array of length ``rounds`` whose entry ``r - 1`` is the
number of clients selected in round ``r``.

General forms (``preset=None``). With ``N0 = start``, ``N1 = end``, horizon ``H`` (the round at which the end is reached,
default ``rounds``), ``x = r - 1`` (round offset) and ``X = H - 1``, every form gives ``n(0) = N0`` and ``n(X) = N1``; rounds
after the horizon use ``N1``. Values are truncated like the study (``floor``, with a 1e-9 guard so an exact ``N1`` computed
in floating point stays ``N1``) and clipped to ``[N1, N0]``. All forms are monotone non-increasing.

- constant:    ``n(x) = N0`` (``end`` and ``horizon`` are not used)
- linear:      ``n(x) = N0 - (N0 - N1) * x / X``
- exponential: ``n(x) = N0 - (N0 - N1) * (exp(x / tau) - 1) / (exp(X / tau) - 1)``; ``tau`` in rounds, default
  ``10.3 * X / 60`` (the study's e-folding time, scaled to the horizon). Slow at first, steep near the horizon.
- sigmoid:     ``n(x) = N0 - (N0 - N1) * (s(x) - s(0)) / (s(X) - s(0))`` with ``s(x) = 1 / (1 + exp(-steepness * (x -
  midpoint)))``; defaults ``steepness = 0.26 * 60 / X`` (per round) and ``midpoint = X / 3`` (the study's 0.26 and 20 at X = 60).
- reciprocal:  ``n(x) = N1 + (N0 - N1) * (min(1, knee / x) - knee / X) / (1 - knee / X)`` (``min(1, knee / 0) = 1``);
  ``knee`` in rounds, ``0 < knee < X``, default ``(50 / 304) * X / 60`` (the study's 0.164 = 50 / 304 at X = 60): the curve
  falls like ``1 / x`` from ``N0`` once ``x`` passes the knee.
- list:        explicit counts (``counts=[...]``), the last value repeated when shorter than ``rounds``.

Seed preset (``preset="seed"``): the study's exact integers (docs/fl-algorithms.md, docs/seed_study.md). A head of
61 values for ``x = 0..60`` truncated with ``int()``, rounds 62 onwards use 34 (constant: 338 throughout):

- exponential ``int(338 - exp((x - 1) / 10.3))``, linear ``int(338 - 5.065 x)``,
  sigmoid ``int(338 - 304 / (1 + exp(-0.26 (x - 20))))``, reciprocal ``int(34 + 50 / x)`` for ``x in [0.164, 1, 2, ..., 60]``.

The preset is not clipped: exponential keeps its value 30 at round 61 (below the end, 34), as the study did. It fixes
start, end, horizon and shape (the schema rejects them beside ``preset: seed``).

Parameters are checked once, by the schema (``fl.schedule`` in ``twin.scenario.fl``); :func:`resolved_shape` holds the
defaults computed from the horizon and the checks that need them.

How close the general form with the seed parameters (start 338, end 34, horizon 61, default shapes) is to the preset, as
max |general - preset| over 150 rounds (checked by tests/fl/test_schedules.py): linear 1, sigmoid 2, reciprocal 1,
exponential 4 (3 before round 61; at round 61 the general form ends at 34 where the preset undershoots to 30).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

KINDS = ("constant", "exponential", "linear", "sigmoid", "reciprocal", "list")  # the keys of SCHEDULES
PRESETS = ("seed",)

SEED_START = 338
SEED_END = 34
SEED_HORIZON = 61  # head x = 0..60 fills rounds 1..61

_GUARD = 1e-9


def seed_head(kind: str) -> np.ndarray:
    """The study's 61 head values (x = 0..60) for ``kind``, truncated with ``int()`` exactly as the study did."""
    xs = range(SEED_HORIZON)
    if kind == "constant":
        vals = [SEED_START] * SEED_HORIZON
    elif kind == "exponential":
        vals = [int(338 - math.exp((x - 1) / 10.3)) for x in xs]
    elif kind == "linear":
        vals = [int(338 - 5.065 * x) for x in xs]
    elif kind == "sigmoid":
        vals = [int(338 - 304 / (1 + math.exp(-0.26 * (x - 20)))) for x in xs]
    elif kind == "reciprocal":
        vals = [int(34 + 50 / x) for x in [0.164, *range(1, SEED_HORIZON)]]
    else:
        raise ValueError(f"schedule kind: preset 'seed' exists for {KINDS[:-1]}; got {kind!r}")
    return np.asarray(vals, dtype=np.int64)


def _seed_preset(kind: str, rounds: int) -> np.ndarray:
    head = seed_head(kind)
    tail_value = SEED_START if kind == "constant" else SEED_END
    out = np.full(rounds, tail_value, dtype=np.int64)
    n = min(rounds, head.size)
    out[:n] = head[:n]
    return out


def linear_curve(x: np.ndarray, start: float, end: float, x_end: float) -> np.ndarray:
    """Linear form on round offsets ``x`` (float array, 0 <= x <= x_end); returns floats."""
    return start - (start - end) * x / x_end


def exponential_curve(x: np.ndarray, start: float, end: float, x_end: float, tau: float) -> np.ndarray:
    """Exponential form: ``start - (start - end) * expm1(x / tau) / expm1(x_end / tau)``."""
    # expm1 ratio computed as exp((x - x_end)/tau) * expm1(x/tau)/(1 - exp(-x_end/tau)) would avoid overflow for tiny tau;
    # plain form is fine for tau >= x_end / 700 and is checked below.
    return start - (start - end) * np.expm1(x / tau) / np.expm1(x_end / tau)


def sigmoid_curve(
    x: np.ndarray, start: float, end: float, x_end: float, steepness: float, midpoint: float
) -> np.ndarray:
    """Logistic form rescaled so that it passes exactly through ``(0, start)`` and ``(x_end, end)``."""

    def s(v):
        return 0.5 * (1.0 + np.tanh(0.5 * steepness * (np.asarray(v, dtype=np.float64) - midpoint)))  # stable logistic

    s0, s1 = s(0.0), s(x_end)
    return start - (start - end) * (s(x) - s0) / (s1 - s0)


def reciprocal_curve(x: np.ndarray, start: float, end: float, x_end: float, knee: float) -> np.ndarray:
    """Reciprocal form: ``end + (start - end) * (min(1, knee / x) - knee / x_end) / (1 - knee / x_end)``."""
    with np.errstate(divide="ignore"):
        g = np.minimum(1.0, np.where(x > 0, knee / np.where(x > 0, x, 1.0), np.inf))
    g_end = knee / x_end
    return end + (start - end) * (g - g_end) / (1.0 - g_end)


def _list_schedule(rounds: int, counts: Sequence[int]) -> np.ndarray:
    vals = [int(c) for c in counts]
    out = np.full(rounds, vals[-1], dtype=np.int64)
    n = min(rounds, len(vals))
    out[:n] = vals[:n]
    return out


def resolved_shape(kind: str, rounds: int, *, start: int | None = None, end: int | None = None,
                   horizon: int | None = None, preset: str | None = None, **shape) -> dict:
    """The parameters schedule ``kind`` runs with over ``rounds`` rounds: ``start``, ``end``, ``horizon`` and the shape
    (``tau``; ``steepness``, ``midpoint``; ``knee``), the defaults computed from the horizon filled in. The one home of
    those defaults; what scenario.resolved.yaml shows under ``derived:``.

    Parameters are those of the schema (``twin.scenario.fl``), which checks them; the checks left here need the
    computed defaults (a knee beyond the horizon, an overflowing tau, a flat sigmoid) and raise ValueError naming
    the parameter."""
    if kind == "list":
        return {}
    if preset is not None:
        out = {"start": SEED_START, "end": None if kind == "constant" else SEED_END}
        return {**out, "horizon": None if kind == "constant" else SEED_HORIZON}
    if kind == "constant":
        return {"start": int(start)}
    horizon = max(rounds, 2) if horizon is None else int(horizon)
    x_end = float(horizon - 1)
    out: dict = {"start": int(start), "end": int(end), "horizon": horizon}
    if kind == "exponential":
        tau = 10.3 * x_end / 60.0 if shape.get("tau") is None else float(shape["tau"])
        if x_end / tau > 700:
            raise ValueError(f"tau must be >= horizon/700 ({x_end / 700:.4g}) to avoid overflow; got {tau!r}")
        out["tau"] = tau
    elif kind == "sigmoid":
        steep = 0.26 * 60.0 / x_end if shape.get("steepness") is None else float(shape["steepness"])
        mid = x_end / 3.0 if shape.get("midpoint") is None else float(shape["midpoint"])
        if abs(np.tanh(0.5 * steep * (x_end - mid)) - np.tanh(-0.5 * steep * mid)) < 1e-12:
            raise ValueError(f"steepness ({steep}) and midpoint ({mid}) give a flat sigmoid over the horizon")
        out.update(steepness=steep, midpoint=mid)
    elif kind == "reciprocal":
        knee = (50.0 / 304.0) * x_end / 60.0 if shape.get("knee") is None else float(shape["knee"])
        if knee >= x_end:
            raise ValueError(f"knee must be < horizon - 1 ({x_end:g}); got {knee!r}")
        out["knee"] = knee
    return out


def clients_per_round(
    kind: str,
    rounds: int,
    start: int | None = None,
    end: int | None = None,
    *,
    preset: str | None = None,
    horizon: int | None = None,
    **shape,
) -> np.ndarray:
    """Clients selected in each round, as an int64 array of length ``rounds`` (entry ``r - 1`` is round ``r``).

    kind: one of :data:`SCHEDULES`. ``start`` (N0) >= ``end`` (N1) >= 1.
    preset: None (the general form, see the module docstring) or "seed" (the study's exact integers).
    horizon: round at which ``end`` is reached (general forms; default ``rounds``, at least 2).
    shape: tau (exponential), steepness and midpoint (sigmoid), knee (reciprocal), counts (list).
    The parameters are checked by the schema (``fl.schedule``); see :func:`resolved_shape` for the rest.
    """
    if kind not in SCHEDULES:
        raise ValueError(f"schedule kind must be one of {', '.join(SCHEDULES)}; got {kind!r}")
    if preset is not None:
        return _seed_preset(kind, rounds)
    if kind == "list":
        return _list_schedule(rounds, shape["counts"])
    p = resolved_shape(kind, rounds, start=start, end=end, horizon=horizon, **shape)
    if kind == "constant":
        return np.full(rounds, p["start"], dtype=np.int64)
    start, end, horizon = p["start"], p["end"], p["horizon"]
    x_end = float(horizon - 1)
    n_head = min(rounds, horizon)
    x = np.arange(n_head, dtype=np.float64)
    if kind == "linear":
        vals = linear_curve(x, start, end, x_end)
    elif kind == "exponential":
        vals = exponential_curve(x, start, end, x_end, p["tau"])
    elif kind == "sigmoid":
        vals = sigmoid_curve(x, start, end, x_end, p["steepness"], p["midpoint"])
    else:  # reciprocal
        vals = reciprocal_curve(x, start, end, x_end, p["knee"])
    head = np.clip(np.floor(vals + _GUARD), end, start).astype(np.int64)
    out = np.full(rounds, end, dtype=np.int64)
    out[:n_head] = head
    return out


# The registry: each kind's parameters with their defaults (None: computed from the horizon, see resolved_shape),
# equal to the fields of its schema class (tests/test_registries.py). ``rounds`` comes from ``fl.rounds``.


def constant(rounds: int, *, start: int | None = None, preset: str | None = None) -> np.ndarray:
    return clients_per_round("constant", rounds, start, preset=preset)


def linear(rounds: int, *, start: int | None = None, end: int | None = None, horizon: int | None = None,
           preset: str | None = None) -> np.ndarray:
    return clients_per_round("linear", rounds, start, end, horizon=horizon, preset=preset)


def exponential(rounds: int, *, start: int | None = None, end: int | None = None, horizon: int | None = None,
                preset: str | None = None, tau: float | None = None) -> np.ndarray:
    return clients_per_round("exponential", rounds, start, end, horizon=horizon, preset=preset, tau=tau)


def sigmoid(rounds: int, *, start: int | None = None, end: int | None = None, horizon: int | None = None,
            preset: str | None = None, steepness: float | None = None, midpoint: float | None = None) -> np.ndarray:
    return clients_per_round("sigmoid", rounds, start, end, horizon=horizon, preset=preset, steepness=steepness,
                             midpoint=midpoint)


def reciprocal(rounds: int, *, start: int | None = None, end: int | None = None, horizon: int | None = None,
               preset: str | None = None, knee: float | None = None) -> np.ndarray:
    return clients_per_round("reciprocal", rounds, start, end, horizon=horizon, preset=preset, knee=knee)


def explicit(rounds: int, *, counts: Sequence[int]) -> np.ndarray:
    return clients_per_round("list", rounds, counts=counts)


SCHEDULES = {"constant": constant, "exponential": exponential, "linear": linear, "sigmoid": sigmoid,
             "reciprocal": reciprocal, "list": explicit}


def pushed_updates(counts: np.ndarray, stop_round: int) -> int:
    """The study's "pushed model updates": the sum of clients per round over rounds 1..stop_round."""
    stop_round = int(stop_round)
    if stop_round < 0:
        raise ValueError(f"stop_round must be >= 0; got {stop_round}")
    if stop_round > len(counts):
        raise ValueError(f"stop_round ({stop_round}) must be <= the number of rounds in the schedule ({len(counts)})")
    return int(np.asarray(counts[:stop_round], dtype=np.int64).sum())
