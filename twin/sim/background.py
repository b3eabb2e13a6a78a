"""Background load (``traffic.background``): Poisson arrivals of transfers on a wired route or in radio cells.

A source draws exponential inter-arrival times at ``rate_per_s`` (or at the rate that makes ``load`` the mean share of
its resource's capacity: ``rate = load x capacity / E[size]`` on a link, ``rate = load / (E[size] x 8 x E[1 / r])`` in
a cell whose users have full-cell rates ``r``) and file sizes from its size law (3GPP FTP model 1 / 3, fixed,
exponential, log-normal, empirical); it starts each transfer at its arrival time without waiting for the others, as
an open queue does. Under max-min sharing one bottleneck is a processor-sharing server, so a transfer of S bytes that
shares a link with background load ``rho`` takes on average ``S / (C (1 - rho))`` (M/G/1-PS; tests/sim).

Cell sources have their own users: standing still at points drawn in the cell's area (uniformly over the map where the
cell is the best server, or along the roads there; within ``radius_m`` of the base station when given), each with the
full-cell rates of its point (:meth:`twin.radio.model.RadioModel.point_rates`: mean received power over the LOS
state, interference from every cell at full activity), sharing the cell's air time with the FL clients. Their
transfers cross the cell and its backhaul to the site (the internet is reached there, not through the FL server). With ``size.kind: ftp1`` every
arrival is a new user at a fresh point (drawn from a pool of ``POOL`` points per cell), who leaves with the transfer;
otherwise ``users`` users per cell and direction share the arrivals (picked uniformly). Random streams: one per
source (``traffic.NAME``) and one for a cell source's points (``traffic.NAME.points``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import simpy

from twin.errors import InputError
from twin.net.cells import Cell
from twin.net.engine import FlowNetwork
from twin.net.flow import Resource
from twin.scenario import traffic as T
from twin.sim.tags import Direction
from twin.sim.traffic import Endpoints, Path, start_flow

POOL = 32  # points per cell for ftp1 users (each arrival takes one at random)
CHUNK = 1024  # arrivals drawn at once
CLASS = "background"


# ------------------------------------------------------------------------------------------------- file sizes


def mean_size(size: T.FileSize) -> float:
    """E[size] in bytes (of the cut law for a log-normal with ``max_bytes``)."""
    if isinstance(size, (T.Ftp1Size, T.Ftp3Size)):
        return size.file_bytes
    if isinstance(size, T.FixedSize):
        return size.bytes
    if isinstance(size, T.ExponentialSize):
        return size.mean_bytes
    if isinstance(size, T.LogNormalSize):
        s = size.sigma
        mu = math.log(size.mean_bytes) - s * s / 2
        if size.max_bytes is None:
            return size.mean_bytes
        z = (math.log(size.max_bytes) - mu) / s
        return size.mean_bytes * _phi(z - s) + size.max_bytes * (1 - _phi(z))
    w = np.asarray(size.weights if size.weights is not None else [1.0] * len(size.bytes), dtype=float)
    return float(np.dot(w / w.sum(), size.bytes))


def _phi(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def draw_sizes(size: T.FileSize, n: int, rng: np.random.Generator) -> np.ndarray:
    """[n] file sizes (bytes) from the size law."""
    if isinstance(size, (T.Ftp1Size, T.Ftp3Size, T.FixedSize)):
        return np.full(n, mean_size(size))
    if isinstance(size, T.ExponentialSize):
        return rng.exponential(size.mean_bytes, n)
    if isinstance(size, T.LogNormalSize):
        x = rng.lognormal(math.log(size.mean_bytes) - size.sigma ** 2 / 2, size.sigma, n)
        return x if size.max_bytes is None else np.minimum(x, size.max_bytes)
    w = np.asarray(size.weights if size.weights is not None else [1.0] * len(size.bytes), dtype=float)
    return np.asarray(size.bytes, dtype=float)[rng.choice(len(size.bytes), n, p=w / w.sum())]


# ---------------------------------------------------------------------------------------------------- sources


@dataclass
class Users:
    """A cell source's users: the full-cell rate (bit/s, its direction) at each point; ``fresh``: a new user per
    arrival (ftp1), else a fixed population registered on the cell once."""

    cell: Cell
    direction: Direction
    rates_dl: np.ndarray
    rates_ul: np.ndarray
    fresh: bool

    @property
    def rates(self) -> np.ndarray:
        return self.rates_dl if self.direction == "down" else self.rates_ul


@dataclass
class Source:
    """Poisson arrivals of transfers: on a fixed wired path, or (``users``) to or from a cell's users over
    ``route`` (backhaul and air time)."""

    name: str
    rate_per_s: float
    size: T.FileSize
    start_s: float
    rng: np.random.Generator
    path: Path | None = None
    users: Users | None = None
    route: list[Resource] | None = None
    site: str = ""

    def run(self, network: FlowNetwork) -> Generator[simpy.Event, Any, None]:
        env = network.env
        t, k = self.start_s, 0
        while True:
            gaps = self.rng.exponential(1.0 / self.rate_per_s, CHUNK)
            sizes = draw_sizes(self.size, CHUNK, self.rng)
            picks = self.rng.integers(0, len(self.users.rates), CHUNK) if self.users is not None else None
            for j in range(CHUNK):
                t += gaps[j]
                if t > env.now:
                    yield env.timeout(t - env.now)
                self._start(network, float(sizes[j]), k, None if picks is None else int(picks[j]))
                k += 1

    def _start(self, network: FlowNetwork, size: float, k: int, pick: int | None) -> None:
        name = f"{self.name}.{k}"
        users = self.users
        if users is None:
            start_flow(network, self.path, size, name, self.name, CLASS)
            return
        user = f"{self.name}.u{k}" if users.fresh else f"{self.name}.u{pick}"
        if users.fresh:
            users.cell.set_rates(user, float(users.rates_dl[pick]), float(users.rates_ul[pick]))
        ends = (self.site, user) if users.direction == "down" else (user, self.site)
        flow = start_flow(network, Path(*ends, users.direction, lambda: self.route, user=user), size, name,
                          self.name, CLASS)
        if users.fresh:
            flow.done.callbacks.append(lambda _e, cell=users.cell, u=user: cell.remove(u))


# ------------------------------------------------------------------------------------------------------ build


def build_background(cfg: T.TrafficConfig | None, endpoints: Endpoints, rng: Callable[[str], np.random.Generator],
                     radio: Any = None) -> list[Source]:
    """Every background source of ``cfg``; ``radio``: the radio parts (``twin.sim.access_build.RadioParts``) when
    the scenario has cells."""
    if cfg is None:
        return []
    out: list[Source] = []
    for i, spec in enumerate(cfg.background):
        name = spec.name or f"background.{i}"
        where = f"traffic.background[{i}]"
        if isinstance(spec, T.LinkBackground):
            out.append(_link_source(spec, name, where, endpoints, rng(f"traffic.{name}")))
        else:
            out += _cell_sources(spec, name, where, endpoints, rng, radio)
    return out


def _link_source(spec: T.LinkBackground, name: str, where: str, endpoints: Endpoints, rng: np.random.Generator
                 ) -> Source:
    path = endpoints.path(spec.src, spec.dst, where)
    if path.user is not None:
        raise InputError(f"{where}: kind 'link' runs between topology nodes; {path.user!r} is an FL client on a "
                         f"vehicle (use kind 'cell' for load in its cell)")
    route = path.route()
    capacity = min(r.capacity / r.coefficient(None) for r in route) / 8  # payload bytes/s of the narrowest link
    rate = spec.rate_per_s if spec.rate_per_s is not None else spec.load * capacity / mean_size(spec.size)
    return Source(name, rate, spec.size, spec.start_s, rng, path=path)


def _cell_sources(spec: T.CellBackground, name: str, where: str, endpoints: Endpoints,
                  rng: Callable[[str], np.random.Generator], radio: Any) -> list[Source]:
    access = radio.access
    cells: list[Cell] = access.cells
    chosen = spec.cells if spec.cells is not None else list(range(len(cells)))
    for k in chosen:
        if k >= len(cells):
            raise InputError(f"{where}.cells: no cell {k}; the scenario has cells 0 .. {len(cells) - 1}")
    fresh = isinstance(spec.size, T.Ftp1Size)
    n_points = POOL if fresh else spec.users
    points_rng = rng(f"traffic.{name}.points")
    table = radio.tables["cells"]
    rates_dl, rates_ul = _cell_points(access.model, chosen, spec, n_points, points_rng, radio.tables["roads"],
                                      where)
    out = []
    directions: list[Direction] = ["down", "up"] if spec.direction == "both" else [spec.direction]
    for j, k in enumerate(chosen):
        cell, site = cells[k], str(table["site"].iloc[k])
        for d in directions:
            users = Users(cell, d, rates_dl[j], rates_ul[j], fresh)
            src = f"{name}.{cell.name}.{'dl' if d == 'down' else 'ul'}"
            if not fresh:
                for u in range(n_points):
                    cell.set_rates(f"{src}.u{u}", float(users.rates_dl[u]), float(users.rates_ul[u]))
            air_per_byte = 8 * float(np.mean(1.0 / users.rates))
            rate = spec.rate_per_s if spec.rate_per_s is not None else spec.load / (mean_size(spec.size) *
                                                                                    air_per_byte)
            links = endpoints.links
            route = ([links[f"{site}->{cell.node}"], cell.dl] if d == "down" else
                     [cell.ul, links[f"{cell.node}->{site}"]])
            out.append(Source(src, rate, spec.size, spec.start_s, rng(f"traffic.{src}"), users=users, route=route,
                              site=site))
    return out


def _cell_points(model, chosen: list[int], spec: T.CellBackground, n: int, rng: np.random.Generator,
                 roads: pd.DataFrame, where: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per chosen cell: the DL and UL full-cell rates at ``n`` points of its area: points drawn uniformly over the
    map (the roads' bounding box) or along the roads, kept where that cell is the best server, both rates are
    positive and (``radius_m``) the base station is near enough; drawn in batches until every cell has enough."""
    got_dl: list[list[np.ndarray]] = [[] for _ in chosen]
    got_ul: list[list[np.ndarray]] = [[] for _ in chosen]
    have = np.zeros(len(chosen), dtype=np.int64)
    col = {k: j for j, k in enumerate(chosen)}
    a, b = roads[["x0", "y0"]].to_numpy(float), roads[["x1", "y1"]].to_numpy(float)
    length = np.hypot(*(b - a).T)
    m = max(4000, 100 * model.n_cells)
    for _ in range(50):
        if spec.placement == "uniform":
            lo, hi = np.minimum(a, b).min(axis=0), np.maximum(a, b).max(axis=0)
            pts = lo + rng.random((m, 2)) * (hi - lo)
        else:
            seg = rng.choice(len(a), m, p=length / length.sum())
            pts = a[seg] + rng.random((m, 1)) * (b[seg] - a[seg])
        dl, ul, best = model.point_rates(pts)  # the mean in-car loss where the vehicles have one
        ok = (dl > 0) & (ul > 0) & np.isin(best, chosen)
        if spec.radius_m is not None:
            site = model.cell_xy_m[np.maximum(best, 0)]
            ok &= np.hypot(*(pts - site).T) <= spec.radius_m
        for i in np.flatnonzero(ok):
            j = col[int(best[i])]
            if have[j] < n:
                got_dl[j].append(dl[i: i + 1])
                got_ul[j].append(ul[i: i + 1])
                have[j] += 1
        if (have >= n).all():
            return [np.concatenate(x) for x in got_dl], [np.concatenate(x) for x in got_ul]
    worst = chosen[int(np.argmin(have))]
    on = "on the roads " if spec.placement == "roads" else ""
    raise InputError(f"{where}: cell {worst} serves too few points {on}for {n} background users (it is the best "
                     f"server of {have.min()} of {50 * m} drawn); check cells, placement and radius_m")
