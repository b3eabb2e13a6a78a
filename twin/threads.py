"""The thread policy: how many math threads (torch intra-op and inter-op, OpenMP, MKL, OpenBLAS) a run uses.

One rule, chosen from the scenario alone, never from the machine's momentary load (see docs/performance.md):

- ``--threads N`` (``twin.run``, ``twin.sweep``) wins, then the environment variable ``TWIN_THREADS``;
- otherwise a run that trains nothing (``fl.train: false``, ``fl.model.kind: fixed``) or trains a small model (the
  Linear/ReLU models: softmax regression, the MLPs whose widest layer is under ``LARGE_HIDDEN``) uses **1** thread:
  cohort training batches every client into a few small products, which a second thread only slows down (the threads
  spin and wait for each other; on a busy shared machine they fight the other processes for the cores);
- a large model (``cnn``, an ``mlp`` with a layer of ``LARGE_HIDDEN`` units or more) uses ``LARGE_THREADS`` threads,
  capped by the cores this process may run on (a property of the machine, not its load);
- a sweep worker uses 1 thread per run (one run per core), or the sweep's ``--threads``.

The count never changes results: the vectorised training engines and the evaluation give bit-identical parameters at
1, 2 and 4 threads (tests/fl/test_threads.py), and the count used is recorded in ``summary.json`` (``threads``).

:func:`apply_threads` sets the environment of the math libraries (read when they start their pools) and, when torch is
already imported, its intra-op and (once per process, before any parallel work) inter-op thread counts. Call it before
importing torch where possible: ``twin.run`` does so right after validating the scenario.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from twin.errors import InputError

ENV_VAR = "TWIN_THREADS"
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS")
LARGE_THREADS = 4
LARGE_HIDDEN = 1024
SMALL_MODELS = ("softmax_regression", "digits_mlp", "mlp_2nn")


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def parse_threads(text: str | int, source: str) -> int:
    """A thread count from the command line or the environment; an InputError naming ``source`` otherwise."""
    try:
        value = int(str(text).strip())
    except ValueError:
        raise InputError(f"{source}: expected a whole number of threads, got {text!r}") from None
    if value < 1:
        raise InputError(f"{source}: must be at least 1 thread, got {value}")
    return value


def default_threads(config: Any) -> int:
    """The scenario's thread count: 1 for no training or a small model, ``LARGE_THREADS`` (capped by the cores) for
    a large one."""
    fl = config.fl
    if fl is None:  # a pure network run
        return 1
    model = fl.model
    if not fl.train or model.kind == "fixed":
        return 1
    large = model.kind == "cnn" or (model.kind == "mlp" and max(model.hidden) >= LARGE_HIDDEN)
    return min(LARGE_THREADS, available_cores()) if large else 1


def resolve_threads(config: Any, requested: int | None = None) -> tuple[int, str]:
    """(count, source): ``requested`` (``--threads``), else ``TWIN_THREADS``, else :func:`default_threads`."""
    if requested is not None:
        return parse_threads(requested, "--threads"), "--threads"
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return parse_threads(env, ENV_VAR), ENV_VAR
    return default_threads(config), "scenario"


def needs_torch(config: Any) -> bool:
    return config.fl is not None and bool(config.fl.train) and config.fl.model.kind != "fixed"


def apply_threads(n: int, *, load_torch: bool = False) -> None:
    """Use ``n`` math threads in this process from now on: the environment first (read by OpenMP, MKL and OpenBLAS
    when they start), then torch's intra-op and inter-op pools, importing torch first when ``load_torch`` (so that
    its pools start at ``n``) or when it is already loaded."""
    for var in THREAD_VARS:
        os.environ[var] = str(n)
    torch = sys.modules.get("torch")
    if torch is None:
        if not load_torch:
            return
        import torch
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    if torch.get_num_interop_threads() != n:
        try:  # settable once, before any inter-op parallel work; later calls raise and the pool stays as it is
            torch.set_num_interop_threads(n)
        except RuntimeError:
            pass


def torch_threads() -> dict[str, int] | None:
    """The counts torch actually uses (None when torch is not loaded)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    return {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}
