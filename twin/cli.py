"""The error plumbing every command shares (``twin.run``, ``twin.sweep``, ``twin.plot``, ``twin.report``,
``twin.compare``).

:func:`main_of` runs a command's body and turns what it raises into an exit status: a bad argument or any
:class:`~twin.errors.InputError` (and whatever else the command lists as input errors) -> one line ``error: ...`` on
stderr, exit 2, no traceback; Ctrl-C -> the command's interruption note, exit 130; a closed stdout (``| head``) ->
quiet, exit 1. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

import twin
from twin.errors import InputError

EXIT_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 1  # as Python itself on EPIPE


class ArgumentParser(argparse.ArgumentParser):
    """An argparse parser whose usage errors are input errors (one line, exit 2) instead of a usage dump, with
    ``--version``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument("--version", action="version", version=f"twin {twin.__version__}")

    def error(self, message: str) -> None:
        raise InputError(message)


def main_of(body: Callable[[], int], *, input_errors: tuple[type[BaseException], ...] = (),
            interrupted: str = "interrupted") -> int:
    """Run ``body()`` and return its exit status, mapping input errors, Ctrl-C and a closed pipe as described above."""
    try:
        return body()
    except (InputError, *input_errors) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away: point stdout at /dev/null so the interpreter's final flush stays quiet
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
