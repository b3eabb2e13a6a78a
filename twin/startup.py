"""Process start-up: the heavy imports of a run, with Python's cyclic garbage collector paused.

Importing what a run needs (torch, pandas, pyarrow, simpy, networkx, shapely, numba ...) creates a few hundred
thousand long-lived objects: functions, classes, their dicts. With the collector on, every full collection during the
imports traverses all of them again (about six during a study run's start: 1 s of CPU on this project's 2-core
development machine, a fifth of a short run's start). They live as long as the process, so :func:`imports_paused`
keeps the collector off while they load and then freezes what exists (``gc.freeze``: moved to a permanent generation
that later collections skip). Every use until the process's first simulation starts (:func:`settle`, called by
``twin.run.simulate_with_threads``) freezes; later ones only pause, so that a sweep worker's later runs never freeze
what an earlier run left. ``twin.run`` itself imports its command-line modules (pandas and pyarrow through the run
folder writer, the pydantic schema) this way, then torch and the simulation's modules. The few cycles of garbage
made while importing are never freed (kilobytes); nothing else changes, and results do not depend on it.

In a ``python -m twin.run`` process (:func:`one_run_process`), the collector looks at the youngest generation every
10,000 allocations of tracked objects instead of every 700: a run allocates millions (SimPy events, timeline rows),
most of them freed by reference counting, and each young collection walks the survivors again. In a 30-round study
run this halves the collector's time (0.37-0.60 s -> 0.19-0.32 s; 706 -> 38 young collections and no full one).
Cycles of garbage are found later, not lost; a sweep worker keeps Python's pace, so that an earlier run's garbage goes
as soon as it can.

After a one-run process's first round (:func:`round_done`, called by ``twin.run.simulate_with_threads`` after every
round) what exists is frozen once more: numba's first kernel load (about 55,000 objects of its dispatch and typing
machinery, 0.4 s), the build's graph, clients and data. They live to the end of the process (or are freed by reference
counting), and no full collection walks them again. With the young threshold above, a 150-round study run makes no
full collection at all, so this changes nothing measurable there; it keeps full collections short in longer runs. A
sweep worker does not freeze there: its runs' objects must be collectable once each run is over, and undoing a freeze
(``gc.unfreeze`` and a full collection of every object, about 0.8 s) costs more than the full collections it saves
(0.05-0.1 s each, about 3-6 per study run).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_settled = False  # the process's start-up is over: its first simulation has begun
_one_run = False  # this process runs one simulation and ends (one_run_process)
_round_frozen = False  # the freeze after a one-run process's first round is done
YOUNG_THRESHOLD = 10_000


@contextmanager
def imports_paused() -> Iterator[None]:
    """Run the block (heavy imports) with the collector off; until :func:`settle`, freeze the objects that exist at
    its end. The collector's previous state is restored."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if not _settled:
            gc.freeze()
        if was_on:
            gc.enable()


def settle() -> None:
    """The start-up is over (the first simulation begins): later :func:`imports_paused` blocks only pause."""
    global _settled
    _settled = True


def one_run_process() -> None:
    """This process runs one simulation and ends (``python -m twin.run``): collect the youngest generation every
    :data:`YOUNG_THRESHOLD` allocations instead of Python's 700. Not for a sweep worker, whose earlier runs' garbage
    should go as soon as it can."""
    global _one_run
    _one_run = True
    young, *older = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_THRESHOLD), *older)


def round_done() -> None:
    """A simulation's round (or asynchronous server step) ended: after the first one of a one-run process, freeze
    what exists (see the module docstring). Otherwise nothing."""
    global _round_frozen
    if _one_run and not _round_frozen:
        _round_frozen = True
        gc.freeze()
