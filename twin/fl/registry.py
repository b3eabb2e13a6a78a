"""Registries of named parts (codecs, strategies) that find their members by scanning a package.

A part is a class with a ``kind`` in a module of its package (``twin/fl/codecs/topk.py`` holds ``TopKCodec``, kind
``topk``): :func:`discover` imports every module of the package and collects the subclasses of the package's base class,
so adding a part is adding a module (and its schema class in ``twin.scenario``), with no central list to edit. The
constructor's keyword arguments are the fields of the part's schema class, with the same names and defaults
(``tests/test_registries.py``); values are checked once, by the schema, when a scenario is loaded.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from typing import Any


def discover(package: str, base: type) -> dict[str, type]:
    """``kind -> class`` for every subclass of ``base`` with a non-empty ``kind`` defined in a module of ``package``.

    Modules are imported in name order; two classes with one kind raise ``TypeError`` (a programming error)."""
    pkg = importlib.import_module(package)
    found: dict[str, type] = {}
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package}.{info.name}")
        for obj in vars(module).values():
            if not (isinstance(obj, type) and issubclass(obj, base) and obj.__module__ == module.__name__):
                continue
            kind = getattr(obj, "kind", "")
            if not kind:
                continue
            if kind in found:
                raise TypeError(f"{package}: kind {kind!r} is defined twice ({found[kind].__module__}.{found[kind].__name__}"
                                f" and {module.__name__}.{obj.__name__})")
            found[kind] = obj
    return found


def build(registry: Mapping[str, type], kind: str, what: str, params: Mapping[str, Any]) -> Any:
    """``registry[kind](**params)``; an unknown kind raises ValueError naming the choices."""
    if kind not in registry:
        raise ValueError(f"{what} kind must be one of {', '.join(registry)}; got {kind!r}")
    return registry[kind](**params)
