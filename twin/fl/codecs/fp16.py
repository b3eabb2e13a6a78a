"""IEEE half precision (2 n bytes)."""

from __future__ import annotations

import numpy as np
import torch

from twin.fl.codecs.base import Codec, CodecCost, check_finite

FP16_MAX = 65504.0


class Fp16Codec(Codec):
    """IEEE half precision (relative error <= 2**-11 for normal values; |x| must be <= 65504)."""

    kind = "fp16"

    def _encode(self, x, rng):
        check_finite(x, self.kind)
        if x.numel() and float(x.abs().max()) > FP16_MAX:
            raise ValueError(f"update has |value| > {FP16_MAX:g}, beyond float16; codec 'fp16' cannot encode it")
        return x.numpy().astype("<f2").tobytes()

    def _decode(self, payload, numel):
        return torch.from_numpy(np.frombuffer(payload, dtype="<f2", count=numel).astype(np.float32))

    def nbytes(self, numel):
        return 2 * int(numel)

    def _cost(self, numel):
        return CodecCost(float(numel), float(numel))
