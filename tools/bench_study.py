"""The seed study's five reduction schedules, each run as a user would (``python -m twin.run``), timed and measured.

For every schedule (preset: seed, 338 -> 34) it prints the stop round, final accuracy, pushed updates, bytes, simulated
time, wall time, CPU time (user + system: steadier than wall time on a shared machine) and peak memory (max
RSS of the run's process), then the reduction against the constant schedule.
Targets (issue 4): each run under 3 minutes and 2 GB on this 2-core machine; (issue 11) all five under 30 s in
total, 150 rounds of the constant schedule (``--constant-150``: the stop rule off) under 10 s, one run of the 5G-city
study (``--city``: scenarios/study/fashion_city.yaml, constant schedule) under 20 s.

``--sweep`` also runs the five schedules the way docs/study.md runs the study, as one ``python -m twin.sweep`` (one
seed, ``--workers`` processes, default every core, one thread each): the workers import torch once and keep the loaded
data set between runs. It checks that every sweep run stops at the same round with the same accuracy and traffic as
the separate run of its schedule, and prints the sweep's wall time.

Before the runs it writes this checkout's missing bytecode (``--no-bytecode``: not), as an installed package has it.

The last line is ``total_wall_s=<five schedules> constant_150_wall_s=<number or nan> city_wall_s=<number or nan>
sweep_wall_s=<number or nan>``.

Usage: python tools/bench_study.py [SCENARIO] [--set k=v ...] [--out DIR] [--constant-150] [--city] [--sweep]
       [--workers N] [--no-bytecode]
       (default scenario: the repository's scenarios/study/fashion_star.yaml; needs apt-get install
       dataset-fashion-mnist). Works from any directory; without --out the run folders go to a temporary folder that
       is removed at the end (--out keeps them).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEDULES = ("constant", "exponential", "linear", "sigmoid", "reciprocal")


def run_one(scenario: str, schedule: str, out: Path, extra: list[str]) -> dict:
    args = [sys.executable, "-m", "twin.run", scenario, "--out", str(out), "--quiet", "--overwrite",
            "--set", f"fl.schedule={{kind: {schedule}, preset: seed}}"]
    if schedule == "constant_150":
        args[-1] = "fl.schedule={kind: constant, preset: seed}"
        args += ["--set", "fl.rounds=150", "--set", "fl.stop.target_accuracy=null"]
    for item in extra:
        args += ["--set", item]
    t0, cpu0 = time.perf_counter(), _children_cpu()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    proc = subprocess.run(args, capture_output=True, text=True, env=env)  # this checkout's twin, from any directory
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    if proc.returncode != 0:
        raise SystemExit(f"{schedule}: run failed: {proc.stderr.strip()}")
    summary = json.loads((out / "summary.json").read_text())
    hit = summary.get("time_to_target") or {}
    return {"schedule": schedule, "stop_round": summary["rounds"], "reason": summary["stop_reason"],
            "final_accuracy": summary["final_accuracy"], "pushed_updates": summary["participations"],
            "bytes_total": summary["bytes_down"] + summary["bytes_up"], "sim_time_s": summary["sim_time_s"],
            "to_target_s": hit.get("sim_time_s"), "wall_s": wall, "cpu_s": cpu,
            "peak_mb": summary["peak_rss_mb"]}


def _bytecode() -> str:
    """Write the bytecode of this checkout's ``twin`` (``__pycache__/*.pyc``, git-ignored) where it is missing or
    stale, as an installed package has it. Where ``PYTHONDONTWRITEBYTECODE`` is set (as on the development machine),
    Python never writes it, and every run process compiles the ~145 modules it imports from source again: 0.2-0.4 s
    of each process's start. The .pyc files carry their source's size and time, so a stale one is never used."""
    import compileall

    ok = compileall.compile_dir(str(ROOT / "twin"), quiet=1)
    state = "PYTHONDONTWRITEBYTECODE is set" if sys.flags.dont_write_bytecode else "Python writes it itself"
    return f"twin's .pyc files written where missing ({state})" if ok else "compileall failed (runs compile from source)"


def _children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes: less sensitive than wall time to other jobs on a
    shared machine."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default=str(ROOT / "scenarios" / "study" / "fashion_star.yaml"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--constant-150", action="store_true", help="also 150 rounds of the constant schedule")
    parser.add_argument("--city", action="store_true", help="also one run of scenarios/study/fashion_city.yaml")
    parser.add_argument("--sweep", action="store_true", help="also the five schedules as one python -m twin.sweep")
    parser.add_argument("--workers", type=int, default=None, help="the sweep's worker processes (default: every core)")
    parser.add_argument("--no-bytecode", action="store_true",
                        help="do not write this checkout's missing bytecode first (see _bytecode)")
    args = parser.parse_args()
    print(f"load: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    if not args.no_bytecode:
        print(f"bytecode: {_bytecode()}", flush=True)
    root = args.out or Path(tempfile.mkdtemp(prefix="bench_study-"))
    try:
        _bench(args, root)
    finally:
        if args.out is None:
            shutil.rmtree(root, ignore_errors=True)


def _bench(args, root: Path) -> None:
    rows = []
    for schedule in SCHEDULES:
        # each run in a fresh process, so that its peak memory (from its summary.json) is its own
        rows.append(run_one(args.scenario, schedule, root / schedule, args.overrides))
        r = rows[-1]
        print(f"{r['schedule']:12s} stop_round={r['stop_round']:4d} ({r['reason']}) acc={r['final_accuracy']:.4f} "
              f"pushed={r['pushed_updates']:6d} bytes={r['bytes_total'] / 1e9:6.3f} GB sim_t={r['sim_time_s']:8.2f} s "
              f"wall={r['wall_s']:6.1f} s cpu={r['cpu_s']:5.1f} s peak={r['peak_mb']:7.0f} MB", flush=True)
    base = rows[0]
    for r in rows[1:]:
        print(f"{r['schedule']:12s} vs constant: updates -{100 * (1 - r['pushed_updates'] / base['pushed_updates']):.1f}% "
              f"bytes -{100 * (1 - r['bytes_total'] / base['bytes_total']):.1f}% "
              f"sim time -{100 * (1 - r['sim_time_s'] / base['sim_time_s']):.1f}%")
    worst_wall = max(r["wall_s"] for r in rows)
    print(f"max_wall_s={worst_wall:.1f} target_s=180" + (f" runs_in={root}" if args.out else ""))
    extra = {}
    if args.constant_150:
        r = run_one(args.scenario, "constant_150", root / "constant_150", args.overrides)
        extra["constant_150"] = r["wall_s"]
        print(f"constant, 150 rounds (no stop rule): acc={r['final_accuracy']:.4f} wall={r['wall_s']:.1f} s "
              f"cpu={r['cpu_s']:.1f} s", flush=True)
    if args.city:
        r = run_one(str(Path(args.scenario).with_name("fashion_city.yaml")), "constant", root / "city", args.overrides)
        extra["city"] = r["wall_s"]
        print(f"5G city, constant: stop_round={r['stop_round']} ({r['reason']}) acc={r['final_accuracy']:.4f} "
              f"wall={r['wall_s']:.1f} s cpu={r['cpu_s']:.1f} s", flush=True)
    if args.sweep:
        extra["sweep"] = run_sweep(args, root / "sweep", rows)
    print(f"five schedules: cpu={sum(r['cpu_s'] for r in rows):.1f} s")
    print(f"load: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"total_wall_s={sum(r['wall_s'] for r in rows):.1f} constant_150_wall_s={extra.get('constant_150', math.nan):.1f} "
          f"city_wall_s={extra.get('city', math.nan):.1f} sweep_wall_s={extra.get('sweep', math.nan):.1f}")


def run_sweep(args, out: Path, rows: list[dict]) -> float:
    """The five schedules as one sweep (the scenario's seed, the same overrides); checks every run against the
    separate run of its schedule and returns the sweep's wall time."""
    out.mkdir(parents=True, exist_ok=True)
    sets = {"output.sample_period_s": 0}
    for item in args.overrides:
        key, _, value = item.partition("=")
        sets[key] = yaml.safe_load(value)
    spec = {"name": "bench_study_five", "base": str(Path(args.scenario).resolve()), "set": sets,
            "grid": {"fl.schedule": [{"kind": s, "preset": "seed"} for s in SCHEDULES]}}
    sweep_file = out / "five.yaml"
    sweep_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    cmd = [sys.executable, "-m", "twin.sweep", str(sweep_file), "--out", str(out / "runs"), "--quiet"]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    t0, cpu0 = time.perf_counter(), _children_cpu()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    if proc.returncode != 0:
        raise SystemExit(f"sweep failed: {proc.stderr.strip()}")
    import pandas as pd

    index = pd.read_parquet(out / "runs" / "runs.parquet")
    for r in rows:
        got = index[index["fl.schedule"].astype(str).str.contains(f"kind: {r['schedule']},")]
        if len(got) != 1:
            raise SystemExit(f"sweep: expected one run of {r['schedule']}, found {len(got)}")
        g = got.iloc[0]
        same = (int(g["rounds"]) == r["stop_round"] and float(g["final_accuracy"]) == r["final_accuracy"]
                and int(g["participations"]) == r["pushed_updates"]
                and float(g["bytes_down"] + g["bytes_up"]) == r["bytes_total"])
        if not same:
            raise SystemExit(f"sweep: the {r['schedule']} run differs from its separate run")
    workers = f"{args.workers} worker{'s' if args.workers != 1 else ''}" if args.workers else "a worker per core"
    print(f"five schedules as one sweep ({workers}; same results as the separate runs): wall={wall:.1f} s "
          f"cpu={cpu:.1f} s", flush=True)
    return wall


if __name__ == "__main__":
    main()
