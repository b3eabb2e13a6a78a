"""A map of a radio run: roads, buildings, cells by tier over the best-server rate, and the vehicles at a time t.

Reads only the run folder (``roads.parquet``, ``buildings.parquet``, ``cells.parquet``, ``coverage.parquet``,
``samples.parquet``), so it works
on any finished run of a scenario with ``radio.kind: cellular``::

    python -m twin.analysis.maps runs/city_grid-20250101-120000 --t 30 --out map.png

or from Python: ``plot_map(run_dir, t=30.0)`` returns the path of the PNG.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.collections import LineCollection, PolyCollection  # noqa: E402
from matplotlib.colors import Normalize, PowerNorm  # noqa: E402

_TIER_MARKERS = ["^", "o", "s", "D", "P", "X"]


def _read(run: Path, name: str) -> pd.DataFrame | None:
    path = run / f"{name}.parquet"
    return pd.read_parquet(path) if path.is_file() else None


def vehicle_positions(samples: pd.DataFrame, t: float | None = None) -> tuple[float, pd.DataFrame]:
    """(sample time, table entity / x / y / cell (serving cell id, NA: none)) of the probe nearest to ``t`` (default:
    the last one)."""
    pos = samples[samples["name"].isin(["x", "y"])]
    if pos.empty:
        raise ValueError("the run has no vehicle samples (x, y); it is not a radio run, or output.sample_period_s is 0")
    times = np.unique(pos["t"].to_numpy())
    at = times[-1] if t is None else times[np.argmin(np.abs(times - t))]
    here = pos[pos["t"] == at]
    now = here.pivot(index="entity", columns="name", values="value")
    now["cell"] = here[here["name"] == "x"].set_index("entity")["cell"].reindex(now.index)
    return float(at), now.reset_index().rename_axis(columns=None)


def draw_buildings(ax, buildings: pd.DataFrame) -> PolyCollection:
    """Footprints of ``buildings.parquet`` (building, vertex, x, y, height_m), grey, darker the taller."""
    ordered = buildings.sort_values(["building", "vertex"], kind="stable")
    rings = [g[["x", "y"]].to_numpy() for _, g in ordered.groupby("building", sort=True)]
    heights = ordered.groupby("building", sort=True)["height_m"].first().to_numpy()
    polys = PolyCollection(rings, array=heights, cmap="Greys", norm=Normalize(0.0, max(heights.max(), 1.0) * 1.3),
                           edgecolors="#333333", linewidths=0.4, alpha=0.85, zorder=1.5)
    ax.add_collection(polys)
    ax.scatter([], [], marker="s", s=40, c="#9a9a9a", edgecolors="#333333", linewidths=0.4,
               label=f"buildings ({len(rings)}, {heights.min():.0f}-{heights.max():.0f} m, darker: taller)")
    return polys


def plot_map(run_dir: str | Path, t: float | None = None, out: str | Path | None = None, *,
             links: bool = True) -> Path:
    """Draw the map of ``run_dir`` at time ``t`` (s; default the last sample) into ``out`` (default
    ``RUN_DIR/map.png``) and return its path. ``links`` draws a line from each client to its serving cell."""
    run = Path(run_dir)
    cells = _read(run, "cells")
    if cells is None:
        raise FileNotFoundError(f"{run}: no cells.parquet; maps need a run of a scenario with radio.kind: cellular")
    roads, coverage, samples = _read(run, "roads"), _read(run, "coverage"), _read(run, "samples")
    fig, ax = plt.subplots(figsize=(8.5, 7.2), dpi=120)
    if coverage is not None and len(coverage):
        grid = coverage.pivot(index="y", columns="x", values="rate_dl_bps") / 1e6
        xs, ys = grid.columns.to_numpy(), grid.index.to_numpy()
        dx = xs[1] - xs[0] if xs.size > 1 else 1.0
        dy = ys[1] - ys[0] if ys.size > 1 else 1.0
        image = ax.imshow(grid.to_numpy(), origin="lower", cmap="viridis", interpolation="nearest",
                          norm=PowerNorm(gamma=0.5, vmin=0.0),
                          extent=(xs[0] - dx / 2, xs[-1] + dx / 2, ys[0] - dy / 2, ys[-1] + dy / 2))
        bar = fig.colorbar(image, ax=ax, shrink=0.85, pad=0.02)
        bar.set_label("best-server downlink rate of a user alone in the cell (Mbit/s, square-root scale)")
    if roads is not None and len(roads):
        segments = np.stack([roads[["x0", "y0"]].to_numpy(), roads[["x1", "y1"]].to_numpy()], axis=1)
        ax.add_collection(LineCollection(segments, colors="white", linewidths=1.2, alpha=0.8, zorder=2))
    buildings = _read(run, "buildings")
    if buildings is not None and len(buildings):
        draw_buildings(ax, buildings)
    title = f"{run.name}: cells and coverage"
    if samples is not None:
        try:
            at, now = vehicle_positions(samples, t)
        except ValueError:
            now = None
        if now is not None:
            title = f"{run.name} at t = {at:g} s"
            clients = now[now["entity"].str.startswith("client.")]
            others = now[~now["entity"].str.startswith("client.")]
            if links and "cell" in clients:
                served = clients[clients["cell"].notna()]
                xy = cells.set_index("cell").loc[served["cell"], ["x", "y"]].to_numpy()
                segs = np.stack([served[["x", "y"]].to_numpy(), xy], axis=1)
                ax.add_collection(LineCollection(segs, colors="#ff7f0e", linewidths=0.7, alpha=0.7, zorder=3))
            if len(others):
                ax.scatter(others["x"], others["y"], s=6, c="#dddddd", edgecolors="none", zorder=4,
                           label=f"other vehicles ({len(others)})")
            ax.scatter(clients["x"], clients["y"], s=14, c="#ff7f0e", edgecolors="black", linewidths=0.4, zorder=5,
                       label=f"FL clients ({len(clients)}), line to serving cell")
    for k, (tier, group) in enumerate(cells.groupby("tier", sort=False)):
        ax.scatter(group["x"], group["y"], marker=_TIER_MARKERS[k % len(_TIER_MARKERS)], s=90 if k == 0 else 36,
                   c="#d62728" if k == 0 else "#e377c2", edgecolors="black", linewidths=0.6, zorder=6,
                   label=f"{tier} cells, {group['preset'].iloc[0]} ({len(group)})")
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.09), ncol=2, fontsize=8, frameon=False)
    fig.tight_layout()
    target = Path(out) if out is not None else run / "map.png"
    fig.savefig(target)
    plt.close(fig)
    return target


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m twin.analysis.maps", description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path, help="a run folder of a radio scenario")
    p.add_argument("--t", type=float, default=None, help="time (s) of the vehicle positions (default: the last sample)")
    p.add_argument("--out", type=Path, default=None, help="PNG to write (default: RUN_DIR/map.png)")
    args = p.parse_args(argv)
    try:
        path = plot_map(args.run_dir, args.t, args.out)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
