"""Traffic beyond FL in simulated time: scripted transfers (``traffic.flows``) and background sources.

:func:`build_traffic` resolves every source's endpoints against the built topology and access layer (an unknown node
is an :class:`~twin.errors.InputError` naming the field) and returns a :class:`Traffic`; :meth:`Traffic.start` starts
one SimPy process per source. Every flow carries a :class:`~twin.sim.tags.TrafficFlow` tag, so it lands in the
timeline (``flow_start`` / ``flow_end`` with its ``flow`` name, ``traffic`` source and ``traffic_class``) beside the FL
flows. Background sources: :mod:`twin.sim.background`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import simpy

from twin.errors import InputError
from twin.net import topology as topo
from twin.net.engine import FlowNetwork
from twin.net.flow import Flow, Resource
from twin.scenario.traffic import ScriptedFlow, TrafficConfig
from twin.sim.env import AccessLayer, Client
from twin.sim.tags import Direction, TrafficFlow

RouteFn = Callable[[], Sequence[Resource]]  # the route a flow takes if it starts now


@dataclass(frozen=True)
class Path:
    """Where a source's flows go: its endpoints, direction, the route (asked when each flow starts) and the radio
    user whose air time it uses (None: wired only)."""

    src: str
    dst: str
    direction: Direction
    route: RouteFn
    user: str | None = None


class Endpoints:
    """Resolves endpoint names: topology nodes (a wired shortest route), or FL clients riding on vehicles (their
    access layer's route; the other end is then the server)."""

    def __init__(self, graph: nx.DiGraph, server: str, network: FlowNetwork, clients: Sequence[Client],
                 access: AccessLayer) -> None:
        self.graph, self.server, self.access = graph, server, access
        self.links = {r.name: r for r in network.resources}
        self.radio_clients = {c.name: c.index for c in clients if c.name not in graph}

    def path(self, src: str, dst: str, where: str) -> Path:
        for end, name in (("src", src), ("dst", dst)):
            if name not in self.graph and name not in self.radio_clients:
                known = sorted(self.graph.nodes)
                raise InputError(f"{where}.{end}: unknown node {name!r} (not a topology node or FL client; nodes: "
                                 f"{', '.join(known[:6])}{', ...' if len(known) > 6 else ''})")
        direction: Direction = "up" if dst == self.server or src in self.radio_clients else "down"
        radio_end = src if src in self.radio_clients else dst if dst in self.radio_clients else None
        if radio_end is not None:
            other = dst if radio_end == src else src
            if other != self.server:
                raise InputError(f"{where}: FL client {radio_end!r} reaches the network through its cell, so the "
                                 f"other end must be the server {self.server!r}, not {other!r}")
            index, access = self.radio_clients[radio_end], self.access
            return Path(src, dst, direction, lambda: access.route_of(index, direction), user=radio_end)
        try:
            edges = topo.shortest_route(self.graph, src, dst)
        except topo.NoRouteError:
            raise InputError(f"{where}: {src!r} cannot reach {dst!r}: no path in the topology") from None
        route = [self.links[f"{u}->{v}"] for u, v in edges]
        return Path(src, dst, direction, lambda: route)


@dataclass
class Scripted:
    """One entry of ``traffic.flows``: its flows' names and start times, size, class and path."""

    name: str
    names: list[str]
    starts: list[float]
    size_bytes: float
    traffic_class: str
    path: Path

    def run(self, network: FlowNetwork) -> Generator[simpy.Event, Any, None]:
        """Process: start each flow at its time (without waiting for the one before); end when all have arrived."""
        env = network.env
        flows: list[Flow] = []
        for name, t in zip(self.names, self.starts, strict=True):
            if t > env.now:
                yield env.timeout(t - env.now)
            flows.append(start_flow(network, self.path, self.size_bytes, name, self.name, self.traffic_class))
        yield env.all_of([f.done for f in flows])


def start_flow(network: FlowNetwork, path: Path, size_bytes: float, name: str, source: str, traffic_class: str
               ) -> Flow:
    tag = TrafficFlow(src=path.src, dst=path.dst, direction=path.direction, name=source, traffic_class=traffic_class)
    return network.start(path.route(), size_bytes, name=name, tag=tag, user=path.user)


def scripted(spec: ScriptedFlow, index: int, endpoints: Endpoints) -> Scripted:
    name = spec.name or f"flow.{index}"
    count = spec.repeat.count if spec.repeat else 1
    every = spec.repeat.every_s if spec.repeat else 0.0
    names = [f"{name}.{i}" for i in range(count)] if spec.repeat else [name]
    return Scripted(name, names, [spec.start_s + i * every for i in range(count)], spec.size_bytes,
                    spec.traffic_class, endpoints.path(spec.src, spec.dst, f"traffic.flows[{index}]"))


@dataclass
class Traffic:
    """Every traffic source of a scenario, built and checked before time starts."""

    scripted: list[Scripted] = field(default_factory=list)
    background: list[Any] = field(default_factory=list)  # twin.sim.background sources (each has .run(network))
    duration_s: float | None = None

    def start(self, env: simpy.Environment, network: FlowNetwork) -> simpy.Event | None:
        """Start every source's process; returns the event that fires when every scripted flow has arrived (None
        when there are none: background sources never end)."""
        procs = [env.process(s.run(network)) for s in self.scripted]
        for b in self.background:
            env.process(b.run(network))
        return env.all_of(procs) if procs else None


def build_traffic(cfg: TrafficConfig | None, endpoints: Endpoints, background: Sequence[Any] = ()) -> Traffic:
    """The scripted sources of ``cfg`` and the ``background`` ones (built by :mod:`twin.sim.background`)."""
    if cfg is None:
        return Traffic()
    return Traffic([scripted(f, i, endpoints) for i, f in enumerate(cfg.flows)], list(background), cfg.duration_s)
