"""Discriminated unions assembled from the schema classes found in a package (codecs, strategies).

A pluggable part has its schema class in a module of its schema package (``twin/scenario/codecs/``): a subclass of the
package's base class with a ``kind`` literal. :func:`kinds_in` imports every module of the package (``builtin`` first,
then the others in name order) and collects those classes; :func:`tagged_union` makes the ``kind``-discriminated union
that the ``fl`` section uses. Adding a codec is adding its implementation module (``twin/fl/codecs/``) and a schema
module here; no union or dict to edit.
"""

from __future__ import annotations

import importlib
import pkgutil
import typing
from functools import reduce
from operator import or_
from typing import Annotated

from pydantic import Field

from twin.scenario.types import Section


def kind_tags(cls: type[Section]) -> tuple[str, ...]:
    """The ``kind`` literal(s) of a schema class."""
    field = cls.model_fields.get("kind")
    return tuple(a for a in typing.get_args(field.annotation) if isinstance(a, str)) if field is not None else ()


def kinds_in(package: str, base: type[Section]) -> tuple[type[Section], ...]:
    """Every subclass of ``base`` with a ``kind`` defined in a module of ``package``; a kind defined twice raises
    ``TypeError`` (a programming error, at import)."""
    pkg = importlib.import_module(package)
    infos = sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: (m.name != "builtin", m.name))
    found: list[type[Section]] = []
    owner: dict[str, str] = {}
    for info in infos:
        module = importlib.import_module(f"{package}.{info.name}")
        for obj in vars(module).values():
            if not (isinstance(obj, type) and issubclass(obj, base) and obj.__module__ == module.__name__):
                continue
            tags = kind_tags(obj)
            if not tags:
                continue
            for tag in tags:
                if tag in owner:
                    raise TypeError(f"{package}: kind {tag!r} is defined twice ({owner[tag]} and "
                                    f"{module.__name__}.{obj.__name__})")
                owner[tag] = f"{module.__name__}.{obj.__name__}"
            found.append(obj)
    if not found:
        raise TypeError(f"{package}: no schema class with a kind")
    return tuple(found)


def tagged_union(classes: tuple[type[Section], ...]):
    """``Annotated[A | B | ..., Field(discriminator="kind")]``."""
    return Annotated[reduce(or_, classes), Field(discriminator="kind")]
