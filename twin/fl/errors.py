"""Errors of ``twin.fl``: every bad input raises one of these with a single line naming the field or file and the fix.

Callers (the CLI) catch ``(ValueError, FileNotFoundError)`` and exit 2; the classes below subclass those.
"""

from __future__ import annotations

import numbers


class FLConfigError(ValueError):
    """A bad argument: unknown kind, out-of-range number, inconsistent options."""


class DataFormatError(FLConfigError):
    """A data file exists but its content is malformed (wrong magic number, mismatched counts ...)."""


class DataFileNotFoundError(FileNotFoundError):
    """A data file or folder is missing; the message says how to get it."""

    def __str__(self) -> str:  # FileNotFoundError's default str() adds errno noise when given several args
        return str(self.args[0]) if self.args else ""


def require(condition: bool, message: str) -> None:
    """Raise :class:`FLConfigError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise FLConfigError(message)


def check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise FLConfigError(f"{name} must be a positive integer, got {value!r}")
    value = int(value)
    if value <= 0:
        raise FLConfigError(f"{name} must be a positive integer, got {value}")
    return value


def check_fraction(name: str, value: float, *, allow_zero: bool = True) -> float:
    value = float(value)
    low_ok = value >= 0.0 if allow_zero else value > 0.0
    if not (low_ok and value < 1.0):
        bound = "[0, 1)" if allow_zero else "(0, 1)"
        raise FLConfigError(f"{name} must be in {bound}, got {value}")
    return value
