"""twin.fl depends on torch and numpy (scikit-learn lazily for the digits); never on simpy or the SimPy-side packages."""

from __future__ import annotations

import ast
from pathlib import Path

FL = Path(__file__).resolve().parents[2] / "twin" / "fl"
FORBIDDEN = ("simpy", "pandas", "pydantic", "yaml", "twin.net", "twin.sim", "twin.radio", "twin.mobility",
             "twin.recording", "twin.scenario", "torchvision")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_fl_imports_stay_inside_their_layer():
    files = sorted(FL.rglob("*.py"))
    assert files
    for path in files:
        for name in _imports(path):
            assert not any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN), f"{path}: imports {name}"
