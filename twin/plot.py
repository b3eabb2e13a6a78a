"""Command line: ``python -m twin.plot MODE DIR [--out FILE] [--run ID] [--round N] [--target A] [--t T]``.

Draws one plot of the runs in DIR (a run folder, a folder of runs or a sweep folder) as a PNG (default
``DIR/plots/MODE.png``). ``python -m twin.plot --list`` names the modes. Bad input or a plot the runs cannot give
(no accuracy recorded, no radio cells ...): one line, exit 2.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from twin.cli import EXIT_INPUT, ArgumentParser, finite_float, main_of, output_file, printable  # noqa: F401 - EXIT_INPUT is part of the command's API
from twin.errors import InputError


def _parser(modes: dict) -> ArgumentParser:
    p = ArgumentParser(prog="python -m twin.plot", description="Draw one plot of saved runs as a PNG.",
                formatter_class=argparse.RawDescriptionHelpFormatter,
                epilog="modes:\n" + "\n".join(f"  {m:<34} {d}" for m, (_, d) in modes.items()))
    p.add_argument("mode", nargs="?", help="what to draw (see below)")
    p.add_argument("dir", nargs="?", type=Path, help="run folder, folder of runs, or sweep folder")
    p.add_argument("--out", type=Path, help="PNG to write (default: DIR/plots/MODE.png)")
    p.add_argument("--run", metavar="ID", help="for one-run modes: which run of a sweep or folder (default: the first)")
    p.add_argument("--round", type=int, metavar="N", help="gantt: the round to draw (default: 1)")
    p.add_argument("--target", type=finite_float, help="accuracy target to mark (default: the runs' own)")
    p.add_argument("--t", type=finite_float, metavar="SECONDS", help="map: the time of the vehicle positions (default: last)")
    p.add_argument("--list", action="store_true", help="list the modes and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    return main_of(lambda: _main(argv), input_errors=(FileNotFoundError,))


def _main(argv: list[str] | None) -> int:
    from twin.analysis.loading import RunFolderWarning
    from twin.analysis.plots import MODES, make_plot

    args = _parser(MODES).parse_args(argv)
    if args.list:
        print("\n".join(f"{m:<34} {d}" for m, (_, d) in MODES.items()))
        return 0
    if args.mode is None or args.dir is None:
        raise InputError("give a MODE and a DIR (python -m twin.plot --list names the modes)")
    if args.out is not None:
        output_file(args.out, "--out")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RunFolderWarning)
        try:
            path = make_plot(args.mode, args.dir, args.out, run=args.run, round=args.round, target=args.target,
                             t=args.t)
        finally:
            for w in caught:
                print(f"warning: {printable(str(w.message))}", file=sys.stderr)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
