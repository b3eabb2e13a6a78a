"""The schema's shared checks: value types with their bounds, and the few cross-field rules the sections repeat.

One home per check: a bound stated here (``Decay`` is ``0 <= x < 1``) is the only place that bound is written, and the
implementations (``twin.fl``, ``twin.mobility``) trust the validated values instead of checking them again. Every failure
raises ``ValueError`` with one line, which :mod:`twin.scenario.loading` prefixes with the file, line and field path.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import Field, PositiveInt

# ------------------------------------------------------------------------------------------------- bounded values

Positive = Annotated[float, Field(gt=0)]  # a learning rate, a scale, a shape parameter
NonNegative = Annotated[float, Field(ge=0)]
UnitInterval = Annotated[float, Field(ge=0, lt=1)]  # 0 <= x < 1: a held-out share that may be zero
Decay = UnitInterval  # momentum, Adam's betas
OpenFraction = Annotated[float, Field(gt=0, lt=1)]  # a held-out share of the data: 0 < x < 1
Fraction = Annotated[float, Field(gt=0, le=1)]  # a kept share or an accuracy: 0 < x <= 1
Name = Annotated[str, Field(min_length=1)]
Count = PositiveInt
Weighting = Literal["num_examples", "uniform"]  # how client updates are weighted in the average

# ------------------------------------------------------------------------------------------------ cross-field rules


def unique(names: Iterable[str], what: str) -> None:
    """No name twice: ``duplicate node names: a, b``."""
    names = list(names)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"duplicate {what}: {', '.join(duplicates)}")


def at_most_one(model: Any, *fields: str) -> None:
    """At most one of ``fields`` is set (not None): ``give one of count, fraction, ids (got count, ids)``."""
    given = [f for f in fields if getattr(model, f) is not None]
    if len(given) > 1:
        raise ValueError(f"give one of {', '.join(fields)} (got {', '.join(given)})")


def not_above(model: Any, low: str, high: str, *, verb: str = "is above", hint: str = "") -> None:
    """``model.low <= model.high`` when both are set: ``low (3.0) is above high (2.0)[; hint]``."""
    a, b = getattr(model, low), getattr(model, high)
    if a is not None and b is not None and a > b:
        raise ValueError(f"{low} ({a}) {verb} {high} ({b})" + (f"; {hint}" if hint else ""))


def same_length(model: Any, a: str, b: str, hint: str) -> None:
    """Two lists of equal length: ``level_links has 1 entries, fanout has 2; give one link spec per fanout level``."""
    la, lb = len(getattr(model, a)), len(getattr(model, b))
    if la != lb:
        raise ValueError(f"{a} has {la} entries, {b} has {lb}; {hint}")


def require(condition: bool, message: str) -> None:
    """A rule of one section that the types above cannot state."""
    if not condition:
        raise ValueError(message)


def no_path_separator(value: str) -> str:
    require(not any(ch in value for ch in "/\\\0"), "name may not contain path separators")
    return value
