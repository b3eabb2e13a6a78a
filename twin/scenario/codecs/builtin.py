"""The shipped codecs (implementations in ``twin/fl/codecs/``; formats in ``docs/fl-algorithms.md``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt

from twin.scenario.codecs import CodecSpec
from twin.scenario.validators import Fraction


class NoCodec(CodecSpec):
    """Plain float32."""

    kind: Literal["none"] = "none"


class Fp16Codec(CodecSpec):
    """IEEE half precision."""

    kind: Literal["fp16"]


class Int8Codec(CodecSpec):
    """Unbiased stochastic 8-bit quantisation with one float32 scale per chunk (default: one for the whole update)."""

    kind: Literal["int8"]
    chunk_size: PositiveInt | None = None


class QSGDCodec(CodecSpec):
    """QSGD with ``s`` levels (fixed-width codes) and one norm per bucket (default: one for the whole update)."""

    kind: Literal["qsgd"]
    s: int = Field(default=16, ge=1, le=2**24)
    bucket_size: PositiveInt | None = None


class TopKCodec(CodecSpec):
    """The ``fraction`` of largest-magnitude values and their indices; error feedback on by default."""

    kind: Literal["topk"]
    fraction: Fraction = 0.01
    error_feedback: bool = True
