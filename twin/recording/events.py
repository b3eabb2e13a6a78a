"""The recorder's timeline store: events kept by column, the DataFrame assembled once at the end.

Single events (``Recorder.emit``, through :attr:`EventLog.groups`) go to a *group* per kind and keyword order, their
rows one after another in one flat list; blocks (:meth:`EventLog.add_block`, checked vectorised) keep their arrays. :meth:`EventLog.frame` builds every column once, in the row order of
emission, with exactly what ``pd.DataFrame.from_records`` of one dict per event gave followed by the timeline's
conversions (kept as the reference in ``tests/recording``): columns in order of first appearance (``t``, ``kind``,
``entity``, ``round`` first), a missing key or None becomes NaN / <NA>, ``kind`` a categorical over the schema's
kinds, string columns ``string``, integer columns ``Int64``, every other column float64. Values of an unusual type
(a bool, a number in a string column, a string in a numeric one, ...) take the reference path for their column.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.api.types import infer_dtype

_BASE = ("t", "kind", "entity", "round")
_INT_TYPES = frozenset({int, np.int8, np.int16, np.int32, np.int64, type(None)})
_FLOAT_TYPES = _INT_TYPES | {float, np.float16, np.float32, np.float64}
_STR_TYPES = frozenset({str, np.str_, type(None)})
_NONE = frozenset({type(None)})


class _Group:
    """Single events of one kind and keyword order: rows (index, t, entity, round, field values...), one after
    another in one flat list (cheap to append and to slice by column)."""

    __slots__ = ("code", "keys", "rows")

    def __init__(self, code: int, keys: tuple[str, ...]) -> None:
        self.code, self.keys, self.rows = code, keys, []


class _Block:
    """A validated block (:meth:`EventLog.add_block`): its first row's index and its arrays."""

    __slots__ = ("start", "codes", "t", "entity", "round", "columns", "layout")

    def __init__(self, start, codes, t, entity, round_, columns, layout) -> None:
        self.start, self.codes, self.t, self.entity, self.round = start, codes, t, entity, round_
        self.columns, self.layout = columns, layout  # layout: kind code -> its columns, in keyword order


def _array(values: Any, n: int, name: str) -> np.ndarray:
    """A block's column as an array of n: an array is copied, another sequence kept as its objects (the values that
    ``emit`` would get; the frame classifies them)."""
    arr = values.copy() if isinstance(values, np.ndarray) else _objects(values)
    if arr.shape != (n,):
        raise ValueError(f"emit_many: {name} has shape {arr.shape}, expected ({n},)")
    return arr


def _none_mask(arr: np.ndarray) -> np.ndarray | None:
    """Where an array holds None (only object arrays can; one of str alone, the usual case, is checked in C)."""
    if arr.dtype != object or infer_dtype(arr, skipna=False) in ("string", "floating", "integer"):
        return None
    return np.equal(arr, None)


def _objects(values) -> np.ndarray:
    return np.fromiter(values, dtype=object, count=len(values))


def _from_list(values: list) -> np.ndarray:
    """A column of single events: strings as objects, numbers as numpy infers them (a mix with None, or odd
    values, as objects), touching each value as few times as possible."""
    if isinstance(values[0], str):
        return _objects(values)
    try:
        arr = np.array(values)
    except (ValueError, TypeError):  # sequences among the values
        return _objects(values)
    if arr.ndim != 1 or arr.dtype.kind not in "fiO":
        return _objects(values)
    if arr.dtype.kind != "O" and not _BOOLS.isdisjoint(map(type, values)):  # numpy made bools among numbers numbers
        return _objects(values)
    return arr


_BOOLS = frozenset((bool, np.bool_))


_INFERRED = {"string": "str", "integer": "int", "floating": "float", "mixed-integer-float": "float", "empty": "none"}


def _classify(values: np.ndarray) -> str:
    """'none', 'str', 'int', 'float' (ints and floats) or 'other' for a piece of a column."""
    if values.dtype != object:
        return {"f": "float", "i": "int", "U": "str"}.get(values.dtype.kind, "other")
    inferred = _INFERRED.get(infer_dtype(values, skipna=False))
    if inferred is not None:
        return inferred
    types = set(map(type, values))  # None among other values, or odd types
    if types <= _NONE:
        return "none"
    if types <= _STR_TYPES:
        return "str"
    if types <= _INT_TYPES:
        return "int"
    return "float" if types <= _FLOAT_TYPES else "other"


class EventLog:
    """Timeline events by column. ``schema``: kind -> required columns (its key order gives the kind's code)."""

    def __init__(self, schema: dict[str, tuple[str, ...]], string_columns, int_columns) -> None:
        self.schema = schema
        self.kinds = list(schema)
        self.code = {k: i for i, k in enumerate(self.kinds)}
        self.string_columns, self.int_columns = frozenset(string_columns), frozenset(int_columns)
        self.groups: dict[tuple[str, ...], list] = {}  # (kind, *keys) -> the group's rows
        self._group_list: list[_Group] = []
        self.blocks: list[_Block] = []
        self.n = 0
        self.last_t: Any = -np.inf

    # ---------------------------------------------------------------------------------------------------- adding

    def new_group(self, key: tuple[str, ...]) -> list:
        group = _Group(self.code[key[0]], key[1:])
        self._group_list.append(group)
        self.groups[key] = group.rows
        return group.rows

    def add_block(self, kinds, t, entity, round_, columns: dict[str, Any], layout: dict[str, tuple[str, ...]]) -> None:
        """Validate a block (every check vectorised; nothing is kept when one fails) and keep it."""
        t = np.array(t, dtype=np.float64)
        if t.ndim != 1:
            raise ValueError(f"emit_many: t has shape {t.shape}, expected one dimension")
        n = len(t)
        if n == 0:
            return
        kind_arr = np.asarray(kinds) if not isinstance(kinds, np.ndarray) else kinds
        if kind_arr.shape != (n,):
            raise ValueError(f"emit_many: kinds has shape {kind_arr.shape}, expected ({n},)")
        names, inverse = np.unique(kind_arr, return_inverse=True)
        names = [str(k) for k in names]
        lut = np.array([self.code.get(k, -1) for k in names], dtype=np.int16)
        codes = lut[inverse.reshape(-1)]
        entity = _array(entity, n, "entity")
        if round_ is not None and not isinstance(round_, (int, np.integer)):
            round_ = _array(round_, n, "round")
        present = [(k, self.code[k]) for k in names if k in self.code]
        used = {c: None for k, _ in present for c in layout.get(k, ())}
        for c in used:
            if c in _BASE:
                raise ValueError(f"emit_many: layout names {c!r}, which is an argument of its own")
            if c not in columns:
                raise ValueError(f"emit_many: layout names column {c!r}, which is not in columns")
        cols = {c: _array(columns[c], n, c) for c in used}
        bad = lut[inverse.reshape(-1)] < 0  # unknown kind
        nones = {c: _none_mask(cols[c]) for c in {c for k, _ in present for c in self.schema[k] if c in cols}}
        for k, code in present:
            carried = layout.get(k, ())
            of_kind = None
            for c in self.schema[k]:
                if c not in carried:
                    of_kind = codes == code if of_kind is None else of_kind
                    bad |= of_kind
                    break
                none = nones[c]
                if none is not None and none.any():
                    of_kind = codes == code if of_kind is None else of_kind
                    bad |= of_kind & none
        prev = np.empty(n)
        prev[0] = self.last_t
        prev[1:] = t[:-1]
        bad |= t < prev
        if bad.any():
            self._block_error(int(np.argmax(bad)), names, inverse.reshape(-1), t, prev, entity, cols, layout)
        self.blocks.append(_Block(self.n, codes.astype(np.int8), t, entity, round_, cols,
                                  {code: tuple(dict.fromkeys(layout.get(k, ()))) for k, code in present}))
        self.n += n
        self.last_t = t[-1]

    def _block_error(self, i, names, inverse, t, prev, entity, cols, layout) -> None:
        """Raise the error that ``emit`` would raise for row i of a block (the first row that fails)."""
        kind = names[inverse[i]]
        if kind not in self.schema:
            raise ValueError(f"event kind {kind!r} has no schema; known: {', '.join(self.schema)}")
        carried = layout.get(kind, ())
        missing = [c for c in self.schema[kind] if c not in carried or cols[c][i] is None]
        if missing:
            raise ValueError(f"{kind} event for {entity[i]} lacks {', '.join(missing)}")
        before = prev[i] if i else self.last_t
        raise ValueError(f"{kind} event at t={t[i]} is earlier than the previous event at t={before}")

    # --------------------------------------------------------------------------------------------------- the frame

    def _pieces(self):
        """Per column, its pieces (global row indices, values) in emission order of their first rows; and the
        signatures (first row, kind code, keys) that fix the column order."""
        pieces: dict[str, list] = {c: [] for c in _BASE}
        firsts = []
        for g in self._group_list:
            if not g.rows:
                continue
            width = 4 + len(g.keys)
            cols = [g.rows[j::width] for j in range(width)]  # the flat rows, by column
            idx = np.array(cols[0], dtype=np.int64)
            firsts.append((int(idx[0]), g.keys))
            pieces["t"].append((idx, np.array(cols[1], dtype=np.float64)))
            pieces["kind"].append((idx, np.full(len(idx), g.code, dtype=np.int8)))
            for name, values in zip(("entity", "round", *g.keys), cols[2:], strict=True):
                pieces.setdefault(name, []).append((idx, _from_list(values)))
        if self.blocks:
            self._block_pieces(pieces, firsts)
        for c, parts in pieces.items():
            pieces[c] = _merge(parts)
        order = list(_BASE)
        seen = set(order)
        for _, keys in sorted(firsts, key=lambda f: f[0]):
            for c in keys:
                if c not in seen:
                    seen.add(c)
                    order.append(c)
        return order, pieces

    def _block_pieces(self, pieces: dict[str, list], firsts: list) -> None:
        """All blocks as one piece per column: the rows of the kinds whose layout (in their block) carries it."""
        blocks = self.blocks
        idx = np.concatenate([np.arange(b.start, b.start + len(b.t)) for b in blocks])
        codes = np.concatenate([b.codes for b in blocks])
        layouts: dict[tuple, int] = {}  # a block's layout -> its number
        lengths = [len(b.t) for b in blocks]
        sig = np.repeat([layouts.setdefault(tuple(sorted(b.layout.items())), len(layouts)) for b in blocks], lengths)
        pieces["t"].append((idx, np.concatenate([b.t for b in blocks])))
        pieces["kind"].append((idx, codes))
        pieces["entity"].append((idx, _concat([b.entity for b in blocks], lengths)))
        rounds = [np.full(len(b.t), b.round, dtype=np.int64 if b.round is not None else object)
                  if b.round is None or isinstance(b.round, (int, np.integer)) else b.round for b in blocks]
        pieces["round"].append((idx, _concat(rounds, lengths)))
        n_kinds = len(self.kinds)
        row_class = sig * n_kinds + codes  # (the block's layout, the row's kind)
        carried: dict[str, np.ndarray] = {}  # column -> which row classes carry it
        for layout, k in layouts.items():
            for code, keys in layout:
                for c in keys:
                    carried.setdefault(c, np.zeros(len(layouts) * n_kinds, dtype=bool))[k * n_kinds + code] = True
        for layout, k in layouts.items():
            for code, keys in layout:
                firsts.append((int(idx[np.argmax(row_class == k * n_kinds + code)]), keys))
        for c, lut in carried.items():
            rows = lut[row_class]
            values = _concat([b.columns.get(c) for b in blocks], lengths)
            pieces.setdefault(c, []).append((idx, values) if rows.all() else (idx[rows], values[rows]))

    def frame(self) -> pd.DataFrame:
        if self.n == 0:
            return pd.DataFrame({"t": pd.Series(dtype="float64"),
                                 "kind": pd.Categorical(pd.Series(dtype="object"), categories=self.kinds),
                                 "entity": pd.Series(dtype="string"), "round": pd.Series(dtype="Int64")})
        order, pieces = self._pieces()
        out = {}
        for c in order:
            if c == "t":
                out[c] = _scatter_float(self.n, pieces[c])
            elif c == "kind":
                codes = np.empty(self.n, dtype=np.int8)
                for idx, values in pieces[c]:
                    codes[idx] = values
                out[c] = pd.Categorical.from_codes(codes, categories=self.kinds)
            else:
                out[c] = self._column(c, pieces[c])
        return pd.DataFrame(out, copy=False)

    def _column(self, c: str, pieces: list) -> Any:
        classes = {_classify(values) for _, values in pieces} - {"none"}
        n = self.n
        if c in self.string_columns:
            if classes <= {"str"}:
                return _string_column(n, pieces)
        elif c in self.int_columns:
            if classes <= {"int"}:
                try:
                    return _scatter_int(n, pieces)
                except OverflowError:  # an int beyond int64: the reference path says what it does
                    pass
        elif classes <= {"int", "float"}:
            return _scatter_float(n, pieces)
        return self.convert(c, pd.DataFrame.from_records(list(zip(_scatter_objects(n, pieces, np.nan))),
                                                         columns=[c])[c]).array

    def convert(self, col: str, s: pd.Series) -> Any:
        """The timeline's conversion of one column built by ``from_records`` (the reference path)."""
        if col in self.string_columns:
            return s.astype("string")
        if col in self.int_columns:
            return s.astype("Int64")
        return pd.to_numeric(s, errors="raise").astype("float64")


def _concat(arrays: list, lengths: list[int]) -> np.ndarray:
    """Blocks' arrays end to end (None: a block without the column, filled, its rows are dropped); arrays of
    different dtypes (unicode ones of any width aside) as objects, so that every value stays what the caller passed."""
    given = {a.dtype.kind if a.dtype.kind == "U" else a.dtype for a in arrays if a is not None}
    to_object = len(given) > 1
    dtype = object if to_object else next(a.dtype for a in arrays if a is not None)
    return np.concatenate([np.zeros(n, dtype) if a is None else a.astype(object) if to_object else a
                           for a, n in zip(arrays, lengths, strict=True)])


def _merge(pieces: list) -> list:
    """Consecutive pieces of one dtype as one (blocks come in many small pieces)."""
    out = []
    run: list = []
    for piece in pieces:
        if run and piece[1].dtype != run[0][1].dtype:
            out.append(_join(run))
            run = []
        run.append(piece)
    if run:
        out.append(_join(run))
    return out


def _join(run: list) -> tuple[np.ndarray, np.ndarray]:
    if len(run) == 1:
        return run[0]
    return np.concatenate([i for i, _ in run]), np.concatenate([v for _, v in run])


def _scatter_float(n: int, pieces: list) -> np.ndarray:
    out = np.full(n, np.nan)
    for idx, values in pieces:
        out[idx] = values.astype(np.float64) if values.dtype == object else values  # None -> NaN
    return out


def _scatter_objects(n: int, pieces: list, missing: Any) -> np.ndarray:
    out = np.full(n, missing, dtype=object)
    for idx, values in pieces:
        out[idx] = values
    return out


def _scatter_int(n: int, pieces: list) -> pd.arrays.IntegerArray:
    data = np.zeros(n, dtype=np.int64)
    mask = np.ones(n, dtype=bool)
    for idx, values in pieces:
        if values.dtype == object:
            none = np.equal(values, None)
            if none.any():
                values = values.copy()
                values[none] = 0
                mask[idx[~none]] = False
            else:
                mask[idx] = False
            data[idx] = values.astype(np.int64)
        else:
            data[idx] = values
            mask[idx] = False
    return pd.arrays.IntegerArray(data, mask)


def _string_column(n: int, pieces: list) -> Any:
    """What ``astype("string")`` gives for str and None (None and rows without the column: <NA>): the pieces as
    Arrow arrays, end to end, then each row taken from its place."""
    dtype = pd.StringDtype()
    if dtype.storage != "pyarrow":
        return pd.array(_scatter_objects(n, pieces, None), dtype=dtype)
    arrays = [pa.array(v, type=pa.large_string()) for _, v in pieces]  # None -> null
    rows = [i for i, _ in pieces]
    covered = sum(len(i) for i in rows)
    if covered < n:
        seen = np.zeros(n, dtype=bool)
        for i in rows:
            seen[i] = True
        rows.append(np.flatnonzero(~seen))
        arrays.append(pa.nulls(n - covered, pa.large_string()))
    at = np.empty(n, dtype=np.int64)  # row -> its place in the concatenated values
    at[np.concatenate(rows)] = np.arange(n)
    values = pa.concat_arrays(arrays)
    return pd.arrays.ArrowStringArray(values.take(pa.array(at)))
