"""The run's log: one line per round through Python logging (logger ``twin.run``), and the capture that keeps every
line of a run for its ``run.log``.

The line is ``round N/M t=<sim time> selected=.. completed=.. dropped=.. (reasons) acc=.. loss=.. bytes=..``:
M is the horizon (``fl.rounds``), t the simulated time at the end of the round, the reasons the drops' causes with
their counts (absent when nothing was dropped), ``acc`` / ``loss`` ``-`` in a round that was not evaluated, ``bytes``
both directions of the round. An asynchronous run (FedBuff, FedAsync) logs ``step N/M`` instead, N its server
step, and adds the step's mean staleness (``staleness=..``). Where the lines are shown (stderr, a progress bar, nowhere) is the command's choice
(``twin.logs``); the capture is the run's.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from twin.scenario.units import format_quantity

log = logging.getLogger("twin.run")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def round_line(round_: int, total: int, row: Mapping, reasons: Mapping[str, int], *, unit: str = "round") -> str:
    """The log line of one round (``row``: the round's row of the ``rounds`` table); ``unit="step"`` for a server
    step of an asynchronous run."""
    dropped = int(row["n_dropped"])
    why = f" ({', '.join(f'{k} {v}' for k, v in sorted(reasons.items()))})" if dropped else ""
    acc, loss = row.get("accuracy", math.nan), row.get("loss", math.nan)
    acc_s = "-" if acc is None or math.isnan(acc) else f"{acc:.4f}"
    loss_s = "-" if loss is None or math.isnan(loss) else f"{loss:.4f}"
    nbytes = float(row["bytes_down"]) + float(row["bytes_up"])
    stale = row.get("staleness_mean")
    stale_s = f" staleness={float(stale):.2f}" if unit == "step" and stale is not None else ""
    return (f"{unit} {round_}/{total} t={row['t_end']:.3f}s selected={int(row['n_selected'])} "
            f"completed={int(row['n_completed'])} dropped={dropped}{why}{stale_s} acc={acc_s} loss={loss_s} "
            f"bytes={format_quantity(nbytes, 'B').replace(' ', '')}")


def log_round(round_: int, total: int, row: Mapping, reasons: Counter | Mapping[str, int], *,
              unit: str = "round") -> None:
    log.info(round_line(round_, total, row, reasons, unit=unit))


class _Lines(logging.Handler):
    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter(LOG_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # noqa: BLE001 - as logging.Handler.handleError: a bad record must not stop the run
            self.handleError(record)


@contextmanager
def capture(level: int = logging.INFO) -> Iterator[list[str]]:
    """Collect every ``twin`` log record of ``level`` and above while the block runs; yields the list of lines.

    Lowers the ``twin`` logger's level to ``level`` for the block when it is higher (restored after), so the lines
    reach the run's log even when nobody configured logging."""
    logger = logging.getLogger("twin")
    handler = _Lines(level)
    old = logger.level
    if old == logging.NOTSET or old > level:
        logger.setLevel(level)
    logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
