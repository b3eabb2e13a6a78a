"""What each participation of a round did and when, from the timeline: download, compute, upload, dropped.

``phases(timeline, round)`` gives one row per (participation, phase) with ``start`` / ``end`` in simulated seconds,
so a Gantt chart (``python -m twin.plot gantt``) or a pandas query can use it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

KINDS = ["round_start", "select", "flow_start", "flow_end", "flow_cancel", "train_start", "train_end",
         "client_dropped", "aggregate", "round_end", "handover", "stall", "resume"]


def phases(timeline: pd.DataFrame, round_: int) -> pd.DataFrame:
    """One row per phase of each participation in round ``round_``: ``slot``, ``client``, ``phase`` ('download',
    'compute', 'upload'), ``start``, ``end`` (s), ``done`` (False when cut short by a drop: ``end`` is then the drop
    time). Participations that never got to a phase have no row for it."""
    tl = timeline[timeline["round"] == round_]
    cols = ["slot", "client", "phase", "start", "end", "done"]
    if tl.empty:
        return pd.DataFrame(columns=cols)
    who = tl[tl["kind"] == "select"].set_index("slot")["client"]
    rows = []
    starts = tl[tl["kind"] == "flow_start"]
    ends = tl[tl["kind"].isin(["flow_end", "flow_cancel"])].set_index("flow")
    for flow in starts.itertuples(index=False):
        slot = int(flow.slot) if pd.notna(flow.slot) else int(str(flow.flow).rsplit(".", 1)[-1])
        end = ends.loc[flow.flow] if flow.flow in ends.index else None
        done = end is not None and end["kind"] == "flow_end"
        rows.append({"slot": slot, "client": flow.client if pd.notna(flow.client) else who.get(slot),
                     "phase": "download" if flow.direction == "down" else "upload", "start": flow.t,
                     "end": end["t"] if end is not None else np.nan, "done": done})
    train = tl[tl["kind"].isin(["train_start", "train_end"])]
    for slot, part in train.groupby("slot"):
        begin = part[part["kind"] == "train_start"]["t"]
        finish = part[part["kind"] == "train_end"]["t"]
        if len(begin):
            rows.append({"slot": int(slot), "client": part["client"].iloc[0], "phase": "compute",
                         "start": begin.iloc[0], "end": finish.iloc[0] if len(finish) else np.nan,
                         "done": bool(len(finish))})
    out = pd.DataFrame(rows, columns=cols)
    dropped = tl[tl["kind"] == "client_dropped"].set_index("slot")["t"]
    unfinished = out["end"].isna()
    out.loc[unfinished, "end"] = out.loc[unfinished, "slot"].map(dropped)
    out["end"] = out["end"].fillna(tl["t"].max())
    order = {"download": 0, "compute": 1, "upload": 2}
    return out.sort_values(["slot", "phase"], key=lambda s: s.map(order) if s.name == "phase" else s,
                           ignore_index=True)


def drops(timeline: pd.DataFrame, round_: int) -> pd.DataFrame:
    """The round's dropped participations: ``slot``, ``client``, ``t``, ``reason`` (the trigger, ``deadline``) and
    ``cause`` (what held it at the deadline), ``causes`` (the chain, ``>``-joined), ``phase`` (download, compute, upload);
    runs recorded before causes existed get ``cause`` = ``reason``."""
    tl = timeline[(timeline["round"] == round_) & (timeline["kind"] == "client_dropped")]
    out = tl[["slot", "client", "t", "reason"]].reset_index(drop=True)
    for col in ("cause", "causes", "phase"):
        out[col] = tl[col].to_numpy() if col in tl else (out["reason"] if col != "phase" else pd.NA)
    return out
