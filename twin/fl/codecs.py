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

from twin.fl.registry import build

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


def _as_flat(x) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"update must be a torch.Tensor; got {type(x).__name__}")
    if x.ndim != 1:
        raise ValueError(f"update must be a flat (1-D) tensor; got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"update must be a floating-point tensor; got {x.dtype}")
    return x.detach().to(device="cpu", dtype=torch.float32).contiguous()


def _check_finite(x: torch.Tensor, kind: str) -> None:
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"update holds NaN or inf; codec {kind!r} cannot encode it")


def _uniform(n: int, rng, kind: str) -> torch.Tensor:
    """n draws from U[0, 1) as float32, from a torch.Generator or a numpy Generator."""
    if isinstance(rng, torch.Generator):
        return torch.rand(n, generator=rng, dtype=torch.float32)
    if isinstance(rng, np.random.Generator):
        return torch.from_numpy(rng.random(n, dtype=np.float32))
    raise ValueError(f"rng: codec {kind!r} rounds stochastically; pass a torch.Generator or numpy Generator")


def _f32_bytes(t: torch.Tensor) -> bytes:
    return t.numpy().astype("<f4", copy=False).tobytes()


def _f32_from(buf: bytes, offset: int, count: int) -> torch.Tensor:
    return torch.from_numpy(np.frombuffer(buf, dtype="<f4", count=count, offset=offset).astype(np.float32))


def _positive_int(name: str, value, *, allow_none: bool = True, maximum: int | None = None) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}; got {value!r}")
    return int(value)


class Codec:
    """Base class. Subclasses set ``kind`` and implement ``_encode`` / ``_decode`` / ``nbytes`` / ``_cost``."""

    kind: ClassVar[str] = ""
    stochastic: ClassVar[bool] = False

    def __init__(self, *, error_feedback: bool = False) -> None:
        if not isinstance(error_feedback, (bool, np.bool_)):
            raise ValueError(f"error_feedback must be true or false; got {error_feedback!r}")
        self.error_feedback = bool(error_feedback)

    # -- public API ------------------------------------------------------------------------------------------------
    def new_state(self) -> CodecState:
        """A fresh per-client state (needed when ``error_feedback`` is on; harmless otherwise)."""
        return CodecState()

    def encode(self, x: torch.Tensor, *, rng=None, state: CodecState | None = None) -> Encoded:
        """Encode a flat float tensor. ``rng`` for stochastic codecs, ``state`` for error feedback."""
        x = _as_flat(x)
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


class NoCodec(Codec):
    """Plain float32 (no compression)."""

    kind = "none"

    def _encode(self, x, rng):
        return _f32_bytes(x)

    def _decode(self, payload, numel):
        return _f32_from(payload, 0, numel)

    def nbytes(self, numel):
        return 4 * int(numel)

    def _cost(self, numel):
        return CodecCost(0.0, 0.0)


class Fp16Codec(Codec):
    """IEEE half precision (relative error <= 2**-11 for normal values; |x| must be <= 65504)."""

    kind = "fp16"

    def _encode(self, x, rng):
        _check_finite(x, self.kind)
        if x.numel() and float(x.abs().max()) > FP16_MAX:
            raise ValueError(f"update has |value| > {FP16_MAX:g}, beyond float16; codec 'fp16' cannot encode it")
        return x.numpy().astype("<f2").tobytes()

    def _decode(self, payload, numel):
        return torch.from_numpy(np.frombuffer(payload, dtype="<f2", count=numel).astype(np.float32))

    def nbytes(self, numel):
        return 2 * int(numel)

    def _cost(self, numel):
        return CodecCost(float(numel), float(numel))


def _chunks(numel: int, size: int | None) -> tuple[int, int]:
    """(chunk length, number of chunks); one chunk of the whole tensor when size is None."""
    c = max(int(numel), 1) if size is None else size
    return c, math.ceil(numel / c)


def _padded(x: torch.Tensor, c: int, m: int) -> torch.Tensor:
    return torch.nn.functional.pad(x, (0, c * m - x.numel())).view(m, c)


class Int8Codec(Codec):
    """Stochastic rounding to int8 with a float32 scale ``max|x| / 127`` per chunk; unbiased, variance <= scale**2 / 4."""

    kind = "int8"
    stochastic = True

    def __init__(self, *, chunk_size: int | None = None, error_feedback: bool = False) -> None:
        super().__init__(error_feedback=error_feedback)
        self.chunk_size = _positive_int("chunk_size", chunk_size)

    def _params(self):
        return {"chunk_size": self.chunk_size, **super()._params()}

    def _encode(self, x, rng):
        _check_finite(x, self.kind)
        n = x.numel()
        c, m = _chunks(n, self.chunk_size)
        v = _padded(x, c, m)
        scale = v.abs().amax(dim=1) / 127.0
        safe = torch.where(scale > 0, scale, torch.ones_like(scale))
        y = (v / safe[:, None]).reshape(-1)[:n]
        q = torch.floor(y + _uniform(n, rng, self.kind)).clamp_(-127, 127).to(torch.int8)
        return _f32_bytes(scale) + q.numpy().tobytes()

    def _decode(self, payload, numel):
        c, m = _chunks(numel, self.chunk_size)
        scale = _f32_from(payload, 0, m)
        q = torch.from_numpy(np.frombuffer(payload, dtype=np.int8, count=numel, offset=4 * m).astype(np.float32))
        return (_padded(q, c, m) * scale[:, None]).reshape(-1)[:numel].contiguous()

    def nbytes(self, numel):
        return int(numel) + 4 * _chunks(int(numel), self.chunk_size)[1]

    def _cost(self, numel):
        return CodecCost(7.0 * numel, 2.0 * numel)


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
        self.s = _positive_int("s (QSGD levels)", s, allow_none=False, maximum=2**24)
        self.bucket_size = _positive_int("bucket_size", bucket_size)
        self.level_bits = max(1, math.ceil(math.log2(self.s + 1)))
        self.bits = 1 + self.level_bits

    def _params(self):
        return {"s": self.s, "bucket_size": self.bucket_size, **super()._params()}

    def _encode(self, x, rng):
        _check_finite(x, self.kind)
        n = x.numel()
        d, m = _chunks(n, self.bucket_size)
        v = _padded(x, d, m)
        norm = torch.linalg.vector_norm(v.double(), dim=1).float()
        safe = torch.where(norm > 0, norm, torch.ones_like(norm))
        r = (v.abs() / safe[:, None] * self.s).reshape(-1)[:n]
        level = torch.floor(r + _uniform(n, rng, self.kind)).clamp_(0, self.s)
        neg = (x < 0) & (level > 0)
        codes = (neg.numpy().astype(np.uint32) << np.uint32(self.level_bits)) | level.numpy().astype(np.uint32)
        return _f32_bytes(norm) + _pack_codes(codes, self.bits)

    def _decode(self, payload, numel):
        d, m = _chunks(numel, self.bucket_size)
        norm = _f32_from(payload, 0, m)
        codes = _unpack_codes(payload, 4 * m, numel, self.bits)
        level = (codes & np.uint32((1 << self.level_bits) - 1)).astype(np.float32)
        sign = np.where(codes >> np.uint32(self.level_bits), -1.0, 1.0).astype(np.float32)
        q = torch.from_numpy(sign * level / np.float32(self.s))
        return (_padded(q, d, m) * norm[:, None]).reshape(-1)[:numel].contiguous()

    def nbytes(self, numel):
        numel = int(numel)
        return 4 * _chunks(numel, self.bucket_size)[1] + math.ceil(numel * self.bits / 8)

    def _cost(self, numel):
        return CodecCost((10.0 + self.bits) * numel, (3.0 + self.bits) * numel)


class TopKCodec(Codec):
    """Top-k sparsification by magnitude (k = ceil(fraction n)); error feedback on by default."""

    kind = "topk"

    def __init__(self, *, fraction: float = 0.01, error_feedback: bool = True) -> None:
        super().__init__(error_feedback=error_feedback)
        try:
            f = float(fraction)
        except (TypeError, ValueError):
            raise ValueError(f"fraction (top-k) must be a number in (0, 1]; got {fraction!r}") from None
        if not (0.0 < f <= 1.0) or isinstance(fraction, bool):
            raise ValueError(f"fraction (top-k) must be in (0, 1]; got {fraction!r}")
        self.fraction = f

    def _params(self):
        return {"fraction": self.fraction, **super()._params()}

    def k(self, numel: int) -> int:
        """Number of values kept for a tensor of ``numel`` elements."""
        return 0 if numel == 0 else min(int(numel), max(1, math.ceil(round(self.fraction * numel, 9))))

    @staticmethod
    def index_dtype(numel: int) -> str:
        return "<u2" if numel <= 2**16 else "<u4"

    def _encode(self, x, rng):
        _check_finite(x, self.kind)
        n = x.numel()
        k = self.k(n)
        idx = torch.topk(x.abs(), k, sorted=False).indices.sort().values if k else torch.empty(0, dtype=torch.long)
        return idx.numpy().astype(self.index_dtype(n)).tobytes() + _f32_bytes(x[idx])

    def _decode(self, payload, numel):
        k = self.k(numel)
        idx = np.frombuffer(payload, dtype=self.index_dtype(numel), count=k).astype(np.int64)
        out = torch.zeros(numel, dtype=torch.float32)
        out[torch.from_numpy(idx)] = _f32_from(payload, k * np.dtype(self.index_dtype(numel)).itemsize, k)
        return out

    def nbytes(self, numel):
        numel = int(numel)
        return self.k(numel) * (np.dtype(self.index_dtype(numel)).itemsize + 4)

    def _cost(self, numel):
        k = max(self.k(numel), 1)
        return CodecCost(numel * (2.0 + math.log2(k + 1)), float(numel + k))


CODECS: dict[str, type[Codec]] = {c.kind: c for c in (NoCodec, Fp16Codec, Int8Codec, QsgdCodec, TopKCodec)}


def make_codec(kind: str, **params) -> Codec:
    """Build a codec by name: none | fp16 | int8 | qsgd | topk. Unknown names or parameters -> ValueError."""
    return build(CODECS, kind, "codec", params)
