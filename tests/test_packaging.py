"""Layout rules that keep the codebase navigable: every package is installed, dependencies flow one way."""

import ast
import pathlib

import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]

# package -> third-party / twin packages it must not import (DESIGN.md, "Dependency direction")
FORBIDDEN = {
    "radio": {"simpy", "torch", "pandas", "pydantic", "twin.net", "twin.sim", "twin.fl", "twin.scenario"},
    "mobility": {"simpy", "torch", "pandas", "pydantic", "twin.net", "twin.sim", "twin.fl", "twin.scenario"},
    "fl": {"simpy", "pandas", "pydantic", "yaml", "torchvision", "twin.net", "twin.sim", "twin.scenario",
           "twin.recording", "twin.radio", "twin.mobility"},
    "net": {"torch", "pydantic", "twin.sim", "twin.fl", "twin.scenario"},
    "recording": {"simpy", "torch", "twin.sim", "twin.net", "twin.fl"},
    "scenario": {"simpy", "torch", "twin.sim", "twin.net", "twin.fl", "twin.radio", "twin.mobility"},
    "analysis": {"simpy", "torch", "twin.sim", "twin.net", "twin.fl"},
}
# package -> modules it may import although FORBIDDEN names their package (pure numpy, one home for a rule)
ALLOWED = {"analysis": {"twin.fl.stopping"}}


def _imports(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_every_package_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "twin").rglob("__init__.py")}
    assert found | {"twin.scenarios"} == listed


def test_dependency_direction():
    bad = []
    for package, forbidden in FORBIDDEN.items():
        for path in (ROOT / "twin" / package).rglob("*.py"):
            for name in _imports(path) - ALLOWED.get(package, set()):
                if any(name == f or name.startswith(f + ".") for f in forbidden):
                    bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, "\n".join(bad)
