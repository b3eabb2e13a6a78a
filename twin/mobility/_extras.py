"""Lazy imports of the optional extras (``sumo``: sumolib / traci / eclipse-sumo, ``osm``: osmnx).

Nothing here imports an extra at module import time; each loader calls :func:`require` when it runs.
"""

from __future__ import annotations

import importlib
import os
import shutil
from types import ModuleType

__all__ = ["MissingExtraError", "require", "sumo_home", "sumo_binary", "sumo_tool"]


class MissingExtraError(ImportError):
    """An optional dependency is missing; the message names the ``pip install`` line that fixes it."""


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{module} is not installed; it comes with the '{extra}' extra: pip install 'twin[{extra}]'"
        ) from exc


def sumo_home() -> str:
    """SUMO_HOME of the ``eclipse-sumo`` package (falls back to the SUMO_HOME environment variable)."""
    try:
        sumo = importlib.import_module("sumo")
        home = getattr(sumo, "SUMO_HOME", None)
        if home and os.path.isdir(home):
            return str(home)
    except ImportError:
        pass
    home = os.environ.get("SUMO_HOME")
    if home and os.path.isdir(home):
        return home
    raise MissingExtraError("SUMO is not installed (no eclipse-sumo package, no SUMO_HOME): pip install 'twin[sumo]'")


def sumo_binary(name: str = "sumo") -> str:
    """Path of a SUMO executable (``sumo``, ``netgenerate``, ``netconvert``, ``duarouter``...)."""
    try:
        home = sumo_home()
    except MissingExtraError:
        home = None
    if home is not None:
        for candidate in (os.path.join(home, "bin", name), os.path.join(home, "bin", name + ".exe")):
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
    found = shutil.which(name)
    if found:
        return found
    raise MissingExtraError(f"SUMO binary {name!r} not found: pip install 'twin[sumo]'")


def sumo_tool(relative_path: str) -> str:
    """Path of a script in SUMO's tools folder, e.g. ``sumo_tool('randomTrips.py')``."""
    path = os.path.join(sumo_home(), "tools", relative_path)
    if not os.path.isfile(path):
        raise MissingExtraError(f"SUMO tool {relative_path!r} not found under {path!r}: pip install 'twin[sumo]'")
    return path
