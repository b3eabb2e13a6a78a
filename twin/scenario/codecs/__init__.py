"""Schema classes of the update codecs, one or more per module; ``builtin`` holds the shipped ones.

Every codec takes ``error_feedback`` (:class:`CodecSpec`). A new codec is a module here with a subclass of
:class:`CodecSpec` (fields = the implementation's keyword arguments, same defaults) next to its implementation module in
``twin/fl/codecs/``; ``fl.upload_codec`` and ``fl.broadcast_codec`` accept it at once (:mod:`twin.scenario.plugins`).
"""

from __future__ import annotations

from twin.scenario.types import Section


class CodecSpec(Section):
    """Base of a codec's schema class. ``error_feedback``: send ``compress(x + residual)`` and keep the new residual per
    client (Seide et al. 2014, Stich et al. 2018)."""

    kind: str  # each subclass narrows it to its literal(s), which the union discriminates on
    error_feedback: bool = False
