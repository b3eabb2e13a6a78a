"""Command line: ``python -m twin.compare DIR [--target 0.8] [--within 10] [--baseline LABEL] [--mixed] [--csv FILE]``.

Ranks the strategies of the runs in DIR (a sweep folder, or a folder of run folders; runs that differ only in their
seed are one strategy, averaged over seeds) and states the best one: the least bytes among those reaching the target
accuracy no more than ``--within`` percent of simulated time after the constant schedule, with what it saves
(pushed updates, bytes, simulated time; positive = less than the baseline). The runs must be the same FL job apart
from strategy fields (schedule, strategy, codecs, local training, deadline, rounds, stop rule, seed): otherwise it
names the fields that differ and stops, unless ``--mixed``. Bad input: one line, exit 2.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

from twin.cli import EXIT_INPUT, ArgumentParser, finite_float, main_of, output_file, printable  # noqa: F401 - EXIT_INPUT is part of the command's API
from twin.errors import InputError


def _parser() -> ArgumentParser:
    description = " ".join(__doc__.split("\n\n")[1].split()).replace("``", "")
    p = ArgumentParser(prog="python -m twin.compare", description=description)
    p.add_argument("sweep", type=Path, metavar="DIR",
                   help="sweep folder (python -m twin.sweep ... --out DIR) or a folder of run folders")
    p.add_argument("--target", type=finite_float, help="accuracy to reach (default: the runs' fl.stop.target_accuracy, "
                                                "else 0.8)")
    p.add_argument("--within", type=finite_float, default=10.0, metavar="PCT",
                   help="how much later than the constant schedule (percent of its time to target) a strategy may "
                        "reach the target and still be chosen (default: 10)")
    p.add_argument("--baseline", metavar="LABEL", help="the strategy to measure reductions against (default: the "
                                                       "constant schedule with the most clients per round)")
    p.add_argument("--mixed", action="store_true",
                   help="rank runs that are not the same FL job anyway (the output says which fields differ)")
    p.add_argument("--csv", type=Path, metavar="FILE", help="also write the full ranking table as CSV")
    return p


def main(argv: list[str] | None = None) -> int:
    return main_of(lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    from twin.analysis.loading import RunFolderWarning, open_runs
    from twin.analysis.ranking import compare

    args = _parser().parse_args(argv)
    if args.target is not None and not 0 < args.target <= 1:
        raise InputError(f"--target: an accuracy between 0 and 1, got {args.target:g}")
    if args.within < 0:
        raise InputError(f"--within: a percentage >= 0, got {args.within:g}")
    if args.csv is not None:
        output_file(args.csv, "--csv")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RunFolderWarning)
        runs = open_runs(args.sweep)
    for w in caught:
        print(f"warning: {printable(str(w.message))}", file=sys.stderr)
    result = compare(runs, target=args.target, within=args.within, baseline=args.baseline, mixed=args.mixed)
    print(result.text())
    if args.csv is not None:
        result.table.to_csv(args.csv)
        print(f"table written to {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
