"""No compression: plain little-endian float32 (4 n bytes)."""

from __future__ import annotations

from twin.fl.codecs.base import Codec, CodecCost, f32_bytes, f32_from


class NoCodec(Codec):
    """Plain float32 (no compression)."""

    kind = "none"

    def _encode(self, x, rng):
        return f32_bytes(x)

    def _decode(self, payload, numel):
        return f32_from(payload, 0, numel)

    def nbytes(self, numel):
        return 4 * int(numel)

    def _cost(self, numel):
        return CodecCost(0.0, 0.0)
