"""Many seeded generators at once: ``np.random.default_rng(seed)`` for each of a cohort's seeds, without building each.

The batch plan (:mod:`twin.fl.batching`) shuffles every client's rows with its own generator,
``np.random.default_rng(seed)``. Building one costs about 16 us (a ``SeedSequence``, its state words, a ``PCG64``, a
``Generator``), more than the shuffles it then makes. :class:`SeededStreams` computes the PCG64 states of all the
seeds at once and moves one generator from state to state: the ``SeedSequence`` hash (numpy's ``mix_entropy`` and
``generate_state`` with the default pool of four 32-bit words) vectorised over the seeds in uint32 arithmetic, then
PCG64's seeding (``pcg_setseq_128_srandom_r``: two steps of its 128-bit LCG) with Python integers. The draws are then
exactly those of ``default_rng(seed)``: at first use the streams are checked against ``default_rng`` on a few seeds,
and if this numpy seeds differently (a future version) every seed gets ``default_rng`` as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["SeededStreams", "pcg64_states", "seed_words", "seeds_match_numpy"]

_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875  # numpy.random.bit_generator's hash constants
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_POOL = 4  # SeedSequence's default pool size (32-bit words)
_PCG_MULT = 0x2360ED051FC65DA44385DF649FCCF645  # PCG_DEFAULT_MULTIPLIER_128
_M128 = (1 << 128) - 1
_CHECKED: bool | None = None  # None: not checked yet; True: the computed states equal default_rng's


def _u32(x: np.ndarray) -> np.ndarray:
    return x.astype(np.uint32, copy=False)


def _hashmix(value: np.ndarray, hash_const: list[int]) -> np.ndarray:
    value = value ^ np.uint32(hash_const[0])
    hash_const[0] = (hash_const[0] * _MULT_A) & 0xFFFFFFFF
    value = value * np.uint32(hash_const[0])
    return value ^ (value >> np.uint32(16))


def _mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    result = np.uint32(_MIX_L) * x - np.uint32(_MIX_R) * y
    return result ^ (result >> np.uint32(16))


def seed_words(seeds: np.ndarray) -> np.ndarray:
    """uint32 (4, K): each seed's state words (``SeedSequence(seed).generate_state(4, np.uint64)`` as 8 uint32)."""
    s = seeds.astype(np.uint64)
    entropy = [_u32(s & np.uint64(0xFFFFFFFF)), _u32(s >> np.uint64(32))]  # its 32-bit words; missing ones hash as 0
    zero = np.zeros_like(entropy[0])
    with np.errstate(over="ignore"):
        hash_const = [_INIT_A]
        mixer = [_hashmix(entropy[i] if i < len(entropy) else zero, hash_const) for i in range(_POOL)]
        for i_src in range(_POOL):
            for i_dst in range(_POOL):
                if i_src != i_dst:
                    mixer[i_dst] = _mix(mixer[i_dst], _hashmix(mixer[i_src], hash_const))
        out = []
        h = _INIT_B
        for i in range(8):
            value = mixer[i % _POOL] ^ np.uint32(h)
            h = (h * _MULT_B) & 0xFFFFFFFF
            value = value * np.uint32(h)
            out.append(value ^ (value >> np.uint32(16)))
    return np.stack(out)


def pcg64_states(seeds: Sequence[int] | np.ndarray) -> list[tuple[int, int]]:
    """(state, inc) of ``np.random.PCG64(seed)`` for each non-negative seed below 2**64."""
    seeds = np.asarray(seeds, dtype=np.int64)
    if seeds.size and seeds.min() < 0:
        raise ValueError("seeds must be non-negative")
    words = seed_words(seeds).tolist()
    states = []
    for i in range(seeds.size):
        w = [words[2 * j][i] | (words[2 * j + 1][i] << 32) for j in range(4)]
        initstate, initseq = (w[0] << 64) | w[1], (w[2] << 64) | w[3]
        inc = ((initseq << 1) | 1) & _M128
        state = inc  # state 0, one step: 0 * mult + inc
        state = (((state + initstate) & _M128) * _PCG_MULT + inc) & _M128
        states.append((state, inc))
    return states


def _same_as_numpy() -> bool:
    """Whether the computed states give default_rng's draws on this numpy (checked once)."""
    global _CHECKED
    if _CHECKED is None:
        probe = [0, 1, 2**32 - 1, 2**32, 123456789012345678, 2**63 - 2]
        try:
            got = pcg64_states(probe)
            _CHECKED = all(np.random.default_rng(s).bit_generator.state["state"] == {"state": st, "inc": inc}
                           for s, (st, inc) in zip(probe, got, strict=True))
        except Exception:  # noqa: BLE001 - any surprise: fall back to default_rng
            _CHECKED = False
    return _CHECKED


def seeds_match_numpy() -> bool:
    """Whether :func:`pcg64_states` gives ``default_rng``'s states on this numpy (checked once)."""
    return _same_as_numpy()


class SeededStreams:
    """``stream(i)`` is a generator in the state of ``np.random.default_rng(seeds[i])`` (one generator reused: use
    each before asking for the next)."""

    def __init__(self, seeds: Sequence[int] | np.ndarray) -> None:
        self.seeds = np.asarray(seeds, dtype=np.int64)
        self._fast = bool(self.seeds.size) and _same_as_numpy() and self.seeds.min() >= 0
        if self._fast:
            self._states = pcg64_states(self.seeds)
            self._bitgen = np.random.PCG64(0)
            self._gen = np.random.Generator(self._bitgen)

    def stream(self, i: int) -> np.random.Generator:
        if not self._fast:
            return np.random.default_rng(int(self.seeds[i]))
        state, inc = self._states[i]
        self._bitgen.state = {"bit_generator": "PCG64", "state": {"state": state, "inc": inc}, "has_uint32": 0,
                              "uinteger": 0}
        return self._gen
