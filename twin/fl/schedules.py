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

Seed preset (``preset="seed"``): the study's exact integers (docs/fl-algorithms.md, shared/reference/seed_study.md). A head of
61 values for ``x = 0..60`` truncated with ``int()``, rounds 62 onwards use 34 (constant: 338 throughout):

- exponential ``int(338 - exp((x - 1) / 10.3))``, linear ``int(338 - 5.065 x)``,
  sigmoid ``int(338 - 304 / (1 + exp(-0.26 (x - 20))))``, reciprocal ``int(34 + 50 / x)`` for ``x in [0.164, 1, 2, ..., 60]``.

The preset is not clipped: exponential keeps its value 30 at round 61 (below the end, 34), as the study did. It needs
``start = 338`` and ``end = 34`` (or ``None`` for both) and accepts no shape parameters and no horizon other than 61.

How close the general form with the seed parameters (start 338, end 34, horizon 61, default shapes) is to the preset, as
max |general - preset| over 150 rounds (checked by tests/fl/test_schedules.py): linear 1, sigmoid 2, reciprocal 1,
exponential 4 (3 before round 61; at round 61 the general form ends at 34 where the preset undershoots to 30).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

KINDS = ("constant", "exponential", "linear", "sigmoid", "reciprocal", "list")
PRESETS = ("seed",)

SEED_START = 338
SEED_END = 34
SEED_HORIZON = 61  # head x = 0..60 fills rounds 1..61

# shape parameters each general form accepts (name -> meaning); defaults are computed from the horizon
SHAPE_PARAMS: dict[str, tuple[str, ...]] = {
    "constant": (),
    "linear": (),
    "exponential": ("tau",),
    "sigmoid": ("steepness", "midpoint"),
    "reciprocal": ("knee",),
    "list": ("counts",),
}

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


def _shape_value(shape: dict, name: str, default: float, *, positive: bool = True) -> float:
    value = shape.get(name)
    if value is None:
        return default
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number; got {value!r}") from None
    if not math.isfinite(value) or (positive and value <= 0):
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}")
    return value


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


def _as_count(name: str, value, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def _list_schedule(rounds: int, counts) -> np.ndarray:
    if counts is None:
        raise ValueError("counts: schedule kind 'list' needs counts=[n1, n2, ...]")
    if isinstance(counts, (str, bytes)) or not isinstance(counts, (Sequence, np.ndarray)):
        raise ValueError(f"counts must be a list of integers; got {counts!r}")
    if len(counts) == 0:
        raise ValueError("counts must hold at least one value; got an empty list")
    vals = [_as_count(f"counts[{i}]", c, minimum=1) for i, c in enumerate(counts)]
    out = np.full(rounds, vals[-1], dtype=np.int64)
    n = min(rounds, len(vals))
    out[:n] = vals[:n]
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

    kind: constant | exponential | linear | sigmoid | reciprocal | list. ``start`` (N0) >= ``end`` (N1) >= 1.
    preset: None (the general form, see the module docstring) or "seed" (the study's exact integers).
    horizon: round at which ``end`` is reached (general forms; default ``rounds``, at least 2).
    shape: tau (exponential), steepness and midpoint (sigmoid), knee (reciprocal), counts (list).
    Raises ValueError with one line naming the bad parameter.
    """
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValueError(f"schedule kind must be one of {', '.join(KINDS)}; got {kind!r}")
    rounds = _as_count("rounds", rounds, minimum=1)
    allowed = SHAPE_PARAMS[kind]
    for name in shape:
        if name not in allowed:
            hint = f"it takes {', '.join(allowed)}" if allowed else "it takes no shape parameters"
            raise ValueError(f"{name}: unknown shape parameter for schedule {kind!r} ({hint})")

    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)} or None; got {preset!r}")
        if kind == "list":
            raise ValueError("preset: schedule kind 'list' has no preset")
        if shape:
            raise ValueError(f"{next(iter(shape))}: preset 'seed' fixes the shape; remove the shape parameter")
        if start is not None and start != SEED_START:
            raise ValueError(f"start: preset 'seed' is the study's {SEED_START} -> {SEED_END}; got start={start!r}")
        if end is not None and end != SEED_END:
            raise ValueError(f"end: preset 'seed' is the study's {SEED_START} -> {SEED_END}; got end={end!r}")
        if horizon is not None and horizon != SEED_HORIZON:
            raise ValueError(f"horizon: preset 'seed' reaches its end at round {SEED_HORIZON}; got horizon={horizon!r}")
        return _seed_preset(kind, rounds)

    if kind == "list":
        return _list_schedule(rounds, shape.get("counts"))

    if start is None:
        raise ValueError(f"start: schedule {kind!r} needs start (clients in round 1)")
    start = _as_count("start", start, minimum=1)
    if kind == "constant":
        return np.full(rounds, start, dtype=np.int64)
    if end is None:
        raise ValueError(f"end: schedule {kind!r} needs end (clients from the horizon on)")
    end = _as_count("end", end, minimum=1)
    if start < end:
        raise ValueError(f"start ({start}) must be >= end ({end}) for a reduction schedule {kind!r}")
    horizon = max(rounds, 2) if horizon is None else _as_count("horizon", horizon, minimum=2)

    x_end = float(horizon - 1)
    n_head = min(rounds, horizon)
    x = np.arange(n_head, dtype=np.float64)
    if kind == "linear":
        vals = linear_curve(x, start, end, x_end)
    elif kind == "exponential":
        tau = _shape_value(shape, "tau", 10.3 * x_end / 60.0)
        if x_end / tau > 700:
            raise ValueError(f"tau must be >= horizon/700 ({x_end / 700:.4g}) to avoid overflow; got {tau!r}")
        vals = exponential_curve(x, start, end, x_end, tau)
    elif kind == "sigmoid":
        steep = _shape_value(shape, "steepness", 0.26 * 60.0 / x_end)
        mid = _shape_value(shape, "midpoint", x_end / 3.0, positive=False)
        if abs(np.tanh(0.5 * steep * (x_end - mid)) - np.tanh(-0.5 * steep * mid)) < 1e-12:
            raise ValueError(f"steepness ({steep}) and midpoint ({mid}) give a flat sigmoid over the horizon")
        vals = sigmoid_curve(x, start, end, x_end, steep, mid)
    else:  # reciprocal
        knee = _shape_value(shape, "knee", (50.0 / 304.0) * x_end / 60.0)
        if knee >= x_end:
            raise ValueError(f"knee must be < horizon - 1 ({x_end:g}); got {knee!r}")
        vals = reciprocal_curve(x, start, end, x_end, knee)

    head = np.clip(np.floor(vals + _GUARD), end, start).astype(np.int64)
    out = np.full(rounds, end, dtype=np.int64)
    out[:n_head] = head
    return out


def pushed_updates(counts: np.ndarray, stop_round: int) -> int:
    """The study's "pushed model updates": the sum of clients per round over rounds 1..stop_round."""
    stop_round = _as_count("stop_round", stop_round, minimum=0)
    if stop_round > len(counts):
        raise ValueError(f"stop_round ({stop_round}) must be <= the number of rounds in the schedule ({len(counts)})")
    return int(np.asarray(counts[:stop_round], dtype=np.int64).sum())
