"""The twin's own plots: accuracy against simulated time, bytes against accuracy (Pareto front), a per-round Gantt
chart of the clients, load of the radio cells and of the links over time, and the map."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from twin.analysis.loading import ASYNC_COLUMN, RunSet
from twin.analysis.phases import KINDS, drops, phases
from twin.analysis.plots.common import (
    HANDLE_LENGTH,
    LOAD_CMAP,
    Options,
    PlotUnavailable,
    colours,
    common_target,
    fit_title,
    legend,
    need_accuracy,
    new_figure,
    ordered,
    percent_axis,
    run_title,
    target_line,
)

PHASE_COLOURS = {"download": "tab:blue", "compute": "tab:orange", "upload": "tab:green"}
MAX_GANTT_ROWS = 60
MAX_LOAD_ROWS = 40


def accuracy_vs_time(runs: RunSet, opts: Options) -> Figure:
    """Test accuracy against simulated wall-clock time, one line per run, coloured by strategy."""
    rounds = need_accuracy(runs.rounds(), "accuracy_vs_time")
    labels = ordered(runs.ok["strategy"])
    colour = colours(labels)
    fig, ax = new_figure()
    for label in labels:
        own = rounds[rounds["strategy"] == label]
        for i, (_, run) in enumerate(own.groupby("run_id", observed=True)):
            ax.plot(run["t_end"], run["accuracy"], color=colour[label], linewidth=1.4, alpha=0.85,
                    marker="o" if len(run) <= 30 else None, markersize=3, label=label if i == 0 else None)
    target_line(ax, common_target(runs, opts.target))
    _time_axis(ax, rounds["t_end"].max(), "simulated time")
    ax.set_xlim(left=0)
    ax.set_ylabel("test accuracy")
    percent_axis(ax)
    ax.grid(alpha=0.3)
    n_seeds = runs.ok.groupby("strategy")["run_id"].count().max()
    legend(ax, title="strategy" if runs.swept else None, n=len(labels))
    fit_title(ax, "Test accuracy against simulated time" + (" (one line per run)" if n_seeds > 1 else ""))
    return fig


def pareto_front(cost: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats (less or equal cost and more or equal value, one strictly),
    ordered by cost."""
    order = np.lexsort((-value, cost))
    front, best = [], -np.inf
    for i in order:
        if value[i] > best:
            front.append(i)
            best = value[i]
    return np.asarray(front, dtype=int)


def bytes_vs_accuracy(runs: RunSet, opts: Options) -> Figure:
    """Total bytes (down + up) against final test accuracy, per run and per strategy mean, with the Pareto front
    of the strategies (fewest bytes for the accuracy) marked."""
    ok = runs.ok.dropna(subset=["final_accuracy"])
    if ok.empty:
        raise PlotUnavailable("bytes_vs_accuracy needs test accuracy, and these runs record none (a fixed model, or "
                              "fl.train: false)")
    labels = ordered(ok["strategy"])
    colour = colours(labels)
    means = ok.groupby("strategy", sort=False).agg(mb=("bytes_total", "mean"), acc=("final_accuracy", "mean"),
                                                   n=("run_id", "count")).loc[labels]
    means["mb"] /= 1e6
    fig, ax = new_figure()
    for label in labels:
        own = ok[ok["strategy"] == label]
        if len(own) > 1:
            ax.scatter(own["bytes_total"] / 1e6, own["final_accuracy"], color=colour[label], s=14, alpha=0.45)
    front = pareto_front(means["mb"].to_numpy(), means["acc"].to_numpy())
    on_front = set(means.index[front])
    for label, row in means.iterrows():
        ax.scatter(row["mb"], row["acc"], color=colour[label], s=70, edgecolor="black" if label in on_front else
                   "none", linewidth=1.5, zorder=3, label=label + (" (Pareto)" if label in on_front else ""))
    fm = means.iloc[front]
    log = means["mb"].max() > 20 * max(means["mb"].min(), 1e-9)
    if log:
        ax.set_xscale("log")
    else:
        ax.set_xlim(0, 1.08 * max(means["mb"].max(), ok["bytes_total"].max() / 1e6))  # bytes from 0: honest ratios
    if len(fm) > 1:
        # the front as a staircase between its members only: right from each to the next one's cost, then up
        xs = np.repeat(fm["mb"].to_numpy(), 2)[1:]
        ys = np.repeat(fm["acc"].to_numpy(), 2)[:-1]
        ax.plot(xs, ys, color="black", linestyle="-", linewidth=1.1, alpha=0.7, zorder=2,
                label="Pareto front (ringed: no strategy has\nfewer bytes and higher accuracy)")
    target = common_target(runs, opts.target)
    target_line(ax, target)
    ax.set_ylim(*accuracy_limits(pd.concat([ok["final_accuracy"], means["acc"]]), target))
    ax.set_xlabel("bytes sent, down + up, whole run (MB" + (", log scale)" if log else ")"))
    ax.set_ylabel("final test accuracy")
    percent_axis(ax)
    ax.grid(alpha=0.3)
    span = 100 * (ok["final_accuracy"].max() - ok["final_accuracy"].min())
    legend(ax, title="strategy" if runs.swept else None, n=len(labels) + 2, outside=True)
    fit_title(ax, "Bytes against final accuracy" + (" (large: mean over seeds; small: single runs)"
                                                    if means["n"].max() > 1 else "")
              + f"\nfinal accuracies span {span:.2g} points" + ("; ringed: the Pareto front" if len(fm) == 1 else ""),
              fontsize="medium")
    return fig


MIN_ACCURACY_SPAN = 0.05


def accuracy_limits(values: pd.Series, target: float | None = None) -> tuple[float, float]:
    """y limits for accuracies: the data (and target) with a margin, at least :data:`MIN_ACCURACY_SPAN` (5 points)
    wide, within 0..1, so that differences of a few tenths of a point do not fill the axis."""
    data = [float(v) for v in values.dropna()] + ([target] if target is not None else [])
    lo, hi = min(data), max(data)
    pad = max((MIN_ACCURACY_SPAN - (hi - lo)) / 2, 0.08 * (hi - lo))
    lo, hi = lo - pad, hi + pad
    if lo < 0:
        lo, hi = 0.0, min(1.0, hi - lo)
    if hi > 1:
        lo, hi = max(0.0, lo - (hi - 1)), 1.0
    return lo, hi


def gantt(runs: RunSet, opts: Options) -> Figure:
    """One round of one run: per participation, download, compute and upload bars, drops and radio stalls."""
    run = runs.run_dir(opts.run)
    rounds = pd.read_parquet(run / "rounds.parquet")
    if ASYNC_COLUMN in rounds:
        raise PlotUnavailable(f"{run}: an asynchronous run (fedasync / fedbuff) has server steps, not rounds: no round "
                              "to draw; accuracy_vs_time, cell_load and link_load show it over time")
    round_ = 1 if opts.round is None else int(opts.round)
    if rounds.empty or round_ not in set(rounds["round"]):
        raise PlotUnavailable(f"{run}: no round {round_} (the run has rounds 1 to {len(rounds)})")
    info = rounds.set_index("round").loc[round_]
    timeline = pd.read_parquet(run / "timeline.parquet", filters=[("kind", "in", KINDS)])
    bars = phases(timeline, round_)
    dropped = drops(timeline, round_)
    slots = sorted(set(bars["slot"]) | set(dropped["slot"].astype(int)))
    shown = slots[:MAX_GANTT_ROWS]
    t0 = float(info["t_start"])
    height = min(9.0, 1.6 + 0.22 * len(shown))
    fig, ax = new_figure((10.0, max(3.2, height)))
    row_of = {slot: i for i, slot in enumerate(shown)}
    for phase, colour in PHASE_COLOURS.items():
        part = bars[(bars["phase"] == phase) & bars["slot"].isin(row_of)]
        ax.barh([row_of[s] for s in part["slot"]], part["end"] - part["start"], left=part["start"] - t0, height=0.7,
                color=colour, edgecolor=[colour if d else "black" for d in part["done"]],
                hatch=[None if d else "///" for d in part["done"]], linewidth=0.6)
    gone = dropped[dropped["slot"].astype(int).isin(row_of)]
    if len(gone):  # a red X per drop, its cause chain written beside it
        counts = gone["cause"].value_counts()
        ax.scatter(gone["t"] - t0, [row_of[int(s)] for s in gone["slot"]], marker="X", color="red", s=55, zorder=4,
                   label="dropped: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        for drop in gone.itertuples(index=False):
            ax.annotate(str(drop.causes).replace(">", " > "), (drop.t - t0, row_of[int(drop.slot)]),
                        xytext=(-8, 0), textcoords="offset points", ha="right", va="center", fontsize="x-small",
                        color="darkred", zorder=5, bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none",
                                                         "alpha": 0.85})
    _stalls(ax, timeline, bars, row_of, t0, float(info["t_end"]))
    names = bars.drop_duplicates("slot").set_index("slot")["client"].to_dict()
    names.update(dropped.set_index(dropped["slot"].astype(int))["client"].to_dict())
    repeated = len(set(names.values())) < len(names)
    ax.set_yticks(range(len(shown)), [f"{names.get(s, '?')}" + (f" #{s}" if repeated else "") for s in shown],
                  fontsize="small" if len(shown) <= 30 else "x-small")
    ax.set_ylim(len(shown) - 0.5, -0.5)
    end = float(info["t_end"]) - t0
    scale, unit = _time_unit(end)
    ax.axvline(end, color="0.2", linestyle="--", linewidth=1, label=f"round end ({end / scale:.4g} {unit})")
    _time_axis(ax, end, "time since the round started")
    ax.set_xlim(0, end * 1.03)
    ax.set_ylabel("participation (client" + (", #slot)" if repeated else ")"))
    more = f"; first {len(shown)} of {len(slots)} participations shown" if len(slots) > len(shown) else ""
    ax.grid(axis="x", alpha=0.3)
    handles = [Patch(facecolor=c, label=p) for p, c in PHASE_COLOURS.items()] + ax.get_legend_handles_labels()[0]
    if (~bars["done"]).any():
        handles.append(Patch(facecolor="white", edgecolor="black", hatch="///", label="cut short"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False,
              handlelength=HANDLE_LENGTH)
    fit_title(ax, f"Round {round_} of {run_title(runs, run)}: {int(info['n_completed'])} of "
                  f"{int(info['n_selected'])} clients completed, {int(info['n_dropped'])} dropped{more}",
              fontsize="medium")
    return fig


def _stalls(ax, timeline: pd.DataFrame, bars: pd.DataFrame, row_of: dict, t0: float, t1: float) -> None:
    """Black strips where a participant's transfer stood still (handover interruption, no coverage): stall ->
    resume intervals of its client, clipped to its download and upload bars (a stall while computing costs nothing)."""
    stall = timeline[timeline["kind"].isin(["stall", "resume"]) & (timeline["t"] >= t0) & (timeline["t"] <= t1)]
    if stall.empty:
        return
    transfers = bars[bars["phase"].isin(["download", "upload"]) & bars["slot"].isin(row_of)]
    label = "transfer stalled (handover, no coverage)"
    for client, own in stall.sort_values("t", kind="stable").groupby("client"):
        spans, begin = [], None
        for kind, t in zip(own["kind"], own["t"], strict=True):
            if kind == "stall":
                begin = t
            elif begin is not None:
                spans.append((begin, t))
                begin = None
        if begin is not None:
            spans.append((begin, t1))
        for bar in transfers[transfers["client"] == client].itertuples(index=False):
            for b, e in spans:
                lo, hi = max(b, bar.start), min(e, bar.end)
                if hi > lo or (hi == lo and bar.start < lo < bar.end):
                    ax.barh(row_of[bar.slot], max(hi - lo, (t1 - t0) * 0.003), left=lo - t0, height=0.3,
                            color="black", label=label, zorder=3)
                    label = None


def _time_unit(t_max: float) -> tuple[float, str]:
    """Seconds, or ms / minutes / hours when the span is short or long: (seconds per unit, unit)."""
    if t_max >= 2 * 3600:
        return 3600.0, "h"
    if t_max >= 5 * 60:
        return 60.0, "min"
    if t_max < 1:
        return 1e-3, "ms"
    return 1.0, "s"


def _time_axis(ax, t_max: float, what: str) -> None:
    """The x axis in the unit :func:`_time_unit` picks, named in the label."""
    scale, unit = _time_unit(t_max)
    if scale != 1.0:
        ax.xaxis.set_major_locator(_ScaledLocator(scale))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / scale:.6g}"))
    ax.set_xlabel(f"{what} ({unit})")


class _ScaledLocator(matplotlib.ticker.MaxNLocator):
    """Ticks at round values of the displayed unit (minutes: 0, 2, 4 ...), for an axis whose data are in seconds."""

    def __init__(self, scale: float) -> None:
        super().__init__(nbins="auto", steps=[1, 2, 2.5, 5, 10])
        self.scale = scale

    def tick_values(self, vmin: float, vmax: float):
        return super().tick_values(vmin / self.scale, vmax / self.scale) * self.scale


def _load_heatmap(runs: RunSet, opts: Options, select, what: str, quantity: str, missing: str) -> Figure:
    run = runs.run_dir(opts.run)
    samples = pd.read_parquet(run / "samples.parquet", filters=[("name", "in", ["mean_utilisation", "utilisation"])])
    # measured over each interval (exact, from the engine) where the run has it; runs of older versions: instants
    interval = bool((samples["name"] == "mean_utilisation").any())
    samples = samples[(samples["name"] == ("mean_utilisation" if interval else "utilisation"))
                      & select(samples["entity"])]
    if samples.empty:
        raise PlotUnavailable(f"{run}: {missing}")
    grid = samples.pivot_table(index="entity", columns="t", values="value", aggfunc="mean")
    tiers = _cell_tiers(run)
    groups = []
    for title, part in _split(grid):
        busy = part.max(axis=1)
        used = busy[busy > 0].index
        ranked = part.loc[used].mean(axis=1).sort_values(ascending=False).index[:MAX_LOAD_ROWS]
        notes = []
        if len(used) > len(ranked):
            notes.append(f"the {len(ranked)} busiest of {len(used)} used")
        if len(part) > len(used):
            notes.append(f"{len(part) - len(used)} of {len(part)} idle throughout, not shown")
        groups.append((title + (f" ({'; '.join(notes)})" if notes else ""), part.loc[sorted(ranked, key=_natural)]))
    groups = [(t, g) for t, g in groups if len(g)] or [(groups[0][0], groups[0][1])]
    if all(g.empty for _, g in groups):
        raise PlotUnavailable(f"{run}: every {what} stays idle throughout (utilisation 0)")
    rows = [max(len(g), 1) for _, g in groups]
    fig, axes = new_figure((10.0, min(10.0, 1.6 + 0.2 * sum(rows) + 0.7 * len(rows))), nrows=len(rows),
                           height_ratios=rows, sharex=True)
    axes = np.atleast_1d(axes)
    rounds = pd.read_parquet(run / "rounds.parquet", columns=["t_start"])
    image = None
    cmap = matplotlib.colormaps[LOAD_CMAP].with_extremes(bad="white")
    t_end = 0.0
    for ax, (title, part) in zip(axes, groups, strict=True):
        t = part.columns.to_numpy(dtype=float)
        edges = np.concatenate([[0.0], t]) if interval else _time_edges(t)  # an interval sample closes its interval
        t_end = max(t_end, edges[-1])
        load = np.ma.masked_less_equal(100 * part.to_numpy(), 0.0)  # idle: white, far from the darkest (lowest) load
        image = ax.pcolormesh(edges, np.arange(len(part) + 1) - 0.5, load, cmap=cmap, vmin=0, vmax=100)
        ax.set_ylim(len(part) - 0.5, -0.5)
        names = [f"{e} ({tiers[e.rsplit('.', 1)[0]]})" if e.rsplit(".", 1)[0] in tiers else e for e in part.index]
        ax.set_yticks(range(len(part)), names, fontsize="small" if len(part) <= 25 else "x-small")
        for start in rounds["t_start"].iloc[1:]:
            ax.axvline(start, color="0.4", linewidth=0.8, linestyle="--")
        ax.set_title(title, fontsize="medium")
    _time_axis(axes[-1], t_end, "simulated time")
    axes[-1].set_xlim(0, t_end)
    fig.colorbar(image, ax=list(axes), pad=0.01,
                 label=f"mean {quantity}\nover each interval (%; white: idle)" if interval else
                 f"{quantity} (%; white: idle)")
    fit_title(fig, f"{what.capitalize()} load over time: {run_title(runs, run)}"
              + (" (dashed lines: round starts)" if len(rounds) > 1 else ""))
    return fig


def _time_edges(t: np.ndarray) -> np.ndarray:
    """Cell edges for samples taken at the instants ``t``: halfway between neighbours, the first edge at
    ``max(0, t[0] - half a step)`` (simulated time starts at 0), the last half a step after the last sample."""
    step = np.diff(t).min() if t.size > 1 else 1.0
    mids = (t[1:] + t[:-1]) / 2
    return np.concatenate([[max(0.0, t[0] - step / 2)], mids, [t[-1] + step / 2]])


def _cell_tiers(run: Path) -> dict[str, str]:
    """cell id -> tier name (macro, small ...) from cells.parquet, when the run has one."""
    path = run / "cells.parquet"
    if not path.is_file():
        return {}
    cells = pd.read_parquet(path)
    return dict(zip(cells["cell"], cells["tier"], strict=True)) if {"cell", "tier"} <= set(cells) else {}


def _split(grid: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Cells split into downlink and uplink panels; links into one."""
    names = grid.index.to_series()
    dl, ul = grid[names.str.endswith(".dl").to_numpy()], grid[names.str.endswith(".ul").to_numpy()]
    if len(dl) or len(ul):
        return [(t, g) for t, g in (("downlink", dl), ("uplink", ul)) if len(g)]
    return [("link directions", grid)]


def _natural(name: str):
    return [int(p) if p.isdigit() else p for p in name.replace("->", ".").split(".")]


def cell_load(runs: RunSet, opts: Options) -> Figure:
    """Air-time utilisation of every radio cell (downlink and uplink) over simulated time, as heat maps."""
    return _load_heatmap(runs, opts, lambda e: e.str.match(r"^cell\.\d+\.(dl|ul)$"), "cell",
                         "air-time utilisation", "no per-cell load samples (utilisation of cell.K.dl / cell.K.ul): the run has no radio "
                         "cells (radio.kind: none) or output.sample_period_s is 0")


def link_load(runs: RunSet, opts: Options) -> Figure:
    """Utilisation of the wired link directions over simulated time (the busiest 40), as a heat map."""
    return _load_heatmap(runs, opts, lambda e: ~e.str.startswith("cell."), "link",
                         "utilisation of the link capacity", "no link utilisation samples: output.sample_period_s is 0")


def network_map(runs: RunSet, opts: Options, out: Path) -> Path:
    """The map of a radio run (roads, cells, coverage, vehicles at time ``t``), drawn by twin.analysis.maps."""
    try:
        from twin.analysis.maps import plot_map
    except ImportError:
        raise PlotUnavailable("the map needs twin.analysis.maps, which this installation lacks") from None
    run = runs.run_dir(opts.run)
    if not (run / "cells.parquet").is_file():
        raise PlotUnavailable(f"{run}: no cells.parquet: the map needs a run of a scenario with radio.kind: cellular")
    return plot_map(run, t=opts.t, out=out)

