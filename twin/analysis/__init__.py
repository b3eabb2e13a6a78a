"""Analysis of saved run folders (pandas, matplotlib; never the simulator itself).

    from twin.analysis import load_runs, load_rounds, compare, make_plot, write_report

- :func:`load_runs` / :func:`load_rounds` / :func:`load_timeline` / :func:`load_samples`: a run folder, a folder of
  runs or a sweep folder as DataFrames (:mod:`twin.analysis.loading`);
- :func:`compare`: rank a sweep's strategies and choose the best (:mod:`twin.analysis.ranking`);
- :func:`make_plot`: one PNG per plot mode (:mod:`twin.analysis.plots`); :func:`write_report`: an HTML report.

Names are imported lazily, so ``import twin.analysis.metrics`` stays light (no matplotlib).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "open_runs": "loading", "load_runs": "loading", "load_rounds": "loading", "load_timeline": "loading",
    "load_samples": "loading", "RunSet": "loading", "RunFolderWarning": "loading", "AnalysisError": "loading",
    "compare": "ranking", "Comparison": "ranking",
    "make_plot": "plots", "MODES": "plots", "PlotUnavailable": "plots",
    "write_report": "report",
    "run_metrics": "metrics", "time_to_target": "metrics", "savings": "metrics",
    "flow_table": "flows",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'twin.analysis' has no attribute {name!r}")
    return getattr(import_module(f"twin.analysis.{_EXPORTS[name]}"), name)
