"""The network side of FL rounds: the compiled round path (``twin.sim.fast_round``) against one SimPy process per
participation, side by side in one process.

Runs a scenario (default: the study's ``scenarios/study/fashion_star.yaml``, 338 clients a round on a wired star;
needs Fashion-MNIST: apt-get install dataset-fashion-mnist) with ``fl.train: false`` (the same selection, bytes and
FLOPs, no training: only the timing of the round is measured), ``--rounds`` rounds, the compiled path on and off in
turn, ``--repeat`` times each. Prints per variant the median simulation time per round (``run_s`` of the summary:
SimPy, the flow engine and the timeline rows; the first round, which always runs as processes, included) and the
ratio, after checking that both give the same tables (sha256 of every table, as tests/integration/frozen_tables.py
hashes them).

Usage: python tools/bench_rounds.py [SCENARIO] [--rounds 60] [--repeat 3] [--threads 1]

The last line is ``compiled_ms_per_round=<number> processes_ms_per_round=<number> ratio=<number>``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's twin, from any directory
sys.path.insert(0, str(ROOT / "tests" / "integration"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario", nargs="?", default=str(ROOT / "scenarios/study/fashion_star.yaml"))
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from frozen_tables import table_hash

    from twin.run import scenario_base_dir
    from twin.scenario.loading import load_scenario
    from twin.sim import fast_round
    from twin.sim.runner import simulate

    sets = [f"fl.rounds={args.rounds}", "fl.stop.target_accuracy=null", "fl.train=false", "output.sample_period_s=0"]
    config = load_scenario(args.scenario, sets)
    base = scenario_base_dir(args.scenario)
    times: dict[bool, list[float]] = {True: [], False: []}
    hashes: dict[bool, dict[str, str]] = {}
    for _ in range(args.repeat + 1):  # the first pass warms the caches (data set, compiled kernels) and is not counted
        for compiled in (True, False):
            fast_round.ENABLED = compiled
            t0 = time.perf_counter()
            result = simulate(config, base_dir=base)
            wall = time.perf_counter() - t0
            if result.summary["status"] != "ok":
                raise SystemExit(result.summary.get("exception"))
            rounds = result.summary["rounds"]
            if compiled not in hashes:
                hashes[compiled] = {name: table_hash(df) for name, df in result.tables.items()}
            else:
                times[compiled].append(result.summary["runtime_s"]["simulate"] / rounds)
            print(f"{'compiled' if compiled else 'processes':9s}: {rounds} rounds, simulate "
                  f"{result.summary['runtime_s']['simulate']:.3f} s, whole run {wall:.3f} s, "
                  f"{result.summary['engine']['flow_events']} flow events", flush=True)
    if hashes[True] != hashes[False]:
        raise SystemExit("the compiled rounds and the processes gave different tables")
    fast, slow = (1000 * statistics.median(times[c]) for c in (True, False))
    print(f"same tables both ways; median per round: compiled {fast:.2f} ms, processes {slow:.2f} ms")
    print(f"compiled_ms_per_round={fast:.2f} processes_ms_per_round={slow:.2f} ratio={slow / fast:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
