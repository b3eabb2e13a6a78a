"""Benchmark: random-trip mobility step time (and trace replay) for many vehicles.

    python tools/bench_mobility.py [--vehicles 10000] [--grid 20] [--steps 50] [--dt 1.0]

Prints milliseconds per step (median over the timed steps) after a warm-up that fills the route cache.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's twin, from any directory

import argparse
import time

import numpy as np

from twin.mobility import (
    FcdTrace,
    RandomTripMobility,
    TraceMobility,
    greedy_small_cells,
    grid_network,
    small_cell_candidates,
)


def _time_steps(mob, steps: int, dt: float) -> list[float]:
    out = []
    for _ in range(steps):
        t0 = time.perf_counter()
        mob.step(dt)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vehicles", type=int, default=10_000)
    ap.add_argument("--grid", type=int, default=20, help="junctions per side of the Manhattan grid")
    ap.add_argument("--block", type=float, default=200.0)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--dt", type=float, default=1.0)
    args = ap.parse_args()

    net = grid_network(rows=args.grid, cols=args.grid, block_length_m=args.block)
    t0 = time.perf_counter()
    mob = RandomTripMobility(net, n_vehicles=args.vehicles, rng=np.random.default_rng(0))
    t_init = time.perf_counter() - t0
    _time_steps(mob, 20, args.dt)  # warm-up: fills the route cache
    times = _time_steps(mob, args.steps, args.dt)
    print(
        f"{net!r}, {args.vehicles} vehicles: init {t_init * 1e3:.0f} ms, "
        f"step(dt={args.dt}) median {np.median(times) * 1e3:.2f} ms, max {max(times) * 1e3:.2f} ms"
    )

    # trace replay of the same fleet: record positions, then replay them as an FCD trace
    n_rec = 200
    rec = RandomTripMobility(net, n_vehicles=args.vehicles, rng=np.random.default_rng(1))
    xs, ys, ts = [], [], []
    for k in range(n_rec):
        xs.append(rec.positions_m[:, 0])
        ys.append(rec.positions_m[:, 1])
        ts.append(np.full(args.vehicles, float(k)))
        rec.step(1.0)
    veh = np.tile(np.arange(args.vehicles), n_rec)
    trace = FcdTrace(np.concatenate(ts), veh, np.concatenate(xs), np.concatenate(ys), np.zeros(len(veh)),
                     np.array([str(i) for i in range(args.vehicles)], dtype=object),
                     np.array([""] * args.vehicles, dtype=object))  # fmt: skip
    replay = TraceMobility(trace)
    times = _time_steps(replay, args.steps, 0.5)
    print(f"TraceMobility, {args.vehicles} vehicles x {n_rec} samples: step median {np.median(times) * 1e3:.2f} ms")

    points = net.sample_points(10.0)
    cand = small_cell_candidates(net, every_m=100.0)
    t0 = time.perf_counter()
    res = greedy_small_cells(cand, points, target_fraction=0.9, max_range_m=200.0)
    print(
        f"greedy_small_cells: {len(cand)} candidates, {len(points)} road points -> {len(res.chosen)} cells "
        f"({res.coverage_fraction:.1%}) in {(time.perf_counter() - t0) * 1e3:.0f} ms"
    )


if __name__ == "__main__":
    main()
