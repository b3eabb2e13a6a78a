"""Unbiased stochastic 8-bit quantisation: ceil(n / c) float32 scales, then n int8 (n + 4 ceil(n / c) bytes)."""

from __future__ import annotations

import numpy as np
import torch

from twin.fl.codecs.base import Codec, CodecCost, check_finite, chunks, f32_bytes, f32_from, padded, uniform


class Int8Codec(Codec):
    """Stochastic rounding to int8 with a float32 scale ``max|x| / 127`` per chunk; unbiased, variance <= scale**2 / 4."""

    kind = "int8"
    stochastic = True

    def __init__(self, *, chunk_size: int | None = None, error_feedback: bool = False) -> None:
        super().__init__(error_feedback=error_feedback)
        self.chunk_size = chunk_size

    def _params(self):
        return {"chunk_size": self.chunk_size, **super()._params()}

    def _encode(self, x, rng):
        check_finite(x, self.kind)
        n = x.numel()
        c, m = chunks(n, self.chunk_size)
        v = padded(x, c, m)
        scale = v.abs().amax(dim=1) / 127.0
        safe = torch.where(scale > 0, scale, torch.ones_like(scale))
        y = (v / safe[:, None]).reshape(-1)[:n]
        q = torch.floor(y + uniform(n, rng, self.kind)).clamp_(-127, 127).to(torch.int8)
        return f32_bytes(scale) + q.numpy().tobytes()

    def _decode(self, payload, numel):
        c, m = chunks(numel, self.chunk_size)
        scale = f32_from(payload, 0, m)
        q = torch.from_numpy(np.frombuffer(payload, dtype=np.int8, count=numel, offset=4 * m).astype(np.float32))
        return (padded(q, c, m) * scale[:, None]).reshape(-1)[:numel].contiguous()

    def nbytes(self, numel):
        return int(numel) + 4 * chunks(int(numel), self.chunk_size)[1]

    def _cost(self, numel):
        return CodecCost(7.0 * numel, 2.0 * numel)
