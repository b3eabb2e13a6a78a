"""Link budget of one technology preset: ``python -m twin.radio.budget PRESET [--link dl | ul] --distance 10,50,100
[--los | --nlos] [--profile default | drive] [--nlos-quirk]``.

Prints CSV to stdout, one row per distance in the order given, with the header
``distance_m,los,pathloss_db,rx_dbm,sinr_db,rate_bps``: ``distance_m`` the 3D distance between the antennas (the
ground distance given to the path-loss model is ``sqrt(d^2 - (h_bs - h_ut)^2)``), ``pathloss_db`` the preset's mean path
loss (no shadowing, no penetration loss), ``rx_dbm`` the received power at the transmitter's maximum power (the cell's
``p_tx_dbm`` on the downlink, the UE's P_CMAX on the uplink; antenna gains included), ``sinr_db`` the SNR over the whole
channel at that power (noise only), ``rate_bps`` the full-cell rate the engine uses for one user alone in the cell
after link adaptation (``Preset.rate_bps``: full band on the downlink; on an NR uplink the rate-maximising RB count
under open-loop power control; DRIVE presets: their table rate).

``--profile drive`` (DRIVE presets only) is DRIVE's link model (:mod:`twin.radio.drive`, ``radio.profile: drive``): the
distance is the 3D distance DRIVE's formulas take as is (rounded to 1 m for LTE, 0.1 m for 802.11ad; at least 1 m, where
the twin's path-loss models start), the fixed transmit power of the preset (LTE 15 dBm: the demand-driven power is off),
``sinr_db`` over DRIVE's noise (noise figure -6 dB), a rate only within DRIVE's ``maxTXDistance`` (inclusive) and
above the lowest sensitivity, the NLOS rate from the NLOS power (``--nlos-quirk``: DRIVE's LOS rate at that distance).

Pure: argparse and the radio package only (no simulation); bad input is one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from .drive import drive_noise_dbm
from .interface import LinkQuality, Preset
from .presets import PRESETS

HEADER = "distance_m,los,pathloss_db,rx_dbm,sinr_db,rate_bps"
PROFILES = ("default", "drive")  # the preset's own parameters; DRIVE's link model (twin.radio.drive)


class BudgetError(ValueError):
    """Bad input to the budget command (one line)."""


def link_budget(preset: Preset, distances_m, *, link: str = "dl", los: bool = True, profile: str = "default",
                nlos_quirk: bool = False) -> dict[str, np.ndarray]:
    """Columns of the budget table for 3D distances ``distances_m`` (> 0, at least the antennas' height difference;
    ``profile="drive"``: at least 1 m)."""
    if link not in ("dl", "ul"):
        raise BudgetError(f"--link must be dl or ul, got {link!r}")
    if profile not in PROFILES:
        raise BudgetError(f"--profile: unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
    if profile == "drive":
        return _drive_budget(preset, distances_m, los, nlos_quirk)
    if nlos_quirk:
        raise BudgetError("--nlos-quirk: DRIVE's NLOS rate quirk needs --profile drive")
    d3d = np.asarray(distances_m, dtype=np.float64).reshape(-1)
    if d3d.size == 0:
        raise BudgetError("--distance: give at least one distance")
    bad = d3d[~(d3d > 0) | ~np.isfinite(d3d)]
    if bad.size:
        raise BudgetError(f"--distance: distances must be positive and finite metres, got {bad[0]:g}")
    dh = abs(preset.h_bs_m - preset.h_ut_m)
    short = d3d[d3d < dh]
    if short.size:
        raise BudgetError(f"--distance: {short[0]:g} m is shorter than the {dh:g} m between the antennas of "
                          f"{preset.name} (h_bs {preset.h_bs_m:g} m, h_ut {preset.h_ut_m:g} m)")
    d2d = np.sqrt(np.maximum(d3d**2 - dh**2, 0.0))
    pl = np.asarray(preset.pathloss_db(d2d, los=los), dtype=np.float64)
    rx = np.asarray(preset.rx_power_dbm(pl, link), dtype=np.float64)
    snr = rx - preset.noise_dbm(link)
    rate = np.asarray(preset.rate_bps(LinkQuality(sinr_db=snr, rx_power_dbm=rx), link), dtype=np.float64)
    return {"distance_m": d3d, "los": np.full(d3d.shape, bool(los)), "pathloss_db": pl, "rx_dbm": rx,
            "sinr_db": snr, "rate_bps": rate}


def _drive_budget(preset: Preset, distances_m, los: bool, nlos_quirk: bool) -> dict[str, np.ndarray]:
    d3d = np.asarray(distances_m, dtype=np.float64).reshape(-1)
    if d3d.size == 0:
        raise BudgetError("--distance: give at least one distance")
    bad = d3d[~(d3d >= 1.0) | ~np.isfinite(d3d)]
    if bad.size:
        raise BudgetError(f"--distance: with --profile drive distances must be finite metres >= 1 (the twin's "
                          f"path-loss models start at 1 m), got {bad[0]:g}")
    try:
        link = preset.drive_link(d3d, bool(los), nlos_quirk=nlos_quirk)
    except ValueError as exc:
        raise BudgetError(f"--profile drive: {exc}") from None
    return {"distance_m": d3d, "los": np.full(d3d.shape, bool(los)), "pathloss_db": link.pathloss_db,
            "rx_dbm": link.rx_dbm, "sinr_db": link.rx_dbm - drive_noise_dbm(preset.bandwidth_hz),
            "rate_bps": link.rate_bps}


def to_csv(table: dict[str, np.ndarray]) -> str:
    """The table as CSV text (header first; floats with repr precision, rates in bit/s)."""
    lines = [HEADER]
    for d, los, pl, rx, snr, rate in zip(*(table[c] for c in HEADER.split(",")), strict=True):
        lines.append(f"{d:g},{str(bool(los)).lower()},{pl:.4f},{rx:.4f},{snr:.4f},{rate:.1f}")
    return "\n".join(lines) + "\n"


def _distances(text: str) -> list[float]:
    out = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise BudgetError(f"--distance: {part.strip()!r} is not a number (give metres, e.g. 10,50,100)") from None
        out.append(value)
    return out


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse prints the usage too)
        raise BudgetError(message)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m twin.radio.budget",
                description="Link budget of a radio preset: CSV of path loss, received power, full-channel SNR and the "
                            "rate the twin uses for one user alone in the cell, per 3D distance.")
    p.add_argument("preset", help=f"technology preset: {', '.join(PRESETS)}")
    p.add_argument("--link", default="dl", help="dl (default) or ul")
    p.add_argument("--distance", required=True, help="3D distances in metres between the antennas, comma-separated "
                   "(each > 0 and at least the antennas' height difference), e.g. 30,50,100")
    los = p.add_mutually_exclusive_group()
    los.add_argument("--los", dest="los", action="store_true", default=True, help="line of sight (default)")
    los.add_argument("--nlos", dest="los", action="store_false", help="no line of sight")
    p.add_argument("--profile", default="default",
                   help="'default': the preset's own parameters (no shadowing, no penetration loss); 'drive' (DRIVE "
                        "presets): DRIVE's link model, distances rounded as DRIVE does, fixed powers")
    p.add_argument("--nlos-quirk", action="store_true",
                   help="with --profile drive: DRIVE's NLOS rate quirk (an NLOS link gets the LOS rate at its distance)")
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
        if args.preset not in PRESETS:
            raise BudgetError(f"unknown preset {args.preset!r}; expected one of {', '.join(PRESETS)}")
        if args.profile not in PROFILES:
            raise BudgetError(f"--profile: unknown profile {args.profile!r}; expected one of {', '.join(PROFILES)}")
        if args.link not in ("dl", "ul"):
            raise BudgetError(f"--link must be dl or ul, got {args.link!r}")
        table = link_budget(PRESETS[args.preset], _distances(args.distance), link=args.link, los=args.los,
                            profile=args.profile, nlos_quirk=args.nlos_quirk)
    except BudgetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        sys.stdout.write(to_csv(table))
        sys.stdout.flush()
    except BrokenPipeError:
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
