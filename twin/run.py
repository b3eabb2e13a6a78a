"""Command line: ``python -m twin.run SCENARIO [--out DIR] [--seed N] [--set k=v ...] [--quiet] [--log-level L]``.

SCENARIO is a YAML file or the name of a built-in scenario (``quickstart``). Bad input prints one line naming the
field or file and exits with status 2; nothing already on disk is touched.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twin.cli import EXIT_INPUT, ArgumentParser, main_of, printable  # noqa: F401 - EXIT_INPUT is part of the command's API
from twin.errors import InputError
from twin.logs import LEVELS, Console, level_of
from twin.startup import imports_paused

with imports_paused():  # pandas and pyarrow (the run folder's writer), the pydantic schema: without the collector
    from twin.recording.run_folder import RunNotWritten, write_or_save
    from twin.recording.target import check_target, claim
    from twin.scenario.loading import builtin_names, load_scenario, resolved_yaml
    from twin.scenario.units import format_quantity


def _parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m twin.run",
                                description="Run a twin scenario: simulate FL on its network and write a run folder.",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=f"built-in scenarios: {', '.join(builtin_names())}")
    p.add_argument("scenario", help="scenario YAML file or built-in name")
    p.add_argument("--out", type=Path, help="run folder to write (default: runs/NAME-YYYYmmdd-HHMMSS-PID, with a "
                                            "suffix -2, -3 ... if that exists)")
    p.add_argument("--seed", type=int, help="replace the scenario's seed")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD.PATH=VALUE",
                   help="override a scenario field, e.g. --set fl.rounds=20 (repeatable)")
    p.add_argument("--quiet", action="store_true",
                   help="print only the run folder's path (the log still goes to its run.log)")
    p.add_argument("--log-level", choices=LEVELS, default="info",
                   help="least severe log lines shown on stderr and kept in run.log (default: info: a line a round)")
    p.add_argument("--validate", action="store_true",
                   help="check the scenario and build everything that can fail (files, topology, routes, vehicles, "
                        "data set, model) without simulating; writes nothing")
    p.add_argument("--print-resolved", action="store_true", help="print the scenario with every default filled in")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    p.add_argument("--max-memory", type=_size, metavar="SIZE",
                   help="refuse a scenario whose estimated memory exceeds SIZE (default: limits.max_memory, else 2 GB)")
    p.add_argument("--max-events", type=_count, metavar="N",
                   help="refuse a scenario whose estimated event count exceeds N (default: limits.max_events, else 1e8)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="math threads for training (default: TWIN_THREADS, else 1 for small models, 4 for large ones; "
                        "see docs/performance.md)")
    p.add_argument("--baseline", type=Path, metavar="RUN_DIR",
                   help="a finished run to compare with (normally the constant schedule): savings go into the summary")
    return p


def _size(text: str) -> float:
    from twin.scenario.units import parse_quantity

    try:
        value = parse_quantity(text if not text.replace(".", "", 1).isdigit() else float(text), "size")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive size, got {text!r}")
    return value


def _count(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def preflight(config, base_dir: Path, *, max_memory: float | None = None, max_events: float | None = None) -> float:
    """Refuse, before anything is built, a scenario beyond the resource limits or naming a missing file (one line
    with file:line: field); return the run folder's estimated size in bytes."""
    from twin.scenario.loading import with_location
    from twin.sim.preflight import check, check_files, output_bytes

    try:
        found = check(config, max_memory=max_memory, max_events=max_events)
        check_files(config, base_dir)
    except InputError as exc:
        raise InputError(with_location(config, str(exc))) from None
    return output_bytes(found)


def summary_table(summary: dict, out: Path | None = None) -> str:
    fl = summary.get("fl") != {}  # a pure network run has no FL rows
    step = "server step" if summary.get("asynchronous") else "round"
    rows = [("scenario", summary["name"])]
    rows += [
        (f"{step}s", f"{summary['rounds']} ({summary['stop_reason']})"),
        ("simulated time", f"{summary['sim_time_s']:.3f} s"),
        (f"mean {step}", f"{summary['mean_round_s']:.3f} s"),
        ("participations", f"{summary['participations']} ({summary['completed']} completed, "
                           f"{summary['dropped']} dropped)"),
        ("bytes down", format_quantity(summary["bytes_down"], "B")),
        ("bytes up", format_quantity(summary["bytes_up"], "B")),
    ] if fl else [("stopped", summary["stop_reason"]), ("simulated time", f"{summary['sim_time_s']:.3f} s")]
    for name, c in (summary.get("traffic") or {}).items():
        if name != "fl":
            mean = "-" if c["mean_completion_s"] is None else f"{c['mean_completion_s']:.3f} s"
            rows.append((f"{name} traffic", f"{c['completed']}/{c['flows']} flows, "
                         f"{format_quantity(c['bytes'], 'B')}, mean completion {mean}"))
    if summary.get("drop_causes"):
        rows.append(("drops by cause", ", ".join(f"{k} {v}" for k, v in summary["drop_causes"].items())))
    if summary.get("final_accuracy") is not None:
        rows.append(("final accuracy", f"{summary['final_accuracy']:.4f}"))
    hit = summary.get("time_to_target")
    if summary.get("target_accuracy") is not None:
        rows.append((f"to {summary['target_accuracy']:g} accuracy",
                     "not reached" if hit is None else
                     f"{step} {hit['round']}, {hit['sim_time_s']:.3f} s, {format_quantity(hit['bytes_total'], 'B')}"))
    vs = summary.get("vs_baseline")
    if vs is not None:
        from twin.analysis.metrics import savings_text

        rows.append(("vs baseline", savings_text(vs)))
    rows.append(("wall time", f"{summary['runtime_s']['total']:.2f} s"))
    if out is not None:
        rows.append(("run folder", str(out)))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k:<{width}}  {printable(str(v))}" for k, v in rows)


def main(argv: list[str] | None = None) -> int:
    return main_of(lambda: _main(argv), interrupted="interrupted: nothing was written")


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    config = load_scenario(args.scenario, args.overrides, seed=args.seed)
    base_dir = scenario_base_dir(args.scenario)
    need_bytes = preflight(config, base_dir, max_memory=args.max_memory, max_events=args.max_events)
    if args.print_resolved or args.validate:
        from twin.sim.derived import derive  # the schedule and radio values the build computes (pure, no build)

        derived = derive(config)
        if args.print_resolved:
            print(resolved_yaml(config, derived), end="")
    if args.validate:
        from twin.sim.runner import dry_build  # heavy imports only once the input is known to be good

        built = dry_build(config, base_dir=base_dir)
        if not args.quiet:
            print(printable(f"{args.scenario}: ok ({config.name}): {built}"))
        return 0
    out = args.out or (Path(config.output.dir) if config.output.dir else default_out(config.name))
    out = check_target(out, overwrite=args.overwrite)
    from twin.threads import resolve_threads

    args.threads = resolve_threads(config, args.threads)  # (count, source), checked before anything runs
    baseline = _read_baseline(args.baseline, config) if args.baseline else None
    return _run(config, out, base_dir, args, baseline, need_bytes)


def default_out(name: str) -> Path:
    """``runs/NAME-YYYYmmdd-HHMMSS-PID``: two runs started in the same second by two processes never share a folder;
    one process starting two in the same second gets ``-2``, ``-3`` ... for the later ones."""
    base = Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    out, n = base, 1
    while out.exists():
        n += 1
        out = base.with_name(f"{base.name}-{n}")
    return out


def _read_baseline(run_dir: Path, config):
    """The baseline's rounds table, once it is known to be a complete run of the same FL job (only strategy fields
    may differ: :mod:`twin.analysis.comparable`); refused before anything runs otherwise."""
    import pandas as pd
    import yaml

    from twin.analysis.comparable import check_comparable
    from twin.recording.run_folder import is_complete
    from twin.scenario.loading import without_derived

    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: --baseline run folder not found")
    if not is_complete(run_dir):
        raise InputError(f"{run_dir}: --baseline is not a complete run folder (summary.json or a table is missing)")
    try:
        theirs = yaml.safe_load(without_derived((run_dir / "scenario.resolved.yaml").read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"{run_dir / 'scenario.resolved.yaml'}: cannot read: {str(exc).splitlines()[0]}") from None
    mine = yaml.safe_load(without_derived(resolved_yaml(config)))
    check_comparable([mine, theirs if isinstance(theirs, dict) else {}], f"--baseline {run_dir}")
    try:
        return pd.read_parquet(run_dir / "rounds.parquet")
    except Exception as exc:  # a damaged Parquet file has several exception types
        raise InputError(f"{run_dir / 'rounds.parquet'}: cannot read: {exc}") from None


def scenario_base_dir(path_or_name: str) -> Path:
    """Where a scenario's relative paths (GraphML, data folders) start: its file's folder, or the working directory."""
    path = Path(path_or_name)
    return path.resolve().parent if path.is_file() else Path.cwd()


def run_scenario(config, out: Path, *, base_dir: Path, overwrite: bool = False,
                 on_round: Callable[[int, dict], None] | None = None,
                 before_write: Callable[[Any], None] | None = None, need_bytes: int = 0,
                 threads: tuple[int, str] | int | None = None, log_level: str = "info"):
    """Simulate one validated scenario and write its run folder atomically; returns the ``RunResult``.

    The one way a run becomes a run folder, shared by ``twin.run`` and the sweep workers (``twin.sweeps``).
    The folder is claimed (writable, locked, enough space for ``need_bytes``) before the simulation starts; a folder
    that still cannot be written afterwards raises :class:`RunNotWritten` naming the fallback folder that holds the
    results. ``before_write(result)`` may add to ``result.summary`` before it is written. ``threads``: the math thread
    count (``(count, source)`` or a count; None: :func:`twin.threads.resolve_threads`), set before torch starts and
    recorded in the summary.
    """
    with claim(out, overwrite=overwrite, need_bytes=need_bytes) as target:
        result = simulate_with_threads(config, base_dir=base_dir, on_round=on_round, threads=threads,
                                       log_level=level_of(log_level))
        if before_write is not None:
            before_write(result)
        write_or_save(target, result.tables, result.resolved_yaml, result.summary, log=result.log, files=result.files)
    return result


def simulate_with_threads(config, *, base_dir: Path, on_round: Callable[[int, dict], None] | None = None,
                          threads: tuple[int, str] | int | None = None, log_level: int = logging.INFO):
    """``twin.sim.runner.simulate`` under the thread policy (``twin.threads``); the count goes into the summary."""
    from twin.threads import apply_threads, needs_torch, resolve_threads, torch_threads

    count, source = resolve_threads(config) if threads is None else \
        (threads if isinstance(threads, tuple) else (threads, "--threads"))
    from twin.startup import round_done, settle

    with imports_paused():  # heavy imports only once the input is known to be good, without the collector
        apply_threads(count, load_torch=needs_torch(config))
        from twin.sim.runner import simulate
    settle()  # later imports_paused blocks of this process (a sweep worker's next runs) only pause

    def each_round(round_: int, row: dict) -> None:
        round_done()  # the collector's freeze after a one-run process's first round (twin.startup)
        if on_round is not None:
            on_round(round_, row)

    result = simulate(config, base_dir=base_dir, on_round=each_round, log_level=log_level)
    result.summary["threads"] = {"count": count, "source": source, "torch": torch_threads()}
    return result


def _run(config, out: Path, base_dir: Path, args, baseline=None, need_bytes: float = 0) -> int:
    def add_baseline(result) -> None:
        if baseline is None:
            return
        from twin.analysis.metrics import savings

        if config.fl is None:
            return
        stop = config.fl.stop
        result.summary["vs_baseline"] = {"run": str(args.baseline), **savings(
            result.tables["rounds"], baseline, target=stop.target_accuracy, floor_decimals=stop.floor_decimals)}

    try:
        rounds = config.fl.rounds if config.fl is not None else 0
        with Console(name=config.name, total_rounds=rounds, level=args.log_level, quiet=args.quiet) as console:
            result = run_scenario(config, out, base_dir=base_dir, overwrite=args.overwrite, on_round=console.on_round,
                                  before_write=add_baseline, need_bytes=int(need_bytes), threads=args.threads,
                                  log_level=args.log_level)
    except InputError as exc:  # found only at build time (a data set's content): locate the field it names
        from twin.scenario.loading import with_location

        raise InputError(with_location(config, str(exc))) from None
    except RunNotWritten as exc:
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return 1
    if result.summary["status"] != "ok":
        print(f"error: the simulation failed at t={result.summary['sim_time_s']:.6g} s: "
              f"{printable(str(result.summary['exception']))} "
              f"(partial results and the traceback are in {out})", file=sys.stderr)
        return 1
    print(out if args.quiet else summary_table(result.summary, out))
    return 0


if __name__ == "__main__":
    from twin.cli import exit_now
    from twin.startup import one_run_process

    one_run_process()  # the collector's pace for a process that runs one simulation (twin.startup)
    exit_now(main())  # skip the interpreter's teardown (0.3-0.5 s): twin.cli.exit_now
