"""Validation of the twin's DRIVE profile against DRIVE's own formulas, side by side.

DRIVE (ioannismavromatis/DRIVE_Simulator, MATLAB) is ported here line by line, independently of the twin's code path
(numpy only, nothing from ``twin.radio``): ``ratToolbox/available/lte.m`` and ``mmWaves.m`` (the parameters),
``ratToolbox/loadRATs.m`` (noise, link margins, the femto antenna gain), ``ratToolbox/pathLossModels/urbanMacro.m`` and
``freespace.m``, ``ratToolbox/linkBudgetCalculation.m`` (the lookup table, with its NLOS rate quirk) and the lookup of
``ratToolbox/calculateRSSV2I.m`` / ``modeToolbox/runSUMO.m`` (a tile's distance rounded by
``tools/distanceFromTilesPerRAT.m``, its power and rate read from the table). The twin's side is
``python -m twin.radio.budget PRESET --profile drive`` (``twin.radio.budget.link_budget``), i.e. ``twin.radio.drive``.

    python tools/validate_drive.py            # tables for LTE and 802.11ad, LOS and NLOS; then the whole-table check

Prints, per technology and LOS state, path loss, received power and rate vs 3D distance for DRIVE and the twin, then
the largest differences over every distance of DRIVE's table (1 m steps to 1000 m for LTE, 0.1 m steps from 1 m to
200 m for 802.11ad), with DRIVE's NLOS rate quirk off and on, and the vehicle speeds by type.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # runnable from a checkout without installing the package
    sys.path.insert(0, str(ROOT))

# ----------------------------------------------------------------------------------------- DRIVE, ported from MATLAB

SPEED_OF_LIGHT = 299792458  # simSettings.m: SIMULATOR.constant.c


def antenna_gain_femto(beamwidth_angle: float) -> float:
    """ratToolbox/antennaGainFemto.m."""
    directivity = (4 * math.pi * (180 / math.pi) ** 2) / (beamwidth_angle ** 2)
    return 10 * math.log10(directivity)


def load_rat(name: str) -> dict:
    """ratToolbox/available/<name>.m and the derived fields of ratToolbox/loadRATs.m."""
    if name == "lte":
        bs = dict(ratType="macro", pathLossModel="urbanMacro", cFrequency=2600000000, txPower=15, noiseFloor=-174,
                  noiseFigure=-6, cBandwidth=20000000, bsGain=18, mobileGain=0, maxTXDistance=1000,
                  dataRate=[97896000, 75376000, 30576000, 15840000], sensitivityLevels=[-72, -77, -83, -94])
    elif name == "mmWaves":
        bs = dict(ratType="femto", pathLossModel="freespace", cFrequency=60000000000, txPower=20, noiseFloor=-174,
                  noiseFigure=-6, cBandwidth=2160000000, maxTXDistance=200,
                  dataRate=[6756750000, 5197500000, 4158000000, 1386000000, 866250000, 385000000, 27500000],
                  sensitivityLevels=[-47, -51, -54, -63, -64, -68, -78])
        bs["bsGain"] = bs["mobileGain"] = antenna_gain_femto(15)  # beamwidthAngle = 15; no bsGain in mmWaves.m
    else:
        raise ValueError(name)
    bs["rssNoise"] = bs["noiseFloor"] + 10 * math.log10(bs["cBandwidth"]) + bs["noiseFigure"]
    bs["linkMargins"] = np.asarray(bs["sensitivityLevels"], dtype=float) - bs["rssNoise"]
    return bs


def urban_macro(distance: np.ndarray, bs: dict):
    """ratToolbox/pathLossModels/urbanMacro.m."""
    dhb = 20
    loss_los = 40 * (1 - 4 * 10 ** -3 * dhb) * np.log10(distance / 1000) - 18 * math.log10(dhb) + \
        21 * math.log10(bs["cFrequency"] / 10 ** 6) + 80
    rx_los = (bs["bsGain"] + bs["mobileGain"] + bs["txPower"]) - loss_los
    bs_height, mobile_height, cm = 40, 1.5, 3
    if bs["cFrequency"] < 2 * 10 ** 6:
        alpha = 8.29 * math.log10(1.54 * mobile_height) ** 2 - 1.1
    else:
        alpha = 3.2 * math.log10(11.75 * mobile_height) ** 2 - 4.97
    loss_nlos = 46.3 + 33.9 * math.log10(bs["cFrequency"] / 10 ** 6) - 13.82 * math.log10(bs_height) - alpha + \
        (44.9 - 6.55 * math.log10(bs_height)) * np.log10(distance / 1000) + cm
    rx_nlos = (bs["bsGain"] + bs["mobileGain"] + bs["txPower"]) - loss_nlos
    return loss_los, rx_los, loss_nlos, rx_nlos


def freespace(distance: np.ndarray, bs: dict):
    """ratToolbox/pathLossModels/freespace.m (its 'signal loss' has the gains and power in it; the path loss is
    ``txPower + gains - signalReceived``)."""
    fspl = 20 * np.log10(distance) + 20 * math.log10(bs["cFrequency"]) + 20 * math.log10(4 * math.pi / SPEED_OF_LIGHT)
    loss_los = fspl - (bs["bsGain"] + bs["mobileGain"] + bs["txPower"])
    rx_los = bs["mobileGain"] + bs["bsGain"] + bs["txPower"] - fspl
    return loss_los, rx_los, loss_los + 20, rx_los - 20


def matlab_round(x, digits: int) -> np.ndarray:
    """MATLAB round(x, n): halves away from zero."""
    s = 10.0 ** digits
    return np.sign(x) * np.floor(np.abs(x) * s + 0.5) / s


def link_budget_calculation(bs: dict) -> dict:
    """ratToolbox/linkBudgetCalculation.m, with the NLOS rate of the original (the quirk) and of the NLOS margins."""
    step = 0.1 if bs["ratType"] == "femto" else 1
    n = int(round(bs["maxTXDistance"] / step))
    distance = step * np.arange(1, n + 1)  # step:step:maxTXDistance
    distance = matlab_round(distance, 1 if bs["ratType"] == "femto" else 0)
    if bs["pathLossModel"] == "urbanMacro":
        loss_los, rx_los, loss_nlos, rx_nlos = urban_macro(distance, bs)
    else:
        _, rx_los, _, rx_nlos = freespace(distance, bs)
    pl_los = bs["bsGain"] + bs["mobileGain"] + bs["txPower"] - rx_los
    pl_nlos = bs["bsGain"] + bs["mobileGain"] + bs["txPower"] - rx_nlos
    snr_los, snr_nlos = rx_los - bs["rssNoise"], rx_nlos - bs["rssNoise"]

    def cut(rx):
        below = np.flatnonzero(rx < bs["sensitivityLevels"][-1])
        return len(distance) if below.size == 0 else int(below[0])  # find(..., 1, 'first') - 1 (0-based: count)

    n_los, n_nlos = cut(rx_los), cut(rx_nlos)
    mod_los = np.argmax(snr_los[:, None] >= bs["linkMargins"][None, :], axis=1)  # [~, idx] = max(bool, [], 2)
    mod_nlos = np.argmax(snr_nlos[:, None] >= bs["linkMargins"][None, :], axis=1)
    rates = np.asarray(bs["dataRate"], dtype=float)
    return {"distanceLos": distance[:n_los], "pathLossLos": pl_los[:n_los], "signalReceivedLos": rx_los[:n_los],
            "dataRateLos": rates[mod_los[:n_los]],
            "distanceNLos": distance[:n_nlos], "pathLossNLos": pl_nlos[:n_nlos], "signalReceivedNLos": rx_nlos[:n_nlos],
            "dataRateNLos": rates[mod_los[:n_nlos]],  # modIndexNLos = modIndexLos(1:maxBeamLengthIDNLos): the quirk
            "dataRateNLosMargins": rates[mod_nlos[:n_nlos]],  # what the NLOS margins give (the quirk off)
            "step": step}


def drive_lookup(bs: dict, table: dict, d3d: np.ndarray, los: bool, quirk: bool = False):
    """A link at 3D distance ``d3d`` as DRIVE reads it: distance rounded (distanceFromTilesPerRAT.m), the table's entry
    at that distance (calculateRSSV2I.m: beyond the table -300 dBm, no rate). Returns path loss, rx, rate."""
    digits = 1 if bs["ratType"] == "femto" else 0
    dq = matlab_round(np.asarray(d3d, dtype=float), digits)
    key = "Los" if los else "NLos"
    dist = table["distance" + key]
    rate_col = "dataRateLos" if los else ("dataRateNLos" if quirk else "dataRateNLosMargins")
    idx = np.rint(dq / table["step"]).astype(int) - 1
    inside = (idx >= 0) & (idx < len(dist))
    safe = np.clip(idx, 0, max(len(dist) - 1, 0))
    pl_all = bs["bsGain"] + bs["mobileGain"] + bs["txPower"] - (urban_macro(dq, bs)[1 if los else 3]
                                                               if bs["pathLossModel"] == "urbanMacro"
                                                               else freespace(dq, bs)[1 if los else 3])
    rx = np.where(inside, table["signalReceived" + key][safe] if len(dist) else -300.0, -300.0)
    rate = np.where(inside, table[rate_col][safe] if len(dist) else 0.0, 0.0)
    return pl_all, rx, rate


# ------------------------------------------------------------------------------------------------------- the twin


def twin_budget(preset: str, d3d: np.ndarray, los: bool, quirk: bool = False):
    from twin.radio.budget import link_budget
    from twin.radio.presets import PRESETS

    t = link_budget(PRESETS[preset], d3d, los=los, profile="drive", nlos_quirk=quirk)
    return t["pathloss_db"], t["rx_dbm"], t["rate_bps"]


PAIRS = (("drive-lte", "lte", [1, 10, 50, 100, 150, 200, 300, 400, 500, 600, 700, 800, 900, 1000]),
         ("drive-80211ad", "mmWaves", [1, 5, 10, 15.5, 20, 30, 40, 50, 75, 100, 125, 150, 175, 200]))


def compare(preset: str, rat: str, d: np.ndarray, los: bool, quirk: bool = False) -> dict:
    bs = load_rat(rat)
    table = link_budget_calculation(bs)
    pl_d, rx_d, rate_d = drive_lookup(bs, table, d, los, quirk)
    pl_t, rx_t, rate_t = twin_budget(preset, d, los, quirk)
    rx_t = np.where(np.isfinite(rx_t), rx_t, -300.0)
    return {"pl": (pl_d, pl_t), "rx": (rx_d, rx_t), "rate": (rate_d, rate_t)}


def all_distances(rat: str) -> np.ndarray:
    return np.arange(1, 1001, dtype=float) if rat == "lte" else np.round(np.arange(10, 2001) / 10.0, 1)


# ------------------------------------------------------------------------------------ placement, ported from MATLAB


def greedy_addition(los: np.ndarray, reach: np.ndarray, pos: np.ndarray, bbox, tolerance: float = 0.1) -> list[int]:
    """basestationToobox/RSUs/greedyAddition.m with MATLAB's 1-based indices; ``los`` / ``reach`` [K, T] bool (LOS /
    all tiles within maxTXDistance: losIDs, losIDs + nLosIDs); returns the chosen 1-based indices."""
    xmin, ymin, xmax, ymax = bbox
    to_remove = [(p[0] < xmin + 300) or (p[0] > xmax - 300) or (p[1] < ymin + 300) or (p[1] > ymax - 300)
                 for p in pos]
    los_ids = [set(np.flatnonzero(row & r).tolist()) for row, r in zip(los, reach, strict=True)]
    nlos_ids = [set(np.flatnonzero(r & ~row).tolist()) for row, r in zip(los, reach, strict=True)]
    lengths = [len(x) for x in los_ids]
    max_index = lengths.index(max(lengths)) + 1
    all_tiles = set().union(*los_ids)
    tiles_to_cover = math.ceil((1 - tolerance) * len(all_tiles))

    def tiles_num_covered(chosen):
        los_c = set().union(*(los_ids[c - 1] for c in chosen))
        nlos_c = set().union(*(nlos_ids[c - 1] for c in chosen))
        return len(los_c), len(los_c | nlos_c)

    chosen = [max_index]
    los_number, total_number = tiles_num_covered(chosen)
    tiles = np.zeros((len(pos), los.shape[1]))
    for i in range(len(pos)):
        tiles[i, sorted(los_ids[i] | nlos_ids[i])] = 1
    tmp_los_number = los_number
    discarded = [i + 1 for i, r in enumerate(to_remove) if r]
    while total_number < tiles_to_cover:
        tiles[[c - 1 for c in chosen + discarded], :] = 0
        if len(discarded) >= 2 and discarded[-1] == 1 and discarded[-2] == 1:
            break
        jj = int(np.argmax(tiles.sum(axis=1))) + 1
        chosen.append(jj)
        _, total_number = tiles_num_covered(chosen)
        if total_number <= tmp_los_number:
            discarded.append(chosen[-1])
            chosen = chosen[:-1]
        tmp_los_number = total_number
    return chosen


def drive_grid_candidates(rows: int, cols: int, block: float, threshold: float = 100.0) -> np.ndarray:
    """sumoFemtoPositions.m on a grid: the junctions, then addLamppostPositions.m on every lane (both directions of
    every street), which writes ``times - 1`` copies of the same first point."""
    pts = [(c * block, r * block) for r in range(rows) for c in range(cols)]
    lanes = []
    for r in range(rows):
        for c in range(cols):
            for dr, dc in ((0, 1), (1, 0)):
                if r + dr < rows and c + dc < cols:
                    a, b = (c * block, r * block), ((c + dc) * block, (r + dr) * block)
                    lanes += [(a, b), (b, a)]
    for a, b in lanes:
        distance = math.dist(a, b)
        if distance > threshold:
            times = math.ceil(distance / threshold)
            new_point_distance = distance / times
            angle = math.degrees(math.atan2(b[1] - a[1], b[0] - a[0]))
            for _ in range(1, times):
                pts.append((new_point_distance * math.cos(math.radians(angle)) + a[0],
                            new_point_distance * math.sin(math.radians(angle)) + a[1]))
    return np.asarray(pts)


def drive_square_tiles(bounds, tile: float) -> np.ndarray:
    """mapToolbox/smallerAreasSquares.m: tile centres over the buildings' extent."""
    def axis(lo, hi):
        centre, times = (lo + hi) / 2, math.ceil((hi - lo) / tile)
        if times % 2:
            k = np.arange(0, times // 2 + 1)
            vals = np.concatenate([centre - k[1:] * tile, [centre], centre + k[1:] * tile])
        else:
            k = np.arange(0, times // 2)
            vals = np.concatenate([centre - k * tile - tile / 2, centre + k * tile + tile / 2])
        vals = np.sort(vals)
        return (vals[:-1] + vals[1:]) / 2
    cx, cy = axis(bounds[0], bounds[2]), axis(bounds[1], bounds[3])
    gx, gy = np.meshgrid(cx, cy, indexing="ij")
    return np.column_stack([gx.ravel(), gy.ravel()])


def segments_cross(p, q, edges) -> np.ndarray:
    """[R] bool: segment p[R]-q[R] crosses any building edge [E, 4] (lineSegmentIntersect.m's test, 2D as DRIVE's)."""
    x1, y1, x2, y2 = p[:, 0:1], p[:, 1:2], q[:, 0:1], q[:, 1:2]
    x3, y3, x4, y4 = (edges[:, i][None, :] for i in range(4))
    den = (y4 - y3) * (x2 - x1) - (x4 - x3) * (y2 - y1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ua = ((x4 - x3) * (y1 - y3) - (y4 - y3) * (x1 - x3)) / den
        ub = ((x2 - x1) * (y1 - y3) - (y2 - y1) * (x1 - x3)) / den
    hit = (ua >= 0) & (ua <= 1) & (ub >= 0) & (ub <= 1) & (den != 0)
    return hit.any(axis=1)


def placement_table(seed: int = 1) -> list[str]:
    """drive_greedy vs DRIVE's rules on a 6 x 6 grid with 200 m blocks (buildings: the grid's blocks, 10 m set back)."""
    import warnings

    import shapely

    from twin import geo
    from twin.mobility import grid_network
    from twin.mobility.drive_placement import coverage_matrices, drive_candidates, drive_greedy
    from twin.mobility.placement import drive_greedy_placement, greedy_placement

    net = grid_network(rows=6, cols=6, block_length_m=200.0)
    city = geo.grid_blocks(rows=6, cols=6, block_length_m=200.0, rng=np.random.default_rng(seed))
    bbox = net.bbox_m
    # DRIVE's rules: its candidates (with addLamppostPositions' copies), outdoor 16 m tiles, 2D LOS, 3D range 200 m
    cand = drive_grid_candidates(6, 6, 200.0)
    h = np.random.default_rng(seed).integers(5, 15, size=len(cand), endpoint=True)
    tiles = drive_square_tiles(city.bounds, 16.0)
    outdoor = ~shapely.contains_xy(shapely.union_all(city.footprints), tiles[:, 0], tiles[:, 1])
    tiles = tiles[outdoor]
    d3 = np.sqrt(((cand[:, None, :] - tiles[None, :, :]) ** 2).sum(-1) + h[:, None] ** 2)
    reach = d3 <= 200.0
    edges = np.vstack([np.column_stack([np.asarray(fp.exterior.coords)[:-1], np.asarray(fp.exterior.coords)[1:]])
                       for fp in city.footprints])
    los = np.zeros_like(reach)
    for k in range(len(cand)):
        idx = np.flatnonzero(reach[k])
        los[k, idx] = ~segments_cross(np.repeat(cand[k:k + 1], len(idx), 0), tiles[idx], edges)
    chosen = greedy_addition(los, reach, cand, bbox)
    covered = reach[[c - 1 for c in chosen]].any(0).sum()
    los_all = los.any(0).sum()
    # the twin: the same algorithm on the same matrices (must agree exactly), then its own pipeline (3D LOS)
    twin_same = drive_greedy(los, reach, cand, bbox)
    with warnings.catch_warnings():  # the goal is out of reach with the 300 m border exclusion on a 1 km map
        warnings.simplefilter("ignore")
        twin_sites = drive_greedy_placement(net, los_of=lambda a, b: geo.los_exact(a, b, city), buildings=city,
                                            rng=np.random.default_rng(seed))
    xy = drive_candidates(net, spacing_m=100.0)
    hh = np.random.default_rng(seed).integers(5, 15, size=len(xy), endpoint=True).astype(float)
    t_tiles = drive_square_tiles(city.bounds, 16.0)
    t_tiles = t_tiles[city.index_at(t_tiles) < 0]
    t_los, t_reach = coverage_matrices(np.column_stack([xy, hh]), t_tiles, 200.0,
                                       lambda a, b: geo.los_exact(a, b, city))
    t_res = drive_greedy(t_los, t_reach, xy, bbox)
    old = greedy_placement(net, max_range_m=200.0)
    rows = ["| placement (6 x 6 grid, 200 m blocks, 802.11ad 200 m, 16 m tiles) | candidates | cells | tiles covered "
            "| goal (90 % of LOS-reachable) |", "| --- | ---: | ---: | ---: | ---: |",
            f"| DRIVE's rules (MATLAB port: lamppost copies, 2D LOS) | {len(cand)} | {len(chosen)} | {covered} "
            f"| {math.ceil(0.9 * los_all)} of {len(tiles)} |",
            f"| twin drive_greedy on DRIVE's matrices | {len(cand)} | {len(twin_same.chosen)} | {twin_same.covered} "
            f"| {twin_same.goal} |",
            f"| twin drive_greedy (one lamppost per segment, 3D LOS) | {len(xy)} | {len(twin_sites)} | "
            f"{t_res.covered} | {t_res.goal} of {len(t_tiles)} |",
            f"| twin greedy (road points, canyon LOS, 200 m) | - | {len(old)} | - | - |"]
    assert [c - 1 for c in chosen] == twin_same.chosen.tolist(), "drive_greedy differs from greedyAddition.m"
    return rows


def main(argv=None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    print("# DRIVE (MATLAB formulas ported) vs twin (python -m twin.radio.budget --profile drive); rates in Mbit/s")
    for preset, rat, dists in PAIRS:
        d = np.asarray(dists, dtype=float)
        for los in (True, False):
            c = compare(preset, rat, d, los)
            print(f"\n{preset} {'LOS' if los else 'NLOS'}")
            print("| 3D distance (m) | PL DRIVE (dB) | PL twin (dB) | rx DRIVE (dBm) | rx twin (dBm) | rate DRIVE | rate twin |")
            print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
            for i, dist in enumerate(d):
                rxd, rxt = c["rx"][0][i], c["rx"][1][i]
                print(f"| {dist:g} | {c['pl'][0][i]:.2f} | {c['pl'][1][i]:.2f} | "
                      f"{'-' if rxd <= -300 else f'{rxd:.2f}'} | {'-' if rxt <= -300 else f'{rxt:.2f}'} | "
                      f"{c['rate'][0][i] / 1e6:g} | {c['rate'][1][i] / 1e6:g} |")
    print("\n# every distance of DRIVE's table (LTE 1-1000 m by 1 m; 802.11ad 1-200 m by 0.1 m)")
    for preset, rat, _ in PAIRS:
        d = all_distances(rat)
        for los in (True, False):
            for quirk in ((False, True) if not los else (False,)):
                c = compare(preset, rat, d, los, quirk)
                dpl = np.max(np.abs(c["pl"][0] - c["pl"][1]))
                both = (c["rx"][0] > -300) & (c["rx"][1] > -300)
                drx = np.max(np.abs(c["rx"][0][both] - c["rx"][1][both])) if both.any() else 0.0
                mism = int(np.sum(c["rate"][0] != c["rate"][1]))
                reach = d[c["rate"][0] > 0].max() if (c["rate"][0] > 0).any() else 0.0
                print(f"{preset:14s} {'LOS ' if los else 'NLOS'} quirk={'on ' if quirk else 'off'} n={d.size:5d} "
                      f"max|dPL|={dpl:.2e} dB max|drx|={drx:.2e} dB range DRIVE={reach:g} m "
                      f"rate mismatches={mism}")
    print("\n# placement: drive_greedy vs DRIVE's greedyAddition.m")
    print("\n".join(placement_table()))
    print("\n# vehicle speeds by type on 13.89 m/s roads (SUMO: min(maxSpeed, speedFactor x lane speed))")
    from twin.mobility.vehicles import DRIVE_VEHICLE_TYPES
    drive_types = {"passenger": (10.0, 1.0), "ambulance": (20.0, 2.0)}  # additional.type.xml: maxSpeed, speedFactor
    for vt in DRIVE_VEHICLE_TYPES:
        m, f = drive_types[vt.name]
        print(f"{vt.name:10s} DRIVE {min(m, f * 13.89):.2f} m/s  twin {vt.speed_mps(13.89):.2f} m/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
