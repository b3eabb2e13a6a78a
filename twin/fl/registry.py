"""Building a named part (codec, strategy) from a registry with keyword arguments that must match its constructor."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any


def build(registry: Mapping[str, type], kind: str, what: str, params: Mapping[str, Any]) -> Any:
    """``registry[kind](**params)``; an unknown kind or parameter raises ValueError naming it and the choices."""
    if not isinstance(kind, str) or kind not in registry:
        raise ValueError(f"{what} kind must be one of {', '.join(registry)}; got {kind!r}")
    cls = registry[kind]
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    for name in params:
        if name not in accepted:
            raise ValueError(f"{name}: unknown parameter for {what} {kind!r} (it takes {', '.join(accepted)})")
    return cls(**params)
