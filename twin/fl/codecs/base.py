"""Compression codecs for model updates (and optionally the broadcast).

Each codec turns a flat float32 tensor into an :class:`Encoded` whose ``payload`` is the real serialised byte string (numpy
``tobytes`` / ``np.packbits``, little-endian); ``nbytes = len(payload)`` is what the twin puts on the wire. Receiver and
sender both know the model, so the element count ``numel`` travels out of band (it is not in the payload); every other
piece needed to decode (scales, norms, indices) is in the payload and counted. ``decode`` reads only ``payload`` and
``numel``. ``Codec.nbytes(numel)`` gives the same size in closed form (for communication-only runs).

Payload layouts (n = numel):

- none:  n float32                                                    -> 4 n bytes
- fp16:  n float16                                                    -> 2 n bytes
- int8:  ceil(n / c) float32 scales, then n int8 (c = chunk_size, default n) -> n + 4 ceil(n / c) bytes
- qsgd:  ceil(n / d) float32 L2 norms, then n fixed-width codes of b = 1 + ceil(log2(s + 1)) bits (sign, level) packed
         MSB first with np.packbits                                   -> 4 ceil(n / d) + ceil(n b / 8) bytes
- topk:  k indices (uint16 when n <= 65536, else uint32), then k float32 values, k = ceil(fraction n)
                                                                      -> k (w + 4) bytes, w = 2 or 4

Stochastic codecs (int8, qsgd) are unbiased (E[decode(encode(x))] = x) and draw from the ``rng`` passed to ``encode``
(a torch.Generator or a numpy Generator). Error feedback (Seide et al. 2014, Stich et al. 2018; default on for top-k, optional
for any codec): the caller keeps one :class:`CodecState` per client (``codec.new_state()``); ``encode`` sends
``compress(x + residual)`` and stores the new residual ``x + residual - decode(...)`` in the state.

Compute cost: ``Codec.cost(numel)`` is an estimate in floating-point operations (elementwise ops, the unit of the training
FLOPs), so the twin times encode / decode as ``flops / device FLOP/s``. ``tools/bench_codecs.py`` measures real seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

FP16_MAX = 65504.0


@dataclass(frozen=True)
class Encoded:
    """An encoded tensor. ``payload`` is the wire format; ``nbytes`` its exact size."""

    kind: str
    numel: int
    payload: bytes

    @property
    def nbytes(self) -> int:
        return len(self.payload)


@dataclass(frozen=True)
class CodecCost:
    """Estimated floating-point operations to encode and to decode one tensor."""

    encode_flops: float
    decode_flops: float


class CodecState:
    """Per-client codec state: the error-feedback residual (None until the first encode)."""

    __slots__ = ("residual",)

    def __init__(self) -> None:
        self.residual: torch.Tensor | None = None


def as_flat(x) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"update must be a torch.Tensor; got {type(x).__name__}")
    if x.ndim != 1:
        raise ValueError(f"update must be a flat (1-D) tensor; got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"update must be a floating-point tensor; got {x.dtype}")
    return x.detach().to(device="cpu", dtype=torch.float32).contiguous()


def check_finite(x: torch.Tensor, kind: str) -> None:
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"update holds NaN or inf; codec {kind!r} cannot encode it")


def uniform(n: int, rng, kind: str) -> torch.Tensor:
    """n draws from U[0, 1) as float32, from a torch.Generator or a numpy Generator."""
    if isinstance(rng, torch.Generator):
        return torch.rand(n, generator=rng, dtype=torch.float32)
    if isinstance(rng, np.random.Generator):
        return torch.from_numpy(rng.random(n, dtype=np.float32))
    raise ValueError(f"rng: codec {kind!r} rounds stochastically; pass a torch.Generator or numpy Generator")


def f32_bytes(t: torch.Tensor) -> bytes:
    return t.numpy().astype("<f4", copy=False).tobytes()


def f32_from(buf: bytes, offset: int, count: int) -> torch.Tensor:
    return torch.from_numpy(np.frombuffer(buf, dtype="<f4", count=count, offset=offset).astype(np.float32))


class Codec:
    """Base class. Subclasses set ``kind`` and implement ``_encode`` / ``_decode`` / ``nbytes`` / ``_cost``.

    Constructor parameters are the fields of the codec's schema class (``twin.scenario.codecs``), with the same names and
    defaults (``tests/test_registries.py``); the schema checks their values, so constructors do not check them again.
    """

    kind: ClassVar[str] = ""
    stochastic: ClassVar[bool] = False

    def __init__(self, *, error_feedback: bool = False) -> None:
        self.error_feedback = bool(error_feedback)

    # -- public API ------------------------------------------------------------------------------------------------
    def new_state(self) -> CodecState:
        """A fresh per-client state (needed when ``error_feedback`` is on; harmless otherwise)."""
        return CodecState()

    def encode(self, x: torch.Tensor, *, rng=None, state: CodecState | None = None) -> Encoded:
        """Encode a flat float tensor. ``rng`` for stochastic codecs, ``state`` for error feedback."""
        x = as_flat(x)
        acc = x
        if self.error_feedback:
            if not isinstance(state, CodecState):
                raise ValueError(
                    f"state: codec {self.kind!r} uses error feedback; pass state=codec.new_state() per client"
                )
            if state.residual is not None:
                if state.residual.shape != x.shape:
                    raise ValueError(f"state: residual has {state.residual.numel()} elements, update has {x.numel()}")
                acc = x + state.residual
        payload = self._encode(acc, rng)
        enc = Encoded(kind=self.kind, numel=int(x.numel()), payload=payload)
        if self.error_feedback:
            state.residual = acc - self._decode(payload, enc.numel)
        return enc

    def decode(self, enc: Encoded) -> torch.Tensor:
        """Decode to a flat float32 tensor of ``enc.numel`` elements, reading only the payload."""
        if not isinstance(enc, Encoded) or enc.kind != self.kind:
            got = enc.kind if isinstance(enc, Encoded) else type(enc).__name__
            raise ValueError(f"encoded: codec {self.kind!r} cannot decode {got!r}")
        if len(enc.payload) != self.nbytes(enc.numel):
            raise ValueError(
                f"encoded: payload has {len(enc.payload)} bytes, codec {self.kind!r} expects "
                f"{self.nbytes(enc.numel)} for {enc.numel} elements"
            )
        return self._decode(enc.payload, enc.numel)

    def nbytes(self, numel: int) -> int:
        """Exact payload size in bytes for a tensor of ``numel`` elements."""
        raise NotImplementedError

    def cost(self, numel: int) -> CodecCost:
        """Estimated FLOPs to encode and decode ``numel`` elements (error feedback included)."""
        c = self._cost(int(numel))
        if self.error_feedback:  # add residual, decode again, subtract
            return CodecCost(c.encode_flops + c.decode_flops + 2.0 * numel, c.decode_flops)
        return c

    # -- subclass hooks --------------------------------------------------------------------------------------------
    def _encode(self, x: torch.Tensor, rng) -> bytes:
        raise NotImplementedError

    def _decode(self, payload: bytes, numel: int) -> torch.Tensor:
        raise NotImplementedError

    def _cost(self, numel: int) -> CodecCost:
        raise NotImplementedError

    def _params(self) -> dict:
        return {"error_feedback": self.error_feedback}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({args})"




def chunks(numel: int, size: int | None) -> tuple[int, int]:
    """(chunk length, number of chunks); one chunk of the whole tensor when size is None."""
    c = max(int(numel), 1) if size is None else size
    return c, math.ceil(numel / c)


def padded(x: torch.Tensor, c: int, m: int) -> torch.Tensor:
    return torch.nn.functional.pad(x, (0, c * m - x.numel())).view(m, c)
