"""TCP start-up refinement of a flow: the Kurose-Ross static-window slow-start model (pure functions)."""

from __future__ import annotations

import math


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
