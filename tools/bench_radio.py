"""Benchmark of the per-mobility-step radio update: 10,000 vehicles x 100 cells by default.

One step = move the vehicles, 2D distances, LOS state, UMa path loss, correlated shadowing, received power, best
server with hysteresis / TTT, SINR with co-channel interference weighted by cell activity, full-cell rate. Uses only
the public ``twin.radio`` and ``twin.geo`` APIs.

``--los geometry`` (default): a 2 km x 2 km grid city (11 x 11 junctions, 200 m blocks, 4 buildings a block, DRIVE's
15-50 m heights; ``--city random``: ``--buildings`` 3000 rotated rectangles and L shapes in the blocks instead), 100 cells 25 m high at the junctions, vehicles driving along the streets; the LOS tiles of every
cell (``twin.geo.LosTiles``, ``--tile-m``) are precomputed first (printed: ``precompute_s`` and the peak memory it
added, ``precompute_mb``), then a step's LOS is a tile lookup. ``--los stochastic``: TR 38.901 LOS probability
with a correlated LOS process, cells on a 500 m grid, vehicles anywhere.

    python tools/bench_radio.py                 # geometry, float32, 10000 x 100, median of 15 steps; then city_grid
    python tools/bench_radio.py --los stochastic --dtype float64 --no-scenario

Prints the machine's load (``uptime``), the median per stage, the median per step, the wall time of a whole run of
``scenarios/city_grid.yaml`` (build, simulation, tables: ``city_grid_s=X.XX``), and last the line
``ms_per_step=X.X target_ms=50`` (with ``precompute_s=X.X target_s=60 precompute_mb=X target_mb=2048`` before it).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # runnable from a checkout without installing the package
    sys.path.insert(0, str(ROOT))

import twin.geo as geo  # noqa: E402
import twin.radio as radio  # noqa: E402


def build(n_ue: int, n_cell: int, dtype, seed: int):
    """A square macro grid (500 m spacing) with vehicles spread uniformly and driving straight."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n_cell)))
    isd_m = 500.0
    gx, gy = np.meshgrid(np.arange(side) * isd_m, np.arange(side) * isd_m)
    cell_xy = np.stack([gx.ravel(), gy.ravel()], axis=1)[:n_cell].astype(dtype)
    extent_m = side * isd_m
    ue_xy = rng.uniform(0.0, extent_m, size=(n_ue, 2)).astype(dtype)
    heading = rng.uniform(0.0, 2 * np.pi, size=n_ue)
    speed = rng.uniform(5.0, 20.0, size=n_ue)  # m/s (DRIVE: passenger 10, ambulance 20)
    velocity = (np.stack([np.cos(heading), np.sin(heading)], axis=1) * speed[:, None]).astype(dtype)
    return rng, cell_xy, ue_xy, velocity, speed, extent_m


def random_buildings(rng, n: int, size_m: float, streets_m: float) -> geo.Buildings:
    """``n`` rotated rectangles and L shapes (30 %), 8-40 m a side, 15-50 m high, off the streets of the grid."""
    import shapely
    import shapely.affinity as aff

    rings = []
    while len(rings) < n:
        cx, cy = rng.uniform(0, size_m, 2)
        w, d = rng.uniform(8, 40, 2)
        poly = shapely.box(-w / 2, -d / 2, w / 2, d / 2)
        if rng.random() < 0.3:
            poly = poly.difference(shapely.box(0, 0, w, d))
        poly = aff.translate(aff.rotate(poly, rng.uniform(0, 180), origin=(0, 0)), cx, cy)
        near = np.minimum(np.mod(np.array(poly.bounds), streets_m), streets_m - np.mod(np.array(poly.bounds), streets_m))
        lo, hi = np.array(poly.bounds[:2]) // streets_m, np.array(poly.bounds[2:]) // streets_m
        if (lo == hi).all() and near.min() > 10.0:  # inside one block, 10 m off its streets
            rings.append(np.asarray(poly.exterior.coords))
    return geo.make_buildings(rings, rng.uniform(15, 50, n))


def build_city(n_ue: int, n_cell: int, dtype, seed: int, tile_m: float, city: str = "grid", n_buildings: int = 3000):
    """The 2 km grid city: buildings, 100 cells at junctions (25 m), vehicles on the streets, LOS tiles."""
    rng = np.random.default_rng(seed)
    n, block = 11, 200.0
    if city == "grid":
        buildings = geo.grid_blocks(rows=n, cols=n, block_length_m=block, setback_m=10.0, split=2, rng=rng)
    else:
        buildings = random_buildings(rng, n_buildings, (n - 1) * block, block)
    jx, jy = np.meshgrid(np.arange(n) * block, np.arange(n) * block)
    junctions = np.stack([jx.ravel(), jy.ravel()], axis=1)
    cell_xy = junctions[rng.choice(len(junctions), size=min(n_cell, len(junctions)), replace=False)]
    cell_xyz = np.column_stack([cell_xy, np.full(len(cell_xy), 25.0)])
    extent_m = (n - 1) * block
    street = rng.integers(0, n, n_ue) * block  # the street a vehicle drives on
    along = rng.uniform(0.0, extent_m, n_ue)
    horizontal = rng.random(n_ue) < 0.5
    ue_xy = np.where(horizontal[:, None], np.column_stack([along, street]), np.column_stack([street, along]))
    speed = rng.uniform(5.0, 20.0, size=n_ue) * rng.choice([-1.0, 1.0], n_ue)
    velocity = np.where(horizontal[:, None], np.column_stack([speed, 0 * speed]), np.column_stack([0 * speed, speed]))
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    tiles = geo.LosTiles.build(buildings, cell_xyz, ue_height_m=1.5, tile_m=tile_m,
                               bounds=(-20.0, -20.0, extent_m + 20.0, extent_m + 20.0))
    precompute_s = time.perf_counter() - t0
    print(f"geometry: {len(buildings)} buildings on {extent_m / 1e3:g} km x {extent_m / 1e3:g} km, {len(cell_xy)} cells, "
          f"{tile_m:g} m tiles {tiles.shape[1]} x {tiles.shape[2]}, {tiles.mixed_fraction:.1%} crossed by a shadow "
          f"edge; tables {tiles.nbytes / 2**20:.1f} MiB")
    print(f"precompute_s={precompute_s:.1f} target_s=60 precompute_mb={_rss_mb() - rss0:.0f} target_mb=2048")
    return (rng, cell_xy.astype(dtype), ue_xy.astype(dtype), velocity.astype(dtype), np.abs(speed), extent_m,
            tiles)


def _rss_mb() -> float:
    """Peak resident memory of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def load() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv=None) -> float:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-ue", type=int, default=10_000)
    ap.add_argument("--n-cell", type=int, default=100)
    ap.add_argument("--steps", type=int, default=15, help="timed steps (median reported)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--dt", type=float, default=1.0, help="mobility step (s); DRIVE/SUMO use 1 s")
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--los", choices=("geometry", "stochastic"), default="geometry")
    ap.add_argument("--tile-m", type=float, default=10.0, help="LOS tile size (m) with --los geometry")
    ap.add_argument("--city", choices=("grid", "random"), default="grid",
                    help="grid: 4 buildings a block (400); random: --buildings rotated rectangles and L shapes")
    ap.add_argument("--buildings", type=int, default=3000, help="buildings of --city random")
    ap.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "city_grid.yaml",
                    help="scenario whose whole run is timed after the step benchmark")
    ap.add_argument("--no-scenario", action="store_true", help="skip the scenario run")
    args = ap.parse_args(argv)
    dtype = np.dtype(args.dtype)

    print(f"load: {load()}")
    preset = radio.get_preset("nr-macro")
    tiles = None
    if args.los == "geometry":
        rng, cell_xy, ue_xy, velocity, speed, extent_m, tiles = build_city(args.n_ue, args.n_cell, dtype, args.seed,
                                                                           args.tile_m, args.city, args.buildings)
        args.n_cell = len(cell_xy)
    else:
        rng, cell_xy, ue_xy, velocity, speed, extent_m = build(args.n_ue, args.n_cell, dtype, args.seed)
    shape = (args.n_ue, args.n_cell)
    los_proc = radio.LosProcess.for_model("uma", shape, rng=rng, dtype=dtype)
    shadow = radio.ShadowingProcess.for_model("uma", shape, rng=rng, dtype=dtype)
    assoc = radio.Association(args.n_ue, hysteresis_db=3.0, time_to_trigger_s=0.16)
    noise_dbm = preset.noise_dbm("dl")
    activity = rng.uniform(0.2, 1.0, size=args.n_cell)  # cell load from the network engine
    moved_m = speed * args.dt

    stages: dict[str, list[float]] = {}

    def lap(name: str, t0: float) -> float:
        t1 = time.perf_counter()
        stages.setdefault(name, []).append((t1 - t0) * 1e3)
        return t1

    totals = []
    for i in range(args.warmup + args.steps):
        t_start = t = time.perf_counter()
        ue_xy += velocity * dtype.type(args.dt)
        np.mod(ue_xy, extent_m, out=ue_xy)  # wrap around the square
        dx = ue_xy[:, 0:1] - cell_xy[:, 0]
        dy = ue_xy[:, 1:2] - cell_xy[:, 1]
        d2d = np.sqrt(dx * dx + dy * dy)
        t = lap("distance", t)
        if tiles is not None:
            los = tiles.lookup(ue_xy)
        else:
            los = los_proc.step(moved_m, radio.los_probability("uma", d2d, h_ut_m=preset.h_ut_m))
        t = lap("los", t)
        pl = radio.pathloss_db("uma", d2d, preset.fc_hz, los=los, h_bs_m=preset.h_bs_m, h_ut_m=preset.h_ut_m)
        t = lap("pathloss", t)
        sh = shadow.step(moved_m, los)
        t = lap("shadowing", t)
        rx = preset.rx_power_dbm(pl, loss_db=sh)
        t = lap("rx_power", t)
        serving = assoc.step(rx, args.dt)
        t = lap("association", t)
        sinr = radio.sinr_db(rx, serving, noise_dbm, activity)
        t = lap("sinr", t)
        rate = radio.user_rate_bps(preset, sinr_db=sinr)
        t = lap("rate", t)
        totals.append((t - t_start) * 1e3)
        if i == args.warmup - 1:
            stages.clear()
            totals.clear()

    print(f"radio step: {args.n_ue} vehicles x {args.n_cell} cells, {args.dtype}, LOS {args.los}, dt {args.dt} s, "
          f"{args.steps} steps")
    for name, ms in stages.items():
        print(f"  {name:<12} {statistics.median(ms):7.2f} ms")
    served = serving >= 0
    print(
        f"  served {served.mean():.1%}, handovers last step {int(assoc.handover.sum())}, "
        f"LOS links {los.mean():.1%}, median SINR {np.median(sinr[served]):.1f} dB, "
        f"median rate {np.median(rate[served]) / 1e6:.1f} Mbit/s"
    )
    med = statistics.median(totals)
    print(f"  min {min(totals):.1f} ms, max {max(totals):.1f} ms")
    if not args.no_scenario:
        run_scenario(args.scenario)
    print(f"ms_per_step={med:.1f} target_ms=50")
    return med


def run_scenario(path: Path) -> float:
    """Wall time of a whole run of ``path`` (build incl. the coverage map, simulation, tables), printed."""
    from twin.scenario.loading import load_scenario
    from twin.sim.runner import simulate

    config = load_scenario(str(path))
    t0 = time.perf_counter()
    result = simulate(config, base_dir=path.resolve().parent)
    wall = time.perf_counter() - t0
    s = result.summary
    print(f"scenario {path.name}: {s['rounds']} rounds, {s['sim_time_s']:.1f} s simulated, "
          f"{s.get('radio', {}).get('handovers', 0)} handovers; build {s['runtime_s']['build']:.2f} s, "
          f"simulate {s['runtime_s']['simulate']:.2f} s")
    print(f"{path.stem}_s={wall:.2f}")
    return wall


if __name__ == "__main__":
    main()
