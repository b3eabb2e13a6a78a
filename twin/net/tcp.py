"""TCP in the flow model: the Kurose-Ross static-window slow-start delay, and the calibrated sharing weights of
``transport.sharing: tcp`` (:class:`TcpSharing`). Pure functions; the engine (:mod:`twin.net.engine`) applies them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist


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

_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0  # 0.618...: consecutive admissions get well-spread quantiles
_NORMAL = NormalDist()


@dataclass(frozen=True)
class TcpSharing:
    """How real TCP flows share a bottleneck, as weights of the weighted max-min allocation (``transport.sharing:
    tcp``; fitted to real-TCP measurements by ``tools/calibrate_tcp.py``, see docs/network.md).

    A flow is *young* for ``settle_s`` seconds after it starts sending: its weight is ``newcomer x exp(spread x z)``,
    ``z`` the standard normal quantile of ``u = frac(offset + n x 0.618...)`` (``n`` its admission number, ``offset``
    drawn from the run's seed), so equal flows get uneven shares that differ per flow and per seed, and a flow that
    joins incumbents gets less than its fair share while the incumbents keep more. Then it *settles* to weight 1
    (old TCP flows converge to fair shares). The golden-ratio sequence spreads any few consecutive flows over the whole
    distribution, so a batch of n equal flows has close to the fitted spread whatever the seed.
    """

    spread: float
    newcomer: float
    settle_s: float
    offset: float = 0.0

    def young_weight(self, admission: int) -> float:
        u = (self.offset + admission * _GOLDEN) % 1.0
        u = min(max(u, 1e-6), 1.0 - 1e-6)
        return self.newcomer * math.exp(self.spread * _NORMAL.inv_cdf(u))
