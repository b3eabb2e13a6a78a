"""Compression codecs for model updates (and optionally the broadcast): one module per codec.

``make_codec(kind, **params)`` builds one; :data:`CODECS` maps each kind to its class. The registry is the package
itself: every module here that defines a :class:`~twin.fl.codecs.base.Codec` subclass with a ``kind`` adds that codec
(see ``docs/architecture.md``, "Adding a codec"). The interface, wire formats and cost model are in
:mod:`twin.fl.codecs.base`.
"""

from __future__ import annotations

from twin.fl.codecs.base import Codec, CodecCost, CodecState, Encoded
from twin.fl.registry import build, discover

CODECS: dict[str, type[Codec]] = discover(__name__, Codec)


def make_codec(kind: str, **params) -> Codec:
    """Build a codec by kind (one of :data:`CODECS`) with its schema fields as keyword arguments."""
    return build(CODECS, kind, "codec", params)


__all__ = ["CODECS", "Codec", "CodecCost", "CodecState", "Encoded", "make_codec"]
