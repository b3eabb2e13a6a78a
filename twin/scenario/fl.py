"""The ``fl`` section of the scenario schema: data, partition, model, local training, strategy, codecs, schedule,
stopping. Re-exported by :mod:`twin.scenario.schema`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, PositiveInt, model_validator

from twin.scenario.codecs import CodecSpec
from twin.scenario.codecs.builtin import Fp16Codec, Int8Codec, NoCodec, QSGDCodec, TopKCodec  # noqa: F401
from twin.scenario.fl_network import Availability, Hierarchy, SelectionPolicy, UniformSelection
from twin.scenario.plugins import kinds_in, tagged_union
from twin.scenario.strategies import StrategySpec
from twin.scenario.strategies.builtin import FedAdam, FedAvg, FedAvgM  # noqa: F401
from twin.scenario.types import Bytes, FlopRate, Flops, PositiveSeconds, Seconds, Section
from twin.scenario.validators import (
    Decay,
    Fraction,
    NonNegative,
    OpenFraction,
    Positive,
    UnitInterval,
    not_above,
    require,
)

# Data sets (all offline). Field names equal the loaders' keyword arguments in twin.fl.data.


class DigitsData(Section):
    """scikit-learn's 8x8 digits (1,797 images, shipped inside the package): the small embedded default."""

    kind: Literal["digits"] = "digits"
    test_fraction: OpenFraction = 0.2


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
    test_fraction: OpenFraction = 0.1
    invert: bool = False


class SyntheticData(Section):
    """FedProx Synthetic(alpha, beta) (Li et al., MLSys 2020), generated for as many clients as the scenario has."""

    kind: Literal["synthetic"]
    alpha: NonNegative = 0.5
    beta: NonNegative = 0.5
    iid: bool = False
    n_features: PositiveInt = 60
    n_classes: int = Field(default=10, ge=2)
    size_log_mean: float = 4.0
    size_log_sigma: NonNegative = 2.0
    min_samples: PositiveInt = 50
    max_samples: PositiveInt | None = None
    test_fraction: OpenFraction = 0.1


Data = Annotated[DigitsData | FashionMnistData | IdxData | LeafData | SyntheticData, Field(discriminator="kind")]


class IidPartition(Section):
    kind: Literal["iid"] = "iid"


class DirichletPartition(Section):
    """Label skew: each class spread over clients by Dirichlet(alpha) proportions (small alpha = strong skew)."""

    kind: Literal["dirichlet"]
    alpha: Positive
    min_samples: PositiveInt = 1


class ShardsPartition(Section):
    """McMahan's pathological non-IID split: label-sorted shards, ``shards_per_client`` per client."""

    kind: Literal["shards"]
    shards_per_client: PositiveInt = 2


class QuantityPartition(Section):
    """Quantity skew: IID labels, unbalanced client sizes (log-normal sigma or power-law exponent)."""

    kind: Literal["quantity"]
    distribution: Literal["lognormal", "powerlaw"] = "lognormal"
    sigma: Positive = 1.0
    exponent: Positive = 1.5
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


# A step size beyond 1e6 overflows float32 training at the first step (a typo, never a setting): refused up front.
LearningRate = Annotated[float, Field(gt=0, le=1e6)]


class SGD(Section):
    kind: Literal["sgd"] = "sgd"
    lr: LearningRate = 0.02
    momentum: Decay = 0.0


class Adam(Section):
    kind: Literal["adam"]
    lr: LearningRate = 1e-3
    beta1: Decay = 0.9
    beta2: Decay = 0.999
    eps: Positive = 1e-8


Optimizer = Annotated[SGD | Adam, Field(discriminator="kind")]


class LocalTraining(Section):
    epochs: PositiveInt = 5
    batch_size: PositiveInt = 20
    optimizer: Optimizer = SGD()
    shuffle: bool = True


# Strategies and codecs: one schema class per kind in twin/scenario/strategies/ and twin/scenario/codecs/, found there
# (twin.scenario.plugins), so adding one needs no edit here.
Strategy = tagged_union(kinds_in("twin.scenario.strategies", StrategySpec))
Codec = tagged_union(kinds_in("twin.scenario.codecs", CodecSpec))


def _seed_fixes(schedule: Section, fields: tuple[str, ...]) -> None:
    """``preset: seed`` is the study's exact schedule: nothing else may shape it."""
    for name in fields:
        require(getattr(schedule, name, None) is None,
                f"{name}: preset 'seed' fixes start, end, horizon and the shape of the schedule; remove {name}")


class ConstantSchedule(Section):
    """``start`` clients every round (``preset: seed``: the study's 338)."""

    kind: Literal["constant"] = "constant"
    start: PositiveInt | None = None
    preset: Literal["seed"] | None = None

    @model_validator(mode="after")
    def _start_or_preset(self) -> ConstantSchedule:
        require(self.start is not None or self.preset is not None, "give start (clients per round) or preset: seed")
        if self.preset is not None:
            _seed_fixes(self, ("start",))
        return self


_SHAPES = ("tau", "steepness", "midpoint", "knee")


class _Reduction(Section):
    """A reduction from ``start`` to ``end`` clients reached at round ``horizon`` (default: the last round), or the
    study's exact integers with ``preset: seed`` (338 -> 34 by round 61; then start / end / horizon / shape stay unset).
    Shape parameters left unset are computed from the horizon (``derived:`` in scenario.resolved.yaml shows them)."""

    start: PositiveInt | None = None
    end: PositiveInt | None = None
    horizon: int | None = Field(default=None, ge=2)
    preset: Literal["seed"] | None = None

    @model_validator(mode="after")
    def _start_end(self):
        if self.preset is not None:
            _seed_fixes(self, ("start", "end", "horizon", *_SHAPES))
            return self
        require(self.start is not None and self.end is not None,
                "give start and end (clients in the first and in the last round), or preset: seed")
        not_above(self, "end", "start", hint="a reduction schedule goes down")
        return self


class LinearSchedule(_Reduction):
    kind: Literal["linear"]


class ExponentialSchedule(_Reduction):
    """Slow at first, steep near the horizon; ``tau`` is the e-folding time in rounds."""

    kind: Literal["exponential"]
    tau: Positive | None = None


class SigmoidSchedule(_Reduction):
    kind: Literal["sigmoid"]
    steepness: Positive | None = None
    midpoint: float | None = None


class ReciprocalSchedule(_Reduction):
    kind: Literal["reciprocal"]
    knee: Positive | None = None


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

    target_accuracy: Fraction | None = None
    floor_decimals: int | None = Field(default=None, ge=0)
    max_time_s: PositiveSeconds | None = None


class FLConfig(Section):
    """The FL job. ``train: false`` keeps selection, bytes and timing but skips the training (fast schedule sweeps)."""

    rounds: PositiveInt = 5
    train: bool = True
    data: Data = DigitsData()
    partition: Partition = IidPartition()
    validation_fraction: UnitInterval = 0.0
    model: Model = NamedModel(kind="digits_mlp")
    local: LocalTraining = LocalTraining()
    strategy: Strategy = FedAvg()
    schedule: Schedule = ConstantSchedule(start=10)
    replacement: bool = False
    selection: SelectionPolicy = UniformSelection()
    availability: Availability | None = None
    hierarchy: Hierarchy | None = None
    upload_codec: Codec = NoCodec()
    broadcast_codec: Codec = NoCodec()
    evaluate_every: PositiveInt = 1
    stop: StopConfig = StopConfig()
    deadline_s: PositiveSeconds | None = None
    aggregation_s: Seconds = 0.0
    server_flops_per_s: FlopRate = 1e11
    # Where the cohort trains and the model is evaluated: auto = a CUDA GPU when torch sees one, else the CPU (said in
    # the log and the summary); cuda without one is refused. Results agree within float32 rounding (~1e-6).
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # At most this many clients' trained parameters held at once (bounds memory for large cohorts); default: as many
    # as fit half the free GPU memory, or 1 GiB on the CPU. Results do not depend on it (whole groups per chunk).
    chunk_clients: PositiveInt | None = None

    @model_validator(mode="after")
    def _network_fields(self) -> FLConfig:
        sel = self.selection
        if sel.kind == "deadline_aware":
            require(sel.deadline_s is not None or self.deadline_s is not None,
                    "selection: deadline_aware needs a deadline: set fl.deadline_s or fl.selection.deadline_s")
        if sel.kind == "coverage_aware":
            require(sel.horizon_s is not None or self.deadline_s is not None,
                    "selection: coverage_aware needs a horizon: set fl.selection.horizon_s or fl.deadline_s")
        return self
