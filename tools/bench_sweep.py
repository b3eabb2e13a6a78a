"""Sweep throughput: runs per minute of the study's communication-only sweep with 1 and 2 local workers.

The sweep: base ``scenarios/study/fashion_star.yaml`` (3,383 clients on a wired star) with ``fl.train=false`` (selection,
bytes and timing, no training), the five reduction schedules with ``preset: seed`` (338 -> 34 clients), two seeds:
10 runs. Without Fashion-MNIST (``apt-get install dataset-fashion-mnist``) it falls back to ``scenarios/quickstart.yaml``
with ``fl.train=false``, 150 rounds and sampling with replacement, and says so. Each worker count runs the whole sweep
into a fresh folder (wall time from the first run submitted to the index written, pool start included); the two
indexes must agree on every metric. The last line is ``runs_per_min_1=X runs_per_min_2=Y speedup=Z``.

Usage: python tools/bench_sweep.py [--seeds 1 2] [--workers 1 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from twin.fl.data.idx import FASHION_MNIST_DIR  # noqa: E402
from twin.sweeps import load_sweep, make_plan  # noqa: E402
from twin.sweeps.backends import LocalBackend  # noqa: E402
from twin.sweeps.runner import run_sweep  # noqa: E402

SCHEDULES = ("constant", "exponential", "linear", "sigmoid", "reciprocal")


def sweep_file(folder: Path, seeds: list[int]) -> tuple[Path, str]:
    if all((FASHION_MNIST_DIR / f).is_file() for f in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz")):
        base, extra, label = ROOT / "scenarios/study/fashion_star.yaml", "", "study fashion_star (Fashion-MNIST)"
    else:
        base = ROOT / "scenarios/quickstart.yaml"
        extra = "  fl.rounds: 150\n  fl.replacement: true\n"
        label = f"quickstart FALLBACK: Fashion-MNIST not found in {FASHION_MNIST_DIR}"
    schedules = "\n".join(f"    - {{kind: {s}, preset: seed}}" for s in SCHEDULES)
    path = folder / "bench.yaml"
    path.write_text(f"name: bench_sweep\nbase: {base}\nset:\n  fl.train: false\n{extra}"
                    f"grid:\n  fl.schedule:\n{schedules}\nseeds: {list(seeds)}\n")
    return path, label


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--keep", type=Path, help="write the sweep folders here (default: a temporary folder)")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_sweep-"))
    root.mkdir(parents=True, exist_ok=True)
    path, label = sweep_file(root, args.seeds)
    plan = make_plan(load_sweep(path))
    print(f"sweep: {label}; fl.train=false; {len(SCHEDULES)} schedules x {len(args.seeds)} seeds = {len(plan.runs)} runs",
          flush=True)
    rates, indexes = {}, {}
    for workers in args.workers:
        out = root / f"workers{workers}"
        shutil.rmtree(out, ignore_errors=True)
        report = run_sweep(plan, out, LocalBackend(workers))
        if report.n_failed:
            raise SystemExit(f"{report.n_failed} runs failed: {report.index['error'].unique()}")
        rates[workers] = report.n_ran / report.wall_s * 60
        indexes[workers] = report.index.drop(columns="wall_s")
        mean_run = report.index["wall_s"].mean()
        print(f"workers={workers}: {report.n_ran} runs in {report.wall_s:.1f} s = {rates[workers]:.2f} runs/min "
              f"(mean run {mean_run:.1f} s inside its worker)", flush=True)
    first = indexes[args.workers[0]]
    for workers, df in indexes.items():
        assert df.equals(first), f"workers={workers} gave different results than workers={args.workers[0]}"
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    figures = " ".join(f"runs_per_min_{w}={rates[w]:.2f}" for w in args.workers)
    speedup = rates[args.workers[-1]] / rates[args.workers[0]]
    print(f"{figures} speedup={speedup:.2f}")


if __name__ == "__main__":
    main()
