"""'Did you mean' for an unknown scenario key: the closest field name of the section the key sits in."""

from __future__ import annotations

import difflib
import typing
from typing import Any

from pydantic import BaseModel

from twin.scenario.schema import ScenarioConfig


def did_you_mean(loc: list, union_tags: set[str]) -> str:
    """`` (did you mean 'rounds'?)`` for an unknown field at pydantic location ``loc`` (``union_tags``: the ``kind``
    literals pydantic puts into locations), when a field of the section it sits in is spelt alike; else ``""``."""

    def models(annotation: Any) -> list[type[BaseModel]]:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return [annotation]
        return [m for arg in typing.get_args(annotation) for m in models(arg)]

    here: list[type[BaseModel]] = [ScenarioConfig]
    for part in loc[:-1]:
        if isinstance(part, str) and part in union_tags and not any(part in m.model_fields for m in here):
            tagged = [m for m in here if "kind" in m.model_fields
                      and part in typing.get_args(m.model_fields["kind"].annotation)]
            here = tagged or here
            continue
        here = [m for model in here if isinstance(part, str) and part in model.model_fields
                for m in models(model.model_fields[part].annotation)]
        if not here:
            return ""
    names = sorted({name for model in here for name in model.model_fields})
    close = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
