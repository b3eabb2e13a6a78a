"""What the simulation knows about each flow it starts: a small frozen tag the flow engine carries untouched.

The flow engine (``twin.net``) treats ``flow.tag`` as an opaque object; :mod:`twin.sim.timeline` turns a tag into
timeline columns. Every tag says where the bytes go (``src``, ``dst``) and which way (``direction``, ``down`` =
towards the client / user, ``up`` = towards the server); subclasses add what their kind of flow is about:

- :class:`RoundFlow`: a synchronous FL round's download or upload (round, client, slot),
- :class:`AsyncFlow`: asynchronous FL, where a transfer belongs to a model version and not to a round,
- :class:`EdgeFlow`: hierarchical FL, an edge aggregator's exchange with the cloud,
- :class:`TrafficFlow`: scripted or background traffic (a named source and its traffic class).

:meth:`FlowTag.columns` lists a tag's timeline columns; ``round`` becomes the timeline's ``round`` column. A new
kind of flow is a new subclass with its ``columns`` (and its column types in ``twin.recording.recorder``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from twin.net.flow import Flow

Direction = Literal["down", "up"]


@dataclass(frozen=True, kw_only=True, slots=True)
class FlowTag:
    """Any flow the twin starts: endpoints (node or client names) and direction."""

    src: str
    dst: str
    direction: Direction

    def columns(self) -> dict[str, object]:
        """Timeline columns beyond ``flow``, ``src``, ``dst``, ``bytes`` and ``direction`` (in column order)."""
        return {}


@dataclass(frozen=True, kw_only=True, slots=True)
class RoundFlow(FlowTag):
    """A download (``down``) or upload (``up``) of client ``client`` in FL round ``round``, participation ``slot``."""

    round: int
    client: str
    slot: int

    def columns(self) -> dict[str, object]:
        return {"round": self.round, "client": self.client, "slot": self.slot}


@dataclass(frozen=True, kw_only=True, slots=True)
class AsyncFlow(FlowTag):
    """A transfer of asynchronous FL: client ``client`` fetches or returns model ``version`` (there are no rounds)."""

    client: str
    version: int

    def columns(self) -> dict[str, object]:
        return {"client": self.client, "version": self.version}


@dataclass(frozen=True, kw_only=True, slots=True)
class EdgeFlow(FlowTag):
    """Hierarchical FL: edge aggregator ``edge`` sends its model to the cloud (``up``) or receives the cloud's model
    (``down``) at the end of round ``round``."""

    round: int
    edge: str

    def columns(self) -> dict[str, object]:
        return {"round": self.round, "edge": self.edge}


@dataclass(frozen=True, kw_only=True, slots=True)
class TrafficFlow(FlowTag):
    """Scripted or background traffic: one flow of the traffic source ``name`` of class ``traffic_class``."""

    name: str
    traffic_class: str

    def columns(self) -> dict[str, object]:
        return {"traffic": self.name, "traffic_class": self.traffic_class}


def direction_of(flow: Flow) -> Direction:
    """Which way a flow the twin started goes (its tag's ``direction``)."""
    if not isinstance(flow.tag, FlowTag):
        raise TypeError(f"flow {flow.name} carries no FlowTag, so its direction is unknown")
    return flow.tag.direction
