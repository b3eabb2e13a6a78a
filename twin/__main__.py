"""``python -m twin``: the commands of twin, and ``--version``."""

from __future__ import annotations

import sys

import twin

COMMANDS = (
    ("python -m twin.run SCENARIO", "run a scenario (a YAML file or a built-in name: quickstart ...) into a run folder"),
    ("python -m twin.sweep SWEEP.yaml", "run a grid of scenarios (local process pool or Ray) into a sweep folder"),
    ("python -m twin.compare DIR", "rank the strategies of a sweep or a folder of runs and state the best one"),
    ("python -m twin.plot MODE DIR", "draw one plot of saved runs as a PNG (--list: the modes)"),
    ("python -m twin.report DIR", "write one HTML page: ranking, plots and runs"),
    ("python -m twin.analysis.maps RUN_DIR", "draw the map of a radio run (roads, cells, coverage, vehicles)"),
)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args in (["--version"], ["-V"]):
        print(f"twin {twin.__version__}")
        return 0
    if args and args[0] not in ("-h", "--help"):
        print(f"error: python -m twin takes no command of its own ({args[0]!r}); use one of the commands below",
              file=sys.stderr)
        print(usage(), file=sys.stderr)
        return 2
    print(usage())
    return 0


def usage() -> str:
    width = max(len(c) for c, _ in COMMANDS)
    lines = [f"twin {twin.__version__}: {twin.__doc__.split(':', 1)[1].strip()}", "", "commands (each has --help):"]
    lines += [f"  {c:<{width}}  {what}" for c, what in COMMANDS]
    lines += ["", "docs: README.md and docs/ (architecture.md, scenarios.md, tables.md, analysis.md, sweeps.md)"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
