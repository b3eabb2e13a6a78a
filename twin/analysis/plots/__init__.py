"""Plot modes over run folders (``python -m twin.plot MODE DIR``). Every mode takes a :class:`RunSet` and
:class:`Options` and returns a matplotlib figure (the map draws itself through ``twin.analysis.maps``).

``make_plot(mode, DIR, out)`` writes one PNG and returns its path; :data:`MODES` maps each mode to its function and
a one-line description.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from twin.analysis.loading import RunSet, open_runs
from twin.analysis.plots import network, study
from twin.analysis.plots.common import Options, PlotUnavailable, save

MODES: dict[str, tuple[Callable, str]] = {
    # the seed study's modes
    "reduction_functions": (study.reduction_functions, "clients selected per round, per schedule"),
    "data_distribution": (study.data_distribution, "samples per client and label share per client (one run)"),
    "uniform_vs_num_examples_weighting": (study.weighting, "accuracy per round, NUM_EXAMPLES vs UNIFORM weighting"),
    "accuracy_vs_clients": (study.accuracy_vs_clients, "accuracy per round per fixed number of clients per round"),
    "reduction_functions_comparison": (study.reduction_functions_comparison, "accuracy per round, per schedule"),
    "updates_comparison": (study.updates_comparison, "pushed model updates per schedule (bars)"),
    # the twin's own
    "accuracy_vs_time": (network.accuracy_vs_time, "accuracy against simulated time, per run"),
    "bytes_vs_accuracy": (network.bytes_vs_accuracy, "bytes sent against final accuracy, Pareto front marked"),
    "gantt": (network.gantt, "one round of one run: download, compute, upload, drops per client (--round N)"),
    "cell_load": (network.cell_load, "air-time utilisation of each radio cell over time (one run)"),
    "link_load": (network.link_load, "utilisation of the busiest wired link directions over time (one run)"),
    "map": (network.network_map, "roads, cells, coverage and vehicles of a radio run (one run, --t T)"),
}
# Modes that draw one run (the first good one, or --run ID).
ONE_RUN = ("data_distribution", "gantt", "cell_load", "link_load", "map")


def make_plot(mode: str, source: str | Path | RunSet, out: str | Path | None = None, *,
              run: str | None = None, round: int | None = None, target: float | None = None,
              t: float | None = None) -> Path:
    """Draw ``mode`` for the runs in ``source`` into ``out`` (default ``DIR/plots/MODE.png``) and return its path.
    Raises :class:`PlotUnavailable` when the runs lack what the mode needs, AnalysisError for a bad folder."""
    if mode not in MODES:
        raise PlotUnavailable(f"unknown plot mode {mode!r}; modes: {', '.join(MODES)}")
    runs = source if isinstance(source, RunSet) else open_runs(source)
    out = Path(out) if out is not None else runs.root / "plots" / f"{mode}.png"
    opts = Options(run=run, round=round, target=target, t=t)
    function = MODES[mode][0]
    if mode == "map":
        return function(runs, opts, out)
    return save(function(runs, opts), out)


def render_png(mode: str, runs: RunSet, **options) -> bytes:
    """``mode`` drawn for ``runs`` as PNG bytes (for embedding); same options and errors as :func:`make_plot`."""
    with tempfile.TemporaryDirectory(prefix="twin-plot-") as tmp:
        return make_plot(mode, runs, Path(tmp) / f"{mode}.png", **options).read_bytes()


__all__ = ["MODES", "ONE_RUN", "Options", "PlotUnavailable", "make_plot", "render_png"]
