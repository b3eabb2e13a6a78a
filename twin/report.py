"""Command line: ``python -m twin.report DIR [--out report.html] [--target A] [--within PCT]``.

Writes a self-contained HTML report (plots embedded, no external assets) of a run folder, a sweep folder or a folder
of runs; default ``DIR/report.html``. Bad input: one line, exit 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

from twin.cli import EXIT_INPUT, ArgumentParser, finite_float, main_of, output_file  # noqa: F401 - EXIT_INPUT is part of the command's API


def main(argv: list[str] | None = None) -> int:
    return main_of(lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    from twin.analysis.report import write_report

    p = ArgumentParser(prog="python -m twin.report", description="Write a self-contained HTML report of runs.")
    p.add_argument("dir", type=Path, help="run folder, sweep folder, or folder of runs")
    p.add_argument("--out", type=Path, help="HTML file to write (default: DIR/report.html)")
    p.add_argument("--target", type=finite_float, help="accuracy target (default: the runs' own, else 0.8)")
    p.add_argument("--within", type=finite_float, default=10.0, metavar="PCT",
                   help="the ranking's time allowance after the constant schedule, in percent (default: 10)")
    args = p.parse_args(argv)
    if args.out is not None:
        output_file(args.out, "--out")
    path = write_report(args.dir, args.out, target=args.target, within=args.within)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
