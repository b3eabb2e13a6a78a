"""Thread policy benchmark: the issue's FedAvg job with the default thread count against OMP_NUM_THREADS=1.

The job: scenarios/study/fashion_star.yaml (Fashion-MNIST, 3,383 clients, softmax regression, network timed) with
34 clients per round for 20 rounds. Each variant runs ``python -m twin.run`` in a fresh process (whole-process wall
time, imports and data loading included); the variants take turns (A B [C] A B [C] ...) so that a busy spell on a
shared machine hits them alike, and the medians are compared:

- ``default``: no thread setting at all (the policy picks from the scenario; before it, torch used every core);
- ``omp1``: ``OMP_NUM_THREADS=1`` (the reference of the acceptance test);
- ``--also N`` adds ``threads=N`` (``TWIN_THREADS=N``; N = the core count shows what torch's own default did).

The last line is ``default_vs_omp1=<ratio>`` (acceptance: <= 1.15).

Usage: python tools/bench_threads.py [--repeats 3] [--also 2] [--set k=v ...]
       (needs Fashion-MNIST: apt-get install dataset-fashion-mnist)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "study" / "fashion_star.yaml"
JOB = ["fl.schedule={kind: constant, start: 34}", "fl.rounds=20"]
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TWIN_THREADS")


def run_once(variant: str, out: Path, extra: list[str]) -> tuple[float, dict]:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_ENV}
    if variant == "omp1":
        env["OMP_NUM_THREADS"] = "1"
    elif variant.startswith("threads="):
        env["TWIN_THREADS"] = variant.split("=", 1)[1]
    args = [sys.executable, "-m", "twin.run", str(SCENARIO), "--out", str(out), "--quiet", "--overwrite"]
    for item in JOB + extra:
        args += ["--set", item]
    t0 = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{variant}: run failed: {proc.stderr.strip()[-2000:]}")
    return wall, json.loads((out / "summary.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--also", type=int, action="append", default=[], metavar="N",
                        help="also time TWIN_THREADS=N (repeatable)")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    variants = ["default", "omp1", *(f"threads={n}" for n in args.also)]
    walls: dict[str, list[float]] = {v: [] for v in variants}
    tables: dict[str, float] = {}
    work = Path(tempfile.mkdtemp(prefix="bench_threads-"))
    print(f"load before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    for i in range(args.repeats):
        for v in variants:
            wall, summary = run_once(v, work / v, args.overrides)
            walls[v].append(wall)
            threads = summary.get("threads", {})
            tables[v] = summary["final_accuracy"]
            print(f"  repeat {i + 1} {v:10s} wall={wall:6.2f} s threads={threads.get('count')} "
                  f"({threads.get('source')}) final_accuracy={summary['final_accuracy']:.4f}", flush=True)
    print(f"load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    med = {v: statistics.median(w) for v, w in walls.items()}
    for v in variants:
        print(f"{v:10s} median wall {med[v]:6.2f} s  (runs: {', '.join(f'{w:.2f}' for w in walls[v])})")
    if len(set(tables.values())) > 1:
        print(f"note: final accuracy differs between variants: {tables}")
    print(f"default_vs_omp1={med['default'] / med['omp1']:.3f}")


if __name__ == "__main__":
    main()
