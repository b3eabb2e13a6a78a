"""Shared plotting pieces: the Agg backend, figure sizes, colours per strategy, mean-and-range lines, saving."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from twin.errors import InputError  # noqa: E402

WIDE = (9.0, 5.0)
DPI = 120
LINESTYLES = ["-", "--", ":", "-."]
# Legend swatch length (in font sizes) for line legends: long enough to show a full dash pattern, so "--", ":" and
# "-." can be told apart (matplotlib's default of 2 shows one dash).
HANDLE_LENGTH = 4.0
# Lines with a shaded min-max band at most: more bands overlap into one smear, so beyond this only the means are drawn.
MAX_BANDS = 4
# Heat maps of load: a sequential map whose lowest colour (dark purple) is far from the white of "idle".
LOAD_CMAP = "viridis"


class PlotUnavailable(InputError):
    """The runs do not hold what this plot needs (one line saying what is missing and why)."""


def new_figure(size: tuple[float, float] = WIDE, ncols: int = 1, nrows: int = 1,
               **kw) -> tuple[Figure, np.ndarray | plt.Axes]:
    fig, ax = plt.subplots(nrows, ncols, figsize=size, dpi=DPI, layout="constrained", **kw)
    return fig, ax


def colours(labels: Sequence[str]) -> dict[str, tuple]:
    """A stable colour per label, in the order given (tab10, then tab20 beyond ten)."""
    cmap = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20")
    return {label: cmap(i % cmap.N) for i, label in enumerate(labels)}


def ordered(values: pd.Series) -> list:
    """Unique values in order of first appearance (numbers sorted)."""
    unique = list(dict.fromkeys(values.dropna()))
    if unique and all(isinstance(v, (int, float, np.integer, np.floating)) for v in unique):
        return sorted(unique)
    return unique


def mean_and_range(ax: plt.Axes, data: pd.DataFrame, x: str, y: str, *, label: str, colour, linestyle: str = "-",
                   marker: str | None = None, band: bool = True) -> bool:
    """One line: the mean of ``y`` over the runs (``run_id``) in ``data`` at each ``x``, with the min-max range
    over runs shaded when ``band``. The mean stops where a run stops (a run that reached its target early); the runs
    that go on are drawn from there as thin lines, so the mean never silently changes which runs it averages.
    Returns whether it drew such thin lines."""
    data = data.dropna(subset=[y])
    thin = False
    if data.empty:
        return thin
    n_runs = data["run_id"].nunique()
    stats = data.groupby(x)[y].agg(["mean", "min", "max", "count"])
    full = stats[stats["count"] == n_runs]
    if len(full):
        last = full.index[-1]
        full = stats.loc[:last]
    ax.plot(full.index, full["mean"], linestyle=linestyle, color=colour, label=label, marker=marker,
            markersize=3.5, linewidth=1.6)
    if n_runs > 1 and len(full):
        if band:
            ax.fill_between(full.index, full["min"], full["max"], color=colour, alpha=0.15, linewidth=0)
        for _, run in data.groupby("run_id", observed=True):
            tail = run[run[x] >= last]
            if len(tail) > 1:
                ax.plot(tail[x], tail[y], linestyle=linestyle, color=colour, linewidth=0.9, alpha=0.6)
                thin = True
    return thin


def legend(ax: plt.Axes, title: str | None = None, n: int | None = None, outside: bool = False, **kw) -> None:
    """A legend inside the axes for a few entries, outside on the right for many (or when ``outside``), with
    swatches long enough to show each line style."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    n = len(handles) if n is None else n
    kw.setdefault("handlelength", HANDLE_LENGTH)
    if n > 6 or outside:
        ax.legend(title=title, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False, **kw)
    else:
        ax.legend(title=title, fontsize="small", **kw)


def target_line(ax: plt.Axes, target: float | None) -> None:
    if target is not None and math.isfinite(target):
        ax.axhline(target, color="0.3", linestyle="--", linewidth=1.0, label=f"target {target:g}")


def percent_axis(ax: plt.Axes) -> None:
    """Accuracy axes read as fractions: keep 0..1 but show a % suffix in the label."""
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{100 * v:.4g}%"))


def save(fig: Figure, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out


def need_accuracy(rounds: pd.DataFrame, what: str) -> pd.DataFrame:
    if "accuracy" not in rounds or rounds["accuracy"].notna().sum() == 0:
        raise PlotUnavailable(f"{what} needs test accuracy, and these runs record none (a fixed model, or "
                              "fl.train: false)")
    return rounds.dropna(subset=["accuracy"])


class Options:
    """What a plot mode may be asked for: ``run`` (a run id, for one-run modes), ``round`` (the Gantt's round),
    ``target`` (accuracy), ``t`` (simulated time of the map)."""

    def __init__(self, run: str | None = None, round: int | None = None, target: float | None = None,
                 t: float | None = None) -> None:
        self.run, self.round, self.target, self.t = run, round, target, t


def common_target(runs, wanted: float | None) -> float | None:
    """The target accuracy to draw: the one asked for, else the runs' own if they share one."""
    if wanted is not None:
        return wanted
    own = runs.ok["target"].dropna().unique() if "target" in runs.ok else []
    return float(own[0]) if len(own) == 1 else None


def run_title(runs, run_dir: Path) -> str:
    """How a one-run plot names its run: the folder name, with the strategy in a sweep."""
    row = runs.runs[runs.runs["path"] == str(run_dir.resolve())]
    if runs.kind == "run" or row.empty or row["strategy"].iloc[0] == row["run_id"].iloc[0]:
        return run_dir.name
    return f"{row['run_id'].iloc[0]} ({row['strategy'].iloc[0]}, seed {row['seed'].iloc[0]})"


def avoid_tick_overlap(fig: Figure, ax: plt.Axes) -> None:
    """Rotate the x tick labels when they would overlap side by side (measured, not guessed)."""
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in ax.get_xticklabels() if t.get_text()]
    if any(a.x1 + 2 > b.x0 for a, b in zip(boxes, boxes[1:], strict=False)):
        for label in ax.get_xticklabels():
            label.set_rotation(25)
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")


def fit_title(target: Figure | plt.Axes, text: str, **kw) -> None:
    """Set the title of an axes (or the suptitle of a figure) wrapped at word boundaries so that it lies inside the
    figure: a title wider than the room around its centre is cut at the edges of the saved PNG (constrained layout
    makes room above a title, never beside it). Call it last: it lays the figure out and measures the drawn text."""
    fig = target if isinstance(target, Figure) else target.figure
    setter = target.suptitle if isinstance(target, Figure) else target.set_title
    artist = setter(text, **kw)
    for _ in range(8):
        fig.canvas.draw()
        box = artist.get_window_extent()
        centre = (box.x0 + box.x1) / 2
        room = 2 * min(centre, fig.bbox.width - centre) - 6
        if box.width <= room:
            return
        lines = text.split("\n")
        chars = max(16, int(max(map(len, lines)) * room / box.width) - 1)
        text = "\n".join(textwrap.fill(line, chars, break_long_words=False) for line in lines)
        artist.set_text(text)


def integer_axis(axis: matplotlib.axis.Axis) -> None:
    """Ticks at whole numbers only (counts of clients, rounds, updates), grouped by thousands."""
    axis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
