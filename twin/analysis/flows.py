"""Every transfer of a run as one row, with its traffic class, from the timeline (``flow_start`` / ``flow_end`` /
``flow_cancel``): FL round flows (class ``fl``), scripted flows and background flows (``traffic:``, docs/network.md)
side by side, so a query can separate them or compare their completion times."""

from __future__ import annotations

import numpy as np
import pandas as pd

COLUMNS = ["flow", "traffic_class", "traffic", "src", "dst", "direction", "bytes", "start", "end", "duration_s",
           "status"]


def flow_table(timeline: pd.DataFrame) -> pd.DataFrame:
    """One row per flow started: ``flow``, ``traffic_class`` (``fl`` for an FL round's flow, else its class such as
    ``scripted`` or ``background``), ``traffic`` (the traffic source; NA for FL), ``src``, ``dst``, ``direction``,
    ``bytes``, ``start``, ``end`` (arrival or cancellation; NaN while under way at the end of the run),
    ``duration_s`` (start to arrival; NaN unless completed) and ``status`` (``completed``, ``cancelled`` or
    ``unfinished``), in start order."""
    if "flow" not in timeline:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c in ("bytes", "start", "end", "duration_s")
                                          else "string") for c in COLUMNS})
    starts = timeline[timeline["kind"] == "flow_start"]
    ends = timeline[timeline["kind"].isin(["flow_end", "flow_cancel"])].drop_duplicates("flow").set_index("flow")
    out = pd.DataFrame({"flow": starts["flow"].to_numpy()}, dtype="string")
    cls = starts["traffic_class"] if "traffic_class" in starts else pd.Series(pd.NA, index=starts.index)
    out["traffic_class"] = pd.array(cls.fillna("fl").astype(str).to_numpy(), dtype="string")
    out["traffic"] = pd.array(starts["traffic"].to_numpy() if "traffic" in starts else [pd.NA] * len(starts),
                              dtype="string")
    for col in ("src", "dst", "direction"):
        out[col] = pd.array(starts[col].to_numpy(), dtype="string")
    out["bytes"] = starts["bytes"].to_numpy(dtype=float)
    out["start"] = starts["t"].to_numpy(dtype=float)
    kind = ends["kind"].astype(str).reindex(out["flow"]).to_numpy()
    out["end"] = ends["t"].reindex(out["flow"]).to_numpy(dtype=float)
    out["duration_s"] = np.where(kind == "flow_end", out["end"] - out["start"], np.nan)
    out["status"] = pd.array(np.where(kind == "flow_end", "completed",
                                      np.where(kind == "flow_cancel", "cancelled", "unfinished")), dtype="string")
    return out
