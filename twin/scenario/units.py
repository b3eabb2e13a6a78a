"""Human-readable quantities: "100 Mbit/s", "10 ms", "5 MB", "2 GFLOP/s".

One function, :func:`parse_quantity`, turns a number or a string into an SI float in the unit a schema field asks for
(bit/s, s, byte, FLOP/s, Hz, m). Plain numbers are taken as already in that unit. Decimal prefixes (k, M, G, T) are
powers of 1000, binary ones (Ki, Mi, Gi, Ti) powers of 1024, as in SI / IEC.
"""

from __future__ import annotations

import math
import re

# dimension -> {unit symbol: factor to the SI base of that dimension}
_BASE_UNITS: dict[str, dict[str, float]] = {
    "rate": {"bit/s": 1.0, "bps": 1.0, "b/s": 1.0, "B/s": 8.0, "Bps": 8.0},
    "time": {"s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0},
    "size": {"B": 1.0, "byte": 1.0, "bytes": 1.0, "bit": 0.125, "bits": 0.125, "b": 0.125},
    "flops": {"FLOP/s": 1.0, "FLOPS": 1.0, "flop/s": 1.0, "flops": 1.0},
    "work": {"FLOP": 1.0, "flop": 1.0},
    "frequency": {"Hz": 1.0},
    "distance": {"m": 1.0},
    "count": {"": 1.0},
}
_SI_PREFIX = {"": 1.0, "n": 1e-9, "u": 1e-6, "µ": 1e-6, "m": 1e-3, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
_BIN_PREFIX = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40}
_NO_SUBMULTIPLE = {"rate", "size", "flops", "work", "frequency"}  # "mB/s" or "mbit" is almost surely a typo for M

# Friendly names in error messages.
UNIT_NAMES = {
    "rate": "bit/s (e.g. '100 Mbit/s')",
    "time": "s (e.g. '10 ms')",
    "size": "bytes (e.g. '5 MB')",
    "flops": "FLOP/s (e.g. '10 GFLOP/s')",
    "work": "FLOP (e.g. '2 GFLOP')",
    "frequency": "Hz (e.g. '3.5 GHz')",
    "distance": "m (e.g. '1.5 km')",
    "count": "a plain number",
}

_NUMBER = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")


def _unit_table(dimension: str) -> dict[str, float]:
    table: dict[str, float] = {}
    for symbol, factor in _BASE_UNITS[dimension].items():
        table[symbol] = factor
        if symbol in ("", "min", "h", "sec", "byte", "bytes", "bits"):
            continue
        for prefix, scale in _SI_PREFIX.items():
            if prefix and (dimension not in _NO_SUBMULTIPLE or scale >= 1):
                table[prefix + symbol] = factor * scale
        for prefix, scale in _BIN_PREFIX.items():
            if dimension in ("size", "rate"):
                table[prefix + symbol] = factor * scale
    # Common spellings: Mbps, kbps, Gbps; "MiB"; "kB".
    if dimension == "rate":
        for prefix in ("k", "K", "M", "G", "T"):
            table[prefix + "bps"] = _SI_PREFIX[prefix]
    return table


_TABLES = {dim: _unit_table(dim) for dim in _BASE_UNITS}


def parse_quantity(value: object, dimension: str) -> float:
    """Return ``value`` as a float in the SI unit of ``dimension``.

    ``value`` is a number (already in the SI unit) or a string "<number> <unit>", e.g. ``"100 Mbit/s"`` -> 1e8
    (dimension "rate"), ``"10 ms"`` -> 0.01 ("time"), ``"5 MB"`` -> 5e6 ("size"), ``"1 MiB"`` -> 1048576.
    Raises ValueError naming the expected unit when the string does not parse or has a unit of another dimension.
    """
    if dimension not in _TABLES:
        raise ValueError(f"unknown dimension {dimension!r}")
    if isinstance(value, bool):
        raise ValueError(f"expected a number or a quantity in {UNIT_NAMES[dimension]}, got {value!r}")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        match = _NUMBER.match(value)
        if not match:
            raise ValueError(f"cannot read {value!r} as a quantity in {UNIT_NAMES[dimension]}")
        unit = match.group(2).replace(" ", "")
        table = _TABLES[dimension]
        if unit == "":  # a bare number in a string, e.g. YAML's "1e6" (PyYAML reads it as text): already SI
            table = {"": 1.0}
        if unit not in table:
            raise ValueError(f"unit {match.group(2)!r} in {value!r} is not a unit of {UNIT_NAMES[dimension]}")
        number = float(match.group(1)) * table[unit]
    else:
        raise ValueError(f"expected a number or a quantity in {UNIT_NAMES[dimension]}, got {value!r}")
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite quantity")
    return number


def format_quantity(value: float, unit: str, digits: int = 3) -> str:
    """Format an SI value with a decimal prefix: ``format_quantity(1.5e8, "bit/s") == "150 Mbit/s"``."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {unit}"
    for prefix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3), ("", 1.0), ("m", 1e-3), ("u", 1e-6)):
        if abs(value) >= scale:
            return f"{value / scale:.{digits}g} {prefix}{unit}"
    return f"{value:.{digits}g} {unit}"
