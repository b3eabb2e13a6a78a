import pytest

from twin.scenario.units import format_quantity, parse_quantity


@pytest.mark.parametrize(("text", "dim", "value"), [
    ("100 Mbit/s", "rate", 100e6), ("100Mbps", "rate", 100e6), ("1 Gbit/s", "rate", 1e9), ("2 kbit/s", "rate", 2e3),
    ("10 MB/s", "rate", 80e6), ("1 Mibit/s", "rate", 2**20),
    ("10 ms", "time", 0.01), ("250 us", "time", 250e-6), ("2 min", "time", 120.0), ("1.5 s", "time", 1.5),
    ("5 MB", "size", 5e6), ("1 MiB", "size", 2**20), ("8 bit", "size", 1.0), ("3 kB", "size", 3e3),
    ("10 GFLOP/s", "flops", 1e10), ("2 TFLOPS", "flops", 2e12), ("40 GFLOP", "work", 4e10),
    ("3.5 GHz", "frequency", 3.5e9), ("1.5 km", "distance", 1500.0), ("1e3", "rate", 1e3),
])
def test_parses_human_strings(text, dim, value):
    assert parse_quantity(text, dim) == pytest.approx(value)


def test_numbers_pass_through():
    assert parse_quantity(42, "rate") == 42.0
    assert parse_quantity(0.5, "time") == 0.5


@pytest.mark.parametrize(("text", "dim", "match"), [
    ("10 ms", "rate", "not a unit of bit/s"),
    ("5 MB", "time", "not a unit of s"),
    ("fast", "rate", "cannot read"),
    ("5 mB", "size", "not a unit of bytes"),  # milli-bytes is a typo, not a unit
    ("inf", "rate", "cannot read"),
    (float("inf"), "rate", "not a finite"),
])
def test_rejects_wrong_units(text, dim, match):
    with pytest.raises(ValueError, match=match):
        parse_quantity(text, dim)


def test_rejects_booleans_and_lists():
    with pytest.raises(ValueError):
        parse_quantity(True, "rate")
    with pytest.raises(ValueError):
        parse_quantity([1], "rate")


def test_format():
    assert format_quantity(1.5e8, "bit/s") == "150 Mbit/s"
    assert format_quantity(2.5e6, "B") == "2.5 MB"
