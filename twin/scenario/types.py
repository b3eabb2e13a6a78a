"""Annotated field types for the schema: SI floats that also accept human strings ("100 Mbit/s", "10 ms", "5 MB")."""

from __future__ import annotations

import functools
import typing
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from twin.scenario.units import parse_quantity


def _quantity(dimension: str):
    return BeforeValidator(lambda value: parse_quantity(value, dimension))


class Section(BaseModel):
    """Base of every schema model: unknown keys are errors, values are validated on assignment too, NaN and infinity
    are refused wherever a number is expected, and a boolean is never a number (``rounds: true`` is an error)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_bool_as_number(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, value in data.items():
                if isinstance(key, str) and _has_bool(value) and not _takes_bool(cls, key):
                    # FIELD_MARK: the loader's error formatter moves the key into the field path
                    raise ValueError(f"{FIELD_MARK}{key}{FIELD_MARK}expected a number or text, got a boolean "
                                     f"({str(value).lower()})")
        return data


FIELD_MARK = "\x1f"  # brackets a field name at the start of a section validator's message

def _has_bool(value: Any) -> bool:
    return isinstance(value, bool) or (isinstance(value, (list, tuple)) and any(isinstance(v, bool) for v in value))


@functools.cache
def _takes_bool(cls: type, name: str) -> bool:
    field = cls.model_fields.get(name)
    return field is None or _mentions_bool(field.annotation)  # an unknown key is reported as such later


def _mentions_bool(annotation: Any) -> bool:
    if annotation is bool or annotation is Any:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True  # a section validates its own fields
    return any(_mentions_bool(a) for a in typing.get_args(annotation) if not isinstance(a, (str, int, float)))


# Strictly positive / non-negative SI quantities.
BitRate = Annotated[float, _quantity("rate"), Field(gt=0, description="bit/s; accepts '100 Mbit/s'")]
Seconds = Annotated[float, _quantity("time"), Field(ge=0, description="s; accepts '10 ms'")]
PositiveSeconds = Annotated[float, _quantity("time"), Field(gt=0, description="s; accepts '10 ms'")]
Bytes = Annotated[float, _quantity("size"), Field(gt=0, description="bytes; accepts '5 MB'")]
FlopRate = Annotated[float, _quantity("flops"), Field(gt=0, description="FLOP/s; accepts '10 GFLOP/s'")]
Flops = Annotated[float, _quantity("work"), Field(ge=0, description="floating-point operations")]
Metres = Annotated[float, _quantity("distance"), Field(gt=0, description="m; accepts '1.5 km'")]
NonNegativeMetres = Annotated[float, _quantity("distance"), Field(ge=0, description="m; accepts '1.5 km'")]
Speed = Annotated[float, Field(gt=0, description="m/s")]
