"""The scenario schema: every field, its type, unit and default, in one place.

A scenario YAML validates into :class:`ScenarioConfig`. Pluggable parts are discriminated unions on ``kind``; unknown
keys are errors. Quantities are SI floats (``bandwidth_bps``, ``latency_s``) that also accept strings with units.
This module describes; it never imports the implementations (``twin.sim.build`` maps configs to objects).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, PositiveInt, field_validator, model_validator

from twin.scenario.access import CellularRadio, Mobility, NoMobility, NoRadio, Radio
from twin.scenario.types import BitRate, Bytes, FlopRate, Flops, PositiveSeconds, Seconds, Section

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
        if len(self.level_links) != len(self.fanout):
            raise ValueError(f"level_links has {len(self.level_links)} entries, fanout has {len(self.fanout)}; "
                             "give one link spec per fanout level")
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
    name: str = Field(min_length=1)
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
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate node names: {', '.join(duplicates)}")
        servers = [n.name for n in self.nodes if n.role == "server"]
        if len(servers) != 1:
            raise ValueError(f"exactly one node must have role 'server', found {len(servers)}")
        known = set(names)
        for i, link in enumerate(self.links):
            for end in (link.a, link.b):
                if end not in known:
                    raise ValueError(f"links[{i}] names unknown node {end!r}")
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


class TransportConfig(Section):
    """Protocol overhead: goodput = link share x payload_bytes / frame_bytes (default TCP/IPv4 over Ethernet, MTU 1500)."""

    payload_bytes: PositiveInt = 1448
    frame_bytes: PositiveInt = 1514
    slow_start: SlowStart = SlowStart()

    @model_validator(mode="after")
    def _payload_fits(self) -> TransportConfig:
        if self.payload_bytes > self.frame_bytes:
            raise ValueError(f"payload_bytes ({self.payload_bytes}) exceeds frame_bytes ({self.frame_bytes})")
        return self


# ------------------------------------------------------------------------------------------- radio and mobility
# The ``radio`` and ``mobility`` sections live in twin.scenario.access (Radio, Mobility).

# -------------------------------------------------------------------------------------------------------- clients


class NoHeterogeneity(Section):
    kind: Literal["none"] = "none"


class LogNormalHeterogeneity(Section):
    """Each client's FLOP/s = flops_per_s x exp(N(-sigma^2/2, sigma)) (mean preserved)."""

    kind: Literal["lognormal"]
    sigma: float = Field(gt=0)


class UniformHeterogeneity(Section):
    """Each client's FLOP/s = flops_per_s x U(low, high)."""

    kind: Literal["uniform"]
    low: float = Field(gt=0)
    high: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> UniformHeterogeneity:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) is above high ({self.high})")
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
    fraction: float | None = Field(default=None, gt=0, le=1)
    ids: list[str] | None = Field(default=None, min_length=1)
    vehicle_types: list[str] | None = Field(default=None, min_length=1)
    device_by_type: dict[str, DeviceProfile] = {}

    @model_validator(mode="after")
    def _one_rule(self) -> VehicleClients:
        given = [k for k in ("count", "fraction", "ids") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of count, fraction, ids (got {', '.join(given)})")
        return self


class ClientsConfig(Section):
    device: DeviceProfile = DeviceProfile()
    vehicles: VehicleClients = VehicleClients()


# ------------------------------------------------------------------------------------------------------------- fl


# Data sets (all offline). Field names equal the loaders' keyword arguments in twin.fl.data.


class DigitsData(Section):
    """scikit-learn's 8x8 digits (1,797 images, shipped inside the package): the small embedded default."""

    kind: Literal["digits"] = "digits"
    test_fraction: float = Field(default=0.2, gt=0, lt=1)


class FashionMnistData(Section):
    """Fashion-MNIST idx files; default folder /usr/share/datasets/fashion-mnist (apt-get install dataset-fashion-mnist)."""

    kind: Literal["fashion_mnist"]
    path: str | None = None


class IdxData(Section):
    """Any MNIST / EMNIST-style idx files in ``path`` (``{prefix}train-images-idx3-ubyte[.gz]`` and friends)."""

    kind: Literal["idx"]
    path: str
    prefix: str = ""
    name: str = "idx"
    transpose: bool | None = None


class LeafData(Section):
    """LEAF-format JSON (FEMNIST) from a folder with train/ and test/: one client per writer (natural partition)."""

    kind: Literal["femnist", "leaf"]
    path: str
    only_digits: bool = False
    min_samples: PositiveInt = 1
    test_fraction: float = Field(default=0.1, gt=0, lt=1)
    invert: bool = False


class SyntheticData(Section):
    """FedProx Synthetic(alpha, beta) (Li et al., MLSys 2020), generated for as many clients as the scenario has."""

    kind: Literal["synthetic"]
    alpha: float = Field(default=0.5, ge=0)
    beta: float = Field(default=0.5, ge=0)
    iid: bool = False
    n_features: PositiveInt = 60
    n_classes: int = Field(default=10, ge=2)
    size_log_mean: float = 4.0
    size_log_sigma: float = Field(default=2.0, ge=0)
    min_samples: PositiveInt = 50
    max_samples: PositiveInt | None = None
    test_fraction: float = Field(default=0.1, gt=0, lt=1)


Data = Annotated[DigitsData | FashionMnistData | IdxData | LeafData | SyntheticData, Field(discriminator="kind")]


class IidPartition(Section):
    kind: Literal["iid"] = "iid"


class DirichletPartition(Section):
    """Label skew: each class spread over clients by Dirichlet(alpha) proportions (small alpha = strong skew)."""

    kind: Literal["dirichlet"]
    alpha: float = Field(gt=0)
    min_samples: PositiveInt = 1


class ShardsPartition(Section):
    """McMahan's pathological non-IID split: label-sorted shards, ``shards_per_client`` per client."""

    kind: Literal["shards"]
    shards_per_client: PositiveInt = 2


class QuantityPartition(Section):
    """Quantity skew: IID labels, unbalanced client sizes (log-normal sigma or power-law exponent)."""

    kind: Literal["quantity"]
    distribution: Literal["lognormal", "powerlaw"] = "lognormal"
    sigma: float = Field(default=1.0, gt=0)
    exponent: float = Field(default=1.5, gt=0)
    min_samples: PositiveInt = 1


class NaturalPartition(Section):
    """The data set's own clients (LEAF writers, Synthetic's generated clients)."""

    kind: Literal["natural"]


Partition = Annotated[
    IidPartition | DirichletPartition | ShardsPartition | QuantityPartition | NaturalPartition,
    Field(discriminator="kind"),
]


class FixedModel(Section):
    """A stand-in model of given size and local work, for communication studies without a data set."""

    kind: Literal["fixed"]
    size_bytes: Bytes = 1e6
    update_bytes: Bytes | None = None
    train_flops: Flops = 1e9


class NamedModel(Section):
    """softmax_regression (the study's 784 -> 10, zero init), mlp_2nn and cnn (McMahan et al.), digits_mlp (64 hidden)."""

    kind: Literal["softmax_regression", "mlp_2nn", "cnn", "digits_mlp"]


class MLPModel(Section):
    kind: Literal["mlp"]
    hidden: list[PositiveInt] = Field(min_length=1)


Model = Annotated[FixedModel | NamedModel | MLPModel, Field(discriminator="kind")]


class SGD(Section):
    kind: Literal["sgd"] = "sgd"
    lr: float = Field(default=0.02, gt=0)
    momentum: float = Field(default=0.0, ge=0, lt=1)


class Adam(Section):
    kind: Literal["adam"]
    lr: float = Field(default=1e-3, gt=0)
    beta1: float = Field(default=0.9, ge=0, lt=1)
    beta2: float = Field(default=0.999, ge=0, lt=1)
    eps: float = Field(default=1e-8, gt=0)


Optimizer = Annotated[SGD | Adam, Field(discriminator="kind")]


class LocalTraining(Section):
    epochs: PositiveInt = 5
    batch_size: PositiveInt = 20
    optimizer: Optimizer = SGD()
    shuffle: bool = True


class FedAvg(Section):
    kind: Literal["fedavg"] = "fedavg"
    weighting: Literal["num_examples", "uniform"] = "num_examples"
    server_lr: float = Field(default=1.0, gt=0)


class FedAvgM(Section):
    kind: Literal["fedavgm"]
    weighting: Literal["num_examples", "uniform"] = "num_examples"
    server_lr: float = Field(default=1.0, gt=0)
    momentum: float = Field(default=0.9, ge=0, lt=1)


class FedAdam(Section):
    kind: Literal["fedadam"]
    weighting: Literal["num_examples", "uniform"] = "num_examples"
    server_lr: float = Field(default=0.1, gt=0)
    beta1: float = Field(default=0.9, ge=0, lt=1)
    beta2: float = Field(default=0.99, ge=0, lt=1)
    tau: float = Field(default=1e-3, gt=0)


Strategy = Annotated[FedAvg | FedAvgM | FedAdam, Field(discriminator="kind")]


class NoCodec(Section):
    kind: Literal["none"] = "none"


class Fp16Codec(Section):
    kind: Literal["fp16"]


class Int8Codec(Section):
    """Unbiased stochastic 8-bit quantisation with one float32 scale per chunk (default: one for the whole update)."""

    kind: Literal["int8"]
    chunk_size: PositiveInt | None = None


class QSGDCodec(Section):
    kind: Literal["qsgd"]
    s: PositiveInt = 16
    bucket_size: PositiveInt | None = None


class TopKCodec(Section):
    kind: Literal["topk"]
    fraction: float = Field(default=0.01, gt=0, le=1)
    error_feedback: bool = True


Codec = Annotated[NoCodec | Fp16Codec | Int8Codec | QSGDCodec | TopKCodec, Field(discriminator="kind")]


class ConstantSchedule(Section):
    """``start`` clients every round (``preset: seed``: the study's 338)."""

    kind: Literal["constant"] = "constant"
    start: PositiveInt | None = None
    preset: Literal["seed"] | None = None

    @model_validator(mode="after")
    def _start_or_preset(self) -> ConstantSchedule:
        if self.start is None and self.preset is None:
            raise ValueError("give start (clients per round) or preset: seed")
        return self


class _Reduction(Section):
    """A reduction from ``start`` to ``end`` clients reached at round ``horizon`` (default: the last round), or the
    study's exact integers with ``preset: seed`` (338 -> 34 by round 61; then start / end / horizon stay unset)."""

    start: PositiveInt | None = None
    end: PositiveInt | None = None
    horizon: int | None = Field(default=None, ge=2)
    preset: Literal["seed"] | None = None

    @model_validator(mode="after")
    def _start_end(self):
        if self.preset is None and (self.start is None or self.end is None):
            raise ValueError("give start and end (clients in the first and in the last round), or preset: seed")
        if self.start is not None and self.end is not None and self.end > self.start:
            raise ValueError(f"end ({self.end}) is above start ({self.start}); a reduction schedule goes down")
        return self


class LinearSchedule(_Reduction):
    kind: Literal["linear"]


class ExponentialSchedule(_Reduction):
    """Slow at first, steep near the horizon; ``tau`` is the e-folding time in rounds."""

    kind: Literal["exponential"]
    tau: float | None = Field(default=None, gt=0)


class SigmoidSchedule(_Reduction):
    kind: Literal["sigmoid"]
    steepness: float | None = Field(default=None, gt=0)
    midpoint: float | None = None


class ReciprocalSchedule(_Reduction):
    kind: Literal["reciprocal"]
    knee: float | None = Field(default=None, gt=0)


class ListSchedule(Section):
    """Explicit clients per round; the last value repeats when the list is shorter than the run."""

    kind: Literal["list"]
    counts: list[PositiveInt] = Field(min_length=1)


Schedule = Annotated[
    ConstantSchedule | LinearSchedule | ExponentialSchedule | SigmoidSchedule | ReciprocalSchedule | ListSchedule,
    Field(discriminator="kind"),
]


class StopConfig(Section):
    """Stop before ``fl.rounds`` when the test accuracy reaches ``target_accuracy`` (with ``floor_decimals: 2``, the
    study's rule: the first round whose accuracy floored to 2 decimals reaches it) or simulated time ``max_time_s``."""

    target_accuracy: float | None = Field(default=None, gt=0, le=1)
    floor_decimals: int | None = Field(default=None, ge=0)
    max_time_s: PositiveSeconds | None = None


class FLConfig(Section):
    """The FL job. ``train: false`` keeps selection, bytes and timing but skips the training (fast schedule sweeps)."""

    rounds: PositiveInt = 5
    train: bool = True
    data: Data = DigitsData()
    partition: Partition = IidPartition()
    validation_fraction: float = Field(default=0.0, ge=0, lt=1)
    model: Model = NamedModel(kind="digits_mlp")
    local: LocalTraining = LocalTraining()
    strategy: Strategy = FedAvg()
    schedule: Schedule = ConstantSchedule(start=10)
    replacement: bool = False
    upload_codec: Codec = NoCodec()
    broadcast_codec: Codec = NoCodec()
    evaluate_every: PositiveInt = 1
    stop: StopConfig = StopConfig()
    deadline_s: PositiveSeconds | None = None
    aggregation_s: Seconds = 0.0
    server_flops_per_s: FlopRate = 1e11


# --------------------------------------------------------------------------------------------------------- output


class OutputConfig(Section):
    sample_period_s: Seconds = 1.0
    dir: str | None = None


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
    fl: FLConfig = FLConfig()
    output: OutputConfig = OutputConfig()

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if any(ch in value for ch in "/\\\0"):
            raise ValueError("name may not contain path separators")
        return value

    @model_validator(mode="after")
    def _radio_and_vehicles(self) -> ScenarioConfig:
        if isinstance(self.radio, CellularRadio) and isinstance(self.mobility, NoMobility):
            raise ValueError("radio: cellular needs vehicles for its clients: set mobility.kind (grid, sumo or osm)")
        if isinstance(self.radio, NoRadio) and not isinstance(self.mobility, NoMobility):
            raise ValueError("mobility: vehicles need a radio access network to reach the server: set radio.kind: "
                             "cellular")
        return self
