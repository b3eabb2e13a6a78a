"""A self-contained HTML report of a run or of a sweep (``python -m twin.report DIR``): tables, the plots embedded
as base64 PNG, and the resolved scenario. No external assets: the file opens offline and can be mailed as is.

- a run: its summary table, the plots that apply to it, its resolved scenario;
- a sweep (or a folder of runs): the ranking of :mod:`twin.analysis.ranking`, the comparison plots and each run's
  headline metrics.

Plots a run cannot give (no accuracy recorded, no radio cells ...) are listed with the reason instead.
"""

from __future__ import annotations

import base64
import html
import json
import math
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from twin.analysis.labels import human_bytes, human_seconds
from twin.analysis.loading import AnalysisError, RunFolderWarning, RunSet, open_runs
from twin.analysis.metrics import savings_text
from twin.analysis.plots import render_png
from twin.analysis.ranking import compare, display_table, statements
from twin.errors import InputError

RUN_PLOTS = ("accuracy_vs_time", "reduction_functions", "gantt", "data_distribution", "link_load", "cell_load", "map")
SWEEP_PLOTS = ("reduction_functions", "reduction_functions_comparison", "updates_comparison", "accuracy_vs_time",
               "bytes_vs_accuracy", "accuracy_vs_clients", "uniform_vs_num_examples_weighting")
RUN_COLUMNS = {"run_id": "run", "strategy": "strategy", "seed": "seed", "status": "status", "rounds": "rounds",
               "stop_reason": "stopped by", "sim_time_s": "simulated time", "mean_round_s": "mean round",
               "p95_round_s": "p95 round", "pushed_updates": "updates", "bytes_total": "bytes",
               "dropped": "dropped", "final_accuracy": "final acc.", "time_to_target_s": "time to target",
               "problem": "problem"}

CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; }
tr.chosen td { background: #e9f7e9; font-weight: 600; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0 1.5em; }
pre { background: #f8f8f8; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
.note { color: #555; } .warn { color: #a33; }
"""


def write_report(source: str | Path | RunSet, out: str | Path | None = None, *, target: float | None = None,
                 within: float = 10.0) -> Path:
    """Write the HTML report of the run or sweep in ``source`` to ``out`` (default ``DIR/report.html``)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RunFolderWarning)
        runs = source if isinstance(source, RunSet) else open_runs(source)
    problems = [str(w.message) for w in caught]
    out = Path(out) if out is not None else runs.root / "report.html"
    if runs.ok.empty:
        raise AnalysisError(f"{runs.root}: no complete run to report on")
    body = _run_report(runs, target) if runs.kind == "run" else _sweep_report(runs, target, within, problems)
    title = body[0]
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(body[1:]) + f"\n<p class=\"note\">Written by twin.report on {time.strftime('%Y-%m-%d %H:%M')}."
            "</p>\n</body></html>\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


# ------------------------------------------------------------------------------------------------------- sections


def _run_report(runs: RunSet, target: float | None) -> list[str]:
    run = runs.run_dir()
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    row = runs.ok.iloc[0]
    title = f"twin run {run.name}: {summary.get('name', '')}"
    parts = [title, f"<h1>{html.escape(title)}</h1>",
             f"<p class=\"note\">{html.escape(str(run))}</p>", "<h2>Summary</h2>", _kv_table(_run_summary(summary, row))]
    parts += ["<h2>Plots</h2>", *_plots(runs, RUN_PLOTS, target)]
    resolved = (run / "scenario.resolved.yaml").read_text(encoding="utf-8")
    parts += ["<h2>Resolved scenario</h2>",
              "<p class=\"note\">Every default filled in; <code>python -m twin.run scenario.resolved.yaml</code> "
              "reruns it.</p>", f"<pre>{html.escape(resolved)}</pre>"]
    return parts


def _run_summary(summary: dict[str, Any], row: pd.Series) -> list[tuple[str, str]]:
    rows = [("status", summary.get("status", "?")), ("scenario", summary.get("name", "?")),
            ("seed", summary.get("seed", "?")),
            ("rounds", f"{summary.get('rounds')} (stopped by {summary.get('stop_reason')})"),
            ("simulated time", human_seconds(summary.get("sim_time_s", math.nan))),
            ("round time", f"mean {human_seconds(row['mean_round_s'])}, p95 {human_seconds(row['p95_round_s'])}"),
            ("participations", f"{summary.get('participations')} ({summary.get('completed')} completed, "
                               f"{summary.get('dropped')} dropped)"),
            ("bytes", f"{human_bytes(summary.get('bytes_down', math.nan))} down, "
                      f"{human_bytes(summary.get('bytes_up', math.nan))} up")]
    if summary.get("final_accuracy") is not None:
        rows.append(("accuracy", f"final {summary['final_accuracy']:.4f}, best {summary['best_accuracy']:.4f}"))
    if summary.get("target_accuracy") is not None:
        hit = summary.get("time_to_target")
        rows.append((f"to accuracy {summary['target_accuracy']:g}", "not reached" if not hit else
                     f"round {hit['round']}, {human_seconds(hit['sim_time_s'])}, {human_bytes(hit['bytes_total'])}, "
                     f"{hit['pushed_updates']} updates"))
    vs = summary.get("vs_baseline")
    if vs:
        rows.append(("against the baseline", savings_text(vs)))
    runtime = summary.get("runtime_s") or {}
    rows.append(("wall time", human_seconds(runtime.get("total", math.nan))))
    versions = summary.get("versions") or {}
    rows.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items())))
    if summary.get("exception"):
        rows.append(("exception", summary["exception"]))
    return [(k, str(v)) for k, v in rows]


def _sweep_report(runs: RunSet, target: float | None, within: float, problems: list[str]) -> list[str]:
    name = runs.sweep.get("name", runs.root.name)
    what = "sweep" if runs.kind == "sweep" else "runs"
    title = f"twin {what} {name}"
    n_bad = int((runs.runs["status"] != "ok").sum())
    parts = [title, f"<h1>{html.escape(title)}</h1>",
             f"<p class=\"note\">{html.escape(str(runs.root))}: {len(runs.runs)} runs, {len(runs.ok)} complete"
             + (f", {n_bad} skipped" if n_bad else "") + "</p>"]
    parts += [f"<p class=\"warn\">{html.escape(p)}</p>" for p in problems]
    parts.append("<h2>Ranking</h2>")
    try:
        result = compare(runs, target=target, within=within)
    except InputError as exc:
        parts.append(f"<p class=\"warn\">No ranking: {html.escape(str(exc))}</p>")
    else:
        shown = display_table(result)
        chosen = [s == result.choice for s in shown["strategy"]]
        parts.append(_table(shown, chosen))
        parts += [f"<p>{html.escape(line)}</p>" for line in statements(result)]
    parts += ["<h2>Plots</h2>", *_plots(runs, SWEEP_PLOTS, target)]
    table = runs.runs[[c for c in RUN_COLUMNS if c in runs.runs]].copy()
    for col, fmt in (("sim_time_s", human_seconds), ("mean_round_s", human_seconds), ("p95_round_s", human_seconds),
                     ("time_to_target_s", human_seconds), ("bytes_total", human_bytes),
                     ("final_accuracy", lambda v: f"{v:.4f}" if pd.notna(v) else "-")):
        if col in table:
            table[col] = [fmt(v) if pd.notna(v) else "-" for v in table[col]]
    parts += ["<h2>Runs</h2>", _table(table.rename(columns=RUN_COLUMNS).fillna(""))]
    return parts


def _plots(runs: RunSet, modes: tuple[str, ...], target: float | None) -> list[str]:
    parts, missing = [], []
    for mode in modes:
        try:
            png = render_png(mode, runs, target=target)
        except (InputError, FileNotFoundError, ValueError) as exc:
            missing.append((mode, str(exc)))
            continue
        data = base64.b64encode(png).decode("ascii")
        parts.append(f"<h3>{html.escape(mode)}</h3><img alt=\"{html.escape(mode)}\" "
                     f"src=\"data:image/png;base64,{data}\">")
    if missing:
        parts.append("<p class=\"note\">Not drawn:</p><ul class=\"note\">" + "".join(
            f"<li><b>{html.escape(m)}</b>: {html.escape(why)}</li>" for m, why in missing) + "</ul>")
    return parts


def _kv_table(rows: list[tuple[str, str]]) -> str:
    return "<table>" + "".join(f"<tr><th class=\"l\">{html.escape(k)}</th><td class=\"l\">{html.escape(v)}</td></tr>"
                               for k, v in rows) + "</table>"


def _table(df: pd.DataFrame, highlight: list[bool] | None = None) -> str:
    head = "".join(f"<th class=\"l\">{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for i, values in enumerate(df.itertuples(index=False)):
        cls = " class=\"chosen\"" if highlight and highlight[i] else ""
        cells = "".join(f"<td class=\"l\">{html.escape(str(v))}</td>" if isinstance(v, str) and not
                        _numeric(v) else f"<td>{html.escape(str(v))}</td>" for v in values)
        rows.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _numeric(text: str) -> bool:
    return bool(text) and (text[0].isdigit() or text[0] in "+-") and text != "-"
