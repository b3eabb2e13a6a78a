"""Command line: ``python -m twin.sweep SWEEP.yaml [--out DIR] [--backend local|ray] [--address ADDR] [--workers N]``.

Runs every scenario of a sweep file (a base scenario and a grid of overrides, see docs/sweeps.md) into
``DIR/runs/<run_id>/`` and indexes them in ``DIR/runs.parquet``. Rerunning the same command resumes: finished runs of
the same resolved scenario are skipped. Bad input prints one line and exits with status 2, writing nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from twin.cli import EXIT_INPUT, ArgumentParser, main_of  # noqa: F401 - EXIT_INPUT is part of the command's API

MAX_ROWS = 20  # the summary table fits one screen; the index has everything


def _parser() -> ArgumentParser:
    description = " ".join(__doc__.split("\n\n")[1].split()).replace("``", "")
    p = ArgumentParser(prog="python -m twin.sweep", description=description)
    p.add_argument("sweep", help="sweep YAML file")
    p.add_argument("--out", type=Path, help="sweep folder (default: sweeps/NAME); an existing one is resumed")
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local: a process pool on this machine (default); ray: tasks on a Ray cluster")
    p.add_argument("--address", help="Ray cluster to join (HOST:PORT, ray://HOST:PORT or auto); default: start one here")
    p.add_argument("--workers", type=_positive, help="runs at a time (default: every core, or the cluster's CPUs)")
    p.add_argument("--threads", type=_positive, metavar="N",
                   help="math threads per run (default: TWIN_THREADS, else 1: one run per core)")
    p.add_argument("--dry-run", action="store_true",
                   help="validate every run, build each distinct scenario (files, topology, routes, vehicles, data "
                        "sets) without simulating, and list the runs; writes nothing")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary table")
    return p


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    return main_of(lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    from twin.sweeps import load_sweep, make_plan
    from twin.sweeps.backends import make_backend
    from twin.sweeps.index import check_out

    sweep = load_sweep(args.sweep)
    plan = make_plan(sweep)
    if args.dry_run:
        from twin.sweeps.plan import dry_build

        built, seconds = dry_build(plan)
        if not args.quiet:
            _print_plan(plan)
            print(f"built {built} distinct scenario{'s' if built != 1 else ''} (runs that differ only in their seed "
                  f"once) in {seconds:.1f} s: files, topology, routes, vehicles, data sets and models are ready; "
                  "nothing simulated")
        return 0
    out = args.out or Path("sweeps") / sweep.name
    check_out(out, sweep.name)
    from twin.threads import ENV_VAR, parse_threads

    threads = args.threads or (parse_threads(os.environ[ENV_VAR], ENV_VAR) if os.environ.get(ENV_VAR, "").strip()
                               else 1)
    backend = make_backend(args.backend, address=args.address, workers=args.workers, threads=threads)
    return _run(plan, out, backend, args)


def _run(plan, out: Path, backend, args) -> int:
    from twin.sweeps.runner import run_sweep

    try:
        report = run_sweep(plan, out, backend, progress=not args.quiet and sys.stderr.isatty())
    except KeyboardInterrupt:
        print(f"interrupted: finished runs are kept and indexed in {out / 'runs.parquet'}; "
              "run the same command again to finish the sweep", file=sys.stderr)
        return 130
    if not args.quiet:
        print(summary_table(report, plan, backend))
    if report.n_failed:
        print(f"error: {report.n_failed} of {len(plan.runs)} runs failed (see the error column of "
              f"{out / 'runs.parquet'}); rerunning the command retries them", file=sys.stderr)
        return 1
    return 0


def summary_table(report, plan, backend) -> str:
    """A one-screen account of the sweep: counts, speed, and the first runs with their headline numbers."""
    import pandas as pd

    df = report.index
    n = len(df)
    counts = df["status"].value_counts()
    rate = f", {report.n_ran / report.wall_s * 60:.1f} runs/min" if report.n_ran and report.wall_s > 0 else ""
    workers = getattr(backend, "workers", None)
    lines = [
        f"sweep {plan.sweep.name}: {n} runs ({counts.get('ok', 0)} ok, {counts.get('failed', 0)} failed, "
        f"{counts.get('pending', 0)} pending)",
        f"  this time: {report.n_ran} ran, {report.n_skipped} already done, {report.wall_s:.1f} s{rate} "
        f"({backend.name}{f', {workers} workers' if workers else ''}; "
        f"{_threads_note(getattr(backend, 'threads', 1))})",
        f"  folder: {report.out} (index: runs.parquet)",
    ]
    if report.stale:
        lines.append(f"  note: {len(report.stale)} run folders under runs/ are not part of this sweep (left in place)")
    swept = plan.sweep.spec.swept
    table = pd.DataFrame({"run_id": df["run_id"]})
    taken = {"run_id", "seed", "status", "rounds", "sim_time_s", "MB", "accuracy", "to_target_s", "error"}
    shorts = [column.rsplit(".", 1)[-1] for column in swept]
    for column, short in zip(swept, shorts, strict=True):
        header = short if shorts.count(short) == 1 and short not in taken else column
        table[header] = [_short(run.point.swept[column]) for run in plan.runs]
    if plan.sweep.spec.seeds:
        table["seed"] = df["seed"]
    table["status"] = df["status"]
    table["rounds"] = df["rounds"]
    table["sim_time_s"] = df["sim_time_s"].round(3)
    table["MB"] = ((df["bytes_down"] + df["bytes_up"]) / 1e6).round(2)
    if df["final_accuracy"].notna().any():
        table["accuracy"] = df["final_accuracy"].round(4)
    if df["time_to_target_s"].notna().any():
        table["to_target_s"] = df["time_to_target_s"].round(3)
    if (df["error"].fillna("") != "").any():
        table["error"] = df["error"].fillna("").str.slice(0, 50)
    shown = table.head(MAX_ROWS).to_string(index=False, na_rep="-")
    lines += ["", *("  " + line for line in shown.splitlines())]
    if n > MAX_ROWS:
        lines.append(f"  ... {n - MAX_ROWS} more runs in runs.parquet")
    return "\n".join(lines)


def _threads_note(n: int) -> str:
    return "one math thread per run" if n == 1 else f"{n} math threads per run"


def _short(value, width: int = 28) -> str:
    """A swept value for the table: a mapping by its values (``linear seed``), anything long cut."""
    if isinstance(value, dict):
        value = " ".join(str(v) for v in value.values())
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "~"


def _print_plan(plan) -> None:
    from twin.sweeps.spec import flow

    print(f"{plan.sweep.path}: ok ({plan.sweep.name}: {len(plan.runs)} runs of {plan.base_ref})")
    for run in plan.runs:
        print(f"  {run.run_id}  {flow(run.point.overrides) if run.point.overrides else '{}'}")


if __name__ == "__main__":
    sys.exit(main())
