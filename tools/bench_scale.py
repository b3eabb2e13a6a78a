"""Scale benchmark: communication-only FL jobs on big populations, wall time and peak memory of the whole process tree.

Cases (``fl.model: fixed``, so nothing is trained; every byte and FLOP is still timed on the network):
- star with 1,000 / 10,000 / 100,000 clients, 1,000 selected per round (without replacement), 20 rounds;
- the 5G city: 10,000 vehicles on a 2.2 km x 2.2 km grid, 100 cells (23 NR macro cells: a hex grid 500 m apart over
  the map; 77 mmWave small cells: the greedy placement's first 77 picks, ``count: 77``), every vehicle carries a
  client, 1,000 clients per round, 20 rounds.

Each case runs ``python -m twin.run`` in a fresh process (the thread count of ``--threads``, default 1); the peak is
the largest sum of resident memory over that process and its children, polled every 20 ms from /proc. Prints one line
per case, the log-log slope of wall time vs clients on the star, and a final line
``city_10k_wall_s=<number> star_100k_wall_s=<number> peak_mb=<number>``.

Usage: python tools/bench_scale.py [--cases star_1k,star_10k,star_100k,city_10k] [--keep DIR]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

STAR = """name: scale_star_{n}
seed: 1
topology:
  kind: star
  n_clients: {n}
  client_link: {{bandwidth_bps: 50 Mbit/s, latency_s: 10 ms, reverse_bandwidth_bps: 10 Mbit/s}}
  server_link: {{bandwidth_bps: 10 Gbit/s, latency_s: 1 ms}}
clients:
  device: {{flops_per_s: 10 GFLOP/s, heterogeneity: {{kind: lognormal, sigma: 0.5}}}}
fl:
  rounds: 20
  schedule: {{kind: constant, start: 1000}}
  model: {{kind: fixed, size_bytes: 31 kB, train_flops: 2 GFLOP}}
output:
  sample_period_s: 0
"""

CITY = """name: scale_city_10k
seed: 1
topology:
  kind: explicit
  nodes:
    - {name: server, role: server}
    - {name: core, role: router}
    - {name: site.0, role: site}
    - {name: site.1, role: site}
    - {name: site.2, role: site}
    - {name: site.3, role: site}
  links:
    - {a: server, b: core, bandwidth_bps: 10 Gbit/s, latency_s: 2 ms}
    - {a: core, b: site.0, bandwidth_bps: 10 Gbit/s, latency_s: 1 ms}
    - {a: core, b: site.1, bandwidth_bps: 10 Gbit/s, latency_s: 1 ms}
    - {a: core, b: site.2, bandwidth_bps: 10 Gbit/s, latency_s: 1 ms}
    - {a: core, b: site.3, bandwidth_bps: 10 Gbit/s, latency_s: 1 ms}
mobility: {kind: grid, rows: 12, cols: 12, block_length_m: 200 m, n_vehicles: 10000, step_s: 1 s}
radio:
  kind: cellular
  tiers:
    - name: macro
      preset: nr-macro
      placement: {kind: hex, isd_m: 500 m}
      g_bs_dbi: 15
      backhaul: {bandwidth_bps: 10 Gbit/s, latency_s: 0.5 ms}
    - name: small
      preset: nr-mmwave
      placement: {kind: greedy, every_m: 100 m, max_range_m: 150 m, count: SMALL}
      g_bs_dbi: 20
      g_ue_dbi: 10
      max_range_m: 200 m
      bias_db: 5
      backhaul: {bandwidth_bps: 1 Gbit/s, latency_s: 0.5 ms}
  association: {metric: rx_power, hysteresis_db: 3, time_to_trigger_s: 160 ms}
  handover_interruption_s: 50 ms
  coverage: {enabled: false}
clients:
  device: {flops_per_s: 10 GFLOP/s, heterogeneity: {kind: lognormal, sigma: 0.5}}
  vehicles: {count: 10000}
fl:
  rounds: 20
  schedule: {kind: constant, start: 1000}
  model: {kind: fixed, size_bytes: 31 kB, train_flops: 2 GFLOP}
  deadline_s: 30 s
output:
  sample_period_s: 0
"""

CASES = {"star_1k": STAR.format(n=1000), "star_10k": STAR.format(n=10000), "star_100k": STAR.format(n=100000),
         "city_10k": CITY}


def tree_rss_kb(pid: int) -> int:
    """Resident memory (KiB) of a process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
        todo += children.get(p, [])
    return total


def run_case(name: str, text: str, work: Path, threads: int) -> tuple[float, float]:
    """(wall s, peak MiB) of ``python -m twin.run`` on a case."""
    scenario = work / f"{name}.yaml"
    scenario.write_text(text)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "TWIN_THREADS": str(threads)}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "twin.run", str(scenario), "--out", str(work / name), "--quiet"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]

    def poll() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss_kb(proc.pid))
            time.sleep(0.02)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    watcher.join()
    if proc.returncode != 0:
        raise SystemExit(f"{name}: twin.run failed ({proc.returncode}): {err.strip()[-2000:]}")
    return wall, peak[0] / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated, from: " + ", ".join(CASES))
    parser.add_argument("--small-cells", type=int, default=77,
                        help="the city's small cells (default 77: with its 23 macros, 100 cells)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="keep the run folders here")
    args = parser.parse_args()
    names = [c for c in args.cases.split(",") if c]
    unknown = [c for c in names if c not in CASES]
    if unknown:
        parser.error(f"unknown case {unknown[0]!r}")
    work = Path(tempfile.mkdtemp(prefix="twin-bench-scale-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, tuple[float, float]] = {}
    try:
        print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}  threads: {args.threads}", flush=True)
        for name in names:
            text = CASES[name]
            if name == "city_10k":
                # the hex grid puts 23 macro sites 500 m apart on the 2.2 km map; the rest of the 100 cells are small
                text = text.replace("SMALL", str(args.small_cells))
            results[name] = run_case(name, text, work, args.threads)
            wall, peak = results[name]
            extra = ""
            summary = work / name / "summary.json"
            if summary.exists():
                import json

                s = json.loads(summary.read_text())
                extra = (f"  rounds={s['rounds']} sim_time_s={s['sim_time_s']:.1f} build_s={s['runtime_s']['build']:.2f}"
                         f" simulate_s={s['runtime_s']['simulate']:.2f}"
                         + (f" cells={s['radio']['cells']}" if "radio" in s else ""))
            print(f"{name:10s} wall_s={wall:8.2f} peak_mb={peak:8.1f}{extra}", flush=True)
        stars = [(int(n.split("_")[1][:-1]) * 1000, results[n][0]) for n in ("star_1k", "star_10k", "star_100k")
                 if n in results]
        if len(stars) >= 2:
            (n0, w0), (n1, w1) = stars[0], stars[-1]
            print(f"star log-log slope of wall time vs clients: {math.log(w1 / w0) / math.log(n1 / n0):.3f}")
        peak = max((p for _, p in results.values()), default=float("nan"))
        city = results.get("city_10k", (float("nan"),))[0]
        star = results.get("star_100k", (float("nan"),))[0]
        print(f"city_10k_wall_s={city:.2f} star_100k_wall_s={star:.2f} peak_mb={peak:.1f}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
