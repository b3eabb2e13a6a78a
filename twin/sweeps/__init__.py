"""Sweeps: a grid of scenario overrides run on local processes or a Ray cluster, resumable, with an index.

``spec`` (the sweep file) -> ``plan`` (every run validated, with its id and hash) -> ``runner`` (skip what is done,
run the rest on a ``backends`` backend; ``execute`` is what a worker does) -> ``index`` (the sweep folder). The command
line is ``python -m twin.sweep`` (``twin/sweep.py``).
"""

from twin.sweeps.plan import Plan, PlannedRun, make_plan
from twin.sweeps.spec import Sweep, SweepError, SweepSpec, load_sweep

__all__ = ["Plan", "PlannedRun", "Sweep", "SweepError", "SweepSpec", "load_sweep", "make_plan"]
