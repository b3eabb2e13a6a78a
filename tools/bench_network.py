"""Benchmark of the flow-level network engine.

1. Thousands of concurrent flows: N clients behind one shared server link each download a model of random size at
   once (every completion reshares the link among the rest), then random Poisson arrivals on a 3-level tree.
   Prints flow events (starts + ends) per second of wall time.
2. Radio cells: N clients spread over K cells upload at once through one server link (air time shared equally in each
   cell, rates max-min fair on the wired link: ``twin.net.fairness``), with new radio rates for everyone every second.
3. The share of a quickstart run's wall time spent inside the engine (rate recomputation and flow bookkeeping).

Usage: python tools/bench_network.py [--clients 2000] [--repeat 3] [--reference] [--sharing tcp]

``--reference`` runs the full recomputation at every event (``FlowNetwork(..., incremental=False)``, the engine before
the lazy one) for a side-by-side comparison. The last line is ``flow_events_per_s=<burst case>``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's twin, from any directory

import argparse
import functools
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import simpy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's twin, from any directory

from twin.net import kernels  # noqa: E402
from twin.net import topology as topo  # noqa: E402
from twin.net.cells import Cell  # noqa: E402
from twin.net.engine import FlowNetwork  # noqa: E402
from twin.net.flow import LinkDirection  # noqa: E402
from twin.net.tcp import TcpSharing  # noqa: E402


def burst(n_clients: int, seed: int) -> tuple[int, float, int]:
    """All clients download at t = 0 through one server link; returns (flow events, wall s, max concurrent)."""
    rng = np.random.default_rng(seed)
    env = simpy.Environment()
    net = FlowNetwork(env)
    server = net.add_resource(LinkDirection("server", 10e9, 0.001))
    access = [net.add_resource(LinkDirection(f"a{i}", float(rng.uniform(20e6, 200e6)), 0.005))
              for i in range(n_clients)]
    sizes = rng.uniform(1e6, 20e6, size=n_clients)
    t0 = time.perf_counter()
    for i in range(n_clients):
        net.start([server, access[i]], float(sizes[i]))
    env.run()
    return net.n_flow_events, time.perf_counter() - t0, n_clients


def poisson_tree(n_flows: int, seed: int) -> tuple[int, float, int]:
    """Poisson arrivals of transfers from the server to random leaves of a 4 x 8 x 32 tree (1,024 clients)."""
    rng = np.random.default_rng(seed)
    g = topo.tree([4, 8, 32], [topo.Link(10e9, 0.001), topo.Link(1e9, 0.002), topo.Link(100e6, 0.005)],
                  topo.Link(40e9, 0.001))
    env = simpy.Environment()
    net = FlowNetwork(env)
    links = {(u, v): net.add_resource(LinkDirection(f"{u}->{v}", d["bandwidth_bps"], d["latency_s"]))
             for u, v, d in g.edges(data=True)}
    clients = topo.clients_of(g)
    routes = [[links[e] for e in topo.shortest_route(g, "server", c)] for c in clients]
    peak = [0]

    def arrivals():
        for _ in range(n_flows):
            yield env.timeout(float(rng.exponential(0.0005)))
            net.start(routes[int(rng.integers(len(routes)))], float(rng.exponential(2e6)))
            peak[0] = max(peak[0], len(net._flows))

    env.process(arrivals())
    t0 = time.perf_counter()
    env.run()
    return net.n_flow_events, time.perf_counter() - t0, peak[0]


def cells(n_clients: int, seed: int, n_cells: int = 30) -> tuple[int, float, int]:
    """Uploads from clients in ``n_cells`` cells through a 1 Gbit/s server link; radio rates redrawn every second."""
    rng = np.random.default_rng(seed)
    env = simpy.Environment()
    net = FlowNetwork(env)
    server = net.add_resource(LinkDirection("server", 1e9, 0.001))
    cell_list = []
    for k in range(n_cells):
        cell = Cell.make(k, f"cell.{k}", f"bs.{k}")
        net.add_resource(cell.ul)
        cell_list.append(cell)
    home = rng.integers(n_cells, size=n_clients)
    for i in range(n_clients):
        cell_list[home[i]].ul.set_rate(f"c{i}", float(rng.uniform(5e6, 500e6)))
        net.start([cell_list[home[i]].ul, server], float(rng.uniform(1e6, 20e6)), user=f"c{i}")

    users = [(cell_list[home[i]].ul, f"c{i}") for i in range(n_clients)]
    uplinks = [c.ul for c in cell_list]

    def fading():  # the same draws as one rng.uniform per client, made at once (the radio model's cost is not timed)
        while net._flows or net._pending:
            yield env.timeout(1.0)
            for (ul, user), rate in zip(users, rng.uniform(5e6, 500e6, size=n_clients).tolist(), strict=True):
                ul.set_rate(user, rate)
            net.resources_changed(uplinks)

    env.process(fading())
    t0 = time.perf_counter()
    env.run()
    return net.n_flow_events, time.perf_counter() - t0, n_clients


def engine_share_of_quickstart() -> tuple[float, float]:
    """(wall s of a quickstart simulation, fraction of it inside FlowNetwork methods)."""
    from twin.scenario.loading import load_scenario
    from twin.sim.runner import simulate

    spent = [0.0]
    originals = {}
    from twin.net.engine import FlowNetwork as network

    for name in ("_recompute", "_on_complete", "start", "cancel", "_admit", "resource_load", "resource_flow_counts"):
        fn = getattr(network, name)
        originals[name] = fn

        def timed(*args, __fn=fn, **kwargs):
            t = time.perf_counter()
            try:
                return __fn(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - t

        setattr(network, name, timed)
    try:
        t0 = time.perf_counter()
        simulate(load_scenario("quickstart"))
        wall = time.perf_counter() - t0
    finally:
        for name, fn in originals.items():
            setattr(network, name, fn)
    return wall, spent[0] / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--flows", type=int, default=5000)
    parser.add_argument("--cell-clients", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reference", action="store_true", help="full recomputation at every event")
    parser.add_argument("--sharing", choices=("maxmin", "tcp"), default="maxmin",
                        help="transport.sharing: tcp adds the calibrated weights (a recomputation per flow settling)")
    args = parser.parse_args()
    global FlowNetwork
    sharing = TcpSharing(0.3, 0.8, 1.0, np.random.default_rng(0)) if args.sharing == "tcp" else None
    FlowNetwork = functools.partial(FlowNetwork, incremental=not args.reference, sharing=sharing)
    lazy = kernels.AVAILABLE and not args.reference
    print(f"engine: {'lazy, compiled (numba)' if lazy else 'full recomputation (numpy)'}, sharing: {args.sharing}")
    burst(50, 99)  # warm-up: load the compiled kernels
    cells(20, 99)

    rates = []
    for name, fn, n in (("burst", burst, args.clients), ("poisson-tree", poisson_tree, args.flows),
                        ("cells", cells, args.cell_clients)):
        runs = [fn(n, seed) for seed in range(args.repeat)]
        events = runs[0][0]
        walls = [r[1] for r in runs]
        best = min(walls)
        rates.append(events / statistics.median(walls))
        print(f"{name:13s} flows={n:6d} peak_concurrent={runs[0][2]:5d} flow_events={events:6d} "
              f"wall_s(median)={statistics.median(walls):.3f} best={best:.3f} "
              f"events_per_s={events / statistics.median(walls):,.0f}")
    wall, share = engine_share_of_quickstart()
    print(f"quickstart    wall_s={wall:.3f} engine_share={share:.1%}")
    print(f"burst_events_per_s={rates[0]:.0f} tree_events_per_s={rates[1]:.0f} cells_events_per_s={rates[2]:.0f} "
          f"quickstart_engine_share={share:.3f}")
    print(f"flow_events_per_s={rates[0]:.0f}")


if __name__ == "__main__":
    main()
