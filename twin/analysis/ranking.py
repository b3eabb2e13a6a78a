"""Ranking the strategies of a sweep and choosing the best one (the study's last objective).

A *strategy* is one combination of the sweep's swept fields (the seed aside); its runs (one per seed) are averaged,
with the standard deviation as the spread. Every number comes from the runs' ``rounds.parquet`` through
:func:`twin.analysis.metrics.run_metrics`.

The criterion (:data:`CRITERION`): among the strategies whose every run reaches the target accuracy, and whose mean
time to reach it is no more than ``within`` percent after the constant schedule's, choose the one that sends the
fewest bytes up to that point (ties: fewer pushed updates, then less time). The constant schedule is always a
candidate, so a choice exists whenever it reaches the target. Its reduction against the constant schedule is given in
pushed updates, bytes and simulated time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from twin.analysis.comparable import NotComparable, describe, job_differences
from twin.analysis.labels import human_bytes, human_seconds
from twin.analysis.loading import AnalysisError, RunSet, open_runs
from twin.analysis.metrics import reduction_pct

CRITERION = ("least bytes up to the target accuracy, among the strategies whose every run reaches it no more than "
             "{within:g}% of simulated time after the constant schedule")
DEFAULT_TARGET = 0.8
# metric -> (column at the target, whole-run column)
_PAIRS = {"time": ("time_to_target_s", "sim_time_s"), "updates": ("updates_to_target", "pushed_updates"),
          "bytes": ("bytes_to_target", "bytes_total")}
_AVERAGED = ("time_to_target_s", "time_to_target_round", "updates_to_target", "bytes_to_target", "sim_time_s",
             "pushed_updates", "bytes_total", "final_accuracy", "best_accuracy", "mean_round_s", "p95_round_s",
             "dropped")


@dataclass
class Comparison:
    """The outcome of :func:`compare`: ``table`` (one row per strategy, best first), the ``baseline`` strategy
    (constant schedule), the ``choice`` (None when no strategy qualifies) with its ``reduction`` against the
    baseline, and ``notes`` that explain anything unusual (no accuracy recorded, target never reached ...)."""

    target: float | None
    within_pct: float
    basis: str                  # "to target" or "whole run"
    table: pd.DataFrame
    baseline: str
    choice: str | None
    reduction: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def criterion(self) -> str:
        return CRITERION.format(within=self.within_pct)

    def text(self) -> str:
        """The ranking as a plain-text table followed by the choice, as ``python -m twin.compare`` prints it."""
        return format_comparison(self)


def compare(source: str | Path | RunSet, target: float | None = None, within: float = 10.0,
            baseline: str | None = None, mixed: bool = False) -> Comparison:
    """Rank the strategies of the runs in ``source`` (see the module docstring for the criterion).

    ``target``: accuracy to reach (default: the runs' common ``fl.stop.target_accuracy``, else 0.8); ``within``:
    percent of the constant schedule's time to target a strategy may take beyond it; ``baseline``: the label of the
    strategy to compare with (default: the constant-schedule strategy with the most clients per round, then the most
    bytes per round, then the first in the sweep: "everyone, uncompressed"). Raises :class:`AnalysisError` when there
    are no good runs or no constant schedule, and :class:`~twin.analysis.comparable.NotComparable` when the runs are
    not the same FL job (they differ outside the strategy fields, :mod:`twin.analysis.comparable`) unless ``mixed``,
    which ranks them anyway and says so under the table.
    """
    runs = source if isinstance(source, RunSet) else open_runs(source)
    ok = runs.ok
    if ok.empty:
        raise AnalysisError(f"{runs.root}: no complete runs to compare")
    notes: list[str] = []
    differ = job_differences([runs.scenarios[r] for r in ok["run_id"] if r in runs.scenarios])
    if differ and not mixed:
        raise NotComparable(f"{runs.root}: the runs are not the same FL job: they differ in {describe(differ)}; only "
                            "strategy fields may differ (schedule, strategy, codecs, local training, deadline, rounds, "
                            "stop rule, seed); rank them anyway with mixed=True (python -m twin.compare --mixed)")
    if differ:
        notes.append(f"Warning: not the same FL job: the runs also differ in {describe(differ)}, so the reductions "
                     "compare different jobs, not only strategies.")
    if target is None:
        own = ok["target"].dropna().unique()
        target = float(own[0]) if len(own) == 1 else DEFAULT_TARGET
    metrics = runs.metrics(target)
    per_run = ok[["run_id", "strategy", "schedule", "seed", "rounds"]].set_index("run_id").join(metrics)
    per_run["asynchronous"] = ok.set_index("run_id")["asynchronous"].fillna(False).astype(bool) \
        if "asynchronous" in ok else False
    if per_run["asynchronous"].any():
        names = ", ".join(ordered_unique(per_run.loc[per_run["asynchronous"], "strategy"]))
        notes.append(f"Asynchronous runs ({names}): their rounds are server steps (one per buffer of updates) and "
                     "their updates count every participation started; compare them on time, updates and bytes.")
    per_run["bytes_per_round"] = per_run["bytes_total"] / per_run["rounds"].astype(float)
    has_accuracy = per_run["best_accuracy"].notna().any()
    basis = "to target" if has_accuracy else "whole run"
    if not has_accuracy:
        notes.append("The runs record no test accuracy (a fixed model, or fl.train: false): the table compares whole "
                     "runs and no choice by the target criterion is made.")
    table = _aggregate(per_run)
    label = _baseline(table, baseline, runs.root)
    base = table.loc[label]
    limit = math.inf
    if has_accuracy:
        if not (table["n_reached"] > 0).any():
            notes.append(f"No run reaches accuracy {target:g}: no strategy can be chosen (best accuracy reached: "
                         f"{per_run['best_accuracy'].max():.4f}).")
        elif base["n_reached"] < base["n_runs"]:
            notes.append(f"The constant schedule ({label}) does not reach accuracy {target:g} in every run, so the "
                         "time limit does not apply: every strategy that always reaches it is a candidate.")
        else:
            limit = base["time_to_target_s"] * (1 + within / 100)
    for name, (at_target, whole) in _PAIRS.items():
        col = at_target if basis == "to target" else whole
        table[f"{name}_reduction_pct"] = [reduction_pct(v, base[col]) for v in table[col]]
    table["eligible"] = (has_accuracy and table["n_reached"] == table["n_runs"]) & \
        (table["time_to_target_s"] <= limit * (1 + 1e-12))
    if has_accuracy:
        order = table.assign(_tier=np.where(table["eligible"], 0, np.where(table["n_reached"] == table["n_runs"], 1, 2)),
                             _acc=-table["best_accuracy"])
        order = order.sort_values(["_tier", "bytes_to_target", "updates_to_target", "time_to_target_s", "_acc"])
    else:
        order = table.sort_values(["bytes_total", "pushed_updates", "sim_time_s"])
    table = table.loc[order.index]
    choice = table.index[table["eligible"]][0] if table["eligible"].any() else None
    table["verdict"] = [_verdict(row, name, label, choice, limit, base, has_accuracy) for name, row in table.iterrows()]
    table.insert(0, "rank", range(1, len(table) + 1))
    reduction = {}
    if choice is not None or not has_accuracy:
        pick = choice if choice is not None else table.index[0]
        for name, (at_target, whole) in _PAIRS.items():
            col = at_target if basis == "to target" else whole
            reduction[name] = {"baseline": float(base[col]), "chosen": float(table.loc[pick, col]),
                               "saved": float(base[col] - table.loc[pick, col]),
                               "reduction_pct": float(table.loc[pick, f"{name}_reduction_pct"])}
    return Comparison(target if has_accuracy else None, within, basis, table, label, choice, reduction, notes)


def ordered_unique(values: pd.Series) -> list[str]:
    return list(dict.fromkeys(str(v) for v in values))


def _aggregate(per_run: pd.DataFrame) -> pd.DataFrame:
    groups = per_run.groupby("strategy", sort=False)
    out = pd.DataFrame({"n_runs": groups.size(), "n_reached": groups["reached"].sum().astype(int),
                        "seeds": groups["seed"].agg(lambda s: ", ".join(str(v) for v in s)),
                        "constant": groups["schedule"].agg(lambda s: bool((s == "constant").all())),
                        "asynchronous": groups["asynchronous"].agg(lambda s: bool(s.any())),
                        "clients_per_round": groups["clients_per_round"].mean(),
                        "bytes_per_round": groups["bytes_per_round"].mean()})
    for col in _AVERAGED:
        out[col] = groups[col].mean()
        out[f"{col}_sd"] = groups[col].std(ddof=1)
    # averages over a group that did not always reach the target would flatter it: NaN instead
    for col in ("time_to_target_s", "time_to_target_round", "updates_to_target", "bytes_to_target"):
        out.loc[out["n_reached"] < out["n_runs"], [col, f"{col}_sd"]] = math.nan
    out.index.name = "strategy"
    return out


def _baseline(table: pd.DataFrame, wanted: str | None, root: Path) -> str:
    if wanted is not None:
        if wanted not in table.index:
            raise AnalysisError(f"{root}: no strategy {wanted!r} to use as baseline (strategies: "
                                f"{', '.join(table.index)})")
        return wanted
    constant = table[table["constant"]]
    if constant.empty:
        raise AnalysisError(f"{root}: no run uses the constant schedule (fl.schedule.kind: constant; asynchronous "
                            "runs have none), so there is nothing to measure a reduction against; name one with "
                            f"--baseline (strategies: {', '.join(table.index)})")
    # the heaviest constant strategy: most clients per round, then most bytes per round, then the first
    heaviest = constant.assign(_c=-constant["clients_per_round"].fillna(0), _b=-constant["bytes_per_round"].fillna(0),
                               _i=range(len(constant))).sort_values(["_c", "_b", "_i"])
    return heaviest.index[0]


def _verdict(row, name, baseline, choice, limit, base, has_accuracy) -> str:
    tags = []
    if name == choice:
        tags.append("CHOSEN")
    if name == baseline:
        tags.append("baseline")
    if has_accuracy and name != choice:
        if row["n_reached"] < row["n_runs"]:
            tags.append(f"reached target in {row['n_reached']}/{row['n_runs']} runs")
        elif not row["eligible"]:
            tags.append(f"too slow ({row['time_to_target_s'] / base['time_to_target_s'] * 100 - 100:+.0f}% time)")
        elif name != baseline:
            tags.append("candidate")
    return ", ".join(tags)


def _pm(mean: float, sd: float, fmt) -> str:
    if mean is None or not np.isfinite(mean):
        return "-"
    return fmt(mean) + (f" ± {fmt(sd)}" if sd is not None and np.isfinite(sd) and sd > 0 else "")


def display_table(c: Comparison) -> pd.DataFrame:
    """The ranking with human units, one string per cell (what the CLI and the HTML report show)."""
    t = c.table
    at = c.basis == "to target"
    cols = {"rank": t["rank"], "strategy": t.index, "runs": t["n_runs"]}
    if at:
        cols[f"reached {c.target:g}"] = [f"{r}/{n}" for r, n in zip(t["n_reached"], t["n_runs"], strict=True)]
    key = {"time": "time_to_target_s", "updates": "updates_to_target", "bytes": "bytes_to_target"} if at else \
        {"time": "sim_time_s", "updates": "pushed_updates", "bytes": "bytes_total"}
    cols["time" + (" to target" if at else "")] = [_pm(m, s, human_seconds) for m, s in
                                                   zip(t[key["time"]], t[key["time"] + "_sd"], strict=True)]
    if at:
        cols["rounds / steps" if t["asynchronous"].any() else "rounds"] = [_pm(m, s, lambda v: f"{v:.1f}") for m, s in
                          zip(t["time_to_target_round"], t["time_to_target_round_sd"], strict=True)]
    cols["updates"] = [_pm(m, s, lambda v: f"{v:,.0f}") for m, s in
                       zip(t[key["updates"]], t[key["updates"] + "_sd"], strict=True)]
    cols["bytes"] = [_pm(m, s, human_bytes) for m, s in zip(t[key["bytes"]], t[key["bytes"] + "_sd"], strict=True)]
    if t["best_accuracy"].notna().any():
        cols["final acc."] = [_pm(m, s, lambda v: f"{v:.3f}") for m, s in
                              zip(t["final_accuracy"], t["final_accuracy_sd"], strict=True)]
    for name in ("updates", "bytes", "time"):
        cols[f"saved {name} %"] = [f"{v:.1f}" if np.isfinite(v) else "-" for v in t[f"{name}_reduction_pct"]]
    cols["verdict"] = t["verdict"]
    return pd.DataFrame(cols).reset_index(drop=True)


def format_comparison(c: Comparison) -> str:
    shown = display_table(c)
    basis = (f"up to the first round reaching accuracy {c.target:g}" if c.basis == "to target" else "whole runs")
    return "\n".join([f"Strategies ranked ({basis}; mean ± sd over seeds; 'saved x %' = percent less than the "
                      f"baseline '{c.baseline}', negative: more):", "", shown.to_string(index=False), "", *statements(c)])


def statements(c: Comparison) -> list[str]:
    """The sentences under the table: the criterion, the notes and the choice with its reduction."""
    lines = [f"Criterion: {c.criterion}."] if c.basis == "to target" else []
    lines += c.notes
    if c.choice is not None and c.choice == c.baseline:
        lines.append(f"Best: {c.choice}, the constant schedule itself: no reduction strategy sends fewer bytes while "
                     f"reaching accuracy {c.target:g} within {c.within_pct:g}% of its time.")
    elif c.choice is not None and not np.isfinite(c.reduction["bytes"]["baseline"]):
        lines.append(f"Best: {c.choice}. The constant schedule ({c.baseline}) never reaches accuracy {c.target:g}, "
                     "so there is no reduction at the target to state.")
    elif c.choice is not None:
        r = c.reduction
        lines.append(f"Best: {c.choice}. Against the constant schedule ({c.baseline}) it pushes "
                     f"{r['updates']['saved']:,.0f} fewer updates ({r['updates']['reduction_pct']:.1f}% less), sends "
                     f"{human_bytes(r['bytes']['saved'])} less ({r['bytes']['reduction_pct']:.1f}% less) and takes "
                     f"{human_seconds(r['time']['chosen'])} instead of {human_seconds(r['time']['baseline'])} of "
                     f"simulated time ({r['time']['reduction_pct']:.1f}% saved) to reach accuracy {c.target:g}.")
    elif c.basis == "to target":
        lines.append("No strategy meets the criterion: no choice.")
    return lines
