"""The recorder: components append plain rows while the simulation runs; tidy DataFrames are built once at the end.

Every timeline event has a ``kind`` with a schema (:data:`EVENT_SCHEMA`): the columns it must carry. An event that
misses one, or names a kind that has no schema, is a programming error and raises at once, so incomplete rows never
reach the run folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from twin.recording.events import EventLog

# kind -> columns that must be present (besides t, kind, entity, round). Other known columns are optional.
EVENT_SCHEMA: dict[str, tuple[str, ...]] = {
    "run_start": ("n_clients",),
    "run_end": ("reason",),
    "round_start": ("n_selected",),
    "select": ("client", "slot"),
    "flow_start": ("flow", "src", "dst", "bytes", "direction"),
    "flow_end": ("flow", "src", "dst", "bytes", "direction", "duration_s", "rate_bps"),
    "flow_cancel": ("flow", "src", "dst", "bytes", "direction", "bytes_done"),
    "train_start": ("client", "slot", "flops"),
    "train_end": ("client", "slot", "compute_s"),
    "upload_done": ("client", "slot", "bytes"),
    "client_dropped": ("client", "slot", "reason", "phase", "cause", "causes"),
    "aggregate": ("n_completed",),
    "evaluate": ("accuracy", "loss"),
    "round_end": ("n_completed", "n_dropped"),
    "handover": ("client", "cell", "from_cell", "interruption_s"),
    "stall": ("client", "cell", "reason"),
    "resume": ("client", "cell", "stalled_s", "reason"),
    "skip": ("client", "reason"),
    "edge_aggregate": ("edge", "n_completed"),
    "cloud_sync": ("n_edges",),
    # asynchronous FL (twin.sim.async_rounds): a participation starts from a model version, its update arrives, the
    # server steps (round = the step)
    "dispatch": ("client", "slot", "version"),
    "arrival": ("client", "slot", "version", "staleness", "bytes"),
    "server_step": ("version", "n_completed", "staleness_mean", "staleness_max"),
}

# Column dtypes of the timeline; every column not listed is float64.
_STRING_COLUMNS = ("entity", "client", "flow", "src", "dst", "direction", "reason", "cell", "from_cell", "phase",
                   "cause", "causes", "edge",
                   "traffic", "traffic_class")
# The rounds table's columns (strategies may add more); its n_* columns and round are Int64, the rest float64.
ROUND_COLUMNS = ("round", "t_start", "t_end", "duration_s", "n_selected", "n_unique", "n_completed", "n_dropped",
                 "bytes_down", "bytes_up", "accuracy", "loss")
_INT_COLUMNS = ("round", "slot", "n_selected", "n_completed", "n_dropped", "n_clients", "version", "staleness",
                "staleness_max", "n_edges")


class Recorder:
    """Collects timeline events (by column, twin.recording.events), per-round rows and periodic samples."""

    def __init__(self) -> None:
        self._log = EventLog(EVENT_SCHEMA, _STRING_COLUMNS, _INT_COLUMNS)
        self._rounds: list[dict[str, Any]] = []
        self._samples: list[tuple[float, str, str, float, str | None]] = []

    # -------------------------------------------------------------------------------------------------- appending

    def emit(self, kind: str, t: float, entity: str, round: int | None = None, **fields: Any) -> None:
        """Append one timeline event. Raises ValueError if the kind is unknown, a required column is missing or None,
        or ``t`` is earlier than the previous event's."""
        log = self._log
        rows = log.groups.get((kind, *fields))  # the rows of this kind and keyword order, one flat list
        values = fields.values()
        try:
            has_none = None in values
        except (TypeError, ValueError):  # a value whose == None is not a bool (an array, pd.NA)
            has_none = True
        if rows is None or has_none:
            required = EVENT_SCHEMA.get(kind)
            if required is None:
                raise ValueError(f"event kind {kind!r} has no schema; known: {', '.join(EVENT_SCHEMA)}")
            missing = [c for c in required if fields.get(c) is None]
            if missing:
                raise ValueError(f"{kind} event for {entity} lacks {', '.join(missing)}")
        if t < log.last_t:
            raise ValueError(f"{kind} event at t={t} is earlier than the previous event at t={log.last_t}")
        log.last_t = t
        if rows is None:
            rows = log.new_group((kind, *fields))
        rows += (log.n, t, entity, round)
        rows += values
        log.n += 1

    def emit_many(self, kinds: Sequence[str] | np.ndarray, t: np.ndarray, entity: Sequence[str] | np.ndarray,
                  round: int | np.ndarray | None, columns: dict[str, Any], layout: dict[str, tuple[str, ...]]
                  ) -> None:
        """Append a block of n events at once, exactly as the loop ``for i: emit(kinds[i], t[i], entity[i], round_i,
        **{c: columns[c][i] for c in layout[kinds[i]]})`` would (``round_i``: ``round`` itself when it is an int or
        None, else ``round[i]``): the same timeline, ``n_events`` and ValueErrors (the first failing row's), except
        that a rejected block appends nothing.

        ``t``: float64 [n]; ``kinds``, ``entity``: n str; ``columns``: name -> array or sequence [n]; ``layout``: kind
        -> the columns (keyword order) a row of that kind carries (a kind absent from it carries none); the other
        columns' values at that row are ignored. As in ``emit``, a required column is missing when the row's kind does
        not carry it or its value is None; NaN is a value (a diverged model's loss). A layout column absent from
        ``columns``, or arrays of the wrong length, raise ValueError. Arrays are copied. Fast when string columns are
        lists or object arrays of str, int columns int64 and the others float64; a call costs about 60 us besides its
        rows, so blocks of hundreds of rows pay."""
        self._log.add_block(kinds, t, entity, round, columns, layout)

    def round_row(self, **row: Any) -> None:
        self._rounds.append(row)

    def sample(self, t: float, name: str, entity: str, value: float, cell: str | None = None) -> None:
        self._samples.append((float(t), name, entity, float(value), cell))

    def samples_many(self, t: float, name: str, entities: list[str], values: np.ndarray,
                     cells: list[str | None] | None = None) -> None:
        """One sample per entity; ``cells``: the cell each one is about (a vehicle's serving cell, a cell's own id), or
        None for none."""
        if cells is None:
            self._samples.extend((float(t), name, e, float(v), None) for e, v in zip(entities, values, strict=True))
        else:
            self._samples.extend((float(t), name, e, float(v), c)
                                 for e, v, c in zip(entities, values, cells, strict=True))

    @property
    def n_events(self) -> int:
        return self._log.n

    # ------------------------------------------------------------------------------------------------ DataFrames

    def timeline(self) -> pd.DataFrame:
        """One row per event in emission order (twin.recording.events: column order and dtypes)."""
        return self._log.frame()

    def rounds(self) -> pd.DataFrame:
        """One row per FL round; a run without FL gets the table's columns and no rows."""
        df = pd.DataFrame.from_records(self._rounds) if self._rounds else pd.DataFrame(
            {c: pd.Series(dtype="float64") for c in ROUND_COLUMNS})
        for col in df.columns:
            if col in _INT_COLUMNS or col.startswith("n_"):
                df[col] = df[col].astype("Int64")
        return df

    def samples(self) -> pd.DataFrame:
        df = pd.DataFrame(self._samples, columns=["t", "name", "entity", "value", "cell"])
        df["t"] = df["t"].astype("float64")
        df["value"] = df["value"].astype("float64")
        df["name"] = df["name"].astype("category")
        df["entity"] = df["entity"].astype("string")
        df["cell"] = df["cell"].astype("string")
        return df
