"""Process start-up: the heavy imports of a run, with Python's cyclic garbage collector paused.

Importing what a run needs (torch, pandas, pyarrow, simpy, networkx, shapely, numba ...) creates a few hundred
thousand long-lived objects: functions, classes, their dicts. With the collector on, every full collection during the
imports traverses all of them again (about six during a study run's start: 1 s of CPU on this project's 2-core
development machine, a fifth of a short run's start). They live as long as the process, so :func:`imports_paused`
keeps the collector off while they load and then freezes what exists (``gc.freeze``: moved to a permanent generation
that later collections skip). The first use in a process freezes; later ones only pause. The few cycles of garbage
made while importing are never freed (kilobytes); nothing else changes, and results do not depend on it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_frozen = False


@contextmanager
def imports_paused() -> Iterator[None]:
    """Run the block (heavy imports) with the collector off; on the first use in a process, freeze the objects that
    exist at its end. The collector's previous state is restored."""
    global _frozen
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if not _frozen:
            _frozen = True
            gc.freeze()
        if was_on:
            gc.enable()
