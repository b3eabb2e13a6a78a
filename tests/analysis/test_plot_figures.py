"""What a reader sees in each plot, checked on the drawn figures (issue 10, item 7): titles inside the canvas, legend
swatches long enough for line styles, bands only where few, a load colour map where low load is not idle, time and
byte axes from 0, integer ticks on counts, one pushed-updates number across plots, a summary view for many clients."""

import re

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgb
from matplotlib.image import AxesImage

from twin.analysis import MODES, open_runs
from twin.analysis.metrics import reduction_pct
from twin.analysis.plots import common, network, study
from twin.analysis.plots.common import Options, fit_title, new_figure

# mode -> (fixture, options) of a figure drawn from the analysis fixtures (the map draws itself: tests/analysis/
# test_plots.py writes it)
FIGURES = {
    "reduction_functions": ("study_sweep", {}), "data_distribution": ("study_sweep", {}),
    "uniform_vs_num_examples_weighting": ("clients_sweep", {}), "accuracy_vs_clients": ("clients_sweep", {}),
    "reduction_functions_comparison": ("study_sweep", {}), "updates_comparison": ("study_sweep", {}),
    "accuracy_vs_time": ("study_sweep", {}), "bytes_vs_accuracy": ("clients_sweep", {}),
    "gantt": ("wired_runs", {"run": "deadline", "round": 2}), "cell_load": ("radio_run", {}),
    "link_load": ("wired_runs", {}),
}


def draw(mode: str, source, **options):
    fig = MODES[mode][0](open_runs(source), Options(**options))
    fig.canvas.draw()
    return fig


@pytest.fixture
def figure(request):
    """draw(mode, fixture name, **options), closing the figures afterwards."""
    made = []

    def make(mode, name=None, **options):
        name, default = FIGURES[mode] if name is None else (name, {})
        made.append(draw(mode, request.getfixturevalue(name), **{**default, **options}))
        return made[-1]

    yield make
    for fig in made:
        plt.close(fig)


def _titles(fig):
    texts = [ax.title for ax in fig.axes if ax.get_title()]
    return texts + ([fig._suptitle] if fig._suptitle is not None else [])


@pytest.mark.parametrize("mode", list(FIGURES))
def test_everything_drawn_lies_inside_the_canvas(mode, figure):
    fig = figure(mode)
    w, h = fig.get_size_inches()
    box = fig.get_tightbbox()  # inches
    assert box.x0 >= -0.02 and box.y0 >= -0.02 and box.x1 <= w + 0.02 and box.y1 <= h + 0.02, (mode, box, (w, h))
    assert _titles(fig), mode
    for title in _titles(fig):
        extent = title.get_window_extent()
        assert extent.x0 >= 0 and extent.x1 <= fig.bbox.width and extent.y1 <= fig.bbox.height, (mode, title)


def test_fit_title_wraps_a_title_wider_than_the_room_beside_an_outside_legend():
    fig, ax = new_figure()
    ax.plot([0, 1], [0, 1], label="a strategy with a rather long name, " * 2)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    text = "Accuracy per round by strategy (mean over runs, range shaded; thin: runs that went on after others stopped)"
    fit_title(ax, text)
    extent = ax.title.get_window_extent()
    assert "\n" in ax.get_title() and ax.get_title().replace("\n", " ") == text
    assert extent.x0 >= 0 and extent.x1 <= fig.bbox.width
    plt.close(fig)


@pytest.mark.parametrize("mode", ["uniform_vs_num_examples_weighting", "reduction_functions_comparison",
                                  "accuracy_vs_clients", "reduction_functions"])
def test_line_legends_have_swatches_long_enough_for_line_styles(mode, figure):
    fig = figure(mode)
    legend = fig.axes[0].get_legend()
    assert legend is not None and legend.handlelength >= 3.5
    styles = {line.get_linestyle() for line in legend.get_lines()}
    if mode == "uniform_vs_num_examples_weighting":  # colour = weighting, line style = clients per round
        assert len(styles) >= 3


def _bands(ax) -> int:
    return sum(isinstance(c, PolyCollection) for c in ax.collections)


def test_bands_drawn_for_few_lines_and_left_out_for_many(figure, monkeypatch):
    fig = figure("reduction_functions_comparison")
    assert _bands(fig.axes[0]) == 3  # three strategies, two seeds each
    assert "range shaded" in fig.axes[0].get_title()
    monkeypatch.setattr(study, "MAX_BANDS", 2)
    fig = figure("reduction_functions_comparison")
    assert _bands(fig.axes[0]) == 0
    assert "not shaded: 3 would overlap" in fig.axes[0].get_title().replace("\n", " ")


@pytest.mark.parametrize("mode", ["cell_load", "link_load"])
def test_load_colour_map_keeps_low_load_apart_from_idle(mode, figure):
    fig = figure(mode)
    meshes = [c for ax in fig.axes for c in ax.collections if c.get_array() is not None]
    assert meshes
    for mesh in meshes:
        cmap = mesh.get_cmap()
        assert cmap.name.startswith(common.LOAD_CMAP) and not cmap.name.endswith("_r")
        lowest, idle = np.array(to_rgb(cmap(1e-3))), np.array(to_rgb(cmap.get_bad()))
        assert np.allclose(idle, 1.0)  # idle: white
        assert np.linalg.norm(lowest - idle) > 1.0  # the faintest load is dark, nowhere near white
        assert mesh.norm.vmin == 0 and mesh.norm.vmax == 100


@pytest.mark.parametrize("mode", ["cell_load", "link_load", "gantt", "accuracy_vs_time"])
def test_time_axes_start_at_zero(mode, figure):
    fig = figure(mode)
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert any("time" in ax.get_xlabel() for ax in axes)
    for ax in axes:  # the load heat maps share their time axis
        assert ax.get_xlim()[0] == 0, (mode, ax.get_xlim())


def test_time_edges_never_before_zero():
    edges = network._time_edges(np.array([0.0, 0.5, 1.0]))
    assert edges.tolist() == [0.0, 0.25, 0.75, 1.25]
    assert network._time_edges(np.array([2.0, 3.0]))[0] == 1.5


@pytest.mark.parametrize(("mode", "name"), [("reduction_functions", "wired_runs"),
                                            ("updates_comparison", "wired_runs"),
                                            ("reduction_functions", "study_sweep")])
def test_client_counts_have_integer_ticks(mode, name, figure):
    ax = figure(mode, name).axes[0]
    lo, hi = ax.get_ylim()
    ticks = [t for t in ax.get_yticks() if lo <= t <= hi]
    assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks), ticks
    if mode == "reduction_functions":
        assert all(float(t).is_integer() for t in ax.get_xticks())


def test_pareto_plot_axes_and_front(figure, clients_sweep):
    fig = figure("bytes_vs_accuracy")
    ax = fig.axes[0]
    ok = open_runs(clients_sweep).ok
    lo, hi = ax.get_ylim()
    assert hi - lo >= network.MIN_ACCURACY_SPAN - 1e-9 and 0 <= lo and hi <= 1
    assert lo <= ok["final_accuracy"].min() and hi >= ok["final_accuracy"].max()
    if ax.get_xscale() == "linear":
        assert ax.get_xlim()[0] == 0
    front = [line for line in ax.get_lines() if line.get_label().startswith("Pareto front")]
    ringed = [t.get_text() for t in ax.get_legend().get_texts() if t.get_text().endswith("(Pareto)")]
    means = ok.groupby("strategy")[["bytes_total", "final_accuracy"]].mean()
    members = means.loc[[t.removesuffix(" (Pareto)") for t in ringed]]
    assert len(members) >= 1
    for line in front:  # the staircase runs between the front's members only: no arbitrary right edge
        assert np.isclose(line.get_xdata().max(), members["bytes_total"].max() / 1e6)
        assert np.isclose(line.get_xdata().min(), members["bytes_total"].min() / 1e6)
        assert np.isclose(line.get_ydata().min(), members["final_accuracy"].min())


def test_accuracy_limits():
    import pandas as pd

    lo, hi = network.accuracy_limits(pd.Series([0.751, 0.753, 0.752]))
    assert hi - lo == pytest.approx(0.05) and lo < 0.751 and hi > 0.753
    assert network.accuracy_limits(pd.Series([0.99, 1.0])) == (pytest.approx(0.95), 1.0)
    assert network.accuracy_limits(pd.Series([0.2, 0.8]), target=0.9)[1] > 0.9


def _numbers(text: str) -> list[int]:
    return [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", text)]


def test_updates_agree_between_schedule_and_bar_plots(figure, study_sweep):
    runs = open_runs(study_sweep)
    table = study.updates_per_strategy(runs, 0.7)
    assert (table["n"] == 2).all() and table["at_target"].any()
    curves = figure("reduction_functions").axes[0]
    legend = {t.get_text().split(":")[0]: t.get_text() for t in curves.get_legend().get_texts()}
    assert "mean over 2 seeds" in curves.get_legend().get_title().get_text()
    bars = figure("updates_comparison").axes[0]
    shown = [t.get_text() for t in bars.texts]
    for label, row in table.iterrows():
        assert _numbers(legend[label].split(":")[1])[0] == round(row["mean"])
        assert f"{row['mean']:,.0f}" in "\n".join(shown)


def test_savings_are_positive_when_fewer(figure, study_sweep):
    runs = open_runs(study_sweep)
    table = study.updates_per_strategy(runs, 0.7)
    base = table.loc["constant", "mean"]
    texts = [t.get_text() for t in figure("updates_comparison").axes[0].texts]
    saved = [t for t in texts if "saved" in t]
    assert len(saved) == len(table) - 1
    for label in ("linear", "reciprocal"):
        want = reduction_pct(table.loc[label, "mean"], base)
        assert want > 0
        assert any(f"{table.loc[label, 'mean']:,.0f}\nsaved {want:.0f}%" == t for t in saved), saved


def test_data_distribution_per_client_columns_or_summary(figure, monkeypatch):
    right = figure("data_distribution").axes[1]
    assert any(isinstance(i, AxesImage) for i in right.get_images())  # a column per client (few clients)
    monkeypatch.setattr(study, "MAX_CLIENT_COLUMNS", 5)  # the fixture's clients now count as many
    fig = figure("data_distribution")
    right = fig.axes[1]
    assert not right.get_images()
    assert len(right.patches) == 10  # one box per label: the share of each label over clients
    assert [t.get_text() for t in right.get_xticklabels()] == [str(k) for k in range(10)]
    assert "box: quartiles" in right.get_title().replace("\n", " ")
    left = fig.axes[0]
    assert all(float(t).is_integer() for t in left.get_yticks())


def test_agg_backend():
    assert matplotlib.get_backend().lower() == "agg"
