"""The error plumbing every command shares (``twin.run``, ``twin.sweep``, ``twin.plot``, ``twin.report``,
``twin.compare``).

:func:`main_of` runs a command's body and turns what it raises into an exit status: a bad argument or any
:class:`~twin.errors.InputError` (and whatever else the command lists as input errors) -> one line ``error: ...`` on
stderr, exit 2, no traceback; Ctrl-C -> the command's interruption note, exit 130; a closed stdout (``| head``) ->
quiet, exit 1. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import atexit
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import twin
from twin.errors import InputError

EXIT_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 1  # as Python itself on EPIPE


def printable(text: str) -> str:
    """``text`` with control characters (newlines, terminal escape sequences) escaped: one line, nothing executed by
    the terminal. Scenario names, paths and values from files are shown through this."""
    return "".join(ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii") for ch in text)


def finite_float(text: str) -> float:
    """An argparse type: a finite number (NaN and infinity are refused like any other non-number)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def output_file(path: Path, option: str) -> Path:
    """Check, before any work, that a file can be written at ``path`` (the ``--out`` of plot / report, ``--csv``):
    its folder exists and is writable, and ``path`` is not a folder. Raises InputError (one line)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{option} {path}: is a folder; give a file name")
    parent = path.parent
    if not parent.exists():
        raise InputError(f"{option} {path}: folder {parent} does not exist")
    if not parent.is_dir():
        raise InputError(f"{option} {path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise InputError(f"{option} {path}: not writable")
    return path


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
        status = body()
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not in the interpreter's final flush
        return status
    except (InputError, *input_errors) as exc:
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away: point stdout at /dev/null so the interpreter's final flush stays quiet
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can reach it
            pass


def exit_now(status: int) -> NoReturn:
    """End a command's process with ``status`` once its work is done, without the interpreter's teardown.

    Python's own exit runs the ``atexit`` handlers, then clears every module and frees every object one by one, with
    full garbage collections in between: 0.3-0.5 s after a run that loaded torch, pandas and numba (a sixth of a short
    study run), for memory the operating system takes back at once anyway. This keeps what matters of it: the
    streams are flushed (Python's and C's), threads that are not daemons are waited for, and the ``atexit`` handlers
    run (logging's flush, weakref finalizers such as temporary folders, multiprocessing's children); then the process
    ends. Only for a command's ``__main__`` path, after its files are written and closed: a caller of ``main()`` in
    the same process is unaffected. Under a profiler, a tracer or coverage (``python -m cProfile -m twin.run ...``) it
    exits the normal way, so that they write their results.
    """
    if sys.getprofile() is not None or sys.gettrace() is not None:
        raise SystemExit(status)
    _flush()
    threading = sys.modules.get("threading")
    if threading is not None:  # as the interpreter's exit: threading's exit hooks (thread pools left open stop), then
        threading._shutdown()  # noqa: SLF001 - wait for every thread that is not a daemon
    atexit._run_exitfuncs()  # noqa: SLF001 - the interpreter's own exit calls exactly this
    _flush()  # what the handlers printed
    ctypes = sys.modules.get("ctypes")  # C libraries' buffered stdio (only when loaded: it always is after a run)
    if ctypes is not None:
        try:
            ctypes.CDLL(None).fflush(None)
        except (OSError, AttributeError):
            pass
    os._exit(0 if status is None else status)
