"""The scenario schema: every field, its type, unit and default, in one place.

A scenario YAML validates into :class:`ScenarioConfig`. Pluggable parts are discriminated unions on ``kind``; unknown
keys are errors. Quantities are SI floats (``bandwidth_bps``, ``latency_s``) that also accept strings with units.
This module describes; it never imports the implementations (``twin.sim.build`` maps configs to objects).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, PositiveInt, field_validator, model_validator

from twin.scenario.access import CellularRadio, Mobility, NoMobility, NoRadio, Radio
from twin.scenario.fl import (  # noqa: F401 - the fl section (twin/scenario/fl.py), re-exported
    SGD,
    Adam,
    Codec,
    ConstantSchedule,
    Data,
    DigitsData,
    DirichletPartition,
    ExponentialSchedule,
    FashionMnistData,
    FedAdam,
    FedAvg,
    FedAvgM,
    FixedModel,
    FLConfig,
    Fp16Codec,
    IdxData,
    IidPartition,
    Int8Codec,
    LeafData,
    LinearSchedule,
    ListSchedule,
    LocalTraining,
    MLPModel,
    Model,
    NamedModel,
    NaturalPartition,
    NoCodec,
    Optimizer,
    Partition,
    QSGDCodec,
    QuantityPartition,
    ReciprocalSchedule,
    Schedule,
    ShardsPartition,
    SigmoidSchedule,
    StopConfig,
    Strategy,
    SyntheticData,
    TopKCodec,
)
from twin.scenario.traffic import CellBackground, TrafficConfig
from twin.scenario.types import BitRate, Bytes, FlopRate, Seconds, Section
from twin.scenario.validators import (
    Fraction,
    Name,
    Positive,
    at_most_one,
    no_path_separator,
    not_above,
    require,
    same_length,
    unique,
)

# ---------------------------------------------------------------------------------------------------------- topology


class LinkSpec(Section):
    """A full-duplex wired link. Direction a->b uses bandwidth_bps / latency_s; b->a the reverse_* values when given."""

    bandwidth_bps: BitRate
    latency_s: Seconds = 0.0
    reverse_bandwidth_bps: BitRate | None = None
    reverse_latency_s: Seconds | None = None


class StarTopology(Section):
    """Clients on their own access links to one switch; the server behind the switch on ``server_link``."""

    kind: Literal["star"] = "star"
    n_clients: PositiveInt = 10
    client_link: LinkSpec = LinkSpec(bandwidth_bps=100e6, latency_s=0.005)
    server_link: LinkSpec = LinkSpec(bandwidth_bps=1e9, latency_s=0.001)


class TreeTopology(Section):
    """A backhaul tree: server -> core router -> ``fanout[0]`` routers -> ... -> ``fanout[-1]`` clients per leaf router.

    ``level_links[i]`` is the link from a level-i node to each of its children (level 0 = core router), so there is one
    link spec per fanout level.
    """

    kind: Literal["tree"]
    fanout: list[PositiveInt] = Field(min_length=1)
    level_links: list[LinkSpec] = Field(min_length=1)
    server_link: LinkSpec = LinkSpec(bandwidth_bps=10e9, latency_s=0.001)

    @model_validator(mode="after")
    def _one_link_per_level(self) -> TreeTopology:
        same_length(self, "level_links", "fanout", "give one link spec per fanout level")
        return self


class RingTopology(Section):
    """A backhaul ring of ``n_sites`` routers; the server hangs off site 0, ``clients_per_site`` clients off each site."""

    kind: Literal["ring"]
    n_sites: int = Field(ge=3)
    clients_per_site: PositiveInt
    ring_link: LinkSpec
    access_link: LinkSpec
    server_link: LinkSpec = LinkSpec(bandwidth_bps=10e9, latency_s=0.001)


class NodeSpec(Section):
    name: Name
    role: Literal["server", "router", "client", "site"] = "router"


class ExplicitLink(LinkSpec):
    a: str
    b: str


class ExplicitTopology(Section):
    """Nodes and links listed by hand. Exactly one node has role ``server``."""

    kind: Literal["explicit"]
    nodes: list[NodeSpec] = Field(min_length=2)
    links: list[ExplicitLink] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_names(self) -> ExplicitTopology:
        names = [n.name for n in self.nodes]
        unique(names, "node names")
        servers = [n.name for n in self.nodes if n.role == "server"]
        require(len(servers) == 1, f"exactly one node must have role 'server', found {len(servers)}")
        known = set(names)
        for i, link in enumerate(self.links):
            for end in (link.a, link.b):
                require(end in known, f"links[{i}] names unknown node {end!r}")
        return self


class GraphMLTopology(Section):
    """A topology read from a GraphML file: node attribute ``role_attr``, edge attributes for bandwidth and latency
    (numbers in SI units or strings with units)."""

    kind: Literal["graphml"]
    path: str
    role_attr: str = "role"
    bandwidth_attr: str = "bandwidth_bps"
    latency_attr: str = "latency_s"


Topology = Annotated[
    StarTopology | TreeTopology | RingTopology | ExplicitTopology | GraphMLTopology, Field(discriminator="kind")
]


class SlowStart(Section):
    """Kurose-Ross static-window slow start added to each flow's start (off by default).

    The flow first waits ``setup_rtts`` round-trip times (connection set-up; 1.5 reproduces the textbook's request /
    response total of 2 RTT with the one-way latency the flow already pays) plus the slow-start stall time.
    """

    enabled: bool = False
    mss_bytes: Bytes = 1448
    setup_rtts: float = Field(default=1.0, ge=0)


class TcpSharingParams(Section):
    """The calibrated TCP sharing model (``transport.sharing: tcp``; twin.net.tcp.TcpSharing, docs/network.md): a
    flow's first ``settle_s`` seconds of sending weigh ``newcomer x exp(spread x z)`` (z a seeded standard normal
    quantile per flow), then 1. Defaults fitted to real TCP cubic by tools/calibrate_tcp.py."""

    spread: float = Field(default=0.3, ge=0, le=3)
    newcomer: float = Field(default=0.8, gt=0, le=1)
    settle_s: float = Field(default=1.0, gt=0)


class TransportConfig(Section):
    """Protocol overhead: goodput = link share x payload_bytes / frame_bytes (default TCP/IPv4 over Ethernet, MTU 1500).

    A link's latency is its one-way propagation delay; a flow's round trip (slow start) is its route's forward plus
    reverse latency. ``sharing``: ``maxmin`` is exact max-min fairness; ``tcp`` the calibrated model of real TCP
    (uneven shares among equal flows, incumbents that keep more than their share; parameters in ``tcp``)."""

    payload_bytes: PositiveInt = 1448
    frame_bytes: PositiveInt = 1514
    slow_start: SlowStart = SlowStart()
    sharing: Literal["maxmin", "tcp"] = "maxmin"
    tcp: TcpSharingParams = TcpSharingParams()

    @model_validator(mode="after")
    def _payload_fits(self) -> TransportConfig:
        not_above(self, "payload_bytes", "frame_bytes", verb="exceeds")
        return self


# ------------------------------------------------------------------------------------------- radio and mobility
# The ``radio`` and ``mobility`` sections live in twin.scenario.access (Radio, Mobility).

# -------------------------------------------------------------------------------------------------------- clients


class NoHeterogeneity(Section):
    kind: Literal["none"] = "none"


class LogNormalHeterogeneity(Section):
    """Each client's FLOP/s = flops_per_s x exp(N(-sigma^2/2, sigma)) (mean preserved)."""

    kind: Literal["lognormal"]
    sigma: Positive


class UniformHeterogeneity(Section):
    """Each client's FLOP/s = flops_per_s x U(low, high)."""

    kind: Literal["uniform"]
    low: Positive
    high: Positive

    @model_validator(mode="after")
    def _ordered(self) -> UniformHeterogeneity:
        not_above(self, "low", "high")
        return self


Heterogeneity = Annotated[
    NoHeterogeneity | LogNormalHeterogeneity | UniformHeterogeneity, Field(discriminator="kind")
]


class DeviceProfile(Section):
    flops_per_s: FlopRate = 10e9
    heterogeneity: Heterogeneity = NoHeterogeneity()


class VehicleClients(Section):
    """With radio: which vehicles carry an FL client. Every vehicle (the default), ``count`` or ``fraction`` of them
    drawn at random (seeded), or those named in ``ids``; only vehicles of ``vehicle_types`` when given, and only those
    on the road when the run starts (``active_at_start``; SUMO vehicles depart and arrive). ``device_by_type`` gives a
    vehicle type its own device profile (others use ``clients.device``)."""

    active_at_start: bool = True
    count: PositiveInt | None = None
    fraction: Fraction | None = None
    ids: list[str] | None = Field(default=None, min_length=1)
    vehicle_types: list[str] | None = Field(default=None, min_length=1)
    device_by_type: dict[str, DeviceProfile] = {}

    @model_validator(mode="after")
    def _one_rule(self) -> VehicleClients:
        at_most_one(self, "count", "fraction", "ids")
        return self


class ClientsConfig(Section):
    device: DeviceProfile = DeviceProfile()
    vehicles: VehicleClients = VehicleClients()


# --------------------------------------------------------------------------------------------------------- output


class LimitsConfig(Section):
    """Resource bounds checked before a run builds anything (``twin.sim.preflight``); ``--max-memory`` and
    ``--max-events`` on the command line win over these, which win over the defaults (2 GB, 1e8 events)."""

    max_memory: Bytes | None = None
    max_events: Positive | None = None


class OutputConfig(Section):
    sample_period_s: Seconds = 1.0
    dir: str | None = None
    tensorboard: bool = False  # also write the rounds' scalars as a TensorBoard event file (extra: tensorboard)


# ----------------------------------------------------------------------------------------------------------- root


class ScenarioConfig(Section):
    name: str = Field(default="scenario", min_length=1)
    description: str = ""
    seed: int = Field(default=0, ge=0)
    topology: Topology = StarTopology()
    transport: TransportConfig = TransportConfig()
    radio: Radio = NoRadio()
    mobility: Mobility = NoMobility()
    clients: ClientsConfig = ClientsConfig()
    fl: FLConfig | None = FLConfig()  # None: no FL (a pure network run; the default when ``traffic`` is given)
    traffic: TrafficConfig | None = None
    output: OutputConfig = OutputConfig()
    limits: LimitsConfig = LimitsConfig()

    @model_validator(mode="before")
    @classmethod
    def _pure_network(cls, data: Any) -> Any:
        """A scenario with a ``traffic`` section and no ``fl`` section runs no FL."""
        if isinstance(data, dict) and data.get("traffic") is not None and "fl" not in data:
            data = {**data, "fl": None}
        return data

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        return no_path_separator(value)

    @model_validator(mode="after")
    def _radio_and_vehicles(self) -> ScenarioConfig:
        require(not (isinstance(self.radio, CellularRadio) and isinstance(self.mobility, NoMobility)),
                "radio: cellular needs vehicles for its clients: set mobility.kind (grid, sumo or osm)")
        require(not (isinstance(self.radio, NoRadio) and not isinstance(self.mobility, NoMobility)),
                "mobility: vehicles need a radio access network to reach the server: set radio.kind: cellular")
        traffic = self.traffic
        if self.fl is None:
            require(traffic is not None, "fl: a scenario without FL needs a traffic section")
            require(not traffic.background or traffic.duration_s is not None,
                    "traffic.duration_s: background traffic never ends by itself; give duration_s (or run FL)")
            require(traffic.flows or traffic.duration_s is not None,
                    "traffic: a run without FL needs flows or duration_s (else nothing happens)")
        if traffic is not None and not isinstance(self.radio, CellularRadio):
            for i, b in enumerate(traffic.background):
                require(not isinstance(b, CellBackground),
                        f"traffic.background[{i}]: kind 'cell' needs radio cells (radio.kind: cellular)")
        return self
