"""The ``traffic`` section: transfers that are not FL rounds - scripted flows and background load.

``traffic: {flows: [...], background: [...], duration_s}``, usable with or without ``fl``: a scenario with a
``traffic`` section and no ``fl`` section is a pure network run. Scripted flows go from one named endpoint to another
(topology nodes, or FL clients) at given times; background sources draw Poisson arrivals of transfers on a wired
route or in radio cells (their own users), at a rate or at a target load fraction. How they run:
``twin.sim.traffic``; docs: docs/network.md, section "Traffic".
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, PositiveInt, model_validator

from twin.scenario.types import Bytes, PositiveSeconds, Seconds, Section
from twin.scenario.validators import Name, OpenFraction, Positive, require, unique

# ------------------------------------------------------------------------------------------------- scripted flows


class Repeat(Section):
    """``count`` copies of a flow, the i-th starting at ``start_s + i x every_s`` (named ``NAME.i``)."""

    every_s: PositiveSeconds
    count: PositiveInt


class ScriptedFlow(Section):
    """One transfer of ``size_bytes`` from ``src`` to ``dst`` at ``start_s`` (repeated when ``repeat`` is given).

    ``src`` / ``dst``: topology nodes (``server``, ``switch``, ``client.0`` in a star), or FL clients (with radio, a
    client's transfers go through its cell; the other end must then be the server). ``name``: the flow's name in the
    timeline (default ``flow.I``, I its index in the list); repeats are ``NAME.0``, ``NAME.1``, ...
    ``traffic_class``: the class it is counted in by the summary (default ``scripted``)."""

    name: Name | None = None
    src: Name
    dst: Name
    size_bytes: Bytes
    start_s: Seconds = 0.0
    repeat: Repeat | None = None
    traffic_class: Name = "scripted"

    @model_validator(mode="after")
    def _two_ends(self) -> ScriptedFlow:
        require(self.src != self.dst, f"src and dst are the same ({self.src!r})")
        return self

    @property
    def last_start_s(self) -> float:
        return self.start_s + (self.repeat.every_s * (self.repeat.count - 1) if self.repeat else 0.0)


# ----------------------------------------------------------------------------------------------- file sizes


class Ftp1Size(Section):
    """3GPP FTP traffic model 1 (TR 36.814 Table A.2.1.3.1-1): every file is ``file_bytes`` (2 MB; 0.5 MB optional);
    each arrival is a new user that downloads (or uploads) one file and leaves."""

    kind: Literal["ftp1"]
    file_bytes: Bytes = 2e6


class Ftp3Size(Section):
    """3GPP FTP traffic model 3 (TR 36.872 / TR 36.889): packets of ``file_bytes`` (0.5 MB; 0.1 MB optional) arrive
    as a Poisson process to a fixed population of users (``background[].users``)."""

    kind: Literal["ftp3"]
    file_bytes: Bytes = 0.5e6


class FixedSize(Section):
    kind: Literal["fixed"]
    bytes: Bytes


class ExponentialSize(Section):
    kind: Literal["exponential"]
    mean_bytes: Bytes


class LogNormalSize(Section):
    """Log-normal sizes of mean ``mean_bytes`` and log-standard deviation ``sigma``, cut at ``max_bytes`` when given
    (the mean is that of the untruncated law)."""

    kind: Literal["lognormal"]
    mean_bytes: Bytes
    sigma: Positive
    max_bytes: Bytes | None = None


class EmpiricalSize(Section):
    """Sizes drawn from ``bytes`` with probabilities ``weights`` (equal when not given)."""

    kind: Literal["empirical"]
    bytes: list[Bytes] = Field(min_length=1)
    weights: list[Positive] | None = None

    @model_validator(mode="after")
    def _same_length(self) -> EmpiricalSize:
        require(self.weights is None or len(self.weights) == len(self.bytes),
                f"weights has {len(self.weights or [])} entries, bytes has {len(self.bytes)}")
        return self


FileSize = Annotated[Ftp1Size | Ftp3Size | FixedSize | ExponentialSize | LogNormalSize | EmpiricalSize,
                     Field(discriminator="kind")]


# ------------------------------------------------------------------------------------------------- background


class _Background(Section):
    """Poisson arrivals of transfers: ``rate_per_s`` arrivals per second, or the rate that makes ``load`` the mean
    share of the resource's capacity they occupy (0 < load < 1; exactly one of the two)."""

    name: Name | None = None
    size: FileSize = Ftp1Size(kind="ftp1")
    rate_per_s: Positive | None = None
    load: OpenFraction | None = None
    start_s: Seconds = 0.0

    @model_validator(mode="after")
    def _one_intensity(self) -> _Background:
        given = [f for f in ("rate_per_s", "load") if getattr(self, f) is not None]
        require(len(given) == 1, "give exactly one of rate_per_s, load" + (f" (got {', '.join(given)})" if given
                                                                            else ""))
        return self


class LinkBackground(_Background):
    """Background transfers over the wired route ``src`` -> ``dst`` (topology nodes; a single link when they are
    neighbours). ``load`` is the share of the route's narrowest link."""

    kind: Literal["link"]
    src: Name
    dst: Name

    @model_validator(mode="after")
    def _two_ends(self) -> LinkBackground:
        require(self.src != self.dst, f"src and dst are the same ({self.src!r})")
        return self


class CellBackground(_Background):
    """Background users in radio cells, each with its own radio conditions, competing for the cell's air time like FL
    clients. ``cells``: cell indices (all cells when not given); ``direction``: ``down`` (to the user), ``up`` or
    ``both`` (one source per direction); ``rate_per_s`` / ``load`` are per cell and direction, ``load`` being the mean
    share of the cell's air time. Users stand still at points drawn uniformly in the cell's area (``placement:
    uniform``: over the map, where the cell is the best server) or on the roads in it (``placement: roads``), and
    within ``radius_m`` of its base station when given. ``users``: the fixed number of users per cell and direction
    that share the arrivals (picked uniformly), for every size law but ``ftp1``, where each arrival is a new user who
    leaves with its file."""

    kind: Literal["cell"]
    cells: list[Annotated[int, Field(ge=0)]] | None = Field(default=None, min_length=1)
    direction: Literal["down", "up", "both"] = "down"
    placement: Literal["uniform", "roads"] = "uniform"
    radius_m: Positive | None = None
    users: PositiveInt = 10


Background = Annotated[LinkBackground | CellBackground, Field(discriminator="kind")]


# ------------------------------------------------------------------------------------------------------ section


class TrafficConfig(Section):
    """Scripted ``flows``, ``background`` sources and ``duration_s``: the run ends at ``duration_s`` at the latest
    (needed when background traffic runs without FL: it never ends by itself)."""

    flows: list[ScriptedFlow] = []
    background: list[Background] = []
    duration_s: PositiveSeconds | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TrafficConfig:
        unique([f.name for f in self.flows if f.name is not None] + [b.name for b in self.background
                                                                       if b.name is not None], "traffic names")
        if self.duration_s is not None:
            for i, f in enumerate(self.flows):
                require(f.last_start_s <= self.duration_s,
                        f"flows[{i}] starts at {f.last_start_s:g} s, after the end of the run (duration_s = "
                        f"{self.duration_s:g} s)")
            for i, b in enumerate(self.background):
                require(b.start_s < self.duration_s, f"background[{i}] starts at {b.start_s:g} s, after the end of "
                        f"the run (duration_s = {self.duration_s:g} s)")
        return self
