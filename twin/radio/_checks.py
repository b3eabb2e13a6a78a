"""Small argument checks shared by the radio modules (numpy only).

Every check raises ``ValueError`` with a message that names the offending parameter, so a bad
scenario value surfaces as one clear line instead of a NaN deep inside an array.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

SPEED_OF_LIGHT_M_S = 3.0e8  # c as used by TR 38.901 and ns-3 (not 299 792 458)


def choice(name: str, value: object, valid: Iterable[str]) -> str:
    """Return ``value`` lower-cased if it is one of ``valid``; otherwise raise a ValueError listing them."""
    valid = tuple(valid)
    key = value.lower() if isinstance(value, str) else value
    if key not in valid:
        raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(map(str, valid))}")
    return key


def float_array(name: str, value: object) -> np.ndarray:
    """``np.asarray`` that keeps float32 / float64 and turns ints and bools into float64."""
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        return arr
    if arr.dtype.kind in "biu":
        return arr.astype(np.float64)
    raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")


def non_negative(name: str, arr: np.ndarray) -> np.ndarray:
    """Raise if any element is negative or NaN (one pass; cheap next to the physics)."""
    if arr.size and not (np.min(arr) >= 0):  # `not >=` also catches NaN
        raise ValueError(f"{name} must be >= 0 (and not NaN); min is {np.min(arr)!r}")
    return arr


def positive(name: str, arr: np.ndarray) -> np.ndarray:
    """Raise if any element is <= 0 or NaN."""
    if arr.size and not (np.min(arr) > 0):
        raise ValueError(f"{name} must be > 0 (and not NaN); min is {np.min(arr)!r}")
    return arr


def in_range(name: str, arr: np.ndarray, lo: float, hi: float, what: str) -> np.ndarray:
    """Raise if any element lies outside [lo, hi]; ``what`` says whose range it is."""
    if arr.size and not (np.min(arr) >= lo and np.max(arr) <= hi):
        raise ValueError(
            f"{name} outside {what}: must lie in [{lo:g}, {hi:g}], got min {np.min(arr):g}, max {np.max(arr):g}"
        )
    return arr


def los_mask(los: object) -> np.ndarray | bool:
    """Turn ``los`` (bool, bool array or 0/1 array) into a Python bool or a bool ndarray."""
    if isinstance(los, (bool, np.bool_)):
        return bool(los)
    arr = np.asarray(los)
    if arr.ndim == 0:
        return bool(arr)
    if arr.dtype != np.bool_:
        if arr.dtype.kind not in "iuf" or not np.all((arr == 0) | (arr == 1)):
            raise ValueError("los must be a bool or an array of bools (or 0/1)")
        arr = arr.astype(np.bool_)
    return arr
