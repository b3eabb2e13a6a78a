"""Optional extras: nothing heavy at import time, and a one-line error naming the extra when one is missing."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from twin.mobility import MissingExtraError, TraciMobility, load_graphml, load_osm, load_sumo_net
from twin.mobility import _extras as extras

PKG = Path(__file__).resolve().parents[2] / "twin" / "mobility"
ALLOWED_TOP_LEVEL = {"numpy", "networkx", "twin", "__future__"} | set(sys.stdlib_module_names)


def test_module_level_imports_are_numpy_networkx_and_stdlib_only():
    for path in sorted(PKG.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only; lazy imports live inside functions
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            for name in names:
                assert name.split(".")[0] in ALLOWED_TOP_LEVEL, f"{path.name} imports {name} at module level"


def test_importing_twin_mobility_loads_no_extra():
    code = (
        "import sys, twin.mobility; "
        "bad = [m for m in ('sumo', 'sumolib', 'traci', 'osmnx', 'shapely', 'pandas', 'torch', 'simpy') "
        "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    root = PKG.parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.fixture
def sumo_net_file(tmp_path):
    p = tmp_path / "x.net.xml"
    p.write_text("<net/>")
    return p


def _one_line(exc: BaseException) -> str:
    msg = str(exc)
    assert "\n" not in msg
    return msg


def test_missing_sumolib_names_the_sumo_extra(monkeypatch, sumo_net_file):
    monkeypatch.setitem(sys.modules, "sumolib", None)
    with pytest.raises(MissingExtraError) as info:
        load_sumo_net(sumo_net_file)
    assert "pip install 'twin[sumo]'" in _one_line(info.value)
    assert isinstance(info.value, ImportError)


def test_missing_traci_names_the_sumo_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "traci", None)
    (tmp_path / "a.net.xml").write_text("<net/>")
    (tmp_path / "a.rou.xml").write_text("<routes/>")
    with pytest.raises(MissingExtraError, match=r"pip install 'twin\[sumo\]'"):
        TraciMobility(
            n_vehicles=1,
            rng=np.random.default_rng(0),
            net_path=tmp_path / "a.net.xml",
            routes_path=tmp_path / "a.rou.xml",
        )


def test_missing_osmnx_names_the_osm_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "osmnx", None)
    (tmp_path / "a.osm").write_text("<osm/>")
    (tmp_path / "a.graphml").write_text("<graphml/>")
    with pytest.raises(MissingExtraError) as info:
        load_osm(tmp_path / "a.osm")
    assert "pip install 'twin[osm]'" in _one_line(info.value)
    with pytest.raises(MissingExtraError, match=r"twin\[osm\]"):
        load_graphml(tmp_path / "a.graphml")


def test_missing_sumo_binaries_name_the_sumo_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sumo", None)
    monkeypatch.delenv("SUMO_HOME", raising=False)
    monkeypatch.setenv("PATH", "")
    with pytest.raises(MissingExtraError, match=r"pip install 'twin\[sumo\]'"):
        extras.sumo_binary("netgenerate")
    with pytest.raises(MissingExtraError, match=r"twin\[sumo\]"):
        extras.sumo_tool("randomTrips.py")


def test_missing_files_are_checked_before_the_extra(tmp_path):
    with pytest.raises(FileNotFoundError, match="path: SUMO network file not found"):
        load_sumo_net(tmp_path / "nope.net.xml")
    with pytest.raises(FileNotFoundError, match="net_path: file not found"):
        TraciMobility(n_vehicles=1, rng=np.random.default_rng(0), net_path=tmp_path / "n", routes_path=tmp_path / "r")
    with pytest.raises(ValueError, match="needs sumocfg_path"):
        TraciMobility(n_vehicles=1, rng=np.random.default_rng(0))
