"""The ``mobility`` section made real: a road network and a mobility source (random trips, a SUMO trace, live SUMO).

SUMO inputs that the scenario does not give are generated at build time with the tools of the ``sumo`` extra
(``netgenerate``, ``randomTrips.py``, ``sumo --fcd-output``) into a temporary folder, or into ``cache_dir`` (relative to
the scenario file) where a later run with the same inputs reuses them. Every failure is an :class:`InputError` naming
the field or file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from twin import mobility as mob
from twin.errors import InputError
from twin.mobility.base import Mobility
from twin.scenario import access as A

EXTRA_HINT = {"sumo": "pip install 'twin[sumo]'", "osm": "pip install 'twin[osm]'"}


def _fleet(cfg: A.GridMobility | A.OsmMobility | A.SumoMobility) -> list[mob.VehicleType]:
    try:
        return [mob.VehicleType(v.name, v.max_speed_mps, v.share, speed_factor=v.speed_factor)
                for v in cfg.vehicle_types]
    except ValueError as exc:
        raise InputError(f"mobility.vehicle_types: {exc}") from None


def _file(base_dir: Path, value: str, field: str, what: str) -> Path:
    path = Path(value)
    if not path.is_absolute():
        path = base_dir / path
    if not path.is_file():
        raise InputError(f"mobility.{field}: {what} not found: {str(path)!r}")
    return path


def _require(extra: str, module: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise InputError(f"mobility.kind: this mobility needs the '{extra}' extra ({module} is not installed): "
                         f"{EXTRA_HINT[extra]}")


def build_mobility(cfg: A.Mobility, base_dir: Path, rng: np.random.Generator
                   ) -> tuple[mob.RoadNetwork, Mobility, Callable[[], None]]:
    """(road network, mobility source, cleanup) for ``cfg`` (a mobility section other than ``none``)."""
    if isinstance(cfg, A.GridMobility):
        road = mob.grid_network(rows=cfg.rows, cols=cfg.cols, block_length_m=cfg.block_length_m,
                                speed_mps=cfg.speed_mps, lanes=cfg.lanes)
        return road, mob.RandomTripMobility(road, n_vehicles=cfg.n_vehicles, rng=rng,
                                            vehicle_types=_fleet(cfg)), _nothing
    if isinstance(cfg, A.OsmMobility):
        _require("osm", "osmnx")
        path = _file(base_dir, cfg.path, "path", "OSM / GraphML file")
        loader = mob.load_graphml if path.suffix.lower() == ".graphml" else mob.load_osm
        try:
            road = loader(path, default_speed_mps=cfg.default_speed_mps)
            trips = mob.RandomTripMobility(road, n_vehicles=cfg.n_vehicles, rng=rng, vehicle_types=_fleet(cfg))
        except (ValueError, OSError) as exc:
            raise InputError(f"mobility.path: {exc}") from None
        return road, trips, _nothing
    if isinstance(cfg, A.SumoMobility):
        return _sumo(cfg, base_dir, rng)
    raise InputError(f"mobility.kind: {cfg.kind!r} has no vehicles")  # pragma: no cover - build checks first


def _nothing() -> None:
    return None


def _sumo(cfg: A.SumoMobility, base_dir: Path, rng: np.random.Generator
          ) -> tuple[mob.RoadNetwork, Mobility, Callable[[], None]]:
    _require("sumo", "sumolib")
    try:
        mob.sumo_binary("sumo")
    except mob.MissingExtraError as exc:
        raise InputError(f"mobility.kind: sumo: {exc}") from None
    net = _file(base_dir, cfg.net_file, "net_file", "SUMO network file") if cfg.net_file else None
    routes = _file(base_dir, cfg.routes_file, "routes_file", "SUMO route file") if cfg.routes_file else None
    fcd = _file(base_dir, cfg.fcd_file, "fcd_file", "SUMO FCD trace") if cfg.fcd_file else None
    seed = int(rng.integers(0, 2**31 - 1))
    if cfg.cache_dir is not None:
        key = hashlib.sha256(json.dumps([cfg.model_dump(mode="json", exclude={"cache_dir"}), seed,
                                         [str(p) for p in (net, routes, fcd)]]).encode()).hexdigest()[:16]
        work = (base_dir / cfg.cache_dir / f"sumo-{key}")
        work.mkdir(parents=True, exist_ok=True)
        cleanup = _nothing
    else:
        work = Path(tempfile.mkdtemp(prefix="twin-sumo-"))

        def cleanup() -> None:
            shutil.rmtree(work, ignore_errors=True)

    try:
        if net is None:
            net = work / "grid.net.xml"
            if not net.is_file():
                mob.netgenerate_grid(net, number=cfg.grid.number, length_m=cfg.grid.length_m,
                                     speed_mps=cfg.grid.speed_mps)
        road = _load_net(net)
        if fcd is None and routes is None:
            routes = work / "trips.rou.xml"
            if not routes.is_file():
                extra = ["--min-distance", f"{cfg.trips.min_distance_m:g}"] if cfg.trips.min_distance_m > 0 else []
                mob.random_trips(net, routes, end_s=cfg.trips.end_s, period_s=cfg.trips.period_s, seed=seed,
                                 vehicle_types=_fleet(cfg), extra_args=extra)
        if cfg.mode == "traci":
            live = mob.TraciMobility(n_vehicles=cfg.max_vehicles, rng=rng, net_path=net, routes_path=routes,
                                     step_length_s=cfg.step_s)
            if cfg.warmup_s > 0:
                live.step(cfg.step_s * round(cfg.warmup_s / cfg.step_s))
            return road, live, lambda: (live.close(), cleanup())
        if fcd is None:
            fcd = work / "fcd.xml"
            if not fcd.is_file():
                mob.run_sumo_fcd(net, routes, fcd, end_s=cfg.duration_s, step_length_s=min(1.0, cfg.step_s),
                                 seed=seed)
        trace = _first_vehicles(_read_fcd(fcd), cfg.max_vehicles, cfg.warmup_s)
        trace_mob = mob.TraceMobility(trace, t0_s=cfg.warmup_s)
    except BaseException:
        cleanup()
        raise
    cleanup()  # the trace is in memory now
    return road, trace_mob, _nothing


def _load_net(path: Path) -> mob.RoadNetwork:
    try:
        return mob.load_sumo_net(path)
    except (ValueError, OSError) as exc:
        raise InputError(f"mobility.net_file: {exc}") from None


def _read_fcd(path: Path) -> mob.FcdTrace:
    try:
        return mob.read_fcd(path)
    except (ValueError, OSError) as exc:
        raise InputError(f"mobility.fcd_file: {exc}") from None


def _first_vehicles(trace: mob.FcdTrace, n: int, t0_s: float) -> mob.FcdTrace:
    """The trace of the first ``n`` vehicles to appear (ids are in order of first appearance) among those still
    driving at ``t0_s``."""
    last = np.full(trace.n_vehicles, -np.inf)
    np.maximum.at(last, trace.vehicle, trace.time_s)
    kept = np.flatnonzero(last >= t0_s)[:n]
    if kept.size == 0:
        raise InputError(f"mobility.warmup_s: no vehicle of the SUMO trace is still driving at {t0_s:g} s")
    if kept.size == trace.n_vehicles:
        return trace
    new = np.full(trace.n_vehicles, -1)
    new[kept] = np.arange(kept.size)
    keep = new[trace.vehicle] >= 0
    return mob.FcdTrace(trace.time_s[keep], new[trace.vehicle[keep]], trace.x_m[keep], trace.y_m[keep],
                        trace.speed_mps[keep], trace.vehicle_ids[kept], trace.vehicle_types[kept])
