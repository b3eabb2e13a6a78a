"""Schema of the radio access network (``radio``) and of the vehicles (``mobility``).

Like the rest of the schema this module only describes: presets, road files and SUMO are looked up when the scenario is
built (``twin.sim.access_build``), which raises :class:`twin.errors.InputError` naming the field. Reference of every
field: ``docs/scenarios.md``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, PositiveInt, model_validator

from twin.scenario.placements import DriveGreedyPlacement as DriveGreedyPlacement  # re-exported
from twin.scenario.placements import DriveRandomPlacement as DriveRandomPlacement
from twin.scenario.placements import ExplicitPlacement as ExplicitPlacement
from twin.scenario.placements import GreedyPlacement as GreedyPlacement
from twin.scenario.placements import HexPlacement as HexPlacement
from twin.scenario.placements import Placement
from twin.scenario.placements import RoadsidePlacement as RoadsidePlacement
from twin.scenario.types import BitRate, Metres, NonNegativeMetres, PositiveSeconds, Seconds, Section, Speed
from twin.scenario.validators import Name, NonNegative, require, unique

# ---------------------------------------------------------------------------------------------------------- mobility


class VehicleTypeSpec(Section):
    """A vehicle class of the fleet: top speed, share (shares are normalised), speed factor (the multiple of a road's
    speed limit it drives at, capped by its top speed: SUMO's ``speedFactor``) and the height of its antenna (default:
    each preset's, 1.5 m)."""

    name: Name
    max_speed_mps: Speed
    share: NonNegative = 1.0
    speed_factor: Annotated[float, Field(gt=0.0, le=10.0)] = 1.0
    antenna_height_m: Metres | None = None


# --------------------------------------------------------------------------------------------------------- buildings

def _pair(value):
    return [value, value] if isinstance(value, (str, int, float)) and not isinstance(value, bool) else value


def _ordered(value: tuple[float, float]) -> tuple[float, float]:
    if value[0] > value[1]:
        raise ValueError(f"the range must be [low, high] with low <= high, got [{value[0]:g}, {value[1]:g}]")
    return value


# a number (every building that high), or a [low, high] range drawn uniformly; stored as the pair
HeightRange = Annotated[tuple[Metres, Metres], BeforeValidator(_pair), AfterValidator(_ordered)]


class NoBuildings(Section):
    """No buildings: LOS can only be stochastic, always or never."""

    kind: Literal["none"] = "none"


class BlockBuildings(Section):
    """Generated buildings in the blocks between the streets: the grid's blocks (``mobility.kind: grid``, or the grid
    SUMO generates), each ``split x split`` lots kept ``setback_m`` from the street centre lines; or the faces of any
    other road network, inset by ``setback_m``. Heights: a number or a (low, high) range drawn uniformly (DRIVE: 15-50 m)."""

    kind: Literal["blocks"]
    setback_m: NonNegativeMetres = 10.0
    split: PositiveInt = 1
    height_m: HeightRange = (15.0, 50.0)


class FileBuildings(Section):
    """Buildings from a file: ``osm`` (OSM XML; default path: the mobility's OSM file) or ``sumo_poly`` (a SUMO
    ``.poly.xml`` as polyconvert writes it, in the network's metres). Heights: ``height``, else ``building:levels`` x
    ``level_height_m``, else ``default_height_m`` (a number or a (low, high) range; DRIVE: 15-50 m)."""

    kind: Literal["osm", "sumo_poly"]
    path: str | None = None
    level_height_m: Metres = 3.0
    default_height_m: HeightRange = (15.0, 50.0)


Buildings = Annotated[NoBuildings | BlockBuildings | FileBuildings, Field(discriminator="kind")]


DRIVE_FLEET = [  # DRIVE's additional.type.xml: ambulances speedFactor 2 (20 m/s on 13.89 m/s roads)
    VehicleTypeSpec(name="passenger", max_speed_mps=10.0, share=0.85),
    VehicleTypeSpec(name="ambulance", max_speed_mps=20.0, share=0.15, speed_factor=2.0),
]


class _Fleet(Section):
    step_s: PositiveSeconds = 1.0  # mobility (and radio) update period
    vehicle_types: list[VehicleTypeSpec] = Field(default=DRIVE_FLEET, min_length=1)
    buildings: Buildings = NoBuildings()


class NoMobility(Section):
    """Clients do not move (wired scenarios)."""

    kind: Literal["none"] = "none"


class GridMobility(_Fleet):
    """A generated Manhattan grid of two-way streets; vehicles on seeded random trips."""

    kind: Literal["grid"]
    rows: int = Field(default=6, ge=2)
    cols: int = Field(default=6, ge=2)
    block_length_m: Metres = 200.0
    speed_mps: Speed = 13.89
    lanes: PositiveInt = 1
    n_vehicles: PositiveInt = 100


class OsmMobility(_Fleet):
    """A local OpenStreetMap file (``.osm`` XML, or ``.graphml`` saved by osmnx); random trips. Needs the osm extra."""

    kind: Literal["osm"]
    path: str = Field(min_length=1)
    n_vehicles: PositiveInt = 100
    default_speed_mps: Speed = 13.89


class SumoGrid(Section):
    """``netgenerate --grid``: ``number`` x ``number`` junctions ``length_m`` apart."""

    number: int = Field(default=6, ge=2)
    length_m: Metres = 200.0
    speed_mps: Speed = 13.89


class SumoTrips(Section):
    """``randomTrips.py``: one departure every ``period_s`` until ``end_s`` (routed with duarouter), trips at least
    ``min_distance_m`` long (straight-line, SUMO's ``--min-distance``)."""

    period_s: PositiveSeconds = 1.0
    end_s: PositiveSeconds = 600.0
    min_distance_m: NonNegativeMetres = 0.0


class SumoMobility(_Fleet):
    """Vehicles driven by SUMO (the ``sumo`` extra). Files are generated at build time unless given:
    the road net (``net_file``, else ``netgenerate`` with ``grid``), the routes (``routes_file``, else ``randomTrips``
    with ``trips``); then ``mode: trace`` runs ``sumo --fcd-output`` for ``duration_s`` and replays the trace (or replays
    ``fcd_file`` as is), ``mode: traci`` steps a live SUMO over TraCI. The twin's time 0 is SUMO time ``warmup_s``;
    the first ``max_vehicles`` vehicles to depart (trace: among those still driving at ``warmup_s``) are tracked."""

    kind: Literal["sumo"]
    net_file: str | None = None
    grid: SumoGrid = SumoGrid()
    routes_file: str | None = None
    trips: SumoTrips = SumoTrips()
    fcd_file: str | None = None
    mode: Literal["trace", "traci"] = "trace"
    duration_s: PositiveSeconds = 900.0
    warmup_s: Seconds = 0.0
    max_vehicles: PositiveInt = 500
    cache_dir: str | None = None  # keep generated SUMO files here (reused when inputs match); None: a temp folder

    @model_validator(mode="after")
    def _consistent(self) -> SumoMobility:
        require(self.fcd_file is None or self.mode != "traci",
                "fcd_file is replayed in mode: trace; mode: traci runs SUMO live (drop one of them)")
        require(self.warmup_s < self.duration_s or self.mode != "trace" or self.fcd_file is not None,
                f"warmup_s ({self.warmup_s}) must be below duration_s ({self.duration_s})")
        return self


Mobility = Annotated[NoMobility | GridMobility | OsmMobility | SumoMobility, Field(discriminator="kind")]

# ------------------------------------------------------------------------------------------------ cell placement

# the placement kinds: twin/scenario/placements.py (``Placement``, re-exported here)


# ---------------------------------------------------------------------------------------------------------- radio


class Backhaul(Section):
    """The wired link from each base station of a tier to its site node (both directions alike)."""

    bandwidth_bps: BitRate = 10e9
    latency_s: Seconds = 0.0005


class FixedHeight(Section):
    """Every antenna of the tier at ``h_bs_m`` (the tier's, else the preset's)."""

    kind: Literal["fixed"] = "fixed"


class PerSiteHeight(Section):
    """One height per site, in the order the placement gives them (``cells.parquet``)."""

    kind: Literal["per_site"]
    heights_m: list[Metres] = Field(min_length=1)


class RooftopHeight(Section):
    """DRIVE's LTE: on the roof of the building at the site, ``mast_m`` above it; a site on the street keeps ``h_bs_m``."""

    kind: Literal["rooftop"]
    mast_m: NonNegativeMetres = 0.0


class UniformIntHeight(Section):
    """DRIVE's mmWave: a whole number of metres drawn uniformly in [low, high] per site (``randi([5, 15])``)."""

    kind: Literal["uniform_int"]
    low: PositiveInt = 5
    high: PositiveInt = 15

    @model_validator(mode="after")
    def _order(self) -> UniformIntHeight:
        require(self.low <= self.high, f"low ({self.low}) must not exceed high ({self.high})")
        return self


AntennaHeight = Annotated[FixedHeight | PerSiteHeight | RooftopHeight | UniformIntHeight,
                          Field(discriminator="kind")]

UL_ALPHAS = (0.0, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)  # TS 38.331 Alpha (the radio side's twin.radio.uplink.ALPHAS)
PRESET_OVERRIDES = ("p_tx_dbm", "g_bs_dbi", "g_ue_dbi", "h_bs_m", "ul_p0_dbm", "ul_alpha")  # CellTier -> preset field


class DemandPower(Section):
    """DRIVE's demand-driven LTE power (modeToolbox/runSUMO.m): from ``start_s``, every ``period_s``, each base station
    of the tier sends ``round(users / full_users x span_dbm + base_dbm)`` dBm, ``users`` the vehicles it serves then
    (DRIVE: the user density at the base station, whose peak is 100 users). Profile ``drive`` only."""

    kind: Literal["demand"] = "demand"
    start_s: Seconds = 50.0
    period_s: PositiveSeconds = 50.0
    base_dbm: float = 20.0
    span_dbm: float = 23.0
    full_users: Annotated[float, Field(gt=0.0)] = 100.0


class CellTier(Section):
    """One layer of cells of one technology preset (``nr-macro``, ``nr-mmwave``, ``drive-lte``, ``drive-80211ad``).

    ``p_tx_dbm`` / ``g_bs_dbi`` / ``g_ue_dbi`` / ``h_bs_m`` replace the preset's values; ``min_rx_dbm`` is the
    sensitivity floor below which a cell is not usable (default: the lowest received power at which the preset gives a
    rate without interference); ``max_range_m`` makes cells farther than that unusable (default: the preset's, i.e.
    DRIVE's maxTXDistance, else none); ``bias_db`` is added to this tier's association metric (cell individual offset,
    the HetNet range-expansion bias that lets small cells win over a stronger macro). ``ul_p0_dbm`` / ``ul_alpha``
    replace an NR preset's uplink open-loop power control (TS 38.213 7.1.1: P0 in dBm per 15 kHz RB, -202..24; alpha
    one of 0, 0.4, 0.5, ..., 0.9, 1; defaults -80 dBm and 0.8); DRIVE presets have no uplink power control."""

    name: Name
    preset: str = "nr-macro"
    placement: Placement = HexPlacement()
    p_tx_dbm: float | None = None
    g_bs_dbi: float | None = None
    g_ue_dbi: float | None = None
    h_bs_m: Metres | None = None
    antenna_height: AntennaHeight = FixedHeight()
    min_rx_dbm: float | None = None
    max_range_m: Metres | None = None
    bias_db: float = 0.0
    ul_p0_dbm: Annotated[float, Field(ge=-202.0, le=24.0)] | None = None
    ul_alpha: float | None = None
    backhaul: Backhaul = Backhaul()
    power_policy: DemandPower | None = None  # profile drive: DRIVE's demand-driven power (LTE in DRIVE)

    @model_validator(mode="after")
    def _alpha(self) -> CellTier:
        require(self.ul_alpha is None or any(abs(self.ul_alpha - a) < 1e-9 for a in UL_ALPHAS),
                f"ul_alpha must be one of {', '.join(map(str, UL_ALPHAS))} (TS 38.331 Alpha), got {self.ul_alpha}")
        return self


class AssociationSpec(Section):
    """Best server by received power (or the SINR a cell would give), handover when a neighbour is better by
    ``hysteresis_db`` for ``time_to_trigger_s``."""

    metric: Literal["rx_power", "sinr"] = "rx_power"
    hysteresis_db: NonNegative = 3.0
    time_to_trigger_s: Seconds = 0.16


class CoverageSpec(Section):
    """The best-server downlink rate map written to ``coverage.parquet`` at build time."""

    enabled: bool = True
    spacing_m: Metres = 20.0
    margin_m: NonNegativeMetres = 50.0


LOS_ALIASES = {"random": "stochastic", "los": "always", "nlos": "never"}  # the strings of earlier versions


class LosSpec(Section):
    """How a link's LOS state is decided: ``geometry`` (the 3D segment between the antennas against the buildings,
    precomputed on ``tile_m`` tiles per cell), ``stochastic`` (TR 38.901 LOS probability, correlated along the
    trajectory), ``always``, ``never``. The strings ``random`` / ``los`` / ``nlos`` (and the kinds) are accepted."""

    kind: Literal["geometry", "stochastic", "always", "never"] = "stochastic"
    tile_m: Metres = 10.0


def _los_alias(value):
    if isinstance(value, str):
        return {"kind": LOS_ALIASES.get(value, value)}
    return value


class NoRadio(Section):
    """No radio access network: clients are wired nodes of the topology."""

    kind: Literal["none"] = "none"


class CellularRadio(Section):
    """Cells over the road network; FL clients ride on vehicles (``clients.vehicles``).

    Each base station hangs off a wired node of the topology by its tier's backhaul: ``attach_to`` names that node, or
    (null) the cells are split over the nodes of role ``site`` by sector around the centre of the area."""

    kind: Literal["cellular"]
    profile: Literal["default", "drive"] = "default"
    drive_nlos_quirk: bool = False
    tiers: list[CellTier] = Field(min_length=1)
    attach_to: str | None = None
    association: AssociationSpec = AssociationSpec()
    handover_interruption_s: Seconds = 0.05
    air_latency_s: Seconds = 0.004
    sharing: Literal["round-robin", "proportional-fair", "none"] = "round-robin"
    interference: Literal["activity", "full-buffer", "none"] = "activity"
    los: Annotated[LosSpec, BeforeValidator(_los_alias)] = LosSpec()
    shadowing: bool = True
    penetration_loss: bool | None = None  # None: per preset (NR: the TR's in-car loss; DRIVE: none, as DRIVE)
    coverage: CoverageSpec = CoverageSpec()
    sample_vehicles: Literal["clients", "all"] = "clients"

    @model_validator(mode="before")
    @classmethod
    def _drive_defaults(cls, data):
        """``profile: drive`` brings DRIVE's link model: no in-car loss, no shadowing, no sharing of a cell (each
        vehicle gets its full link rate), unless the scenario says otherwise (and then it is checked below)."""
        if isinstance(data, dict) and data.get("profile") == "drive":
            data = {**data}
            for key, value in (("sharing", "none"), ("penetration_loss", False), ("shadowing", False)):
                data.setdefault(key, value)
        return data

    @model_validator(mode="after")
    def _unique_tiers(self) -> CellularRadio:
        unique([t.name for t in self.tiers], "tier names")
        drive = self.profile == "drive"
        require(drive or not self.drive_nlos_quirk, "drive_nlos_quirk: DRIVE's NLOS rate quirk needs profile: drive")
        require(not (drive and self.penetration_loss),
                "penetration_loss: profile drive has no in-car loss (DRIVE has none); set it false or drop it")
        require(not (drive and self.shadowing),
                "shadowing: profile drive has no shadow fading (DRIVE's models have none); set it false or drop it")
        for i, t in enumerate(self.tiers):
            require(drive or t.power_policy is None,
                    f"tiers[{i}].power_policy: the demand-driven power is DRIVE's; it needs profile: drive")
        return self


Radio = Annotated[NoRadio | CellularRadio, Field(discriminator="kind")]
