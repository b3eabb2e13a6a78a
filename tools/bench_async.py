"""FedBuff on the 5G city (issue 15): 3,383 clients on vehicles, run as a user would (``python -m twin.run``), timed.

Runs scenarios/study/fashion_city.yaml (the seed study's FL job on the 5G city: Fashion-MNIST, softmax regression,
stop at 0.75 floored accuracy) with ``fl.strategy`` replaced by FedBuff (default: the paper's concurrency 100 and
buffer 10, num_examples weighting as the study's FedAvg, the paper's polynomial staleness 1 / sqrt(1 + tau),
immediate refill, at most 300 server steps) and prints the server steps, simulated time and updates to the target,
bytes, wall time and peak memory. Target (issue 15): it reaches the study's target in under 2 minutes of wall time on
the 2-core machine. ``--sync`` also runs the study's synchronous constant schedule (338 clients per round).

The last line is ``fedbuff_wall_s=<s> reached=<true|false> steps=<n>``.

Usage: python tools/bench_async.py [--set k=v ...] [--strategy YAML] [--sync] [--out DIR]
       (needs apt-get install dataset-fashion-mnist; without --out the run folders are removed at the end)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "study" / "fashion_city.yaml"
FEDBUFF = "{kind: fedbuff, concurrency: 100, buffer_size: 10, weighting: num_examples}"


def run(name: str, out: Path, sets: list[str]) -> dict:
    args = [sys.executable, "-m", "twin.run", str(SCENARIO), "--out", str(out / name), "--quiet", "--overwrite"]
    for item in sets:
        args += ["--set", item]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    t0 = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, env=env)  # this checkout's twin, from any directory
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{name}: run failed: {proc.stderr.strip()}")
    summary = json.loads((out / name / "summary.json").read_text())
    hit = summary.get("time_to_target") or {}
    return {"run": name, "steps": summary["rounds"], "reason": summary["stop_reason"],
            "accuracy": summary["final_accuracy"], "to_target_s": hit.get("sim_time_s"),
            "updates": summary["participations"], "bytes": summary["bytes_down"] + summary["bytes_up"],
            "wall_s": wall, "build_s": summary["runtime_s"]["build"], "peak_mb": summary["peak_rss_mb"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategy", default=FEDBUFF, help=f"the fl.strategy to time (default {FEDBUFF})")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--sync", action="store_true", help="also run the synchronous constant schedule")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-async-"))
    try:
        rows = [run("fedbuff", out, [f"fl.strategy={args.strategy}", "fl.rounds=300", *args.overrides])]
        if args.sync:
            rows.append(run("sync_constant", out, args.overrides))
        print(f"{'run':>14} {'steps':>6} {'stop':>16} {'acc':>6} {'to target':>10} {'updates':>8} {'bytes':>10} "
              f"{'wall':>8} {'build':>6} {'peak':>8}")
        for r in rows:
            tt = f"{r['to_target_s']:.2f} s" if r["to_target_s"] is not None else "-"
            print(f"{r['run']:>14} {r['steps']:>6} {r['reason']:>16} {r['accuracy'] or float('nan'):>6.3f} {tt:>10} "
                  f"{r['updates']:>8,} {r['bytes'] / 1e6:>8.0f} MB {r['wall_s']:>6.1f} s {r['build_s']:>4.1f} s "
                  f"{r['peak_mb']:>5.0f} MB")
        first = rows[0]
        print(f"load average: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} CPUs")
        print(f"fedbuff_wall_s={first['wall_s']:.1f} reached={str(first['reason'] == 'target_accuracy').lower()} "
              f"steps={first['steps']}")
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
