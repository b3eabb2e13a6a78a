"""Short, readable names for strategies (the values of a sweep's swept fields) and human units for numbers.

A sweep over ``fl.schedule`` stores values such as ``{kind: linear, preset: seed}``; the label keeps only what
tells the strategies apart: ``linear``. Several swept fields give ``linear, lr=0.1``.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import yaml


def _parse(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return yaml.safe_load(value)
        except yaml.YAMLError:
            return value
    return value


def _flatten(value: Any, prefix: str) -> dict[str, Any]:
    value = _parse(value)
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}"))
        return out
    return {prefix: value}


def format_value(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


def strategy_labels(runs: pd.DataFrame, swept: list[str], default: pd.Series | None = None) -> list[str]:
    """One label per row of ``runs`` from its ``swept`` columns, showing only what differs between rows.

    A mapping with a ``kind`` (``{kind: linear, start: 10, end: 2}``) shows as its kind, followed by the parameters
    that differ between rows of the same kind: ``linear`` or ``linear (end=2)``. Other fields show as ``name=value``
    with the shortest unambiguous name (``fl.local.optimizer.lr`` -> ``lr``)."""
    if not swept:
        if default is None:
            return ["run"] * len(runs)
        return [format_value(v) if v is not None else str(r) for v, r in zip(default, runs["run_id"], strict=True)]
    columns = [c for c in swept if c in runs]
    parts_by_column = [_column_parts(c, [_parse(v) for v in runs[c]], columns) for c in columns]
    varying = [parts for parts in parts_by_column if len(set(parts)) > 1] or parts_by_column
    return [", ".join(p for p in row if p) for row in zip(*varying, strict=True)] if varying else \
        ["run"] * len(runs)


def _column_parts(column: str, values: list[Any], columns: list[str]) -> list[str]:
    """The label piece of one swept column for every row."""
    if all(isinstance(v, dict) and "kind" in v for v in values if v is not None) and \
            any(v is not None for v in values):
        by_kind: dict[Any, list[dict]] = {}
        for v in values:
            if v is not None:
                by_kind.setdefault(v["kind"], []).append(_flatten(v, ""))
        out = []
        for v in values:
            if v is None:
                out.append("-")
                continue
            same = by_kind[v["kind"]]
            flat = _flatten(v, "")
            keys = [k for k in flat if k != ".kind" and len({format_value(f.get(k)) for f in same}) > 1]
            names = _short_names(keys)
            extra = ", ".join(f"{names[k]}={format_value(flat[k])}" for k in keys)
            out.append(f"{v['kind']} ({extra})" if extra else str(v["kind"]))
        return out
    flats = [_flatten(v, column) for v in values]
    keys: list[str] = []
    for flat in flats:
        keys += [k for k in flat if k not in keys]
    shown = [k for k in keys if len({format_value(f.get(k)) for f in flats}) > 1] or keys
    names = _short_names(shown + [c for c in columns if c != column])
    return [", ".join(format_value(f.get(k)) if k.endswith(".kind") else f"{names[k]}={format_value(f.get(k))}"
                      for k in shown) for f in flats]


def _short_names(keys: list[str]) -> dict[str, str]:
    """The shortest dotted suffix of each key that no other key shares (``fl.local.optimizer.lr`` -> ``lr``)."""
    out = {}
    for key in keys:
        parts = key.split(".")
        for n in range(1, len(parts) + 1):
            suffix = ".".join(parts[-n:])
            if not any(k != key and (k == suffix or k.endswith("." + suffix)) for k in keys):
                break
        out[key] = suffix
    return out


# ---------------------------------------------------------------------------------------------------------- units

def megabytes(n_bytes: float) -> float:
    return n_bytes / 1e6


def human_bytes(n_bytes: float) -> str:
    if n_bytes is None or not math.isfinite(n_bytes):
        return "-"
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n_bytes) >= scale:
            return f"{n_bytes / scale:.3g} {unit}"
    return f"{n_bytes:.0f} B"


def human_seconds(s: float) -> str:
    if s is None or not math.isfinite(s):
        return "-"
    if s >= 3600:
        return f"{s / 3600:.3g} h"
    if s >= 120:
        return f"{s / 60:.3g} min"
    if s >= 1:
        return f"{s:.3g} s"
    return f"{s * 1e3:.3g} ms"
