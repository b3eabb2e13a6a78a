"""numba for twin's compiled kernels (``twin.net``'s flow engine, ``twin.fl.linear_kernels``,
``twin.fl.round_kernels``), with a cache that cannot go stale.

The kernels are compiled once and kept on disk (``cache=True``). numba checks a cached kernel only against the file
it is defined in (its modification time and size), not against the kernels it calls from other files, which it
compiles into itself: ``twin.net.completion.complete`` holds copies of ``twin.net.kernels`` and ``twin.net.star``.
After an update that changes only one of those, numba would load the stale copy. So, unless ``NUMBA_CACHE_DIR`` is
set, this module points numba's cache at a folder named by the SHA-256 of every kernel module's source
(:data:`KERNEL_MODULES`): ``$XDG_CACHE_HOME/twin/numba/<digest>`` (else ``~/.cache/twin/numba/<digest>``). Any change to
any kernel module starts a fresh folder (the first run after it compiles for a minute or so); folders of older
versions can be deleted at any time.

Without numba (a platform with no wheel), ``AVAILABLE`` is False and ``njit`` returns functions unchanged: the
engine and training use their numpy and torch paths.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
KERNEL_MODULES = ("fl/linear_kernels.py", "fl/round_kernels.py", "net/chains.py", "net/completion.py",
                  "net/counting.py", "net/filling.py", "net/kernels.py", "net/mixed_exact.py", "net/mixed_kernels.py",
                  "net/mixed_lazy.py", "net/star.py")
"""The modules under twin/ that define compiled kernels (tests/test_compiled.py checks the list is complete)."""


def kernel_digest(package: Path = PACKAGE, modules: tuple[str, ...] = KERNEL_MODULES) -> str:
    """SHA-256 (hex, 16 characters) of the kernel modules' sources, in the order given."""
    h = hashlib.sha256()
    for name in modules:
        h.update(name.encode())
        h.update((package / name).read_bytes())
    return h.hexdigest()[:16]


def cache_dir() -> Path:
    """Where numba keeps twin's compiled kernels (see the module docstring)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "twin" / "numba" / kernel_digest()


def _configure() -> None:
    if "NUMBA_CACHE_DIR" in os.environ or "numba" in sys.modules:  # the user's choice, or numba already configured
        return
    try:
        os.environ["NUMBA_CACHE_DIR"] = str(cache_dir())
    except OSError:  # a kernel module unreadable (an odd install): numba's own cache location then
        pass


_configure()

try:  # pragma: no cover - exercised when numba is installed
    from numba import njit

    AVAILABLE = True
except ImportError:  # pragma: no cover - exercised without numba
    AVAILABLE = False

    def njit(*_args, **_kwargs):
        def wrap(fn):
            return fn

        return wrap


__all__ = ["AVAILABLE", "KERNEL_MODULES", "cache_dir", "kernel_digest", "njit"]
