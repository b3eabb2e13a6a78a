"""Are runs comparable? The same FL job - topology, clients, vehicles, radio, data, partition, model, evaluation -
done with different strategies: only the strategy fields below (and the seed, name, description, output) may differ.

A comparison of runs that differ elsewhere (a wired star against a 5G city, digits against Fashion-MNIST) measures the
job, not the strategy: ``twin.run --baseline`` refuses it before running, :func:`twin.analysis.compare` refuses it
unless asked to rank the runs anyway (``mixed=True``, ``twin.compare --mixed``), and then says so under the table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from twin.analysis.loading import AnalysisError, flat

# dotted prefixes of the fields a strategy may change, and of those that say where the job runs, not what it is
# (fl.device, fl.chunk_clients: the same results within float32 rounding); fl.availability is the clients'
# behaviour: part of the job
STRATEGY_FIELDS = ("seed", "name", "description", "output", "fl.rounds", "fl.stop", "fl.local", "fl.strategy",
                   "fl.schedule", "fl.replacement", "fl.upload_codec", "fl.broadcast_codec", "fl.deadline_s",
                   "fl.device", "fl.chunk_clients", "fl.selection", "fl.hierarchy")


class NotComparable(AnalysisError):
    """Runs that are not the same FL job (one line naming the fields that differ)."""


def is_strategy_field(path: str) -> bool:
    return any(path == f or path.startswith(f + ".") for f in STRATEGY_FIELDS)


def job_differences(scenarios: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """{dotted field: its distinct values (as text, in order of appearance)} for every field outside the strategy
    fields whose value is not the same in all ``scenarios`` (resolved scenarios, the ``derived:`` block left out)."""
    flats = [flat({k: v for k, v in s.items() if k != "derived"}) for s in scenarios]
    keys: list[str] = []
    for f in flats:
        keys.extend(k for k in f if k not in keys)
    out: dict[str, list[str]] = {}
    for key in keys:
        if is_strategy_field(key):
            continue
        values: list[str] = []
        for f in flats:
            text = json.dumps(f.get(key), sort_keys=True, default=str)
            if text not in values:
                values.append(text)
        if len(values) > 1:
            out[key] = values
    return out


def describe(differences: Mapping[str, list[str]], limit: int = 5) -> str:
    """``topology.n_clients (20 / 4), fl.data.kind ("digits" / "idx") and 3 more fields``."""
    shown = [f"{k} ({' / '.join(v[:3])}{' ...' if len(v) > 3 else ''})" for k, v in list(differences.items())[:limit]]
    more = len(differences) - len(shown)
    return ", ".join(shown) + (f" and {more} more field{'s' if more > 1 else ''}" if more else "")


def check_comparable(scenarios: Sequence[Mapping[str, Any]], what: str) -> None:
    """Raise :class:`NotComparable` (``what``: how the error starts) when the scenarios are not the same FL job."""
    diff = job_differences(scenarios)
    if diff:
        raise NotComparable(f"{what}: not the same FL job, they differ in {describe(diff)}; only strategy fields may "
                            f"differ ({', '.join(STRATEGY_FIELDS[4:])}, and the seed)")
