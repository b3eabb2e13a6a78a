"""Annotated field types for the schema: SI floats that also accept human strings ("100 Mbit/s", "10 ms", "5 MB")."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from twin.scenario.units import parse_quantity


def _quantity(dimension: str):
    return BeforeValidator(lambda value: parse_quantity(value, dimension))


class Section(BaseModel):
    """Base of every schema model: unknown keys are errors, values are validated on assignment too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


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
