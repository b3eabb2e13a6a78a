"""TCP in the flow model: the Kurose-Ross static-window slow-start delay, and the calibrated sharing weights of
``transport.sharing: tcp`` (:class:`TcpSharing`). Pure functions; the engine (:mod:`twin.net.engine`) applies them."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np


def slow_start_stall_s(object_bits: float, mss_bits: float, rate_bps: float, rtt_s: float) -> float:
    """Time the sender idles waiting for ACKs during slow start (Kurose & Ross, "Computer Networking", 2.2).

    ``K = ceil(log2(O/S + 1))`` windows carry the object, ``Q = floor(log2(1 + RTT / (S/R))) + 1`` is the number of
    windows after which the pipe is full, ``P = min(Q, K - 1)`` and the stall is ``P (RTT + S/R) - (2^P - 1) S/R``.
    """
    if object_bits <= 0 or rtt_s <= 0:
        return 0.0
    if mss_bits <= 0 or rate_bps <= 0:
        raise ValueError("mss_bits and rate_bps must be positive")
    seg_s = mss_bits / rate_bps
    k = math.ceil(math.log2(object_bits / mss_bits + 1))
    q = math.floor(math.log2(1 + rtt_s / seg_s)) + 1
    p = min(q, k - 1)
    return max(p * (rtt_s + seg_s) - (2**p - 1) * seg_s, 0.0)


def slow_start_latency_s(object_bits: float, mss_bits: float, rate_bps: float, rtt_s: float) -> float:
    """Kurose-Ross total latency to fetch an object: ``2 RTT + O/R + stall`` (connection set-up and request included).

    Textbook case: O/S = 15, S/R = 10 ms, RTT = 20 ms -> 0.220 s.
    """
    return 2 * rtt_s + object_bits / rate_bps + slow_start_stall_s(object_bits, mss_bits, rate_bps, rtt_s)


# ------------------------------------------------------------------------------------------ calibrated TCP sharing

_NORMAL = NormalDist()


class TcpSharing:
    """How real TCP flows share a bottleneck, as weights of the weighted max-min allocation (``transport.sharing:
    tcp``; fitted to real-TCP measurements by ``tools/calibrate_tcp.py``, see docs/network.md).

    A flow is *young* for ``settle_s`` seconds after it starts sending, then *settles* to its own weight (old TCP
    flows converge to fair shares). A young flow weighs ``newcomer`` (< 1: a flow that joins incumbents gets less than
    its fair share, the incumbents keep more) times a boost: of ``n`` flows that start at the same instant, the k-th
    of a seeded random order gets ``exp(spread x max(z_k, 0))`` with ``z_k`` the standard normal quantile of
    ``(k + 1/2) / n`` - one or a few flows grab more, the rest share equally, as real TCP flows that start together
    do (one connection gets ahead). The multiset of boosts depends on ``n`` only, so a batch's mean completion does not
    depend on the seed; which flow wins does. A flow that starts alone gets no boost.
    """

    def __init__(self, spread: float, newcomer: float, settle_s: float, rng: np.random.Generator) -> None:
        self.spread = float(spread)
        self.newcomer = float(newcomer)
        self.settle_s = float(settle_s)
        self.rng = rng

    def young_weights(self, n: int) -> np.ndarray:
        """[n] weight factors of n flows that start together, in a seeded random order."""
        return self.newcomer * self.rng.permutation(boosts(n, self.spread))


def boosts(n: int, spread: float) -> np.ndarray:
    """``exp(spread x max(z_k, 0))``, ``z_k`` the normal quantile of ``(k + 1/2) / n``, k = 0 .. n-1 (ascending)."""
    z = np.array([_NORMAL.inv_cdf((k + 0.5) / n) for k in range(n)])
    return np.exp(spread * np.maximum(z, 0.0))
