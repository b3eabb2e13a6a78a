"""Top-k sparsification: k indices (uint16 when n <= 65536, else uint32), then k float32 values (k (w + 4) bytes)."""

from __future__ import annotations

import math

import numpy as np
import torch

from twin.fl.codecs.base import Codec, CodecCost, check_finite, f32_bytes, f32_from


class TopKCodec(Codec):
    """Top-k sparsification by magnitude (k = ceil(fraction n)); error feedback on by default."""

    kind = "topk"

    def __init__(self, *, fraction: float = 0.01, error_feedback: bool = True) -> None:
        super().__init__(error_feedback=error_feedback)
        self.fraction = float(fraction)

    def _params(self):
        return {"fraction": self.fraction, **super()._params()}

    def k(self, numel: int) -> int:
        """Number of values kept for a tensor of ``numel`` elements."""
        return 0 if numel == 0 else min(int(numel), max(1, math.ceil(round(self.fraction * numel, 9))))

    @staticmethod
    def index_dtype(numel: int) -> str:
        return "<u2" if numel <= 2**16 else "<u4"

    def _encode(self, x, rng):
        check_finite(x, self.kind)
        n = x.numel()
        k = self.k(n)
        idx = torch.topk(x.abs(), k, sorted=False).indices.sort().values if k else torch.empty(0, dtype=torch.long)
        return idx.numpy().astype(self.index_dtype(n)).tobytes() + f32_bytes(x[idx])

    def _decode(self, payload, numel):
        k = self.k(numel)
        idx = np.frombuffer(payload, dtype=self.index_dtype(numel), count=k).astype(np.int64)
        out = torch.zeros(numel, dtype=torch.float32)
        out[torch.from_numpy(idx)] = f32_from(payload, k * np.dtype(self.index_dtype(numel)).itemsize, k)
        return out

    def nbytes(self, numel):
        numel = int(numel)
        return self.k(numel) * (np.dtype(self.index_dtype(numel)).itemsize + 4)

    def _cost(self, numel):
        k = max(self.k(numel), 1)
        return CodecCost(numel * (2.0 + math.log2(k + 1)), float(numel + k))
