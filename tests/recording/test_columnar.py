"""The columnar timeline against the dict-per-event recorder it replaced (kept here as the reference).

Random sequences of single emits and blocks over every kind and column type (strings, ints, floats with NaN, inf
and -0.0, None, optional columns in some rows only, keyword orders, odd types such as bools and numbers in string
columns) must give the same ``timeline()`` (``table_hash`` and ``assert_frame_equal``), the same ``n_events`` and the
same errors as the reference, where a block is the loop of single emits that appends nothing when a row fails.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from twin.recording.recorder import _INT_COLUMNS, _STRING_COLUMNS, EVENT_SCHEMA, Recorder

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from frozen_tables import table_hash  # noqa: E402


class DictRecorder:
    """The recorder before the columnar store: one dict per event, ``from_records`` and per-column conversions."""

    def __init__(self) -> None:
        self._events: list[dict[str, Any]] = []
        self._last_t = -np.inf

    def emit(self, kind, t, entity, round=None, **fields):
        required = EVENT_SCHEMA.get(kind)
        if required is None:
            raise ValueError(f"event kind {kind!r} has no schema; known: {', '.join(EVENT_SCHEMA)}")
        for c in required:
            if fields.get(c) is None:
                missing = [c for c in required if fields.get(c) is None]
                raise ValueError(f"{kind} event for {entity} lacks {', '.join(missing)}")
        if t < self._last_t:
            raise ValueError(f"{kind} event at t={t} is earlier than the previous event at t={self._last_t}")
        self._last_t = t
        self._events.append({"t": float(t), "kind": kind, "entity": entity, "round": round, **fields})

    def emit_many(self, kinds, t, entity, round, columns, layout):
        """The loop of emits; a failing row leaves the recorder as it was before the block."""
        n_before, last_before = len(self._events), self._last_t
        try:
            for i in range(len(t)):
                r = round if round is None or isinstance(round, int) else round[i]
                self.emit(str(kinds[i]), t[i], entity[i], r,
                          **{c: columns[c][i] for c in layout.get(str(kinds[i]), ())})
        except ValueError:
            del self._events[n_before:]
            self._last_t = last_before
            raise

    @property
    def n_events(self) -> int:
        return len(self._events)

    def timeline(self) -> pd.DataFrame:
        df = pd.DataFrame.from_records(self._events)
        if df.empty:
            df = pd.DataFrame({"t": pd.Series(dtype="float64"), "kind": pd.Series(dtype="object"),
                               "entity": pd.Series(dtype="object"), "round": pd.Series(dtype="Int64")})
        for col in df.columns:
            if col == "kind":
                df[col] = pd.Categorical(df[col], categories=list(EVENT_SCHEMA))
            elif col in _STRING_COLUMNS:
                df[col] = df[col].astype("string")
            elif col in _INT_COLUMNS:
                df[col] = df[col].astype("Int64")
            elif col != "t":
                df[col] = pd.to_numeric(df[col], errors="raise").astype("float64")
        return df


# ------------------------------------------------------------------------------------------------ random scripts

OPTIONAL = ("client", "slot", "traffic", "edge", "version", "bytes", "cell", "extra_x", "n_edges", "causes")
NAMES = ("a", "b", "client.7", "server", "", "ü-1", "down.3.12")


def _ctype(c: str) -> str:
    return "str" if c in _STRING_COLUMNS else "int" if c in _INT_COLUMNS else "float"


def _value(rng: random.Random, c: str, odd: bool) -> Any:
    """A value for column c as a caller passes it (odd: now and then a type the column does not expect)."""
    kind = _ctype(c)
    if odd and rng.random() < 0.05:
        return rng.choice([True, False, "7", 3, 2.5, "x"])
    if rng.random() < 0.03:
        return None
    if kind == "str":
        s = rng.choice(NAMES)
        return np.str_(s) if rng.random() < 0.2 else s
    if kind == "int":
        v = rng.randrange(-3, 1000)
        return np.int64(v) if rng.random() < 0.2 else v
    return rng.choice([0.0, -0.0, 1.5, 1e300, np.inf, -np.inf, np.nan, 3, rng.random() * 1e9, np.float64(2.25)])


def _fields(rng: random.Random, kind: str, odd: bool) -> dict[str, Any]:
    cols = list(EVENT_SCHEMA[kind]) + rng.sample(OPTIONAL, rng.randrange(3))
    cols = list(dict.fromkeys(cols))
    if rng.random() < 0.5:
        rng.shuffle(cols)
    if rng.random() < 0.03 and EVENT_SCHEMA[kind]:
        cols.remove(rng.choice(EVENT_SCHEMA[kind]))
    return {c: _value(rng, c, odd) for c in cols}


def _column_array(rng: random.Random, c: str, values: list, odd: bool):
    """The block's column: a typed array when the values allow one, else a list (or object array) as given."""
    kind = _ctype(c)
    plain = all(v is not None and type(v) in (float, int, str, np.str_, np.int64, np.float64) for v in values)
    if plain and rng.random() < 0.7:
        try:
            if kind == "float" and all(not isinstance(v, str) for v in values):
                return np.array(values, dtype=np.float64)
            if kind == "int" and all(isinstance(v, (int, np.int64)) and not isinstance(v, bool) for v in values):
                return np.array(values, dtype=np.int64)
            if kind == "str" and all(isinstance(v, str) for v in values):
                return np.array(values, dtype=str)
        except (TypeError, ValueError):
            pass
    return np.array(values + [None], dtype=object)[:-1] if rng.random() < 0.3 else list(values)


def _script(seed: int, odd: bool):
    rng = random.Random(seed)
    kinds = list(EVENT_SCHEMA) + ["teleport"]
    t = 0.0
    ops = []
    for _ in range(rng.randrange(1, 10)):
        if rng.random() < 0.5:
            kind = rng.choice(kinds) if rng.random() < 0.05 else rng.choice(kinds[:-1])
            t += rng.choice([0.0, 0.5, 1.0]) if rng.random() > 0.03 else -0.25
            fields = {} if kind == "teleport" else _fields(rng, kind, odd)
            rnd = rng.choice([None, 1, 2, np.int64(3)])
            ops.append(("emit", (kind, t if rng.random() < 0.9 else int(t), rng.choice(NAMES), rnd), fields))
            continue
        n = rng.randrange(0, 25)
        pool = rng.sample(kinds[:-1], rng.randrange(1, 5)) + (["teleport"] if rng.random() < 0.03 else [])
        bkinds = [rng.choice(pool) for _ in range(n)]
        layout = {}
        for k in set(bkinds) - {"teleport"}:
            cols = list(_fields(rng, k, False))
            layout[k] = tuple(cols)
        union = list(dict.fromkeys(c for cols in layout.values() for c in cols))
        rows = [{c: (_value(rng, c, odd) if c in layout.get(k, ()) else _value(rng, c, False)) for c in union}
                for k in bkinds]
        columns = {c: _column_array(rng, c, [r[c] for r in rows], odd) for c in union}
        steps = np.array([rng.choice([0.0, 0.0, 0.1, 1.0]) if rng.random() > 0.02 else -0.5 for _ in range(n)])
        bt = t + np.cumsum(steps)
        t = float(bt[-1]) if n else t
        ent = [rng.choice(NAMES) for _ in range(n)]
        r = rng.random()
        rnd = None if r < 0.3 else rng.randrange(5) if r < 0.7 else np.array([rng.randrange(9) for _ in range(n)])
        ops.append(("block", (np.array(bkinds) if rng.random() < 0.5 else bkinds, bt,
                              np.array(ent) if rng.random() < 0.5 else ent, rnd, columns, layout), None))
    return ops


def _apply(rec, op):
    what, args, fields = op
    try:
        rec.emit(*args, **fields) if what == "emit" else rec.emit_many(*args)
    except ValueError as e:
        return str(e)
    return None


def _timeline(rec):
    try:
        return rec.timeline(), None
    except (ValueError, TypeError) as e:
        return None, (type(e), str(e))


def check_same(ops) -> None:
    ref, rec = DictRecorder(), Recorder()
    for op in ops:
        assert _apply(rec, op) == _apply(ref, op)
        assert rec.n_events == ref.n_events
    want, want_err = _timeline(ref)
    got, got_err = _timeline(rec)
    assert got_err == want_err
    if want is not None:
        assert list(got.columns) == list(want.columns)
        assert [str(d) for d in got.dtypes] == [str(d) for d in want.dtypes]
        pd.testing.assert_frame_equal(got, want, check_exact=True)
        assert table_hash(got) == table_hash(want)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_columnar_equals_dict_reference(seed):
    check_same(_script(seed, odd=False))


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1))
@example(99295933)  # a bool among the ints of single events' `version`: numpy had made it an int
def test_columnar_equals_dict_reference_with_odd_types(seed):
    check_same(_script(seed, odd=True))


# ------------------------------------------------------------------------------------------ the block contract

LAYOUT = {"flow_start": ("flow", "src", "dst", "bytes", "direction", "client", "slot"),
          "flow_end": ("flow", "src", "dst", "bytes", "direction", "duration_s", "rate_bps", "client", "slot"),
          "train_start": ("client", "slot", "flops"), "train_end": ("client", "slot", "compute_s"),
          "upload_done": ("client", "slot", "bytes")}


def _round_block(n_clients: int, t0: float, round_: int):
    """One FL round the way the compiled path emits it: download, train, upload per client."""
    kinds, t, ent, cols = [], [], [], {c: [] for c in ("flow", "src", "dst", "bytes", "direction", "client", "slot",
                                                        "duration_s", "rate_bps", "flops", "compute_s")}
    for i in range(n_clients):
        name = f"client.{i}"
        for k, dt, flow in (("flow_start", 0.0, f"down.{round_}.{i}"), ("flow_end", 1.0 + i, f"down.{round_}.{i}"),
                            ("train_start", 1.0 + i, ""), ("train_end", 2.0 + i, ""),
                            ("flow_start", 2.0 + i, f"up.{round_}.{i}"), ("flow_end", 3.0 + 2 * i, f"up.{round_}.{i}"),
                            ("upload_done", 3.0 + 2 * i, "")):
            kinds.append(k)
            t.append(t0 + dt)
            ent.append(flow or name)
            for c, v in (("flow", flow), ("src", "server"), ("dst", name), ("bytes", 1e6 * (i + 1)),
                         ("direction", "down" if "down" in flow else "up"), ("client", name), ("slot", i),
                         ("duration_s", dt), ("rate_bps", np.inf if i == 0 or dt == 0 else 8e6 / dt), ("flops", 1e9),
                         ("compute_s", 1.0)):
                cols[c].append(v)
    order = np.argsort(t, kind="stable")
    pick = lambda v: [v[j] for j in order]  # noqa: E731
    arrays = {c: np.array(pick(v), dtype=np.int64 if c == "slot" else np.float64 if c in
                          ("bytes", "duration_s", "rate_bps", "flops", "compute_s") else str) for c, v in cols.items()}
    return np.array(pick(kinds)), np.array(pick(t)), pick(ent), arrays


def test_study_like_rounds_equal_the_dict_reference():
    ops = []
    for r in range(1, 4):
        ops.append(("emit", ("round_start", 100.0 * r, "fl.server", r), {"n_selected": 5}))
        kinds, t, ent, cols = _round_block(5, 100.0 * r, r)
        ops.append(("block", (kinds, t, ent, r, cols, LAYOUT), None))
        ops.append(("emit", ("round_end", float(t[-1]), "fl.server", r), {"n_completed": 5, "n_dropped": 0}))
    check_same(ops)
    rec = Recorder()
    for op in ops:
        _apply(rec, op)
    df = rec.timeline()
    assert rec.n_events == 3 * (2 + 35) and str(df["slot"].dtype) == "Int64" and np.isinf(df["rate_bps"]).any()


def test_rejected_block_appends_nothing():
    rec = Recorder()
    rec.emit("round_start", 5.0, "fl.server", 1, n_selected=1)
    kinds, t, ent, cols = _round_block(2, 5.0, 1)
    cols["bytes"] = cols["bytes"].astype(object)
    cols["bytes"][3] = None
    first_upload = int(np.flatnonzero(kinds == "upload_done")[0])
    cols["bytes"][first_upload] = None  # upload_done requires bytes; flow rows too
    with pytest.raises(ValueError, match="lacks bytes"):
        rec.emit_many(kinds, t, ent, 1, cols, LAYOUT)
    with pytest.raises(ValueError, match="earlier than the previous event at t=5.0"):
        rec.emit_many(["train_start"], np.array([4.0]), ["c"], 1, {"client": ["c"], "slot": [1], "flops": [1.0]},
                      LAYOUT)
    with pytest.raises(ValueError, match="not in columns"):
        rec.emit_many(["train_start"], np.array([6.0]), ["c"], 1, {"client": ["c"], "slot": [1]}, LAYOUT)
    assert rec.n_events == 1 and len(rec.timeline()) == 1
    rec.emit("round_end", 5.0, "fl.server", 1, n_completed=0, n_dropped=0)  # the last accepted t is still 5.0


def test_a_real_run_replayed_as_blocks_gives_its_timeline(monkeypatch):
    """The events of a simulated run (wired_star, 2 rounds), replayed by emit and with every stretch of flow, train
    and upload events of one round as a block of arrays, give the run's timeline bit for bit."""
    from twin.scenario.loading import load_scenario
    from twin.sim.runner import simulate

    calls = []
    emit, emit_many = Recorder.emit, Recorder.emit_many

    def spy(self, kind, t, entity, round=None, **fields):
        calls.append((kind, t, entity, round, fields))
        emit(self, kind, t, entity, round, **fields)

    def spy_many(self, kinds, t, entity, round, columns, layout):  # the run's own blocks (select rows), row by row
        for i, kind in enumerate(kinds):
            calls.append((kind, float(t[i]), entity[i], round, {c: columns[c][i] for c in layout[kind]}))
        emit_many(self, kinds, t, entity, round, columns, layout)

    monkeypatch.setattr(Recorder, "emit", spy)
    monkeypatch.setattr(Recorder, "emit_many", spy_many)
    want = simulate(load_scenario("wired_star", ["fl.rounds=2"])).tables["timeline"]
    monkeypatch.setattr(Recorder, "emit", emit)
    monkeypatch.setattr(Recorder, "emit_many", emit_many)
    assert len(calls) > 50
    single = Recorder()
    for kind, t, entity, rnd, fields in calls:
        single.emit(kind, t, entity, rnd, **fields)
    assert table_hash(single.timeline()) == table_hash(want)
    rec, i, n_blocks = Recorder(), 0, 0
    while i < len(calls):
        kind, t, entity, rnd, fields = calls[i]
        j = i
        while (j < len(calls) and calls[j][0] in LAYOUT and rnd is not None and calls[j][3] == rnd
               and list(calls[j][4]) == list(LAYOUT[calls[j][0]])):
            j += 1
        if j == i:
            rec.emit(kind, t, entity, rnd, **fields)
            i += 1
            continue
        rows = calls[i:j]
        cols = {c: np.array([r[4].get(c, "") for r in rows], dtype=object)
                for c in ("flow", "src", "dst", "direction", "client")}
        cols |= {c: np.array([r[4].get(c, np.nan) for r in rows]) for c in ("bytes", "duration_s", "rate_bps",
                                                                            "flops", "compute_s")}
        cols["slot"] = np.array([r[4].get("slot", -1) for r in rows], dtype=np.int64)
        rec.emit_many(np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), [r[2] for r in rows], rnd,
                      cols, LAYOUT)
        n_blocks += 1
        i = j
    assert n_blocks >= 2 and rec.n_events == len(want)
    pd.testing.assert_frame_equal(rec.timeline(), want, check_exact=True)
    assert table_hash(rec.timeline()) == table_hash(want)
