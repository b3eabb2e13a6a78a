"""Shared helpers for the sweep tests: every sweep is tiny and runs the wired star (fixed model, ~30 ms a run)."""

import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _base() -> str:
    """The built-in ``wired_star`` when twin is installed (twin.scenarios exists), else the same file by path."""
    try:
        from twin.scenario.loading import builtin_names

        if "wired_star" in builtin_names():
            return "wired_star"
    except ModuleNotFoundError:
        pass
    return str(ROOT / "scenarios" / "wired_star.yaml")


BASE = _base()
needs_builtins = pytest.mark.skipif(BASE != "wired_star", reason="twin is not installed, so its built-in scenarios "
                                    "(the twin.scenarios package) are missing: pip install -e .")

# 8 runs: 2 schedules x 2 round counts x 2 seeds, heterogeneous devices so that the seed matters.
EIGHT = """\
name: eight
set:
  output.sample_period_s: 0
  fl.replacement: true
  clients.device.heterogeneity: {kind: lognormal, sigma: 0.5}
grid:
  fl.schedule: [{kind: constant, start: 3}, {kind: linear, start: 6, end: 2}]
  fl.rounds: [2, 3]
seeds: [1, 2]
"""


def write_sweep(folder: Path, body: str, name: str = "sweep.yaml", base: str | None = None) -> Path:
    path = folder / name
    path.write_text(f"base: {base or BASE}\n" + textwrap.dedent(body))
    return path


@pytest.fixture
def make_sweep(tmp_path):
    def make(body: str, name: str = "sweep.yaml", base: str | None = None) -> Path:
        return write_sweep(tmp_path, body, name, base)

    return make
