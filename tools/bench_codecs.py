"""Measure codec payload sizes and encode / decode time on this machine.

    python tools/bench_codecs.py [--numel 7850 199210] [--repeats 5]

One line per (codec, numel): bytes, ratio to float32, median encode / decode seconds, the FLOP estimate from
``Codec.cost`` and the implied FLOP/s (estimate / measured seconds), so the per-element constants used by the twin can be
checked against real time. Last line: ``codecs=N max_encode_s=X``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
from twin.fl.codecs import make_codec  # noqa: E402

CONFIGS = [
    ("none", {}),
    ("fp16", {}),
    ("int8", {}),
    ("int8", {"chunk_size": 1024}),
    ("qsgd", {"s": 1}),
    ("qsgd", {"s": 16, "bucket_size": 512}),
    ("topk", {"fraction": 0.01}),
    ("topk", {"fraction": 0.1}),
]


def bench(kind: str, params: dict, numel: int, repeats: int) -> tuple[int, float, float]:
    codec = make_codec(kind, **params)
    x = torch.randn(numel, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    state = codec.new_state()
    enc_t, dec_t = [], []
    enc = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        enc = codec.encode(x, rng=g, state=state)
        t1 = time.perf_counter()
        codec.decode(enc)
        t2 = time.perf_counter()
        enc_t.append(t1 - t0)
        dec_t.append(t2 - t1)
    return enc.nbytes, statistics.median(enc_t), statistics.median(dec_t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--numel", type=int, nargs="+", default=[7850, 199_210])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    worst = 0.0
    print(f"{'codec':34s} {'numel':>8s} {'bytes':>9s} {'ratio':>6s} {'enc_s':>9s} {'dec_s':>9s} {'enc_GFLOP/s':>11s}")
    for n in args.numel:
        for kind, params in CONFIGS:
            nbytes, enc_s, dec_s = bench(kind, params, n, args.repeats)
            cost = make_codec(kind, **params).cost(n)
            rate = cost.encode_flops / enc_s / 1e9 if enc_s > 0 else float("nan")
            label = kind + ("" if not params else str(params))
            print(f"{label:34s} {n:8d} {nbytes:9d} {nbytes / (4 * n):6.3f} {enc_s:9.2e} {dec_s:9.2e} {rate:11.3f}")
            worst = max(worst, enc_s)
    print(f"codecs={len(CONFIGS)} max_encode_s={worst:.4f}")


if __name__ == "__main__":
    main()
