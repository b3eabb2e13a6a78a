"""QSGD (Alistarh et al., NeurIPS 2017): ceil(n / d) float32 norms, then n fixed-width codes of 1 + ceil(log2(s + 1))
bits packed MSB first (4 ceil(n / d) + ceil(n b / 8) bytes)."""

from __future__ import annotations

import math

import numpy as np
import torch

from twin.fl.codecs.base import Codec, CodecCost, check_finite, chunks, f32_bytes, f32_from, padded, uniform


def _pack_codes(codes: np.ndarray, bits: int) -> bytes:
    """Pack unsigned integer codes of ``bits`` bits each, MSB first, into bytes (np.packbits)."""
    out = np.empty((codes.size, bits), dtype=np.uint8)
    for j in range(bits):
        out[:, j] = (codes >> np.uint32(bits - 1 - j)) & np.uint32(1)
    return np.packbits(out.reshape(-1)).tobytes()


def _unpack_codes(buf: bytes, offset: int, count: int, bits: int) -> np.ndarray:
    raw = np.frombuffer(buf, dtype=np.uint8, offset=offset)
    flat = np.unpackbits(raw, count=count * bits).reshape(count, bits)
    codes = np.zeros(count, dtype=np.uint32)
    for j in range(bits):
        codes = (codes << np.uint32(1)) | flat[:, j]
    return codes


class QsgdCodec(Codec):
    """QSGD (Alistarh et al., NeurIPS 2017): ``Q(v_i) = ||v|| sign(v_i) l_i / s`` with ``l_i`` the stochastic rounding of
    ``s |v_i| / ||v||``; unbiased; ``E||Q(v) - v||^2 <= min(d / s^2, sqrt(d) / s) ||v||^2`` per bucket of d elements.

    Fixed-width packing (not Elias): 1 sign bit + ceil(log2(s + 1)) level bits per element, one float32 norm per bucket.
    """

    kind = "qsgd"
    stochastic = True

    def __init__(self, *, s: int = 16, bucket_size: int | None = None, error_feedback: bool = False) -> None:
        super().__init__(error_feedback=error_feedback)
        self.s = int(s)
        self.bucket_size = bucket_size
        self.level_bits = max(1, math.ceil(math.log2(self.s + 1)))
        self.bits = 1 + self.level_bits

    def _params(self):
        return {"s": self.s, "bucket_size": self.bucket_size, **super()._params()}

    def _encode(self, x, rng):
        check_finite(x, self.kind)
        n = x.numel()
        d, m = chunks(n, self.bucket_size)
        v = padded(x, d, m)
        norm = torch.linalg.vector_norm(v.double(), dim=1).float()
        safe = torch.where(norm > 0, norm, torch.ones_like(norm))
        r = (v.abs() / safe[:, None] * self.s).reshape(-1)[:n]
        level = torch.floor(r + uniform(n, rng, self.kind)).clamp_(0, self.s)
        neg = (x < 0) & (level > 0)
        codes = (neg.numpy().astype(np.uint32) << np.uint32(self.level_bits)) | level.numpy().astype(np.uint32)
        return f32_bytes(norm) + _pack_codes(codes, self.bits)

    def _decode(self, payload, numel):
        d, m = chunks(numel, self.bucket_size)
        norm = f32_from(payload, 0, m)
        codes = _unpack_codes(payload, 4 * m, numel, self.bits)
        level = (codes & np.uint32((1 << self.level_bits) - 1)).astype(np.float32)
        sign = np.where(codes >> np.uint32(self.level_bits), -1.0, 1.0).astype(np.float32)
        q = torch.from_numpy(sign * level / np.float32(self.s))
        return (padded(q, d, m) * norm[:, None]).reshape(-1)[:numel].contiguous()

    def nbytes(self, numel):
        numel = int(numel)
        return 4 * chunks(numel, self.bucket_size)[1] + math.ceil(numel * self.bits / 8)

    def _cost(self, numel):
        return CodecCost((10.0 + self.bits) * numel, (3.0 + self.bits) * numel)
