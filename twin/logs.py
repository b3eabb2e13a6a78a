"""What a command shows while a run goes: log lines on stderr, or a progress bar in a terminal, or nothing.

The run itself logs through the ``twin`` logger (one line a round, :mod:`twin.sim.runlog`) and keeps every line in
its ``run.log``; this module only decides where they also appear:

- stderr is not a terminal (a file, a batch job, a notebook's subprocess): every line of ``--log-level`` and above,
  as it happens;
- stderr is a terminal: a progress bar (rounds, accuracy, simulated time) that ends at the round the run stopped,
  and warnings and errors above it;
- ``--quiet``: nothing (the command prints only the run folder).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

LEVELS = ("debug", "info", "warning", "error")
_LOGGER = "twin"


class _Format(logging.Formatter):
    """``message`` for INFO and below, ``LEVEL: message`` above."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if record.levelno <= logging.INFO else f"{record.levelname.lower()}: {text}"


class _TqdmHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # noqa: BLE001 - as logging.Handler.handleError
            self.handleError(record)


def level_of(name: str) -> int:
    return getattr(logging, name.upper())


class Console:
    """The command's view of one run. ``with Console(...) as c: run(..., on_round=c.on_round)``."""

    def __init__(self, *, name: str, total_rounds: int, level: str = "info", quiet: bool = False,
                 tty: bool | None = None) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.level = level_of(level)
        self.name, self.total = name, total_rounds
        self.bar: Any = None
        self._handler: logging.Handler | None = None
        self._old_level = logging.NOTSET

    def __enter__(self) -> Console:
        logger = logging.getLogger(_LOGGER)
        self._old_level = logger.level
        logger.setLevel(self.level)
        if self.quiet:
            handler: logging.Handler = logging.NullHandler()  # nor Python's last-resort printer
        elif self.tty:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, unit="round", desc=self.name, file=sys.stderr)
            handler = _TqdmHandler(max(self.level, logging.WARNING))
        else:
            handler = logging.StreamHandler(sys.stderr)
            handler.setLevel(self.level)
        handler.setFormatter(_Format("%(message)s"))
        logger.addHandler(handler)
        self._handler = handler
        return self

    def on_round(self, round_: int, row: dict) -> None:
        if self.bar is None:
            return
        self.bar.update(round_ - self.bar.n)
        acc = row.get("accuracy")
        post = {} if acc is None or acc != acc else {"acc": f"{acc:.4f}"}
        self.bar.set_postfix(**post, sim_t=f"{row['t_end']:.1f}s", refresh=False)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            if exc[0] is None and self.bar.n < self.bar.total:
                self.bar.total = self.bar.n  # the stop rule ended the run early: the bar ends full at that round
            self.bar.refresh()
            self.bar.close()
        logger = logging.getLogger(_LOGGER)
        if self._handler is not None:
            logger.removeHandler(self._handler)
        logger.setLevel(self._old_level)

