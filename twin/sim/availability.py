"""Client availability (``fl.availability``): on/off intervals per client, from a file or a generator.

A client is *on* inside one of its intervals ``[start, end)`` and *off* outside them; a client without intervals in a
trace file is always on. Unavailable clients cannot be selected (:meth:`ClientAvailability.available_at` masks the
selection), and a participation under way is interrupted when its client goes off (the round process asks
:meth:`ClientAvailability.next_off` when it starts one; the drop's cause is ``offline``).

Sources: ``trace`` (``format: intervals``, a CSV or Parquet table ``client, start_s, end_s``; ``format: fedscale``,
FedScale's ``client_behave_trace`` pickle, read by a restricted unpickler that accepts plain containers and numbers
only), ``random`` (exponential on and off periods) and ``diurnal`` (one daily window per client). Generators are
seeded by the ``availability`` stream and reach ``horizon_s``; after it a client keeps its last state.
"""

from __future__ import annotations

import io
import math
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from twin.errors import InputError
from twin.scenario import fl_network as N


class ClientAvailability:
    """Per-client sorted, disjoint on-intervals. ``always[i]``: client i has no trace and is always on."""

    def __init__(self, starts: Sequence[np.ndarray], ends: Sequence[np.ndarray], always: np.ndarray) -> None:
        self.starts = [np.asarray(s, dtype=float) for s in starts]
        self.ends = [np.asarray(e, dtype=float) for e in ends]
        self.always = np.asarray(always, dtype=bool)

    @property
    def n_clients(self) -> int:
        return len(self.starts)

    def _index(self, i: int, t: float) -> int:
        """Index of the interval of client i that starts at or before t (-1: none)."""
        return int(np.searchsorted(self.starts[i], t, side="right")) - 1

    def is_on(self, i: int, t: float) -> bool:
        if self.always[i]:
            return True
        j = self._index(i, t)
        return j >= 0 and t < self.ends[i][j]

    def available_at(self, t: float) -> np.ndarray:
        """[n_clients] bool: who is on at time t."""
        return np.fromiter((self.is_on(i, t) for i in range(self.n_clients)), dtype=bool, count=self.n_clients)

    def next_off(self, i: int, t: float) -> float:
        """When client i, on at time t, goes off (inf: never)."""
        if self.always[i]:
            return math.inf
        j = self._index(i, t)
        return float(self.ends[i][j]) if j >= 0 and t < self.ends[i][j] else float(t)

    def next_on(self, t: float) -> float:
        """The first instant after t at which some client comes on (inf: none ever does)."""
        best = math.inf
        for i in range(self.n_clients):
            if not self.always[i]:
                j = int(np.searchsorted(self.starts[i], t, side="right"))
                if j < self.starts[i].size:
                    best = min(best, float(self.starts[i][j]))
        return best

    def on_share(self, t_end: float) -> float:
        """Mean share of ``[0, t_end]`` the clients are on (for the summary)."""
        if t_end <= 0 or self.n_clients == 0:
            return 1.0
        total = 0.0
        for i in range(self.n_clients):
            if self.always[i]:
                total += t_end
            else:
                total += float(np.clip(np.minimum(self.ends[i], t_end) - self.starts[i], 0, None).sum())
        return total / (t_end * self.n_clients)


# ---------------------------------------------------------------------------------------------------- building


def build_availability(cfg: N.Availability, client_names: Sequence[str], base_dir: Path,
                       rng: np.random.Generator) -> ClientAvailability:
    """The availability of the scenario's clients (``fl.availability``); errors name the field or the file."""
    n = len(client_names)
    if isinstance(cfg, N.RandomAvailability):
        return random_on_off(n, cfg.mean_on_s, cfg.mean_off_s, cfg.horizon_s, rng)
    if isinstance(cfg, N.DiurnalAvailability):
        return diurnal(n, cfg.period_s, cfg.on_fraction, cfg.peak_s, cfg.spread_s, cfg.horizon_s, rng)
    path = Path(cfg.path).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if not path.is_file():
        raise InputError(f"fl.availability.path: {path}: file not found")
    if cfg.format == "fedscale":
        return read_fedscale(path, n, cfg.horizon_s)
    return read_intervals(path, client_names)


def random_on_off(n: int, mean_on_s: float, mean_off_s: float, horizon_s: float, rng: np.random.Generator
                  ) -> ClientAvailability:
    """Alternating exponential on / off periods per client, starting on with the stationary probability."""
    p_on = mean_on_s / (mean_on_s + mean_off_s)
    first_on = rng.random(n) < p_on
    pairs = max(4, int(1.5 * horizon_s / (mean_on_s + mean_off_s)) + 4)
    starts, ends = [], []
    for i in range(n):
        durations = np.empty(0)
        while durations.sum() < horizon_s:  # on, off, on, off ... (or off first)
            on, off = rng.exponential(mean_on_s, pairs), rng.exponential(mean_off_s, pairs)
            block = np.column_stack([on, off] if first_on[i] else [off, on]).ravel()
            durations = np.concatenate([durations, block])
        bounds = np.concatenate([[0.0], np.cumsum(durations)])
        first = 0 if first_on[i] else 1  # index of the first on-period
        s, e = bounds[first:-1:2], bounds[first + 1::2]
        keep = s < horizon_s
        s, e = s[keep], e[: int(keep.sum())].copy()
        if e.size and e[-1] >= horizon_s:
            e[-1] = math.inf  # on at the horizon: stays on
        starts.append(s)
        ends.append(e)
    return ClientAvailability(starts, ends, np.zeros(n, dtype=bool))


def diurnal(n: int, period_s: float, on_fraction: float, peak_s: float, spread_s: float, horizon_s: float,
            rng: np.random.Generator) -> ClientAvailability:
    """One window of ``on_fraction * period_s`` per period and client, centred on ``peak_s`` + a normal offset."""
    width = on_fraction * period_s
    centre = peak_s + rng.normal(0.0, spread_s, n) if spread_s > 0 else np.full(n, peak_s)
    first = np.mod(centre - width / 2, period_s) - period_s  # a window that may already be open at t = 0
    n_periods = int(math.ceil(horizon_s / period_s)) + 2
    k = np.arange(n_periods) * period_s
    starts, ends = [], []
    for i in range(n):
        s = first[i] + k
        e = s + width
        keep = e > 0
        s, e = np.maximum(s[keep], 0.0), e[keep]
        if on_fraction >= 1:
            s, e = np.array([0.0]), np.array([math.inf])
        starts.append(s)
        ends.append(e)
    return ClientAvailability(starts, ends, np.zeros(n, dtype=bool))


def read_intervals(path: Path, client_names: Sequence[str]) -> ClientAvailability:
    """A table of on-intervals ``client, start_s, end_s`` (CSV or Parquet)."""
    where = f"fl.availability.path: {path}"
    try:
        df = pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else pd.read_csv(path)
    except Exception as exc:  # pandas and pyarrow raise many types for a damaged file
        raise InputError(f"{where}: cannot read it as {'Parquet' if path.suffix == '.parquet' else 'CSV'}: "
                         f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    missing = [c for c in ("client", "start_s", "end_s") if c not in df.columns]
    if missing:
        raise InputError(f"{where}: missing column {missing[0]!r} (need client, start_s, end_s)")
    index = {name: i for i, name in enumerate(client_names)}
    names = df["client"].astype(str)
    unknown = sorted(set(names) - set(index))
    if unknown:
        raise InputError(f"{where}: unknown client {unknown[0]!r} (the scenario's clients are "
                         f"{client_names[0]} .. {client_names[-1]})")
    try:
        start = pd.to_numeric(df["start_s"]).to_numpy(dtype=float)
        end = pd.to_numeric(df["end_s"]).to_numpy(dtype=float)
    except (ValueError, TypeError):
        raise InputError(f"{where}: start_s and end_s must be numbers (seconds)") from None
    bad = np.flatnonzero(~(start >= 0) | ~(end > start))
    if bad.size:
        r = int(bad[0])
        raise InputError(f"{where}: row {r + 2}: need 0 <= start_s < end_s, got {start[r]} .. {end[r]}")
    n = len(client_names)
    starts: list[np.ndarray] = [np.zeros(0)] * n
    ends: list[np.ndarray] = [np.zeros(0)] * n
    always = np.ones(n, dtype=bool)
    client = names.map(index).to_numpy()
    for i in np.unique(client):
        rows = np.flatnonzero(client == i)
        order = rows[np.argsort(start[rows], kind="stable")]
        s, e = start[order], end[order]
        clash = np.flatnonzero(s[1:] < e[:-1])
        if clash.size:
            j = int(clash[0])
            raise InputError(f"{where}: client {client_names[i]!r} has overlapping intervals {s[j]}..{e[j]} and "
                             f"{s[j + 1]}..{e[j + 1]}")
        starts[i], ends[i], always[i] = s, e, False
    return ClientAvailability(starts, ends, always)


class _PlainUnpickler(pickle.Unpickler):
    """Unpickles containers and numbers only: a trace file can never run code."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"the file refers to {module}.{name}; a trace holds only dicts, lists and numbers")


def read_fedscale(path: Path, n_clients: int, horizon_s: float) -> ClientAvailability:
    """FedScale's ``client_behave_trace``: per id ``active`` / ``inactive`` (interval starts and ends, seconds) and
    ``finish_time`` (the cycle, repeated as FedScale does). Client i takes the trace of the (i mod m)-th id in
    sorted order (FedScale's assignment of a trace to a client id)."""
    where = f"fl.availability.path: {path}"
    try:
        data = _PlainUnpickler(io.BytesIO(path.read_bytes())).load()
    except Exception as exc:
        raise InputError(f"{where}: not a FedScale client_behave_trace pickle ({exc})") from None
    if not isinstance(data, dict) or not data:
        raise InputError(f"{where}: expected a non-empty dict of client id -> trace")
    keys = sorted(data, key=lambda k: (str(type(k)), k))
    traces = []
    for key in keys:
        tr = data[key]
        try:
            act = np.asarray(tr["active"], dtype=float)
            ina = np.asarray(tr["inactive"], dtype=float)
            cycle = float(tr["finish_time"])
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{where}: client {key!r}: need active, inactive (lists of seconds) and "
                             f"finish_time") from None
        if act.shape != ina.shape or act.ndim != 1 or not cycle > 0 or (ina < act).any():
            raise InputError(f"{where}: client {key!r}: active and inactive must pair up (start <= end) and "
                             f"finish_time be positive")
        if act.size > 1 and (act[1:] < ina[:-1]).any():
            raise InputError(f"{where}: client {key!r} has overlapping intervals")
        reps = int(math.ceil(horizon_s / cycle))
        offs = np.repeat(np.arange(reps) * cycle, act.size)
        traces.append((np.tile(act, reps) + offs, np.tile(ina, reps) + offs))
    starts = [traces[i % len(traces)][0] for i in range(n_clients)]
    ends = [traces[i % len(traces)][1] for i in range(n_clients)]
    return ClientAvailability(starts, ends, np.zeros(n_clients, dtype=bool))
