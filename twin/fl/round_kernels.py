"""Compiled kernels (numba) of a round's bookkeeping around training: the batch plan's shuffles and the weighted sum of
the clients' flat updates.

:func:`shuffle_plan` shuffles every client's epochs with its own ``np.random.default_rng(seed)`` in one call: from
each seed's ``SeedSequence`` state words (:func:`twin.fl.seeding.seed_words`) it seeds numpy's ``PCG64``
(``pcg_setseq_128_srandom_r``: 128-bit arithmetic in two 64-bit words) and draws as ``Generator.shuffle`` does on a 1-D
array (Fisher-Yates from the last element, each index from ``random_interval``: the smallest bit mask over the bound,
32-bit draws with numpy's buffered upper half, rejection above the bound). :func:`shuffles_match_numpy` checks it
against numpy on a few seeds once per process; where it differs (another numpy) the plan uses numpy's generators.

:func:`weighted_rows` is ``sum_i w_i * float64(matrix[rows[i]])`` over the rows in the order given: the same
products and additions, in the same order, as :func:`twin.fl.strategies.base.weighted_average` on those rows (no
fused multiply-add, no reassociation), in one pass instead of three torch calls per client.

Without numba ``AVAILABLE`` is False and the callers keep their numpy and torch paths.
"""

from __future__ import annotations

import numpy as np

from twin.compiled import AVAILABLE, njit

__all__ = ["AVAILABLE", "shuffle_plan", "shuffles_match_numpy", "weighted_rows"]

_MULT_HI, _MULT_LO = 0x2360ED051FC65DA4, 0x4385DF649FCCF645  # PCG_DEFAULT_MULTIPLIER_128
_MATCH: bool | None = None  # None: not checked yet


@njit(cache=True, nogil=True)
def _mul64(a, b):  # pragma: no cover - compiled
    """(high, low) 64-bit words of the 128-bit product of two uint64."""
    m32 = np.uint64(0xFFFFFFFF)
    s32 = np.uint64(32)
    a_lo, a_hi, b_lo, b_hi = a & m32, a >> s32, b & m32, b >> s32
    p0, p1, p2, p3 = a_lo * b_lo, a_lo * b_hi, a_hi * b_lo, a_hi * b_hi
    mid = (p0 >> s32) + (p1 & m32) + (p2 & m32)
    return p3 + (p1 >> s32) + (p2 >> s32) + (mid >> s32), (p0 & m32) | (mid << s32)


@njit(cache=True, nogil=True)
def _step(s_hi, s_lo, inc_hi, inc_lo):  # pragma: no cover - compiled
    """One step of PCG64's LCG: state * multiplier + inc (mod 2**128)."""
    hi, lo = _mul64(s_lo, np.uint64(_MULT_LO))
    hi = hi + s_hi * np.uint64(_MULT_LO) + s_lo * np.uint64(_MULT_HI)
    lo2 = lo + inc_lo
    carry = np.uint64(1) if lo2 < lo else np.uint64(0)
    return hi + inc_hi + carry, lo2


@njit(cache=True, nogil=True)
def _shuffle(words, sizes, positions, epoch_len, epochs):  # pragma: no cover - compiled
    one, s32, s58 = np.uint64(1), np.uint64(32), np.uint64(58)
    m32 = np.uint64(0xFFFFFFFF)
    for c in range(sizes.shape[0]):
        n = sizes[c]
        if n < 2:
            continue
        w = np.empty(4, np.uint64)
        for j in range(4):
            w[j] = np.uint64(words[2 * j, c]) | (np.uint64(words[2 * j + 1, c]) << s32)
        # pcg_setseq_128_srandom_r: inc = initseq << 1 | 1; state = 0; step; state += initstate; step
        inc_hi, inc_lo = (w[2] << one) | (w[3] >> np.uint64(63)), (w[3] << one) | one
        lo = inc_lo + w[1]
        hi = inc_hi + w[0] + (one if lo < inc_lo else np.uint64(0))
        s_hi, s_lo = _step(hi, lo, inc_hi, inc_lo)
        has32, buffered = False, np.uint64(0)
        for e in range(epochs):
            base = e * epoch_len[c]
            for i in range(n - 1, 0, -1):  # Generator.shuffle: Fisher-Yates from the end, j = random_interval(i)
                bound = np.uint64(i)
                mask = bound
                mask |= mask >> np.uint64(1)
                mask |= mask >> np.uint64(2)
                mask |= mask >> np.uint64(4)
                mask |= mask >> np.uint64(8)
                mask |= mask >> np.uint64(16)
                mask |= mask >> s32
                while True:
                    if has32:  # pcg64_next32: the upper half of the last 64-bit draw
                        draw = buffered
                        has32 = False
                    else:
                        s_hi, s_lo = _step(s_hi, s_lo, inc_hi, inc_lo)
                        value = s_hi ^ s_lo  # XSL-RR output
                        rot = s_hi >> s58
                        out = (value >> rot) | (value << ((np.uint64(64) - rot) & np.uint64(63)))
                        buffered = out >> s32
                        has32 = True
                        draw = out & m32
                    value = draw & mask
                    if value <= bound:
                        break
                j = base + np.int64(value)
                t = positions[c, base + i]
                positions[c, base + i] = positions[c, j]
                positions[c, j] = t


def shuffle_plan(words: np.ndarray, sizes: np.ndarray, positions: np.ndarray, epoch_len: np.ndarray,
                 epochs: int) -> None:
    """Shuffle in place, for every client ``c`` with two rows or more, ``positions[c, e * epoch_len[c] :][:sizes[c]]``
    for each epoch ``e`` in turn with one generator in the state of ``np.random.default_rng(seed_c)``, whose
    ``SeedSequence`` state words are ``words[:, c]`` (uint32 (8, K)); the same draws as ``Generator.shuffle``."""
    _shuffle(np.ascontiguousarray(words, dtype=np.uint32), np.ascontiguousarray(sizes, dtype=np.int64), positions,
             np.ascontiguousarray(epoch_len, dtype=np.int64), int(epochs))


def shuffles_match_numpy() -> bool:
    """Whether :func:`shuffle_plan` gives numpy's shuffles here (checked once: seeds of every size class, rows from
    2 to 300, several epochs, so the buffered 32-bit draws and the rejections are exercised)."""
    global _MATCH
    if _MATCH is None:
        _MATCH = False
        if AVAILABLE:
            from twin.fl.seeding import seed_words

            try:
                seeds = np.array([0, 1, 7, 2**32 - 1, 2**32, 123456789012345678, 2**63 - 2], dtype=np.int64)
                sizes = np.array([2, 3, 17, 300, 64, 5, 129], dtype=np.int64)
                epochs, length = 3, 320
                got = np.tile(np.arange(length, dtype=np.int64), (len(seeds), epochs))
                want = got.copy()
                shuffle_plan(seed_words(seeds), sizes, got, np.full(len(seeds), length), epochs)
                for c, (seed, n) in enumerate(zip(seeds.tolist(), sizes.tolist(), strict=True)):
                    gen = np.random.default_rng(seed)
                    for e in range(epochs):
                        gen.shuffle(want[c, e * length:e * length + n])
                _MATCH = bool(np.array_equal(got, want))
            except Exception:  # noqa: BLE001 - any surprise: numpy's generators
                _MATCH = False
    return _MATCH


@njit(cache=True, nogil=True)
def _weighted_rows(matrix, rows, weights, out):  # pragma: no cover - compiled
    p = matrix.shape[1]
    w = weights[0]
    r = rows[0]
    for f in range(p):
        out[f] = np.float64(matrix[r, f]) * w
    for i in range(1, rows.shape[0]):
        w = weights[i]
        r = rows[i]
        for f in range(p):
            out[f] += np.float64(matrix[r, f]) * w


def weighted_rows(matrix: np.ndarray, rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """float64 (P,): ``sum_i weights[i] * matrix[rows[i]]`` (``matrix`` float32 (R, P)), accumulated row by row in the
    order given (see the module docstring)."""
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    if rows.size == 0:
        raise ValueError("weighted_rows needs at least one row")
    out = np.empty(matrix.shape[1], dtype=np.float64)
    _weighted_rows(np.ascontiguousarray(matrix, dtype=np.float32), rows,
                   np.ascontiguousarray(weights, dtype=np.float64), out)
    return out
