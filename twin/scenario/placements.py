"""Schema of the base-station placements (``radio.tiers[i].placement``): one class per ``kind``, assembled into the
``Placement`` union. Like the rest of the schema it only describes; ``twin.mobility.PLACEMENTS`` implements each kind
(same field names and defaults, tests/test_registries.py). Reference: ``docs/scenarios.md``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, PositiveInt, model_validator

from twin.scenario.types import Metres, NonNegativeMetres, Section
from twin.scenario.validators import Fraction, require


class HexPlacement(Section):
    """A hexagonal grid of sites ``isd_m`` apart over the road network's bounding box (grown by ``margin_m``)."""

    kind: Literal["hex"] = "hex"
    isd_m: Metres = 500.0
    margin_m: NonNegativeMetres = 0.0


class ExplicitPlacement(Section):
    """Sites at the given (x, y) coordinates in metres (the road network's frame)."""

    kind: Literal["explicit"]
    sites_m: list[tuple[float, float]] = Field(min_length=1)


class RoadsidePlacement(Section):
    """A site at every junction where ``min_degree`` or more roads meet and/or every ``every_m`` along the roads."""

    kind: Literal["roadside"]
    at_junctions: bool = True
    every_m: Metres | None = None
    min_degree: PositiveInt = 3

    @model_validator(mode="after")
    def _some(self) -> RoadsidePlacement:
        require(self.at_junctions or self.every_m is not None, "no sites: set at_junctions: true or every_m")
        return self


class GreedyPlacement(Section):
    """DRIVE's choice: candidates at junctions and every ``every_m``, picked greedily until ``target_fraction`` of the
    road points (every ``point_spacing_m``) are covered; ``covers: canyon`` = same street (line of sight in an urban
    canyon of ``street_width_m``) within ``max_range_m``, ``distance`` = within ``max_range_m``. ``max_cells`` caps
    the picks; ``count`` asks for exactly that many (the greedy goes on past ``target_fraction``)."""

    kind: Literal["greedy"]
    at_junctions: bool = True
    every_m: Metres | None = 100.0
    min_degree: PositiveInt = 1
    target_fraction: Fraction = 0.9
    max_range_m: Metres = 200.0
    covers: Literal["canyon", "distance"] = "canyon"
    street_width_m: Metres = 20.0
    point_spacing_m: Metres = 10.0
    max_cells: PositiveInt | None = None
    count: PositiveInt | None = None

    @model_validator(mode="after")
    def _one_limit(self) -> GreedyPlacement:
        require(self.count is None or self.max_cells is None, "set count (exactly that many cells) or max_cells "
                "(at most that many), not both")
        return self


class DriveGreedyPlacement(Section):
    """DRIVE's greedyAddition.m, exactly: candidates at the junctions and one lamppost per road segment longer than
    ``spacing_m``, antennas ``randint(height_m)`` m high; tiles of ``tile_m`` at ground level; a candidate covers the
    tiles within ``max_range_m`` (3D), in line of sight through the buildings or not; first the candidate with the most
    LOS tiles, then by total tiles in range, kept when it adds a tile, until ``1 - tolerance`` of the LOS-reachable
    tiles are covered; candidates within ``border_m`` of the map's edge are left out. Needs buildings (a grid city)."""

    kind: Literal["drive_greedy"]
    spacing_m: Metres = 100.0
    tile_m: Metres = 16.0
    tolerance: Fraction = 0.1
    border_m: NonNegativeMetres = 300.0
    max_range_m: Metres = 200.0
    height_m: tuple[PositiveInt, PositiveInt] = (5, 15)


class DriveRandomPlacement(Section):
    """DRIVE's randomChosen.m: ``count`` of DRIVE's candidates (as ``drive_greedy``) at random (all when fewer)."""

    kind: Literal["drive_random"]
    count: PositiveInt = 50
    spacing_m: Metres = 100.0
    height_m: tuple[PositiveInt, PositiveInt] = (5, 15)


Placement = Annotated[
    HexPlacement | ExplicitPlacement | RoadsidePlacement | GreedyPlacement | DriveGreedyPlacement
    | DriveRandomPlacement, Field(discriminator="kind")
]
