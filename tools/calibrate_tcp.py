"""Calibration of the twin's transport against real TCP (issue 14, item 3).

Measures real TCP transfers between network namespaces over veth links shaped with tbf (``tools/tcp_netns.py``): a
star of 4 clients (50 Mbit/s each) and a 100 Mbit/s bottleneck to a server, sizes 1 / 5 / 20 MB (10^6 bytes), four
cases: one upload; 4 concurrent uploads; 4 concurrent downloads; uploads staggered by 0.5 s (client i starts at
i x 0.5 s); 3 repeats, per-flow medians. Then replays the same cases in the twin as pure network runs through
``traffic.flows`` (``scenarios/traffic/tcp_star.yaml`` with the flows of each case) with ``transport.sharing:
maxmin`` and ``tcp``, and prints per flow twin / measured, and per case the ratios of the mean completion time and
of the last finisher's end.

    sudo python tools/calibrate_tcp.py measure   # needs root, iproute2 and tc; writes tools/data/tcp_calibration.csv
    python tools/calibrate_tcp.py replay         # from the committed measurements; no root needed
    sudo python tools/calibrate_tcp.py           # both

Without root, ip or tc, ``measure`` says why and exits 0 (skipped). The namespaces are deleted on exit, on an error
and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # this checkout's twin, from any directory

DATA = HERE / "data" / "tcp_calibration.csv"
SIZES_MB = (1, 5, 20)
CASES = ("single", "up4", "down4", "stagger")
N_CLIENTS = 4
STAGGER_S = 0.5
COLUMNS = ["case", "size_bytes", "repeat", "flow", "direction", "start_s", "completion_s"]


def transfers_of(case: str, size_bytes: int) -> list[tuple[int, str, float]]:
    """(client, direction, start_s) of every flow of a case."""
    if case == "single":
        return [(0, "up", 0.0)]
    if case == "up4":
        return [(i, "up", 0.0) for i in range(N_CLIENTS)]
    if case == "down4":
        return [(i, "down", 0.0) for i in range(N_CLIENTS)]
    if case == "stagger":
        return [(i, "up", i * STAGGER_S) for i in range(N_CLIENTS)]
    raise ValueError(case)


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def measure(out: Path, repeats: int, sizes_mb: tuple[int, ...], cases: tuple[str, ...]) -> int:
    from tcp_netns import Testbed, Transfer, missing_requirements

    why = missing_requirements()
    if why:
        print(f"calibrate_tcp measure: skipped ({why})")
        return 0
    meta = [f"machine: {_cpu()}, {os.cpu_count()} CPUs; kernel {platform.release()}; python {platform.python_version()}",
            f"date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
            f"uptime before: {_uptime()}"]
    rows: list[list[object]] = []
    with Testbed(N_CLIENTS, 50e6, 100e6) as bed:
        for rep in range(repeats):  # repeats outermost: slow drifts of the machine's load spread over every case
            for size_mb in sizes_mb:
                size = size_mb * 10**6
                for case in cases:
                    spec = transfers_of(case, size)
                    got = bed.run([Transfer(c, d, size, s) for c, d, s in spec])
                    for c, d, s in spec:
                        rows.append([case, size, rep, c, d, s, f"{got[c]:.6f}"])
                    print(f"  repeat {rep} {size_mb:>2} MB {case:<8} " +
                          " ".join(f"{got[c]:.4f}" for c, _, _ in spec), flush=True)
                    time.sleep(0.3)
    meta.append(f"uptime after: {_uptime()}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        for line in meta:
            f.write(f"# {line}\n")
        w = csv.writer(f)
        w.writerow(COLUMNS)
        w.writerows(rows)
    print(f"wrote {out} ({len(rows)} transfers)")
    return 0


def read_measurements(path: Path) -> tuple[list[str], dict[tuple[str, int, int], dict[str, object]]]:
    """(comment lines, (case, size, flow) -> {direction, start_s, completion_s: median over repeats})."""
    lines = path.read_text().splitlines()
    meta = [ln[2:] for ln in lines if ln.startswith("#")]
    groups: dict[tuple[str, int, int], dict[str, object]] = {}
    for row in csv.DictReader(ln for ln in lines if not ln.startswith("#")):
        key = (row["case"], int(row["size_bytes"]), int(row["flow"]))
        g = groups.setdefault(key, {"direction": row["direction"], "start_s": float(row["start_s"]), "runs": []})
        g["runs"].append(float(row["completion_s"]))
    for g in groups.values():
        g["completion_s"] = statistics.median(g["runs"])
    return meta, groups


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="?", choices=("measure", "replay", "all"), default="all")
    parser.add_argument("--data", type=Path, default=DATA, help="measurements CSV (written by measure)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES_MB)), help="MB (10^6 bytes), comma separated")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--sharing", default="maxmin,tcp", help="transport.sharing models to replay")
    args = parser.parse_args(argv)
    sizes = tuple(int(s) for s in args.sizes.split(","))
    cases = tuple(args.cases.split(","))
    if args.what in ("measure", "all"):
        measure(args.data, args.repeats, sizes, cases)
    if args.what in ("replay", "all"):
        from calibrate_replay import replay_report

        return replay_report(args.data, tuple(args.sharing.split(",")))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted (namespaces removed)", file=sys.stderr)
        sys.exit(130)
