import pytest

from twin.net.tcp import slow_start_latency_s, slow_start_stall_s


def test_textbook_case():
    s = 8000.0
    r = s / 0.010
    # K = 4, Q = 2, P = 2: stall = 2 (RTT + S/R) - 3 S/R = 0.03 s; latency 0.22 s
    assert slow_start_stall_s(15 * s, s, r, 0.020) == pytest.approx(0.030)
    assert slow_start_latency_s(15 * s, s, r, 0.020) == pytest.approx(0.220)


def test_no_stall_for_one_segment_or_zero_rtt():
    assert slow_start_stall_s(8000, 8000, 1e6, 0.05) == 0.0
    assert slow_start_stall_s(8e6, 8000, 1e6, 0.0) == 0.0


def test_large_object_stall_is_bounded_by_q_windows():
    s, r, rtt = 12000.0, 1e8, 0.05
    q_stall = slow_start_stall_s(1e12, s, r, rtt)
    assert q_stall == slow_start_stall_s(1e13, s, r, rtt)  # P = Q once the object is large
    assert 0 < q_stall < 20 * rtt
