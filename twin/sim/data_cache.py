"""Loaded data sets and their partitions, kept across runs of one process (a sweep worker runs many scenarios).

Two small LRU caches (``size`` entries each, default 1, so at most one data set beyond the running one is ever held):

- loaded data sets, keyed by the data section as the loader receives it (kind and every field, paths resolved,
  the drawn loader seed included, plus the size and modification time of a named path);
- partitions, keyed by that plus the partition section, the validation fraction, the number of clients and the
  state of the ``data`` random stream (so another seed gives another partition).

Everything cached is treated as read-only by the twin (the workload indexes the arrays, never writes them), so a hit
gives exactly the object a fresh load would have built, and the run's tables are identical. On a miss the cache
drops its oldest entries *before* loading, so a run's peak memory holds at most ``size - 1`` other data sets.
:data:`stats` counts loads, partitions and hits (tests, benchmarks).
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

stats = {"loads": 0, "load_hits": 0, "partitions": 0, "partition_hits": 0}
_size = 1
_loaded: OrderedDict[str, Any] = OrderedDict()
_partitions: OrderedDict[str, Any] = OrderedDict()


def set_size(size: int) -> None:
    """Entries kept per cache (0 turns caching off and empties both)."""
    global _size
    _size = max(0, int(size))
    for cache in (_loaded, _partitions):
        while len(cache) > _size:
            cache.popitem(last=False)


def clear() -> None:
    _loaded.clear()
    _partitions.clear()


def dataset_key(kind: str, fields: dict[str, Any]) -> str:
    """The key of a loaded data set: the loader's arguments, and the size and mtime of a named path."""
    stamp = None
    path = fields.get("path")
    if path:
        try:
            st = os.stat(path)
            stamp = [st.st_size, st.st_mtime_ns]
        except OSError:
            stamp = None
    return json.dumps({"kind": kind, "fields": fields, "stamp": stamp}, sort_keys=True, default=str)


def partition_key(data_key: str, partition: dict[str, Any], extra: dict[str, Any], rng_state: dict) -> str:
    return json.dumps({"data": data_key, "partition": partition, "extra": extra, "rng": rng_state}, sort_keys=True,
                      default=str)


def _cached(cache: OrderedDict[str, Any], key: str, make: Callable[[], T], counter: str) -> T:
    if _size and key in cache:
        cache.move_to_end(key)
        stats[counter + "_hits"] += 1
        return cache[key]
    while _size and len(cache) >= _size:  # make room first: the peak holds the new entry, not old + new
        cache.popitem(last=False)
    value = make()
    stats[counter + "s"] += 1
    if _size:
        cache[key] = value
    return value


def load(key: str, make: Callable[[], T]) -> T:
    return _cached(_loaded, key, make, "load")


def partition(key: str, make: Callable[[], T]) -> T:
    return _cached(_partitions, key, make, "partition")
