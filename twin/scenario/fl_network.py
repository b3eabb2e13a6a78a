"""The network-facing parts of the ``fl`` section: client selection (``fl.selection``), client availability
(``fl.availability``) and hierarchical FL with edge aggregators (``fl.hierarchy``). Re-exported by
:mod:`twin.scenario.fl`; every field and default is documented in docs/fl_network.md."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, PositiveInt

from twin.scenario.types import BitRate, FlopRate, PositiveSeconds, Section
from twin.scenario.validators import Fraction

# ----------------------------------------------------------------------------------------------------- selection


class UniformSelection(Section):
    """Uniformly at random among the reachable (and available) clients: the study's draw."""

    kind: Literal["uniform"] = "uniform"


class OversampleSelection(Section):
    """Select ``ceil(factor * k)`` clients, aggregate the first ``k`` updates to arrive, cancel the rest."""

    kind: Literal["oversample"]
    factor: float = Field(default=1.3, gt=1, le=10)


class DeadlineAwareSelection(Section):
    """Skip clients whose expected round time, from the twin's current radio and link state (rates shared with the
    expected number of other selected clients on each cell or link), exceeds ``deadline_s`` (default ``fl.deadline_s``)
    times ``slack``; draw uniformly among the rest."""

    kind: Literal["deadline_aware"]
    deadline_s: PositiveSeconds | None = None
    slack: float = Field(default=1.0, gt=0)


class CoverageAwareSelection(Section):
    """Prefer vehicles whose predicted dwell in good coverage (best-server downlink rate of at least ``min_rate_bps``
    along their path extrapolated ``horizon_s`` ahead, every ``step_s``) covers the round; draw uniformly among those,
    and fill up with the longest dwells when they are too few. ``horizon_s`` defaults to ``fl.deadline_s``."""

    kind: Literal["coverage_aware"]
    horizon_s: PositiveSeconds | None = None
    step_s: PositiveSeconds = 1.0
    min_rate_bps: BitRate = 1e6


SelectionPolicy = Annotated[
    UniformSelection | OversampleSelection | DeadlineAwareSelection | CoverageAwareSelection,
    Field(discriminator="kind"),
]

# -------------------------------------------------------------------------------------------------- availability


class TraceAvailability(Section):
    """On/off availability from a file. ``format: intervals``: a CSV or Parquet table with columns ``client`` (the
    client's name, e.g. ``client.3``), ``start_s``, ``end_s`` (one row per interval in which the client is on; a client
    not listed is always on; intervals of a client may not overlap). ``format: fedscale``: FedScale's
    ``client_behave_trace`` (a pickle of ``{id: {active: [...], inactive: [...], finish_time}}``), the i-th id in sorted
    order for client i, repeated every ``finish_time`` as FedScale does, up to ``horizon_s``."""

    kind: Literal["trace"]
    path: str
    format: Literal["intervals", "fedscale"] = "intervals"
    horizon_s: PositiveSeconds = 7 * 86400.0


class RandomAvailability(Section):
    """Each client alternates on and off periods drawn from exponential distributions (means ``mean_on_s``,
    ``mean_off_s``); it starts on with probability ``mean_on / (mean_on + mean_off)`` (the stationary share).
    Generated up to ``horizon_s``; after it each client keeps its last state."""

    kind: Literal["random"]
    mean_on_s: PositiveSeconds
    mean_off_s: PositiveSeconds
    horizon_s: PositiveSeconds = 7 * 86400.0


class DiurnalAvailability(Section):
    """Each client is on for ``on_fraction`` of every ``period_s`` (a day), in one window centred on ``peak_s`` plus a
    per-client offset drawn from a normal distribution of standard deviation ``spread_s``. Up to ``horizon_s``."""

    kind: Literal["diurnal"]
    period_s: PositiveSeconds = 86400.0
    on_fraction: Fraction = 0.5
    peak_s: float = Field(default=0.0, ge=0)
    spread_s: float = Field(default=3600.0, ge=0)
    horizon_s: PositiveSeconds = 7 * 86400.0


Availability = Annotated[TraceAvailability | RandomAvailability | DiurnalAvailability, Field(discriminator="kind")]

# ----------------------------------------------------------------------------------------------------- hierarchy


class Hierarchy(Section):
    """HierFAVG-style edge aggregation. ``edge: site``: an aggregator at each node of role ``site`` (the first site on a
    client's route to the server); ``edge: cell``: one at each base station (radio only). Clients exchange the model
    with their edge every round; edges send their models to the cloud (the server) every ``edge_rounds`` rounds. A
    vehicle whose edge changes mid-round delivers to the new edge (``handover: forward``) or is lost (``drop``)."""

    edge: Literal["site", "cell"]
    edge_rounds: PositiveInt = 1
    edge_flops_per_s: FlopRate | None = None
    handover: Literal["forward", "drop"] = "forward"
