"""The seed study's plots, redrawn from run folders: schedule curves, the data distribution, weighting, clients per
round, accuracy per schedule and pushed updates per schedule."""

from __future__ import annotations

import math
import textwrap

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from twin.analysis.labels import strategy_labels
from twin.analysis.loading import RunSet
from twin.analysis.plots.common import (
    LINESTYLES,
    Options,
    PlotUnavailable,
    avoid_tick_overlap,
    colours,
    common_target,
    legend,
    mean_and_range,
    need_accuracy,
    new_figure,
    ordered,
    percent_axis,
    run_title,
    target_line,
)


def reduction_functions(runs: RunSet, opts: Options) -> Figure:
    """Clients selected per round, one step line per strategy (the longest run of each). Strategies whose curves
    coincide (they differ in something else, e.g. the weighting) share one line and one legend entry."""
    rounds = runs.rounds()
    if rounds.empty:
        raise PlotUnavailable(f"{runs.root}: no complete runs")
    fig, ax = new_figure()
    curves: list[tuple[np.ndarray, list[str]]] = []
    for label in ordered(runs.ok["strategy"]):
        own = rounds[rounds["strategy"] == label]
        longest = own.groupby("run_id", observed=True)["round"].max().idxmax()
        counts = own.loc[own["run_id"] == longest, "n_selected"].to_numpy(dtype=float)
        for i, (other, names) in enumerate(curves):
            n = min(len(other), len(counts))
            if np.array_equal(other[:n], counts[:n]):
                curves[i] = (counts if len(counts) > len(other) else other, [*names, label])
                break
        else:
            curves.append((counts, [label]))
    colour = colours([names[0] for _, names in curves])
    for i, (counts, names) in enumerate(curves):
        r = np.arange(1, len(counts) + 1, dtype=float)
        ax.stairs(counts, np.append(r - 0.5, r[-1] + 0.5), color=colour[names[0]],
                  linestyle=LINESTYLES[i // 10 % len(LINESTYLES)], linewidth=1.8, baseline=None,
                  label=f"{_merged(names)} ({int(counts.sum()):,} updates in {len(counts)} rounds)")
    ax.set_xlabel("round")
    ax.set_ylabel("clients selected per round")
    ax.set_ylim(bottom=0, top=rounds["n_selected"].max() * 1.08)
    ax.set_xlim(0.5, rounds["round"].max() + 0.5)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_title("Reduction schedules: clients per round")
    ax.grid(alpha=0.3)
    legend(ax, title="schedule (pushed updates)", outside=True)
    return fig


def _merged(names: list[str]) -> str:
    """One legend label for strategies sharing a curve: what they have in common, and how many they are."""
    if len(names) == 1:
        return names[0]
    common = [p for p in names[0].split(", ") if all(p in n.split(", ") for n in names[1:])]
    return f"{', '.join(common) or ' | '.join(names)}, {len(names)} strategies"


def data_distribution(runs: RunSet, opts: Options) -> Figure:
    """One run's data: samples per client (sorted) and the share of each label per client (the label skew)."""
    run = runs.run_dir(opts.run)
    clients = pd.read_parquet(run / "clients.parquet")
    if "n_samples" not in clients:
        raise PlotUnavailable(f"{run}: clients.parquet has no n_samples: the run trained no model (fl.model.kind: "
                              "fixed or fl.train: false), so there is no data distribution")
    clients = clients.sort_values("n_samples", ascending=False, kind="stable").reset_index(drop=True)
    label_cols = sorted((c for c in clients if c.startswith("label_")), key=lambda c: int(c.split("_")[1]))
    fig, (left, right) = new_figure((11.0, 4.8), ncols=2, width_ratios=[1, 1.25])
    n = clients["n_samples"].to_numpy()
    x = np.arange(1, len(n) + 1)
    if len(n) <= 60:
        left.bar(x, n, width=0.85, color="tab:blue")
    else:
        left.fill_between(x, n, step="mid", color="tab:blue", alpha=0.8, linewidth=0)
    left.axhline(n.mean(), color="0.2", linestyle="--", linewidth=1, label=f"mean {n.mean():.1f} (sd {n.std():.1f})")
    left.set_xlabel("clients, by number of samples (rank)")
    left.set_ylabel("training samples per client")
    left.set_xlim(0.5, len(n) + 0.5)
    left.set_ylim(bottom=0)
    for ax in (left, right):
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    left.set_title(f"{len(n):,} clients, {int(n.sum()):,} samples")
    left.legend(fontsize="small")
    left.grid(axis="y", alpha=0.3)
    if label_cols:
        share = clients[label_cols].to_numpy(dtype=float) / np.maximum(n[:, None], 1)
        image = right.imshow(share.T, aspect="auto", cmap="viridis", interpolation="nearest", vmin=0,
                             extent=(0.5, len(n) + 0.5, len(label_cols) - 0.5, -0.5))
        right.set_yticks(range(len(label_cols)), [c.split("_")[1] for c in label_cols])
        if len(label_cols) > 20:
            right.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(12, integer=True))
        right.set_xlabel("clients, same order as on the left")
        right.set_ylabel("label")
        skew = clients["n_labels"].mean() if "n_labels" in clients else (share > 0).sum(axis=1).mean()
        right.set_title(f"label share per client (mean {skew:.1f} of {len(label_cols)} labels present)")
        fig.colorbar(image, ax=right, label="share of the client's samples", pad=0.01)
    else:
        right.set_axis_off()
    fig.suptitle(f"Data distribution: {run_title(runs, run)}")
    return fig


def _lines_by(runs: RunSet, opts: Options, key: str, key_name: str, fmt, title: str, x: str = "round",
              covers: tuple[str, ...] = (), note: str = "") -> Figure:
    """Accuracy against ``x``: colour per value of the run column ``key``, line style per combination of the swept
    fields that ``key`` does not cover (those whose name contains none of ``covers``); each line the mean over seeds
    with the range shaded."""
    rounds = need_accuracy(runs.rounds(), title)
    ok = runs.ok.dropna(subset=[key])
    if ok.empty:
        raise PlotUnavailable(f"{title} needs runs with a known {key_name}")
    rest_cols = [c for c in runs.swept if not any(word in c for word in covers)] if key != "strategy" else []
    rest = pd.Series(strategy_labels(ok, rest_cols) if rest_cols else [""] * len(ok), index=ok["run_id"])
    keys = pd.Series(ok[key].to_numpy(), index=ok["run_id"])
    values, rests = ordered(keys), ordered(rest)
    colour = colours([str(v) for v in values])
    fig, ax = new_figure()
    rounds = rounds[rounds["run_id"].isin(keys.index)].copy()
    rounds["_key"] = rounds["run_id"].map(keys)
    rounds["_rest"] = rounds["run_id"].map(rest)
    thin = False
    for value in values:
        for j, other in enumerate(rests):
            part = rounds[(rounds["_key"] == value) & (rounds["_rest"] == other)]
            if part.empty:
                continue
            label = fmt(value) + (f", {other}" if len(rests) > 1 and other else "")
            n_runs = part["run_id"].nunique()
            thin |= mean_and_range(ax, part, x, "accuracy", label=label + (f" ({n_runs} runs)" if n_runs > 1 else ""),
                           colour=colour[str(value)], linestyle=LINESTYLES[j % len(LINESTYLES)],
                           marker="o" if part[x].nunique() <= 30 else None)
    target_line(ax, common_target(runs, opts.target))
    ax.set_xlabel("round" if x == "round" else "simulated time (s)")
    if x == "round":
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_ylabel("test accuracy")
    percent_axis(ax)
    ax.grid(alpha=0.3)
    several = rounds.groupby(["_key", "_rest"])["run_id"].nunique().max() > 1
    how = ("mean over runs, range shaded" + ("; thin: runs that went on after others stopped" if thin else "")
           if several else "")
    ax.set_title(title + (f" ({how})" if how else "") + (f"\n{note}" if note else ""),
                 fontsize="medium")
    others = ", ".join(_short(c) for c in rest_cols) if len(rests) > 1 else ""
    legend(ax, title=key_name + (f" (line style: {others})" if others else ""), n=len(values) * len(rests))
    return fig


def _short(column: str) -> str:
    return column.rsplit(".", 1)[-1]


def weighting(runs: RunSet, opts: Options) -> Figure:
    """Accuracy per round for NUM_EXAMPLES vs UNIFORM weighting of the client updates."""
    found = runs.ok["weighting"].dropna().unique() if "weighting" in runs.ok else []
    if len(found) < 2:
        raise PlotUnavailable(f"{runs.root}: every run uses weighting {', '.join(map(str, found)) or 'unknown'}; "
                              "this plot compares runs with fl.strategy.weighting num_examples and uniform")
    return _lines_by(runs, opts, "weighting", "weighting", lambda v: str(v).upper(),
                     "Accuracy per round: NUM_EXAMPLES vs UNIFORM weighting", covers=("weighting",))


def accuracy_vs_clients(runs: RunSet, opts: Options) -> Figure:
    """Accuracy per round for each fixed number of clients per round (constant schedules only)."""
    fixed = runs.ok["clients_per_round"].dropna() if "clients_per_round" in runs.ok else pd.Series(dtype=float)
    if fixed.nunique() < 1:
        raise PlotUnavailable(f"{runs.root}: no run selects a fixed number of clients per round (a constant "
                              "schedule); this plot compares those")
    left_out = len(runs.ok) - len(fixed)
    note = f"{left_out} of {len(runs.ok)} runs left out: their clients per round vary" if left_out else ""
    return _lines_by(runs, opts, "clients_per_round", "clients per round",
                     lambda v: f"{int(v)} clients/round", "Accuracy per round by clients per round",
                     covers=("schedule",), note=note)


def reduction_functions_comparison(runs: RunSet, opts: Options) -> Figure:
    """Accuracy per round, one line per strategy (schedule)."""
    return _lines_by(runs, opts, "strategy", "strategy", str, "Accuracy per round by strategy")


def updates_comparison(runs: RunSet, opts: Options) -> Figure:
    """Pushed model updates per strategy (to the target where every seed reaches it, else the whole run), with the
    reduction against the constant schedule written on each bar."""
    ok = runs.ok
    if ok.empty:
        raise PlotUnavailable(f"{runs.root}: no complete runs")
    target = common_target(runs, opts.target)
    metrics = runs.metrics(target).join(ok.set_index("run_id")[["strategy", "schedule"]])
    labels = ordered(ok["strategy"])
    rows = []
    for label in labels:
        own = metrics[metrics["strategy"] == label]
        at_target = target is not None and bool(own["reached"].all())
        col = "updates_to_target" if at_target else "pushed_updates"
        rows.append({"strategy": label, "mean": own[col].mean(), "sd": own[col].std(ddof=1), "at_target": at_target,
                     "constant": bool((own["schedule"] == "constant").all()), "n": len(own),
                     "clients": own["clients_per_round"].mean()})
    table = pd.DataFrame(rows)
    fig, ax = new_figure((max(6.0, 1.1 * len(table) + 3), 5.0))
    colour = colours(labels)
    x = np.arange(len(table))
    bars = ax.bar(x, table["mean"], yerr=table["sd"].fillna(0), capsize=4,
                  color=[colour[s] for s in table["strategy"]],
                  hatch=[None if t or not table["at_target"].any() else "//" for t in table["at_target"]],
                  edgecolor="0.25", linewidth=0.6)
    base = table[table["constant"]].sort_values("clients", ascending=False, kind="stable")
    base_value = base["mean"].iloc[0] if len(base) else None
    for bar, (_, row) in zip(bars, table.iterrows(), strict=True):
        text = f"{row['mean']:,.0f}"
        if base_value and row["strategy"] != base["strategy"].iloc[0] and math.isfinite(row["mean"]) and \
                row["at_target"] == base["at_target"].iloc[0]:
            text += f"\n{100 * (row['mean'] - base_value) / base_value:+.0f}%"
        top = bar.get_height() + (row["sd"] if math.isfinite(row["sd"]) else 0)
        ax.annotate(text, (bar.get_x() + bar.get_width() / 2, top), xytext=(0, 4), textcoords="offset points",
                    ha="center", va="bottom", fontsize="small")
    names = table["strategy"].str.replace(", ", "\n")
    ax.set_xticks(x, names, fontsize="small" if len(table) > 6 else None)
    ax.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
    ax.set_ylabel("pushed model updates (clients selected, summed)")
    ax.set_ylim(0, np.nanmax(table["mean"] + table["sd"].fillna(0)) * 1.25)
    ax.grid(axis="y", alpha=0.3)
    basis = (f"up to accuracy {target:g}" if table["at_target"].all() else
             "whole runs" if not table["at_target"].any() else
             f"up to accuracy {target:g}; hatched: whole run, target not reached by every seed")
    spread = "; error bars: sd over seeds" if table["n"].max() > 1 else ""
    versus = f"; %: against {base['strategy'].iloc[0]}" if base_value else ""
    subtitle = textwrap.fill(f"({basis}{spread}{versus})", width=int(fig.get_figwidth() * 11))
    ax.set_title(f"Pushed model updates per strategy\n{subtitle}", fontsize="medium")
    avoid_tick_overlap(fig, ax)
    return fig
