"""The seed study's plots, redrawn from run folders: schedule curves, the data distribution, weighting, clients per
round, accuracy per schedule and pushed updates per schedule."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from twin.analysis.labels import strategy_labels
from twin.analysis.loading import RunSet
from twin.analysis.metrics import reduction_pct
from twin.analysis.plots.common import (
    LINESTYLES,
    MAX_BANDS,
    Options,
    PlotUnavailable,
    avoid_tick_overlap,
    colours,
    common_target,
    fit_title,
    integer_axis,
    legend,
    mean_and_range,
    need_accuracy,
    new_figure,
    ordered,
    percent_axis,
    run_title,
    target_line,
)

# Clients drawn one column each (bars, heat map) at most; beyond this the data distribution is summarised.
MAX_CLIENT_COLUMNS = 60


def updates_per_strategy(runs: RunSet, target: float | None) -> pd.DataFrame:
    """Pushed model updates per strategy, the numbers both ``reduction_functions`` and ``updates_comparison`` show:
    ``mean`` / ``sd`` over the strategy's runs (seeds) of the updates up to ``target`` where every run reaches it
    (``at_target``), else of the whole runs; ``n`` runs, ``constant`` schedule, mean ``clients`` per round."""
    metrics = runs.metrics(target).join(runs.ok.set_index("run_id")[["strategy", "schedule"]])
    rows = []
    for label in ordered(runs.ok["strategy"]):
        own = metrics[metrics["strategy"] == label]
        at_target = target is not None and bool(own["reached"].all())
        col = "updates_to_target" if at_target else "pushed_updates"
        rows.append({"strategy": label, "mean": own[col].mean(), "sd": own[col].std(ddof=1), "at_target": at_target,
                     "constant": bool((own["schedule"] == "constant").all()), "n": len(own),
                     "clients": own["clients_per_round"].mean()})
    return pd.DataFrame(rows).set_index("strategy", drop=False)


def reduction_functions(runs: RunSet, opts: Options) -> Figure:
    """Clients selected per round, one step line per strategy (the longest run of each). Strategies whose curves
    coincide (they differ in something else, e.g. the weighting) share one line and one legend entry. The legend
    gives the pushed updates of :func:`updates_per_strategy` (mean over seeds, to the target where every seed
    reaches it), the same numbers as ``updates_comparison``."""
    rounds = runs.rounds()
    if rounds.empty:
        raise PlotUnavailable(f"{runs.root}: no complete runs")
    asynchronous = _asynchronous(runs)
    if len(asynchronous) == len(runs.ok):
        raise PlotUnavailable(f"{runs.root}: every run is asynchronous (fedasync / fedbuff): no rounds, so no clients "
                              "per round; accuracy_vs_time and updates_comparison show them")
    target = common_target(runs, opts.target)
    updates = updates_per_strategy(runs, target)
    updates = updates[~updates["strategy"].isin(runs.ok.loc[runs.ok["run_id"].isin(asynchronous), "strategy"])]
    rounds = rounds[~rounds["run_id"].isin(asynchronous)]
    fig, ax = new_figure()
    curves: list[tuple[np.ndarray, list[str]]] = []
    for label in ordered(runs.ok.loc[~runs.ok["run_id"].isin(asynchronous), "strategy"]):
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
    mixed = bool(updates["at_target"].any() and not updates["at_target"].all())
    for i, (counts, names) in enumerate(curves):
        r = np.arange(1, len(counts) + 1, dtype=float)
        ax.stairs(counts, np.append(r - 0.5, r[-1] + 0.5), color=colour[names[0]],
                  linestyle=LINESTYLES[i // 10 % len(LINESTYLES)], linewidth=1.8, baseline=None,
                  label=f"{_merged(names)}: {_updates_text(updates.loc[names], mixed)}")
    ax.set_xlabel("round")
    ax.set_ylabel("clients selected per round")
    ax.set_ylim(bottom=0, top=rounds["n_selected"].max() * 1.08)
    ax.set_xlim(0.5, rounds["round"].max() + 0.5)
    integer_axis(ax.xaxis)
    integer_axis(ax.yaxis)
    ax.grid(alpha=0.3)
    seeds = int(updates["n"].max())
    basis = (f"to accuracy {target:g}" if updates["at_target"].all() else "whole run" if not
             updates["at_target"].any() else f"to accuracy {target:g}; *: whole run, not every seed reached it")
    legend(ax, title="schedule: pushed updates\n" + (f"(mean over {seeds} seeds, {basis})" if seeds > 1 else
                                                      f"({basis})"), outside=True)
    fit_title(ax, "Reduction schedules: clients per round" + (" (curve: the longest run of each)"
                                                              if seeds > 1 else "")
              + (f"\n{len(asynchronous)} asynchronous runs left out: they have no rounds" if asynchronous else ""))
    return fig


def _asynchronous(runs: RunSet) -> list[str]:
    """The run ids of the asynchronous runs (fedasync / fedbuff: server steps instead of rounds)."""
    if "asynchronous" not in runs.ok:
        return []
    return runs.ok.loc[runs.ok["asynchronous"].fillna(False).astype(bool), "run_id"].tolist()


def _updates_text(rows: pd.DataFrame, mark: bool) -> str:
    """'2,653 updates' for one strategy, '2,600-2,700 updates' for strategies sharing a curve; with ``mark``, a *
    where the number counts whole runs (not every seed reached the target)."""
    lo, hi = rows["mean"].min(), rows["mean"].max()
    text = f"{lo:,.0f}" if round(lo) == round(hi) else f"{lo:,.0f}-{hi:,.0f}"
    return f"{text} updates" + ("*" if mark and not rows["at_target"].all() else "")


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
    if len(n) <= MAX_CLIENT_COLUMNS:
        left.bar(x, n, width=0.85, color="tab:blue")
    else:
        left.fill_between(x, n, step="mid", color="tab:blue", alpha=0.8, linewidth=0)
    left.axhline(n.mean(), color="0.2", linestyle="--", linewidth=1, label=f"mean {n.mean():.1f} (sd {n.std():.1f})")
    left.set_xlabel("clients, by number of samples (rank)")
    left.set_ylabel("training samples per client")
    left.set_xlim(0.5, len(n) + 0.5)
    left.set_ylim(bottom=0)
    integer_axis(left.xaxis)
    if len(n) <= MAX_CLIENT_COLUMNS:
        integer_axis(right.xaxis)
    left.set_title(f"{len(n):,} clients, {int(n.sum()):,} samples", fontsize="medium")
    integer_axis(left.yaxis)
    left.legend(fontsize="small")
    left.grid(axis="y", alpha=0.3)
    if label_cols and len(n) <= MAX_CLIENT_COLUMNS:
        share = clients[label_cols].to_numpy(dtype=float) / np.maximum(n[:, None], 1)
        image = right.imshow(share.T, aspect="auto", cmap="viridis", interpolation="nearest", vmin=0,
                             extent=(0.5, len(n) + 0.5, len(label_cols) - 0.5, -0.5))
        right.set_yticks(range(len(label_cols)), [c.split("_")[1] for c in label_cols])
        if len(label_cols) > 20:
            right.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(12, integer=True))
        right.set_xlabel("clients, same order as on the left")
        right.set_ylabel("label")
        skew = clients["n_labels"].mean() if "n_labels" in clients else (share > 0).sum(axis=1).mean()
        fit_title(right, f"label share per client (mean {skew:.1f} of {len(label_cols)} labels present)",
                  fontsize="medium")
        fig.colorbar(image, ax=right, label="share of the client's samples", pad=0.01)
    elif label_cols:
        _label_summary(right, clients, label_cols, n)
    else:
        right.set_axis_off()
    fit_title(fig, f"Data distribution: {run_title(runs, run)}")
    return fig


def _label_summary(ax, clients: pd.DataFrame, label_cols: list[str], n: np.ndarray) -> None:
    """Too many clients for a column each: per label, the distribution over clients of its share of the client's
    samples (box: quartiles, whiskers: 5th-95th percentile, dot: the pooled share), the label skew at a glance."""
    share = clients[label_cols].to_numpy(dtype=float) / np.maximum(n[:, None], 1)
    names = [c.split("_")[1] for c in label_cols]
    ax.boxplot(share, positions=range(len(names)), widths=0.6, whis=(5, 95), showfliers=False,
               medianprops={"color": "black"}, patch_artist=True, boxprops={"facecolor": "tab:blue", "alpha": 0.55})
    pooled = clients[label_cols].sum().to_numpy(dtype=float) / max(n.sum(), 1)
    ax.scatter(range(len(names)), pooled, color="tab:red", s=18, zorder=3)
    ax.set_xticks(range(len(names)), names)
    ax.set_xlabel("label")
    ax.set_ylabel("share of the client's samples")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    ax.grid(axis="y", alpha=0.3)
    present = clients["n_labels"].mean() if "n_labels" in clients else (share > 0).sum(axis=1).mean()
    fit_title(ax, f"label share over {len(n):,} clients (box: quartiles, whiskers: 5-95 %, red dot: share of all "
                  f"samples; mean {present:.1f} of {len(names)} labels present per client)", fontsize="medium")


def _lines_by(runs: RunSet, opts: Options, key: str, key_name: str, fmt, title: str, x: str = "round",
              covers: tuple[str, ...] = (), note: str = "") -> Figure:
    """Accuracy against ``x``: colour per value of the run column ``key``, line style per combination of the swept
    fields that ``key`` does not cover (those whose name contains none of ``covers``); each line the mean over seeds
    with the range shaded."""
    rounds = need_accuracy(runs.rounds(), title)
    if x == "round" and _asynchronous(runs):  # server steps are not rounds: put every run on simulated time
        x, title = "t_end", title.replace("per round", "against simulated time")
        note = "; ".join(n for n in (note, "asynchronous runs have server steps, not rounds") if n)
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
    parts = [(value, j, other, rounds[(rounds["_key"] == value) & (rounds["_rest"] == other)])
             for value in values for j, other in enumerate(rests)]
    parts = [p for p in parts if not p[3].empty]
    spread = [p for p in parts if p[3]["run_id"].nunique() > 1]
    bands = len(spread) <= MAX_BANDS   # more bands than this overlap into one smear: means only
    thin = False
    for value, j, other, part in parts:
        label = fmt(value) + (f", {other}" if len(rests) > 1 and other else "")
        n_runs = part["run_id"].nunique()
        thin |= mean_and_range(ax, part, x, "accuracy", label=label + (f" ({n_runs} runs)" if n_runs > 1 else ""),
                               colour=colour[str(value)], linestyle=LINESTYLES[j % len(LINESTYLES)],
                               marker="o" if part[x].nunique() <= 30 else None, band=bands)
    target_line(ax, common_target(runs, opts.target))
    ax.set_xlabel("round" if x == "round" else "simulated time (s)")
    if x == "round":
        integer_axis(ax.xaxis)
    ax.set_ylabel("test accuracy")
    percent_axis(ax)
    ax.grid(alpha=0.3)
    how = ""
    if spread:
        how = ("mean over runs, min-max range shaded" if bands else
               f"mean over runs; ranges not shaded: {len(spread)} would overlap")
        how += "; thin: runs that went on after others stopped" if thin else ""
    others = ", ".join(_short(c) for c in rest_cols) if len(rests) > 1 else ""
    legend(ax, title=key_name + (f" (line style: {others})" if others else ""), n=len(values) * len(rests))
    fit_title(ax, title + (f" ({how})" if how else "") + (f"\n{note}" if note else ""), fontsize="medium")
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
    labels = ordered(ok["strategy"])
    table = updates_per_strategy(runs, target).reset_index(drop=True)
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
            text += f"\nsaved {reduction_pct(row['mean'], base_value):.0f}%"
        top = bar.get_height() + (row["sd"] if math.isfinite(row["sd"]) else 0)
        ax.annotate(text, (bar.get_x() + bar.get_width() / 2, top), xytext=(0, 4), textcoords="offset points",
                    ha="center", va="bottom", fontsize="small")
    names = table["strategy"].str.replace(", ", "\n")
    ax.set_xticks(x, names, fontsize="small" if len(table) > 6 else None)
    integer_axis(ax.yaxis)
    ax.set_ylabel("pushed model updates (clients selected, summed)")
    ax.set_ylim(0, np.nanmax(table["mean"] + table["sd"].fillna(0)) * 1.25)
    ax.grid(axis="y", alpha=0.3)
    basis = (f"up to accuracy {target:g}" if table["at_target"].all() else
             "whole runs" if not table["at_target"].any() else
             f"up to accuracy {target:g}; hatched: whole run, target not reached by every seed")
    spread = "; error bars: sd over seeds" if table["n"].max() > 1 else ""
    versus = (f"; saved: % fewer than {base['strategy'].iloc[0]} (negative: more)" if base_value else "")
    avoid_tick_overlap(fig, ax)
    fit_title(ax, f"Pushed model updates per strategy\n({basis}{spread}{versus})", fontsize="medium")
    return fig
